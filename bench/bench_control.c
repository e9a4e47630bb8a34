// SPDX-License-Identifier: MIT
/*
 * Control-plane benchmark: a generator feeds Services, EndpointSlices and
 * pod metadata through the same path as watch events (JSON parse -> typed
 * object -> planner -> reconciler -> maps). Reports initial sync time and memory at 10k/50k/150k pods with 10k
 * Services and 150k endpoints, event -> map latency (p50/p99) and events/s
 * on one core. Real BPF maps when they can be loaded (root), else in-memory.
 *
 * usage: bench_control OUT.jsonl [MAX_PODS]
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "datapath/datapath.h"
#include "kube/objects.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "memmaps.h"

#define NSVC 10000
#define EPS_PER_SVC 15		/* 150k endpoints */

static FILE *out;
static char buf[1 << 16];

static void result(const char *name, double v, const char *unit)
{
	printf("  %-44s %14.2f %s\n", name, v, unit);
	fprintf(out, "{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n", name, v, unit);
}

/*
 * Wall time on a shared machine mostly measures the neighbours; CPU time of
 * this process is what "on one core" means, so rates are reported both ways.
 */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static void feed(struct plan *m, enum plan_src src, enum plan_ev ev)
{
	cJSON *json = cJSON_Parse(buf);
	struct kube_object o;

	if (!kube_object_parse(&o, plan_src_kind(src), ev == PE_DELETED, json))
		plan_object(m, src, ev, &o);
	kube_object_free(&o);
	cJSON_Delete(json);
}

static const char *pod_ip(int p)
{
	static char s[20];

	snprintf(s, sizeof(s), "10.%d.%d.%d", 64 + p / 65536, (p / 256) % 256, p % 256);
	return s;
}

static void gen_pod(int p, const char *enabled)
{
	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
		 "\"metadata\":{\"name\":\"pod-%d\",\"namespace\":\"default\",\"uid\":\"u%d\","
		 "\"resourceVersion\":\"%d\",\"labels\":{\"app\":\"svc-%d\",\"enabled\":\"%s\","
		 "\"pod-template-hash\":\"5d8f7c9b4\"},\"annotations\":{}}}",
		 p, p, p, p % NSVC, enabled);
}

static void sync_all(struct plan *m, struct recon *r, int npods)
{
	int i, j;
	char *p;

	plan_list_begin(m, PS_SVC);
	for (i = 0; i < NSVC; i++) {
		snprintf(buf, sizeof(buf),
			 "{\"metadata\":{\"name\":\"svc-%d\",\"namespace\":\"default\"},\"spec\":"
			 "{\"selector\":{\"app\":\"svc-%d\",\"enabled\":\"true\"},\"clusterIP\":"
			 "\"10.96.%d.%d\",\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"}]}}",
			 i, i, i / 256, i % 256);
		feed(m, PS_SVC, PE_ADDED);
	}
	plan_list_end(m, PS_SVC);
	plan_list_begin(m, PS_EPS);
	for (i = 0; i < NSVC; i++) {
		p = buf + snprintf(buf, sizeof(buf),
			"{\"metadata\":{\"name\":\"svc-%d-x\",\"namespace\":\"default\",\"labels\":"
			"{\"kubernetes.io/service-name\":\"svc-%d\"}},\"addressType\":\"IPv4\",\"ports\":"
			"[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],\"endpoints\":[", i, i);
		for (j = 0; j < EPS_PER_SVC; j++) {
			/* Pod i + k*NSVC carries app=svc-i; extra endpoints wrap around. */
			int pod = (i + j * NSVC) % npods;

			p += sprintf(p, "%s{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true},"
				     "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"pod-%d\"}}",
				     j ? "," : "", pod_ip(pod), pod);
		}
		strcpy(p, "]}");
		feed(m, PS_EPS, PE_ADDED);
	}
	plan_list_end(m, PS_EPS);
	plan_list_begin(m, PS_POD_META);
	for (i = 0; i < npods; i++) {
		gen_pod(i, "true");
		feed(m, PS_POD_META, PE_ADDED);
	}
	plan_list_end(m, PS_POD_META);
	plan_list_begin(m, PS_POD_QUAR);
	plan_list_end(m, PS_POD_QUAR);
	apply_sync(m, r);
}

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const int sizes[] = { 10000, 50000, 150000 };
	struct plan_opts po = { .departure = true, .settle_ns = 60000000000ULL, .clock = now_ns };
	struct datapath_opts dopts = {};
	struct datapath *dp = NULL;
	const struct recon_ops *ops = &mem_ops;
	struct memmaps mm = {};
	void *ctx = &mm;
	int max = argc > 2 ? atoi(argv[2]) : 150000, s, i;
	char name[128];

	if (argc < 2) {
		fprintf(stderr, "usage: %s OUT.jsonl [MAX_PODS]\n", argv[0]);
		return 2;
	}
	out = fopen(argv[1], "a");
	if (!out)
		return 1;
	log_set_level(LOG_WARN);
	if (!datapath_open(&dp, &dopts)) {
		ops = &recon_maps_ops;
		ctx = (void *)datapath_maps(dp);
		printf("control-plane benchmark (real BPF maps)\n");
	} else {
		printf("control-plane benchmark (in-memory maps: BPF maps not loadable)\n");
	}
	for (s = 0; s < 3 && sizes[s] <= max; s++) {
		int npods = sizes[s];
		long rss0 = rss_kib();
		uint64_t t0 = now_ns(), c0 = cpu_ns(), *lat;
		struct recon *r = recon_new(ops, ctx, NULL);
		struct plan *m;
		int n = 2000;

		po.sink = apply_sink(r);
		m = plan_new(&po);
		sync_all(m, r, npods);
		snprintf(name, sizeof(name), "initial_sync_%dk_pods", npods / 1000);
		result(name, (now_ns() - t0) / 1e6, "ms");
		snprintf(name, sizeof(name), "initial_sync_%dk_pods_cpu", npods / 1000);
		result(name, (cpu_ns() - c0) / 1e6, "ms");
		snprintf(name, sizeof(name), "rss_growth_%dk_pods", npods / 1000);
		result(name, (rss_kib() - rss0) / 1024.0, "MiB");
		snprintf(name, sizeof(name), "rss_total_%dk_pods", npods / 1000);
		result(name, rss_kib() / 1024.0, "MiB");
		if (npods != sizes[s] || (s + 1 < 3 && sizes[s + 1] <= max)) {
			plan_free(m);
			recon_free(r);
			continue;
		}
		/* A periodic resync with nothing changed: it holds up the event loop. */
		t0 = now_ns();
		c0 = cpu_ns();
		apply_sync(m, r);
		snprintf(name, sizeof(name), "resync_%dk_pods", npods / 1000);
		result(name, (now_ns() - t0) / 1e6, "ms");
		snprintf(name, sizeof(name), "resync_%dk_pods_cpu", npods / 1000);
		result(name, (cpu_ns() - c0) / 1e6, "ms");
		/* Quarantine churn: relabel out then back, each event timed. */
		lat = calloc(n, sizeof(*lat));
		for (i = 0; i < n; i++) {
			int p = (i / 2 * 7919) % npods;
			uint64_t a;

			gen_pod(p, i % 2 ? "true" : "false");
			a = now_ns();
			feed(m, PS_POD_META, PE_MODIFIED);
			plan_flush(m);
			lat[i] = now_ns() - a;
		}
		qsort(lat, n, sizeof(*lat), cmp64);
		result("event_to_map_p50", lat[n / 2] / 1e3, "us");
		result("event_to_map_p99", lat[n * 99 / 100] / 1e3, "us");
		free(lat);
		/* Throughput: label churn that does not quarantine, then toggles. */
		t0 = now_ns();
		c0 = cpu_ns();
		for (i = 0; i < 100000; i++) {
			int p = (i * 7919) % npods;

			snprintf(buf, sizeof(buf),
				 "{\"metadata\":{\"name\":\"pod-%d\",\"namespace\":\"default\","
				 "\"resourceVersion\":\"%d\",\"labels\":{\"app\":\"svc-%d\",\"enabled\":"
				 "\"true\",\"rev\":\"%d\"}}}", p, i, p % NSVC, i);
			feed(m, PS_POD_META, PE_MODIFIED);
			plan_flush(m);
		}
		result("events_per_s_label_churn", 100000 / ((now_ns() - t0) / 1e9), "events/s");
		result("events_per_s_label_churn_cpu", 100000 / ((cpu_ns() - c0) / 1e9), "events/s");
		t0 = now_ns();
		c0 = cpu_ns();
		for (i = 0; i < 20000; i++) {
			gen_pod((i / 2 * 104729) % npods, i % 2 ? "true" : "false");
			feed(m, PS_POD_META, PE_MODIFIED);
			plan_flush(m);
		}
		result("events_per_s_quarantine_toggle", 20000 / ((now_ns() - t0) / 1e9), "events/s");
		result("events_per_s_quarantine_toggle_cpu", 20000 / ((cpu_ns() - c0) / 1e9),
		       "events/s");
		plan_free(m);
		recon_free(r);
	}
	datapath_close(dp);
	memmaps_free(&mm);
	fclose(out);
	return 0;
}
