/* SPDX-License-Identifier: MIT */
/*
 * Removing steer from a node: what steerd --cleanup and steerctl cleanup do.
 * Needs only the pins, not the BPF objects, so steerctl links it without
 * the loader.
 */
#ifndef STEER_DATAPATH_CLEANUP_H
#define STEER_DATAPATH_CLEANUP_H

#include <linux/bpf.h>
#include <stdbool.h>

/*
 * Removes every pin, link, tc filter and qdisc steer made under bpffs, and
 * the socket programs attached without links on cgroup (NULL: the cgroup2
 * mount), which have no pin.
 */
int datapath_cleanup(const char *bpffs, const char *cgroup);

/*
 * Detaches the steer socket programs attached with BPF_PROG_ATTACH to
 * cgfd for type, all but the program keep_id; returns how many or -errno.
 */
int legacy_detach(int cgfd, enum bpf_attach_type type, __u32 keep_id);

/* Takes steer's tc filter off ifindex, and its clsact qdisc if steer made it. */
int tc_detach_ifindex(int ifindex, bool own_qdisc);

#endif /* STEER_DATAPATH_CLEANUP_H */
