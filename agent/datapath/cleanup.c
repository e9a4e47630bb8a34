// SPDX-License-Identifier: MIT
#include "datapath/cleanup.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "datapath/maps.h"
#include "lib/log.h"

int tc_detach_ifindex(int ifindex, bool own_qdisc)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STEER_TC_HANDLE,
		    .priority = STEER_TC_PRIORITY);
	int err;

	err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
		pr_warn("detach tc egress from ifindex %d: %s", ifindex, strerror(-err));
	/* Ingress too; a steer before flow records had none there. */
	hook.attach_point = BPF_TC_INGRESS;
	bpf_tc_detach(&hook, &opts);
	if (own_qdisc) {
		/* Destroying clsact takes both hooks; only when steer created it. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	return err;
}

static int detach_iface(__u32 ifindex, const struct steer_iface_val *v, void *arg)
{
	if (tc_detach_ifindex(ifindex, v->own_qdisc) == 0)
		pr_info("removed tc filter from %.16s%s", v->name,
			v->own_qdisc ? " and its clsact qdisc" : "");
	return 0;
}

int datapath_cleanup(const char *bpffs)
{
	static const char *const link_pins[] = STEER_LINK_PINS;
	struct steer_maps m;
	char path[PATH_MAX];
	uint32_t missing;
	int err = 0;

	if (!maps_open_pinned(&m, bpffs, true, &missing)) {
		if (m.ifaces >= 0)
			maps_iface_foreach(&m, detach_iface, NULL);
		maps_close(&m);
	}
	for (size_t i = 0; i < sizeof(link_pins) / sizeof(link_pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, link_pins[i]);
		/* The pin holds the last reference: unlinking detaches the program. */
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			pr_warn("remove %s: %s", path, strerror(-err));
		}
	}
	for (int i = 0; i < MAP_NR; i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, maps_name(i));
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			pr_warn("remove %s: %s", path, strerror(-err));
		}
	}
	if (rmdir(bpffs) && errno != ENOENT) {
		err = -errno;
		pr_warn("remove %s: %s", bpffs, strerror(-err));
	}
	return err;
}
