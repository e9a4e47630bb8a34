// SPDX-License-Identifier: MIT
#include "datapath/cleanup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "datapath/maps.h"
#include "lib/log.h"

/* Here, not in datapath.c: steerctl's cleanup needs it without the loader. */
int datapath_find_cgroup2(char *buf, size_t len)
{
	char dev[256], dir[PATH_MAX], type[64];
	int err = -ENOENT;
	FILE *f;

	f = fopen("/proc/mounts", "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2"))
			continue;
		snprintf(buf, len, "%s", dir);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

int legacy_detach(int cgfd, enum bpf_attach_type type, __u32 keep_id)
{
	__u32 ids[64], cnt = 64, flags = 0;
	int n = 0;

	if (bpf_prog_query(cgfd, type, 0, &flags, ids, &cnt))
		return -errno;
	for (__u32 i = 0; i < cnt; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (ids[i] == keep_id)
			continue;
		fd = bpf_prog_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		/* A link's program refuses BPF_PROG_DETACH: only legacy ones go. */
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    !strncmp(info.name, STEER_SOCK_PROG_PREFIX, strlen(STEER_SOCK_PROG_PREFIX)) &&
		    !bpf_prog_detach2(fd, cgfd, type))
			n++;
		close(fd);
	}
	return n;
}

/* Socket programs attached without links (kernels before 5.7) on cgroup. */
static void legacy_cleanup(const char *cgroup)
{
	static const enum bpf_attach_type types[] = STEER_SOCK_ATTACH_TYPES;
	char cg[PATH_MAX];
	int cgfd, n = 0;

	if (cgroup)
		snprintf(cg, sizeof(cg), "%s", cgroup);
	else if (datapath_find_cgroup2(cg, sizeof(cg)))
		return;
	cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int r = legacy_detach(cgfd, types[i], 0);

		n += r > 0 ? r : 0;
	}
	close(cgfd);
	if (n)
		pr_info("detached %d socket program(s) attached without links from %s", n, cg);
}

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

/* Removes bpffs/name; a failure other than "not there" goes to *err. */
static void unpin(const char *bpffs, const char *name, int *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", bpffs, name);
	if (unlink(path) && errno != ENOENT) {
		*err = -errno;
		pr_warn("remove %s: %s", path, strerror(-*err));
	}
}

int datapath_cleanup(const char *bpffs, const char *cgroup)
{
	static const char *const link_pins[] = STEER_LINK_PINS;
	static const char *const prog_pins[] = STEER_PROG_PINS;
	struct steer_maps m;
	uint32_t missing;
	int err = 0;

	if (!maps_open_pinned(&m, bpffs, true, &missing)) {
		if (m.ifaces >= 0)
			maps_iface_foreach(&m, detach_iface, NULL);
		maps_close(&m);
	}
	/* A link pin holds the last reference: unlinking detaches the program. */
	for (size_t i = 0; i < sizeof(link_pins) / sizeof(link_pins[0]); i++)
		unpin(bpffs, link_pins[i], &err);
	legacy_cleanup(cgroup);
	for (size_t i = 0; i < sizeof(prog_pins) / sizeof(prog_pins[0]); i++)
		unpin(bpffs, prog_pins[i], &err);
	for (int i = 0; i < MAP_NR; i++)
		unpin(bpffs, maps_name(i), &err);
	if (rmdir(bpffs) && errno != ENOENT) {
		err = -errno;
		pr_warn("remove %s: %s", bpffs, strerror(-err));
	}
	return err;
}
