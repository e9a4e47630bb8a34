// SPDX-License-Identifier: MIT
#include "datapath/reconcile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/table.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

/* The slots of one steered service as last written; n UINT32_MAX: unknown. */
struct sent {
	uint32_t n;
	struct steer_backend_val *b;
};

/* A key waiting for a retry: what is wanted of it. */
struct pend {
	bool del;
	union {
		struct steer_quar_val quar;
		struct steer_member_val member;
		struct steer_iface_val iface;
	};
	uint32_t n;			/* services: the wanted set */
	struct steer_backend_val b[];
};

/* One table of pending keys per map. */
enum { P_QUAR, P_SVC, P_MEMBER, P_IFACE, P_NR };


struct recon {
	const struct recon_ops *ops;
	void *ctx;
	struct recon_opts opts;
	recon_enforce_cb on_enforce;
	void *enforce_arg;
	uint32_t gen;
	bool live;		/* the first sync began: writes are on */
	bool syncing;		/* between sync_begin and sync_end */
	bool sync_failed;
	bool have_loaded;	/* have holds steer_members as it is */
	bool member_warned;	/* one warning until the memory writes again */
	struct table qapplied;	/* addr -> struct steer_quar_val */
	struct table sapplied;	/* struct steer_svc_key -> struct sent */
	struct table have;	/* struct steer_member_key -> its addresses (malloc'd) */
	struct table pend[P_NR];
	struct steer_exempt_key *exempt;
	uint32_t nexempt;
	bool exempt_pending;
	struct loop_timer *retry;
	uint64_t retry_ms;
	bool retry_armed;
	struct recon_stats st;
};

#define MEMBER_ADDRS sizeof(((struct steer_member_val *)0)->addr)

static void have_free(struct recon *r)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &r->have);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_free(&r->have);
}

static void sent_free(struct sent *a)
{
	if (a)
		free(a->b);
	free(a);
}

/* ------------------------------------------------------------- pending */

static void pend_drop(struct recon *r, int t, const void *key, size_t klen)
{
	free(table_del(&r->pend[t], key, klen));
}

static struct pend *pend_get(const struct recon *r, int t, const void *key, size_t klen)
{
	return table_get(&r->pend[t], key, klen);
}

static void on_retry(struct loop *loop, void *arg)
{
	struct recon *r = arg;

	r->retry_armed = false;
	recon_retry(r);
}

static void arm_retry(struct recon *r)
{
	if (!r->retry || r->retry_armed)
		return;
	r->retry_armed = !loop_timer_arm(r->retry, r->retry_ms);
}

/* Remembers what key wants after a failed write; the retry timer takes it up. */
static int pend_put(struct recon *r, int t, const void *key, size_t klen, bool del,
		    const void *val, size_t vlen, const struct steer_backend_val *b, uint32_t n)
{
	struct pend *p = calloc(1, sizeof(*p) + n * sizeof(*b));

	if (!p)
		return -ENOMEM;
	p->del = del;
	if (val)
		memcpy(&p->quar, val, vlen);
	p->n = n;
	if (n)
		memcpy(p->b, b, n * sizeof(*b));
	free(table_get(&r->pend[t], key, klen));
	if (table_put(&r->pend[t], key, klen, p)) {
		free(p);
		table_del(&r->pend[t], key, klen);
		return -ENOMEM;
	}
	arm_retry(r);
	return 0;
}

/* Keeps the pending set in step with the outcome of a write of key. */
static int settle(struct recon *r, int t, const void *key, size_t klen, int err, bool del,
		  const void *val, size_t vlen, const struct steer_backend_val *b, uint32_t n)
{
	if (!err) {
		pend_drop(r, t, key, klen);
		return 0;
	}
	if (r->syncing)
		r->sync_failed = true;
	pend_put(r, t, key, klen, del, val, vlen, b, n);
	return err;
}

/* ---------------------------------------------------------- quarantine */

static void enforce(struct recon *r, const struct steer_addr *addr, bool on)
{
	if (r->on_enforce)
		r->on_enforce(r->enforce_arg, addr, on);
}

static int quar_apply(struct recon *r, const struct steer_addr *addr,
		      const struct steer_quar_val *want)
{
	struct steer_quar_val *a = table_get(&r->qapplied, addr, sizeof(*addr)), cur, w = {};
	char ip[ADDR_STRLEN];
	bool have;
	int err;

	if (want) {
		w.action = want->action;
		w.since = want->since;
		w.origin = STEER_ORIGIN_API;
		w.gen = r->gen;
		if (a && !r->syncing && a->action == w.action)
			return 0;
	} else if (!a) {
		return 0;
	}
	/* steerctl may have taken the address over by hand since. */
	have = !r->ops->quar_get(r->ctx, addr, &cur);
	if (have && cur.origin == STEER_ORIGIN_MANUAL) {
		free(table_del(&r->qapplied, addr, sizeof(*addr)));
		return 0;
	}
	if (!want) {
		err = r->ops->quar_del(r->ctx, addr);
		if (err && err != -ENOENT) {
			r->st.write_errors++;
			pr_warn("delete quarantine of %s: %s", addr_str(addr, ip), strerror(-err));
			return err;
		}
		r->st.deletes++;
		free(table_del(&r->qapplied, addr, sizeof(*addr)));
		if (!err)
			enforce(r, addr, false);
		return 0;
	}
	if (have && cur.origin == STEER_ORIGIN_API && cur.since)
		w.since = cur.since;	/* keep the original time across restarts */
	err = r->ops->quar_set(r->ctx, addr, &w);
	if (err) {
		r->st.write_errors++;
		pr_warn("quarantine %s: %s%s; retrying", addr_str(addr, ip), strerror(-err),
			err == -E2BIG ? " (" STEER_MAP_QUAR " is full)" : "");
		return err;
	}
	r->st.quar_writes++;
	if (!a) {
		a = malloc(sizeof(*a));
		if (!a || table_put(&r->qapplied, addr, sizeof(*addr), a)) {
			free(a);
			return -ENOMEM;
		}
	}
	*a = w;
	if (!have)
		enforce(r, addr, true);
	return 0;
}

int recon_quar(struct recon *r, const struct steer_addr *addr, const struct steer_quar_val *want)
{
	if (!r->live)
		return 0;
	return settle(r, P_QUAR, addr, sizeof(*addr), quar_apply(r, addr, want), !want,
		      want, sizeof(*want), NULL, 0);
}

/* ------------------------------------------------------------ services */

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
			bsearch(&old[i], w, n, sizeof(*w), addr_backend_cmp) : NULL;

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

/* set sorted and without duplicates, or del. */
static int svc_apply(struct recon *r, const struct steer_svc_key *key,
		     const struct steer_backend_val *set, uint32_t n, bool del)
{
	struct sent *a = table_get(&r->sapplied, key, sizeof(*key));
	const struct steer_backend_val *old = NULL;
	struct steer_backend_val *b = NULL;
	char ip[ADDR_HOSTPORTLEN];
	struct steer_svc_val cur;
	uint32_t nold = 0;
	int err;

	if (del && !a)
		return 0;
	if (a && a->n != UINT32_MAX && !r->syncing) {
		old = a->b;
		nold = a->n;
	}
	if (!del) {
		b = slot_layout(old, nold, set, n);
		if (!b)
			return -ENOMEM;
		if (old && nold == n && (!n || !memcmp(old, b, n * sizeof(*b)))) {
			free(b);
			return 0;
		}
	}
	err = r->ops->svc_get(r->ctx, key, &cur);
	if (!err && cur.origin == STEER_ORIGIN_MANUAL) {
		sent_free(table_del(&r->sapplied, key, sizeof(*key)));
		free(b);
		return 0;
	}
	if (del) {
		err = r->ops->svc_del(r->ctx, key);
		if (err && err != -ENOENT) {
			r->st.write_errors++;
			pr_warn("delete steered service %s: %s",
				addr_hostport_str(&key->vip, key->port, ip), strerror(-err));
			return err;
		}
		r->st.deletes++;
		sent_free(table_del(&r->sapplied, key, sizeof(*key)));
		return 0;
	}
	err = r->ops->svc_patch(r->ctx, key, old, nold, b, n, STEER_ORIGIN_API, r->gen);
	if (err) {
		r->st.write_errors++;
		pr_warn("steer service %s (%u backends): %s",
			addr_hostport_str(&key->vip, key->port, ip), n, strerror(-err));
		/* Some slots may have changed: the next write starts a fresh set. */
		if (a)
			a->n = UINT32_MAX;
		free(b);
		return err;
	}
	r->st.svc_writes++;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a || table_put(&r->sapplied, key, sizeof(*key), a)) {
			free(a);
			free(b);
			return -ENOMEM;
		}
	}
	free(a->b);
	a->b = b;
	a->n = n;
	return 0;
}

int recon_svc(struct recon *r, const struct steer_svc_key *key,
	      const struct steer_backend_val *set, uint32_t n)
{
	struct steer_backend_val *s = NULL;
	uint32_t i, w = 0;
	int err;

	if (!r->live)
		return 0;
	if (n > STEER_MAX_BACKENDS_PER_SVC)
		return -E2BIG;
	for (i = 1; i < n && addr_backend_cmp(&set[i - 1], &set[i]) < 0; i++)
		;
	/* The planner's sets come sorted and without duplicates; others are made so. */
	if (i < n) {
		s = malloc(n * sizeof(*s));
		if (!s)
			return -ENOMEM;
		for (i = 0; i < n; i++)
			s[i] = (struct steer_backend_val){ .addr = set[i].addr, .port = set[i].port };
		qsort(s, n, sizeof(*s), addr_backend_cmp);
		for (i = 0; i < n; i++)
			if (!w || addr_backend_cmp(&s[i], &s[w - 1]))
				s[w++] = s[i];
		set = s;
		n = w;
	}
	err = settle(r, P_SVC, key, sizeof(*key), svc_apply(r, key, set, n, false), false,
		     NULL, 0, set, n);
	free(s);
	return err;
}

int recon_svc_del(struct recon *r, const struct steer_svc_key *key)
{
	if (!r->live)
		return 0;
	return settle(r, P_SVC, key, sizeof(*key), svc_apply(r, key, NULL, 0, true), true,
		      NULL, 0, NULL, 0);
}

/* --------------------------------------------------------- memberships */

/*
 * Departure memory in steer_members. Enforcement does not depend on it until
 * the next restart, so a full map is worth one warning, not one per pod.
 */
static int member_apply(struct recon *r, const struct steer_member_key *key,
			const struct steer_member_val *want)
{
	struct steer_member_val v;
	int err;

	if (want) {
		v = (struct steer_member_val){ .gen = r->gen };
		memcpy(v.addr, want->addr, sizeof(v.addr));
		err = r->ops->member_set(r->ctx, key, &v);
	} else {
		err = r->ops->member_del(r->ctx, key);
		if (err == -ENOENT)
			err = 0;
	}
	if (!err) {
		want ? r->st.member_writes++ : r->st.deletes++;
		return 0;
	}
	r->st.write_errors++;
	if (!r->member_warned)
		pr_warn("%s departure memory %016llx/%016llx: %s%s", want ? "write" : "delete",
			(unsigned long long)key->pod, (unsigned long long)key->svc, strerror(-err),
			err == -E2BIG ? " (steer_members is full; a restart may forget departures)" : "");
	r->member_warned = true;
	return err;
}

int recon_member(struct recon *r, const struct steer_member_key *key,
		 const struct steer_member_val *want)
{
	if (!r->live)
		return 0;
	/* A sync compares with what the map holds: at scale it is nearly always right. */
	if (r->syncing && r->have_loaded) {
		void *had = table_del(&r->have, key, sizeof(*key));
		bool same = want && had && !memcmp(had, want->addr, MEMBER_ADDRS);

		free(had);
		if (same) {
			pend_drop(r, P_MEMBER, key, sizeof(*key));
			return 0;
		}
	}
	return settle(r, P_MEMBER, key, sizeof(*key), member_apply(r, key, want), !want,
		      want, sizeof(*want), NULL, 0);
}

static int member_read(const struct steer_member_key *key,
		       const struct steer_member_val *val, void *arg)
{
	void *a = malloc(MEMBER_ADDRS);

	if (!a)
		return -ENOMEM;
	memcpy(a, val->addr, MEMBER_ADDRS);
	if (table_put(arg, key, sizeof(*key), a)) {
		free(a);
		return -ENOMEM;
	}
	return 0;
}

static int load_have(struct recon *r)
{
	int err;

	have_free(r);
	err = r->ops->member_foreach(r->ctx, member_read, &r->have);
	r->have_loaded = !err;
	if (err) {
		have_free(r);
		pr_warn("read departure memory from %s: %s; keeping it as it is",
			STEER_MAP_MEMBERS, strerror(-err));
	}
	return err;
}

int recon_restore(struct recon *r, recon_member_cb cb, void *arg)
{
	struct table_iter it;
	struct tent *e;
	int err = load_have(r);

	if (err)
		return err;
	table_iter_init(&it, &r->have);
	while ((e = table_iter_next(&it))) {
		struct steer_member_val v = {};

		memcpy(v.addr, e->val, MEMBER_ADDRS);

		cb(arg, (const struct steer_member_key *)e->key, &v);
	}
	r->st.restored = r->have.n;
	return r->have.n;
}

/* -------------------------------------------------------- mark & sweep */

struct sweep {
	struct recon *r;
	uint32_t quar, svc, member, manual;
};

static int sweep_quar(const struct steer_addr *addr, const struct steer_quar_val *val, void *arg)
{
	struct sweep *sw = arg;
	struct recon *r = sw->r;
	struct pend *p = pend_get(r, P_QUAR, addr, sizeof(*addr));
	char ip[ADDR_STRLEN];
	int err;

	if (val->origin != STEER_ORIGIN_API) {
		sw->manual++;
		return 0;
	}
	/* Wanted, and only waiting for a retry: sweeping it would open a gap. */
	if ((val->gen == r->gen && table_get(&r->qapplied, addr, sizeof(*addr))) ||
	    (p && !p->del))
		return 0;
	err = r->ops->quar_del(r->ctx, addr);
	if (err && err != -ENOENT) {
		r->st.write_errors++;
		pr_warn("sweep quarantine of %s: %s", addr_str(addr, ip), strerror(-err));
		settle(r, P_QUAR, addr, sizeof(*addr), err, true, NULL, 0, NULL, 0);
		return 0;
	}
	free(table_del(&r->qapplied, addr, sizeof(*addr)));
	if (!err)
		enforce(r, addr, false);
	sw->quar++;
	return 0;
}

static int sweep_svc(const struct steer_svc_key *key, const struct steer_svc_val *val,
		     void *arg)
{
	struct sweep *sw = arg;
	struct recon *r = sw->r;
	struct pend *p = pend_get(r, P_SVC, key, sizeof(*key));
	char ip[ADDR_HOSTPORTLEN];
	int err;

	if (val->origin != STEER_ORIGIN_API) {
		sw->manual++;
		return 0;
	}
	if ((val->gen == r->gen && table_get(&r->sapplied, key, sizeof(*key))) ||
	    (p && !p->del))
		return 0;
	err = r->ops->svc_del(r->ctx, key);
	if (err && err != -ENOENT) {
		r->st.write_errors++;
		pr_warn("sweep steered service %s: %s",
			addr_hostport_str(&key->vip, key->port, ip), strerror(-err));
		settle(r, P_SVC, key, sizeof(*key), err, true, NULL, 0, NULL, 0);
		return 0;
	}
	sent_free(table_del(&r->sapplied, key, sizeof(*key)));
	sw->svc++;
	return 0;
}

void recon_sync_begin(struct recon *r)
{
	/* The first sync reuses what recon_restore() read. */
	if (!r->have_loaded)
		load_have(r);
	r->live = true;
	r->syncing = true;
	r->sync_failed = false;
	r->member_warned = false;
	r->gen++;
	if (!r->gen)
		r->gen = 1;	/* gen 0 is what an empty map holds */
}

int recon_sync_end(struct recon *r)
{
	struct sweep sw = { .r = r };
	struct table_iter it;
	struct tent *e;

	/* What nobody asked for again: memberships from the read, entries by gen. */
	if (r->have_loaded) {
		table_iter_init(&it, &r->have);
		while ((e = table_iter_next(&it))) {
			const struct steer_member_key *k = (const void *)e->key;
			struct pend *p = pend_get(r, P_MEMBER, k, sizeof(*k));

			if (p && !p->del)
				continue;
			if (!settle(r, P_MEMBER, k, sizeof(*k), member_apply(r, k, NULL), true,
				    NULL, 0, NULL, 0))
				sw.member++;
		}
	}
	have_free(r);
	r->have_loaded = false;
	r->ops->quar_foreach(r->ctx, sweep_quar, &sw);
	r->ops->svc_foreach(r->ctx, sweep_svc, &sw);
	r->syncing = false;
	r->st.syncs++;
	if (sw.quar || sw.svc || sw.member)
		pr_info("resync gen %u: swept %u quarantine, %u service and %u membership entries (%u manual kept)",
			r->gen, sw.quar, sw.svc, sw.member, sw.manual);
	return r->sync_failed ? -EIO : 0;
}

bool recon_live(const struct recon *r)
{
	return r->live;
}

/* --------------------------------------------------------------- retry */

static int exempt_apply(struct recon *r);
static int iface_apply(struct recon *r, __u32 ifindex, const struct steer_iface_val *val);

int recon_retry(struct recon *r)
{
	uint64_t before = r->st.write_errors;
	struct table_iter it;
	struct tent *e;
	int left = 0, err;

	for (int t = 0; t < P_NR; t++) {
		table_iter_init(&it, &r->pend[t]);
		while ((e = table_iter_next(&it))) {
			struct pend *p = e->val;

			switch (t) {
			case P_QUAR:
				err = quar_apply(r, (const void *)e->key, p->del ? NULL : &p->quar);
				break;
			case P_SVC:
				err = svc_apply(r, (const void *)e->key, p->b, p->n, p->del);
				break;
			case P_MEMBER:
				err = member_apply(r, (const void *)e->key, p->del ? NULL : &p->member);
				break;
			default:
				err = iface_apply(r, *(__u32 *)e->key, p->del ? NULL : &p->iface);
				break;
			}
			if (err) {
				left++;
				continue;
			}
			r->st.retried++;
			free(table_del(&r->pend[t], e->key, e->klen));
		}
	}
	if (r->exempt_pending && exempt_apply(r))
		left++;
	if (left) {
		if (r->st.write_errors > before)
			r->retry_ms = r->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->retry_ms * 2;
		arm_retry(r);
	} else {
		if (r->retry_ms > RETRY_MIN_MS || r->st.retried)
			pr_info("map writes that had failed are done (%llu retried so far)",
				(unsigned long long)r->st.retried);
		r->retry_ms = RETRY_MIN_MS;
		r->member_warned = false;
	}
	return left;
}

/* ----------------------------------------- exempt CIDRs, latency, ifaces */

static int sweep_exempt(const struct steer_addr *addr, uint32_t plen,
			const struct steer_exempt_val *v, void *arg)
{
	struct recon *r = arg;
	int err;

	if (v->origin != STEER_ORIGIN_API)
		return 0;
	for (uint32_t i = 0; i < r->nexempt; i++)
		if (addr_eq(&r->exempt[i].addr, addr) && r->exempt[i].prefixlen == plen)
			return 0;
	err = r->ops->exempt_del(r->ctx, addr, plen);
	return err == -ENOENT ? 0 : err;
}

static int exempt_apply(struct recon *r)
{
	char ip[ADDR_HOSTPORTLEN];
	int err = 0;

	for (uint32_t i = 0; i < r->nexempt && !err; i++) {
		err = r->ops->exempt_set(r->ctx, &r->exempt[i].addr, r->exempt[i].prefixlen,
					 STEER_ORIGIN_API);
		if (err)
			pr_warn("write exempt CIDR %s: %s",
				addr_cidr_str(&r->exempt[i].addr, r->exempt[i].prefixlen, ip),
				strerror(-err));
	}
	if (!err) {
		err = r->ops->exempt_foreach(r->ctx, sweep_exempt, r);
		if (err)
			pr_warn("remove stale exempt CIDRs: %s", strerror(-err));
	}
	r->exempt_pending = err != 0;
	if (err) {
		r->st.write_errors++;
		arm_retry(r);
	}
	return err;
}

int recon_exempt(struct recon *r, const struct steer_exempt_key *cidrs, uint32_t n)
{
	struct steer_exempt_key *c = malloc((n ? n : 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (n)
		memcpy(c, cidrs, n * sizeof(*c));
	free(r->exempt);
	r->exempt = c;
	r->nexempt = n;
	return exempt_apply(r);
}

int recon_latency(struct recon *r, uint64_t ns)
{
	int err = r->ops->latency_add(r->ctx, ns);

	if (err)
		r->st.write_errors++;
	return err;
}

static int iface_apply(struct recon *r, __u32 ifindex, const struct steer_iface_val *val)
{
	int err = val ? r->ops->iface_set(r->ctx, ifindex, val) :
			r->ops->iface_del(r->ctx, ifindex);

	if (!val && err == -ENOENT)
		err = 0;
	if (err)
		r->st.write_errors++;
	return err;
}

int recon_iface_set(struct recon *r, __u32 ifindex, const struct steer_iface_val *val)
{
	return settle(r, P_IFACE, &ifindex, sizeof(ifindex), iface_apply(r, ifindex, val),
		      false, val, sizeof(*val), NULL, 0);
}

int recon_iface_del(struct recon *r, __u32 ifindex)
{
	return settle(r, P_IFACE, &ifindex, sizeof(ifindex), iface_apply(r, ifindex, NULL),
		      true, NULL, 0, NULL, 0);
}

/* ----------------------------------------------------------- lifecycle */

void recon_on_enforce(struct recon *r, recon_enforce_cb cb, void *arg)
{
	r->on_enforce = cb;
	r->enforce_arg = arg;
}

struct recon *recon_new(const struct recon_ops *ops, void *ctx, const struct recon_opts *opts)
{
	struct recon *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->ops = ops;
	r->ctx = ctx;
	if (opts)
		r->opts = *opts;
	r->gen = r->opts.gen ? r->opts.gen : (uint32_t)(now_ns() / 1000000) | 1;
	r->retry_ms = RETRY_MIN_MS;
	if (r->opts.loop) {
		r->retry = loop_timer_new(r->opts.loop, on_retry, r);
		if (!r->retry) {
			free(r);
			return NULL;
		}
	}
	return r;
}

void recon_free(struct recon *r)
{
	struct table_iter it;
	struct tent *e;

	if (!r)
		return;
	loop_timer_free(r->retry);
	table_iter_init(&it, &r->qapplied);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_iter_init(&it, &r->sapplied);
	while ((e = table_iter_next(&it)))
		sent_free(e->val);
	for (int t = 0; t < P_NR; t++) {
		table_iter_init(&it, &r->pend[t]);
		while ((e = table_iter_next(&it)))
			free(e->val);
		table_free(&r->pend[t]);
	}
	table_free(&r->qapplied);
	table_free(&r->sapplied);
	have_free(r);
	free(r->exempt);
	free(r);
}

void recon_get_stats(const struct recon *r, struct recon_stats *st)
{
	*st = r->st;
	st->pending = 0;
	for (int t = 0; t < P_NR; t++)
		st->pending += r->pend[t].n;
	st->pending += r->exempt_pending;
	st->applied_quar = r->qapplied.n;
	st->applied_svc = r->sapplied.n;
}
