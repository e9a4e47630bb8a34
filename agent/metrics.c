// SPDX-License-Identifier: MIT
#include "metrics.h"

#include <arpa/inet.h>
#include <string.h>

#include "datapath/reconcile.h"
#include "lib/addr.h"

struct agent_metrics agent_metrics;

void metrics_fill_recon(struct agent_metrics *am, const struct recon *r)
{
	struct recon_stats st;

	recon_get_stats(r, &st);
	am->map_write_errors = st.write_errors;
	am->map_retried = st.retried;
	am->map_pending = st.pending;
}

const char *const metrics_resource_names[RES_MAX] = {
	[RES_PODS] = "pods",
	[RES_QPODS] = "quarantine_pods",
	[RES_SERVICES] = "services",
	[RES_SLICES] = "endpointslices",
	[RES_NODES] = "nodes",
};

static const char *const reason_names[STEER_R_MAX] = STEER_REASON_NAMES;

static void header(struct strbuf *out, const char *name, const char *type, const char *help)
{
	sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void per_resource(struct strbuf *out, const char *name, const char *help,
			 const uint64_t *v)
{
	header(out, name, "counter", help);
	for (int r = 0; r < RES_MAX; r++)
		sb_printf(out, "%s{resource=\"%s\"} %llu\n", name,
			  metrics_resource_names[r], (unsigned long long)v[r]);
}

/* One walk of steer_quar fills the gauge and both per-address counters. */
struct quar_walk {
	const struct steer_maps *maps;
	struct strbuf packets, bytes;
	uint64_t by_action[STEER_ACT_MAX][STEER_ORIGIN_MAX][2];	/* [..][0] IPv4, [1] IPv6 */
};

static int quar_visit(const struct steer_addr *addr, const struct steer_quar_val *val,
		      void *arg)
{
	struct quar_walk *w = arg;
	struct steer_qstat st = {};
	char ip[ADDR_STRLEN];

	if (val->action >= STEER_ACT_MAX || val->origin >= STEER_ORIGIN_MAX)
		return 0;
	w->by_action[val->action][val->origin][!addr_is_v4(addr)]++;
	addr_str(addr, ip);
	maps_qstat_get(w->maps, addr, &st);
	sb_printf(&w->packets, "steer_quarantined_packets_total{address=\"%s\",action=\"%s\"} %llu\n",
		  ip, addr_action_name(val->action), (unsigned long long)st.packets);
	sb_printf(&w->bytes, "steer_quarantined_bytes_total{address=\"%s\",action=\"%s\"} %llu\n",
		  ip, addr_action_name(val->action), (unsigned long long)st.bytes);
	return 0;
}

static int svc_count(const struct steer_svc_key *key, const struct steer_svc_val *val,
		     void *arg)
{
	uint64_t *n = arg;

	n[val->count ? 0 : 1]++;
	return 0;
}

static void latency(const struct steer_maps *maps, struct strbuf *out)
{
	const char *name = "steer_event_to_map_seconds";
	uint64_t counts[STEER_LAT_SLOTS] = {}, cum = 0;
	double sum = 0;

	header(out, name, "histogram",
	       "Time from a watch event's arrival to the maps being updated.");
	maps_latency_get(maps, counts);
	for (__u32 i = 0; i < STEER_LAT_SLOTS; i++) {
		cum += counts[i];
		/* Slot i holds [2^i, 2^(i+1)) us: its upper edge is the bucket bound. */
		sum += (double)counts[i] * (double)(1u << i) * 1.5e-6;
		sb_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
			  (double)(2u << i) * 1e-6, (unsigned long long)cum);
	}
	sb_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	/* The map keeps no exact sum: approximate with each slot's midpoint. */
	sb_printf(out, "%s_sum %g\n%s_count %llu\n", name, sum, name, (unsigned long long)cum);
}

static int feature_line(const struct steer_feature_val *v, void *arg)
{
	sb_printf(arg, "steer_feature_enabled{feature=\"%s\"} %d\n", v->name,
		  v->state == STEER_FEATURE_ON);
	return 0;
}

void metrics_render(const struct steer_maps *maps, struct strbuf *out)
{
	struct agent_metrics *m = &agent_metrics;
	struct quar_walk w = { .maps = maps };
	uint64_t svcs[2] = {};

	maps_quar_foreach(maps, quar_visit, &w);
	header(out, "steer_quarantined_pods", "gauge",
	       "Quarantined pod addresses by action, origin and family: a dual-stack pod counts once in each family.");
	for (int a = 0; a < STEER_ACT_MAX; a++)
		for (int o = 0; o < STEER_ORIGIN_MAX; o++)
			for (int f = 0; f < 2; f++)
				sb_printf(out, "steer_quarantined_pods{action=\"%s\",origin=\"%s\",family=\"%s\"} %llu\n",
					  addr_action_name(a), addr_origin_name(o),
					  f ? "ipv6" : "ipv4",
					  (unsigned long long)w.by_action[a][o][f]);

	maps_svc_foreach(maps, svc_count, svcs);
	header(out, "steer_steered_services", "gauge",
	       "Services steered at the socket; refusing = no backend left.");
	sb_printf(out, "steer_steered_services{state=\"balancing\"} %llu\n"
		  "steer_steered_services{state=\"refusing\"} %llu\n",
		  (unsigned long long)svcs[0], (unsigned long long)svcs[1]);

	header(out, "steer_datapath_verdicts_total", "counter",
	       "Packets and socket operations by the reason for their verdict.");
	for (int r = 0; r < STEER_R_MAX; r++) {
		uint64_t v = 0;

		maps_stat_get(maps, r, &v);
		sb_printf(out, "steer_datapath_verdicts_total{reason=\"%s\"} %llu\n",
			  reason_names[r], (unsigned long long)v);
	}

	header(out, "steer_quarantined_packets_total", "counter",
	       "Packets sent toward each quarantined address, any verdict.");
	if (w.packets.len)
		sb_printf(out, "%.*s", (int)w.packets.len, w.packets.buf);
	header(out, "steer_quarantined_bytes_total", "counter",
	       "Bytes sent toward each quarantined address, any verdict.");
	if (w.bytes.len)
		sb_printf(out, "%.*s", (int)w.bytes.len, w.bytes.buf);
	sb_free(&w.packets);
	sb_free(&w.bytes);

	per_resource(out, "steer_watches_total", "Watch requests started.", m->watches);
	per_resource(out, "steer_relists_total", "Full lists, at start and after 410 Gone.",
		     m->relists);
	per_resource(out, "steer_watch_errors_total", "Failed list or watch requests.",
		     m->watch_errors);
	per_resource(out, "steer_watch_events_total", "Watch events received.", m->events);
	header(out, "steer_api_requests_total", "counter",
	       "List and watch requests; read=quorum lists hit etcd, the rest the watch cache.");
	for (int r = 0; r < RES_MAX; r++)
		sb_printf(out, "steer_api_requests_total{resource=\"%s\",verb=\"list\",read=\"cache\"} %llu\n"
			  "steer_api_requests_total{resource=\"%s\",verb=\"list\",read=\"quorum\"} %llu\n"
			  "steer_api_requests_total{resource=\"%s\",verb=\"watch\",read=\"cache\"} %llu\n",
			  metrics_resource_names[r],
			  (unsigned long long)(m->lists[r] - m->quorum_lists[r]),
			  metrics_resource_names[r], (unsigned long long)m->quorum_lists[r],
			  metrics_resource_names[r], (unsigned long long)m->watches[r]);
	per_resource(out, "steer_watch_malformed_lines_total",
		     "Watch lines skipped: not JSON, not an event, or too long.", m->malformed_lines);
	header(out, "steer_api_dead_connections_total", "counter",
	       "Watches ended because the API server stopped answering.");
	sb_printf(out, "steer_api_dead_connections_total %llu\n", (unsigned long long)m->api_dead);
	header(out, "steer_api_probes_total", "counter",
	       "Liveness probes sent after 30 s without a byte from the API server.");
	sb_printf(out, "steer_api_probes_total %llu\n", (unsigned long long)m->api_probes);
	header(out, "steer_bad_objects_total", "counter",
	       "Objects skipped because the API sent malformed data.");
	sb_printf(out, "steer_bad_objects_total %llu\n", (unsigned long long)m->bad_objects);
	header(out, "steer_kube_events_total", "counter",
	       "Kubernetes Events about quarantined pods, by outcome.");
	sb_printf(out, "steer_kube_events_total{outcome=\"posted\"} %llu\n"
		  "steer_kube_events_total{outcome=\"dropped\"} %llu\n",
		  (unsigned long long)m->k8s_events_posted,
		  (unsigned long long)m->k8s_events_dropped);
	latency(maps, out);

	header(out, "steer_last_sync_timestamp_seconds", "gauge",
	       "Wall-clock time of the last successful full resync.");
	sb_printf(out, "steer_last_sync_timestamp_seconds %.3f\n",
		  (double)m->last_sync_wall_ns / 1e9);
	header(out, "steer_resyncs_total", "counter", "Full mark-and-sweep resyncs.");
	sb_printf(out, "steer_resyncs_total %llu\n", (unsigned long long)m->resyncs);
	header(out, "steer_restored_memberships", "gauge",
	       "Departure memberships taken back from steer_members at start.");
	sb_printf(out, "steer_restored_memberships %llu\n",
		  (unsigned long long)m->restored_memberships);
	header(out, "steer_map_write_errors_total", "counter",
	       "Map writes that failed; each failed key is retried.");
	sb_printf(out, "steer_map_write_errors_total %llu\n",
		  (unsigned long long)m->map_write_errors);
	header(out, "steer_map_write_retries_total", "counter",
	       "Failed keys that a retry wrote.");
	sb_printf(out, "steer_map_write_retries_total %llu\n",
		  (unsigned long long)m->map_retried);
	header(out, "steer_map_writes_pending", "gauge", "Keys waiting for a retry.");
	sb_printf(out, "steer_map_writes_pending %llu\n", (unsigned long long)m->map_pending);
	header(out, "steer_datapath_attached", "gauge",
	       "1 when the hook is attached and enforcing.");
	sb_printf(out, "steer_datapath_attached{hook=\"tc\"} %d\n"
		  "steer_datapath_attached{hook=\"sock\"} %d\n",
		  m->tc_attached, m->sock_attached);
	header(out, "steer_feature_enabled", "gauge",
	       "1 when the kernel let steerd load the feature (steerctl status says why not).");
	maps_feature_foreach(maps, feature_line, out);
}

int metrics_http(const char *path, struct strbuf *body, const char **ctype, void *arg)
{
	const struct steer_maps *maps = arg;

	if (!strcmp(path, "/metrics")) {
		*ctype = "text/plain; version=0.0.4; charset=utf-8";
		metrics_render(maps, body);
		return 200;
	}
	if (!strcmp(path, "/healthz")) {
		/* Answering at all proves the event loop turns. */
		sb_printf(body, "ok\n");
		return 200;
	}
	if (!strcmp(path, "/readyz")) {
		bool ready = agent_metrics.synced && agent_metrics.tc_attached;

		sb_printf(body, "%s: synced=%d tc=%d sock=%d%s%s\n", ready ? "ready" : "not ready",
			  agent_metrics.synced, agent_metrics.tc_attached,
			  agent_metrics.sock_attached, agent_metrics.sock_detail ? " " : "",
			  agent_metrics.sock_detail ? agent_metrics.sock_detail : "");
		return ready ? 200 : 503;
	}
	sb_printf(body, "not found; try /metrics, /healthz or /readyz\n");
	return 404;
}
