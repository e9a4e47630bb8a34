/* SPDX-License-Identifier: MIT */
/*
 * Loading, pinning and attaching steer's BPF programs.
 *
 * datapath_open() loads both skeletons (tc and socket programs) with one
 * shared set of maps. With opts->bpffs NULL nothing is pinned or attached:
 * that is what unit tests use to get the real programs and maps. With a
 * bpffs directory the maps are reused from (or pinned to) it, so a restart
 * keeps every entry and counter.
 *
 * datapath_attach() then attaches tc egress on matching veths (and on veths
 * created later, through netlink events on the loop) and the socket
 * programs to the cgroup v2 root, pinning the links. Closing never detaches:
 * enforcement outlives steerd. Only datapath_cleanup() (datapath/cleanup.h)
 * removes it. The maps themselves are written by the reconciler alone
 * (datapath/reconcile.h); the attach code records its attach points in
 * steer_ifaces through it.
 */
#ifndef STEER_DATAPATH_H
#define STEER_DATAPATH_H

#include <stdbool.h>
#include <stdint.h>

#include "datapath/maps.h"
#include "lib/loop.h"

struct recon;
struct probe_result;

struct datapath_opts {
	const char *bpffs;	/* NULL: load only, no pin, no attach */
	const char *cgroup;	/* NULL: the cgroup2 mount from /proc/mounts */
	const char *iface_glob;	/* NULL: every veth */
	const char *pods_cgroup; /* NULL: kubepods.slice or kubepods, if there */
};

enum datapath_prog {
	DATAPATH_PROG_TC = 0,		/* egress: into the pod */
	DATAPATH_PROG_TC_INGRESS,	/* from the pod: records its flows */
	DATAPATH_PROG_CONNECT4,
	DATAPATH_PROG_SENDMSG4,
	DATAPATH_PROG_RECVMSG4,
	DATAPATH_PROG_GETPEER4,
	DATAPATH_PROG_CONNECT6,
	DATAPATH_PROG_SENDMSG6,
	DATAPATH_PROG_RECVMSG6,
	DATAPATH_PROG_GETPEER6,
	DATAPATH_PROG_MAX,
};

struct datapath;

int datapath_open(struct datapath **dp, const struct datapath_opts *opts);
const struct steer_maps *datapath_maps(const struct datapath *dp);
/* A program's fd; -ENOENT for a socket program this kernel did not take. */
int datapath_prog_fd(const struct datapath *dp, enum datapath_prog prog);
/* What the probe found and the load confirmed (datapath/probe.h). */
const struct probe_result *datapath_features(const struct datapath *dp);

/*
 * Attaches everything. Socket steering that cannot attach (no cgroup2) is
 * logged and left off, tc still enforces: returns 0 then, and
 * datapath_sock_active() says false. loop may be NULL (no netlink watch).
 * recon records the tc attach points in steer_ifaces.
 */
int datapath_attach(struct datapath *dp, struct loop *loop, struct recon *recon);
bool datapath_sock_active(const struct datapath *dp);
/* Attaches tc to the matching veths that exist now; returns how many. */
int datapath_scan_links(struct datapath *dp);

/* Frees user-space state; pinned maps, links and tc filters stay. */
void datapath_close(struct datapath *dp);

/* The cgroup v2 mount point from /proc/mounts, into buf. */
int datapath_find_cgroup2(char *buf, size_t len);

/* The pods' cgroup hierarchy: processes outside it are the node (exempt). */
struct datapath_pods {
	uint64_t id;		/* 0: none found, every process on the node is exempt */
	uint32_t level;		/* depth below the cgroup v2 root */
	char path[4096];
};

/*
 * want (a directory) or, if NULL, kubepods.slice / kubepods under base (the
 * socket programs' cgroup; NULL: the cgroup2 mount). Finding none is not an
 * error (out->id stays 0); a want whose depth cannot be told is.
 */
int datapath_pods_cgroup(const char *want, const char *base, struct datapath_pods *out);

#endif /* STEER_DATAPATH_H */
