/* SPDX-License-Identifier: MIT */
/*
 * The reconciler: the one writer of steerd's maps (DESIGN §3).
 *
 * It is told the desired state one key at a time (recon_quar, recon_svc,
 * recon_member) and owns what was applied: origin=manual entries win over
 * it, the slot layout of every steered service is its own, mark and sweep
 * happen between recon_sync_begin() and recon_sync_end(), and after a
 * restart it reads back what a previous steerd left (recon_restore). It also
 * writes steerd's exempt CIDRs, the event -> map histogram and the tc attach
 * points in steer_ifaces, so no other file of the agent writes a map (but
 * the loader, which records what loaded in steer_features: datapath/probe.h).
 *
 * Every write error comes back to the caller and leaves the key pending:
 * recon_retry() writes the pending keys again, from a timer on the loop
 * (1 s, doubling to 30 s while writes keep failing), so a failed write is
 * repaired without a full resync. Histogram samples are counted, not retried.
 *
 * Before the first recon_sync_begin() it writes no quarantine, service or
 * membership: a restarted steerd keeps enforcing what the pins hold until
 * its caches are complete.
 *
 * Its interface uses only the ABI's types. Below it sits struct recon_ops:
 * the map layer (recon_maps_ops) in steerd, an in-memory double in tests/.
 */
#ifndef STEER_DATAPATH_RECONCILE_H
#define STEER_DATAPATH_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>
#include <steer/abi.h>

#include "datapath/maps.h"

struct loop;
struct recon;

struct recon_ops {
	int (*quar_set)(void *ctx, const struct steer_addr *addr, const struct steer_quar_val *val);
	int (*quar_get)(void *ctx, const struct steer_addr *addr, struct steer_quar_val *val);
	int (*quar_del)(void *ctx, const struct steer_addr *addr);
	int (*quar_foreach)(void *ctx, maps_quar_cb cb, void *arg);
	/* maps_svc_patch: old is what the slots held, NULL for a fresh set. */
	int (*svc_patch)(void *ctx, const struct steer_svc_key *key,
			 const struct steer_backend_val *old, uint32_t nold,
			 const struct steer_backend_val *b, uint32_t n, uint8_t origin,
			 uint32_t gen);
	int (*svc_get)(void *ctx, const struct steer_svc_key *key, struct steer_svc_val *val);
	int (*svc_del)(void *ctx, const struct steer_svc_key *key);
	int (*svc_foreach)(void *ctx, maps_svc_cb cb, void *arg);
	int (*member_set)(void *ctx, const struct steer_member_key *key,
			  const struct steer_member_val *val);
	int (*member_del)(void *ctx, const struct steer_member_key *key);
	int (*member_foreach)(void *ctx, maps_member_cb cb, void *arg);
	int (*exempt_set)(void *ctx, const struct steer_addr *addr, uint32_t prefixlen, uint8_t origin);
	int (*exempt_del)(void *ctx, const struct steer_addr *addr, uint32_t prefixlen);
	int (*exempt_foreach)(void *ctx, maps_exempt_cb cb, void *arg);
	int (*latency_add)(void *ctx, uint64_t ns);
	int (*iface_set)(void *ctx, __u32 ifindex, const struct steer_iface_val *val);
	int (*iface_del)(void *ctx, __u32 ifindex);
};

/* ctx is a const struct steer_maps *. */
extern const struct recon_ops recon_maps_ops;

struct recon_opts {
	struct loop *loop;	/* for the retry timer; NULL: call recon_retry() */
	uint32_t gen;		/* first generation; 0: from the clock */
};

struct recon_stats {
	uint64_t quar_writes;
	uint64_t svc_writes;
	uint64_t member_writes;
	uint64_t deletes;
	uint64_t write_errors;
	uint64_t retried;	/* pending keys that a retry wrote */
	uint32_t pending;	/* keys waiting for a retry */
	uint32_t syncs;		/* recon_sync_end() calls */
	uint32_t restored;	/* memberships read back by recon_restore() */
	uint32_t applied_quar;	/* API quarantine entries it owns */
	uint32_t applied_svc;
};

struct recon *recon_new(const struct recon_ops *ops, void *ctx, const struct recon_opts *opts);
void recon_free(struct recon *r);

/*
 * Desired state, one key at a time: want NULL (n == 0 with del for a
 * service) means the key is not wanted. action and since come from want;
 * origin and gen are the reconciler's. A quarantine keeps the since of an
 * API entry the map already holds. Returns 0 or the write's error; the key
 * is pending until a write succeeds.
 */
int recon_quar(struct recon *r, const struct steer_addr *addr, const struct steer_quar_val *want);
/* The backends of a steered service, in any order; n == 0 refuses. */
int recon_svc(struct recon *r, const struct steer_svc_key *key,
	      const struct steer_backend_val *set, uint32_t n);
int recon_svc_del(struct recon *r, const struct steer_svc_key *key);
/* Departure memory; only want->addr is used. */
int recon_member(struct recon *r, const struct steer_member_key *key,
		 const struct steer_member_val *want);

/*
 * Before the first sync: reads steer_members as a previous steerd left it
 * and hands every entry to cb, so the caller can rebuild its memory. The
 * first sync then compares against what it read instead of reading again.
 * Returns the number of entries, or a negative errno (the memory is then
 * left as it is: not swept, so a later start can still use it).
 */
typedef void (*recon_member_cb)(void *arg, const struct steer_member_key *key,
				const struct steer_member_val *val);
int recon_restore(struct recon *r, recon_member_cb cb, void *arg);

/*
 * Mark and sweep: after begin, every wanted key must be given again (each
 * is rewritten with the new generation; memberships only where the map
 * differs); end deletes the API entries that were not, and the memberships
 * nobody wanted. Manual entries stay. The first begin turns writes on.
 * end returns -EIO if a write of the sync failed (the keys are pending).
 */
void recon_sync_begin(struct recon *r);
int recon_sync_end(struct recon *r);
bool recon_live(const struct recon *r);

/* Writes the pending keys again; returns how many are still pending. */
int recon_retry(struct recon *r);

/* steerd's --exempt-cidr list: written, and API entries not in it removed. */
int recon_exempt(struct recon *r, const struct steer_exempt_key *cidrs, uint32_t n);
/* One event -> map sample (steer_latency). */
int recon_latency(struct recon *r, uint64_t ns);
/* A tc attach point made (set) or gone with its link (del). */
int recon_iface_set(struct recon *r, __u32 ifindex, const struct steer_iface_val *val);
int recon_iface_del(struct recon *r, __u32 ifindex);

void recon_get_stats(const struct recon *r, struct recon_stats *st);

/*
 * cb hears whenever an API quarantine of addr starts (on: the map had no
 * entry for it) or ends (its entry was deleted or swept); NULL stops it.
 */
typedef void (*recon_enforce_cb)(void *arg, const struct steer_addr *addr, bool on);
void recon_on_enforce(struct recon *r, recon_enforce_cb cb, void *arg);

#endif /* STEER_DATAPATH_RECONCILE_H */
