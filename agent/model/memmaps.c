// SPDX-License-Identifier: MIT
#include "model/memmaps.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int q_set(void *ctx, __be32 addr, const struct steer_quar_val *val)
{
	struct memmaps *mm = ctx;
	struct steer_quar_val *v = table_get(&mm->quar, &addr, sizeof(addr));

	if (mm->fail)
		return mm->fail;
	if (!v) {
		v = malloc(sizeof(*v));
		if (!v || table_put(&mm->quar, &addr, sizeof(addr), v)) {
			free(v);
			return -ENOMEM;
		}
	}
	*v = *val;
	mm->writes++;
	return 0;
}

static int q_get(void *ctx, __be32 addr, struct steer_quar_val *val)
{
	struct memmaps *mm = ctx;
	struct steer_quar_val *v = table_get(&mm->quar, &addr, sizeof(addr));

	if (!v)
		return -ENOENT;
	*val = *v;
	return 0;
}

static int q_del(void *ctx, __be32 addr)
{
	struct memmaps *mm = ctx;
	struct steer_quar_val *v;

	if (mm->fail)
		return mm->fail;
	v = table_del(&mm->quar, &addr, sizeof(addr));
	if (!v)
		return -ENOENT;
	free(v);
	mm->deletes++;
	return 0;
}

static int q_each(void *ctx, maps_quar_cb cb, void *arg)
{
	struct memmaps *mm = ctx;
	struct table_iter it;
	struct tent *e;
	int err;

	table_iter_init(&it, &mm->quar);
	while ((e = table_iter_next(&it))) {
		err = cb(*(__be32 *)e->key, e->val, arg);
		if (err)
			return err;
	}
	return 0;
}

static int s_set(void *ctx, const struct steer_svc_key *key,
		 const struct steer_backend_val *old, uint32_t nold,
		 const struct steer_backend_val *b, uint32_t n, uint8_t origin, uint32_t gen)
{
	struct memmaps *mm = ctx;
	struct memsvc *s = table_get(&mm->svc, key, sizeof(*key));

	if (mm->fail)
		return mm->fail;
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

	if (mm->fail)
		return mm->fail;
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
	struct memmaps *mm = ctx;
	struct table_iter it;
	struct tent *e;
	int err;

	table_iter_init(&it, &mm->svc);
	while ((e = table_iter_next(&it))) {
		err = cb((const struct steer_svc_key *)e->key,
			 &((struct memsvc *)e->val)->val, arg);
		if (err)
			return err;
	}
	return 0;
}

static int m_set(void *ctx, const struct steer_member_key *key,
		 const struct steer_member_val *val)
{
	struct memmaps *mm = ctx;
	struct steer_member_val *v = table_get(&mm->member, key, sizeof(*key));

	if (mm->fail)
		return mm->fail;
	if (!v) {
		if (mm->member.n >= STEER_MAX_MEMBERS)
			return -E2BIG;
		v = malloc(sizeof(*v));
		if (!v || table_put(&mm->member, key, sizeof(*key), v)) {
			free(v);
			return -ENOMEM;
		}
	}
	*v = *val;
	mm->writes++;
	return 0;
}

static int m_del(void *ctx, const struct steer_member_key *key)
{
	struct memmaps *mm = ctx;
	struct steer_member_val *v;

	if (mm->fail)
		return mm->fail;
	v = table_del(&mm->member, key, sizeof(*key));
	if (!v)
		return -ENOENT;
	free(v);
	mm->deletes++;
	return 0;
}

static int m_each(void *ctx, maps_member_cb cb, void *arg)
{
	struct memmaps *mm = ctx;
	struct table_iter it;
	struct tent *e;
	int err;

	table_iter_init(&it, &mm->member);
	while ((e = table_iter_next(&it))) {
		err = cb((const struct steer_member_key *)e->key, e->val, arg);
		if (err)
			return err;
	}
	return 0;
}

const struct apply_ops apply_mem_ops = {
	.quar_set = q_set,
	.quar_get = q_get,
	.quar_del = q_del,
	.quar_foreach = q_each,
	.svc_set = s_set,
	.svc_get = s_get,
	.svc_del = s_del,
	.svc_foreach = s_each,
	.member_set = m_set,
	.member_del = m_del,
	.member_foreach = m_each,
};

void memmaps_free(struct memmaps *mm)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &mm->quar);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_iter_init(&it, &mm->svc);
	while ((e = table_iter_next(&it))) {
		free(((struct memsvc *)e->val)->b);
		free(e->val);
	}
	table_iter_init(&it, &mm->member);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_free(&mm->quar);
	table_free(&mm->svc);
	table_free(&mm->member);
}

const struct steer_member_val *memmaps_member(const struct memmaps *mm, const char *pod,
					      const char *svc)
{
	struct steer_member_key k = {
		.pod = model_key_hash(pod), .svc = model_key_hash(svc),
	};

	return table_get(&mm->member, &k, sizeof(k));
}

const struct steer_quar_val *memmaps_quar(const struct memmaps *mm, const char *ip)
{
	struct in_addr a;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return NULL;
	return table_get(&mm->quar, &a.s_addr, sizeof(a.s_addr));
}

const struct memsvc *memmaps_svc(const struct memmaps *mm, const char *vip,
				 uint16_t port, uint8_t proto)
{
	struct steer_svc_key k = { .port = htons(port), .proto = proto };
	struct in_addr a;

	if (inet_pton(AF_INET, vip, &a) != 1)
		return NULL;
	k.vip = a.s_addr;
	return table_get(&mm->svc, &k, sizeof(k));
}

bool memsvc_has(const struct memsvc *s, const char *ip, uint16_t port)
{
	struct in_addr a;
	uint32_t i;

	if (!s || inet_pton(AF_INET, ip, &a) != 1)
		return false;
	for (i = 0; i < s->val.count; i++)
		if (s->b[i].addr == a.s_addr && s->b[i].port == htons(port))
			return true;
	return false;
}
