/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What tests/bpf/test_sock_decide.bpf.c writes back over its input packet,
 * shared with tests/unit/test_tc.c, which reads it.
 */
#ifndef STEER_TEST_SOCK_DECIDE_H
#define STEER_TEST_SOCK_DECIDE_H

#include "../../bpf/lib/sock_types.h"

struct sock_out {
	__u32 verdict;		/* enum sock_verdict */
	__u32 reason;		/* enum steer_reason */
	__be32 addr;
	__be16 port;
	__u8 revnat_ok;
	__u8 pad;
	__be32 revnat_vip;
	__be16 revnat_port;
	__u8 pad2[2];
	__u64 pad3;
};

#endif /* STEER_TEST_SOCK_DECIDE_H */
