// SPDX-License-Identifier: MIT
/*
 * The control plane against the API server simulator (tools/cluster/
 * apiserver.py): real HTTPS list and watch with a bearer token, the seed's
 * relabel, explicit quarantine, and relabel back, landing in the
 * reconciler's in-memory double; then a quarantine write that the real map
 * layer refuses once, repaired by the reconciler's retry; then an API
 * server frozen (SIGSTOP) and one blackholed (iptables DROP in a netns of
 * the test's own), each detected within client-go's 45 s and reconnected.
 * Skips when python3 or the simulator is missing (and the BPF, netns and
 * iptables cases without root).
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "datapath/datapath.h"
#include "harness.h"
#include "kube/config.h"
#include "memmaps.h"

static pid_t sim;
static char state[64];
static struct kube_config cfg;

struct buf {
	char *p;
	size_t n;
};

static size_t wr(char *d, size_t s, size_t n, void *arg)
{
	struct buf *b = arg;

	b->p = realloc(b->p, b->n + s * n + 1);
	memcpy(b->p + b->n, d, s * n);
	b->n += s * n;
	b->p[b->n] = 0;
	return s * n;
}

/* Blocking request as the test's "kubectl". */
static cJSON *api(const char *method, const char *path, const char *body, const char *ctype)
{
	struct curl_slist *h = NULL;
	struct buf b = {};
	char url[512], auth[512], ct[128];
	CURL *e = curl_easy_init();
	cJSON *out;

	snprintf(url, sizeof(url), "%s%s", cfg.server, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg.token);
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, ct);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	if (cfg.ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg.ca_file);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, wr);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_perform(e);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	out = b.p ? cJSON_Parse(b.p) : NULL;
	free(b.p);
	return out;
}

static bool start_sim(void)
{
	char info[256], kc[300];
	int i;

	if (access("tools/cluster/apiserver.py", R_OK) || system("python3 -c 1 2>/dev/null"))
		return false;
	snprintf(state, sizeof(state), "/tmp/steer-sim.XXXXXX");
	if (!mkdtemp(state))
		return false;
	sim = fork();
	if (!sim) {
		char log[300];

		snprintf(log, sizeof(log), "%s/log", state);
		freopen(log, "w", stdout);
		freopen(log, "a", stderr);
		execlp("python3", "python3", "tools/cluster/apiserver.py", "--state", state,
		       "--fake-nodes", "2", "--bookmark-interval", "0.3", (char *)NULL);
		_exit(127);
	}
	snprintf(info, sizeof(info), "%s/apiserver.json", state);
	for (i = 0; i < 300 && access(info, R_OK); i++)
		usleep(50000);
	snprintf(kc, sizeof(kc), "%s/kubeconfig", state);
	return !access(info, R_OK) && !kube_config_load(&cfg, kc);
}

static void stop_sim(void)
{
	char cmd[300];

	if (sim > 0) {
		kill(sim, SIGTERM);
		waitpid(sim, NULL, 0);
	}
	sim = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state);
	system(cmd);
	kube_config_free(&cfg);
	memset(&cfg, 0, sizeof(cfg));
}

struct wait {
	struct loop *loop;
	struct loop_timer *t;
	bool (*pred)(void *);
	void *arg;
	int left;
};

static void tick(struct loop *loop, void *arg)
{
	struct wait *w = arg;

	if (w->pred(w->arg))
		loop_stop(loop, 0);
	else if (--w->left <= 0)
		loop_stop(loop, 1);
	else
		loop_timer_arm(w->t, 20);
}

static bool run_until(struct loop *loop, bool (*pred)(void *), void *arg, int ms)
{
	struct wait w = { .loop = loop, .pred = pred, .arg = arg, .left = ms / 20 };
	int rc;

	w.t = loop_timer_new(loop, tick, &w);
	loop_timer_arm(w.t, 1);
	rc = loop_run(loop);
	loop_timer_free(w.t);
	return rc == 0;
}

struct ctx {
	struct control *ctl;
	struct recon *recon;
	struct memmaps *mm;
	const struct steer_maps *maps;	/* the real ones, instead of mm */
	const char *ip;
	uint8_t action;
};

static bool synced(void *arg)
{
	return control_synced(((struct ctx *)arg)->ctl);
}

static bool quarantined(void *arg)
{
	struct ctx *c = arg;
	const struct steer_quar_val *q;
	struct steer_quar_val v;

	if (c->maps)
		return !maps_quar_get(c->maps, IPP(c->ip), &v) && v.action == c->action &&
		       v.origin == STEER_ORIGIN_API;
	q = memmaps_quar(c->mm, c->ip);
	return q && q->action == c->action;
}

static bool released(void *arg)
{
	struct ctx *c = arg;

	return !memmaps_quar(c->mm, c->ip);
}

static bool write_failed(void *arg)
{
	struct recon_stats st;

	recon_get_stats(((struct ctx *)arg)->recon, &st);
	return st.write_errors > 0;
}

static bool steered_without(void *arg)
{
	struct ctx *c = arg;
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &c->mm->svc);
	while ((e = table_iter_next(&it))) {
		const struct memsvc *s = e->val;

		if (s->val.count >= 2 && !memsvc_has(s, c->ip, 8080))
			return true;
	}
	return false;
}

static int pods_on_nodes(char names[][64], char ips[][20], char nodes[][64], int max);

static int svc_without(const struct steer_svc_key *k, const struct steer_svc_val *v, void *arg)
{
	struct steer_backend_val be[16];
	struct ctx *c = arg;
	struct steer_svc_val sv;
	uint32_t n = 0;

	if (v->count < 2 || maps_svc_get(c->maps, k, &sv, be, 16, &n))
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (addr_eq(&be[i].addr, IPP(c->ip)))
			return 0;
	return 1;
}

static bool steered_real(void *arg)
{
	struct ctx *c = arg;

	return maps_svc_foreach(c->maps, svc_without, c) == 1;
}

static int ready_pods(char names[][64], char ips[][20], int max)
{
	return pods_on_nodes(names, ips, NULL, max);
}

static int pods_on_nodes(char names[][64], char ips[][20], char nodes[][64], int max)
{
	cJSON *l = api("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dnginx", NULL, NULL);
	const cJSON *it;
	int n = 0;

	cJSON_ArrayForEach(it, cJSON_GetObjectItem(l, "items")) {
		const cJSON *ip = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "status"), "podIP");
		const cJSON *nm = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "metadata"), "name");
		const cJSON *node = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "spec"), "nodeName");

		if (n < max && cJSON_IsString(ip) && cJSON_IsString(nm)) {
			snprintf(names[n], 64, "%s", nm->valuestring);
			snprintf(ips[n], 20, "%s", ip->valuestring);
			if (nodes)
				snprintf(nodes[n], 64, "%s", cJSON_IsString(node) ? node->valuestring : "");
			n++;
		}
	}
	cJSON_Delete(l);
	return n;
}

/* A Deployment of three nginx pods behind Service nginx, in the simulator. */
static int nginx_pods(char names[][64], char ips[][20])
{
	int i, n = 0;

	cJSON_Delete(api("POST", "/apis/apps/v1/namespaces/default/deployments",
		"{\"metadata\":{\"name\":\"nginx\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":"
		"{\"app\":\"nginx\",\"enabled\":\"true\"}},\"template\":{\"metadata\":{\"labels\":"
		"{\"app\":\"nginx\",\"enabled\":\"true\"}},\"spec\":{\"containers\":[{\"name\":\"nginx\","
		"\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]}}}}", NULL));
	cJSON_Delete(api("POST", "/api/v1/namespaces/default/services",
		"{\"metadata\":{\"name\":\"nginx\"},\"spec\":{\"selector\":{\"app\":\"nginx\",\"enabled\":\"true\"},"
		"\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"}]}}", NULL));
	for (i = 0; i < 100 && (n = ready_pods(names, ips, 8)) < 3; i++)
		usleep(100000);
	usleep(300000);	/* let the slice controller catch up */
	return n;
}

static void patch_pod(const char *name, const char *patch)
{
	char path[256];

	snprintf(path, sizeof(path), "/api/v1/namespaces/default/pods/%s", name);
	cJSON_Delete(api("PATCH", path, patch, "application/merge-patch+json"));
}

/* List requests the simulator served, by where upstream would read them. */
static long sim_lists(const char *read)
{
	cJSON *st = api("GET", "/_sim/state", NULL, NULL);
	const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "lists"), read);
	long v = cJSON_IsNumber(n) ? (long)n->valuedouble : -1;

	cJSON_Delete(st);
	return v;
}

static bool sim_served(void *arg)
{
	return sim_lists("cache") >= *(long *)arg;
}

static bool malformed_seen(void *arg)
{
	struct agent_metrics am = {};
	uint64_t n = 0;

	control_fill_metrics(((struct ctx *)arg)->ctl, &am);
	for (int i = 0; i < RES_MAX; i++)
		n += am.malformed_lines[i];
	return n > 0;
}

static bool all_relisted(void *arg)
{
	struct agent_metrics am = {};

	control_fill_metrics(((struct ctx *)arg)->ctl, &am);
	for (int i = 0; i < RES_MAX; i++)
		if (!am.relists[i] || am.lists[i] < 2)
			return false;
	return control_synced(((struct ctx *)arg)->ctl);
}

/* The control options of these tests, quarantine by label; see control_up(). */
static const struct control_opts sim_opts = {
	.quarantine_selector = "steer.dev/quarantine", .settle_s = 1, .resync_s = 300,
};

/*
 * A recon of ops on maps and a control plane on it, options o, reaching
 * the simulator by its kubeconfig; false (asserted as what) if it does not
 * start.
 */
static bool control_up(struct ctx *c, struct loop *loop, const struct recon_ops *ops, void *maps,
		       struct control_opts *o, const char *what)
{
	static char kc[300];

	snprintf(kc, sizeof(kc), "%s/kubeconfig", state);
	o->kubeconfig = kc;
	c->recon = recon_new(ops, maps, &(struct recon_opts){ .loop = loop });
	return ASSERT_OK(control_start(&c->ctl, loop, c->recon, o), what);
}

TEST(list_watch_quarantine_over_https)
{
	struct control_opts o = sim_opts;
	char names[8][64], ips[8][20];
	struct agent_metrics am = {};
	struct memmaps mm = {};
	struct ctx c = { .mm = &mm };
	struct loop *loop = NULL;
	long quorum, cache;

	if (!start_sim()) {
		test_skip("API server simulator not available");
		goto cleanup;
	}
	ASSERT_OK_PTR(strstr(cfg.server, "https://"), "HTTPS");
	ASSERT_OK_PTR(cfg.token, "bearer token");
	if (!ASSERT_EQ(nginx_pods(names, ips), 3, "three pods with IPs"))
		goto cleanup;

	loop = loop_new();
	if (!control_up(&c, loop, &mem_ops, &mm, &o, "control_start"))
		goto cleanup;
	ASSERT_TRUE(run_until(loop, synced, &c, 5000), "initial lists over HTTPS");
	ASSERT_EQ(mm.quar.n, 0, "nothing quarantined");

	/* The seed: kubectl label pod X enabled=false --overwrite */
	c.ip = ips[0];
	c.action = STEER_ACT_DRAIN;
	patch_pod(names[0], "{\"metadata\":{\"labels\":{\"enabled\":\"false\"}}}");
	ASSERT_TRUE(run_until(loop, quarantined, &c, 3000), "departure quarantined via watch");
	ASSERT_TRUE(run_until(loop, steered_without, &c, 3000), "service steered without it");

	/* Explicit quarantine with an action, on another pod. */
	c.ip = ips[1];
	c.action = STEER_ACT_DROP;
	patch_pod(names[1], "{\"metadata\":{\"labels\":{\"steer.dev/quarantine\":\"true\"},"
		  "\"annotations\":{\"steer.dev/action\":\"drop\"}}}");
	ASSERT_TRUE(run_until(loop, quarantined, &c, 3000), "explicit quarantine entered (ADDED)");
	patch_pod(names[1], "{\"metadata\":{\"labels\":{\"steer.dev/quarantine\":null}}}");
	ASSERT_TRUE(run_until(loop, released, &c, 3000), "left the selector (DELETED): released");

	/* Relabel back. */
	c.ip = ips[0];
	patch_pod(names[0], "{\"metadata\":{\"labels\":{\"enabled\":\"true\"}}}");
	ASSERT_TRUE(run_until(loop, released, &c, 3000), "relabel back releases");

	/*
	 * The metadata watch asks for single PartialObjectMetadata: a watch
	 * asking for a ...List ends at its first event (as upstream's does),
	 * and re-watching from there is a hot loop.
	 */
	control_fill_metrics(c.ctl, &am);
	ASSERT_LE(am.watches[RES_PODS], 3, "pod metadata watches started");
	ASSERT_GE(am.events[RES_PODS], 2, "pod metadata events received");

	/* A malformed line is skipped and counted; the watch goes on. */
	cJSON_Delete(api("POST", "/_sim/fault", "{\"inject\":\"{\\\"type\\\":\\\"MODIFIED\\\",\\\"obj\"}",
			 NULL));
	ASSERT_TRUE(run_until(loop, malformed_seen, &c, 3000), "malformed watch line counted");
	/* The Deployment may have scaled one away: ask again. */
	if (!ASSERT_GE(ready_pods(names, ips, 8), 1, "pods now"))
		goto cleanup;
	c.ip = ips[0];
	c.action = STEER_ACT_DRAIN;
	patch_pod(names[0], "{\"metadata\":{\"labels\":{\"steer.dev/quarantine\":\"true\"}}}");
	ASSERT_TRUE(run_until(loop, quarantined, &c, 3000), "the watch went on past it");

	/*
	 * Every watch gets 410 Gone at once, as after an API server restart:
	 * the relists come from the watch cache, none is a quorum read.
	 */
	quorum = sim_lists("quorum");
	cache = sim_lists("cache");
	cJSON_Delete(api("POST", "/_sim/fault", "{\"expire_history\":true,\"expire_watches\":true}",
			 NULL));
	ASSERT_TRUE(run_until(loop, all_relisted, &c, 5000), "every reflector relisted");
	cache += 5;
	/* steerd counts a list when it sends it, the simulator when it serves it. */
	ASSERT_TRUE(run_until(loop, sim_served, &cache, 3000), "5 lists served from the watch cache");
	ASSERT_EQ(sim_lists("quorum") - quorum, 0, "quorum reads from etcd for the relists");
	control_fill_metrics(c.ctl, &am);
	ASSERT_GE(am.lists[RES_PODS], 2, "pod metadata listed twice");
	ASSERT_EQ(am.quorum_lists[RES_PODS], 0, "steer_api_requests_total read=quorum");
cleanup:
	control_stop(c.ctl);
	recon_free(c.recon);
	loop_free(loop);
	memmaps_free(&mm);
	stop_sim();
}

static int count_manual(const struct steer_addr *addr, const struct steer_quar_val *v, void *arg)
{
	*(uint32_t *)arg += v->origin == STEER_ORIGIN_MANUAL;
	return 0;
}

/*
 * The write-failure path end to end, over the real maps of the loaded BPF
 * objects: steer_quar is full of manual entries, so the kernel refuses the
 * quarantine a relabel asks for (E2BIG). One entry is then freed: the
 * reconciler's retry timer writes the quarantine, with no resync, and the
 * pod ends up enforced.
 */
TEST(quarantine_write_refused_once_is_retried)
{
	struct control_opts o = sim_opts;
	struct steer_quar_val manual = { .origin = STEER_ORIGIN_MANUAL };
	char names[8][64], ips[8][20];
	struct control_stats cs;
	struct recon_stats rs;
	struct datapath *dp = NULL;
	struct ctx c = {};
	struct loop *loop = NULL;
	uint32_t i, nmanual = 0;

	if (geteuid()) {
		test_skip("needs root to load BPF");
		return;
	}
	if (!start_sim()) {
		test_skip("API server simulator not available");
		goto cleanup;
	}
	if (!ASSERT_EQ(nginx_pods(names, ips), 3, "three pods with IPs"))
		goto cleanup;
	if (!ASSERT_OK(datapath_open(&dp, &(struct datapath_opts){ .bpffs = NULL }), "load"))
		goto cleanup;
	c.maps = datapath_maps(dp);
	loop = loop_new();
	if (!control_up(&c, loop, &recon_maps_ops, (void *)c.maps, &o, "control_start"))
		goto cleanup;
	if (!ASSERT_TRUE(run_until(loop, synced, &c, 5000), "initial lists"))
		goto cleanup;
	/* 192.168.0.0/16 and on: no pod of the simulator lives there. */
	for (i = 0; i < STEER_MAX_QUAR; i++)
		if (maps_quar_set(c.maps, v4_of(htonl(0xc0a80000 + i)), &manual))
			break;
	ASSERT_EQ(i, STEER_MAX_QUAR, "steer_quar filled");
	ASSERT_EQ(maps_quar_set(c.maps, IPP("10.99.99.99"), &manual), -E2BIG,
		  "a full map refuses a new key");

	c.ip = ips[0];
	c.action = STEER_ACT_DRAIN;
	patch_pod(names[0], "{\"metadata\":{\"labels\":{\"enabled\":\"false\"}}}");
	ASSERT_TRUE(run_until(loop, write_failed, &c, 3000), "the quarantine write failed");
	ASSERT_FALSE(quarantined(&c), "not enforced yet");
	recon_get_stats(c.recon, &rs);
	ASSERT_GE(rs.pending, 1, "pending a retry");
	ASSERT_OK(maps_quar_del(c.maps, v4_of(htonl(0xc0a80000))), "room for one");

	ASSERT_TRUE(run_until(loop, quarantined, &c, 5000), "the retry wrote it: enforced");
	control_get_stats(c.ctl, &cs);
	ASSERT_EQ(cs.resyncs, 1, "no resync after the initial one");
	recon_get_stats(c.recon, &rs);
	ASSERT_GE(rs.retried, 1, "written by a retry");
	ASSERT_EQ(rs.pending, 0, "nothing pending");
	ASSERT_TRUE(run_until(loop, steered_real, &c, 1000), "its service steered without it");
	maps_quar_foreach(c.maps, count_manual, &nmanual);
	ASSERT_EQ(nmanual, STEER_MAX_QUAR - 1, "manual entries untouched");
cleanup:
	control_stop(c.ctl);
	recon_free(c.recon);
	loop_free(loop);
	datapath_close(dp);
	stop_sim();
}

/* Events with reason on pod name, as kubectl describe would list them. */
static int count_events(const char *name, const char *reason)
{
	cJSON *l = api("GET", "/api/v1/namespaces/default/events", NULL, NULL);
	const cJSON *it;
	int n = 0;

	cJSON_ArrayForEach(it, cJSON_GetObjectItem(l, "items")) {
		const cJSON *io = cJSON_GetObjectItem(it, "involvedObject");
		const cJSON *nm = cJSON_GetObjectItem(io, "name");
		const cJSON *rs = cJSON_GetObjectItem(it, "reason");

		if (cJSON_IsString(nm) && cJSON_IsString(rs) && !strcmp(nm->valuestring, name) &&
		    !strcmp(rs->valuestring, reason))
			n++;
	}
	cJSON_Delete(l);
	return n;
}

struct evwait {
	const char *a, *b;
};

static bool both_events(void *arg)
{
	struct evwait *w = arg;

	return count_events(w->a, "Quarantined") && count_events(w->b, "Released");
}

static bool never(void *arg)
{
	return false;
}

/*
 * A quarantine that starts, and one that ends, while no steerd runs: the
 * steerd that finds them at its first sync posts their Events. One that an
 * earlier steerd already enforced (and reported) gets none again.
 */
TEST(events_for_changes_while_no_steerd_ran)
{
	struct control_opts o = sim_opts;
	struct steer_quar_val earlier = { .origin = STEER_ORIGIN_API, .gen = 1, .since = 1 };
	char names[8][64], ips[8][20], nodes[8][64];
	struct evwait w = {};
	struct memmaps mm = {};
	struct ctx c = { .mm = &mm };
	struct loop *loop = NULL;
	int a = -1, b = -1, n;

	if (!start_sim()) {
		test_skip("API server simulator not available");
		goto cleanup;
	}
	if (!ASSERT_EQ(nginx_pods(names, ips), 3, "three pods"))
		goto cleanup;
	n = pods_on_nodes(names, ips, nodes, 8);
	/* Three pods on two nodes: two of them share one, whose steerd reports both. */
	for (int i = 0; i < n && b < 0; i++)
		for (int j = i + 1; j < n && b < 0; j++)
			if (nodes[i][0] && !strcmp(nodes[i], nodes[j]))
				a = i, b = j;
	if (!ASSERT_TRUE(b >= 0, "two pods on one node"))
		goto cleanup;
	o.node_name = nodes[a];
	w.a = names[a];
	w.b = names[b];
	/* While no steerd ran: a was labelled into quarantine, b was let go. */
	patch_pod(names[a], "{\"metadata\":{\"labels\":{\"steer.dev/quarantine\":\"true\"}}}");
	mem_ops.quar_set(&mm, IPP(ips[b]), &earlier);

	loop = loop_new();
	if (!control_up(&c, loop, &mem_ops, &mm, &o, "control_start"))
		goto cleanup;
	ASSERT_TRUE(run_until(loop, synced, &c, 5000), "synced");
	ASSERT_OK_PTR(memmaps_quar(&mm, ips[a]), "a enforced");
	ASSERT_TRUE(memmaps_quar(&mm, ips[b]) == NULL, "b released");
	ASSERT_TRUE(run_until(loop, both_events, &w, 3000), "Quarantined on a, Released on b");

	/* The next steerd finds a enforced already: no second Quarantined. */
	control_stop(c.ctl);
	recon_free(c.recon);
	if (!control_up(&c, loop, &mem_ops, &mm, &o, "control_start again"))
		goto cleanup;
	ASSERT_TRUE(run_until(loop, synced, &c, 5000), "synced again");
	run_until(loop, never, NULL, 600);	/* room for a wrong Event to arrive */
	ASSERT_EQ(count_events(names[a], "Quarantined"), 1, "a reported once");
	ASSERT_EQ(count_events(names[b], "Released"), 1, "b reported once");
cleanup:
	control_stop(c.ctl);
	recon_free(c.recon);
	loop_free(loop);
	memmaps_free(&mm);
	stop_sim();
}

static bool dead_seen(void *arg)
{
	struct agent_metrics am = {};

	control_fill_metrics(((struct ctx *)arg)->ctl, &am);
	return am.api_dead > 0;
}

/*
 * The fault starts, then: found dead within 45 s (client-go: a PING after
 * 30 s idle, 15 s to answer); the fault ends, then: reconnected, and a
 * relabel is enforced by the same control plane, with no restart.
 */
static void dead_then_back(const char *what, void (*fault)(bool on))
{
	struct control_opts o = sim_opts;
	char names[8][64], ips[8][20];
	struct agent_metrics am = {};
	struct memmaps mm = {};
	struct ctx c = { .mm = &mm };
	struct loop *loop = NULL;
	uint64_t t0;
	double secs;

	if (!ASSERT_EQ(nginx_pods(names, ips), 3, "three pods with IPs"))
		return;
	loop = loop_new();
	if (!control_up(&c, loop, &mem_ops, &mm, &o, "control_start"))
		goto cleanup;
	if (!ASSERT_TRUE(run_until(loop, synced, &c, 5000), "synced"))
		goto cleanup;
	/* Positive control: the watches deliver while the server is well. */
	c.ip = ips[0];
	c.action = STEER_ACT_DRAIN;
	patch_pod(names[0], "{\"metadata\":{\"labels\":{\"enabled\":\"false\"}}}");
	if (!ASSERT_TRUE(run_until(loop, quarantined, &c, 3000), "departure before the fault"))
		goto cleanup;

	t0 = now_ns();
	fault(true);
	ASSERT_TRUE(run_until(loop, dead_seen, &c, 50000), what);
	secs = (now_ns() - t0) / 1e9;
	fprintf(stderr, "%s: dead connection found after %.1f s\n", what, secs);
	ASSERT_LE(secs, 47, "found within client-go's 45 s");
	fault(false);

	c.ip = ips[1];
	patch_pod(names[1], "{\"metadata\":{\"labels\":{\"enabled\":\"false\"}}}");
	ASSERT_TRUE(run_until(loop, quarantined, &c, 20000), "reconnected: the next departure enforced");
	ASSERT_OK_PTR(memmaps_quar(&mm, ips[0]), "the first kept all along");
	control_fill_metrics(c.ctl, &am);
	fprintf(stderr, "%s: %llu dead, %llu probes, %llu pod watch errors\n", what,
		(unsigned long long)am.api_dead, (unsigned long long)am.api_probes,
		(unsigned long long)am.watch_errors[RES_PODS]);
cleanup:
	control_stop(c.ctl);
	recon_free(c.recon);
	loop_free(loop);
	memmaps_free(&mm);
}

static void freeze(bool on)
{
	kill(sim, on ? SIGSTOP : SIGCONT);
}

TEST(api_server_frozen_is_found_and_left)
{
	if (!start_sim()) {
		test_skip("API server simulator not available");
		goto cleanup;
	}
	dead_then_back("frozen (SIGSTOP)", freeze);
cleanup:
	if (sim > 0)
		kill(sim, SIGCONT);
	stop_sim();
}

static void blackhole(bool on)
{
	const char *port = strrchr(cfg.server, ':') + 1;
	char cmd[256];

	/* Both ways: a reply path left open would keep the client's socket busy. */
	snprintf(cmd, sizeof(cmd), "iptables -%c INPUT -p tcp --dport %s -j DROP && "
		 "iptables -%c INPUT -p tcp --sport %s -j DROP", on ? 'I' : 'D', port,
		 on ? 'I' : 'D', port);
	ASSERT_OK(system(cmd), on ? "blackhole on" : "blackhole off");
}

TEST(api_server_blackholed_is_found_and_left)
{
	int home = -1;

	if (geteuid() || system("iptables -V >/dev/null 2>&1")) {
		test_skip("needs root and iptables");
		return;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (!ASSERT_TRUE(home >= 0 && !unshare(CLONE_NEWNET), "a netns of our own") ||
	    !ASSERT_OK(system("ip link set lo up"), "lo up"))
		goto cleanup;
	if (!start_sim()) {
		test_skip("API server simulator not available");
		goto cleanup;
	}
	dead_then_back("blackholed (iptables DROP)", blackhole);
cleanup:
	stop_sim();
	if (home >= 0) {
		/* The netns, and its rules, go with its last user. */
		ASSERT_OK(setns(home, CLONE_NEWNET), "back home");
		close(home);
	}
}
