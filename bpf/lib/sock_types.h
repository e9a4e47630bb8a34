/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The socket decision's input and verdict, in UAPI types only, so the
 * user-space test that feeds tests/bpf/test_sock_decide.bpf.c includes the
 * same definitions instead of mirroring them.
 */
#ifndef STEER_BPF_SOCK_TYPES_H
#define STEER_BPF_SOCK_TYPES_H

#include <linux/types.h>

enum sock_verdict {
	SOCK_PASS = 0,		/* untouched */
	SOCK_REWRITE,		/* destination replaced by *out */
	SOCK_REFUSE,		/* fail the call with ECONNREFUSED */
};

struct sock_in {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
	__u64 netns;		/* bpf_get_netns_cookie() of the caller */
	__u64 host_netns;	/* the node's netns cookie; 0 = unknown */
	__u32 rnd;		/* bpf_get_prandom_u32() */
	__u32 pad2;
};

#endif /* STEER_BPF_SOCK_TYPES_H */
