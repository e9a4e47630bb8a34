// SPDX-License-Identifier: MIT
/* The model's writes, applied to the BPF maps. */
#include <errno.h>
#include <stddef.h>

#include "model/model.h"

static int q_set(void *ctx, __be32 addr, const struct steer_quar_val *val)
{
	return maps_quar_set(ctx, addr, val);
}

static int q_get(void *ctx, __be32 addr, struct steer_quar_val *val)
{
	return maps_quar_get(ctx, addr, val);
}

static int q_del(void *ctx, __be32 addr)
{
	return maps_quar_del(ctx, addr);
}

static int q_each(void *ctx, maps_quar_cb cb, void *arg)
{
	return maps_quar_foreach(ctx, cb, arg);
}

static int s_set(void *ctx, const struct steer_svc_key *key,
		 const struct steer_backend_val *old, uint32_t nold,
		 const struct steer_backend_val *b, uint32_t n, uint8_t origin, uint32_t gen)
{
	return maps_svc_patch(ctx, key, old, nold, b, n, origin, gen);
}

static int s_get(void *ctx, const struct steer_svc_key *key, struct steer_svc_val *val)
{
	/* The model asks for the origin only: reading the slots would cost one syscall each. */
	return maps_svc_get(ctx, key, val, NULL, 0, NULL);
}

static int s_del(void *ctx, const struct steer_svc_key *key)
{
	return maps_svc_del(ctx, key);
}

static int s_each(void *ctx, maps_svc_cb cb, void *arg)
{
	return maps_svc_foreach(ctx, cb, arg);
}

static int m_set(void *ctx, const struct steer_member_key *key,
		 const struct steer_member_val *val)
{
	return maps_member_set(ctx, key, val);
}

static int m_del(void *ctx, const struct steer_member_key *key)
{
	return maps_member_del(ctx, key);
}

static int m_each(void *ctx, maps_member_cb cb, void *arg)
{
	return maps_member_foreach(ctx, cb, arg);
}

const struct apply_ops apply_maps_ops = {
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
