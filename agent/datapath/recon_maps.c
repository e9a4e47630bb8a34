// SPDX-License-Identifier: MIT
/* The reconciler's ops over the map layer: what steerd runs on. */
#include "datapath/reconcile.h"

#include <stddef.h>

static int m_quar_set(void *ctx, const struct steer_addr *addr, const struct steer_quar_val *val)
{
	return maps_quar_set(ctx, addr, val);
}

static int m_quar_get(void *ctx, const struct steer_addr *addr, struct steer_quar_val *val)
{
	return maps_quar_get(ctx, addr, val);
}

static int m_quar_del(void *ctx, const struct steer_addr *addr)
{
	return maps_quar_del(ctx, addr);
}

static int m_quar_foreach(void *ctx, maps_quar_cb cb, void *arg)
{
	return maps_quar_foreach(ctx, cb, arg);
}

static int m_svc_patch(void *ctx, const struct steer_svc_key *key,
		       const struct steer_backend_val *old, uint32_t nold,
		       const struct steer_backend_val *b, uint32_t n, uint8_t origin, uint32_t gen)
{
	return maps_svc_patch(ctx, key, old, nold, b, n, origin, gen);
}

static int m_svc_get(void *ctx, const struct steer_svc_key *key, struct steer_svc_val *val)
{
	/* The origin is all the reconciler asks: reading the slots costs one syscall each. */
	return maps_svc_get(ctx, key, val, NULL, 0, NULL);
}

static int m_svc_del(void *ctx, const struct steer_svc_key *key)
{
	return maps_svc_del(ctx, key);
}

static int m_svc_foreach(void *ctx, maps_svc_cb cb, void *arg)
{
	return maps_svc_foreach(ctx, cb, arg);
}

static int m_member_set(void *ctx, const struct steer_member_key *key,
			const struct steer_member_val *val)
{
	return maps_member_set(ctx, key, val);
}

static int m_member_del(void *ctx, const struct steer_member_key *key)
{
	return maps_member_del(ctx, key);
}

static int m_member_foreach(void *ctx, maps_member_cb cb, void *arg)
{
	return maps_member_foreach(ctx, cb, arg);
}

static int m_exempt_set(void *ctx, const struct steer_addr *addr, uint32_t plen, uint8_t origin)
{
	return maps_exempt_set(ctx, addr, plen, origin);
}

static int m_exempt_del(void *ctx, const struct steer_addr *addr, uint32_t plen)
{
	return maps_exempt_del(ctx, addr, plen);
}

static int m_exempt_foreach(void *ctx, maps_exempt_cb cb, void *arg)
{
	return maps_exempt_foreach(ctx, cb, arg);
}

static int m_latency_add(void *ctx, uint64_t ns)
{
	return maps_latency_add(ctx, ns);
}

static int m_iface_set(void *ctx, __u32 ifindex, const struct steer_iface_val *val)
{
	return maps_iface_set(ctx, ifindex, val);
}

static int m_iface_del(void *ctx, __u32 ifindex)
{
	return maps_iface_del(ctx, ifindex);
}

const struct recon_ops recon_maps_ops = {
	.quar_set = m_quar_set,
	.quar_get = m_quar_get,
	.quar_del = m_quar_del,
	.quar_foreach = m_quar_foreach,
	.svc_patch = m_svc_patch,
	.svc_get = m_svc_get,
	.svc_del = m_svc_del,
	.svc_foreach = m_svc_foreach,
	.member_set = m_member_set,
	.member_del = m_member_del,
	.member_foreach = m_member_foreach,
	.exempt_set = m_exempt_set,
	.exempt_del = m_exempt_del,
	.exempt_foreach = m_exempt_foreach,
	.latency_add = m_latency_add,
	.iface_set = m_iface_set,
	.iface_del = m_iface_del,
};
