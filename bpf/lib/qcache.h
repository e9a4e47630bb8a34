/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A per-CPU cache of addresses known not to be quarantined, in front of the
 * steer_quar hash lookup on the tc fast path. A hash lookup is a call into
 * the kernel (tens of ns where calls pay speculation mitigations); an
 * array lookup, bpf_jiffies64() and the compares below are inlined by the
 * verifier, so a packet to a pod that is not quarantined costs no call.
 *
 * Only "not quarantined" is cached, and an entry is trusted while both hold:
 *   - steer_epoch has not moved since: every writer of steer_quar bumps it
 *     after adding an entry, so a quarantine takes effect at once;
 *   - the jiffy is the one it was made in: a writer that does not bump the
 *     epoch (bpftool map update) is still enforced within one tick.
 * Per-CPU, so an entry is never torn by another CPU. The epoch is read
 * before steer_quar: an entry made from a lookup that raced with a new
 * quarantine carries the old epoch and is not trusted after the bump.
 */
#ifndef STEER_BPF_QCACHE_H
#define STEER_BPF_QCACHE_H

#include "lib/addr.h"
#include "lib/maps.h"

#define QCACHE_SLOTS	256	/* a node's pods' addresses, with room */

struct qcache_ent {
	struct steer_addr addr;
	__u32 epoch;
	__u32 jiffy;
};

/* Not pinned: a new program starts with an empty cache. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QCACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct qcache_ent);
} steer_qcache SEC(".maps");

struct qcache_ref {
	struct qcache_ent *ent;	/* NULL: no slot, never trusted */
	__u32 epoch;
	__u32 jiffy;
};

/* Finds the slot for a and says whether it vouches for a right now. */
static __always_inline bool qcache_clean(struct qcache_ref *r, const struct steer_addr *a)
{
	/* Fibonacci hashing of the low word: pods differ in their last bits. */
	__u32 slot = (a->w[3] * 0x9e3779b1u) >> 24, zero = 0;
	struct steer_epoch *e = bpf_map_lookup_elem(&steer_epoch, &zero);

	r->epoch = e ? (__u32)e->quar : 0;
	r->jiffy = (__u32)bpf_jiffies64();
	r->ent = bpf_map_lookup_elem(&steer_qcache, &slot);
	return r->ent && r->ent->jiffy == r->jiffy && r->ent->epoch == r->epoch &&
	       addr_eq(&r->ent->addr, a);
}

/* a was looked up in steer_quar and is not there. */
static __always_inline void qcache_put(const struct qcache_ref *r, const struct steer_addr *a)
{
	if (!r->ent)
		return;
	r->ent->addr = *a;
	r->ent->epoch = r->epoch;
	r->ent->jiffy = r->jiffy;
}

#endif /* STEER_BPF_QCACHE_H */
