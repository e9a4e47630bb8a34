// SPDX-License-Identifier: MIT
/*
 * The agent's centre end to end: API objects parsed by kube/, decided by the
 * planner, applied by the reconciler (apply.h) to the in-memory maps of its
 * test double, through restarts, relists, manual entries and failed writes.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>

#include "apply.h"
#include "harness.h"
#include "kube/objects.h"
#include "memmaps.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

struct env {
	struct memmaps mm;
	struct recon *r;
	struct plan *m;
	bool departure;
	plan_transition_cb on_transition;
	void *transition_arg;
};

/* A steerd starting over the maps in e->mm: a new reconciler and planner. */
static void env_start(struct env *e)
{
	struct plan_opts o = {
		.default_action = STEER_ACT_DRAIN,
		.departure = e->departure,
		.settle_ns = 60ULL * 1000000000,
		.clock = fake_clock,
		.on_transition = e->on_transition,
		.transition_arg = e->transition_arg,
	};

	e->r = recon_new(&mem_ops, &e->mm, &(struct recon_opts){ .gen = fake_now / 1000000 });
	o.sink = apply_sink(e->r);
	e->m = plan_new(&o);
}

static void env_stop(struct env *e)
{
	plan_free(e->m);
	recon_free(e->r);
	e->m = NULL;
	e->r = NULL;
}

static void env_init(struct env *e, bool departure)
{
	memset(e, 0, sizeof(*e));
	fake_now = 1000000000;
	e->departure = departure;
	env_start(e);
}

static void env_fini(struct env *e)
{
	env_stop(e);
	memmaps_free(&e->mm);
}

/* One watch event, as control.c hands it on: parsed by kube/, given to the planner. */
static int event(struct env *e, enum plan_src src, enum plan_ev ev, const char *json)
{
	cJSON *obj = cJSON_Parse(json);
	struct kube_object o;
	int err;

	if (!obj) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		return -999;
	}
	err = kube_object_parse(&o, plan_src_kind(src), ev == PE_DELETED, obj);
	if (!err)
		err = plan_object(e->m, src, ev, &o);
	kube_object_free(&o);
	cJSON_Delete(obj);
	return err;
}

static int feed(struct env *e, enum plan_src src, enum plan_ev ev, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int err;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	err = event(e, src, ev, buf);
	plan_flush(e->m);
	return err;
}

static int resync(struct env *e)
{
	return apply_sync(e->m, e->r);
}

static bool pod_quarantined(struct env *e, const char *key, int *action)
{
	struct plan_pod p;

	if (!plan_pod_get(e->m, key, &p) || !p.quarantined)
		return false;
	if (action)
		*action = p.action;
	return true;
}

#define META(name, labels, ann)                                                       \
	"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","     \
	"\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\",\"uid\":\"u-" \
	name "\",\"resourceVersion\":\"7\",\"labels\":" labels ",\"annotations\":" ann "}}"

#define POD(name, ip, labels, ann)                                                    \
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name     \
	"\",\"namespace\":\"default\",\"labels\":" labels ",\"annotations\":" ann    \
	"},\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx\"}]},"    \
	"\"status\":{\"phase\":\"Running\",\"podIP\":\"" ip "\",\"podIPs\":[{\"ip\":\"" ip "\"}]}}"

#define EP(name, ip, ready, serving, term)                                            \
	"{\"addresses\":[\"" ip "\"],\"conditions\":{\"ready\":" ready                \
	",\"serving\":" serving ",\"terminating\":" term "},\"nodeName\":\"node-1\"," \
	"\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"" name "\",\"uid\":\"u-" name "\"}}"

#define SLICE_OF(type, name, svc, ports, eps)                                         \
	"{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\","         \
	"\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\",\"labels\":"  \
	"{\"kubernetes.io/service-name\":\"" svc "\",\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\"}},"  \
	"\"addressType\":\"" type "\",\"ports\":" ports ",\"endpoints\":[" eps "]}"
#define SLICE(name, svc, ports, eps) SLICE_OF("IPv4", name, svc, ports, eps)

#define NGINX_LABELS "{\"app\":\"nginx\",\"enabled\":\"true\",\"pod-template-hash\":\"1802606028\"}"
#define OFF_LABELS "{\"app\":\"nginx\",\"enabled\":\"false\",\"pod-template-hash\":\"1802606028\"}"

static void seed(struct env *e)
{
	feed(e, PS_SVC, PE_ADDED,
	     "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"nginx\","
	     "\"namespace\":\"default\"},\"spec\":{\"type\":\"ClusterIP\",\"selector\":"
	     "{\"app\":\"nginx\",\"enabled\":\"true\"},\"clusterIP\":\"10.96.0.10\","
	     "\"clusterIPs\":[\"10.96.0.10\"],\"ports\":[{\"name\":\"http\",\"port\":80,"
	     "\"protocol\":\"TCP\",\"targetPort\":\"web\"}]}}");
	feed(e, PS_EPS, PE_ADDED, SLICE("nginx-abcde", "nginx",
	     "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
	     EP("nginx-1", "10.0.0.1", "true", "true", "false") ","
	     EP("nginx-2", "10.0.0.2", "true", "true", "false") ","
	     EP("nginx-3", "10.0.0.3", "true", "true", "false")));
	feed(e, PS_POD_META, PE_ADDED, META("nginx-1", NGINX_LABELS, "{}"));
	feed(e, PS_POD_META, PE_ADDED, META("nginx-2", NGINX_LABELS, "{}"));
	feed(e, PS_POD_META, PE_ADDED, META("nginx-3", NGINX_LABELS, "{}"));
	resync(e);
}

TEST(seed_departure_steers_and_excludes)
{
	const struct steer_quar_val *q;
	const struct memsvc *s;
	struct env e;

	env_init(&e, true);
	seed(&e);
	ASSERT_EQ(e.mm.quar.n, 0, "nothing quarantined at first");
	ASSERT_EQ(e.mm.svc.n, 0, "nothing steered at first");

	/* kubectl label pod nginx-1 enabled=false --overwrite */
	ASSERT_OK(feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}")), "relabel");
	q = memmaps_quar(&e.mm, "10.0.0.1");
	if (ASSERT_OK_PTR(q, "pod quarantined")) {
		ASSERT_EQ(q->action, STEER_ACT_DRAIN, "default action");
		ASSERT_EQ(q->origin, STEER_ORIGIN_API, "origin");
		ASSERT_NEQ(q->since, 0, "since set");
	}
	s = memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s, "service steered")) {
		ASSERT_EQ(s->val.count, 2, "two backends");
		ASSERT_TRUE(memsvc_has(s, "10.0.0.2", 8080), "nginx-2 via resolved targetPort");
		ASSERT_TRUE(memsvc_has(s, "10.0.0.3", 8080), "nginx-3");
		ASSERT_FALSE(memsvc_has(s, "10.0.0.1", 8080), "quarantined pod excluded");
	}

	/* The slice controller drops the pod: the quarantine must persist. */
	feed(&e, PS_EPS, PE_MODIFIED, SLICE("nginx-abcde", "nginx",
	     "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
	     EP("nginx-2", "10.0.0.2", "true", "true", "false") ","
	     EP("nginx-3", "10.0.0.3", "true", "true", "false")));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "still quarantined after slice update");
	ASSERT_TRUE(plan_svc_steered(e.m, "default/nginx"), "still steered");
	env_fini(&e);
}

TEST(relabel_back_releases_then_settles)
{
	unsigned long writes;
	struct env e;

	env_init(&e, true);
	seed(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	feed(&e, PS_EPS, PE_MODIFIED, SLICE("nginx-abcde", "nginx",
	     "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
	     EP("nginx-2", "10.0.0.2", "true", "true", "false")));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined");

	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", NGINX_LABELS, "{}"));
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1") == NULL, 1, "released");
	ASSERT_OK_PTR(memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP), "steered while settling");
	ASSERT_NEQ(plan_next_deadline(e.m), 0, "settle deadline armed");

	fake_now += 30ULL * 1000000000;
	plan_tick(e.m);
	ASSERT_OK_PTR(memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP), "still settling at 30 s");
	fake_now += 31ULL * 1000000000;
	writes = e.mm.writes;
	plan_tick(e.m);
	ASSERT_EQ(memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP) == NULL, 1, "unsteered after settle");
	ASSERT_EQ(e.mm.writes, writes, "only a delete, no rewrite");
	ASSERT_FALSE(plan_svc_steered(e.m, "default/nginx"), "model agrees");
	env_fini(&e);
}

TEST(deleted_pod_is_released)
{
	struct env e;

	env_init(&e, true);
	seed(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined");
	feed(&e, PS_POD_META, PE_DELETED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1") == NULL, 1, "released on delete");
	env_fini(&e);
}

TEST(explicit_quarantine_with_action)
{
	const struct steer_quar_val *q;
	const struct memsvc *s;
	struct env e;
	int action = -1;

	env_init(&e, true);
	seed(&e);
	/* Still matches the Service selector: only the explicit label quarantines. */
	feed(&e, PS_POD_META, PE_MODIFIED,
	     META("nginx-2", "{\"app\":\"nginx\",\"enabled\":\"true\",\"steer.dev/quarantine\":\"\"}",
		  "{\"steer.dev/action\":\"drop\"}"));
	ASSERT_EQ(e.mm.quar.n, 0, "metadata alone does not quarantine");
	feed(&e, PS_POD_QUAR, PE_ADDED,
	     POD("nginx-2", "10.0.0.2", "{\"app\":\"nginx\",\"enabled\":\"true\",\"steer.dev/quarantine\":\"\"}",
		 "{\"steer.dev/action\":\"drop\"}"));
	q = memmaps_quar(&e.mm, "10.0.0.2");
	if (ASSERT_OK_PTR(q, "explicitly quarantined"))
		ASSERT_EQ(q->action, STEER_ACT_DROP, "action from annotation");
	ASSERT_TRUE(pod_quarantined(&e, "default/nginx-2", &action), "model");
	ASSERT_EQ(action, STEER_ACT_DROP, "model action");
	s = memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s, "its service is steered")) {
		ASSERT_EQ(s->val.count, 2, "two left");
		ASSERT_FALSE(memsvc_has(s, "10.0.0.2", 8080), "excluded");
	}
	/* Leaving the selector arrives as DELETED on the quarantine watch. */
	feed(&e, PS_POD_QUAR, PE_DELETED, POD("nginx-2", "10.0.0.2", "{}", "{}"));
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.2") == NULL, 1, "released");
	env_fini(&e);
}

TEST(explicit_without_departure_watch)
{
	struct env e;

	env_init(&e, false);
	seed(&e);
	/* --no-departure: relabeling alone does nothing. */
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_EQ(e.mm.quar.n, 0, "no departure quarantine");
	feed(&e, PS_POD_QUAR, PE_ADDED,
	     POD("nginx-3", "10.0.0.3", "{\"steer.dev/quarantine\":\"yes\"}", "{}"));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.3"), "explicit works");
	ASSERT_OK_PTR(memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP), "steered");
	env_fini(&e);
}

TEST(unknown_action_uses_default)
{
	const struct steer_quar_val *q;
	struct env e;

	env_init(&e, true);
	seed(&e);
	feed(&e, PS_POD_META, PE_MODIFIED,
	     META("nginx-1", OFF_LABELS, "{\"steer.dev/action\":\"explode\"}"));
	q = memmaps_quar(&e.mm, "10.0.0.1");
	if (ASSERT_OK_PTR(q, "quarantined"))
		ASSERT_EQ(q->action, STEER_ACT_DRAIN, "default applies");
	feed(&e, PS_POD_META, PE_MODIFIED,
	     META("nginx-1", OFF_LABELS, "{\"steer.dev/action\":\"reset\"}"));
	q = memmaps_quar(&e.mm, "10.0.0.1");
	if (ASSERT_OK_PTR(q, "quarantined"))
		ASSERT_EQ(q->action, STEER_ACT_RESET, "action change applied in place");
	env_fini(&e);
}

TEST(named_target_ports_multi_port)
{
	const struct memsvc *s;
	struct env e;

	env_init(&e, true);
	feed(&e, PS_SVC, PE_ADDED,
	     "{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
	     "\"spec\":{\"selector\":{\"app\":\"web\"},\"clusterIP\":\"10.96.1.1\","
	     "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http-alt\"},"
	     "{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\",\"targetPort\":5353}]}}");
	/* Pods in two slices, one of them using another container port. */
	feed(&e, PS_EPS, PE_ADDED, SLICE("web-1", "web",
	     "[{\"name\":\"http\",\"port\":8081,\"protocol\":\"TCP\"},{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"}]",
	     EP("web-a", "10.0.1.1", "true", "true", "false") ","
	     EP("web-b", "10.0.1.2", "true", "true", "false")));
	feed(&e, PS_EPS, PE_ADDED, SLICE("web-2", "web",
	     "[{\"name\":\"http\",\"port\":9090,\"protocol\":\"TCP\"},{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"}]",
	     EP("web-c", "10.0.1.3", "true", "true", "false")));
	feed(&e, PS_POD_META, PE_ADDED, META("web-a", "{\"app\":\"web\"}", "{}"));
	feed(&e, PS_POD_META, PE_ADDED, META("web-b", "{\"app\":\"web\"}", "{}"));
	feed(&e, PS_POD_META, PE_ADDED, META("web-c", "{\"app\":\"web\"}", "{}"));
	resync(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("web-a", "{\"app\":\"debug\"}", "{}"));
	s = memmaps_svc(&e.mm, "10.96.1.1", 80, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s, "http steered")) {
		ASSERT_EQ(s->val.count, 2, "two http backends");
		ASSERT_TRUE(memsvc_has(s, "10.0.1.2", 8081), "slice 1 port");
		ASSERT_TRUE(memsvc_has(s, "10.0.1.3", 9090), "slice 2 port");
	}
	s = memmaps_svc(&e.mm, "10.96.1.1", 53, IPPROTO_UDP);
	if (ASSERT_OK_PTR(s, "dns steered")) {
		ASSERT_EQ(s->val.count, 2, "two dns backends");
		ASSERT_TRUE(memsvc_has(s, "10.0.1.3", 5353), "udp port");
	}
	env_fini(&e);
}

TEST(terminating_fallback_and_refuse)
{
	const struct memsvc *s;
	struct env e;

	env_init(&e, true);
	feed(&e, PS_SVC, PE_ADDED,
	     "{\"kind\":\"Service\",\"metadata\":{\"name\":\"db\",\"namespace\":\"default\"},"
	     "\"spec\":{\"selector\":{\"app\":\"db\"},\"clusterIP\":\"10.96.2.2\","
	     "\"ports\":[{\"port\":5432,\"targetPort\":5432}]}}");
	feed(&e, PS_EPS, PE_ADDED, SLICE("db-1", "db", "[{\"port\":5432}]",
	     EP("db-a", "10.0.2.1", "true", "true", "false") ","
	     EP("db-b", "10.0.2.2", "false", "true", "true") ","
	     EP("db-c", "10.0.2.3", "false", "false", "true")));
	feed(&e, PS_POD_META, PE_ADDED, META("db-a", "{\"app\":\"db\"}", "{}"));
	feed(&e, PS_POD_META, PE_ADDED, META("db-b", "{\"app\":\"db\"}", "{}"));
	resync(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("db-a", "{\"app\":\"db-debug\"}", "{}"));
	s = memmaps_svc(&e.mm, "10.96.2.2", 5432, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s, "steered")) {
		ASSERT_EQ(s->val.count, 1, "serving+terminating fallback");
		ASSERT_TRUE(memsvc_has(s, "10.0.2.2", 5432), "the serving one");
	}
	/* Quarantine the last serving one too: nothing left, refuse. */
	feed(&e, PS_POD_QUAR, PE_ADDED, POD("db-b", "10.0.2.2", "{\"app\":\"db\"}", "{}"));
	s = memmaps_svc(&e.mm, "10.96.2.2", 5432, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s, "still an entry"))
		ASSERT_EQ(s->val.count, 0, "count 0 = refuse");
	env_fini(&e);
}

TEST(manual_entries_untouched)
{
	struct steer_quar_val mq = { .action = STEER_ACT_RESET, .origin = STEER_ORIGIN_MANUAL, .gen = 5 };
	struct steer_svc_key mk = { .port = htons(443), .proto = IPPROTO_TCP };
	struct steer_backend_val mb = { .port = htons(8443) };
	const struct steer_quar_val *q;
	const struct memsvc *s;
	struct env e;

	env_init(&e, true);
	mem_ops.quar_set(&e.mm, IPP("10.0.0.1"), &mq);
	mk.vip = addr_lit("10.96.9.9");
	mb.addr = addr_lit("10.0.9.9");
	mem_ops.svc_patch(&e.mm, &mk, NULL, 0, &mb, 1, STEER_ORIGIN_MANUAL, 5);
	seed(&e);	/* includes a full resync: the sweep must keep them */
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", NGINX_LABELS, "{}"));
	resync(&e);
	q = memmaps_quar(&e.mm, "10.0.0.1");
	if (ASSERT_OK_PTR(q, "manual quarantine kept")) {
		ASSERT_EQ(q->origin, STEER_ORIGIN_MANUAL, "still manual");
		ASSERT_EQ(q->action, STEER_ACT_RESET, "action untouched");
		ASSERT_EQ(q->gen, 5, "gen untouched");
	}
	s = memmaps_svc(&e.mm, "10.96.9.9", 443, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s, "manual service kept"))
		ASSERT_EQ(s->val.gen, 5, "untouched");
	env_fini(&e);
}

TEST(restart_adopts_then_sweeps_only_after_sync)
{
	struct steer_quar_val stale = { .action = STEER_ACT_DROP, .origin = STEER_ORIGIN_API, .gen = 2 };
	struct env e;

	env_init(&e, true);
	/* Left in the pinned maps by the previous steerd. */
	mem_ops.quar_set(&e.mm, IPP("10.0.0.1"), &stale);
	mem_ops.quar_set(&e.mm, IPP("10.0.0.99"), &stale);
	feed(&e, PS_SVC, PE_ADDED,
	     "{\"kind\":\"Service\",\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\"},"
	     "\"spec\":{\"selector\":{\"app\":\"nginx\",\"enabled\":\"true\"},\"clusterIP\":\"10.96.0.10\","
	     "\"ports\":[{\"name\":\"http\",\"port\":80}]}}");
	feed(&e, PS_EPS, PE_ADDED, SLICE("nginx-abcde", "nginx",
	     "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
	     EP("nginx-1", "10.0.0.1", "true", "true", "false")));
	/* Partial state during the initial lists must not touch the maps. */
	ASSERT_EQ(e.mm.quar.n, 2, "adopted entries kept before sync");
	ASSERT_EQ(e.mm.writes, 2, "no writes before sync");
	feed(&e, PS_POD_META, PE_ADDED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_EQ(e.mm.quar.n, 2, "still nothing written");
	resync(&e);
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "still-quarantined pod kept");
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1")->action, STEER_ACT_DRAIN, "rewritten with current action");
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.99") == NULL, 1, "stale entry swept after sync");
	env_fini(&e);
}

TEST(bad_input_skipped_enforcement_kept)
{
	struct env e;
	int err;

	env_init(&e, true);
	seed(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined");

	err = feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", "[\"not\",\"a map\"]", "{}"));
	ASSERT_EQ(err, -EINVAL, "labels of wrong type rejected");
	err = feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", "{\"app\":7}", "{}"));
	ASSERT_EQ(err, -EINVAL, "label value of wrong type rejected");
	err = feed(&e, PS_POD_META, PE_MODIFIED, "{\"metadata\":{\"namespace\":\"default\"}}");
	ASSERT_EQ(err, -EINVAL, "missing name");
	err = feed(&e, PS_POD_META, PE_MODIFIED, "[1,2,3]");
	ASSERT_EQ(err, -EINVAL, "not an object");
	err = feed(&e, PS_SVC, PE_MODIFIED,
		   "{\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\"},"
		   "\"spec\":{\"selector\":{\"app\":\"nginx\"},\"clusterIP\":\"10.96.0.300\",\"ports\":[]}}");
	ASSERT_EQ(err, -EINVAL, "invalid clusterIP");
	err = feed(&e, PS_SVC, PE_MODIFIED,
		   "{\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\"},"
		   "\"spec\":{\"selector\":{\"app\":\"nginx\"},\"clusterIP\":\"10.96.0.10\","
		   "\"ports\":[{\"port\":70000}]}}");
	ASSERT_EQ(err, -EINVAL, "invalid port");
	err = feed(&e, PS_EPS, PE_MODIFIED, SLICE("nginx-abcde", "nginx", "[{\"port\":\"x\"}]",
		   EP("nginx-2", "10.0.0.2", "true", "true", "false")));
	ASSERT_EQ(err, -EINVAL, "port of wrong type");
	err = feed(&e, PS_EPS, PE_MODIFIED, SLICE("nginx-abcde", "nginx", "[{\"port\":8080}]",
		   EP("nginx-2", "10.0.0.256", "true", "true", "false")));
	ASSERT_EQ(err, -EINVAL, "invalid endpoint IP");
	err = feed(&e, PS_EPS, PE_MODIFIED,
		   "{\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},\"addressType\":\"IPv4\"}");
	ASSERT_EQ(err, -EINVAL, "slice without service label");

	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantine survived bad input");
	{
		const struct memsvc *s = memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP);

		if (ASSERT_OK_PTR(s, "steering survived"))
			ASSERT_EQ(s->val.count, 2, "backends unchanged");
	}
	env_fini(&e);
}

/* A dual-stack Service as the API serves it: clusterIPs and ipFamilies, a slice per family. */
static void seed_dual(struct env *e)
{
	feed(e, PS_SVC, PE_ADDED,
	     "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\","
	     "\"namespace\":\"default\"},\"spec\":{\"type\":\"ClusterIP\",\"selector\":"
	     "{\"app\":\"nginx\",\"enabled\":\"true\"},\"clusterIP\":\"fd00:96::20\","
	     "\"clusterIPs\":[\"fd00:96::20\",\"10.96.0.20\"],\"ipFamilies\":[\"IPv6\",\"IPv4\"],"
	     "\"ipFamilyPolicy\":\"RequireDualStack\",\"ports\":[{\"name\":\"http\",\"port\":80,"
	     "\"protocol\":\"TCP\",\"targetPort\":8080}]}}");
	feed(e, PS_EPS, PE_ADDED, SLICE_OF("IPv4", "web-v4", "web",
	     "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
	     EP("nginx-1", "10.0.0.1", "true", "true", "false") ","
	     EP("nginx-2", "10.0.0.2", "true", "true", "false")));
	feed(e, PS_EPS, PE_ADDED, SLICE_OF("IPv6", "web-v6", "web",
	     "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
	     EP("nginx-1", "fd00:10::1", "true", "true", "false") ","
	     EP("nginx-2", "fd00:10::2", "true", "true", "false")));
	feed(e, PS_POD_META, PE_ADDED, META("nginx-1", NGINX_LABELS, "{}"));
	feed(e, PS_POD_META, PE_ADDED, META("nginx-2", NGINX_LABELS, "{}"));
	resync(e);
}

TEST(dual_stack_pod_quarantined_and_released_on_both_addresses)
{
	const struct memsvc *s4, *s6;
	struct env e;

	env_init(&e, true);
	seed_dual(&e);
	ASSERT_EQ(e.mm.quar.n, 0, "nothing quarantined at first");
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "one relabel: IPv4 address quarantined");
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "fd00:10::1"), "and the IPv6 one");
	s4 = memmaps_svc(&e.mm, "10.96.0.20", 80, IPPROTO_TCP);
	s6 = memmaps_svc(&e.mm, "fd00:96::20", 80, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s4, "IPv4 VIP steered") && ASSERT_OK_PTR(s6, "IPv6 VIP steered")) {
		ASSERT_TRUE(s4->val.count == 1 && memsvc_has(s4, "10.0.0.2", 8080),
			    "IPv4 VIP to the IPv4 backend left");
		ASSERT_TRUE(s6->val.count == 1 && memsvc_has(s6, "fd00:10::2", 8080),
			    "IPv6 VIP to the IPv6 backend left");
	}
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", NGINX_LABELS, "{}"));
	ASSERT_TRUE(!memmaps_quar(&e.mm, "10.0.0.1") && !memmaps_quar(&e.mm, "fd00:10::1"),
		    "one relabel back releases both");
	/* Explicit: the quarantine selector's Pod carries both podIPs. */
	feed(&e, PS_POD_QUAR, PE_ADDED, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"nginx-2\","
	     "\"namespace\":\"default\",\"labels\":" NGINX_LABELS "},\"status\":{\"podIP\":"
	     "\"10.0.0.2\",\"podIPs\":[{\"ip\":\"10.0.0.2\"},{\"ip\":\"fd00:10::2\"}]}}");
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.2"), "podIPs[0] quarantined");
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "fd00:10::2"), "podIPs[1] quarantined");
	env_fini(&e);
}

static struct env *bad6_env;
static int bad6_err[3];

static void bad6_feed(void)
{
	struct env *e = bad6_env;

	bad6_err[0] = feed(e, PS_SVC, PE_MODIFIED,
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"selector\":"
		"{\"app\":\"nginx\"},\"clusterIPs\":[\"fd00:96::20\",\"fd00:96::zz\"],\"ports\":[]}}");
	bad6_err[1] = feed(e, PS_EPS, PE_MODIFIED, SLICE_OF("IPv6", "web-v6", "web",
		"[{\"port\":8080}]", EP("nginx-2", "10.0.0.2", "true", "true", "false")));
	bad6_err[2] = feed(e, PS_POD_QUAR, PE_ADDED, "{\"kind\":\"Pod\",\"metadata\":"
		"{\"name\":\"lone\",\"namespace\":\"default\",\"labels\":{}},"
		"\"status\":{\"podIPs\":[{\"ip\":\"10.0.0.9\"},{\"ip\":\"fd00::1::2\"}]}}");
}

TEST(bad_ipv6_input_skipped_with_object_and_field)
{
	char *log;
	struct env e;

	env_init(&e, true);
	seed_dual(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	bad6_env = &e;
	log = harness_capture(bad6_feed);
	ASSERT_EQ(bad6_err[0], -EINVAL, "Service with a bad clusterIPs entry skipped");
	ASSERT_EQ(bad6_err[1], -EINVAL, "IPv6 slice with an IPv4 address skipped");
	ASSERT_EQ(bad6_err[2], 0, "the Pod is kept, its addresses are not");
	ASSERT_TRUE(log && strstr(log, "skip service default/web: spec.clusterIPs[1]: not an IP address"),
		    "line names the Service and the field");
	ASSERT_TRUE(log && strstr(log, "skip endpointslice default/web-v6: endpoints[0].addresses: "
				  "missing or not an IPv6 address"), "line names the slice and the field");
	ASSERT_TRUE(log && strstr(log, "skip pod default/lone: status.podIPs[1].ip: not an IP address"),
		    "line names the Pod and the field");
	ASSERT_TRUE(!memmaps_quar(&e.mm, "10.0.0.9"), "no address taken from a bad podIPs");
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "fd00:10::1"), "enforcement in place survives");
	ASSERT_OK_PTR(memmaps_svc(&e.mm, "fd00:96::20", 80, IPPROTO_TCP), "steering survives");
	free(log);
	env_fini(&e);
}

TEST(huge_label_set)
{
	char *buf = malloc(600000), *p;
	struct env e;
	int i, err;

	env_init(&e, true);
	p = buf + sprintf(buf, "{\"metadata\":{\"name\":\"big\",\"namespace\":\"default\",\"labels\":{");
	for (i = 0; i < 5000; i++)
		p += sprintf(p, "%s\"k%d\":\"v%d\"", i ? "," : "", i, i);
	strcpy(p, "}}}");
	err = event(&e, PS_POD_META, PE_ADDED, buf);
	ASSERT_EQ(err, -EINVAL, "too many labels: skipped");
	/* 4000 is within limits. */
	p = buf + sprintf(buf, "{\"metadata\":{\"name\":\"big\",\"namespace\":\"default\",\"labels\":{");
	for (i = 0; i < 4000; i++)
		p += sprintf(p, "%s\"k%d\":\"v%d\"", i ? "," : "", i, i);
	strcpy(p, "}}}");
	ASSERT_OK(event(&e, PS_POD_META, PE_ADDED, buf), "4000 labels accepted");
	plan_flush(e.m);
	free(buf);
	env_fini(&e);
}

TEST(relist_drops_missing_objects)
{
	struct env e;

	env_init(&e, true);
	seed(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined");
	/* 410 -> relist: nginx-1 was deleted while the watch was down. */
	plan_list_begin(e.m, PS_POD_META);
	ASSERT_OK(event(&e, PS_POD_META, PE_ADDED, META("nginx-2", NGINX_LABELS, "{}")), "list");
	ASSERT_OK(event(&e, PS_POD_META, PE_ADDED, META("nginx-3", NGINX_LABELS, "{}")), "list");
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "kept during the relist");
	plan_list_end(e.m, PS_POD_META);
	plan_flush(e.m);
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1") == NULL, 1, "released: pod is gone");
	env_fini(&e);
}

TEST(selector_change_does_not_quarantine_everyone)
{
	struct env e;

	env_init(&e, true);
	seed(&e);
	ASSERT_OK(feed(&e, PS_SVC, PE_MODIFIED,
		       "{\"kind\":\"Service\",\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\"},"
		       "\"spec\":{\"selector\":{\"app\":\"nginx2\"},\"clusterIP\":\"10.96.0.10\","
		       "\"ports\":[{\"name\":\"http\",\"port\":80}]}}"),
		  "the Service event is accepted");
	ASSERT_EQ(e.mm.quar.n, 0, "no mass quarantine on a selector edit");
	/* The new selector is in force: once the slice follows it, leaving it quarantines. */
	ASSERT_OK(feed(&e, PS_EPS, PE_MODIFIED, SLICE("nginx-abcde", "nginx",
		       "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",
		       EP("web-1", "10.0.0.7", "true", "true", "false"))), "slice follows");
	ASSERT_OK(feed(&e, PS_POD_META, PE_ADDED, META("web-1", "{\"app\":\"nginx2\"}", "{}")),
		  "web-1");
	ASSERT_EQ(e.mm.quar.n, 0, "web-1 matches the new selector");
	ASSERT_OK(feed(&e, PS_POD_META, PE_MODIFIED, META("web-1", "{\"app\":\"debug\"}", "{}")),
		  "web-1 relabeled");
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.7"), "leaving the new selector quarantines");
	ASSERT_EQ(e.mm.quar.n, 1, "and nothing else");
	env_fini(&e);
}

/*
 * A quarantine write fails once: the reconciler keeps the key pending and
 * its retry (the timer's work, called here) writes it; no resync is needed,
 * and the steered service, written fine, is not touched again.
 */
TEST(write_failure_is_retried_without_resync)
{
	struct recon_stats st;
	unsigned long writes;
	struct env e;

	env_init(&e, true);
	seed(&e);
	e.mm.fail_next = 1;
	e.mm.fail_err = -E2BIG;
	ASSERT_OK(feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}")), "relabel");
	ASSERT_EQ(e.mm.quar.n, 0, "the quarantine write failed");
	ASSERT_OK_PTR(memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP), "the service was written");
	recon_get_stats(e.r, &st);
	ASSERT_EQ(st.write_errors, 1, "one write error");
	ASSERT_EQ(st.pending, 1, "the quarantine is pending");
	writes = e.mm.writes;
	ASSERT_EQ(recon_retry(e.r), 0, "nothing left after the retry");
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "the retry wrote it");
	ASSERT_EQ(e.mm.writes, writes + 1, "one write: the quarantine, nothing else");
	recon_get_stats(e.r, &st);
	ASSERT_EQ(st.syncs, 1, "no resync since the first");
	ASSERT_EQ(st.retried, 1, "one key retried");
	ASSERT_EQ(st.pending, 0, "nothing pending");
	/* A failed release is retried the same way. */
	e.mm.fail_next = 1;
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", NGINX_LABELS, "{}"));
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "the release failed");
	ASSERT_EQ(recon_retry(e.r), 0, "retried");
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.1") == NULL, "released by the retry");
	env_fini(&e);
}

struct transitions {
	int n;
	char key[64], uid[64];
	uint32_t node;
	bool on;
	int action;
};

static void record_transition(void *arg, const struct plan_pod *pod, bool on)
{
	struct transitions *t = arg;

	t->n++;
	snprintf(t->key, sizeof(t->key), "%s", pod->key);
	snprintf(t->uid, sizeof(t->uid), "%s", pod->uid);
	t->node = pod->node;
	t->on = on;
	t->action = pod->action;
}

/* What Events are built from: which pod, its uid and node, on or off. */
TEST(transitions_name_pod_uid_and_node)
{
	struct transitions t = {};
	struct env e = {
		.departure = true, .on_transition = record_transition, .transition_arg = &t,
	};

	fake_now = 1000000000;
	env_start(&e);
	seed(&e);
	ASSERT_EQ(t.n, 0, "no transition while nothing changes");
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-2", OFF_LABELS,
					     "{\"steer.dev/action\":\"drop\"}"));
	ASSERT_EQ(t.n, 1, "one transition for the relabel");
	ASSERT_STREQ(t.key, "default/nginx-2", "pod key");
	ASSERT_STREQ(t.uid, "u-nginx-2", "pod uid from its metadata");
	ASSERT_EQ(t.node, obj_node_hash("node-1"), "node from the slice's nodeName");
	ASSERT_NEQ(t.node, obj_node_hash("node-2"), "another node's hash differs");
	ASSERT_TRUE(t.on, "quarantined");
	ASSERT_EQ(t.action, STEER_ACT_DROP, "action from the annotation");
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-2", NGINX_LABELS, "{}"));
	ASSERT_EQ(t.n, 2, "one more for the release");
	ASSERT_FALSE(t.on, "released");
	env_fini(&e);
}

/* ------------------------------------------------- restart (DESIGN §4) */

#define NGINX_SVC                                                                     \
	"{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"nginx\","   \
	"\"namespace\":\"default\"},\"spec\":{\"type\":\"ClusterIP\",\"selector\":"        \
	"{\"app\":\"nginx\",\"enabled\":\"true\"},\"clusterIP\":\"10.96.0.10\","           \
	"\"clusterIPs\":[\"10.96.0.10\"],\"ports\":[{\"name\":\"http\",\"port\":80,"        \
	"\"protocol\":\"TCP\",\"targetPort\":\"web\"}]}}"
#define SLICE_WITHOUT_1 SLICE("nginx-abcde", "nginx",                                 \
	"[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]",                       \
	EP("nginx-2", "10.0.0.2", "true", "true", "false") ","                           \
	EP("nginx-3", "10.0.0.3", "true", "true", "false"))

static void list_one(struct env *e, enum plan_src src, const char *json)
{
	ASSERT_OK(event(e, src, PE_ADDED, json), "listed object accepted");
	plan_flush(e->m);
}

/* nginx-1 relabeled out, and the EndpointSlice controller has dropped it. */
static void departed_and_dropped(struct env *e)
{
	seed(e);
	feed(e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	feed(e, PS_EPS, PE_MODIFIED, SLICE_WITHOUT_1);
}

/*
 * steerd dies and a new one starts over the same pinned maps: a new planner
 * and reconciler,
 * the initial lists as control.c runs them (services, slices without
 * nginx-1, pod metadata with or without nginx-1), then the first resync.
 */
static void restart(struct env *e, const char *nginx1_labels)
{
	env_stop(e);
	fake_now += 5ULL * 1000000000;
	env_start(e);
	plan_list_begin(e->m, PS_SVC);
	list_one(e, PS_SVC, NGINX_SVC);
	plan_list_end(e->m, PS_SVC);
	plan_list_begin(e->m, PS_EPS);
	list_one(e, PS_EPS, SLICE_WITHOUT_1);
	plan_list_end(e->m, PS_EPS);
	plan_list_begin(e->m, PS_POD_META);
	if (nginx1_labels) {
		char buf[1024];

		snprintf(buf, sizeof(buf),
			 "{\"kind\":\"PartialObjectMetadata\",\"metadata\":{\"name\":\"nginx-1\","
			 "\"namespace\":\"default\",\"uid\":\"u-nginx-1\",\"labels\":%s}}",
			 nginx1_labels);
		list_one(e, PS_POD_META, buf);
	}
	list_one(e, PS_POD_META, META("nginx-2", NGINX_LABELS, "{}"));
	list_one(e, PS_POD_META, META("nginx-3", NGINX_LABELS, "{}"));
	plan_list_end(e->m, PS_POD_META);
	plan_flush(e->m);
}

TEST(restart_keeps_departure_after_slice_dropped_pod)
{
	const struct steer_member_val *mv;
	const struct steer_quar_val *q;
	const struct memsvc *s;
	uint32_t old_gen;
	uint64_t since;
	struct env e;

	env_init(&e, true);
	departed_and_dropped(&e);
	q = memmaps_quar(&e.mm, "10.0.0.1");
	if (!ASSERT_OK_PTR(q, "quarantined before the restart"))
		goto cleanup;
	since = q->since;
	mv = memmaps_member(&e.mm, "u-nginx-1", "default/nginx");
	if (!ASSERT_OK_PTR(mv, "membership persisted"))
		goto cleanup;
	ASSERT_TRUE(addr_eq(&mv->addr[0], IPP("10.0.0.1")), "with the pod's address");
	old_gen = mv->gen;
	ASSERT_OK_PTR(memmaps_member(&e.mm, "u-nginx-2", "default/nginx"), "nginx-2 too");
	ASSERT_EQ(e.mm.member.n, 3, "one entry per member");

	restart(&e, OFF_LABELS);
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "untouched before the first resync");
	resync(&e);

	q = memmaps_quar(&e.mm, "10.0.0.1");
	if (ASSERT_OK_PTR(q, "still quarantined after the restart")) {
		ASSERT_EQ(q->origin, STEER_ORIGIN_API, "origin");
		ASSERT_EQ(q->since, since, "original time kept");
	}
	ASSERT_TRUE(pod_quarantined(&e, "default/nginx-1", NULL), "model agrees");
	ASSERT_TRUE(plan_svc_steered(e.m, "default/nginx"), "service still steered");
	s = memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP);
	if (ASSERT_OK_PTR(s, "steered service entry kept")) {
		ASSERT_EQ(s->val.count, 2, "two backends");
		ASSERT_FALSE(memsvc_has(s, "10.0.0.1", 8080), "departed pod excluded");
	}
	mv = memmaps_member(&e.mm, "u-nginx-1", "default/nginx");
	if (ASSERT_OK_PTR(mv, "membership kept")) {
		/* It was right: the resync compares, it does not rewrite. */
		ASSERT_EQ(mv->gen, old_gen, "not rewritten");
		ASSERT_TRUE(addr_eq(&mv->addr[0], IPP("10.0.0.1")), "address kept");
	}
	ASSERT_EQ(e.mm.member.n, 3, "nothing swept");

	/* A second restart remembers it just as well. */
	restart(&e, OFF_LABELS);
	resync(&e);
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined after a second restart");

	/* Relabel back: released; it is a matching member again, so it stays remembered. */
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", NGINX_LABELS, "{}"));
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1") == NULL, 1, "released on relabel back");
	ASSERT_FALSE(pod_quarantined(&e, "default/nginx-1", NULL), "model agrees");
	ASSERT_OK_PTR(memmaps_member(&e.mm, "u-nginx-1", "default/nginx"),
		      "still a member");
	/* Restarting now does not quarantine it: it matches. */
	restart(&e, NGINX_LABELS);
	resync(&e);
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1") == NULL, 1, "not quarantined after restart");
cleanup:
	env_fini(&e);
}

TEST(resync_repairs_only_wrong_memberships)
{
	struct steer_member_key bogus = { .pod = 1, .svc = 2 }, k2 = {
		.pod = plan_pod_hash("u-nginx-2", NULL), .svc = plan_svc_hash("default/nginx"),
	}, k3 = {
		.pod = plan_pod_hash("u-nginx-3", NULL), .svc = plan_svc_hash("default/nginx"),
	};
	struct steer_member_val v = { .gen = 1, .addr = { addr_lit("10.9.9.9") } };
	const struct steer_member_val *mv;
	uint32_t gen1;
	struct env e;

	env_init(&e, true);
	departed_and_dropped(&e);
	mv = memmaps_member(&e.mm, "u-nginx-1", "default/nginx");
	if (!ASSERT_OK_PTR(mv, "remembered"))
		goto cleanup;
	gen1 = mv->gen;
	mem_ops.member_del(&e.mm, &k2);
	mem_ops.member_set(&e.mm, &k3, &v);
	mem_ops.member_set(&e.mm, &bogus, &v);
	resync(&e);
	ASSERT_OK_PTR(memmaps_member(&e.mm, "u-nginx-2", "default/nginx"), "missing written");
	mv = memmaps_member(&e.mm, "u-nginx-3", "default/nginx");
	if (ASSERT_OK_PTR(mv, "wrong kept"))
		ASSERT_TRUE(addr_eq(&mv->addr[0], IPP("10.0.0.3")), "wrong address repaired");
	ASSERT_EQ(table_get(&e.mm.member, &bogus, sizeof(bogus)) == NULL, 1, "unwanted swept");
	mv = memmaps_member(&e.mm, "u-nginx-1", "default/nginx");
	if (ASSERT_OK_PTR(mv, "right entry kept"))
		ASSERT_EQ(mv->gen, gen1, "right entry not rewritten");
	ASSERT_EQ(e.mm.member.n, 3, "one entry per member");
cleanup:
	env_fini(&e);
}

/*
 * An upgrade: the steerd before UID keys remembered pods by "namespace/name".
 * The new one matches such an entry by name once, keeps the departed pod
 * quarantined, and leaves its memory under the UID only.
 */
TEST(upgrade_keeps_memory_written_under_the_pod_name)
{
	struct steer_member_key uid_key = {
		.pod = plan_pod_hash("u-nginx-1", NULL), .svc = plan_svc_hash("default/nginx"),
	}, name_key = uid_key;
	struct steer_member_val v = { .gen = 1, .addr = { addr_lit("10.0.0.1") } };
	struct env e;

	env_init(&e, true);
	departed_and_dropped(&e);
	name_key.pod = plan_pod_hash(NULL, "default/nginx-1");
	ASSERT_NEQ(name_key.pod, uid_key.pod, "the two keys differ");
	/* What the older steerd left instead: the name-keyed entry. */
	ASSERT_OK(mem_ops.member_del(&e.mm, &uid_key), "drop the uid entry");
	ASSERT_OK(mem_ops.member_set(&e.mm, &name_key, &v), "as an older steerd wrote it");
	restart(&e, OFF_LABELS);
	resync(&e);
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "still quarantined after the upgrade");
	ASSERT_OK_PTR(table_get(&e.mm.member, &uid_key, sizeof(uid_key)), "remembered by uid");
	ASSERT_TRUE(table_get(&e.mm.member, &name_key, sizeof(name_key)) == NULL,
		    "the name-keyed entry swept");
	/* And from now on by uid alone: another restart still has it. */
	restart(&e, OFF_LABELS);
	resync(&e);
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined after the next restart");
	env_fini(&e);
}

/* A pod deleted and recreated under its name while steerd was down: a new uid, no memory. */
TEST(recreated_pod_does_not_inherit_departure_memory)
{
	struct env e;
	char buf[512];

	env_init(&e, true);
	departed_and_dropped(&e);
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined");
	env_stop(&e);
	fake_now += 5ULL * 1000000000;
	env_start(&e);
	list_one(&e, PS_SVC, NGINX_SVC);
	list_one(&e, PS_EPS, SLICE_WITHOUT_1);
	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"nginx-1\",\"namespace\":\"default\","
		 "\"uid\":\"u-nginx-1-again\",\"labels\":%s}}", OFF_LABELS);
	list_one(&e, PS_POD_META, buf);
	list_one(&e, PS_POD_META, META("nginx-2", NGINX_LABELS, "{}"));
	list_one(&e, PS_POD_META, META("nginx-3", NGINX_LABELS, "{}"));
	resync(&e);
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.1") == NULL, "the new pod is not quarantined");
	ASSERT_TRUE(memmaps_member(&e.mm, "u-nginx-1", "default/nginx") == NULL,
		    "the old pod's memory swept");
	ASSERT_TRUE(pod_quarantined(&e, "default/nginx-1", NULL) == false, "planner agrees");
	env_fini(&e);
}

TEST(restart_sweeps_memory_of_pod_deleted_while_down)
{
	struct env e;

	env_init(&e, true);
	departed_and_dropped(&e);
	ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "quarantined");
	ASSERT_OK_PTR(memmaps_member(&e.mm, "u-nginx-1", "default/nginx"), "remembered");

	/* nginx-1 was deleted while steerd was down: the new list lacks it. */
	restart(&e, NULL);
	resync(&e);
	ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1") == NULL, 1, "quarantine swept");
	ASSERT_EQ(memmaps_member(&e.mm, "u-nginx-1", "default/nginx") == NULL, 1,
		  "membership swept");
	ASSERT_OK_PTR(memmaps_member(&e.mm, "u-nginx-2", "default/nginx"),
		      "live members kept");
	ASSERT_EQ(memmaps_svc(&e.mm, "10.96.0.10", 80, IPPROTO_TCP) == NULL, 1,
		  "service no longer steered");
	env_fini(&e);
}

TEST(restart_keeps_manual_quarantine_of_departed_pod)
{
	struct steer_quar_val v;
	struct env e;

	env_init(&e, true);
	departed_and_dropped(&e);
	/* steerctl quarantine 10.0.0.1 took the address over by hand. */
	mem_ops.quar_get(&e.mm, IPP("10.0.0.1"), &v);
	v.origin = STEER_ORIGIN_MANUAL;
	v.action = STEER_ACT_RESET;
	mem_ops.quar_set(&e.mm, IPP("10.0.0.1"), &v);
	restart(&e, OFF_LABELS);
	resync(&e);
	if (ASSERT_OK_PTR(memmaps_quar(&e.mm, "10.0.0.1"), "kept")) {
		ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1")->origin, STEER_ORIGIN_MANUAL, "still manual");
		ASSERT_EQ(memmaps_quar(&e.mm, "10.0.0.1")->action, STEER_ACT_RESET, "action untouched");
	}
	env_fini(&e);
}

TEST(membership_forgotten_with_service_or_pod)
{
	struct env e;

	env_init(&e, true);
	seed(&e);
	ASSERT_EQ(e.mm.member.n, 3, "three members written at the first resync");
	feed(&e, PS_POD_META, PE_DELETED, META("nginx-3", NGINX_LABELS, "{}"));
	ASSERT_EQ(memmaps_member(&e.mm, "u-nginx-3", "default/nginx") == NULL, 1,
		  "deleted pod forgotten");
	feed(&e, PS_SVC, PE_MODIFIED,
	     "{\"kind\":\"Service\",\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\"},"
	     "\"spec\":{\"selector\":{\"app\":\"nginx2\"},\"clusterIP\":\"10.96.0.10\","
	     "\"ports\":[{\"name\":\"http\",\"port\":80}]}}");
	ASSERT_EQ(e.mm.member.n, 0, "selector change forgets the members");
	feed(&e, PS_EPS, PE_MODIFIED, SLICE_WITHOUT_1);
	ASSERT_EQ(e.mm.member.n, 0, "slice pods do not match the new selector");
	feed(&e, PS_SVC, PE_MODIFIED, NGINX_SVC);
	feed(&e, PS_EPS, PE_MODIFIED, SLICE_WITHOUT_1);
	ASSERT_EQ(e.mm.member.n, 1, "nginx-2 a member again under the old selector");
	feed(&e, PS_SVC, PE_DELETED, NGINX_SVC);
	ASSERT_EQ(e.mm.member.n, 0, "deleted service forgets its members");
	env_fini(&e);
}

TEST(no_departure_writes_no_membership)
{
	struct env e;

	env_init(&e, false);
	seed(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	resync(&e);
	ASSERT_EQ(e.mm.member.n, 0, "nothing written with --no-departure");
	ASSERT_EQ(e.mm.quar.n, 0, "nothing quarantined");
	env_fini(&e);
}

#define NODE(name, ip)                                                                \
	"{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name   \
	"\"},\"status\":{\"addresses\":[{\"type\":\"Hostname\",\"address\":\"" name  \
	"\"},{\"type\":\"InternalIP\",\"address\":\"" ip "\"}]}}"

/*
 * A hostNetwork pod's address is its node's: quarantining it would cut the
 * node off from every pod on it, so steer leaves it to kube-proxy.
 */
TEST(node_address_is_never_quarantined)
{
	struct env e;

	env_init(&e, true);
	feed(&e, PS_NODE, PE_ADDED, NODE("node-1", "10.0.0.2"));
	seed(&e);
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-2", OFF_LABELS, "{}"));
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.2") == NULL, "node IP not quarantined");
	feed(&e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{}"));
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.1") != NULL, "a pod IP still is");
	/* The node goes away: its address is an ordinary pod IP again. */
	feed(&e, PS_NODE, PE_DELETED, NODE("node-1", "10.0.0.2"));
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.2") != NULL, "quarantined once not a node IP");
	/* A relist that no longer has a node forgets its addresses too. */
	feed(&e, PS_NODE, PE_ADDED, NODE("node-9", "10.0.0.1"));
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.1") == NULL, "released when it became a node IP");
	plan_list_begin(e.m, PS_NODE);
	plan_list_end(e.m, PS_NODE);
	plan_flush(e.m);
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.1") != NULL, "relist dropped node-9");
	/* Bad node data is skipped and changes nothing. */
	ASSERT_EQ(feed(&e, PS_NODE, PE_ADDED,
		       "{\"metadata\":{\"name\":\"x\"},\"status\":{\"addresses\":7}}"),
		  -EINVAL, "addresses not a list");
	ASSERT_TRUE(memmaps_quar(&e.mm, "10.0.0.1") != NULL, "still quarantined");
	env_fini(&e);
}

/* --------------------------------- the decision log, a documented stream */

static struct env *log_env;

static void decisions(void)
{
	struct env *e = log_env;

	feed(e, PS_POD_META, PE_MODIFIED, META("nginx-1", OFF_LABELS, "{\"steer.dev/action\":\"drop\"}"));
	feed(e, PS_POD_QUAR, PE_ADDED,
	     POD("nginx-2", "10.0.0.2", "{\"steer.dev/quarantine\":\"\"}", "{}"));
	feed(e, PS_POD_META, PE_MODIFIED, META("nginx-1", NGINX_LABELS, "{}"));
	feed(e, PS_POD_QUAR, PE_DELETED, POD("nginx-2", "10.0.0.2", "{}", "{}"));
	fake_now += 61ULL * 1000000000;
	plan_tick(e->m);
}

/*
 * The README documents steerd's decision lines as a stable interface (the
 * benchmark reads them): these are their fields, in this order, for every
 * kind of decision.
 */
TEST(decision_lines_keep_their_documented_fields)
{
	static const char *const want[] = {
		"level=info component=model decision=quarantine object=pod/default/nginx-1 "
		"ip=10.0.0.1 action=drop services=1 origin=departure",
		"level=info component=model decision=steer object=service/default/nginx",
		"level=info component=model decision=quarantine object=pod/default/nginx-2 "
		"ip=10.0.0.2 action=drain services=1 origin=selector",
		"level=info component=model decision=release object=pod/default/nginx-1 ip=10.0.0.1",
		"level=info component=model decision=release object=pod/default/nginx-2 ip=10.0.0.2",
		"level=info component=model decision=unsteer object=service/default/nginx settled=true",
	};
	char *out, *line, *save = NULL;
	size_t n = 0;
	struct env e;

	env_init(&e, true);
	seed(&e);
	log_env = &e;
	out = harness_capture(decisions);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *rest = strchr(line, ' ');

		if (!strstr(line, " component=model decision="))
			continue;
		/* ts=RFC 3339 UTC with microseconds, then the fields. */
		CHECK_(!strncmp(line, "ts=", 3) && rest && rest - line == 30 && rest[-1] == 'Z',
		       "timestamp of \"%s\"", line);
		if (CHECK_(n < sizeof(want) / sizeof(want[0]), "extra line \"%s\"", line))
			CHECK_(rest && !strcmp(rest + 1, want[n]), "line %zu: \"%s\", expected \"%s\"",
			       n, rest ? rest + 1 : line, want[n]);
		n++;
	}
	ASSERT_EQ(n, sizeof(want) / sizeof(want[0]), "one line per decision");
	free(out);
	env_fini(&e);
}
