/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Counters. Per-reason ones are per-CPU, so no atomics are needed. Per-address
 * ones (only traffic to quarantined pods) share one entry across CPUs with
 * atomic adds: a per-CPU value would multiply their memory by the number of
 * possible CPUs for a path that is rare by construction.
 */
#ifndef STEER_BPF_STATS_H
#define STEER_BPF_STATS_H

#include "lib/maps.h"

static __always_inline void stat_inc(__u32 reason)
{
	struct steer_stat *s = bpf_map_lookup_elem(&steer_stats, &reason);

	/* The verifier needs the NULL check even though the array is sized to the enum. */
	if (s)
		s->count++;
}

static __always_inline void qstat_add(const struct steer_addr *addr, __u32 len)
{
	struct steer_quar_key k = { .addr = *addr };
	struct steer_qstat *q, init = { .packets = 1, .bytes = len };

	q = bpf_map_lookup_elem(&steer_qstats, &k);
	if (q) {
		__sync_fetch_and_add(&q->packets, 1);
		__sync_fetch_and_add(&q->bytes, len);
		return;
	}
	/*
	 * First packet for this address: NOEXIST, so a race with another CPU
	 * costs one packet of counting rather than resetting its counters.
	 */
	bpf_map_update_elem(&steer_qstats, &k, &init, BPF_NOEXIST);
}

#endif /* STEER_BPF_STATS_H */
