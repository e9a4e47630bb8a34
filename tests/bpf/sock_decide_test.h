/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What tests/bpf/test_sock_decide.bpf.c reads from its input packet and
 * writes back over it, shared with tests/unit/test_tc.c.
 */
#ifndef STEER_TEST_SOCK_DECIDE_H
#define STEER_TEST_SOCK_DECIDE_H

#include "../../bpf/lib/sock_types.h"

enum test_mode {
	TEST_DECIDE = 0,	/* sock_decide(in, prior if has_prior) */
	TEST_PICK_SNAPSHOT,	/* sock_pick() with a steer_svc value read earlier */
	TEST_REVNAT,		/* revnat_save() twice and revnat_find(), cookie = rnd */
};

struct test_in {
	struct sock_in in;
	__u32 mode;		/* enum test_mode */
	__u32 has_prior;
	struct steer_affinity_val prior;
	__u32 snap_count;	/* TEST_PICK_SNAPSHOT: what the reader saw */
	__u16 snap_rev;
	__u16 pad;
};

struct sock_out {
	__u32 verdict;		/* enum sock_verdict */
	__u32 reason;		/* enum steer_reason */
	struct sock_pick pick;
	__u32 writes;		/* TEST_REVNAT: revnat_save() calls that wrote */
	__u32 found;		/* TEST_REVNAT: revnat_find() gave in.addr:in.port */
};

#endif /* STEER_TEST_SOCK_DECIDE_H */
