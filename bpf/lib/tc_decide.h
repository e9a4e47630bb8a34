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
 * (malformed). An IP header we cannot read has no destination we can
 * trust, so it passes as it would without steer.
 * IPv6 gets the same, with its extension headers walked (parse.h) and
 * IPv4 ICMP's rules applied to ICMPv6; neighbour, router and listener
 * discovery pass under every action, drop included, so the pod keeps its
 * neighbours.
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

static __always_inline bool icmp_is_error(const struct pkt *p)
{
	if (p->v6)
		return p->icmp_type >= ICMPV6_DEST_UNREACH && p->icmp_type <= ICMPV6_PARAMPROB;
	return p->icmp_type == ICMP_DEST_UNREACH || p->icmp_type == ICMP_TIME_EXCEEDED ||
	       p->icmp_type == ICMP_PARAMETERPROB;
}

/*
 * What an IPv6 link needs to work: neighbour and router discovery
 * (RS, RA, NS, NA, redirect) and multicast listener discovery. ARP is
 * not IP and passes anyway; this is its IPv6 counterpart.
 */
static __always_inline bool icmp6_is_link(const struct pkt *p)
{
	return p->v6 && p->proto == IPPROTO_ICMPV6 && !p->later_frag &&
	       ((p->icmp_type >= ICMPV6_MLD_QUERY && p->icmp_type <= ICMPV6_REDIRECT) ||
		p->icmp_type == ICMPV6_MLD2_REPORT);
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

/* The IPv6 half of l3_addr() (a subprogram: parse.h, parse_l4_v6). 0 or -1. */
static __noinline int ip6_addr(struct __sk_buff *skb, bool dst, struct steer_addr *a)
{
	struct ipv6hdr *ip6 = pkt_ptr(skb, ETH_HLEN, sizeof(*ip6));

	if (!ip6 || ip6->version != 6)
		return -1;
	addr_set_v6(a, dst ? ip6->daddr.in6_u.u6_addr32 : ip6->saddr.in6_u.u6_addr32);
	return 0;
}

/*
 * The destination (dst) or source address of an IPv4 or IPv6 packet, or 0
 * and a reason to pass the packet untouched. Returns 4 or 6.
 */
static __always_inline int l3_addr(struct __sk_buff *skb, bool dst, struct steer_addr *a,
				   __u32 *reason)
{
	struct ethhdr *eth;
	struct iphdr *iph;

	eth = pkt_ptr(skb, 0, L3_HLEN);
	if (!eth) {
		*reason = parse_short(skb) == PARSE_NON_IP ? STEER_R_NON_IP : STEER_R_MALFORMED;
		return 0;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = (void *)(eth + 1);
		if (iph->version != 4 || iph->ihl < 5) {
			*reason = STEER_R_MALFORMED;
			return 0;
		}
		addr_set_v4(a, dst ? iph->daddr : iph->saddr);
		return 4;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IPV6)) {
		*reason = STEER_R_NON_IP;
		return 0;
	}
	if (ip6_addr(skb, dst, a)) {
		*reason = STEER_R_MALFORMED;
		return 0;
	}
	return 6;
}

/*
 * Looks addr up in steer_quar, unless the per-CPU cache vouches that it is
 * not there. NULL: not quarantined.
 */
static __always_inline struct steer_quar_val *quar_lookup(const struct steer_addr *a)
{
	struct steer_quar_key k = { .addr = *a };
	struct steer_quar_val *q;
	struct qcache_ref r;

	if (qcache_clean(&r, a))
		return NULL;
	q = bpf_map_lookup_elem(&steer_quar, &k);
	if (!q)
		qcache_put(&r, a);
	return q;
}

/* Everything past the IP header, for either family; may pull data. */
static __always_inline int parse_pkt(struct __sk_buff *skb, int fam, struct pkt *p)
{
	return fam == 6 ? parse_l4_v6(skb, p) : parse_l4(skb, p);
}

/*
 * Decides for a packet towards the pod; *reason gets the enum steer_reason
 * for the verdict. A destination that is not quarantined costs one bounds
 * check, a few compares and the cache check; L4 parsing, exemptions and
 * per-address counters happen only for a quarantined one.
 */
static __always_inline int tc_to_pod(struct __sk_buff *skb, struct pkt *p, __u32 *reason)
{
	struct steer_exempt_key ek = { .prefixlen = 128 };
	struct steer_quar_val *q;
	struct steer_addr da;
	__u8 action;
	int fam, st;

	fam = l3_addr(skb, true, &da, reason);
	if (!fam)
		return TC_PASS;
	q = quar_lookup(&da);
	if (!q) {
		*reason = STEER_R_PASS;
		return TC_PASS;
	}
	/* Read once: the entry may change under us, the verdict must not. */
	action = q->action;
	st = parse_pkt(skb, fam, p);
	qstat_add(&da, skb->len);

	/* The pod keeps its neighbours under every action, drop included. */
	if (st == PARSE_OK && icmp6_is_link(p)) {
		*reason = STEER_R_PASS_LINK;
		return TC_PASS;
	}
	if (from_node(skb)) {
		*reason = STEER_R_EXEMPT_HOST;
		return TC_PASS;
	}
	ek.addr = p->saddr;
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
	case IPPROTO_ICMPV6:
		if (icmp_is_error(p)) {
			*reason = STEER_R_PASS_ESTABLISHED;
			return TC_PASS;
		}
		if (p->icmp_type != (p->v6 ? ICMPV6_ECHO_REPLY : ICMP_ECHOREPLY))
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

enum { SEG_OTHER, SEG_SYN, SEG_NOT_SYN };

/*
 * Only a SYN opens a TCP flow: its flags decide before any lookup, for the
 * common headers (IPv4 of any length, IPv6 without extension headers).
 * SEG_OTHER: not TCP, or TCP behind extension headers or in a fragment.
 */
static __always_inline int tcp_seg_flags(__be16 *word)
{
	if (!word || (bpf_ntohs(*word) & (TCPW_SYN | TCPW_ACK | TCPW_RST)) != TCPW_SYN)
		return SEG_NOT_SYN;
	return SEG_SYN;
}

static __noinline int tcp_seg6(struct __sk_buff *skb)
{
	struct ipv6hdr *ip6 = pkt_ptr(skb, ETH_HLEN, sizeof(*ip6));

	if (!ip6 || ip6->nexthdr != IPPROTO_TCP)
		return SEG_OTHER;
	return tcp_seg_flags(pkt_ptr(skb, L3_HLEN6 + TCP_FLAGS_OFF, sizeof(__be16)));
}

static __always_inline int tcp_seg(struct __sk_buff *skb, int fam)
{
	struct iphdr *iph;
	__u32 l4;

	if (fam == 6)
		return tcp_seg6(skb);
	iph = pkt_ptr(skb, ETH_HLEN, sizeof(*iph));
	if (!iph || iph->protocol != IPPROTO_TCP)
		return SEG_OTHER;
	if (bpf_ntohs(iph->frag_off) & IP_OFFSET)
		return SEG_NOT_SYN;
	l4 = sizeof(struct ethhdr) + (iph->ihl & 0xf) * 4;
	return tcp_seg_flags(pkt_ptr(skb, l4 + TCP_FLAGS_OFF, sizeof(__be16)));
}

/*
 * A packet from the pod: remember the flows it opens (flows.h). It always
 * passes. TCP SYNs are recorded from every pod; other flows only from a
 * quarantined one, so a lookup stays off every other pod's datagrams.
 */
static __always_inline void tc_from_pod(struct __sk_buff *skb, struct pkt *p)
{
	struct steer_addr sa;
	__u32 reason;
	int fam, seg;

	fam = l3_addr(skb, false, &sa, &reason);
	if (!fam)
		return;
	seg = tcp_seg(skb, fam);
	if (seg == SEG_NOT_SYN || (seg == SEG_OTHER && !quar_lookup(&sa)))
		return;
	if ((fam == 6 ? parse_l4_v6(skb, p) : parse_l4_copy(skb, p)) != PARSE_OK ||
	    p->later_frag)
		return;
	if (p->proto == IPPROTO_TCP &&
	    (p->tcp_word & (TCPW_SYN | TCPW_ACK | TCPW_RST)) != TCPW_SYN)
		return;
	if (p->proto == IPPROTO_ICMP && p->icmp_type != ICMP_ECHO)
		return;
	if (p->proto == IPPROTO_ICMPV6 && p->icmp_type != ICMPV6_ECHO_REQUEST)
		return;
	flow_record(p);
}

#endif /* STEER_BPF_TC_DECIDE_H */
