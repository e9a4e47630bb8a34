/* SPDX-License-Identifier: MIT */
/*
 * The reconciler's test double: an in-memory stand-in for steer's maps under
 * struct recon_ops, with the semantics of recon_maps_ops (datapath/maps.c),
 * for unit tests and the control-plane benchmark. Writes can be made to fail,
 * always (fail) or a given number of times (fail_next).
 */
#ifndef STEER_TESTS_MEMMAPS_H
#define STEER_TESTS_MEMMAPS_H

#include <stdbool.h>

#include "datapath/reconcile.h"
#include "lib/table.h"

struct memsvc {
	struct steer_svc_val val;
	struct steer_backend_val *b;
};

struct memmaps {
	struct table quar;	/* __be32 -> struct steer_quar_val */
	struct table svc;	/* steer_svc_key -> struct memsvc */
	struct table member;	/* steer_member_key -> struct steer_member_val */
	struct table exempt;	/* steer_exempt_key -> origin */
	struct table iface;	/* ifindex -> struct steer_iface_val */
	uint64_t latency[STEER_LAT_SLOTS];
	unsigned long writes;
	unsigned long deletes;
	int fail;		/* non-zero: every write fails with it */
	int fail_next;		/* this many writes fail with fail_err */
	int fail_err;
};

extern const struct recon_ops mem_ops;

void memmaps_free(struct memmaps *mm);
const struct steer_quar_val *memmaps_quar(const struct memmaps *mm, const char *ip);
const struct memsvc *memmaps_svc(const struct memmaps *mm, const char *vip,
				 uint16_t port, uint8_t proto);
/* The departure-memory entry of pod uid (or "ns/name") in Service "ns/name", or NULL. */
const struct steer_member_val *memmaps_member(const struct memmaps *mm, const char *pod,
					      const char *svc);
bool memsvc_has(const struct memsvc *s, const char *ip, uint16_t port);

#endif /* STEER_TESTS_MEMMAPS_H */
