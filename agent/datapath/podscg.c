// SPDX-License-Identifier: MIT
/*
 * The pods' cgroup hierarchy: the kubelet puts every pod, hostNetwork ones
 * included, under kubepods.slice (systemd driver) or kubepods (cgroupfs
 * driver). Processes outside it (kubelet, system daemons) are the node.
 * The tc program compares the ancestor of a socket's cgroup at the
 * hierarchy's level with its id, so both are needed here; the level counts
 * from the real cgroup v2 root, whatever this process sees mounted.
 */
#include "datapath/internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/log.h"

/* Path components in path ("/" and "" have none). */
static uint32_t depth(const char *path)
{
	uint32_t n = 0;

	for (const char *p = path; *p; p++)
		if (*p != '/' && (p == path || p[-1] == '/'))
			n++;
	return n;
}

/* Only the root cgroup lacks cgroup.events (CFTYPE_NOT_ON_ROOT). */
static bool is_root_cgroup(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	return access(path, F_OK) && errno == ENOENT;
}

/*
 * The cgroup2 mount that holds dir (the longest mount point that prefixes
 * it) and the mount's root in the hierarchy (mountinfo's fourth field; not
 * "/" for a bind mount of a subtree, and relative, with "..", from inside
 * a cgroup namespace).
 */
static int mount_of(const char *dir, char *mnt, size_t mlen, char *root, size_t rlen)
{
	char line[2 * PATH_MAX + 256], r[PATH_MAX], point[PATH_MAX];
	size_t best = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");
		size_t n;

		if (!sep || strncmp(sep, " - cgroup2 ", 11))
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", r, point) != 2)
			continue;
		n = strlen(point);
		if (n == 1)
			n = 0;	/* "/" prefixes everything */
		if (strncmp(dir, point, n) || (dir[n] && dir[n] != '/') || n < best)
			continue;
		best = n;
		snprintf(mnt, mlen, "%s", point);
		snprintf(root, rlen, "%s", r);
	}
	fclose(f);
	return best || mnt[0] ? 0 : -EXDEV;
}

/* dir's cgroup id and its depth below the real root. */
static int cgroup_locate(const char *dir, uint64_t *id, uint32_t *level)
{
	char mnt[PATH_MAX] = "", root[PATH_MAX] = "";
	struct statfs sfs;
	struct stat st;
	int err;

	if (statfs(dir, &sfs) || stat(dir, &st))
		return -errno;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC || !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	err = mount_of(dir, mnt, sizeof(mnt), root, sizeof(root));
	if (err)
		return err;
	*level = depth(dir + (strcmp(mnt, "/") ? strlen(mnt) : 0));
	if (!is_root_cgroup(mnt)) {
		/* A subtree is mounted: its root's path says how deep it is. */
		if (strstr(root, ".."))
			return -ELOOP;
		*level += depth(root);
	}
	/* kernfs: a cgroup's inode number is its id on 64-bit kernels. */
	*id = st.st_ino;
	return 0;
}

static const char *locate_error(int err)
{
	switch (err) {
	case -ENOTDIR: return "not a cgroup v2 directory";
	case -EXDEV: return "under no cgroup2 mount";
	case -ELOOP: return "its mount comes from inside a cgroup namespace, so its depth "
			    "is unknown; mount the host's cgroup v2 root (hostPath /sys/fs/cgroup)";
	default: return strerror(-err);
	}
}

int datapath_pods_cgroup(const char *want, const char *base, struct datapath_pods *out)
{
	static const char *const names[] = { "kubepods.slice", "kubepods" };
	char mnt[PATH_MAX], dir[PATH_MAX];
	int err;

	memset(out, 0, sizeof(*out));
	if (want) {
		err = cgroup_locate(want, &out->id, &out->level);
		if (err) {
			pr_warn("--pods-cgroup %s: %s", want, locate_error(err));
			return err;
		}
		snprintf(out->path, sizeof(out->path), "%s", want);
		goto found;
	}
	/* Under the socket programs' cgroup (the host's root in the DaemonSet), then the mount. */
	if (!base) {
		err = datapath_find_cgroup2(mnt, sizeof(mnt));
		if (err) {
			pr_warn("find the pods' cgroup: no cgroup2 mount in /proc/mounts; every "
				"process on this node is exempt from quarantine");
			return 0;
		}
		base = mnt;
	}
	err = -ENOENT;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && err; i++) {
		if (snprintf(dir, sizeof(dir), "%s/%s", base, names[i]) >= (int)sizeof(dir))
			continue;
		err = cgroup_locate(dir, &out->id, &out->level);
	}
	if (err) {
		pr_warn("pods' cgroup: no kubepods.slice or kubepods under %s%s%s: every process "
			"on this node is exempt from quarantine; set --pods-cgroup", base,
			err == -ENOENT ? "" : ": ", err == -ENOENT ? "" : locate_error(err));
		memset(out, 0, sizeof(*out));
		return 0;
	}
	snprintf(out->path, sizeof(out->path), "%s", dir);
found:
	pr_info("pods' cgroup %s (id %llu, level %u): processes outside it are exempt",
		out->path, (unsigned long long)out->id, out->level);
	return 0;
}
