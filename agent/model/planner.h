/* SPDX-License-Identifier: MIT */
/*
 * The planner: caches of Pods, Services, EndpointSlices and Nodes (typed
 * objects from kube/objects.h), the quarantine and steering decisions
 * derived from them (DESIGN §2, §4), and the desired state that follows:
 *  - quarantine by pod address, with its action (origin API);
 *  - the backends of every steered Service port;
 *  - the memberships a departed pod needs remembered (steer_members).
 *
 * It touches no map. Each plan_flush() recomputes what the events since the
 * last one touched and hands every key whose desired value may have changed
 * to the sink; plan_emit_all() hands over all of it (a resync). The sink
 * (the reconciler, in steerd) decides what that means for the maps.
 */
#ifndef STEER_MODEL_PLANNER_H
#define STEER_MODEL_PLANNER_H

#include <stdbool.h>
#include <stdint.h>
#include <steer/abi.h>

#include "kube/objects.h"

struct plan;

/* Which watch an object came from. */
enum plan_src {
	PS_POD_META,	/* all pods, PartialObjectMetadata (departure) */
	PS_POD_QUAR,	/* pods matching --quarantine-selector, full objects */
	PS_SVC,
	PS_EPS,
	PS_NODE,	/* node addresses: never quarantined (hostNetwork pods) */
	PS_MAX,
};

enum plan_ev {
	PE_ADDED,
	PE_MODIFIED,
	PE_DELETED,
};

/* Where the desired state goes, key by key. */
struct plan_sink {
	/* want NULL: addr is not to be quarantined. want->origin/gen unset. */
	void (*quar)(void *arg, const struct steer_addr *addr, const struct steer_quar_val *want);
	/* The backends of a steered Service port (sorted, no duplicates; n 0: refuse). */
	void (*svc)(void *arg, const struct steer_svc_key *key,
		    const struct steer_backend_val *set, uint32_t n);
	void (*svc_del)(void *arg, const struct steer_svc_key *key);
	/* want NULL: forget. want->gen unset. */
	void (*member)(void *arg, const struct steer_member_key *key,
		       const struct steer_member_val *want);
	void *arg;
};

/* A pod as the planner knows it, for Events and status. */
struct plan_pod {
	const char *key;	/* namespace/name */
	const char *uid;	/* "" if unknown */
	uint32_t node;		/* obj_node_hash() of its node, 0 if unknown */
	struct steer_addr ip[ADDR_NFAM];	/* per family, :: where none */
	bool quarantined;
	bool explicit_q;	/* by --quarantine-selector, else departure */
	uint8_t action;
	uint32_t nsvc;		/* Services it is quarantined for */
};

/* A pod entered (on) or left quarantine. */
typedef void (*plan_transition_cb)(void *arg, const struct plan_pod *pod, bool on);

struct plan_opts {
	uint8_t default_action;	/* enum steer_action */
	bool departure;		/* false with --no-departure */
	uint64_t settle_ns;
	uint64_t (*clock)(void);	/* CLOCK_MONOTONIC ns; tests fake it */
	uint64_t (*wall)(void);		/* CLOCK_REALTIME ns, for since; tests fake it */
	struct plan_sink sink;
	plan_transition_cb on_transition;	/* optional */
	void *transition_arg;
};

struct plan_stats {
	uint32_t pods;
	uint32_t services;
	uint32_t slices;
	uint32_t quarantined;
	uint32_t steered;
	uint32_t restored;	/* memberships taken back by plan_remember */
};

struct plan *plan_new(const struct plan_opts *opts);
void plan_free(struct plan *p);

/*
 * One object from a list or a watch. The planner takes what it keeps out
 * of o (the caller still frees o). Returns 0 or -ENOMEM.
 */
int plan_pod(struct plan *p, enum plan_src src, enum plan_ev ev, struct pod_obj *o);
int plan_service(struct plan *p, enum plan_ev ev, struct svc_obj *o);
int plan_slice(struct plan *p, enum plan_ev ev, struct eps_obj *o);
int plan_node(struct plan *p, enum plan_ev ev, const struct node_obj *o);

/* The kind of object each watch hands up. */
enum kube_kind plan_src_kind(enum plan_src src);
/* Any of the above, by o->kind; src tells the two pod watches apart. */
int plan_object(struct plan *p, enum plan_src src, enum plan_ev ev, struct kube_object *o);

/* A (re)list of src: objects not seen between begin and end are deleted. */
void plan_list_begin(struct plan *p, enum plan_src src);
void plan_list_end(struct plan *p, enum plan_src src);

/*
 * Departure memory a previous steerd left (steer_members), given after the
 * initial lists and before the first plan_emit_all(). An entry keyed by the
 * pod's "namespace/name" (steerd before UID keys) is matched by name.
 */
void plan_remember(struct plan *p, const struct steer_member_key *key,
		   const struct steer_member_val *val);
void plan_remember_done(struct plan *p);

/* Recomputes what changed since the last flush; 0 or -ENOMEM. */
int plan_flush(struct plan *p);
/* Hands the whole desired state to the sink (after a flush). */
int plan_emit_all(struct plan *p);

/* Settle deadlines: the next one (0 = none) and expiring them. */
uint64_t plan_next_deadline(const struct plan *p);
int plan_tick(struct plan *p);

void plan_get_stats(const struct plan *p, struct plan_stats *st);
/* The pod at "ns/name", or the one with address addr (either family); false if none. */
bool plan_pod_get(const struct plan *p, const char *key, struct plan_pod *out);
bool plan_pod_at(const struct plan *p, const struct steer_addr *addr, struct plan_pod *out);
bool plan_svc_steered(const struct plan *p, const char *key);

/* The steer_members key of a pod: FNV-1a 64 of its uid, or of "ns/name". */
uint64_t plan_pod_hash(const char *uid, const char *key);
/* The steer_members key of a Service: FNV-1a 64 of "ns/name". */
uint64_t plan_svc_hash(const char *key);

#endif /* STEER_MODEL_PLANNER_H */
