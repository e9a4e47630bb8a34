// SPDX-License-Identifier: MIT
#include "memmaps.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/hash.h"

/* A write that is to fail: every one while fail is set, or the next fail_next. */
static int failing(struct memmaps *mm)
{
	if (mm->fail)
		return mm->fail;
	if (mm->fail_next > 0) {
		mm->fail_next--;
		return mm->fail_err ? mm->fail_err : -EIO;
	}
	return 0;
}

/* Inserts or overwrites key with a copy of val. */
static int put(struct memmaps *mm, struct table *t, const void *key, size_t klen,
	       const void *val, size_t vlen, uint32_t max)
{
	void *v = table_get(t, key, klen);
	int err = failing(mm);

	if (err)
		return err;
	if (!v) {
		if (t->n >= max)
			return -E2BIG;
		v = malloc(vlen);
		if (!v || table_put(t, key, klen, v)) {
			free(v);
			return -ENOMEM;
		}
	}
	memcpy(v, val, vlen);
	mm->writes++;
	return 0;
}

static int del(struct memmaps *mm, struct table *t, const void *key, size_t klen)
{
	void *v;
	int err = failing(mm);

	if (err)
		return err;
	v = table_del(t, key, klen);
	if (!v)
		return -ENOENT;
	free(v);
	mm->deletes++;
	return 0;
}

/*
 * Like the map layer's walks, the callback may delete the entry it is
 * given: it gets copies of the key and value.
 */
typedef int (*visit_fn)(const void *key, const void *val, const void *cb, void *arg);

static int walk(const struct table *t, size_t voff, size_t vlen, visit_fn visit,
		const void *cb, void *arg)
{
	struct table_iter it;
	struct tent *e;
	int err;

	table_iter_init(&it, t);
	while ((e = table_iter_next(&it))) {
		char k[64], v[64];

		memcpy(k, e->key, e->klen);
		memcpy(v, (char *)e->val + voff, vlen);
		err = visit(k, v, cb, arg);
		if (err)
			return err;
	}
	return 0;
}

static int visit_quar(const void *k, const void *v, const void *cb, void *arg)
{
	return ((maps_quar_cb)cb)(k, v, arg);
}

static int visit_svc(const void *k, const void *v, const void *cb, void *arg)
{
	return ((maps_svc_cb)cb)(k, v, arg);
}

static int visit_member(const void *k, const void *v, const void *cb, void *arg)
{
	return ((maps_member_cb)cb)(k, v, arg);
}

static int visit_exempt(const void *k, const void *v, const void *cb, void *arg)
{
	const struct steer_exempt_key *key = k;

	return ((maps_exempt_cb)cb)(&key->addr, key->prefixlen, v, arg);
}

static int q_set(void *ctx, const struct steer_addr *addr, const struct steer_quar_val *val)
{
	struct memmaps *mm = ctx;

	if (val->action >= STEER_ACT_MAX || val->origin >= STEER_ORIGIN_MAX)
		return -EINVAL;
	return put(mm, &mm->quar, addr, sizeof(*addr), val, sizeof(*val), STEER_MAX_QUAR);
}

static int q_get(void *ctx, const struct steer_addr *addr, struct steer_quar_val *val)
{
	struct memmaps *mm = ctx;
	struct steer_quar_val *v = table_get(&mm->quar, addr, sizeof(*addr));

	if (!v)
		return -ENOENT;
	*val = *v;
	return 0;
}

static int q_del(void *ctx, const struct steer_addr *addr)
{
	struct memmaps *mm = ctx;

	return del(mm, &mm->quar, addr, sizeof(*addr));
}

static int q_each(void *ctx, maps_quar_cb cb, void *arg)
{
	return walk(&((struct memmaps *)ctx)->quar, 0, sizeof(struct steer_quar_val), visit_quar,
		    cb, arg);
}

static int s_patch(void *ctx, const struct steer_svc_key *key,
		   const struct steer_backend_val *old, uint32_t nold,
		   const struct steer_backend_val *b, uint32_t n, uint8_t origin, uint32_t gen)
{
	struct memmaps *mm = ctx;
	struct memsvc *s = table_get(&mm->svc, key, sizeof(*key));
	int err = failing(mm);

	if (err)
		return err;
	if (n > STEER_MAX_BACKENDS_PER_SVC)
		return -E2BIG;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || table_put(&mm->svc, key, sizeof(*key), s)) {
			free(s);
			return -ENOMEM;
		}
	}
	free(s->b);
	s->b = calloc(n + 1, sizeof(*b));
	if (!s->b)
		return -ENOMEM;
	if (n)
		memcpy(s->b, b, n * sizeof(*b));
	/* Like maps_svc_patch: in place when it holds what the caller last wrote. */
	if (!old || s->val.count != nold || s->val.origin != origin)
		s->val.rev++;
	s->val.count = n;
	s->val.origin = origin;
	s->val.gen = gen;
	mm->writes++;
	return 0;
}

static int s_get(void *ctx, const struct steer_svc_key *key, struct steer_svc_val *val)
{
	struct memmaps *mm = ctx;
	struct memsvc *s = table_get(&mm->svc, key, sizeof(*key));

	if (!s)
		return -ENOENT;
	*val = s->val;
	return 0;
}

static int s_del(void *ctx, const struct steer_svc_key *key)
{
	struct memmaps *mm = ctx;
	struct memsvc *s;
	int err = failing(mm);

	if (err)
		return err;
	s = table_del(&mm->svc, key, sizeof(*key));
	if (!s)
		return -ENOENT;
	free(s->b);
	free(s);
	mm->deletes++;
	return 0;
}

static int s_each(void *ctx, maps_svc_cb cb, void *arg)
{
	return walk(&((struct memmaps *)ctx)->svc, offsetof(struct memsvc, val),
		    sizeof(struct steer_svc_val), visit_svc, cb, arg);
}

static int m_set(void *ctx, const struct steer_member_key *key,
		 const struct steer_member_val *val)
{
	struct memmaps *mm = ctx;

	return put(mm, &mm->member, key, sizeof(*key), val, sizeof(*val), STEER_MAX_MEMBERS);
}

static int m_del(void *ctx, const struct steer_member_key *key)
{
	struct memmaps *mm = ctx;

	return del(mm, &mm->member, key, sizeof(*key));
}

static int m_each(void *ctx, maps_member_cb cb, void *arg)
{
	return walk(&((struct memmaps *)ctx)->member, 0, sizeof(struct steer_member_val),
		    visit_member, cb, arg);
}

static int e_set(void *ctx, const struct steer_addr *addr, uint32_t plen, uint8_t origin)
{
	struct steer_exempt_key k = { .prefixlen = plen, .addr = *addr };
	struct steer_exempt_val v = { .origin = origin };
	struct memmaps *mm = ctx;

	return put(mm, &mm->exempt, &k, sizeof(k), &v, sizeof(v), STEER_MAX_EXEMPT);
}

static int e_del(void *ctx, const struct steer_addr *addr, uint32_t plen)
{
	struct steer_exempt_key k = { .prefixlen = plen, .addr = *addr };
	struct memmaps *mm = ctx;

	return del(mm, &mm->exempt, &k, sizeof(k));
}

static int e_each(void *ctx, maps_exempt_cb cb, void *arg)
{
	return walk(&((struct memmaps *)ctx)->exempt, 0, sizeof(struct steer_exempt_val),
		    visit_exempt, cb, arg);
}

static int lat_add(void *ctx, uint64_t ns)
{
	struct memmaps *mm = ctx;
	uint64_t us = ns / 1000;
	int slot = 0;

	while (us > 1 && slot < STEER_LAT_SLOTS - 1) {
		us >>= 1;
		slot++;
	}
	mm->latency[slot]++;
	return 0;
}

static int i_set(void *ctx, __u32 ifindex, const struct steer_iface_val *val)
{
	struct memmaps *mm = ctx;

	return put(mm, &mm->iface, &ifindex, sizeof(ifindex), val, sizeof(*val),
		   STEER_MAX_IFACES);
}

static int i_del(void *ctx, __u32 ifindex)
{
	struct memmaps *mm = ctx;

	return del(mm, &mm->iface, &ifindex, sizeof(ifindex));
}

const struct recon_ops mem_ops = {
	.quar_set = q_set,
	.quar_get = q_get,
	.quar_del = q_del,
	.quar_foreach = q_each,
	.svc_patch = s_patch,
	.svc_get = s_get,
	.svc_del = s_del,
	.svc_foreach = s_each,
	.member_set = m_set,
	.member_del = m_del,
	.member_foreach = m_each,
	.exempt_set = e_set,
	.exempt_del = e_del,
	.exempt_foreach = e_each,
	.latency_add = lat_add,
	.iface_set = i_set,
	.iface_del = i_del,
};

static void free_all(struct table *t)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, t);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_free(t);
}

void memmaps_free(struct memmaps *mm)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &mm->svc);
	while ((e = table_iter_next(&it)))
		free(((struct memsvc *)e->val)->b);
	free_all(&mm->quar);
	free_all(&mm->svc);
	free_all(&mm->member);
	free_all(&mm->exempt);
	free_all(&mm->iface);
}

const struct steer_member_val *memmaps_member(const struct memmaps *mm, const char *pod,
					      const char *svc)
{
	struct steer_member_key k = {
		.pod = fnv1a64(pod, strlen(pod)), .svc = fnv1a64(svc, strlen(svc)),
	};

	return table_get(&mm->member, &k, sizeof(k));
}

const struct steer_quar_val *memmaps_quar(const struct memmaps *mm, const char *ip)
{
	struct steer_addr a;

	if (addr_parse_ip(ip, &a))
		return NULL;
	return table_get(&mm->quar, &a, sizeof(a));
}

const struct memsvc *memmaps_svc(const struct memmaps *mm, const char *vip,
				 uint16_t port, uint8_t proto)
{
	struct steer_svc_key k = { .port = htons(port), .proto = proto };
	if (addr_parse_ip(vip, &k.vip))
		return NULL;
	return table_get(&mm->svc, &k, sizeof(k));
}

bool memsvc_has(const struct memsvc *s, const char *ip, uint16_t port)
{
	struct steer_addr a;
	uint32_t i;

	if (!s || addr_parse_ip(ip, &a))
		return false;
	for (i = 0; i < s->val.count; i++)
		if (addr_eq(&s->b[i].addr, &a) && s->b[i].port == htons(port))
			return true;
	return false;
}
