/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map definitions shared by steer_tc and steer_sock. Both objects declare
 * every map; the loader makes the second object reuse the first one's fds
 * (or the pins), so each map exists once in the kernel.
 */
#ifndef STEER_BPF_MAPS_H
#define STEER_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <steer/abi.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_QUAR);
	__type(key, struct steer_quar_key);
	__type(value, struct steer_quar_val);
} steer_quar SEC(".maps");

/* Only addresses that saw traffic take memory: one entry each, any CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_QUAR);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_quar_key);
	__type(value, struct steer_qstat);
} steer_qstats SEC(".maps");

_Static_assert(STEER_R_MAX <= STEER_STATS_SLOTS, "steer_stats has a slot per reason");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_STATS_SLOTS);
	__type(key, __u32);
	__type(value, struct steer_stat);
} steer_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, STEER_MAX_EXEMPT);
	/* LPM tries must be created with BPF_F_NO_PREALLOC. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_exempt_key);
	__type(value, struct steer_exempt_val);
} steer_exempt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_SVC);
	__type(key, struct steer_svc_key);
	__type(value, struct steer_svc_val);
} steer_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_BACKEND);
	__type(key, struct steer_backend_key);
	__type(value, struct steer_backend_val);
} steer_backend SEC(".maps");

/*
 * LRU, not socket storage: storage would free itself with the socket, but
 * it is charged to the memcg of steerd (the map's owner) without any bound,
 * and costs ~0.3 us to create per socket. These are bounded and
 * preallocated, the same size at any CPU count.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STEER_MAX_REVNAT);
	__type(key, struct steer_revnat_key);
	__type(value, struct steer_revnat_val);
} steer_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STEER_MAX_AFFINITY);
	__type(key, struct steer_affinity_key);
	__type(value, struct steer_affinity_val);
} steer_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_LAT_SLOTS);
	__type(key, __u32);
	__type(value, struct steer_lat_slot);
} steer_latency SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct steer_iface_val);
} steer_ifaces SEC(".maps");

/*
 * No program touches steer_members; it is declared here so libbpf creates
 * and pins it with the rest. Only user space writes it, so it need not be
 * preallocated: memory follows the pods that are members.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_MEMBERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_member_key);
	__type(value, struct steer_member_val);
} steer_members SEC(".maps");

/*
 * Common LRU: recency is global, so a burst of SYNs on one CPU cannot evict
 * the flows another CPU keeps using.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STEER_MAX_FLOWS);
	__type(key, struct steer_flow_key);
	__type(value, struct steer_flow_val);
} steer_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_epoch);
} steer_epoch SEC(".maps");

/* No program reads steer_features either: steerd fills it at load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_FEATURE_SLOTS);
	__type(key, __u32);
	__type(value, struct steer_feature_val);
} steer_features SEC(".maps");

#endif /* STEER_BPF_MAPS_H */
