/* SPDX-License-Identifier: MIT */
/*
 * What this kernel lets steer load, probed once at start. Each feature is
 * on or off with a reason; the loader degrades by it (docs/datapath.md,
 * "Probe and degrade") and publishes the result in steer_features, which
 * steerctl status and /metrics read, so all of them say the same.
 *
 * STEER_FEATURES_OFF=name,name... forces features off, so the degraded
 * variants can be tested on a kernel that has everything.
 */
#ifndef STEER_DATAPATH_PROBE_H
#define STEER_DATAPATH_PROBE_H

#include <stdbool.h>
#include <steer/abi.h>

#include "datapath/maps.h"

enum probe_feature {
	FEAT_TC = 0,		/* tc programs on clsact, direct packet access */
	FEAT_SET_RETVAL,	/* bpf_set_retval in connect/sendmsg: ECONNREFUSED */
	FEAT_CGROUP_LINK,	/* BPF links for cgroup hooks: no-gap upgrades */
	FEAT_CONNECT4,		/* one per socket hook type */
	FEAT_SENDMSG4,
	FEAT_RECVMSG4,
	FEAT_GETPEER4,
	FEAT_CONNECT6,
	FEAT_SENDMSG6,
	FEAT_RECVMSG6,
	FEAT_GETPEER6,
	FEAT_NR,
};

_Static_assert(FEAT_NR <= STEER_FEATURE_SLOTS, "steer_features has a slot per feature");

struct probe_result {
	struct steer_feature_val feat[FEAT_NR];
};

/* Probes every feature of the table; never fails (a failed probe is "off"). */
void probe_run(struct probe_result *r);
bool probe_on(const struct probe_result *r, enum probe_feature f);
/* Turns f off with a reason, e.g. when the real load fails after the probe. */
void probe_off(struct probe_result *r, enum probe_feature f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The one start log line: every feature, on or off with its reason. */
void probe_log(const struct probe_result *r);
int probe_publish(const struct probe_result *r, const struct steer_maps *maps);

#endif /* STEER_DATAPATH_PROBE_H */
