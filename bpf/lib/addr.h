/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * struct steer_addr helpers: IPv4 travels v4-mapped (::ffff:a.b.c.d).
 * Word by word: the verifier wants stack accesses aligned to their size,
 * and the struct is only 4-aligned.
 */
#ifndef STEER_BPF_ADDR_H
#define STEER_BPF_ADDR_H

#include <stdbool.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <steer/abi.h>

static __always_inline __u32 *addr_w(struct steer_addr *a)
{
	return (__u32 *)a->b;
}

static __always_inline const __u32 *addr_cw(const struct steer_addr *a)
{
	return (const __u32 *)a->b;
}

static __always_inline void addr_set_v4(struct steer_addr *a, __be32 v4)
{
	__u32 *w = addr_w(a);

	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0xffff);
	w[3] = v4;
}

static __always_inline __be32 addr_v4(const struct steer_addr *a)
{
	return addr_cw(a)[3];
}

static __always_inline bool addr_eq(const struct steer_addr *a, const struct steer_addr *b)
{
	const __u32 *x = addr_cw(a), *y = addr_cw(b);

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

#endif /* STEER_BPF_ADDR_H */
