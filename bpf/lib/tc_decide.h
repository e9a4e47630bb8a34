/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The quarantine decision on the host side of a pod's veth: tc egress sees
 * traffic into the pod (tc_to_pod), tc ingress traffic from it
 * (tc_from_pod, which only records the flows the pod opens).
 *
 * Policy, per action, for a quarantined destination that is not exempt:
 *   drop:  everything is dropped, answers to the pod's own flows included:
 *          a blackhole both ways.
 *   drain: flows others open towards the pod are refused; everything else
 *          passes. A TCP SYN without ACK is answered with a RST+ACK, as a
 *          closed port would (tcp_refuse() in tcp_reset.h), and dropped, so
 *          connect() fails at once with ECONNREFUSED. Other TCP passes
 *          (established, either way round). UDP, ICMP echo and other
 *          protocols pass when they answer a flow the pod opened
 *          (flows.h), and are dropped otherwise. ICMP errors (dest
 *          unreachable, time exceeded, parameter problem) pass: they belong
 *          to flows that exist and PMTU discovery needs them. Nothing but
 *          TCP gets an answer (no ICMP unreachable): see docs/datapath.md.
 *   reset: as drain, but each established TCP segment of a connection
 *          someone else opened is rewritten into a RST towards the pod, and
 *          a RST is reflected to its sender (tcp_reset.h), so both ends are
 *          torn down at once. The pod's own connections are left alone.
 * Exempt: packets from processes on the node outside the pods' cgroup
 * hierarchy (kubelet probes, port-forward), and sources in steer_exempt.
 * A hostNetwork pod's processes are in the pods' hierarchy: not exempt.
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

#include "lib/flows.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/qcache.h"
#include "lib/stats.h"
#include "lib/tcp_reset.h"

/*
 * The pods' cgroup (kubepods.slice or kubepods) and its depth below the
 * cgroup v2 root, written by steerd before load. 0: unknown, and every
 * process on the node is exempt, as before steer knew the hierarchy.
 */
const volatile __u64 pods_cgroup_id = 0;
const volatile __u32 pods_cgroup_level = 0;

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
 * Sent by the node itself, outside the pods' hierarchy? Forwarded packets
 * arrive with the ifindex they came in on, even after SNAT, so SNAT cannot
 * fake this. A local packet carries its socket, whose cgroup says whose it
 * is; one without a full socket (ICMP errors, time-wait ACKs) is the
 * node's.
 */
static __always_inline bool from_node(struct __sk_buff *skb)
{
	if (skb->ingress_ifindex != 0)
		return false;
	if (!pods_cgroup_id)
		return true;
	return bpf_skb_ancestor_cgroup_id(skb, pods_cgroup_level) != pods_cgroup_id;
}

/* Ethernet + IPv4 header, or a reason to pass the packet untouched. */
static __always_inline struct iphdr *ip4_head(struct __sk_buff *skb, __u32 *reason)
{
	struct ethhdr *eth;
	struct iphdr *iph;

	eth = pkt_ptr(skb, 0, L3_HLEN);
	if (!eth) {
		*reason = parse_short(skb) == PARSE_NON_IP ? STEER_R_NON_IP : STEER_R_MALFORMED;
		return NULL;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		*reason = STEER_R_NON_IP;
		return NULL;
	}
	iph = (void *)(eth + 1);
	if (iph->version != 4 || iph->ihl < 5) {
		*reason = STEER_R_MALFORMED;
		return NULL;
	}
	return iph;
}

/*
 * Looks addr up in steer_quar, unless the per-CPU cache vouches that it is
 * not there. NULL: not quarantined.
 */
static __always_inline struct steer_quar_val *quar_lookup(__be32 addr)
{
	struct steer_quar_key k = { .addr = addr };
	struct steer_quar_val *q;
	struct qcache_ref r;
	struct steer_addr a;

	addr_set_v4(&a, addr);
	if (qcache_clean(&r, &a))
		return NULL;
	q = bpf_map_lookup_elem(&steer_quar, &k);
	if (!q)
		qcache_put(&r, &a);
	return q;
}

/*
 * Decides for a packet towards the pod; *reason gets the enum steer_reason
 * for the verdict. A destination that is not quarantined costs one bounds
 * check, a few compares and the cache check; L4 parsing, exemptions and
 * per-address counters happen only for a quarantined one.
 */
static __always_inline int tc_to_pod(struct __sk_buff *skb, struct pkt *p, __u32 *reason)
{
	struct steer_exempt_key ek = { .prefixlen = 32 };
	struct steer_quar_val *q;
	struct iphdr *iph;
	__u8 action;
	int st;

	iph = ip4_head(skb, reason);
	if (!iph)
		return TC_PASS;
	q = quar_lookup(iph->daddr);
	if (!q) {
		*reason = STEER_R_PASS;
		return TC_PASS;
	}
	/* Read once: the entry may change under us, the verdict must not. */
	action = q->action;
	/* May pull data: iph is dead after this. */
	st = parse_l4(skb, iph, p);
	qstat_add(addr_v4(&p->daddr), skb->len);

	if (from_node(skb)) {
		*reason = STEER_R_EXEMPT_HOST;
		return TC_PASS;
	}
	ek.addr = addr_v4(&p->saddr);
	if (bpf_map_lookup_elem(&steer_exempt, &ek)) {
		*reason = STEER_R_EXEMPT_CIDR;
		return TC_PASS;
	}

	if (action == STEER_ACT_DROP) {
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
			/* A RST is never answered (RFC 793), not even SYN+RST. */
			*reason = STEER_R_DROP_NEW;
			return p->tcp_word & TCPW_RST ? TC_SHOT : TC_REFUSE;
		}
		/* A RST needs no help tearing the flow down. */
		if (action != STEER_ACT_RESET || (p->tcp_word & TCPW_RST)) {
			*reason = STEER_R_PASS_ESTABLISHED;
			return TC_PASS;
		}
		if (flow_opened_by_pod(p)) {
			*reason = STEER_R_PASS_REPLY;
			return TC_PASS;
		}
		*reason = STEER_R_RESET;
		return TC_RST;
	case IPPROTO_ICMP:
		if (icmp_is_error(p->icmp_type)) {
			*reason = STEER_R_PASS_ESTABLISHED;
			return TC_PASS;
		}
		if (p->icmp_type != ICMP_ECHOREPLY)
			break;
		/* fallthrough */
	default:
		if (flow_opened_by_pod(p)) {
			*reason = STEER_R_PASS_REPLY;
			return TC_PASS;
		}
	}
	*reason = STEER_R_DROP_NEW;
	return TC_SHOT;
}

/* A packet from the pod: remember the flows it opens (flows.h). It always passes. */
static __always_inline void tc_from_pod(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr *iph;
	__be16 *word;
	__u32 reason, l4;

	iph = ip4_head(skb, &reason);
	if (!iph)
		return;
	if (iph->protocol == IPPROTO_TCP) {
		/* Only a SYN opens a flow: its flags decide before anything else. */
		if (bpf_ntohs(iph->frag_off) & IP_OFFSET)
			return;
		l4 = sizeof(struct ethhdr) + (iph->ihl & 0xf) * 4;
		/* May pull data: iph is dead after this. */
		word = pkt_ptr(skb, l4 + TCP_FLAGS_OFF, sizeof(*word));
		if (!word || (bpf_ntohs(*word) & (TCPW_SYN | TCPW_ACK | TCPW_RST)) != TCPW_SYN)
			return;
		iph = ip4_head(skb, &reason);
		if (iph && parse_l4(skb, iph, p) == PARSE_OK)
			flow_record(p);
		return;
	}
	if (!quar_lookup(iph->saddr))
		return;
	if (parse_l4(skb, iph, p) != PARSE_OK || p->later_frag)
		return;
	if (p->proto == IPPROTO_ICMP && p->icmp_type != ICMP_ECHO)
		return;
	flow_record(p);
}

#endif /* STEER_BPF_TC_DECIDE_H */
