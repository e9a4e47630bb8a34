// SPDX-License-Identifier: MIT
/*
 * The planner's caches: what the API said about Pods, Services,
 * EndpointSlices and Nodes, and which pods an object's change must be
 * decided again for (pod_mark, svc_mark). Decisions are in decide.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/log.h"
#include "model/internal.h"

uint64_t plan_pod_hash(const char *uid, const char *key)
{
	const char *s = uid && *uid ? uid : key;

	return fnv1a64(s, strlen(s));
}

uint64_t plan_svc_hash(const char *key)
{
	return fnv1a64(key, strlen(key));
}

const struct steer_addr *pod_ip(const struct pod *p, int f)
{
	return addr_is_zero(&p->api.ip_status[f]) ? &p->api.ip_slice[f] : &p->api.ip_status[f];
}

/* ---------------------------------------------------------- Service sets */

int svcset_add(struct svcset *set, struct svc *s)
{
	struct svc **a;

	if (svcset_has(set, s))
		return 0;
	a = realloc(set->v, (set->n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	a[set->n++] = s;
	set->v = a;
	s->refs++;
	return 1;
}

bool svcset_has(const struct svcset *set, const struct svc *s)
{
	for (uint32_t i = 0; i < set->n; i++)
		if (set->v[i] == s)
			return true;
	return false;
}

bool svcset_del(struct svcset *set, struct svc *s)
{
	for (uint32_t i = 0; i < set->n; i++) {
		if (set->v[i] == s) {
			set->v[i] = set->v[--set->n];
			s->refs--;
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------- objects */

struct svc *svc_get(struct plan *m, const char *key, bool create)
{
	struct svc *s = table_gets(&m->svcs, key);

	if (s || !create)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = strdup(key);
	if (!s->key || table_put(&m->svcs, key, strlen(key), s)) {
		free(s->key);
		free(s);
		return NULL;
	}
	s->hkey = plan_svc_hash(key);
	return s;
}

void svc_free(struct plan *m, struct svc *s)
{
	table_del(&m->svcs, s->key, strlen(s->key));
	labels_free(&s->sel_labels);
	selector_free(&s->sel);
	free(s->ports);
	free(s->slices);
	free(s->keys);
	free(s->key);
	free(s);
}

void svc_maybe_free(struct plan *m, struct svc *s)
{
	if (!s->exists && !s->nslices && !s->refs && !s->steered && !s->nkeys && !s->dirty)
		svc_free(m, s);
}

void svc_mark(struct plan *m, struct svc *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	s->next_dirty = m->dirty_svcs;
	m->dirty_svcs = s;
}

struct pod *pod_get(struct plan *m, const char *key, bool create)
{
	struct pod *p = table_gets(&m->pods, key);

	if (p || !create)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->api.act_meta = p->api.act_quar = -1;
	p->key = strdup(key);
	if (!p->key || table_put(&m->pods, key, strlen(key), p)) {
		free(p->key);
		free(p);
		return NULL;
	}
	p->mem.hkey = plan_pod_hash(NULL, key);
	return p;
}

void pod_mark(struct plan *m, struct pod *p)
{
	if (p->dirty)
		return;
	p->dirty = true;
	p->next_dirty = m->dirty_pods;
	m->dirty_pods = p;
}

bool pod_idle(const struct pod *p)
{
	return !p->api.meta_seen && !p->api.explicit_q && !p->api.nlisted && !p->mem.svcs.n &&
	       !p->q.svcs.n && !p->q.on && !p->dirty;
}

void pod_free(struct plan *m, struct pod *p)
{
	table_del(&m->pods, p->key, strlen(p->key));
	labels_free(&p->api.labels);
	free(p->api.listed);
	free(p->mem.svcs.v);
	free(p->q.svcs.v);
	free(p->key);
	free(p);
}

/*
 * The uid says which pod this is. Departure memory belongs to one pod: a
 * new uid under the same name is a new pod and starts with none; a first
 * uid moves what was remembered under the name to the uid.
 */
static void pod_set_uid(struct plan *m, struct pod *p, const char *uid)
{
	uint64_t h;

	if (!uid[0] || !strcmp(p->api.uid, uid))
		return;
	if (p->api.uid[0]) {
		pr_info("pod %s was recreated (uid %s, was %s): its departure memory starts afresh",
			p->key, uid, p->api.uid);
		members_forget_all(m, p);
	}
	h = plan_pod_hash(uid, p->key);
	for (uint32_t i = 0; i < p->mem.svcs.n; i++)
		member_emit(m, p, p->mem.svcs.v[i], false);
	snprintf(p->api.uid, sizeof(p->api.uid), "%s", uid);
	p->mem.hkey = h;
	for (uint32_t i = 0; i < p->mem.svcs.n; i++)
		member_emit(m, p, p->mem.svcs.v[i], true);
	pod_mark(m, p);
}

static int pod_list(struct plan *m, const char *key, struct svc *s,
		    const struct steer_addr *ip, uint32_t node)
{
	struct pod *p = pod_get(m, key, true);
	struct svcref *r;

	if (!p)
		return -ENOMEM;
	p->api.ip_slice[addr_family(ip)] = *ip;
	if (node)
		p->api.node = node;
	pod_mark(m, p);
	for (uint32_t i = 0; i < p->api.nlisted; i++) {
		if (p->api.listed[i].svc == s) {
			p->api.listed[i].cnt++;
			return 0;
		}
	}
	r = realloc(p->api.listed, (p->api.nlisted + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	p->api.listed = r;
	r[p->api.nlisted++] = (struct svcref){ .svc = s, .cnt = 1 };
	s->refs++;
	return 0;
}

static void pod_unlist(struct plan *m, const char *key, struct svc *s)
{
	struct pod *p = pod_get(m, key, false);

	if (!p)
		return;
	pod_mark(m, p);
	for (uint32_t i = 0; i < p->api.nlisted; i++) {
		if (p->api.listed[i].svc == s) {
			if (!--p->api.listed[i].cnt) {
				p->api.listed[i] = p->api.listed[--p->api.nlisted];
				s->refs--;
			}
			return;
		}
	}
}

/* ---------------------------------------------------------------- pods */

static void pod_meta_gone(struct plan *m, struct pod *p)
{
	p->api.meta_seen = false;
	labels_free(&p->api.labels);
	/* A deleted pod's quarantine ends; forget what it left. */
	members_forget_all(m, p);
	pod_mark(m, p);
}

static int on_pod_meta(struct plan *m, enum plan_ev ev, struct pod_obj *o)
{
	struct pod *p = pod_get(m, o->meta.key, ev != PE_DELETED);

	if (!p)
		return ev == PE_DELETED ? 0 : -ENOMEM;
	if (ev == PE_DELETED) {
		pod_meta_gone(m, p);
		return 0;
	}
	p->api.meta_gen = m->kind_gen[PS_POD_META];
	pod_set_uid(m, p, o->meta.uid);
	if (!p->api.meta_seen || !labels_equal(&p->api.labels, &o->labels) ||
	    p->api.act_meta != o->action)
		pod_mark(m, p);
	p->api.meta_seen = true;
	p->api.act_meta = o->action;
	labels_free(&p->api.labels);
	p->api.labels = o->labels;
	memset(&o->labels, 0, sizeof(o->labels));
	return 0;
}

static int on_pod_quar(struct plan *m, enum plan_ev ev, struct pod_obj *o)
{
	struct pod *p = pod_get(m, o->meta.key, ev != PE_DELETED);

	if (!p)
		return ev == PE_DELETED ? 0 : -ENOMEM;
	pod_mark(m, p);
	if (ev == PE_DELETED) {
		p->api.explicit_q = false;
		return 0;
	}
	p->api.quar_gen = m->kind_gen[PS_POD_QUAR];
	p->api.explicit_q = true;
	p->api.act_quar = o->action;
	for (int f = 0; f < ADDR_NFAM; f++)
		if (!addr_is_zero(&o->ip[f]))
			p->api.ip_status[f] = o->ip[f];
	if (o->node)
		p->api.node = o->node;
	pod_set_uid(m, p, o->meta.uid);
	if (!m->opts.departure) {
		labels_free(&p->api.labels);
		p->api.labels = o->labels;
		memset(&o->labels, 0, sizeof(o->labels));
	}
	return 0;
}

int plan_pod(struct plan *m, enum plan_src src, enum plan_ev ev, struct pod_obj *o)
{
	return src == PS_POD_META ? on_pod_meta(m, ev, o) : on_pod_quar(m, ev, o);
}

/* ------------------------------------------------------------- slices */

static void slice_pods(struct plan *m, struct slice *sl, bool list)
{
	char key[2 * OBJ_NAME_MAX + 2];
	size_t nslen = sl->obj.meta.name_off;

	for (uint32_t i = 0; i < sl->obj.neps; i++) {
		const struct eps_endpoint *ep = &sl->obj.eps[i];

		if (!ep->pod[0])
			continue;
		memcpy(key, sl->obj.meta.key, nslen);
		strcpy(key + nslen, ep->pod);
		if (list)
			pod_list(m, key, sl->svc, &ep->addr, ep->node);
		else
			pod_unlist(m, key, sl->svc);
	}
}

static void slice_detach(struct plan *m, struct slice *sl)
{
	struct svc *s = sl->svc;

	slice_pods(m, sl, false);
	for (uint32_t i = 0; i < s->nslices; i++) {
		if (s->slices[i] == sl) {
			s->slices[i] = s->slices[--s->nslices];
			break;
		}
	}
	svc_mark(m, s);
}

static void slice_drop(struct plan *m, struct slice *sl)
{
	table_del(&m->slices, sl->obj.meta.key, strlen(sl->obj.meta.key));
	eps_obj_free(&sl->obj);
	free(sl);
}

int plan_slice(struct plan *m, enum plan_ev ev, struct eps_obj *o)
{
	struct slice *sl = table_gets(&m->slices, o->meta.key), **arr;
	char skey[2 * OBJ_NAME_MAX + 2];
	size_t nslen = o->meta.name_off;
	struct svc *s;

	if (sl)
		slice_detach(m, sl);
	if (ev == PE_DELETED || o->family < 0) {
		if (sl)
			slice_drop(m, sl);
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
	sl->gen = m->kind_gen[PS_EPS];
	sl->obj = *o;
	memset(o, 0, sizeof(*o));
	/* The controller rewrote the slice: it reflects the current selector. */
	s->listed_stale = false;
	slice_pods(m, sl, true);
	svc_mark(m, s);
	return 0;
}

/* ----------------------------------------------------------- services */

static void forget_members(struct plan *m, struct svc *s)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;

		if (svcset_has(&p->mem.svcs, s)) {
			member_forget(m, p, s);
			pod_mark(m, p);
		}
	}
}

static void svc_gone(struct plan *m, struct svc *s)
{
	s->exists = false;
	forget_members(m, s);
	svc_mark(m, s);
}

/* The pods its slices list must be decided again. */
static void svc_mark_pods(struct plan *m, struct svc *s)
{
	char key[2 * OBJ_NAME_MAX + 2];

	for (uint32_t i = 0; i < s->nslices; i++) {
		struct slice *sl = s->slices[i];
		size_t nslen = sl->obj.meta.name_off;

		for (uint32_t k = 0; k < sl->obj.neps; k++) {
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
}

int plan_service(struct plan *m, enum plan_ev ev, struct svc_obj *o)
{
	struct svc *s = svc_get(m, o->meta.key, ev != PE_DELETED);
	bool sel_changed;

	if (!s)
		return ev == PE_DELETED ? 0 : -ENOMEM;
	if (ev == PE_DELETED) {
		svc_gone(m, s);
		svc_mark_pods(m, s);
		return 0;
	}
	svc_mark(m, s);
	s->gen = m->kind_gen[PS_SVC];
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
	memcpy(s->vip, o->vip, sizeof(s->vip));
	free(s->ports);
	s->ports = o->ports;
	s->nports = o->nports;
	o->ports = NULL;
	o->nports = 0;
	svc_mark_pods(m, s);
	return 0;
}

/* --------------------------------------------------------------- nodes */

/* Pods whose address is ip must be decided again: it became or stopped being a node's. */
static void mark_pods_with_ip(struct plan *m, const struct steer_addr *ip)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;

		for (int f = 0; f < ADDR_NFAM; f++)
			if (addr_eq(&p->api.ip_status[f], ip) || addr_eq(&p->api.ip_slice[f], ip))
				pod_mark(m, p);
	}
}

static void node_ips(struct plan *m, const struct node_obj *n, int delta)
{
	for (uint32_t i = 0; i < n->naddrs; i++) {
		const struct steer_addr *ip = &n->addrs[i];
		uintptr_t c = (uintptr_t)table_get(&m->nodeips, ip, sizeof(*ip)) + delta;

		if (c)
			table_put(&m->nodeips, ip, sizeof(*ip), (void *)c);
		else
			table_del(&m->nodeips, ip, sizeof(*ip));
		mark_pods_with_ip(m, ip);
	}
}

static void node_drop(struct plan *m, struct node_ent *n)
{
	table_del(&m->nodes, n->obj.meta.key, strlen(n->obj.meta.key));
	node_ips(m, &n->obj, -1);
	free(n);
}

int plan_node(struct plan *m, enum plan_ev ev, const struct node_obj *o)
{
	struct node_ent *old = table_gets(&m->nodes, o->meta.key), *n;

	if (ev == PE_DELETED) {
		if (old)
			node_drop(m, old);
		return 0;
	}
	if (old && old->obj.naddrs == o->naddrs &&
	    !memcmp(old->obj.addrs, o->addrs, o->naddrs * sizeof(o->addrs[0]))) {
		old->gen = m->kind_gen[PS_NODE];
		return 0;
	}
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->obj = *o;
	n->gen = m->kind_gen[PS_NODE];
	if (old)
		node_drop(m, old);
	if (table_put(&m->nodes, n->obj.meta.key, strlen(n->obj.meta.key), n)) {
		free(n);
		return -ENOMEM;
	}
	node_ips(m, &n->obj, +1);
	return 0;
}

enum kube_kind plan_src_kind(enum plan_src src)
{
	static const enum kube_kind kinds[PS_MAX] = {
		[PS_POD_META] = KUBE_POD, [PS_POD_QUAR] = KUBE_POD, [PS_SVC] = KUBE_SERVICE,
		[PS_EPS] = KUBE_SLICE, [PS_NODE] = KUBE_NODE,
	};

	return kinds[src < PS_MAX ? src : PS_POD_META];
}

int plan_object(struct plan *m, enum plan_src src, enum plan_ev ev, struct kube_object *o)
{
	switch (o->kind) {
	case KUBE_POD:
		return plan_pod(m, src, ev, &o->pod);
	case KUBE_SERVICE:
		return plan_service(m, ev, &o->svc);
	case KUBE_SLICE:
		return plan_slice(m, ev, &o->eps);
	case KUBE_NODE:
		return plan_node(m, ev, &o->node);
	}
	return -EINVAL;
}

/* -------------------------------------------------------------- relists */

void plan_list_begin(struct plan *m, enum plan_src src)
{
	m->kind_gen[src]++;
}

void plan_list_end(struct plan *m, enum plan_src src)
{
	uint32_t g = m->kind_gen[src], n = 0;
	struct table_iter it;
	struct tent *e;

	switch (src) {
	case PS_POD_META:
	case PS_POD_QUAR:
		table_iter_init(&it, &m->pods);
		while ((e = table_iter_next(&it))) {
			struct pod *p = e->val;

			if (src == PS_POD_META && p->api.meta_seen && p->api.meta_gen != g) {
				pod_meta_gone(m, p);
				n++;
			} else if (src == PS_POD_QUAR && p->api.explicit_q && p->api.quar_gen != g) {
				p->api.explicit_q = false;
				pod_mark(m, p);
				n++;
			}
		}
		break;
	case PS_SVC:
		table_iter_init(&it, &m->svcs);
		while ((e = table_iter_next(&it))) {
			struct svc *s = e->val;

			if (s->exists && s->gen != g) {
				svc_gone(m, s);
				n++;
			}
		}
		break;
	case PS_NODE:
		table_iter_init(&it, &m->nodes);
		while ((e = table_iter_next(&it))) {
			struct node_ent *nd = e->val;

			if (nd->gen != g) {
				node_drop(m, nd);
				n++;
			}
		}
		break;
	case PS_EPS:
		table_iter_init(&it, &m->slices);
		while ((e = table_iter_next(&it))) {
			struct slice *sl = e->val;

			if (sl->gen != g) {
				slice_detach(m, sl);
				slice_drop(m, sl);
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

/* ------------------------------------------------------ departure memory */

/*
 * Memberships a previous steerd recorded, so a pod that departed before the
 * restart, and whose slices have dropped it since, is still quarantined
 * (DESIGN §4). Entries of pods or Services gone since are left to the
 * reconciler's sweep.
 */
/* The pods by their steer_members key, or by the name key of a steerd before UIDs. */
static void pods_by_hash(struct plan *m, struct table *t, bool by_name)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it))) {
		struct pod *p = e->val;
		uint64_t h = by_name ? plan_pod_hash(NULL, p->key) : p->mem.hkey;

		if (!by_name || p->api.uid[0])
			table_put(t, &h, sizeof(h), p);
	}
}

void plan_remember(struct plan *m, const struct steer_member_key *k,
		   const struct steer_member_val *val)
{
	struct table_iter it;
	struct pod *p;
	struct svc *s;
	struct tent *e;
	int ret;

	if (!m->opts.departure || !m->svcs.n)
		return;
	/* Lookups by hash, built on the first entry. */
	if (!m->svcbyhash.n) {
		pods_by_hash(m, &m->byhash[0], false);
		table_iter_init(&it, &m->svcs);
		while ((e = table_iter_next(&it))) {
			s = e->val;
			table_put(&m->svcbyhash, &s->hkey, sizeof(s->hkey), s);
		}
	}
	s = table_get(&m->svcbyhash, &k->svc, sizeof(k->svc));
	p = table_get(&m->byhash[0], &k->pod, sizeof(k->pod));
	/*
	 * Written under the name by a steerd before UID keys: the sync rewrites
	 * it under the UID. Only an upgrade pays for this second lookup.
	 */
	if (!p && s) {
		if (!m->byname_built)
			pods_by_hash(m, &m->byhash[1], true);
		m->byname_built = true;
		p = table_get(&m->byhash[1], &k->pod, sizeof(k->pod));
	}
	if (!p || !s || !p->api.meta_seen || !s->exists || !s->has_selector)
		return;
	ret = svcset_add(&p->mem.svcs, s);
	if (ret < 0) {
		pr_warn("restore departure memory of pod %s: %s", p->key, strerror(-ret));
		return;
	}
	/* A departed pod is in no slice, and the metadata watch has no IP. */
	for (int f = 0; f < ADDR_NFAM; f++)
		if (addr_is_zero(pod_ip(p, f)) && addr_family(&val->addr[f]) == (enum addr_family)f)
			p->api.ip_slice[f] = val->addr[f];
	if (ret) {
		m->restored++;
		pod_mark(m, p);
	}
}

void plan_remember_done(struct plan *m)
{
	if (m->restored)
		pr_info("restored %u pod memberships from %s", m->restored, STEER_MAP_MEMBERS);
	table_free(&m->byhash[0]);
	table_free(&m->byhash[1]);
	table_free(&m->svcbyhash);
	m->byname_built = false;
}
