/* SPDX-License-Identifier: MIT */
/* The two clocks steer reads: monotonic for deadlines, realtime for stamps. */
#ifndef STEER_LIB_CLOCK_H
#define STEER_LIB_CLOCK_H

#include <stdint.h>

uint64_t now_ns(void);		/* CLOCK_MONOTONIC */
uint64_t wall_ns(void);		/* CLOCK_REALTIME */

#endif /* STEER_LIB_CLOCK_H */
