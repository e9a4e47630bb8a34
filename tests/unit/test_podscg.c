// SPDX-License-Identifier: MIT
/*
 * Finding the pods' cgroup hierarchy and its depth below the real cgroup v2
 * root, in real cgroups under the host's mount (a private child of it), and
 * through a bind mount of a subtree, as a DaemonSet's hostPath may be.
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datapath/datapath.h"

struct cgs {
	char root[PATH_MAX];	/* the cgroup2 mount */
	char top[PATH_MAX + 32];	/* <root>/steer-podscg-<pid> */
	char pods[PATH_MAX + 64];	/* <top>/kubepods.slice */
};

static bool cgs_make(struct cgs *c)
{
	if (geteuid() != 0) {
		test_skip("needs root for cgroups");
		return false;
	}
	if (datapath_find_cgroup2(c->root, sizeof(c->root))) {
		test_skip("no cgroup2 mount");
		return false;
	}
	snprintf(c->top, sizeof(c->top), "%s/steer-podscg-%d", c->root, getpid());
	snprintf(c->pods, sizeof(c->pods), "%s/kubepods.slice", c->top);
	return ASSERT_OK(mkdir(c->top, 0755) ? -errno : 0, "mkdir top") &&
	       ASSERT_OK(mkdir(c->pods, 0755) ? -errno : 0, "mkdir kubepods.slice");
}

static void cgs_remove(const struct cgs *c)
{
	rmdir(c->pods);
	rmdir(c->top);
}

static uint64_t ino(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : st.st_ino;
}

TEST(pods_cgroup_found_under_base_with_its_level)
{
	struct datapath_pods p;
	struct cgs c;

	if (!cgs_make(&c))
		goto cleanup;
	/* The mount is the real root here: top is level 1, kubepods.slice 2. */
	ASSERT_OK(datapath_pods_cgroup(NULL, c.top, &p), "autodetect");
	ASSERT_STREQ(p.path, c.pods, "path");
	ASSERT_EQ(p.id, ino(c.pods), "id is the cgroup's inode");
	ASSERT_EQ(p.level, 2, "level");
	ASSERT_OK(datapath_pods_cgroup(c.pods, NULL, &p), "given");
	ASSERT_EQ(p.level, 2, "given: level");
	/* Nothing there: not an error, and nothing is a pod. */
	ASSERT_OK(datapath_pods_cgroup(NULL, c.pods, &p), "nothing under it");
	ASSERT_EQ(p.id, 0, "none found");
	ASSERT_ERR(datapath_pods_cgroup("/tmp", NULL, &p), "not a cgroup");
	ASSERT_ERR(datapath_pods_cgroup("/nonexistent/kubepods", NULL, &p), "missing");
cleanup:
	cgs_remove(&c);
}

TEST(pods_cgroup_level_through_a_bind_mounted_subtree)
{
	char dir[] = "/tmp/steer-podscg-XXXXXX", sub[PATH_MAX];
	struct datapath_pods p;
	bool mounted = false;
	struct cgs c;

	if (!cgs_make(&c))
		goto cleanup;
	/* A private mount namespace: the bind mount is this test's alone. */
	if (!ASSERT_OK(unshare(CLONE_NEWNS) ? -errno : 0, "unshare mounts") ||
	    !ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ? -errno : 0,
		       "private") ||
	    !ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		goto cleanup;
	if (!ASSERT_OK(mount(c.top, dir, NULL, MS_BIND, NULL) ? -errno : 0, "bind mount"))
		goto cleanup;
	mounted = true;
	/* Its mountinfo root is /steer-podscg-<pid>: level 1 at the mount point. */
	snprintf(sub, sizeof(sub), "%s/kubepods.slice", dir);
	ASSERT_OK(datapath_pods_cgroup(sub, NULL, &p), "through the bind mount");
	ASSERT_EQ(p.level, 2, "level counts from the real root");
	ASSERT_EQ(p.id, ino(c.pods), "same cgroup");
cleanup:
	if (mounted)
		umount(dir);
	rmdir(dir);
	cgs_remove(&c);
}
