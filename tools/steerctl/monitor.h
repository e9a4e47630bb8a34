/* SPDX-License-Identifier: MIT */
#ifndef STEER_STEERCTL_MONITOR_H
#define STEER_STEERCTL_MONITOR_H

#include <stdbool.h>

#include "datapath/maps.h"

struct monitor_opts {
	double interval_s;	/* > 0 */
	long count;		/* intervals to print; 0 = until SIGINT/SIGTERM */
	bool json;		/* JSON lines instead of text */
};

/*
 * Polls the pinned maps every interval and prints per-second deltas of the
 * reason counters and of each quarantined address, plus a line whenever a
 * quarantine or steered service appears, disappears or changes. The
 * datapath pays nothing for it: no program knows whether anyone watches.
 * Returns 0 when count is reached or on SIGINT/SIGTERM, else 1.
 */
int monitor_run(const struct steer_maps *m, const struct monitor_opts *o);

#endif /* STEER_STEERCTL_MONITOR_H */
