/* SPDX-License-Identifier: MIT */
/*
 * The model: caches of pods, Services and EndpointSlices, the quarantine and
 * steering decisions derived from them (DESIGN §2, §4), and the reconciler
 * that writes only the map entries an event changed.
 *
 * Writes go through struct apply_ops, so the pure part (desired state and
 * its diff) runs in unit tests against an in-memory map; apply_maps_ops is
 * the real one over agent/datapath/maps.h.
 */
#ifndef STEER_MODEL_MODEL_H
#define STEER_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "datapath/maps.h"

struct cJSON;
struct model;

enum model_kind {
	MK_POD_META,	/* all pods, PartialObjectMetadata (departure) */
	MK_POD_QUAR,	/* pods matching --quarantine-selector, full objects */
	MK_SVC,
	MK_EPS,
	MK_NODE,	/* node addresses: never quarantined (hostNetwork pods) */
	MK_MAX,
};

enum model_ev {
	MEV_ADDED,
	MEV_MODIFIED,
	MEV_DELETED,
};

struct apply_ops {
	int (*quar_set)(void *ctx, __be32 addr, const struct steer_quar_val *val);
	int (*quar_get)(void *ctx, __be32 addr, struct steer_quar_val *val);
	int (*quar_del)(void *ctx, __be32 addr);
	int (*quar_foreach)(void *ctx, maps_quar_cb cb, void *arg);
	/* old: the slots as last written, or NULL for a fresh set (maps_svc_patch). */
	int (*svc_set)(void *ctx, const struct steer_svc_key *key,
		       const struct steer_backend_val *old, uint32_t nold,
		       const struct steer_backend_val *b, uint32_t n, uint8_t origin,
		       uint32_t gen);
	int (*svc_get)(void *ctx, const struct steer_svc_key *key, struct steer_svc_val *val);
	int (*svc_del)(void *ctx, const struct steer_svc_key *key);
	int (*svc_foreach)(void *ctx, maps_svc_cb cb, void *arg);
	/* Departure memory: which Services each pod was a matching member of. */
	int (*member_set)(void *ctx, const struct steer_member_key *key,
			  const struct steer_member_val *val);
	int (*member_del)(void *ctx, const struct steer_member_key *key);
	int (*member_foreach)(void *ctx, maps_member_cb cb, void *arg);
};

/* FNV-1a 64 of a "namespace/name" key, as in struct steer_member_key. */
uint64_t model_key_hash(const char *key);

/* ctx is a const struct steer_maps *. */
extern const struct apply_ops apply_maps_ops;

/*
 * A pod entered (on) or left quarantine; node is obj_node_hash() or 0, uid
 * the pod's metadata.uid or "".
 */
typedef void (*model_transition_cb)(void *arg, const char *key, const char *uid,
				    uint32_t node, bool on, int action, uint32_t nsvc);

struct model_opts {
	uint8_t default_action;	/* enum steer_action */
	bool departure;		/* false with --no-departure */
	uint64_t settle_ns;
	uint64_t (*clock)(void);	/* CLOCK_MONOTONIC ns; tests fake it */
	model_transition_cb on_transition;	/* optional */
	void *transition_arg;
};

struct model_stats {
	uint64_t events;
	uint64_t skipped;	/* bad objects */
	uint64_t quar_writes;
	uint64_t svc_writes;
	uint64_t deletes;
	uint64_t write_errors;
	uint32_t pods;
	uint32_t services;
	uint32_t slices;
	uint32_t quarantined;
	uint32_t steered;
};

struct model *model_new(const struct model_opts *opts, const struct apply_ops *ops,
			void *ops_ctx);
void model_free(struct model *m);

/*
 * One watch or list item. Returns 0, or -EINVAL for an object that was
 * skipped (logged); caches and maps keep their previous state then.
 */
int model_event(struct model *m, enum model_kind kind, enum model_ev ev,
		const struct cJSON *obj);
/* Recomputes what the events since the last flush touched and writes it. */
int model_flush(struct model *m);

/* A (re)list of kind: objects not seen between begin and end are deleted. */
void model_list_begin(struct model *m, enum model_kind kind);
void model_list_end(struct model *m, enum model_kind kind);

/*
 * Brings the maps in line with the model: rewrites quarantine and service
 * entries with a new gen and deletes API-origin entries of older gens;
 * steer_members is compared with the wanted memberships instead, so only
 * missing or wrong entries are written and unwanted ones deleted. The first
 * call also turns on writes: before it the maps are left as they are, so a
 * restart never opens a gap.
 */
int model_resync(struct model *m);
bool model_synced(const struct model *m);

/* Settle deadlines: the next one (0 = none) and expiring them. */
uint64_t model_next_deadline(const struct model *m);
int model_tick(struct model *m);

void model_get_stats(const struct model *m, struct model_stats *st);
/* For tests and status: is this pod ("ns/name") quarantined, with which action. */
bool model_pod_quarantined(const struct model *m, const char *key, int *action);
bool model_svc_steered(const struct model *m, const char *key);

#endif /* STEER_MODEL_MODEL_H */
