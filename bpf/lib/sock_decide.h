/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level steering decisions, kept free of sock_addr context access
 * so a tc test program can include and exercise them with
 * BPF_PROG_TEST_RUN (sock_addr programs cannot be test-run).
 *
 * Only steered services are touched. A connect() or sendto() straight to
 * a quarantined pod's address is not refused here: tc on that pod's veth
 * refuses it (a RST+ACK, so connect() still fails with ECONNREFUSED), and
 * only there is it known whether the packet answers a flow the pod opened
 * (a DNS answer to its query), or never leaves the pod at all (the pod
 * talking to its own IP). docs/datapath.md, "Socket programs".
 */
#ifndef STEER_BPF_SOCK_DECIDE_H
#define STEER_BPF_SOCK_DECIDE_H

#include "lib/addr.h"
#include "lib/maps.h"
#include "lib/sock_types.h"
#include "lib/stats.h"

/*
 * A quarantined backend behind a service is skipped, in case the writer
 * has not removed it yet. Bounded so the verifier sees a fixed loop.
 */
#define SOCK_PICK_TRIES 4

/* The test program draws "random" numbers from its input. */
#ifndef SOCK_RND
#define SOCK_RND(in) bpf_get_prandom_u32()
#endif

static __always_inline bool backend_healthy(const struct steer_backend_val *b)
{
	struct steer_quar_key qk = { .addr = b->addr };

	return !bpf_map_lookup_elem(&steer_quar, &qk);
}

/*
 * Picks among count slots of rev, from a random start. A slot that is
 * missing (a writer between two steps, or a reader still on the rev before
 * the last) or quarantined is skipped. Nothing usable within the tries:
 * the call goes on to kube-proxy, which is never worse than refusing.
 */
static __always_inline int sock_pick(const struct steer_svc_key *sk, __u32 count, __u16 rev,
				     __u32 rnd, struct sock_pick *out, __u32 *reason)
{
	struct steer_backend_key bk = { .svc = *sk, .rev = rev };
	__u32 start;

	if (count > STEER_MAX_BACKENDS_PER_SVC) {
		*reason = STEER_R_SOCK_FALLTHROUGH;
		return SOCK_PASS;
	}
	start = rnd % count;
	for (int i = 0; i < SOCK_PICK_TRIES; i++) {
		struct steer_backend_val *b;

		if (i >= count)
			break;
		bk.slot = (start + i) % count;
		b = bpf_map_lookup_elem(&steer_backend, &bk);
		if (!b || !backend_healthy(b))
			continue;
		out->be = *b;
		out->rev = rev;
		out->slot = bk.slot;
		*reason = STEER_R_SOCK_STEERED;
		return SOCK_REWRITE;
	}
	*reason = STEER_R_SOCK_FALLTHROUGH;
	return SOCK_PASS;
}

/* Is the backend a socket was given still in its slot, and healthy? */
static __always_inline bool sock_kept(const struct steer_svc_key *sk, __u16 rev,
				      const struct steer_affinity_val *a)
{
	struct steer_backend_key bk = { .svc = *sk, .rev = rev, .slot = a->slot };
	struct steer_backend_val *b = bpf_map_lookup_elem(&steer_backend, &bk);

	return b && addr_eq(&b->addr, &a->backend) && b->port == a->port &&
	       backend_healthy(b);
}

/*
 * The decision for a connect() or sendmsg() to in->addr:in->port. prior is
 * what this socket was given for the same VIP before (NULL: nothing), which
 * it keeps while that backend is where it was and healthy, so an
 * unconnected UDP socket talks to one backend for its life. Refuses only
 * what the writer says has no backend at all (count 0), which is what
 * kube-proxy converges to.
 */
static __always_inline int sock_decide(const struct sock_in *in,
				       const struct steer_affinity_val *prior,
				       struct sock_pick *out, __u32 *reason)
{
	struct steer_svc_key sk = {
		.vip = in->addr, .port = in->port, .proto = in->proto,
	};
	struct steer_svc_val *svc;
	__u32 count;
	__u16 rev;

	svc = bpf_map_lookup_elem(&steer_svc, &sk);
	if (!svc) {
		*reason = STEER_R_PASS;
		return SOCK_PASS;
	}
	/* Copy: the entry may be rewritten while we pick. */
	count = svc->count;
	rev = svc->rev;
	if (count == 0) {
		*reason = STEER_R_SOCK_NO_BACKEND;
		return SOCK_REFUSE;
	}
	if (prior && sock_kept(&sk, rev, prior)) {
		out->be.addr = prior->backend;
		out->be.port = prior->port;
		out->rev = rev;
		out->slot = prior->slot;
		*reason = STEER_R_SOCK_STEERED;
		return SOCK_REWRITE;
	}
	return sock_pick(&sk, count, rev, SOCK_RND(in), out, reason);
}

#endif /* STEER_BPF_SOCK_DECIDE_H */
