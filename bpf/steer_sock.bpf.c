// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup v2 socket hooks: steer connects and datagrams aimed at a steered
 * service to a healthy backend, keep an unconnected UDP socket on the
 * backend it was given, and translate replies and getpeername() back to
 * the VIP (lib/sock_nat.h).
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>

#include "lib/sock_decide.h"
#include "lib/sock_nat.h"

/* From libc's bits/socket_type.h, which the BPF target cannot include. */
#define SOCK_STREAM	1
#define SOCK_DGRAM	2

/* Return codes of cgroup sock_addr programs (cf. Cilium bpf_sock.c). */
#define SYS_REJECT	0
#define SYS_PROCEED	1

static __always_inline void ctx_get(struct bpf_sock_addr *ctx, bool v6, struct steer_addr *a)
{
	if (!v6) {
		addr_set_v4(a, ctx->user_ip4);
		return;
	}
	/* One word at a time: the only access the verifier allows to user_ip6. */
	a->w[0] = ctx->user_ip6[0];
	a->w[1] = ctx->user_ip6[1];
	a->w[2] = ctx->user_ip6[2];
	a->w[3] = ctx->user_ip6[3];
}

static __always_inline void ctx_set(struct bpf_sock_addr *ctx, bool v6,
				    const struct steer_addr *a, __be16 port)
{
	if (!v6) {
		ctx->user_ip4 = addr_v4(a);
	} else {
		ctx->user_ip6[0] = a->w[0];
		ctx->user_ip6[1] = a->w[1];
		ctx->user_ip6[2] = a->w[2];
		ctx->user_ip6[3] = a->w[3];
	}
	ctx->user_port = port;
}

/*
 * Set by the loader from the probe (agent/datapath/probe.c). .rodata is
 * frozen before the load, so the verifier knows the value and never walks
 * the branch not taken: on a kernel without bpf_set_retval in sock_addr
 * programs (before 6.1) the call to it is dead code and the object still
 * loads. One object, not a second build of it, so both variants are the
 * same bytes that the tests exercise.
 */
const volatile __u8 have_set_retval = 1;

/*
 * connect() and sendmsg(): steer a steered VIP. An unconnected UDP socket
 * (sendmsg) keeps the backend it was given for this VIP before. v6: the
 * IPv6 hooks, where a v4-mapped address (an IPv4 peer of a dual-mode
 * socket, as Java and .NET open them) is the same key as in the IPv4 hooks
 * and is translated the same way.
 */
static __always_inline int sock_xlate(struct bpf_sock_addr *ctx, __u8 proto, bool sendmsg,
				      bool v6)
{
	struct steer_affinity_val *prior = NULL;
	struct sock_in in = {};
	/*
	 * Zeroed: clang loads pick.slot before the switch on every path, and
	 * the 5.10 verifier rejects a read of stack never written ("invalid
	 * read from stack") where later kernels let root do it.
	 */
	struct sock_pick pick = {};
	__u64 cookie = 0;
	__u32 reason;
	int v;

	ctx_get(ctx, v6, &in.addr);
	/* user_port is a __u32 holding a __be16 in its low-order bytes. */
	in.port = (__be16)ctx->user_port;
	in.proto = proto;
	if (sendmsg) {
		cookie = bpf_get_socket_cookie(ctx);
		prior = affinity_find(cookie, &in.addr, in.port);
	}

	v = sock_decide(&in, prior, &pick, &reason);
	/* A backend of the other family (a hand-made steerctl set): kube-proxy's turn. */
	if (v == SOCK_REWRITE && addr_is_v4(&pick.be.addr) != addr_is_v4(&in.addr)) {
		v = SOCK_PASS;
		reason = STEER_R_SOCK_FALLTHROUGH;
	}
	if (reason != STEER_R_PASS)
		stat_inc(reason);
	switch (v) {
	case SOCK_REWRITE:
		/* The cookie only now: most connects are not steered. */
		if (!sendmsg)
			cookie = bpf_get_socket_cookie(ctx);
		else
			affinity_save(cookie, &in.addr, in.port, &pick, prior);
		revnat_save(cookie, proto, &pick, &in.addr, in.port);
		ctx_set(ctx, v6, &pick.be.addr, pick.be.port);
		return SYS_PROCEED;
	case SOCK_REFUSE:
		/*
		 * Without set_retval a rejected connect() would fail with
		 * EPERM, which no client expects from an empty Service: leave
		 * it to kube-proxy, which refuses it a moment later.
		 */
		if (!have_set_retval)
			return SYS_PROCEED;
		bpf_set_retval(-ECONNREFUSED);
		return SYS_REJECT;
	}
	return SYS_PROCEED;
}

static __always_inline __u8 sock_proto(struct bpf_sock_addr *ctx)
{
	/* sock_addr has no protocol field on every kernel; type tells us enough. */
	return ctx->type == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
}

static __always_inline int sock_connect(struct bpf_sock_addr *ctx, bool v6)
{
	if (ctx->type != SOCK_STREAM && ctx->type != SOCK_DGRAM)
		return SYS_PROCEED;
	return sock_xlate(ctx, sock_proto(ctx), false, v6);
}

static __always_inline int sock_sendmsg(struct bpf_sock_addr *ctx, bool v6)
{
	/* Only unconnected UDP sendto() reaches this hook with an address. */
	if (ctx->type != SOCK_DGRAM)
		return SYS_PROCEED;
	return sock_xlate(ctx, IPPROTO_UDP, true, v6);
}

/*
 * The backend ctx shows (a reply's source, the peer) -> its VIP. Always
 * SYS_PROCEED: recvmsg and getpeername hooks may not reject.
 */
static __always_inline int sock_revnat(struct bpf_sock_addr *ctx, bool v6)
{
	struct steer_revnat_val *v;
	struct steer_addr peer;

	ctx_get(ctx, v6, &peer);
	v = revnat_find(bpf_get_socket_cookie(ctx), sock_proto(ctx), &peer,
			(__be16)ctx->user_port);
	if (!v)
		return SYS_PROCEED;
	ctx_set(ctx, v6, &v->vip, v->port);
	stat_inc(STEER_R_SOCK_REVNAT);
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int steer_sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock_connect(ctx, false);
}

SEC("cgroup/sendmsg4")
int steer_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock_sendmsg(ctx, false);
}

SEC("cgroup/recvmsg4")
int steer_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock_revnat(ctx, false);
}

SEC("cgroup/getpeername4")
int steer_sock4_getpeer(struct bpf_sock_addr *ctx)
{
	return sock_revnat(ctx, false);
}

SEC("cgroup/connect6")
int steer_sock6_connect(struct bpf_sock_addr *ctx)
{
	return sock_connect(ctx, true);
}

SEC("cgroup/sendmsg6")
int steer_sock6_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock_sendmsg(ctx, true);
}

SEC("cgroup/recvmsg6")
int steer_sock6_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock_revnat(ctx, true);
}

SEC("cgroup/getpeername6")
int steer_sock6_getpeer(struct bpf_sock_addr *ctx)
{
	return sock_revnat(ctx, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
