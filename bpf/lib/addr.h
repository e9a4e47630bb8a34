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

static __always_inline void addr_set_v4(struct steer_addr *a, __be32 v4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0xffff);
	a->w[3] = v4;
}

/* From 4 words (a sock_addr's user_ip6, an IPv6 header's address). */
static __always_inline void addr_set_v6(struct steer_addr *a, const __u32 *w)
{
	a->w[0] = w[0];
	a->w[1] = w[1];
	a->w[2] = w[2];
	a->w[3] = w[3];
}

static __always_inline bool addr_is_v4(const struct steer_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0xffff);
}

static __always_inline __be32 addr_v4(const struct steer_addr *a)
{
	return a->w[3];
}

static __always_inline bool addr_eq(const struct steer_addr *a, const struct steer_addr *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] &&
	       a->w[3] == b->w[3];
}

#endif /* STEER_BPF_ADDR_H */
