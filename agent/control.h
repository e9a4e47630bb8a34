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

#endif /* STEER_CONTROL_H */
