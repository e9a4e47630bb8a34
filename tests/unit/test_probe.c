// SPDX-License-Identifier: MIT
/*
 * The probe and the degraded loads on the kernel this runs on (each guest
 * of the kernel matrix too): every program the probe says should load is
 * loaded, the ones it says not are not, and tc loads whatever else is off.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "datapath/probe.h"

static const struct {
	enum probe_feature feat;
	enum datapath_prog prog;
} hooks[] = {
	{ FEAT_CONNECT4, DATAPATH_PROG_CONNECT4 },
	{ FEAT_SENDMSG4, DATAPATH_PROG_SENDMSG4 },
	{ FEAT_RECVMSG4, DATAPATH_PROG_RECVMSG4 },
	{ FEAT_GETPEER4, DATAPATH_PROG_GETPEER4 },
	{ FEAT_CONNECT6, DATAPATH_PROG_CONNECT6 },
	{ FEAT_SENDMSG6, DATAPATH_PROG_SENDMSG6 },
	{ FEAT_RECVMSG6, DATAPATH_PROG_RECVMSG6 },
	{ FEAT_GETPEER6, DATAPATH_PROG_GETPEER6 },
};

static struct datapath *open_dp(const char *off)
{
	struct datapath *dp = NULL;
	int err;

	if (geteuid() != 0) {
		test_skip("needs root to load BPF");
		return NULL;
	}
	if (off)
		setenv("STEER_FEATURES_OFF", off, 1);
	err = datapath_open(&dp, &(struct datapath_opts){ .bpffs = NULL });
	unsetenv("STEER_FEATURES_OFF");
	if (!ASSERT_OK(err, "datapath_open"))
		return NULL;
	return dp;
}

/* tc loaded, and each socket program loaded exactly when its feature is on. */
static void check_loaded(struct datapath *dp)
{
	const struct probe_result *r = datapath_features(dp);

	ASSERT_TRUE(probe_on(r, FEAT_TC), "tc on");
	ASSERT_GE(datapath_prog_fd(dp, DATAPATH_PROG_TC), 0, "tc egress loaded");
	ASSERT_GE(datapath_prog_fd(dp, DATAPATH_PROG_TC_INGRESS), 0, "tc ingress loaded");
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		const struct steer_feature_val *v = &r->feat[hooks[i].feat];
		int fd = datapath_prog_fd(dp, hooks[i].prog);

		CHECK_(probe_on(r, hooks[i].feat) ? fd >= 0 : fd == -ENOENT,
		       "%s: %s, fd %d (%s)", v->name, probe_on(r, hooks[i].feat) ? "on" : "off",
		       fd, v->why);
	}
}

static int published(const struct steer_feature_val *v, void *arg)
{
	const struct probe_result *r = arg;

	for (int f = 0; f < FEAT_NR; f++)
		if (!strcmp(r->feat[f].name, v->name))
			return memcmp(&r->feat[f], v, sizeof(*v)) ? -EBADMSG : 0;
	return -ENOENT;
}

TEST(probe_every_feature_said_and_loaded_as_said)
{
	struct datapath *dp = open_dp(NULL);
	const struct probe_result *r;

	if (!dp)
		return;
	r = datapath_features(dp);
	for (int f = 0; f < FEAT_NR; f++) {
		const struct steer_feature_val *v = &r->feat[f];

		CHECK_(v->name[0] && (v->state == STEER_FEATURE_ON ||
				      (v->state == STEER_FEATURE_OFF && v->why[0])),
		       "feature %d (%s): state %u, why \"%s\"", f, v->name, v->state, v->why);
	}
	check_loaded(dp);
	ASSERT_OK(maps_feature_foreach(datapath_maps(dp), published, (void *)r),
		  "steer_features holds what the loader says");
	datapath_close(dp);
}

static struct datapath *forced_dp;

static void open_forced(void)
{
	forced_dp = open_dp("getpeername4,set_retval, frobnicate");
}

TEST(probe_forced_off_loads_the_rest_and_warns_of_a_bad_name)
{
	char *log = harness_capture(open_forced);
	const struct probe_result *r;

	if (!forced_dp) {
		free(log);
		return;
	}
	r = datapath_features(forced_dp);
	ASSERT_FALSE(probe_on(r, FEAT_GETPEER4), "getpeername4 off");
	ASSERT_FALSE(probe_on(r, FEAT_SET_RETVAL), "set_retval off");
	ASSERT_TRUE(strstr(r->feat[FEAT_GETPEER4].why, "STEER_FEATURES_OFF") != NULL,
		    "the reason names the override");
	check_loaded(forced_dp);
	CHECK_(strstr(log, "frobnicate") && strstr(log, "is not a feature"),
	       "one warning for the unknown name: %s", log);
	CHECK_(strstr(log, "getpeername4=off (forced off by STEER_FEATURES_OFF)") != NULL,
	       "start line says it: %s", log);
	free(log);
	datapath_close(forced_dp);
}

TEST(probe_no_socket_hook_keeps_tc)
{
	struct datapath *dp = open_dp("connect4,sendmsg4,recvmsg4,getpeername4,"
				     "connect6,sendmsg6,recvmsg6,getpeername6");

	if (!dp)
		return;
	check_loaded(dp);
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
		ASSERT_EQ(datapath_prog_fd(dp, hooks[i].prog), -ENOENT, "socket program not loaded");
	datapath_close(dp);
}
