// SPDX-License-Identifier: MIT
#include "kube/objects.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <steer/abi.h>

#include "lib/addr.h"
#include "lib/hash.h"
#include "lib/log.h"

static int bad(const char *kind, const char *key, const char *field, const char *why)
{
	pr_warn("skip %s %s: %s: %s", kind, key && *key ? key : "(unnamed)", field, why);
	return -EINVAL;
}

static const cJSON *get(const cJSON *obj, const char *name)
{
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static bool copy_name(char *dst, size_t size, const cJSON *s)
{
	size_t len;

	if (!cJSON_IsString(s))
		return false;
	len = strlen(s->valuestring);
	if (!len || len >= size || strchr(s->valuestring, '/'))
		return false;
	memcpy(dst, s->valuestring, len + 1);
	return true;
}

int obj_meta_parse(struct obj_meta *m, const cJSON *obj, const char *kind)
{
	const cJSON *md = get(obj, "metadata"), *ns, *name, *rv, *uid;
	char nsbuf[OBJ_NAME_MAX + 1], namebuf[OBJ_NAME_MAX + 1];

	memset(m, 0, sizeof(*m));
	if (!cJSON_IsObject(md))
		return bad(kind, NULL, "metadata", "missing or not an object");
	name = get(md, "name");
	ns = get(md, "namespace");
	if (!copy_name(namebuf, sizeof(namebuf), name))
		return bad(kind, NULL, "metadata.name", "missing or invalid");
	if (!ns || cJSON_IsNull(ns))
		strcpy(nsbuf, "");	/* cluster-scoped */
	else if (!copy_name(nsbuf, sizeof(nsbuf), ns))
		return bad(kind, namebuf, "metadata.namespace", "invalid");
	snprintf(m->key, sizeof(m->key), "%s/%s", nsbuf, namebuf);
	m->name_off = strlen(nsbuf) + 1;
	rv = get(md, "resourceVersion");
	if (cJSON_IsString(rv) && strlen(rv->valuestring) < sizeof(m->rv))
		strcpy(m->rv, rv->valuestring);
	uid = get(md, "uid");
	if (cJSON_IsString(uid) && strlen(uid->valuestring) < sizeof(m->uid))
		strcpy(m->uid, uid->valuestring);
	return 0;
}

static int ip_parse(const cJSON *s, struct steer_addr *addr)
{
	if (!cJSON_IsString(s))
		return -EINVAL;
	return addr_parse_ip(s->valuestring, addr);
}

/*
 * status.podIPs, else status.podIP: at most one address per family (the
 * API's rule for dual-stack). A bad one skips the pod's addresses, named.
 */
static int pod_ips(struct pod_obj *p, const cJSON *status)
{
	const cJSON *ips = get(status, "podIPs"), *it;
	struct steer_addr a;
	char f[32];
	int i = 0;

	if (ips && !cJSON_IsNull(ips)) {
		if (!cJSON_IsArray(ips))
			return bad("pod", p->meta.key, "status.podIPs", "not a list");
		cJSON_ArrayForEach(it, ips) {
			snprintf(f, sizeof(f), "status.podIPs[%d].ip", i++);
			if (ip_parse(get(it, "ip"), &a))
				return bad("pod", p->meta.key, f, "not an IP address");
			if (addr_is_zero(&p->ip[addr_family(&a)]))
				p->ip[addr_family(&a)] = a;
		}
		if (i)
			return 0;
	}
	it = get(status, "podIP");
	if (!it || cJSON_IsNull(it) || (cJSON_IsString(it) && !*it->valuestring))
		return 0;
	if (ip_parse(it, &a))
		return bad("pod", p->meta.key, "status.podIP", "not an IP address");
	p->ip[addr_family(&a)] = a;
	return 0;
}

static int labels_parse(struct labels *l, const cJSON *obj, const char *kind,
			const char *key, const char *field)
{
	const char *badkey;
	char f[128];
	int err = labels_from_json(l, obj, &badkey);

	if (!err)
		return 0;
	if (err == -E2BIG)
		return bad(kind, key, field, "too many labels");
	if (err == -EINVAL) {
		snprintf(f, sizeof(f), "%s%s%.64s", field, *badkey ? "." : "", badkey);
		return bad(kind, key, f, *badkey ? "value is not a string" : "not an object");
	}
	return err;
}

int pod_parse(struct pod_obj *p, const cJSON *obj)
{
	const cJSON *md, *ann, *act, *node;
	int err;

	memset(p, 0, sizeof(*p));
	p->action = -1;
	err = obj_meta_parse(&p->meta, obj, "pod");
	if (err)
		return err;
	md = get(obj, "metadata");
	err = labels_parse(&p->labels, get(md, "labels"), "pod", p->meta.key,
			   "metadata.labels");
	if (err)
		return err;
	ann = get(md, "annotations");
	act = get(ann, STEER_ANN_ACTION);
	if (act) {
		__u8 a;

		p->action = cJSON_IsString(act) && !addr_parse_action(act->valuestring, &a) ?
			    a : -EINVAL;
		if (p->action < 0)
			pr_warn("pod %s: annotation %s=%.32s%s is not drain, drop or reset: using the default action",
				p->meta.key, STEER_ANN_ACTION,
				cJSON_IsString(act) ? act->valuestring : "(not a string)",
				cJSON_IsString(act) && strlen(act->valuestring) > 32 ? "..." : "");
		if (p->action < 0)
			p->action = -1;
	}
	node = get(get(obj, "spec"), "nodeName");
	if (cJSON_IsString(node))
		p->node = obj_node_hash(node->valuestring);
	/* The pod without addresses: its labels still count for departure. */
	if (pod_ips(p, get(obj, "status")))
		memset(p->ip, 0, sizeof(p->ip));
	return 0;
}

void pod_obj_free(struct pod_obj *p)
{
	labels_free(&p->labels);
}

static int proto_parse(const cJSON *s, uint8_t *proto)
{
	if (!s || cJSON_IsNull(s)) {
		*proto = IPPROTO_TCP;	/* the API's default */
		return 0;
	}
	if (!cJSON_IsString(s))
		return -EINVAL;
	if (!strcmp(s->valuestring, "TCP"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s->valuestring, "UDP"))
		*proto = IPPROTO_UDP;
	else if (!strcmp(s->valuestring, "SCTP"))
		*proto = IPPROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

/* Shared by Service and EndpointSlice ports: name, port, protocol. */
static int ports_parse(struct svc_port **out, uint32_t *nout, const cJSON *arr,
		       const char *kind, const char *key)
{
	const cJSON *it, *name, *port;
	struct svc_port *ports;
	uint32_t n = 0;
	char f[64];

	*out = NULL;
	*nout = 0;
	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return bad(kind, key, "ports", "not an array");
	n = cJSON_GetArraySize(arr);
	if (!n)
		return 0;
	if (n > 1024)
		return bad(kind, key, "ports", "too many ports");
	ports = calloc(n, sizeof(*ports));
	if (!ports)
		return -ENOMEM;
	n = 0;
	cJSON_ArrayForEach(it, arr) {
		struct svc_port *p = &ports[n];

		snprintf(f, sizeof(f), "ports[%u]", n);
		if (!cJSON_IsObject(it))
			goto bad_port;
		name = get(it, "name");
		if (cJSON_IsString(name) && strlen(name->valuestring) < sizeof(p->name))
			strcpy(p->name, name->valuestring);
		else if (name && !cJSON_IsNull(name)) {
			snprintf(f, sizeof(f), "ports[%u].name", n);
			goto bad_port;
		}
		port = get(it, "port");
		if (!port || cJSON_IsNull(port)) {
			/* An EndpointSlice port may be unset: "all ports". */
			p->port = 0;
		} else if (!cJSON_IsNumber(port) || port->valuedouble < 1 ||
			   port->valuedouble > 65535 ||
			   port->valuedouble != (double)(int)port->valuedouble) {
			snprintf(f, sizeof(f), "ports[%u].port", n);
			goto bad_port;
		} else {
			p->port = (uint16_t)port->valueint;
		}
		if (proto_parse(get(it, "protocol"), &p->proto)) {
			snprintf(f, sizeof(f), "ports[%u].protocol", n);
			goto bad_port;
		}
		n++;
	}
	*out = ports;
	*nout = n;
	return 0;
bad_port:
	free(ports);
	return bad(kind, key, f, "invalid");
}

int svc_parse(struct svc_obj *s, const cJSON *obj)
{
	const cJSON *spec, *sel, *ips, *ip, *type;
	int err;

	memset(s, 0, sizeof(*s));
	err = obj_meta_parse(&s->meta, obj, "service");
	if (err)
		return err;
	spec = get(obj, "spec");
	if (!cJSON_IsObject(spec))
		return bad("service", s->meta.key, "spec", "missing or not an object");
	sel = get(spec, "selector");
	err = labels_parse(&s->selector, sel, "service", s->meta.key, "spec.selector");
	if (err)
		return err;
	/* An empty selector means "no selector": endpoints managed by hand. */
	s->has_selector = s->selector.n > 0;
	type = get(spec, "type");
	if (cJSON_IsString(type) && !strcmp(type->valuestring, "ExternalName"))
		goto ports;
	/* clusterIPs[0] is clusterIP; one address per family (ipFamilies). */
	ips = get(spec, "clusterIPs");
	if (!cJSON_IsArray(ips) || !cJSON_GetArraySize(ips))
		ips = NULL;
	ip = ips ? ips->child : get(spec, "clusterIP");
	for (int i = 0; ip; ip = ips ? ip->next : NULL, i++) {
		struct steer_addr a;
		char f[32];

		/* Headless ("None"), or not allocated yet. */
		if (cJSON_IsNull(ip) || (cJSON_IsString(ip) && (!strcmp(ip->valuestring, "None") ||
								!*ip->valuestring)))
			continue;
		snprintf(f, sizeof(f), ips ? "spec.clusterIPs[%d]" : "spec.clusterIP", i);
		if (ip_parse(ip, &a)) {
			err = bad("service", s->meta.key, f, "not an IP address");
			goto cleanup;
		}
		if (addr_is_zero(&s->vip[addr_family(&a)]))
			s->vip[addr_family(&a)] = a;
	}
ports:
	err = ports_parse(&s->ports, &s->nports, get(spec, "ports"), "service",
			  s->meta.key);
	if (err)
		goto cleanup;
	return 0;
cleanup:
	svc_obj_free(s);
	return err;
}

void svc_obj_free(struct svc_obj *s)
{
	labels_free(&s->selector);
	free(s->ports);
	s->ports = NULL;
	s->nports = 0;
}

static bool cond(const cJSON *conds, const char *name, bool dflt)
{
	const cJSON *c = get(conds, name);

	if (cJSON_IsBool(c))
		return cJSON_IsTrue(c);
	return dflt;
}

int eps_parse(struct eps_obj *e, const cJSON *obj)
{
	const cJSON *md, *svc, *at, *eps, *it, *addrs, *conds, *ref, *kind, *name, *node;
	char f[64];
	uint32_t n;
	int err;

	memset(e, 0, sizeof(*e));
	err = obj_meta_parse(&e->meta, obj, "endpointslice");
	if (err)
		return err;
	md = get(obj, "metadata");
	svc = get(get(md, "labels"), "kubernetes.io/service-name");
	if (!copy_name(e->service, sizeof(e->service), svc))
		return bad("endpointslice", e->meta.key,
			   "metadata.labels.kubernetes.io/service-name", "missing or invalid");
	at = get(obj, "addressType");
	if (!cJSON_IsString(at))
		return bad("endpointslice", e->meta.key, "addressType", "missing");
	e->family = !strcmp(at->valuestring, "IPv4") ? ADDR_V4 :
		    !strcmp(at->valuestring, "IPv6") ? ADDR_V6 : -1;
	if (e->family < 0)
		return 0;
	err = ports_parse(&e->ports, &e->nports, get(obj, "ports"), "endpointslice",
			  e->meta.key);
	if (err)
		return err;
	eps = get(obj, "endpoints");
	if (eps && !cJSON_IsNull(eps) && !cJSON_IsArray(eps)) {
		err = bad("endpointslice", e->meta.key, "endpoints", "not an array");
		goto cleanup;
	}
	n = eps ? cJSON_GetArraySize(eps) : 0;
	if (n > 65536) {
		err = bad("endpointslice", e->meta.key, "endpoints", "too many endpoints");
		goto cleanup;
	}
	if (n) {
		e->eps = calloc(n, sizeof(*e->eps));
		if (!e->eps) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	cJSON_ArrayForEach(it, eps) {
		struct eps_endpoint *ep = &e->eps[e->neps];

		addrs = get(it, "addresses");
		snprintf(f, sizeof(f), "endpoints[%u].addresses", e->neps);
		/* Consumers use the first address only (EndpointSlice API). */
		if (!cJSON_IsArray(addrs) || ip_parse(cJSON_GetArrayItem(addrs, 0), &ep->addr) ||
		    (int)addr_family(&ep->addr) != e->family) {
			err = bad("endpointslice", e->meta.key, f,
				  e->family == ADDR_V4 ? "missing or not an IPv4 address" :
				  "missing or not an IPv6 address");
			goto cleanup;
		}
		conds = get(it, "conditions");
		ep->ready = cond(conds, "ready", true);
		ep->serving = cond(conds, "serving", ep->ready);
		ep->terminating = cond(conds, "terminating", false);
		node = get(it, "nodeName");
		if (cJSON_IsString(node))
			ep->node = obj_node_hash(node->valuestring);
		ref = get(it, "targetRef");
		kind = get(ref, "kind");
		name = get(ref, "name");
		if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "Pod") &&
		    !copy_name(ep->pod, sizeof(ep->pod), name)) {
			snprintf(f, sizeof(f), "endpoints[%u].targetRef.name", e->neps);
			err = bad("endpointslice", e->meta.key, f, "invalid");
			goto cleanup;
		}
		e->neps++;
	}
	return 0;
cleanup:
	eps_obj_free(e);
	return err;
}

int node_parse(struct node_obj *n, const cJSON *obj)
{
	const cJSON *addrs, *it;
	int err;

	memset(n, 0, sizeof(*n));
	err = obj_meta_parse(&n->meta, obj, "node");
	if (err)
		return err;
	addrs = get(get(obj, "status"), "addresses");
	if (addrs && !cJSON_IsArray(addrs))
		return bad("node", n->meta.key, "status.addresses", "not a list");
	cJSON_ArrayForEach(it, addrs) {
		const cJSON *type = get(it, "type");
		struct steer_addr a;

		if (!cJSON_IsString(type) || (strcmp(type->valuestring, "InternalIP") &&
					      strcmp(type->valuestring, "ExternalIP")))
			continue;
		if (ip_parse(get(it, "address"), &a) || n->naddrs == NODE_ADDRS_MAX)
			continue;
		n->addrs[n->naddrs++] = a;
	}
	return 0;
}

uint32_t obj_node_hash(const char *name)
{
	uint32_t h = fnv1a32(name);

	return h ? h : 1;	/* 0 means "unknown" */
}

void eps_obj_free(struct eps_obj *e)
{
	free(e->eps);
	free(e->ports);
	e->eps = NULL;
	e->ports = NULL;
	e->neps = e->nports = 0;
}

int kube_object_parse(struct kube_object *o, enum kube_kind kind, bool deleted,
		      const cJSON *json)
{
	static const char *const names[] = {
		[KUBE_POD] = "pod", [KUBE_SERVICE] = "service",
		[KUBE_SLICE] = "endpointslice", [KUBE_NODE] = "node",
	};

	memset(o, 0, sizeof(*o));
	o->kind = kind;
	if (kind == KUBE_POD)
		o->pod.action = -1;
	if (deleted)
		return obj_meta_parse(&o->meta, json, names[kind]);
	switch (kind) {
	case KUBE_POD:
		return pod_parse(&o->pod, json);
	case KUBE_SERVICE:
		return svc_parse(&o->svc, json);
	case KUBE_SLICE:
		return eps_parse(&o->eps, json);
	case KUBE_NODE:
		return node_parse(&o->node, json);
	}
	return -EINVAL;
}

void kube_object_free(struct kube_object *o)
{
	switch (o->kind) {
	case KUBE_POD:
		pod_obj_free(&o->pod);
		break;
	case KUBE_SERVICE:
		svc_obj_free(&o->svc);
		break;
	case KUBE_SLICE:
		eps_obj_free(&o->eps);
		break;
	case KUBE_NODE:
		break;
	}
}
