/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-socket state of steered sockets, keyed by socket cookie:
 * steer_revnat (backend -> the VIP to show) and steer_affinity (VIP -> the
 * backend an unconnected UDP socket keeps). Both are LRU maps, so each
 * write is looked up first: rewriting an entry that holds the same thing
 * would take a fresh element, and with it maybe evict a live one.
 */
#ifndef STEER_BPF_SOCK_NAT_H
#define STEER_BPF_SOCK_NAT_H

#include "lib/addr.h"
#include "lib/maps.h"
#include "lib/sock_types.h"

/* Remembers that the socket reached vip:vport at the pick. Returns 1 if it wrote. */
static __always_inline int revnat_save(__u64 cookie, __u8 proto, const struct sock_pick *pick,
				       const struct steer_addr *vip, __be16 vport)
{
	struct steer_revnat_key k = { .cookie = cookie, .addr = pick->be.addr,
				      .port = pick->be.port, .proto = proto };
	struct steer_revnat_val v = { .vip = *vip, .port = vport }, *cur;

	cur = bpf_map_lookup_elem(&steer_revnat, &k);
	if (cur && cur->port == vport && addr_eq(&cur->vip, vip))
		return 0;
	return !bpf_map_update_elem(&steer_revnat, &k, &v, BPF_ANY);
}

/* The VIP behind backend addr:port for this socket, or NULL. */
static __always_inline struct steer_revnat_val *revnat_find(__u64 cookie, __u8 proto,
							    const struct steer_addr *addr,
							    __be16 port)
{
	struct steer_revnat_key k = { .cookie = cookie, .addr = *addr, .port = port,
				      .proto = proto };

	return bpf_map_lookup_elem(&steer_revnat, &k);
}

static __always_inline void affinity_key(struct steer_affinity_key *k, __u64 cookie,
					 const struct steer_addr *vip, __be16 vport)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->cookie = cookie;
	k->vip = *vip;
	k->port = vport;
	k->proto = IPPROTO_UDP;
}

/* The backend this UDP socket was given for vip:vport before, or NULL. */
static __always_inline struct steer_affinity_val *affinity_find(__u64 cookie,
								const struct steer_addr *vip,
								__be16 vport)
{
	struct steer_affinity_key k;

	affinity_key(&k, cookie, vip, vport);
	return bpf_map_lookup_elem(&steer_affinity, &k);
}

/* Remembers the pick for vip:vport; prior is what affinity_find() gave. */
static __always_inline int affinity_save(__u64 cookie, const struct steer_addr *vip,
					 __be16 vport, const struct sock_pick *pick,
					 const struct steer_affinity_val *prior)
{
	struct steer_affinity_val v = { .backend = pick->be.addr, .port = pick->be.port,
					.rev = pick->rev, .slot = pick->slot };
	struct steer_affinity_key k;

	if (prior && prior->port == v.port && prior->rev == v.rev && prior->slot == v.slot &&
	    addr_eq(&prior->backend, &v.backend))
		return 0;
	affinity_key(&k, cookie, vip, vport);
	return !bpf_map_update_elem(&steer_affinity, &k, &v, BPF_ANY);
}

#endif /* STEER_BPF_SOCK_NAT_H */
