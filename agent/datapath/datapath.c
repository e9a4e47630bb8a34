// SPDX-License-Identifier: MIT
/* Loading the skeletons, pinning under bpffs, cgroup links. */
#include "datapath/internal.h"
#include "datapath/cleanup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/log.h"
#include "steer_sock.skel.h"
#include "steer_tc.skel.h"

/* Where a program attached without a link is pinned, in sock_hooks order. */
static const char *const prog_pins[STEER_NR_LINKS] = STEER_PROG_PINS;

/*
 * Each socket program, its link pin and the feature it needs. A hook type
 * the kernel lacks is not loaded (autoload off) and the rest still is.
 */
static const struct sock_hook {
	const char *prog;
	const char *pin;
	enum probe_feature feat;
} sock_hooks[STEER_NR_LINKS] = {
	{ "steer_sock4_connect", STEER_LINK_CONNECT4, FEAT_CONNECT4 },
	{ "steer_sock4_sendmsg", STEER_LINK_SENDMSG4, FEAT_SENDMSG4 },
	{ "steer_sock4_recvmsg", STEER_LINK_RECVMSG4, FEAT_RECVMSG4 },
	{ "steer_sock4_getpeer", STEER_LINK_GETPEER4, FEAT_GETPEER4 },
	{ "steer_sock6_connect", STEER_LINK_CONNECT6, FEAT_CONNECT6 },
	{ "steer_sock6_sendmsg", STEER_LINK_SENDMSG6, FEAT_SENDMSG6 },
	{ "steer_sock6_recvmsg", STEER_LINK_RECVMSG6, FEAT_RECVMSG6 },
	{ "steer_sock6_getpeer", STEER_LINK_GETPEER6, FEAT_GETPEER6 },
};

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

static bool is_cgroup2(int fd)
{
	struct statfs st;

	return !fstatfs(fd, &st) && st.f_type == CGROUP2_SUPER_MAGIC;
}

/* Mounts bpffs on the parent of dir if it is not there yet, then makes dir. */
static int bpffs_prepare(const char *dir)
{
	char parent[PATH_MAX], *slash;
	int err;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent) {
		pr_warn("bpffs directory %s: needs a parent directory", dir);
		return -EINVAL;
	}
	*slash = '\0';
	if (!is_bpffs(parent)) {
		if (mkdir(parent, 0700) && errno != EEXIST) {
			err = -errno;
			pr_warn("create %s: %s", parent, strerror(-err));
			return err;
		}
		if (mount("bpf", parent, "bpf", 0, "mode=0700")) {
			err = -errno;
			pr_warn("mount bpffs on %s: %s", parent, strerror(-err));
			return err;
		}
		pr_info("mounted bpffs on %s", parent);
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = -errno;
		pr_warn("create %s: %s", dir, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Maps whose contents refill on their own (counters, per-socket and per-flow
 * records, the epoch, the features written at each start): a pin of another
 * layout, from an older steer, is replaced instead of failing the load. The
 * others hold enforcement and are kept or the load fails, as libbpf decides.
 */
static bool map_refills(enum steer_map_id id)
{
	switch (id) {
	case MAP_QSTATS: case MAP_STATS: case MAP_REVNAT: case MAP_LATENCY:
	case MAP_FLOWS: case MAP_EPOCH: case MAP_AFFINITY: case MAP_FEATURES:
		return true;
	default:
		return false;
	}
}

/*
 * Unpins such a map if its pin does not match this object's definition, so
 * libbpf creates and pins a new one. Programs still attached keep the old
 * map until they are swapped, so nothing stops counting meanwhile.
 */
static void pins_replace_stale(struct datapath *dp)
{
	char path[PATH_MAX];

	for (int i = 0; i < MAP_NR; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(dp->tc->obj, maps_name(i));
		struct bpf_map_info info;
		int fd;

		if (!map || !map_refills(i))
			continue;
		fd = maps_pin_open(dp->bpffs, i, path, sizeof(path), &info);
		if (fd < 0)
			continue;
		if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
		    info.value_size != bpf_map__value_size(map) ||
		    info.max_entries != bpf_map__max_entries(map) ||
		    info.map_flags != bpf_map__map_flags(map)) {
			if (unlink(path))
				pr_warn("replace pinned map %s: %s", path, strerror(errno));
			else
				pr_info("pinned map %s has an older layout: replaced, it refills", path);
		}
		close(fd);
	}
}

static struct bpf_program *sock_prog(const struct datapath *dp, int i)
{
	return dp->sock ? bpf_object__find_program_by_name(dp->sock->obj, sock_hooks[i].prog) : NULL;
}

/* Hook i's program if the kernel took it; NULL for a hook that is off. */
static struct bpf_program *sock_loaded(const struct datapath *dp, int i)
{
	struct bpf_program *prog = sock_prog(dp, i);

	return prog && bpf_program__fd(prog) >= 0 ? prog : NULL;
}

static void sock_unload(struct datapath *dp, const char *why, int err)
{
	pr_warn("%s: %s; socket steering is off, tc enforcement stays on", why, strerror(-err));
	for (int i = 0; i < STEER_NR_LINKS; i++)
		if (probe_on(&dp->feat, sock_hooks[i].feat))
			probe_off(&dp->feat, sock_hooks[i].feat, "%s: %s", why, strerror(-err));
	steer_sock_bpf__destroy(dp->sock);
	dp->sock = NULL;
}

/* Opens and loads the socket object with the hooks of mask only. */
static int sock_try(struct datapath *dp, unsigned int mask)
{
	int err;

	steer_sock_bpf__destroy(dp->sock);
	dp->sock = steer_sock_bpf__open();
	if (!dp->sock)
		return -errno;
	dp->sock->rodata->have_set_retval = probe_on(&dp->feat, FEAT_SET_RETVAL);
	for (int i = 0; i < STEER_NR_LINKS; i++)
		bpf_program__set_autoload(sock_prog(dp, i), mask & (1u << i));
	/* One map set in the kernel: the socket object borrows the tc object's. */
	for (int i = 0; i < MAP_NR; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(dp->sock->obj, maps_name(i));

		if (!map)
			continue;
		err = bpf_map__reuse_fd(map, maps_fd(&dp->maps, i));
		if (err)
			return err;
	}
	return steer_sock_bpf__load(dp->sock);
}

/*
 * The socket object, as far as this kernel allows: a hook type the probe
 * found missing is not loaded, and if the verifier still rejects the
 * object, each hook is tried alone and the ones it takes are kept.
 * Whatever fails here leaves tc, already loaded, enforcing.
 */
static void sock_load(struct datapath *dp)
{
	unsigned int mask = 0, good = 0;
	int err;

	for (int i = 0; i < STEER_NR_LINKS; i++)
		if (probe_on(&dp->feat, sock_hooks[i].feat))
			mask |= 1u << i;
	if (!mask)
		return;
	err = sock_try(dp, mask);
	if (!err)
		return;
	pr_warn("load socket BPF object: %s; trying each socket program alone", strerror(-err));
	for (int i = 0; i < STEER_NR_LINKS; i++) {
		if (!(mask & (1u << i)))
			continue;
		err = sock_try(dp, 1u << i);
		if (!err)
			good |= 1u << i;
		else
			probe_off(&dp->feat, sock_hooks[i].feat, "verifier rejects %s: %s",
				  sock_hooks[i].prog, strerror(-err));
	}
	err = good ? sock_try(dp, good) : -ENOENT;
	if (err)
		sock_unload(dp, "load socket BPF object", err);
}

int datapath_open(struct datapath **dpp, const struct datapath_opts *opts)
{
	struct datapath *dp;
	struct bpf_map *map;
	char path[PATH_MAX];
	int err;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->nl_fd = -1;
	for (int i = 0; i < MAP_NR; i++)
		dp->old_maps[i] = -1;
	if (opts->bpffs && !(dp->bpffs = strdup(opts->bpffs))) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (opts->cgroup && !(dp->cgroup = strdup(opts->cgroup))) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (opts->iface_glob && !(dp->iface_glob = strdup(opts->iface_glob))) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (dp->bpffs) {
		err = bpffs_prepare(dp->bpffs);
		if (err)
			goto cleanup;
	}

	probe_run(&dp->feat);
	dp->tc = steer_tc_bpf__open();
	if (!dp->tc) {
		err = -errno;
		pr_warn("open tc BPF object: %s", strerror(-err));
		goto cleanup;
	}
	/* Unit tests and benchmarks (no bpffs) run as the node unless told. */
	if (dp->bpffs || opts->pods_cgroup) {
		struct datapath_pods pods;

		err = datapath_pods_cgroup(opts->pods_cgroup, opts->cgroup, &pods);
		if (err)
			goto cleanup;
		dp->tc->rodata->pods_cgroup_id = pods.id;
		dp->tc->rodata->pods_cgroup_level = pods.level;
	}
	if (dp->bpffs) {
		for (int i = 0; i < MAP_NR; i++) {
			map = bpf_object__find_map_by_name(dp->tc->obj, maps_name(i));
			snprintf(path, sizeof(path), "%s/%s", dp->bpffs, maps_name(i));
			err = map ? bpf_map__set_pin_path(map, path) : -ENOENT;
			if (err) {
				pr_warn("set pin path %s: %s", path, strerror(-err));
				goto cleanup;
			}
		}
	}
	if (dp->bpffs) {
		pins_replace_stale(dp);
		migrate_detach(dp);
	}
	err = steer_tc_bpf__load(dp->tc);
	if (err) {
		pr_warn("load tc BPF object: %s%s", strerror(-err),
			!probe_on(&dp->feat, FEAT_TC) ? " (the kernel has no tc BPF programs)" :
			dp->bpffs ? " (maps pinned by an incompatible steer? try steerd --cleanup)" : "");
		goto cleanup;
	}
	err = maps_from_object(&dp->maps, dp->tc->obj);
	if (err)
		goto cleanup;
	/* Before any program that reads the new maps is attached. */
	err = migrate_copy(dp);
	if (err)
		goto cleanup;

	sock_load(dp);
	/* Published after the load: what loaded, not only what the probe said. */
	probe_publish(&dp->feat, &dp->maps);
	probe_log(&dp->feat);
	*dpp = dp;
	return 0;

cleanup:
	datapath_close(dp);
	return err;
}

const struct steer_maps *datapath_maps(const struct datapath *dp)
{
	return &dp->maps;
}

int datapath_prog_fd(const struct datapath *dp, enum datapath_prog prog)
{
	switch (prog) {
	case DATAPATH_PROG_TC:
		return bpf_program__fd(dp->tc->progs.steer_tc_egress);
	case DATAPATH_PROG_TC_INGRESS:
		return bpf_program__fd(dp->tc->progs.steer_tc_ingress);
	case DATAPATH_PROG_CONNECT4 ... DATAPATH_PROG_GETPEER6:
		if (!sock_loaded(dp, prog - DATAPATH_PROG_CONNECT4))
			return -ENOENT;
		return bpf_program__fd(sock_loaded(dp, prog - DATAPATH_PROG_CONNECT4));
	default:
		return -EINVAL;
	}
}

const struct probe_result *datapath_features(const struct datapath *dp)
{
	return &dp->feat;
}

/* The pinned link still points at our cgroup: then it can be updated in place. */
static bool link_on_cgroup(struct bpf_link *link, uint64_t cgid)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len))
		return false;
	return info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cgid;
}

/* Through a pinned link, updated in place if one is there. */
static struct bpf_link *link_attach(struct datapath *dp, int i, int cgfd, const char *cg,
				    struct bpf_link *link, const char *path)
{
	struct bpf_program *prog = sock_prog(dp, i);
	int err;

	if (link) {
		/* Atomic program swap: the hook is never empty during an upgrade. */
		err = bpf_link__update_program(link, prog);
		if (err) {
			pr_warn("update pinned link %s: %s", path, strerror(-err));
			bpf_link__destroy(link);
			return NULL;
		}
		pr_debug("reused pinned link %s", path);
		return link;
	}
	link = bpf_program__attach_cgroup(prog, cgfd);
	if (!link) {
		pr_warn("attach %s to cgroup %s: %s", bpf_program__name(prog), cg, strerror(errno));
		return NULL;
	}
	err = bpf_link__pin(link, path);
	if (err) {
		pr_warn("pin link %s: %s", path, strerror(-err));
		bpf_link__destroy(link);
		return NULL;
	}
	return link;
}

/*
 * Without links: BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI, then the steer
 * program there before is detached. Both run for that moment and decide
 * alike (the second sees a backend, not a VIP), so a restart opens no gap
 * on any kernel, without needing BPF_F_REPLACE (5.6).
 */
static int legacy_attach(struct datapath *dp, int i, int cgfd, const char *cg)
{
	struct bpf_program *prog = sock_prog(dp, i);
	enum bpf_attach_type type = bpf_program__expected_attach_type(prog);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int err;

	if (bpf_prog_attach(bpf_program__fd(prog), cgfd, type, BPF_F_ALLOW_MULTI) ||
	    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
		err = -errno;
		pr_warn("attach %s to cgroup %s without a link: %s", bpf_program__name(prog), cg,
			strerror(-err));
		return err;
	}
	legacy_detach(cgfd, type, info.id);
	/* The pin only records it for steerctl: the attachment holds the program. */
	snprintf(path, sizeof(path), "%s/%s", dp->bpffs, prog_pins[i]);
	unlink(path);
	if (bpf_obj_pin(bpf_program__fd(prog), path))
		pr_warn("pin %s: %s", path, strerror(errno));
	return 0;
}

static int sock_attach(struct datapath *dp)
{
	bool legacy = !probe_on(&dp->feat, FEAT_CGROUP_LINK);
	char cg[PATH_MAX], path[PATH_MAX];
	unsigned int attached = 0;
	struct stat st;
	int cgfd = -1, err;

	if (dp->cgroup) {
		snprintf(cg, sizeof(cg), "%s", dp->cgroup);
	} else {
		err = datapath_find_cgroup2(cg, sizeof(cg));
		if (err) {
			pr_warn("find cgroup v2 mount in /proc/mounts: none; socket steering is off, tc enforcement stays on");
			return err;
		}
	}
	cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		err = -errno;
		pr_warn("open cgroup %s: %s; socket steering is off, tc enforcement stays on",
			cg, strerror(-err));
		return err;
	}
	if (fstat(cgfd, &st) || !is_cgroup2(cgfd)) {
		err = -ENOTSUP;
		pr_warn("cgroup %s: not a cgroup v2 directory; socket steering is off, tc enforcement stays on", cg);
		goto cleanup;
	}

	for (int i = 0; i < STEER_NR_LINKS; i++) {
		struct bpf_program *prog = sock_loaded(dp, i);
		struct bpf_link *link;

		snprintf(path, sizeof(path), "%s/%s", dp->bpffs, sock_hooks[i].pin);
		/* access() first: libbpf logs a failed open as a warning. */
		link = access(path, F_OK) ? NULL : bpf_link__open(path);
		if (link && (!prog || !link_on_cgroup(link, st.st_ino))) {
			pr_info("pinned link %s is %s: removing it", path,
				prog ? "on another cgroup" : "of a hook that is off now");
			bpf_link__unpin(link);
			bpf_link__destroy(link);
			link = NULL;
		}
		if (!prog)
			continue;
		if (legacy) {
			err = legacy_attach(dp, i, cgfd, cg);
			if (err) {
				bpf_link__destroy(link);
				goto cleanup;
			}
			/* The new program is on: a link of a steerd before may go. */
			if (link) {
				bpf_link__unpin(link);
				bpf_link__destroy(link);
			}
		} else {
			link = link_attach(dp, i, cgfd, cg, link, path);
			if (!link) {
				err = -EPERM;
				goto cleanup;
			}
			dp->links[i] = link;
			/* And what a steerd without links left there goes. */
			if (legacy_detach(cgfd, bpf_program__expected_attach_type(prog), 0) > 0) {
				snprintf(path, sizeof(path), "%s/%s", dp->bpffs, prog_pins[i]);
				unlink(path);
			}
		}
		attached |= 1u << i;
	}
	if (!(attached & 1)) {
		err = -ENOTSUP;
		pr_warn("socket steering is off: %s; tc enforcement stays on",
			dp->feat.feat[FEAT_CONNECT4].why);
		goto cleanup;
	}
	dp->sock_active = true;
	pr_info("socket programs attached to cgroup %s%s", cg,
		legacy ? " without links (BPF_PROG_ATTACH)" : "");
	err = 0;
cleanup:
	close(cgfd);
	return err;
}

int datapath_attach(struct datapath *dp, struct loop *loop, struct recon *recon)
{
	int err, n;

	if (!dp->bpffs || !recon)
		return -EINVAL;
	dp->recon = recon;
	if (loop) {
		/* Subscribe before the scan, so a veth born in between is not missed. */
		err = links_watch(dp, loop);
		if (err)
			return err;
	}
	n = datapath_scan_links(dp);
	if (n < 0)
		return n;
	pr_info("tc attached on %d veth(s)", n);
	err = sock_attach(dp);
	if (err)
		dp->sock_active = false;
	return 0;
}

bool datapath_sock_active(const struct datapath *dp)
{
	return dp->sock_active;
}

void datapath_close(struct datapath *dp)
{
	if (!dp)
		return;
	links_unwatch(dp);
	migrate_restore(dp);
	/* Dropping our fds leaves the pinned links attached. */
	for (int i = 0; i < STEER_NR_LINKS; i++)
		bpf_link__destroy(dp->links[i]);
	steer_sock_bpf__destroy(dp->sock);
	steer_tc_bpf__destroy(dp->tc);
	free(dp->bpffs);
	free(dp->cgroup);
	free(dp->iface_glob);
	free(dp);
}
