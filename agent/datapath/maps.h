/* SPDX-License-Identifier: MIT */
/*
 * The map layer: typed access to steer's maps over their file descriptors,
 * shared by steerd and steerctl. In steerd only the reconciler
 * (datapath/reconcile.h) calls the functions that write; steerctl writes
 * origin=manual entries with them. Every function returns 0 or a negative
 * errno (libbpf 1.0 conventions). Addresses and ports are in network byte
 * order, as in include/steer/abi.h.
 */
#ifndef STEER_DATAPATH_MAPS_H
#define STEER_DATAPATH_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <steer/abi.h>

/* Index of each map in struct steer_maps, in its order. */
enum steer_map_id {
	MAP_QUAR,
	MAP_QSTATS,
	MAP_STATS,
	MAP_EXEMPT,
	MAP_SVC,
	MAP_BACKEND,
	MAP_REVNAT,
	MAP_LATENCY,
	MAP_IFACES,
	MAP_MEMBERS,
	MAP_FLOWS,
	MAP_EPOCH,
	MAP_AFFINITY,
	MAP_FEATURES,
	MAP_NR,
};

/* File descriptors of the maps; -1 where a map is not open. */
struct steer_maps {
	int quar;
	int qstats;
	int stats;
	int exempt;
	int svc;
	int backend;
	int revnat;
	int latency;
	int ifaces;
	int members;
	int flows;
	int epoch;
	int affinity;
	int features;
};

struct bpf_object;
struct bpf_map_info;

/* The pin name (STEER_MAP_*) and capacity of map id. */
const char *maps_name(enum steer_map_id id);
uint32_t maps_max_entries(enum steer_map_id id);
int maps_fd(const struct steer_maps *m, enum steer_map_id id);

/*
 * Opens the maps pinned under bpffs (e.g. /sys/fs/bpf/steer). A map that is
 * not pinned there (pins of an older steerd) stays -1, with bit 1 << id set
 * in *missing; returns -ENOENT if none is, or another error of bpf_obj_get.
 * rdonly: the fds cannot write (BPF_F_RDONLY), where libbpf has
 * bpf_obj_get_opts (HAVE_LIBBPF_BPF_OBJ_GET_OPTS, tools/configure.sh).
 */
int maps_open_pinned(struct steer_maps *m, const char *bpffs, bool rdonly, uint32_t *missing);
/*
 * Opens the pin of map id under bpffs, if there is one, for a look at its
 * layout: its path goes to path (size bytes), its info to *info. Returns the
 * fd, or -1 if it is not pinned or its info cannot be read.
 */
int maps_pin_open(const char *bpffs, enum steer_map_id id, char *path, size_t size,
		  struct bpf_map_info *info);
/*
 * Borrows the fds of a loaded object's steer maps (tests, the loader);
 * maps_close() must not be called on the result.
 */
int maps_from_object(struct steer_maps *m, const struct bpf_object *obj);
/* Entries in a map (by fd), counted by walking its keys. */
int maps_count(int fd, uint32_t *n);
void maps_close(struct steer_maps *m);

int maps_quar_set(const struct steer_maps *m, const struct steer_addr *addr,
		  const struct steer_quar_val *val);
int maps_quar_get(const struct steer_maps *m, const struct steer_addr *addr,
		  struct steer_quar_val *val);
int maps_quar_del(const struct steer_maps *m, const struct steer_addr *addr);
/* The packet and byte counters of one quarantined address. */
int maps_qstat_get(const struct steer_maps *m, const struct steer_addr *addr,
		   struct steer_qstat *sum);

/*
 * Replaces the backend set of a steered service atomically for readers:
 * writes the slots of a new rev, flips steer_svc, then deletes the rev
 * before the old one, so a reader still on the old rev finds its slots.
 * n == 0 makes the service refuse connections (ECONNREFUSED).
 */
int maps_svc_set(const struct steer_maps *m, const struct steer_svc_key *key,
		 const struct steer_backend_val *backends, uint32_t n,
		 uint8_t origin, uint32_t gen);
/*
 * Changes a service whose slots hold old[0..nold-1] (what this caller last
 * wrote) to backends[0..n-1], writing only the slots that differ; with old
 * NULL, or a map that holds something else, it is maps_svc_set.
 */
int maps_svc_patch(const struct steer_maps *m, const struct steer_svc_key *key,
		   const struct steer_backend_val *old, uint32_t nold,
		   const struct steer_backend_val *backends, uint32_t n,
		   uint8_t origin, uint32_t gen);
int maps_svc_get(const struct steer_maps *m, const struct steer_svc_key *key,
		 struct steer_svc_val *val, struct steer_backend_val *backends,
		 uint32_t max, uint32_t *n);
int maps_svc_del(const struct steer_maps *m, const struct steer_svc_key *key);

/* prefixlen over 128 bits: an IPv4 CIDR is mapped (abi.h, steer_exempt_key). */
int maps_exempt_set(const struct steer_maps *m, const struct steer_addr *addr,
		    uint32_t prefixlen, uint8_t origin);
int maps_exempt_del(const struct steer_maps *m, const struct steer_addr *addr,
		    uint32_t prefixlen);

/* Sums a reason counter over all CPUs. */
int maps_stat_get(const struct steer_maps *m, enum steer_reason reason, uint64_t *sum);

/* Adds one sample to the event -> map-updated latency histogram. */
int maps_latency_add(const struct steer_maps *m, uint64_t ns);
/* Reads the histogram: counts[i] for slot i (STEER_LAT_SLOTS of them). */
int maps_latency_get(const struct steer_maps *m, uint64_t *counts);

/* tc attach points (steer_ifaces), keyed by ifindex. */
int maps_iface_get(const struct steer_maps *m, __u32 ifindex, struct steer_iface_val *val);
int maps_iface_set(const struct steer_maps *m, __u32 ifindex, const struct steer_iface_val *val);
int maps_iface_del(const struct steer_maps *m, __u32 ifindex);

/*
 * Tells the tc programs' per-CPU cache of addresses that are not
 * quarantined (bpf/lib/qcache.h) to forget them; maps_quar_set does it.
 */
int maps_epoch_bump(const struct steer_maps *m);

/* The probed features (steer_features), slot by slot; steerd writes them at load. */
int maps_feature_set(const struct steer_maps *m, __u32 slot, const struct steer_feature_val *val);
typedef int (*maps_feature_cb)(const struct steer_feature_val *val, void *arg);
/* Calls back for each used slot, in slot order. */
int maps_feature_foreach(const struct steer_maps *m, maps_feature_cb cb, void *arg);

/* Departure memory (steer_members): steerd's alone, no program reads it. */
int maps_member_set(const struct steer_maps *m, const struct steer_member_key *key,
		    const struct steer_member_val *val);
int maps_member_del(const struct steer_maps *m, const struct steer_member_key *key);

/*
 * Iteration: the callback returns 0 to go on, anything else stops the walk
 * and is returned. Keys collected before calling back, so the callback may
 * delete the entry it is given (mark and sweep).
 */
typedef int (*maps_quar_cb)(const struct steer_addr *addr, const struct steer_quar_val *val,
			    void *arg);
typedef int (*maps_svc_cb)(const struct steer_svc_key *key,
			   const struct steer_svc_val *val, void *arg);
typedef int (*maps_exempt_cb)(const struct steer_addr *addr, uint32_t prefixlen,
			      const struct steer_exempt_val *val, void *arg);
typedef int (*maps_member_cb)(const struct steer_member_key *key,
			      const struct steer_member_val *val, void *arg);
typedef int (*maps_iface_cb)(__u32 ifindex, const struct steer_iface_val *val, void *arg);
int maps_quar_foreach(const struct steer_maps *m, maps_quar_cb cb, void *arg);
int maps_svc_foreach(const struct steer_maps *m, maps_svc_cb cb, void *arg);
int maps_exempt_foreach(const struct steer_maps *m, maps_exempt_cb cb, void *arg);
int maps_member_foreach(const struct steer_maps *m, maps_member_cb cb, void *arg);
int maps_iface_foreach(const struct steer_maps *m, maps_iface_cb cb, void *arg);

#endif /* STEER_DATAPATH_MAPS_H */
