// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc on the host side of pod veths. Egress is traffic into the pod: enforce
 * quarantine (drain, drop, reset) keyed by destination. Ingress is traffic
 * from the pod: record the flows it opens, so their answers still reach it
 * while it is quarantined (lib/flows.h).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/tc_decide.h"

SEC("tc")
int steer_tc_egress(struct __sk_buff *skb)
{
	struct pkt p = {};
	__u32 reason;
	int v;

	v = tc_to_pod(skb, &p, &reason);
	if (v == TC_RST && tcp_reset(skb, &p)) {
		/* Could not rewrite: refusing the segment is the next best thing. */
		reason = STEER_R_DROP;
		v = TC_SHOT;
	}
	if (v == TC_REFUSE) {
		/* If no answer went out the SYN is only dropped: the client retries. */
		tcp_refuse(skb, &p);
		v = TC_SHOT;
	}
	stat_inc(reason);
	return v == TC_SHOT ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int steer_tc_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};

	tc_from_pod(skb, &p);
	/* TC_ACT_UNSPEC: whatever else sits on this hook still decides. */
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
