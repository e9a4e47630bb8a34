/* SPDX-License-Identifier: MIT */
/*
 * The control plane: watches the API server and drives the maps.
 * steerd's main parses the flags into control_opts and starts it on the loop.
 */
#ifndef STEER_CONTROL_H
#define STEER_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "datapath/maps.h"
#include "loop.h"
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

/* Starts the watches; enforcement already in the maps is never dropped. */
int control_start(struct control **ctl, struct loop *loop,
		  const struct steer_maps *maps, const struct control_opts *opts);
void control_stop(struct control *ctl);

struct apply_ops;
/*
 * The same over any apply_ops (tests: an in-memory map). maps may be NULL;
 * it is only used for the event -> map latency histogram then.
 */
int control_start_ops(struct control **ctl, struct loop *loop,
		      const struct apply_ops *ops, void *ops_ctx,
		      const struct steer_maps *maps, const struct control_opts *opts);
/* All initial lists done and the maps taken over. */
bool control_synced(const struct control *ctl);
/* Copies watch, model and Event counters into am for a scrape. */
void control_fill_metrics(const struct control *ctl, struct agent_metrics *am);

#endif /* STEER_CONTROL_H */
