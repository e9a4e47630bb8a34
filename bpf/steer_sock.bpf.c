// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup v2 socket hooks: steer connects and datagrams aimed at a steered
 * service to a healthy backend, refuse pod sockets that connect straight
 * to a quarantined pod, and translate replies back to the VIP.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>

#include "lib/sock_decide.h"

/* From libc's bits/socket_type.h, which the BPF target cannot include. */
#define SOCK_STREAM	1
#define SOCK_DGRAM	2

/* Return codes of cgroup sock_addr programs (cf. Cilium bpf_sock.c). */
#define SYS_REJECT	0
#define SYS_PROCEED	1

/* The node's netns cookie, written by steerd before load (SO_NETNS_COOKIE). */
const volatile __u64 host_netns_cookie = 0;

static __always_inline int sock4_xlate(struct bpf_sock_addr *ctx, __u8 proto)
{
	struct steer_backend_val be;
	struct sock_in in = {};
	__u32 reason;
	int v;

	in.addr = ctx->user_ip4;
	/* user_port is a __u32 holding a __be16 in its low-order bytes. */
	in.port = (__be16)ctx->user_port;
	in.proto = proto;
	in.netns = bpf_get_netns_cookie(ctx);
	in.host_netns = host_netns_cookie;
	in.rnd = bpf_get_prandom_u32();

	v = sock_decide(&in, &be, &reason);
	if (reason != STEER_R_PASS)
		stat_inc(reason);
	switch (v) {
	case SOCK_REWRITE:
		sock_revnat_save(bpf_get_socket_cookie(ctx), &be, in.addr, in.port);
		ctx->user_ip4 = be.addr;
		ctx->user_port = be.port;
		return SYS_PROCEED;
	case SOCK_REFUSE:
		/*
		 * Without set_retval a rejected connect() fails with EPERM;
		 * ECONNREFUSED is what a client sees from an empty Service.
		 */
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

SEC("cgroup/connect4")
int steer_sock4_connect(struct bpf_sock_addr *ctx)
{
	if (ctx->type != SOCK_STREAM && ctx->type != SOCK_DGRAM)
		return SYS_PROCEED;
	return sock4_xlate(ctx, sock_proto(ctx));
}

SEC("cgroup/sendmsg4")
int steer_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	/* Only unconnected UDP sendto() reaches this hook with an address. */
	if (ctx->type != SOCK_DGRAM)
		return SYS_PROCEED;
	return sock4_xlate(ctx, IPPROTO_UDP);
}

static __always_inline void sock4_revnat(struct bpf_sock_addr *ctx)
{
	struct steer_revnat_val v;

	if (!sock_revnat_lookup(bpf_get_socket_cookie(ctx), ctx->user_ip4,
				(__be16)ctx->user_port, &v))
		return;
	ctx->user_ip4 = v.vip;
	ctx->user_port = v.port;
	stat_inc(STEER_R_SOCK_REVNAT);
}

SEC("cgroup/recvmsg4")
int steer_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	sock4_revnat(ctx);
	/* recvmsg hooks must return 1; rejecting is not allowed here. */
	return SYS_PROCEED;
}

SEC("cgroup/getpeername4")
int steer_sock4_getpeer(struct bpf_sock_addr *ctx)
{
	sock4_revnat(ctx);
	return SYS_PROCEED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
