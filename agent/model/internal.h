/* SPDX-License-Identifier: MIT */
/* State shared by the files of agent/model/; not an API. */
#ifndef STEER_MODEL_INTERNAL_H
#define STEER_MODEL_INTERNAL_H

#include "kube/labels.h"
#include "lib/table.h"
#include "model/planner.h"

struct svc;

struct svcref {
	struct svc *svc;
	uint32_t cnt;		/* slices of svc that list the pod */
};

/* A set of Services, each holding a reference (svc->refs) while in it. */
struct svcset {
	struct svc **v;
	uint32_t n;
};

/* Fields ordered for packing: 150,000 of these at target scale. */
struct pod {
	char *key;			/* namespace/name */
	/* What the API says about it. */
	struct {
		struct labels labels;
		struct svcref *listed;	/* Services whose slices list it */
		uint32_t nlisted;
		uint32_t meta_gen, quar_gen;	/* list generations, for relists */
		int act_meta;		/* from the annotation, -1 if none */
		int act_quar;
		/* Per family (enum addr_family); :: where unknown. */
		struct steer_addr ip_status[ADDR_NFAM];
		struct steer_addr ip_slice[ADDR_NFAM];
		uint32_t node;		/* obj_node_hash of its node, 0 if unknown */
		char uid[40];		/* metadata.uid: Events and departure memory */
		bool meta_seen;		/* in the metadata watch */
		bool explicit_q;	/* in the quarantine-selector watch */
	} api;
	/* Departure memory: Services it was a matching member of. */
	struct {
		uint64_t hkey;		/* plan_pod_hash(uid, key) */
		struct svcset svcs;
	} mem;
	/* The decision. */
	struct {
		struct svcset svcs;	/* Services it is quarantined for */
		uint64_t since;		/* CLOCK_REALTIME ns */
		struct steer_addr ip[ADDR_NFAM];	/* quarantined there, :: for none */
		uint8_t action;
		bool on;
	} q;
	bool dirty;
	struct pod *next_dirty;
};

struct slice {
	struct svc *svc;
	uint32_t gen;
	struct eps_obj obj;
};

struct svc {
	char *key;
	uint64_t hkey;		/* plan_svc_hash(key) */
	/* What the API says. */
	bool exists;
	bool listed_stale;	/* selector changed; slices not rewritten yet */
	uint32_t gen;
	bool has_selector;
	struct labels sel_labels;
	struct selector sel;
	struct steer_addr vip[ADDR_NFAM];
	struct svc_port *ports;
	uint32_t nports;
	struct slice **slices;
	uint32_t nslices;
	uint32_t refs;		/* pod references: listed, mem, q */
	/* The decision. */
	uint32_t nquar;		/* pods quarantined for it */
	bool steered;
	uint64_t settle_until;
	struct steer_svc_key *keys;	/* the steer_svc keys it wants */
	uint32_t nkeys;
	bool dirty;
	struct svc *next_dirty;
};

struct node_ent {
	struct node_obj obj;
	uint32_t gen;		/* list generation, for relists */
};

struct plan {
	struct plan_opts opts;
	struct table pods;	/* key -> struct pod */
	struct table svcs;	/* key -> struct svc */
	struct table slices;	/* key -> struct slice */
	struct table nodes;	/* key -> struct node_ent */
	struct table nodeips;	/* ip -> number of nodes that have it */
	struct table qdesired;	/* ip -> the pod quarantined there */
	struct table byhash[2];	/* plan_remember: pods by uid hash, by name hash */
	struct table svcbyhash;
	bool byname_built;
	uint32_t kind_gen[PS_MAX];
	uint32_t restored;
	uint64_t next_deadline;
	struct pod *dirty_pods;
	struct svc *dirty_svcs;
	/* Scratch for building backend sets. */
	struct steer_backend_val *scratch;
	uint32_t scratch_cap;
};

/* cache.c */
struct svc *svc_get(struct plan *m, const char *key, bool create);
void svc_mark(struct plan *m, struct svc *s);
void svc_free(struct plan *m, struct svc *s);
void svc_maybe_free(struct plan *m, struct svc *s);
struct pod *pod_get(struct plan *m, const char *key, bool create);
void pod_mark(struct plan *m, struct pod *p);
bool pod_idle(const struct pod *p);
void pod_free(struct plan *m, struct pod *p);
int svcset_add(struct svcset *set, struct svc *s);
bool svcset_has(const struct svcset *set, const struct svc *s);
bool svcset_del(struct svcset *set, struct svc *s);
/* Its address of family f (status first, then slices); :: if unknown. */
const struct steer_addr *pod_ip(const struct pod *p, int f);

/* decide.c */
void member_emit(struct plan *m, const struct pod *p, const struct svc *s, bool on);
void member_forget(struct plan *m, struct pod *p, struct svc *s);
void members_forget_all(struct plan *m, struct pod *p);

#endif /* STEER_MODEL_INTERNAL_H */
