/* SPDX-License-Identifier: MIT */
/*
 * steerd's Prometheus metrics and health. The agent is single-threaded, so
 * the counters are plain integers that the control plane bumps in place;
 * datapath figures are read from the maps at scrape time.
 */
#ifndef STEER_METRICS_H
#define STEER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "datapath/maps.h"
#include "httpd.h"

struct recon;

enum metrics_resource {
	RES_PODS = 0,		/* all pods, metadata only (departures) */
	RES_QPODS,		/* pods matching the quarantine selector */
	RES_SERVICES,
	RES_SLICES,
	RES_NODES,		/* node addresses, never quarantined */
	RES_MAX,
};

/* Filled by steerd's main before each scrape (control_fill_metrics). */
struct agent_metrics {
	uint64_t watches[RES_MAX];	/* watch requests started */
	uint64_t relists[RES_MAX];
	uint64_t watch_errors[RES_MAX];
	uint64_t events[RES_MAX];
	uint64_t lists[RES_MAX];	/* list requests (pages) started */
	uint64_t quorum_lists[RES_MAX];	/* of them, read from etcd, not the watch cache */
	uint64_t malformed_lines[RES_MAX];	/* watch lines skipped */
	uint64_t api_dead;		/* watches ended: the server went silent */
	uint64_t api_probes;		/* liveness probes after 30 s of silence */
	uint64_t bad_objects;		/* skipped as malformed */
	uint64_t k8s_events_posted;
	uint64_t k8s_events_dropped;	/* by the rate limit or a failed post */
	uint64_t last_sync_wall_ns;	/* last full resync that succeeded */
	uint64_t resyncs;		/* full mark-and-sweep syncs */
	uint64_t restored_memberships;	/* taken back from steer_members at start */
	uint64_t map_write_errors;	/* reconciler writes that failed */
	uint64_t map_retried;		/* failed keys a retry wrote */
	uint64_t map_pending;		/* keys waiting for a retry */
	bool synced;			/* initial lists done and applied */
	bool tc_attached;
	bool sock_attached;
	const char *sock_detail;	/* why socket steering is off, if it is */
};

extern struct agent_metrics agent_metrics;

/* Copies the reconciler's write counters into am. */
void metrics_fill_recon(struct agent_metrics *am, const struct recon *r);
extern const char *const metrics_resource_names[RES_MAX];

/* Renders every metric in the Prometheus text format (version 0.0.4). */
void metrics_render(const struct steer_maps *maps, struct strbuf *out);

/* httpd handler for /metrics, /healthz and /readyz; arg is the maps. */
int metrics_http(const char *path, struct strbuf *body, const char **ctype, void *arg);

#endif /* STEER_METRICS_H */
