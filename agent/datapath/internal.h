/* SPDX-License-Identifier: MIT */
/* State shared by the files of agent/datapath/; not an API. */
#ifndef STEER_DATAPATH_INTERNAL_H
#define STEER_DATAPATH_INTERNAL_H

#include "datapath/datapath.h"
#include "datapath/probe.h"

struct steer_tc_bpf;
struct steer_sock_bpf;
struct bpf_link;

struct datapath {
	struct steer_tc_bpf *tc;
	struct steer_sock_bpf *sock;	/* NULL: the kernel took none of them */
	struct steer_maps maps;
	char *bpffs;
	char *cgroup;
	char *iface_glob;
	struct loop *loop;
	struct recon *recon;	/* records attach points in steer_ifaces */
	int nl_fd;		/* RTNLGRP_LINK events, -1 if not watching */
	struct bpf_link *links[STEER_NR_LINKS];	/* in STEER_LINK_PINS order */
	struct probe_result feat;
	bool sock_active;
	int old_maps[MAP_NR];	/* pins of the IPv4-only layout set aside, or -1 */
};

/* migrate.c: upgrade over the pins of a steer before IPv6. */
void migrate_detach(struct datapath *dp);
int migrate_copy(struct datapath *dp);
void migrate_restore(struct datapath *dp);

int tc_attach_ifindex(struct datapath *dp, int ifindex, const char *name);
int links_watch(struct datapath *dp, struct loop *loop);
void links_unwatch(struct datapath *dp);

#endif /* STEER_DATAPATH_INTERNAL_H */
