/* SPDX-License-Identifier: MIT */
/*
 * The one place where the planner's desired state meets the reconciler:
 * the sink that hands every desired key over, and a full sync of one into
 * the other. Neither side knows the other; control.c, the tests and the
 * benchmark join them here.
 */
#ifndef STEER_APPLY_H
#define STEER_APPLY_H

#include "datapath/reconcile.h"
#include "model/planner.h"

/* A sink that gives every desired key to r. */
struct plan_sink apply_sink(struct recon *r);

/*
 * Mark and sweep. The first one also gives the planner the departure
 * memory a previous steerd left in steer_members, and turns the
 * reconciler's writes on. 0, or -EIO when a write failed (it is pending).
 */
int apply_sync(struct plan *p, struct recon *r);

#endif /* STEER_APPLY_H */
