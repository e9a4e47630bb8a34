// SPDX-License-Identifier: MIT
/*
 * The planner's decisions: which pods are quarantined and for which
 * Services, which Services are steered and with which backends, and what a
 * departed pod must be remembered by. Each decision that changes the desired
 * state goes to the sink at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/log.h"
#include "model/internal.h"

/* "10.0.0.5", "fd00::5" or "10.0.0.5,fd00::5": the addresses of ip[] that are set. */
static const char *ips_str(const struct steer_addr *ip, char *buf)
{
	char a[ADDR_STRLEN];

	buf[0] = '\0';
	for (int f = 0; f < ADDR_NFAM; f++) {
		if (addr_is_zero(&ip[f]))
			continue;
		if (buf[0])
			strcat(buf, ",");
		strcat(buf, addr_str(&ip[f], a));
	}
	return buf;
}

#define IPS_STRLEN (ADDR_NFAM * ADDR_STRLEN)

/* ---------------------------------------------------- departure memory */

void member_emit(struct plan *m, const struct pod *p, const struct svc *s, bool on)
{
	struct steer_member_key k = { .pod = p->mem.hkey, .svc = s->hkey };
	struct steer_member_val v = { .addr = { *pod_ip(p, ADDR_V4), *pod_ip(p, ADDR_V6) } };

	if (m->opts.departure)
		m->opts.sink.member(m->opts.sink.arg, &k, on ? &v : NULL);
}

void member_forget(struct plan *m, struct pod *p, struct svc *s)
{
	if (svcset_del(&p->mem.svcs, s))
		member_emit(m, p, s, false);
}

void members_forget_all(struct plan *m, struct pod *p)
{
	while (p->mem.svcs.n)
		member_forget(m, p, p->mem.svcs.v[0]);
}

/* ----------------------------------------------------------- quarantine */

static bool departed(const struct plan *m, const struct pod *p, const struct svc *s,
		     bool listed_only)
{
	if (!m->opts.departure || !p->api.meta_seen || !s->exists || !s->has_selector)
		return false;
	if (listed_only && s->listed_stale)
		return false;
	return !selector_match(&s->sel, &p->api.labels);
}

static void quar_emit(struct plan *m, const struct steer_addr *ip)
{
	const struct pod *p = table_get(&m->qdesired, ip, sizeof(*ip));
	struct steer_quar_val want = {};

	if (p) {
		want.action = p->q.action;
		want.since = p->q.since;
	}
	m->opts.sink.quar(m->opts.sink.arg, ip, p ? &want : NULL);
}

static void pod_info(const struct pod *p, struct plan_pod *out)
{
	*out = (struct plan_pod){
		.key = p->key, .uid = p->api.uid, .node = p->api.node,
		.ip = { *pod_ip(p, ADDR_V4), *pod_ip(p, ADDR_V6) },
		.quarantined = p->q.on, .explicit_q = p->api.explicit_q,
		.action = p->q.action, .nsvc = p->q.svcs.n,
	};
}

/* The decision log: one logfmt line per decision, fields documented in the README. */
static void log_decision(const struct pod *p, bool on, const struct steer_addr *ip)
{
	char buf[IPS_STRLEN];

	if (on)
		pr_info("component=model decision=quarantine object=pod/%s ip=%s action=%s services=%u origin=%s",
			p->key, ips_str(ip, buf), addr_action_name(p->q.action), p->q.svcs.n,
			p->api.explicit_q ? "selector" : "departure");
	else
		pr_info("component=model decision=release object=pod/%s ip=%s", p->key,
			ips_str(ip, buf));
}

static int pod_recompute(struct plan *m, struct pod *p)
{
	struct svcset q = {}, old = p->q.svcs;
	bool on, was_on = p->q.on;
	struct steer_addr ip[ADDR_NFAM], old_ip[ADDR_NFAM];
	char buf[IPS_STRLEN];
	bool any = false, node_ip = false;
	uint32_t i;
	int f, action, err = 0;

	/* Remember where the pod is a matching member, for after the slice drops it. */
	if (m->opts.departure && p->api.meta_seen) {
		for (i = 0; i < p->api.nlisted; i++) {
			struct svc *s = p->api.listed[i].svc;

			if (s->exists && s->has_selector && !s->listed_stale &&
			    selector_match(&s->sel, &p->api.labels) &&
			    svcset_add(&p->mem.svcs, s) > 0)
				member_emit(m, p, s, true);
		}
	}
	for (i = 0; i < p->api.nlisted; i++) {
		struct svc *s = p->api.listed[i].svc;

		if ((p->api.explicit_q && s->exists) || departed(m, p, s, true))
			if (svcset_add(&q, s) < 0)
				err = -ENOMEM;
	}
	for (i = 0; i < p->mem.svcs.n; i++) {
		struct svc *s = p->mem.svcs.v[i];

		if ((p->api.explicit_q && s->exists) || departed(m, p, s, false))
			if (svcset_add(&q, s) < 0)
				err = -ENOMEM;
	}
	/* Swap in the new set: refs of the old go, nquar follows membership. */
	for (i = 0; i < q.n; i++) {
		if (!svcset_has(&old, q.v[i])) {
			q.v[i]->nquar++;
			svc_mark(m, q.v[i]);
		}
	}
	for (i = 0; i < old.n; i++) {
		if (!svcset_has(&q, old.v[i])) {
			old.v[i]->nquar--;
			svc_mark(m, old.v[i]);
		}
		old.v[i]->refs--;
	}
	free(old.v);
	p->q.svcs = q;

	on = p->api.explicit_q || q.n > 0;
	/* A dual-stack pod is quarantined on both its addresses at once. */
	memcpy(old_ip, p->q.ip, sizeof(old_ip));
	for (f = 0; f < ADDR_NFAM; f++) {
		ip[f] = *pod_ip(p, f);
		any |= !addr_is_zero(&ip[f]);
		node_ip |= !addr_is_zero(&ip[f]) && table_get(&m->nodeips, &ip[f], sizeof(ip[f]));
	}
	/*
	 * A hostNetwork pod has its node's IP: quarantining that address would
	 * cut the node itself off from every pod on it. kube-proxy's
	 * convergence is all the protection such a pod gets.
	 */
	if (on && node_ip) {
		if (!was_on)
			pr_warn("pod %s has a node's IP %s (hostNetwork?): not quarantining it",
				p->key, ips_str(ip, buf));
		on = false;
	}
	action = p->api.meta_seen && p->api.act_meta >= 0 ? p->api.act_meta :
		 p->api.act_quar >= 0 ? p->api.act_quar : m->opts.default_action;
	if (on && !any)
		pr_debug("pod %s is quarantined but its IP is not known yet", p->key);
	on = on && any;
	if (!on)
		memset(ip, 0, sizeof(ip));
	if (on == was_on && !memcmp(ip, old_ip, sizeof(ip)) && action == p->q.action)
		return err;
	for (f = 0; f < ADDR_NFAM; f++)
		if (!addr_is_zero(&old_ip[f]) &&
		    table_get(&m->qdesired, &old_ip[f], sizeof(old_ip[f])) == p)
			table_del(&m->qdesired, &old_ip[f], sizeof(old_ip[f]));
	p->q.on = on;
	memcpy(p->q.ip, ip, sizeof(ip));
	p->q.action = action;
	if (on && !was_on)
		p->q.since = m->opts.wall();
	if (on != was_on)
		log_decision(p, on, on ? ip : old_ip);
	for (f = 0; on && f < ADDR_NFAM; f++) {
		struct pod *other;

		if (addr_is_zero(&ip[f]))
			continue;
		other = table_get(&m->qdesired, &ip[f], sizeof(ip[f]));
		if (other && other != p)
			pr_warn("pods %s and %s share IP %s; %s wins", other->key, p->key,
				addr_str(&ip[f], buf), p->key);
		if (table_put(&m->qdesired, &ip[f], sizeof(ip[f]), p))
			err = -ENOMEM;
	}
	if (on != was_on && m->opts.on_transition) {
		struct plan_pod info;

		pod_info(p, &info);
		memcpy(info.ip, on ? ip : old_ip, sizeof(info.ip));
		m->opts.on_transition(m->opts.transition_arg, &info, on);
	}
	for (f = 0; f < ADDR_NFAM; f++) {
		if (!addr_is_zero(&old_ip[f]) && !addr_eq(&old_ip[f], &ip[f]))
			quar_emit(m, &old_ip[f]);
		if (!addr_is_zero(&ip[f]))
			quar_emit(m, &ip[f]);
	}
	/* Backend sets that hold this address change. */
	for (i = 0; i < p->api.nlisted; i++)
		svc_mark(m, p->api.listed[i].svc);
	for (i = 0; i < p->mem.svcs.n; i++)
		svc_mark(m, p->mem.svcs.v[i]);
	return err;
}

/* ------------------------------------------------------------- steering */

static int scratch_add(struct plan *m, uint32_t *n, const struct steer_addr *addr,
		       uint16_t port)
{
	if (*n >= STEER_MAX_BACKENDS_PER_SVC)
		return -E2BIG;
	if (*n >= m->scratch_cap) {
		uint32_t cap = m->scratch_cap ? m->scratch_cap * 2 : 64;
		struct steer_backend_val *b = realloc(m->scratch, cap * sizeof(*b));

		if (!b)
			return -ENOMEM;
		m->scratch = b;
		m->scratch_cap = cap;
	}
	m->scratch[(*n)++] = (struct steer_backend_val){ .addr = *addr, .port = htons(port) };
	return 0;
}

/*
 * Backends of one Service port in family f (the slices of that addressType):
 * ready, else serving+terminating, never quarantined.
 */
static uint32_t backends(struct plan *m, const struct svc *s, const struct svc_port *sp, int f)
{
	uint32_t n = 0, i, j, k, pass, w;

	for (pass = 0; pass < 2 && !n; pass++) {
		for (i = 0; i < s->nslices; i++) {
			const struct eps_obj *e = &s->slices[i]->obj;
			int port = -1;

			if (e->family != f)
				continue;
			/* The slice carries the resolved (possibly named) targetPort. */
			for (j = 0; j < e->nports; j++)
				if (!strcmp(e->ports[j].name, sp->name) &&
				    e->ports[j].proto == sp->proto && e->ports[j].port)
					port = e->ports[j].port;
			if (port < 0)
				continue;
			for (k = 0; k < e->neps; k++) {
				const struct eps_endpoint *ep = &e->eps[k];
				bool ok = pass == 0 ? ep->ready : ep->serving && ep->terminating;

				if (ok && !table_get(&m->qdesired, &ep->addr, sizeof(ep->addr)) &&
				    scratch_add(m, &n, &ep->addr, port))
					break;
			}
		}
	}
	if (n < 2)
		return n;
	qsort(m->scratch, n, sizeof(*m->scratch), addr_backend_cmp);
	for (i = 1, w = 1; i < n; i++)
		if (addr_backend_cmp(&m->scratch[i], &m->scratch[w - 1]))
			m->scratch[w++] = m->scratch[i];
	return w;
}

static bool key_in(const struct steer_svc_key *keys, uint32_t n, const struct steer_svc_key *k)
{
	for (uint32_t i = 0; i < n; i++)
		if (!memcmp(&keys[i], k, sizeof(*k)))
			return true;
	return false;
}

static void svc_decide(struct plan *m, struct svc *s)
{
	uint64_t now = m->opts.clock ? m->opts.clock() : 0;

	if (!s->exists) {
		s->steered = false;
		s->settle_until = 0;
	} else if (s->nquar) {
		if (!s->steered)
			pr_info("component=model decision=steer object=service/%s", s->key);
		s->steered = true;
		s->settle_until = 0;
	} else if (s->steered) {
		if (!s->settle_until) {
			s->settle_until = now + m->opts.settle_ns;
			if (!m->next_deadline || s->settle_until < m->next_deadline)
				m->next_deadline = s->settle_until;
		}
		if (now >= s->settle_until) {
			pr_info("component=model decision=unsteer object=service/%s settled=true",
				s->key);
			s->steered = false;
			s->settle_until = 0;
		}
	}
}

static int svc_recompute(struct plan *m, struct svc *s)
{
	struct steer_svc_key *keys = NULL;
	uint32_t nkeys = 0, i, n;
	int f;

	svc_decide(m, s);
	if (s->steered && s->nports) {
		/* A key per port and per family the Service has a VIP of. */
		keys = calloc(ADDR_NFAM * s->nports, sizeof(*keys));
		if (!keys)
			return -ENOMEM;
	}
	for (f = 0; keys && f < ADDR_NFAM; f++) {
		if (addr_is_zero(&s->vip[f]))
			continue;
		for (i = 0; i < s->nports; i++) {
			const struct svc_port *sp = &s->ports[i];
			struct steer_svc_key k = {
				.vip = s->vip[f], .port = htons(sp->port), .proto = sp->proto,
			};

			if (sp->proto != IPPROTO_TCP && sp->proto != IPPROTO_UDP)
				continue;
			if (key_in(keys, nkeys, &k))
				continue;
			keys[nkeys++] = k;
			n = backends(m, s, sp, f);
			if (!n)
				pr_debug("service %s port %u: no backend left, refusing",
					 s->key, sp->port);
			m->opts.sink.svc(m->opts.sink.arg, &k, m->scratch, n);
		}
	}
	for (i = 0; i < s->nkeys; i++)
		if (!key_in(keys, nkeys, &s->keys[i]))
			m->opts.sink.svc_del(m->opts.sink.arg, &s->keys[i]);
	free(s->keys);
	s->keys = keys;
	s->nkeys = nkeys;
	return 0;
}

/* ---------------------------------------------------------------- flush */

int plan_flush(struct plan *m)
{
	int err = 0;

	while (m->dirty_pods || m->dirty_svcs) {
		while (m->dirty_pods) {
			struct pod *p = m->dirty_pods;

			m->dirty_pods = p->next_dirty;
			p->dirty = false;
			if (pod_recompute(m, p))
				err = -ENOMEM;
			if (pod_idle(p))
				pod_free(m, p);
		}
		while (m->dirty_svcs) {
			struct svc *s = m->dirty_svcs;

			m->dirty_svcs = s->next_dirty;
			s->dirty = false;
			if (svc_recompute(m, s))
				err = -ENOMEM;
			svc_maybe_free(m, s);
		}
	}
	return err;
}

int plan_emit_all(struct plan *m)
{
	struct table_iter it;
	struct tent *e;
	int err = plan_flush(m);

	table_iter_init(&it, &m->qdesired);
	while ((e = table_iter_next(&it)))
		quar_emit(m, (const void *)e->key);
	table_iter_init(&it, &m->svcs);
	while ((e = table_iter_next(&it))) {
		struct svc *s = e->val;

		if (s->steered && svc_recompute(m, s))
			err = -ENOMEM;
	}
	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;

		for (uint32_t i = 0; i < p->mem.svcs.n; i++)
			member_emit(m, p, p->mem.svcs.v[i], true);
	}
	return err;
}

uint64_t plan_next_deadline(const struct plan *m)
{
	return m->next_deadline;
}

int plan_tick(struct plan *m)
{
	uint64_t now = m->opts.clock ? m->opts.clock() : 0, next = 0;
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &m->svcs);
	while ((e = table_iter_next(&it))) {
		struct svc *s = e->val;

		if (!s->settle_until)
			continue;
		if (now >= s->settle_until)
			svc_mark(m, s);
		else if (!next || s->settle_until < next)
			next = s->settle_until;
	}
	m->next_deadline = next;
	return plan_flush(m);
}

/* --------------------------------------------------------------- queries */

bool plan_pod_get(const struct plan *m, const char *key, struct plan_pod *out)
{
	const struct pod *p = table_gets(&m->pods, key);

	if (!p)
		return false;
	pod_info(p, out);
	return true;
}

bool plan_pod_at(const struct plan *m, const struct steer_addr *addr, struct plan_pod *out)
{
	const struct pod *p = table_get(&m->qdesired, addr, sizeof(*addr));
	struct table_iter it;
	struct tent *e;

	/* A pod no longer quarantined is found by a walk: rare (Events after a restart). */
	table_iter_init(&it, &m->pods);
	while (!p && (e = table_iter_next(&it)))
		for (int f = 0; f < ADDR_NFAM; f++)
			if (addr_eq(pod_ip(e->val, f), addr))
				p = e->val;
	if (!p)
		return false;
	pod_info(p, out);
	return true;
}

bool plan_svc_steered(const struct plan *m, const char *key)
{
	const struct svc *s = table_gets(&m->svcs, key);

	return s && s->steered;
}
