/* SPDX-License-Identifier: MIT */
/*
 * An in-memory stand-in for the quarantine, service and member maps, with the same
 * semantics as apply_maps_ops, for unit tests and the model benchmark.
 */
#ifndef STEER_MODEL_MEMMAPS_H
#define STEER_MODEL_MEMMAPS_H

#include "model/model.h"
#include "model/table.h"

struct memsvc {
	struct steer_svc_val val;
	struct steer_backend_val *b;
};

struct memmaps {
	struct table quar;	/* __be32 -> struct steer_quar_val */
	struct table svc;	/* steer_svc_key -> struct memsvc */
	struct table member;	/* steer_member_key -> struct steer_member_val */
	unsigned long writes;
	unsigned long deletes;
	int fail;		/* non-zero: every write fails with it */
};

extern const struct apply_ops apply_mem_ops;

void memmaps_free(struct memmaps *mm);
const struct steer_quar_val *memmaps_quar(const struct memmaps *mm, const char *ip);
const struct memsvc *memmaps_svc(const struct memmaps *mm, const char *vip,
				 uint16_t port, uint8_t proto);
/* The departure-memory entry of pod "ns/name" in Service "ns/name", or NULL. */
const struct steer_member_val *memmaps_member(const struct memmaps *mm, const char *pod,
					      const char *svc);
bool memsvc_has(const struct memsvc *s, const char *ip, uint16_t port);

#endif /* STEER_MODEL_MEMMAPS_H */
