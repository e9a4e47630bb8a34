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
 * (sendmsg) keeps the backend it was given for this VIP before.
 */
static __always_inline int sock4_xlate(struct bpf_sock_addr *ctx, __u8 proto, bool sendmsg)
{
	struct steer_affinity_val *prior = NULL;
	struct sock_in in = {};
	/*
	 * Zeroed: clang loads pick.slot before the switch on every path, and
	 * the 5.10 verifier rejects a read of stack never written ("invalid
	 * read from stack") where later kernels let root do it.
	 */
	struct sock_pick pick = {};
	struct steer_addr vip;
	__u64 cookie = 0;
	__u32 reason;
	int v;

	in.addr = ctx->user_ip4;
	/* user_port is a __u32 holding a __be16 in its low-order bytes. */
	in.port = (__be16)ctx->user_port;
	in.proto = proto;
	addr_set_v4(&vip, in.addr);
	if (sendmsg) {
		cookie = bpf_get_socket_cookie(ctx);
		prior = affinity_find(cookie, &vip, in.port);
	}

	v = sock_decide(&in, prior, &pick, &reason);
	if (reason != STEER_R_PASS)
		stat_inc(reason);
	switch (v) {
	case SOCK_REWRITE:
		/* The cookie only now: most connects are not steered. */
		if (!sendmsg)
			cookie = bpf_get_socket_cookie(ctx);
		else
			affinity_save(cookie, &vip, in.port, &pick, prior);
		revnat_save(cookie, proto, &pick, &vip, in.port);
		ctx->user_ip4 = pick.be.addr;
		ctx->user_port = pick.be.port;
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

SEC("cgroup/connect4")
int steer_sock4_connect(struct bpf_sock_addr *ctx)
{
	if (ctx->type != SOCK_STREAM && ctx->type != SOCK_DGRAM)
		return SYS_PROCEED;
	return sock4_xlate(ctx, sock_proto(ctx), false);
}

SEC("cgroup/sendmsg4")
int steer_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	/* Only unconnected UDP sendto() reaches this hook with an address. */
	if (ctx->type != SOCK_DGRAM)
		return SYS_PROCEED;
	return sock4_xlate(ctx, IPPROTO_UDP, true);
}

/* The backend ctx shows (a reply's source, the peer) -> its VIP. */
static __always_inline void sock4_revnat(struct bpf_sock_addr *ctx)
{
	struct steer_revnat_val *v;
	struct steer_addr peer;

	addr_set_v4(&peer, ctx->user_ip4);
	v = revnat_find(bpf_get_socket_cookie(ctx), sock_proto(ctx), &peer,
			(__be16)ctx->user_port);
	if (!v)
		return;
	ctx->user_ip4 = addr_v4(&v->vip);
	ctx->user_port = v->port;
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
