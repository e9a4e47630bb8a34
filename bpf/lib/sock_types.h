/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The socket decision's input and verdict, in UAPI types only, so the
 * user-space test that feeds tests/bpf/test_sock_decide.bpf.c includes the
 * same definitions instead of mirroring them.
 */
#ifndef STEER_BPF_SOCK_TYPES_H
#define STEER_BPF_SOCK_TYPES_H

#include <linux/types.h>
#include <steer/abi.h>

enum sock_verdict {
	SOCK_PASS = 0,		/* untouched: kube-proxy's turn */
	SOCK_REWRITE,		/* destination replaced by the pick */
	SOCK_REFUSE,		/* fail the call with ECONNREFUSED */
};

struct sock_in {
	struct steer_addr addr;	/* IPv4 mapped, or IPv6 */
	__be16 port;
	__u8 proto;
	__u8 pad;
	__u32 rnd;		/* the test's stand-in for bpf_get_prandom_u32() */
};

/* The backend picked, and where it sits (for affinity, steer_sock_nat). */
struct sock_pick {
	struct steer_backend_val be;
	__u16 rev;
	__u16 slot;
};

#endif /* STEER_BPF_SOCK_TYPES_H */
