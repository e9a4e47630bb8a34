/* SPDX-License-Identifier: MIT */
/*
 * The control plane: watches the API server, feeds the planner and hands its
 * desired state to the reconciler. steerd's main parses the flags into
 * control_opts and starts it on the loop.
 */
#ifndef STEER_CONTROL_H
#define STEER_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/loop.h"
#include "metrics.h"

struct control_opts {
	const char *kubeconfig;		/* NULL: in-cluster config */
	const char *node_name;		/* --node-name, else $NODE_NAME */
	const char *quarantine_selector; /* default "steer.dev/quarantine" */
	uint8_t default_action;		/* enum steer_action */
	bool no_departure;
	unsigned int settle_s;		/* default 60 */
	unsigned int resync_s;		/* default 300 */
};

struct control;
struct recon;

struct control_stats {
	uint64_t events;	/* watch and list items */
	uint64_t bad_objects;	/* skipped as malformed */
	uint64_t resyncs;	/* full mark-and-sweep syncs */
};

/*
 * Starts the watches; every map write goes through recon, and enforcement
 * already in the maps is never dropped.
 */
int control_start(struct control **ctl, struct loop *loop, struct recon *recon,
		  const struct control_opts *opts);
void control_stop(struct control *ctl);

/* All initial lists done and the maps taken over. */
bool control_synced(const struct control *ctl);
void control_get_stats(const struct control *ctl, struct control_stats *st);
/* Copies watch, planner and Event counters into am for a scrape. */
void control_fill_metrics(const struct control *ctl, struct agent_metrics *am);

#endif /* STEER_CONTROL_H */
