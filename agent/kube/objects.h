/* SPDX-License-Identifier: MIT */
/*
 * The API objects steer needs, typed: Pods (full or PartialObjectMetadata),
 * Services, EndpointSlices and Nodes, parsed from the API's JSON. Nothing
 * above kube/ sees JSON. Each parser validates what it takes; on bad input
 * it returns -EINVAL after a log line naming the object and the field.
 */
#ifndef STEER_KUBE_OBJECTS_H
#define STEER_KUBE_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "kube/labels.h"
#include "lib/addr.h"

struct cJSON;

#define STEER_ANN_ACTION "steer.dev/action"
#define OBJ_NAME_MAX 253

struct obj_meta {
	char key[2 * OBJ_NAME_MAX + 2];	/* namespace/name */
	uint32_t name_off;		/* where the name starts in key */
	char rv[32];
	char uid[40];			/* metadata.uid, "" if absent */
};

struct pod_obj {
	struct obj_meta meta;
	struct labels labels;
	int action;		/* enum steer_action, or -1 for "use default" */
	/* status.podIPs (podIP): one per family, ADDR_V4 / ADDR_V6; :: if absent. */
	struct steer_addr ip[ADDR_NFAM];
	uint32_t node;		/* obj_node_hash(spec.nodeName); 0 if unknown */
};

struct svc_port {
	char name[64];
	uint16_t port;
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
};

struct svc_obj {
	struct obj_meta meta;
	bool has_selector;
	struct labels selector;
	/* spec.clusterIPs, one per family; ::: headless, ExternalName or none of it. */
	struct steer_addr vip[ADDR_NFAM];
	struct svc_port *ports;
	uint32_t nports;
};

struct eps_endpoint {
	struct steer_addr addr;
	bool ready;
	bool serving;
	bool terminating;
	char pod[OBJ_NAME_MAX + 1];	/* targetRef name when kind is Pod */
	uint32_t node;		/* obj_node_hash(nodeName); 0 if absent */
};

struct eps_obj {
	struct obj_meta meta;
	char service[OBJ_NAME_MAX + 1];
	int family;		/* addressType IPv4 or IPv6 (enum addr_family); -1: FQDN, ignored */
	struct eps_endpoint *eps;
	uint32_t neps;
	struct svc_port *ports;
	uint32_t nports;
};

#define NODE_ADDRS_MAX 8

struct node_obj {
	struct obj_meta meta;
	struct steer_addr addrs[NODE_ADDRS_MAX];	/* InternalIP and ExternalIP, both families */
	uint32_t naddrs;
};

enum kube_kind {
	KUBE_POD,
	KUBE_SERVICE,
	KUBE_SLICE,
	KUBE_NODE,
};

struct kube_object {
	enum kube_kind kind;
	union {
		struct obj_meta meta;	/* first member of each */
		struct pod_obj pod;
		struct svc_obj svc;
		struct eps_obj eps;
		struct node_obj node;
	};
};

/*
 * One object of kind from a list or a watch event; a deletion needs (and
 * parses) the metadata only. 0 or -EINVAL (logged); free with
 * kube_object_free() either way.
 */
int kube_object_parse(struct kube_object *o, enum kube_kind kind, bool deleted,
		      const struct cJSON *json);
void kube_object_free(struct kube_object *o);

/* Fills only metadata (namespace, name, resourceVersion). */
int obj_meta_parse(struct obj_meta *m, const struct cJSON *obj, const char *kind);
int pod_parse(struct pod_obj *p, const struct cJSON *obj);
void pod_obj_free(struct pod_obj *p);
int svc_parse(struct svc_obj *s, const struct cJSON *obj);
void svc_obj_free(struct svc_obj *s);
int eps_parse(struct eps_obj *e, const struct cJSON *obj);
void eps_obj_free(struct eps_obj *e);
int node_parse(struct node_obj *n, const struct cJSON *obj);

/*
 * Node names are kept as a hash: only "is it this node?" is asked of them,
 * and 150k endpoints must not carry 150k copies of a 253-byte name.
 */
uint32_t obj_node_hash(const char *name);

#endif /* STEER_KUBE_OBJECTS_H */
