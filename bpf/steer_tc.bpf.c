// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc egress on the host side of pod veths, i.e. traffic into the pod:
 * enforce quarantine (drain, drop, reset) keyed by destination IPv4.
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

	v = tc_decide(skb, &p, &reason);
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
