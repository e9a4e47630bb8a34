/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The quarantine decision for a packet leaving the host towards a pod
 * (tc egress on the host side of the pod's veth).
 *
 * Policy, per action, for a quarantined destination that is not exempt:
 *   drop:  everything is dropped.
 *   drain: TCP SYN without ACK (new flow) is refused: answered with a
 *          RST+ACK, as a closed port would (tcp_refuse() in tcp_reset.h),
 *          and dropped, so connect() fails at once with ECONNREFUSED
 *          instead of timing out. Other TCP passes (established). UDP is dropped: there is no "established" UDP
 *          we can tell from a single datagram. ICMP errors (dest
 *          unreachable, time exceeded, parameter problem) pass, because
 *          they belong to flows that exist and PMTU discovery needs them;
 *          every other ICMP type (echo, ...) is a new exchange and is
 *          dropped. Other IP protocols are dropped as new flows. Nothing
 *          but TCP gets an answer (no ICMP unreachable): see
 *          docs/datapath.md.
 *   reset: as drain, but each established TCP segment is rewritten into a
 *          RST towards the pod, and a RST is reflected to its sender
 *          (see tcp_reset.h), so both ends are torn down at once.
 * Fragments: the first fragment carries the L4 header and gets the verdict
 * of its flow. Later fragments have no L4 header; without the first one
 * they never reassemble, so they pass under drain/reset and are dropped
 * under drop. Truncated L4 headers to a quarantined pod are dropped
 * (malformed). A truncated IPv4 header has no destination we can trust, so
 * it passes as it would without steer.
 */
#ifndef STEER_BPF_TC_DECIDE_H
#define STEER_BPF_TC_DECIDE_H

#include <linux/pkt_cls.h>

#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/tcp_reset.h"

/* Verdict plus what to do to the packet before letting it through. */
enum tc_verdict {
	TC_PASS = 0,
	TC_SHOT,
	TC_RST,		/* rewrite the TCP segment into a RST, then pass */
	TC_REFUSE,	/* answer the SYN with a RST+ACK, then drop it */
};

static __always_inline bool icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB;
}

/*
 * Decides; *reason gets the enum steer_reason for the verdict.
 *
 * The common case, a destination that is not quarantined, costs one bounds
 * check, two compares and one hash lookup keyed straight from the packet.
 * Everything else (L4 parsing, exemptions, per-address counters) happens
 * only after the lookup hits.
 */
static __always_inline int tc_decide(struct __sk_buff *skb, struct pkt *p,
				     __u32 *reason)
{
	struct steer_exempt_key ek = { .prefixlen = 32 };
	struct steer_quar_val *q;
	struct ethhdr *eth;
	struct iphdr *iph;
	int st;

	eth = pkt_ptr(skb, 0, L3_HLEN);
	if (!eth) {
		st = parse_short(skb);
		*reason = st == PARSE_NON_IP ? STEER_R_NON_IP : STEER_R_MALFORMED;
		return TC_PASS;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		*reason = STEER_R_NON_IP;
		return TC_PASS;
	}
	iph = (void *)(eth + 1);
	if (iph->version != 4 || iph->ihl < 5) {
		*reason = STEER_R_MALFORMED;
		return TC_PASS;
	}

	/*
	 * The key is struct steer_quar_key, i.e. just the address: the
	 * verifier accepts a packet pointer as map key once the bounds check
	 * above covers it, which saves a copy to the stack.
	 */
	q = bpf_map_lookup_elem(&steer_quar, &iph->daddr);
	if (!q) {
		*reason = STEER_R_PASS;
		return TC_PASS;
	}
	p->daddr = iph->daddr;
	/* May pull data: eth and iph are dead after this. */
	st = parse_l4(skb, iph, p);
	qstat_add(p->daddr, skb->len);

	/*
	 * Node-generated packets (kubelet probes) reach a pod veth's egress
	 * with ingress_ifindex 0; forwarded ones carry the ifindex they came
	 * in on, even after SNAT, so SNAT cannot fake this.
	 */
	if (skb->ingress_ifindex == 0) {
		*reason = STEER_R_EXEMPT_HOST;
		return TC_PASS;
	}
	ek.addr = p->saddr;
	if (bpf_map_lookup_elem(&steer_exempt, &ek)) {
		*reason = STEER_R_EXEMPT_CIDR;
		return TC_PASS;
	}

	if (q->action == STEER_ACT_DROP) {
		*reason = STEER_R_DROP;
		return TC_SHOT;
	}
	/* drain and reset from here on; unknown actions act as drain. */
	if (st == PARSE_BAD_L4) {
		*reason = STEER_R_MALFORMED;
		return TC_SHOT;
	}
	if (p->later_frag) {
		*reason = STEER_R_PASS_ESTABLISHED;
		return TC_PASS;
	}
	switch (p->proto) {
	case IPPROTO_TCP:
		if ((p->tcp_word & (TCPW_SYN | TCPW_ACK)) == TCPW_SYN) {
			/*
			 * drop_new counts it either way; the ABI has no
			 * separate reason, because steer_stats is sized by the
			 * enum and a new entry would break pin reuse on upgrade.
			 * A RST is never answered (RFC 793), not even SYN+RST.
			 */
			*reason = STEER_R_DROP_NEW;
			return p->tcp_word & TCPW_RST ? TC_SHOT : TC_REFUSE;
		}
		/* A RST needs no help tearing the flow down. */
		if (q->action == STEER_ACT_RESET && !(p->tcp_word & TCPW_RST)) {
			*reason = STEER_R_RESET;
			return TC_RST;
		}
		*reason = STEER_R_PASS_ESTABLISHED;
		return TC_PASS;
	case IPPROTO_ICMP:
		if (icmp_is_error(p->icmp_type)) {
			*reason = STEER_R_PASS_ESTABLISHED;
			return TC_PASS;
		}
		/* fallthrough */
	default:
		*reason = STEER_R_DROP_NEW;
		return TC_SHOT;
	}
}

#endif /* STEER_BPF_TC_DECIDE_H */
