// SPDX-License-Identifier: MIT
#include "model/model.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datapath/addr.h"
#include "log.h"
#include "model/labels.h"
#include "model/objects.h"
#include "model/table.h"

struct svc;

struct svcref {
	struct svc *svc;
	uint32_t cnt;		/* slices of svc that list the pod */
};

struct pod {
	char *key;
	uint64_t hkey;		/* model_key_hash(key), for steer_members */
	bool meta_seen;
	bool explicit_q;
	bool dirty;
	uint32_t meta_gen;
	uint32_t quar_gen;
	struct labels labels;
	int act_meta;		/* from the annotation, -1 if none */
	int act_quar;
	__be32 ip_status;
	__be32 ip_slice;
	uint32_t node;		/* obj_node_hash of its node, 0 if unknown */
	char uid[40];		/* for Events: kubectl describe matches on it */
	struct svcref *listed;
	uint32_t nlisted;
	/* Services the pod was a matching member of: departure memory. */
	struct svc **member;
	uint32_t nmember;
	/* Services it is quarantined for. */
	struct svc **qsvc;
	uint32_t nqsvc;
	/* Desired quarantine entry. */
	bool q_on;
	__be32 q_ip;
	uint8_t q_action;
	uint64_t q_since;
	struct pod *next_dirty;
};

struct slice {
	struct svc *svc;
	uint32_t gen;
	struct eps_obj obj;
};

struct svc {
	char *key;
	uint64_t hkey;
	bool exists;
	bool dirty;
	bool steered;
	bool listed_stale;	/* selector changed; slices not rewritten yet */
	uint32_t gen;
	bool has_selector;
	struct labels sel_labels;
	struct selector sel;
	__be32 vip;
	struct svc_port *ports;
	uint32_t nports;
	struct slice **slices;
	uint32_t nslices;
	uint32_t refs;		/* pod references: listed, member, qsvc */
	uint32_t nquar;
	uint64_t settle_until;
	struct steer_svc_key *akeys;	/* entries it desires */
	uint32_t nakeys;
	struct svc *next_dirty;
};

/* What we last wrote (or found, when adopting) for one map entry. */
struct qent {
	struct steer_quar_val val;
};

struct sent {
	uint32_t n;
	uint32_t gen;
	struct steer_backend_val *b;
};

struct model {
	struct model_opts opts;
	const struct apply_ops *ops;
	void *ctx;
	struct table pods;
	struct table svcs;
	struct table slices;
	struct table nodes;	/* node key -> struct node_obj */
	struct table nodeips;	/* ip -> number of nodes that have it */
	struct table qdesired;	/* ip -> pod */
	struct table qapplied;	/* ip -> qent */
	struct table sapplied;	/* steer_svc_key -> sent */
	uint32_t kind_gen[MK_MAX];
	uint32_t gen;
	bool synced;
	bool member_warned;	/* one warning per resync, not one per pod */
	uint64_t next_deadline;
	struct pod *dirty_pods;
	struct svc *dirty_svcs;
	struct model_stats st;
	/* Scratch for building backend sets. */
	struct steer_backend_val *scratch;
	uint32_t scratch_cap;
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t mono(const struct model *m)
{
	return m->opts.clock ? m->opts.clock() : 0;
}

uint64_t model_key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---------------------------------------------------------------- caches */

static struct svc *svc_get(struct model *m, const char *key, bool create)
{
	struct svc *s = table_gets(&m->svcs, key);

	if (s || !create)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = strdup(key);
	s->hkey = model_key_hash(key);
	if (!s->key || table_put(&m->svcs, key, strlen(key), s)) {
		free(s->key);
		free(s);
		return NULL;
	}
	return s;
}

static void svc_maybe_free(struct model *m, struct svc *s)
{
	if (s->exists || s->nslices || s->refs || s->steered || s->nakeys || s->dirty)
		return;
	table_del(&m->svcs, s->key, strlen(s->key));
	labels_free(&s->sel_labels);
	selector_free(&s->sel);
	free(s->ports);
	free(s->slices);
	free(s->akeys);
	free(s->key);
	free(s);
}

static void svc_mark(struct model *m, struct svc *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	s->next_dirty = m->dirty_svcs;
	m->dirty_svcs = s;
}

static struct pod *pod_get(struct model *m, const char *key, bool create)
{
	struct pod *p = table_gets(&m->pods, key);

	if (p || !create)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->act_meta = p->act_quar = -1;
	p->key = strdup(key);
	p->hkey = model_key_hash(key);
	if (!p->key || table_put(&m->pods, key, strlen(key), p)) {
		free(p->key);
		free(p);
		return NULL;
	}
	return p;
}

static void pod_mark(struct model *m, struct pod *p)
{
	if (p->dirty)
		return;
	p->dirty = true;
	p->next_dirty = m->dirty_pods;
	m->dirty_pods = p;
}

static bool pod_idle(const struct pod *p)
{
	return !p->meta_seen && !p->explicit_q && !p->nlisted && !p->nmember &&
	       !p->nqsvc && !p->q_on && !p->dirty;
}

static void pod_free(struct model *m, struct pod *p)
{
	table_del(&m->pods, p->key, strlen(p->key));
	labels_free(&p->labels);
	free(p->listed);
	free(p->member);
	free(p->qsvc);
	free(p->key);
	free(p);
}

static int svcs_add(struct svc ***arr, uint32_t *n, struct svc *s)
{
	struct svc **a;
	uint32_t i;

	for (i = 0; i < *n; i++)
		if ((*arr)[i] == s)
			return 0;
	a = realloc(*arr, (*n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	a[(*n)++] = s;
	*arr = a;
	s->refs++;
	return 1;
}

static bool svcs_has(struct svc *const *arr, uint32_t n, const struct svc *s)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (arr[i] == s)
			return true;
	return false;
}

static bool svcs_del(struct svc **arr, uint32_t *n, struct svc *s)
{
	uint32_t i;

	for (i = 0; i < *n; i++) {
		if (arr[i] == s) {
			arr[i] = arr[--(*n)];
			s->refs--;
			return true;
		}
	}
	return false;
}

static int pod_list(struct model *m, const char *key, struct svc *s, __be32 ip,
		    uint32_t node)
{
	struct pod *p = pod_get(m, key, true);
	struct svcref *r;
	uint32_t i;

	if (!p)
		return -ENOMEM;
	p->ip_slice = ip;
	if (node)
		p->node = node;
	pod_mark(m, p);
	for (i = 0; i < p->nlisted; i++) {
		if (p->listed[i].svc == s) {
			p->listed[i].cnt++;
			return 0;
		}
	}
	r = realloc(p->listed, (p->nlisted + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	p->listed = r;
	r[p->nlisted++] = (struct svcref){ .svc = s, .cnt = 1 };
	s->refs++;
	return 0;
}

static void pod_unlist(struct model *m, const char *key, struct svc *s)
{
	struct pod *p = pod_get(m, key, false);
	uint32_t i;

	if (!p)
		return;
	pod_mark(m, p);
	for (i = 0; i < p->nlisted; i++) {
		if (p->listed[i].svc == s) {
			if (!--p->listed[i].cnt) {
				p->listed[i] = p->listed[--p->nlisted];
				s->refs--;
			}
			return;
		}
	}
}

/* ------------------------------------------------------------- writing */

/*
 * Departure memory in steer_members. A failed write does not ask for a
 * quick resync: enforcement does not depend on it until the next restart,
 * and a full map would turn that into a resync every second. The periodic
 * resync rewrites everything anyway.
 */
static void member_warn(struct model *m, const char *what, const struct pod *p,
			const struct svc *s, int err)
{
	m->st.write_errors++;
	if (m->member_warned)
		return;
	m->member_warned = true;
	pr_warn("%s departure memory of pod %s in service %s: %s%s", what, p->key,
		s->key, strerror(-err),
		err == -E2BIG ? " (steer_members is full; a restart may forget departures)" : "");
}

static void member_write(struct model *m, const struct pod *p, const struct svc *s)
{
	struct steer_member_key k = { .pod = p->hkey, .svc = s->hkey };
	struct steer_member_val v = {
		.gen = m->gen, .addr = p->ip_status ? p->ip_status : p->ip_slice,
	};
	int err;

	if (!m->synced || !m->opts.departure)
		return;
	err = m->ops->member_set(m->ctx, &k, &v);
	if (err)
		member_warn(m, "write", p, s, err);
}

static void member_forget(struct model *m, struct pod *p, struct svc *s)
{
	struct steer_member_key k = { .pod = p->hkey, .svc = s->hkey };
	int err;

	if (!svcs_del(p->member, &p->nmember, s) || !m->synced)
		return;
	err = m->ops->member_del(m->ctx, &k);
	if (err && err != -ENOENT)
		member_warn(m, "delete", p, s, err);
}

static void members_forget_all(struct model *m, struct pod *p)
{
	while (p->nmember)
		member_forget(m, p, p->member[0]);
}

static int quar_reconcile(struct model *m, __be32 ip, bool force)
{
	struct pod *p = table_get(&m->qdesired, &ip, sizeof(ip));
	struct qent *a = table_get(&m->qapplied, &ip, sizeof(ip));
	struct steer_quar_val cur, want = {};
	int err;

	if (!m->synced)
		return 0;
	if (p) {
		want.action = p->q_action;
		want.origin = STEER_ORIGIN_API;
		want.gen = m->gen;
		want.since = p->q_since;
		if (a && !force && a->val.action == want.action)
			return 0;
	} else if (!a) {
		return 0;
	}
	/* steerctl may have taken the address over by hand since. */
	err = m->ops->quar_get(m->ctx, ip, &cur);
	if (!err && cur.origin == STEER_ORIGIN_MANUAL) {
		free(table_del(&m->qapplied, &ip, sizeof(ip)));
		return 0;
	}
	if (!p) {
		err = m->ops->quar_del(m->ctx, ip);
		if (err && err != -ENOENT) {
			m->st.write_errors++;
			pr_warn("delete quarantine of %s: %s", inet_ntoa((struct in_addr){ ip }),
				strerror(-err));
			return err;
		}
		m->st.deletes++;
		free(table_del(&m->qapplied, &ip, sizeof(ip)));
		return 0;
	}
	if (!err && cur.origin == STEER_ORIGIN_API && cur.since)
		want.since = cur.since;	/* keep the original time across restarts */
	err = m->ops->quar_set(m->ctx, ip, &want);
	if (err) {
		m->st.write_errors++;
		pr_warn("quarantine %s (pod %s): %s", inet_ntoa((struct in_addr){ ip }),
			p->key, strerror(-err));
		return err;
	}
	m->st.quar_writes++;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a || table_put(&m->qapplied, &ip, sizeof(ip), a)) {
			free(a);
			return -ENOMEM;
		}
	}
	a->val = want;
	return 0;
}

static int be_cmp(const void *x, const void *y)
{
	const struct steer_backend_val *a = x, *b = y;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return a->port < b->port ? -1 : a->port > b->port;
}

/*
 * The slots for the sorted set w: a slot of old whose backend is still wanted
 * keeps it, and the new backends fill the others, so one backend more or less
 * changes one slot (maps_svc_patch) rather than the whole set.
 */
static struct steer_backend_val *slot_layout(const struct steer_backend_val *old,
					     uint32_t nold,
					     const struct steer_backend_val *w, uint32_t n)
{
	struct steer_backend_val *out = malloc((n ? n : 1) * sizeof(*out));
	uint8_t *placed = calloc(n ? 2 * n : 1, 1), *hole = placed + n;
	uint32_t i, j;

	if (!out || !placed) {
		free(out);
		free(placed);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		const struct steer_backend_val *f = i < nold ?
			bsearch(&old[i], w, n, sizeof(*w), be_cmp) : NULL;

		if (f) {
			placed[f - w] = 1;
			out[i] = *f;
		} else {
			hole[i] = 1;
		}
	}
	for (i = 0, j = 0; i < n; i++) {
		if (!hole[i])
			continue;
		while (placed[j])
			j++;
		out[i] = w[j++];
	}
	free(placed);
	return out;
}

static int svc_key_write(struct model *m, const struct steer_svc_key *key,
			 const struct steer_backend_val *w, uint32_t n, bool del, bool force)
{
	struct sent *a = table_get(&m->sapplied, key, sizeof(*key));
	const struct steer_backend_val *old = NULL;
	struct steer_backend_val *b = NULL;
	struct steer_svc_val cur;
	uint32_t nold = 0;
	int err;

	if (!m->synced)
		return 0;
	if (del && !a)
		return 0;
	if (a && a->n != UINT32_MAX && !force) {
		old = a->b;
		nold = a->n;
	}
	if (!del) {
		b = slot_layout(old, nold, w, n);
		if (!b)
			return -ENOMEM;
		if (old && nold == n && (!n || !memcmp(old, b, n * sizeof(*b)))) {
			free(b);
			return 0;
		}
	}
	err = m->ops->svc_get(m->ctx, key, &cur);
	if (!err && cur.origin == STEER_ORIGIN_MANUAL) {
		a = table_del(&m->sapplied, key, sizeof(*key));
		if (a)
			free(a->b);
		free(a);
		free(b);
		return 0;
	}
	if (del) {
		err = m->ops->svc_del(m->ctx, key);
		if (err && err != -ENOENT) {
			m->st.write_errors++;
			pr_warn("delete steered service %s:%u: %s",
				inet_ntoa((struct in_addr){ key->vip }), ntohs(key->port),
				strerror(-err));
			return err;
		}
		m->st.deletes++;
		a = table_del(&m->sapplied, key, sizeof(*key));
		free(a->b);
		free(a);
		return 0;
	}
	err = m->ops->svc_set(m->ctx, key, old, nold, b, n, STEER_ORIGIN_API, m->gen);
	if (err) {
		m->st.write_errors++;
		pr_warn("steer service %s:%u (%u backends): %s",
			inet_ntoa((struct in_addr){ key->vip }), ntohs(key->port), n,
			strerror(-err));
		/* Some slots may have changed: the next write starts a fresh set. */
		if (a)
			a->n = UINT32_MAX;
		free(b);
		return err;
	}
	m->st.svc_writes++;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a || table_put(&m->sapplied, key, sizeof(*key), a)) {
			free(a);
			free(b);
			return -ENOMEM;
		}
	}
	free(a->b);
	a->b = b;
	a->n = n;
	a->gen = m->gen;
	return 0;
}

/* ----------------------------------------------------------- decisions */

static bool pod_matches(const struct pod *p, const struct svc *s)
{
	return selector_match(&s->sel, &p->labels);
}

static bool departed(const struct model *m, const struct pod *p, const struct svc *s,
		     bool listed_only)
{
	if (!m->opts.departure || !p->meta_seen || !s->exists || !s->has_selector)
		return false;
	if (listed_only && s->listed_stale)
		return false;
	return !pod_matches(p, s);
}

static int pod_recompute(struct model *m, struct pod *p)
{
	struct svc **q = NULL, **old = p->qsvc;
	uint32_t nq = 0, nold = p->nqsvc, i;
	bool on, was_on = p->q_on;
	__be32 ip, old_ip = p->q_ip;
	int action, err = 0;

	/* Remember where the pod is a matching member, for after the slice drops it. */
	if (m->opts.departure && p->meta_seen) {
		for (i = 0; i < p->nlisted; i++) {
			struct svc *s = p->listed[i].svc;

			if (s->exists && s->has_selector && !s->listed_stale &&
			    pod_matches(p, s) && svcs_add(&p->member, &p->nmember, s) > 0)
				member_write(m, p, s);
		}
	}
	for (i = 0; i < p->nlisted; i++) {
		struct svc *s = p->listed[i].svc;

		if ((p->explicit_q && s->exists) || departed(m, p, s, true))
			if (svcs_add(&q, &nq, s) < 0)
				err = -ENOMEM;
	}
	for (i = 0; i < p->nmember; i++) {
		struct svc *s = p->member[i];

		if ((p->explicit_q && s->exists) || departed(m, p, s, false))
			if (svcs_add(&q, &nq, s) < 0)
				err = -ENOMEM;
	}
	/* Swap in the new set: refs of the old go, nquar follows membership. */
	for (i = 0; i < nq; i++) {
		if (!svcs_has(old, nold, q[i])) {
			q[i]->nquar++;
			svc_mark(m, q[i]);
		}
	}
	for (i = 0; i < nold; i++) {
		if (!svcs_has(q, nq, old[i])) {
			old[i]->nquar--;
			svc_mark(m, old[i]);
		}
		old[i]->refs--;
	}
	free(old);
	p->qsvc = q;
	p->nqsvc = nq;

	on = p->explicit_q || nq > 0;
	ip = p->ip_status ? p->ip_status : p->ip_slice;
	/*
	 * A hostNetwork pod has its node's IP: quarantining that address would
	 * cut the node itself off from every pod on it. kube-proxy's
	 * convergence is all the protection such a pod gets.
	 */
	if (on && ip && table_get(&m->nodeips, &ip, sizeof(ip))) {
		if (!p->q_on && !was_on)
			pr_warn("pod %s has a node's IP %s (hostNetwork?): not quarantining it",
				p->key, inet_ntoa((struct in_addr){ ip }));
		on = false;
	}
	action = p->meta_seen && p->act_meta >= 0 ? p->act_meta :
		 p->act_quar >= 0 ? p->act_quar : m->opts.default_action;
	if (on && !ip)
		pr_debug("pod %s is quarantined but its IP is not known yet", p->key);
	on = on && ip;
	if (on == was_on && ip == old_ip && action == p->q_action)
		return err;
	if (on && !was_on) {
		p->q_since = realtime_ns();
		pr_info("component=model decision=quarantine object=pod/%s ip=%s action=%s services=%u origin=%s",
			p->key, inet_ntoa((struct in_addr){ ip }), addr_action_name(action), nq,
			p->explicit_q ? "selector" : "departure");
	} else if (!on && was_on) {
		pr_info("component=model decision=release object=pod/%s ip=%s", p->key,
			inet_ntoa((struct in_addr){ old_ip }));
	}
	if (on != was_on && m->opts.on_transition)
		m->opts.on_transition(m->opts.transition_arg, p->key, p->uid, p->node, on,
				     action, nq);
	if (was_on && table_get(&m->qdesired, &old_ip, sizeof(old_ip)) == p)
		table_del(&m->qdesired, &old_ip, sizeof(old_ip));
	p->q_on = on;
	p->q_ip = on ? ip : 0;
	p->q_action = action;
	if (on) {
		struct pod *other = table_get(&m->qdesired, &ip, sizeof(ip));

		if (other && other != p)
			pr_warn("pods %s and %s share IP %s; %s wins", other->key, p->key,
				inet_ntoa((struct in_addr){ ip }), p->key);
		if (table_put(&m->qdesired, &ip, sizeof(ip), p))
			err = -ENOMEM;
	}
	if (was_on && (!on || old_ip != ip))
		quar_reconcile(m, old_ip, false);
	if (on)
		quar_reconcile(m, ip, false);
	/* Backend sets that hold this address change. */
	for (i = 0; i < p->nlisted; i++)
		svc_mark(m, p->listed[i].svc);
	for (i = 0; i < p->nmember; i++)
		svc_mark(m, p->member[i]);
	return err;
}

static bool ip_quarantined(const struct model *m, __be32 ip)
{
	return table_get(&m->qdesired, &ip, sizeof(ip)) != NULL;
}

static int scratch_add(struct model *m, uint32_t *n, __be32 addr, uint16_t port)
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
	m->scratch[(*n)++] = (struct steer_backend_val){ .addr = addr, .port = htons(port) };
	return 0;
}

/* Backends of one Service port: ready, else serving+terminating, never quarantined. */
static uint32_t backends(struct model *m, const struct svc *s, const struct svc_port *sp)
{
	uint32_t n = 0, i, j, k, pass, w;

	for (pass = 0; pass < 2 && !n; pass++) {
		for (i = 0; i < s->nslices; i++) {
			const struct eps_obj *e = &s->slices[i]->obj;
			int port = -1;

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

				if (ok && !ip_quarantined(m, ep->addr) &&
				    scratch_add(m, &n, ep->addr, port))
					break;
			}
		}
	}
	if (n < 2)
		return n;
	qsort(m->scratch, n, sizeof(*m->scratch), be_cmp);
	for (i = 1, w = 1; i < n; i++)
		if (be_cmp(&m->scratch[i], &m->scratch[w - 1]))
			m->scratch[w++] = m->scratch[i];
	return w;
}

static bool key_in(const struct steer_svc_key *keys, uint32_t n, const struct steer_svc_key *k)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(&keys[i], k, sizeof(*k)))
			return true;
	return false;
}

static int svc_recompute(struct model *m, struct svc *s, bool force)
{
	struct steer_svc_key *keys = NULL;
	uint32_t nkeys = 0, i, n;
	uint64_t now = mono(m);
	int err = 0;

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
	if (s->steered && s->vip && s->nports) {
		keys = calloc(s->nports, sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		for (i = 0; i < s->nports; i++) {
			const struct svc_port *sp = &s->ports[i];
			struct steer_svc_key k = {
				.vip = s->vip, .port = htons(sp->port), .proto = sp->proto,
			};

			if (sp->proto != IPPROTO_TCP && sp->proto != IPPROTO_UDP)
				continue;
			if (key_in(keys, nkeys, &k))
				continue;
			keys[nkeys++] = k;
			n = backends(m, s, sp);
			if (!n)
				pr_debug("service %s port %u: no backend left, refusing",
					 s->key, sp->port);
			if (svc_key_write(m, &k, m->scratch, n, false, force))
				err = -EIO;
		}
	}
	for (i = 0; i < s->nakeys; i++)
		if (!key_in(keys, nkeys, &s->akeys[i]) &&
		    svc_key_write(m, &s->akeys[i], NULL, 0, true, false))
			err = -EIO;
	free(s->akeys);
	s->akeys = keys;
	s->nakeys = nkeys;
	return err;
}

int model_flush(struct model *m)
{
	int err = 0;

	while (m->dirty_pods || m->dirty_svcs) {
		while (m->dirty_pods) {
			struct pod *p = m->dirty_pods;

			m->dirty_pods = p->next_dirty;
			p->dirty = false;
			if (pod_recompute(m, p))
				err = -EIO;
			if (pod_idle(p))
				pod_free(m, p);
		}
		while (m->dirty_svcs) {
			struct svc *s = m->dirty_svcs;

			m->dirty_svcs = s->next_dirty;
			s->dirty = false;
			if (svc_recompute(m, s, false))
				err = -EIO;
			svc_maybe_free(m, s);
		}
	}
	return err;
}

/* --------------------------------------------------------------- events */

static int on_pod_meta(struct model *m, enum model_ev ev, struct pod_obj *o)
{
	struct pod *p = pod_get(m, o->meta.key, ev != MEV_DELETED);

	if (!p)
		return ev == MEV_DELETED ? 0 : -ENOMEM;
	if (ev == MEV_DELETED) {
		p->meta_seen = false;
		labels_free(&p->labels);
		/* A deleted pod's quarantine ends; forget what it left. */
		members_forget_all(m, p);
		pod_mark(m, p);
		return 0;
	}
	p->meta_gen = m->kind_gen[MK_POD_META];
	if (!p->meta_seen || !labels_equal(&p->labels, &o->labels) ||
	    p->act_meta != o->action)
		pod_mark(m, p);
	p->meta_seen = true;
	p->act_meta = o->action;
	memcpy(p->uid, o->meta.uid, sizeof(p->uid));
	labels_free(&p->labels);
	p->labels = o->labels;
	memset(&o->labels, 0, sizeof(o->labels));
	return 0;
}

static int on_pod_quar(struct model *m, enum model_ev ev, struct pod_obj *o)
{
	struct pod *p = pod_get(m, o->meta.key, ev != MEV_DELETED);

	if (!p)
		return ev == MEV_DELETED ? 0 : -ENOMEM;
	pod_mark(m, p);
	if (ev == MEV_DELETED) {
		p->explicit_q = false;
		return 0;
	}
	p->quar_gen = m->kind_gen[MK_POD_QUAR];
	p->explicit_q = true;
	p->act_quar = o->action;
	if (o->ip)
		p->ip_status = o->ip;
	if (o->node)
		p->node = o->node;
	memcpy(p->uid, o->meta.uid, sizeof(p->uid));
	if (!m->opts.departure) {
		labels_free(&p->labels);
		p->labels = o->labels;
		memset(&o->labels, 0, sizeof(o->labels));
	}
	return 0;
}

static void slice_pods(struct model *m, struct slice *sl, bool list)
{
	char key[2 * OBJ_NAME_MAX + 2];
	size_t nslen = sl->obj.meta.name_off;
	uint32_t i;

	for (i = 0; i < sl->obj.neps; i++) {
		const struct eps_endpoint *ep = &sl->obj.eps[i];

		if (!ep->pod[0])
			continue;
		memcpy(key, sl->obj.meta.key, nslen);
		strcpy(key + nslen, ep->pod);
		if (list)
			pod_list(m, key, sl->svc, ep->addr, ep->node);
		else
			pod_unlist(m, key, sl->svc);
	}
}

static void slice_detach(struct model *m, struct slice *sl)
{
	struct svc *s = sl->svc;
	uint32_t i;

	slice_pods(m, sl, false);
	for (i = 0; i < s->nslices; i++) {
		if (s->slices[i] == sl) {
			s->slices[i] = s->slices[--s->nslices];
			break;
		}
	}
	svc_mark(m, s);
}

static int on_slice(struct model *m, enum model_ev ev, struct eps_obj *o)
{
	struct slice *sl = table_gets(&m->slices, o->meta.key), **arr;
	char skey[2 * OBJ_NAME_MAX + 2];
	size_t nslen = o->meta.name_off;
	struct svc *s;

	if (sl)
		slice_detach(m, sl);
	if (ev == MEV_DELETED || !o->ipv4) {
		if (sl) {
			table_del(&m->slices, o->meta.key, strlen(o->meta.key));
			eps_obj_free(&sl->obj);
			free(sl);
		}
		return 0;
	}
	memcpy(skey, o->meta.key, nslen);
	strcpy(skey + nslen, o->service);
	s = svc_get(m, skey, true);
	if (!s)
		return -ENOMEM;
	if (!sl) {
		sl = calloc(1, sizeof(*sl));
		if (!sl || table_put(&m->slices, o->meta.key, strlen(o->meta.key), sl)) {
			free(sl);
			return -ENOMEM;
		}
	} else {
		eps_obj_free(&sl->obj);
	}
	arr = realloc(s->slices, (s->nslices + 1) * sizeof(*arr));
	if (!arr) {
		table_del(&m->slices, o->meta.key, strlen(o->meta.key));
		free(sl);
		return -ENOMEM;
	}
	s->slices = arr;
	arr[s->nslices++] = sl;
	sl->svc = s;
	sl->gen = m->kind_gen[MK_EPS];
	sl->obj = *o;
	memset(o, 0, sizeof(*o));
	/* The controller rewrote the slice: it reflects the current selector. */
	s->listed_stale = false;
	slice_pods(m, sl, true);
	svc_mark(m, s);
	return 0;
}

static void forget_members(struct model *m, struct svc *s)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;

		if (svcs_has(p->member, p->nmember, s)) {
			member_forget(m, p, s);
			pod_mark(m, p);
		}
	}
}

/* Pods whose address is ip must be decided again: it became or stopped being a node's. */
static void mark_pods_with_ip(struct model *m, __be32 ip)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;

		if (p->ip_status == ip || p->ip_slice == ip)
			pod_mark(m, p);
	}
}

static void node_ips(struct model *m, const struct node_obj *n, int delta)
{
	for (uint32_t i = 0; i < n->naddrs; i++) {
		__be32 ip = n->addrs[i];
		uintptr_t c = (uintptr_t)table_get(&m->nodeips, &ip, sizeof(ip)) + delta;

		if (c)
			table_put(&m->nodeips, &ip, sizeof(ip), (void *)c);
		else
			table_del(&m->nodeips, &ip, sizeof(ip));
		mark_pods_with_ip(m, ip);
	}
}

struct node_ent {
	struct node_obj obj;
	uint32_t gen;		/* list generation, for relists */
};

static void node_drop(struct model *m, struct node_ent *n)
{
	table_del(&m->nodes, n->obj.meta.key, strlen(n->obj.meta.key));
	node_ips(m, &n->obj, -1);
	free(n);
}

static int on_node(struct model *m, enum model_ev ev, struct node_obj *o)
{
	struct node_ent *old = table_gets(&m->nodes, o->meta.key), *n;

	if (ev == MEV_DELETED) {
		if (old)
			node_drop(m, old);
		return 0;
	}
	if (old && old->obj.naddrs == o->naddrs &&
	    !memcmp(old->obj.addrs, o->addrs, o->naddrs * sizeof(o->addrs[0]))) {
		old->gen = m->kind_gen[MK_NODE];
		return 0;
	}
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->obj = *o;
	n->gen = m->kind_gen[MK_NODE];
	if (old)
		node_drop(m, old);
	if (table_put(&m->nodes, n->obj.meta.key, strlen(n->obj.meta.key), n)) {
		free(n);
		return -ENOMEM;
	}
	node_ips(m, &n->obj, +1);
	return 0;
}

static int on_svc(struct model *m, enum model_ev ev, struct svc_obj *o)
{
	struct svc *s = svc_get(m, o->meta.key, ev != MEV_DELETED);
	bool sel_changed;
	uint32_t i;

	if (!s)
		return ev == MEV_DELETED ? 0 : -ENOMEM;
	svc_mark(m, s);
	if (ev == MEV_DELETED) {
		s->exists = false;
		forget_members(m, s);
		goto pods;
	}
	s->gen = m->kind_gen[MK_SVC];
	sel_changed = s->exists && (s->has_selector != o->has_selector ||
				    !labels_equal(&s->sel_labels, &o->selector));
	if (!s->exists || sel_changed) {
		struct selector sel;
		int err = selector_from_labels(&sel, &o->selector);

		if (err)
			return err;
		selector_free(&s->sel);
		s->sel = sel;
		labels_free(&s->sel_labels);
		s->sel_labels = o->selector;
		memset(&o->selector, 0, sizeof(o->selector));
		s->has_selector = o->has_selector;
	}
	if (sel_changed) {
		/*
		 * Until the slices follow the new selector, their pods did not
		 * "leave": do not quarantine them all.
		 */
		pr_info("service %s changed its selector", s->key);
		s->listed_stale = true;
		forget_members(m, s);
	}
	s->exists = true;
	s->vip = o->vip;
	free(s->ports);
	s->ports = o->ports;
	s->nports = o->nports;
	o->ports = NULL;
	o->nports = 0;
pods:
	for (i = 0; i < s->nslices; i++) {
		struct slice *sl = s->slices[i];
		size_t nslen = sl->obj.meta.name_off;
		char key[2 * OBJ_NAME_MAX + 2];
		uint32_t k;

		for (k = 0; k < sl->obj.neps; k++) {
			struct pod *p;

			if (!sl->obj.eps[k].pod[0])
				continue;
			memcpy(key, sl->obj.meta.key, nslen);
			strcpy(key + nslen, sl->obj.eps[k].pod);
			p = pod_get(m, key, false);
			if (p)
				pod_mark(m, p);
		}
	}
	return 0;
}

int model_event(struct model *m, enum model_kind kind, enum model_ev ev,
		const cJSON *obj)
{
	struct pod_obj pod;
	struct svc_obj svc;
	struct eps_obj eps;
	int err;

	m->st.events++;
	switch (kind) {
	case MK_POD_META:
	case MK_POD_QUAR:
		if (ev == MEV_DELETED) {
			/* A deletion needs the name only. */
			memset(&pod, 0, sizeof(pod));
			err = obj_meta_parse(&pod.meta, obj, "pod");
		} else {
			err = pod_parse(&pod, obj);
		}
		if (err)
			break;
		err = kind == MK_POD_META ? on_pod_meta(m, ev, &pod) : on_pod_quar(m, ev, &pod);
		pod_obj_free(&pod);
		break;
	case MK_SVC:
		memset(&svc, 0, sizeof(svc));
		err = ev == MEV_DELETED ? obj_meta_parse(&svc.meta, obj, "service") :
					 svc_parse(&svc, obj);
		if (err)
			break;
		err = on_svc(m, ev, &svc);
		svc_obj_free(&svc);
		break;
	case MK_EPS:
		if (ev == MEV_DELETED) {
			memset(&eps, 0, sizeof(eps));
			err = obj_meta_parse(&eps.meta, obj, "endpointslice");
		} else {
			err = eps_parse(&eps, obj);
		}
		if (err)
			break;
		err = on_slice(m, ev, &eps);
		eps_obj_free(&eps);
		break;
	case MK_NODE: {
		struct node_obj node;

		err = ev == MEV_DELETED ? obj_meta_parse(&node.meta, obj, "node") :
					 node_parse(&node, obj);
		if (!err)
			err = on_node(m, ev, &node);
		break;
	}
	default:
		err = -EINVAL;
	}
	if (err == -EINVAL)
		m->st.skipped++;
	return err;
}

void model_list_begin(struct model *m, enum model_kind kind)
{
	m->kind_gen[kind]++;
}

void model_list_end(struct model *m, enum model_kind kind)
{
	uint32_t g = m->kind_gen[kind];
	struct table_iter it;
	struct tent *e;
	uint32_t n = 0;

	switch (kind) {
	case MK_POD_META:
	case MK_POD_QUAR:
		table_iter_init(&it, &m->pods);
		while ((e = table_iter_next(&it))) {
			struct pod *p = e->val;

			if (kind == MK_POD_META && p->meta_seen && p->meta_gen != g) {
				p->meta_seen = false;
				labels_free(&p->labels);
				members_forget_all(m, p);
				pod_mark(m, p);
				n++;
			} else if (kind == MK_POD_QUAR && p->explicit_q && p->quar_gen != g) {
				p->explicit_q = false;
				pod_mark(m, p);
				n++;
			}
		}
		break;
	case MK_SVC:
		table_iter_init(&it, &m->svcs);
		while ((e = table_iter_next(&it))) {
			struct svc *s = e->val;

			if (s->exists && s->gen != g) {
				s->exists = false;
				forget_members(m, s);
				svc_mark(m, s);
				n++;
			}
		}
		break;
	case MK_NODE:
		table_iter_init(&it, &m->nodes);
		while ((e = table_iter_next(&it))) {
			struct node_ent *nd = e->val;

			if (nd->gen != g) {
				node_drop(m, nd);
				n++;
			}
		}
		break;
	case MK_EPS:
		table_iter_init(&it, &m->slices);
		while ((e = table_iter_next(&it))) {
			struct slice *sl = e->val;

			if (sl->gen != g) {
				slice_detach(m, sl);
				table_del(&m->slices, sl->obj.meta.key, strlen(sl->obj.meta.key));
				eps_obj_free(&sl->obj);
				free(sl);
				n++;
			}
		}
		break;
	default:
		break;
	}
	if (n)
		pr_info("relist: %u objects gone while the watch was down", n);
}

/* ---------------------------------------------------------- mark & sweep */

struct sweep {
	struct model *m;
	uint32_t quar, svc, member, manual;
};

static int sweep_quar(__be32 addr, const struct steer_quar_val *val, void *arg)
{
	struct sweep *sw = arg;
	struct model *m = sw->m;
	int err;

	if (val->origin != STEER_ORIGIN_API) {
		sw->manual++;
		return 0;
	}
	if (val->gen == m->gen && table_get(&m->qdesired, &addr, sizeof(addr)))
		return 0;
	err = m->ops->quar_del(m->ctx, addr);
	if (err && err != -ENOENT) {
		pr_warn("sweep quarantine of %s: %s", inet_ntoa((struct in_addr){ addr }),
			strerror(-err));
		return 0;
	}
	free(table_del(&m->qapplied, &addr, sizeof(addr)));
	sw->quar++;
	return 0;
}

static int sweep_svc(const struct steer_svc_key *key, const struct steer_svc_val *val,
		     void *arg)
{
	struct sweep *sw = arg;
	struct model *m = sw->m;
	struct sent *a;
	int err;

	if (val->origin != STEER_ORIGIN_API) {
		sw->manual++;
		return 0;
	}
	a = table_get(&m->sapplied, key, sizeof(*key));
	if (val->gen == m->gen && a)
		return 0;
	err = m->ops->svc_del(m->ctx, key);
	if (err && err != -ENOENT) {
		pr_warn("sweep steered service %s:%u: %s",
			inet_ntoa((struct in_addr){ key->vip }), ntohs(key->port), strerror(-err));
		return 0;
	}
	a = table_del(&m->sapplied, key, sizeof(*key));
	if (a)
		free(a->b);
	free(a);
	sw->svc++;
	return 0;
}

/* Packs a steer_members value into a table value: never NULL, the address is all we check. */
#define MEMBER_VAL(addr) ((void *)(uintptr_t)((1ULL << 32) | (uint32_t)(addr)))

static int member_read(const struct steer_member_key *key,
		       const struct steer_member_val *val, void *arg)
{
	return table_put(arg, key, sizeof(*key), MEMBER_VAL(val->addr));
}

/*
 * Before the first sweep: rebuild the memberships a previous steerd recorded
 * (have: what steer_members holds), so a pod that departed before the
 * restart, and whose slices have dropped it since, is still quarantined
 * (DESIGN §4). Entries of pods or Services gone since are left to the sweep.
 */
static int members_restore(struct model *m, const struct table *have)
{
	struct table pods = {}, svcs = {};	/* hkey -> pod, svc */
	struct table_iter it;
	struct tent *e;
	uint32_t restored = 0;
	int err = 0;

	table_iter_init(&it, &m->pods);
	while (!err && (e = table_iter_next(&it))) {
		struct pod *p = e->val;

		err = table_put(&pods, &p->hkey, sizeof(p->hkey), p);
	}
	table_iter_init(&it, &m->svcs);
	while (!err && (e = table_iter_next(&it))) {
		struct svc *s = e->val;

		err = table_put(&svcs, &s->hkey, sizeof(s->hkey), s);
	}
	table_iter_init(&it, have);
	while (!err && (e = table_iter_next(&it))) {
		const struct steer_member_key *k = (const void *)e->key;
		struct pod *p = table_get(&pods, &k->pod, sizeof(k->pod));
		struct svc *s = table_get(&svcs, &k->svc, sizeof(k->svc));
		int ret;

		if (!p || !s || !p->meta_seen || !s->exists || !s->has_selector)
			continue;
		ret = svcs_add(&p->member, &p->nmember, s);
		if (ret < 0) {
			err = ret;
			break;
		}
		/* A departed pod is in no slice, and the metadata watch has no IP. */
		if (!p->ip_status && !p->ip_slice)
			p->ip_slice = (uint32_t)(uintptr_t)e->val;
		if (ret) {
			restored++;
			pod_mark(m, p);
		}
	}
	if (err)
		pr_warn("restore departure memory: %s", strerror(-err));
	else if (restored)
		pr_info("restored %u pod memberships from %s", restored, STEER_MAP_MEMBERS);
	table_free(&pods);
	table_free(&svcs);
	return err;
}

/*
 * steer_members against the wanted memberships: write what is missing or
 * holds another address, delete what nobody wants. At 150k pods the map is
 * nearly always right, so this is a read of the map, not 150k writes.
 * have is what the map held; with sweep false (it could not be read) every
 * membership is written and nothing deleted.
 */
static uint32_t members_sync(struct model *m, struct table *have, bool sweep)
{
	struct table_iter it;
	struct tent *e;
	uint32_t swept = 0;
	int err;

	m->member_warned = false;
	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;
		__be32 addr = p->ip_status ? p->ip_status : p->ip_slice;

		for (uint32_t i = 0; i < p->nmember; i++) {
			struct steer_member_key k = { .pod = p->hkey, .svc = p->member[i]->hkey };

			if (table_del(have, &k, sizeof(k)) != MEMBER_VAL(addr))
				member_write(m, p, p->member[i]);
		}
	}
	if (!sweep)
		return 0;
	table_iter_init(&it, have);
	while ((e = table_iter_next(&it))) {
		const struct steer_member_key *k = (const void *)e->key;

		err = m->ops->member_del(m->ctx, k);
		if (err && err != -ENOENT) {
			pr_warn("sweep departure memory %016llx/%016llx: %s",
				(unsigned long long)k->pod, (unsigned long long)k->svc,
				strerror(-err));
			continue;
		}
		swept++;
	}
	return swept;
}

int model_resync(struct model *m)
{
	struct sweep sw = { .m = m };
	struct table have = {};
	bool sweep_members = true;
	struct table_iter it;
	struct tent *e;
	int err = 0;

	/* Later resyncs: let pending writes land first, so the read below is current. */
	if (m->synced)
		model_flush(m);
	/* The departure memory as it is: read once, for the restore and the diff. */
	err = m->ops->member_foreach(m->ctx, member_read, &have);
	if (!err && !m->synced && m->opts.departure)
		err = members_restore(m, &have);
	if (err) {
		/* Not swept, so the next start can still use the entries. */
		pr_warn("read departure memory from %s: %s; keeping it as it is",
			STEER_MAP_MEMBERS, strerror(-err));
		sweep_members = false;
		err = 0;
	}
	model_flush(m);
	if (!m->synced)
		pr_info("initial sync complete: taking over the maps");
	m->synced = true;
	m->gen++;
	table_iter_init(&it, &m->qdesired);
	while ((e = table_iter_next(&it)))
		if (quar_reconcile(m, *(__be32 *)e->key, true))
			err = -EIO;
	table_iter_init(&it, &m->svcs);
	while ((e = table_iter_next(&it))) {
		struct svc *s = e->val;

		if (s->steered && svc_recompute(m, s, true))
			err = -EIO;
	}
	sw.member = members_sync(m, &have, sweep_members);
	table_free(&have);
	/* Sweep only what a write above did not confirm. */
	m->ops->quar_foreach(m->ctx, sweep_quar, &sw);
	m->ops->svc_foreach(m->ctx, sweep_svc, &sw);
	if (sw.quar || sw.svc || sw.member)
		pr_info("resync gen %u: swept %u quarantine, %u service and %u membership entries (%u manual kept)",
			m->gen, sw.quar, sw.svc, sw.member, sw.manual);
	return err;
}

bool model_synced(const struct model *m)
{
	return m->synced;
}

uint64_t model_next_deadline(const struct model *m)
{
	return m->next_deadline;
}

int model_tick(struct model *m)
{
	uint64_t now = mono(m), next = 0;
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
	return model_flush(m);
}

/* ------------------------------------------------------------- lifecycle */

struct model *model_new(const struct model_opts *opts, const struct apply_ops *ops,
			void *ctx)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->opts = *opts;
	m->ops = ops;
	m->ctx = ctx;
	/* gen 0 is what an empty map holds; start above it. */
	m->gen = (uint32_t)(mono(m) / 1000000) | 1;
	return m;
}

void model_free(struct model *m)
{
	struct table_iter it;
	struct tent *e;

	if (!m)
		return;
	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;

		labels_free(&p->labels);
		free(p->listed);
		free(p->member);
		free(p->qsvc);
		free(p->key);
		free(p);
	}
	table_iter_init(&it, &m->svcs);
	while ((e = table_iter_next(&it))) {
		struct svc *s = e->val;

		labels_free(&s->sel_labels);
		selector_free(&s->sel);
		free(s->ports);
		free(s->slices);
		free(s->akeys);
		free(s->key);
		free(s);
	}
	table_iter_init(&it, &m->slices);
	while ((e = table_iter_next(&it))) {
		struct slice *sl = e->val;

		eps_obj_free(&sl->obj);
		free(sl);
	}
	table_iter_init(&it, &m->qapplied);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_iter_init(&it, &m->nodes);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_iter_init(&it, &m->sapplied);
	while ((e = table_iter_next(&it))) {
		struct sent *a = e->val;

		free(a->b);
		free(a);
	}
	table_free(&m->pods);
	table_free(&m->svcs);
	table_free(&m->slices);
	table_free(&m->nodes);
	table_free(&m->nodeips);
	table_free(&m->qdesired);
	table_free(&m->qapplied);
	table_free(&m->sapplied);
	free(m->scratch);
	free(m);
}

void model_get_stats(const struct model *m, struct model_stats *st)
{
	struct table_iter it;
	struct tent *e;

	*st = m->st;
	st->pods = m->pods.n;
	st->services = m->svcs.n;
	st->slices = m->slices.n;
	st->quarantined = m->qdesired.n;
	st->steered = 0;
	table_iter_init(&it, &m->svcs);
	while ((e = table_iter_next(&it)))
		st->steered += ((struct svc *)e->val)->steered;
}

bool model_pod_quarantined(const struct model *m, const char *key, int *action)
{
	const struct pod *p = table_gets(&m->pods, key);

	if (!p || !(p->explicit_q || p->nqsvc))
		return false;
	if (action)
		*action = p->q_action;
	return true;
}

bool model_svc_steered(const struct model *m, const char *key)
{
	const struct svc *s = table_gets(&m->svcs, key);

	return s && s->steered;
}
