/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level steering decisions, kept free of sock_addr context access
 * so a tc test program can include and exercise them with
 * BPF_PROG_TEST_RUN (sock_addr programs cannot be test-run).
 */
#ifndef STEER_BPF_SOCK_DECIDE_H
#define STEER_BPF_SOCK_DECIDE_H

#include "lib/maps.h"
#include "lib/sock_types.h"
#include "lib/stats.h"

/*
 * A quarantined backend behind a service: tried as a safety net in case
 * the writer has not removed it yet. Bounded so the verifier sees a fixed
 * loop; after that many quarantined slots in a row we refuse, which is
 * what an empty service does.
 */
#define SOCK_PICK_TRIES 4

static __always_inline int sock_decide(const struct sock_in *in,
				       struct steer_backend_val *out, __u32 *reason)
{
	struct steer_svc_key sk = {
		.vip = in->addr, .port = in->port, .proto = in->proto,
	};
	struct steer_backend_key bk;
	struct steer_svc_val *svc;
	struct steer_quar_key qk;
	__u32 start;

	svc = bpf_map_lookup_elem(&steer_svc, &sk);
	if (svc) {
		/* Copy: the slot count must not change between the checks below. */
		__u32 count = svc->count;

		if (count == 0 || count > STEER_MAX_BACKENDS_PER_SVC) {
			*reason = STEER_R_SOCK_NO_BACKEND;
			return SOCK_REFUSE;
		}
		bk.svc = sk;
		bk.rev = svc->rev;
		start = in->rnd % count;
		for (int i = 0; i < SOCK_PICK_TRIES; i++) {
			struct steer_backend_val *b;

			if (i >= count)
				break;
			bk.slot = (start + i) % count;
			b = bpf_map_lookup_elem(&steer_backend, &bk);
			if (!b)
				continue;
			qk.addr = b->addr;
			if (bpf_map_lookup_elem(&steer_quar, &qk))
				continue;
			*out = *b;
			*reason = STEER_R_SOCK_STEERED;
			return SOCK_REWRITE;
		}
		*reason = STEER_R_SOCK_NO_BACKEND;
		return SOCK_REFUSE;
	}

	/*
	 * The node itself may always reach a quarantined pod (kubelet probes,
	 * kubectl port-forward); only pod sockets are refused.
	 */
	if (in->host_netns && in->netns != in->host_netns) {
		qk.addr = in->addr;
		if (bpf_map_lookup_elem(&steer_quar, &qk)) {
			*reason = STEER_R_SOCK_REFUSED;
			return SOCK_REFUSE;
		}
	}
	*reason = STEER_R_PASS;
	return SOCK_PASS;
}

/* Remembers which VIP a socket asked for when we sent it to a backend. */
static __always_inline void sock_revnat_save(__u64 cookie,
					     const struct steer_backend_val *be,
					     __be32 vip, __be16 vport)
{
	struct steer_revnat_key k = {
		.cookie = cookie, .addr = be->addr, .port = be->port,
	};
	struct steer_revnat_val v = { .vip = vip, .port = vport };

	bpf_map_update_elem(&steer_revnat, &k, &v, BPF_ANY);
}

/* Returns 1 and fills *out if (cookie, addr, port) was steered. */
static __always_inline int sock_revnat_lookup(__u64 cookie, __be32 addr, __be16 port,
					      struct steer_revnat_val *out)
{
	struct steer_revnat_key k = { .cookie = cookie, .addr = addr, .port = port };
	struct steer_revnat_val *v;

	v = bpf_map_lookup_elem(&steer_revnat, &k);
	if (!v)
		return 0;
	*out = *v;
	return 1;
}

#endif /* STEER_BPF_SOCK_DECIDE_H */
