/* SPDX-License-Identifier: MIT */
/*
 * Removing steer from a node: what steerd --cleanup and steerctl cleanup do.
 * Needs only the pins, not the BPF objects, so steerctl links it without
 * the loader.
 */
#ifndef STEER_DATAPATH_CLEANUP_H
#define STEER_DATAPATH_CLEANUP_H

#include <stdbool.h>

/* Removes every pin, link, tc filter and qdisc steer made under bpffs. */
int datapath_cleanup(const char *bpffs);

/* Takes steer's tc filter off ifindex, and its clsact qdisc if steer made it. */
int tc_detach_ifindex(int ifindex, bool own_qdisc);

#endif /* STEER_DATAPATH_CLEANUP_H */
