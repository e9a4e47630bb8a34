/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header parsing for tc programs, with direct packet access (data and
 * data_end) on the linear area. A forwarded GRO skb may keep headers
 * outside it; then bpf_skb_pull_data() pulls just the bytes we need and
 * parsing goes on. That fallback costs a copy, so it is only taken when the
 * bounds check fails, never on the common path.
 *
 * Nothing here writes to the packet directly: a program with direct packet
 * writes gets a verifier prologue that unclones every cloned skb (and every
 * locally generated TCP segment is a clone), even when it would not write.
 * Rewrites go through bpf_skb_store_bytes(), which unclones only when used.
 */
#ifndef STEER_BPF_PARSE_H
#define STEER_BPF_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/addr.h"

enum parse_status {
	PARSE_OK = 0,
	PARSE_NON_IP,		/* neither IPv4 nor IPv6 */
	PARSE_BAD_IP,		/* truncated or bogus IP header */
	PARSE_BAD_L4,		/* IP header fine; extension or L4 header truncated */
};

/* linux/icmp.h drags in libc's sys/socket.h, which a BPF target lacks. */
#define ICMP_DEST_UNREACH	3
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12
#define ICMP_ECHOREPLY		0
#define ICMP_ECHO		8

/* linux/icmpv6.h has the same problem. */
#define ICMPV6_DEST_UNREACH	1
#define ICMPV6_PARAMPROB	4
#define ICMPV6_ECHO_REQUEST	128
#define ICMPV6_ECHO_REPLY	129
#define ICMPV6_MLD_QUERY	130
#define ICMPV6_MLD_DONE		132
#define ICMPV6_ROUTER_SOL	133
#define ICMPV6_REDIRECT		137
#define ICMPV6_MLD2_REPORT	143

/* Extension headers walked before the L4 header; more is malformed. */
#define IP6_MAX_EXT	6
#define IP6_OFFSET	0xfff8	/* fragment offset, in the fragment header's word 1 */

#define IP_MF		0x2000
#define IP_OFFSET	0x1fff

/* TCP flag bits in the 16-bit word at offset 12 (doff, res, flags). */
#define TCPW_FIN	0x0001
#define TCPW_SYN	0x0002
#define TCPW_RST	0x0004
#define TCPW_ACK	0x0010
#define TCP_FLAGS_OFF	12

/* Ethernet + a minimal IPv4 header: all the fast path reads. */
#define L3_HLEN		(sizeof(struct ethhdr) + sizeof(struct iphdr))
#define L3_HLEN6	(sizeof(struct ethhdr) + sizeof(struct ipv6hdr))

struct pkt {
	struct steer_addr saddr;
	struct steer_addr daddr;
	__u32 l4_off;		/* from the start of the Ethernet header */
	__u8 proto;
	__u8 later_frag;	/* non-first fragment: no L4 header here */
	__u16 tcp_word;		/* host order: doff/res/flags */
	__be16 sport;		/* TCP/UDP ports; both hold the ICMP echo id */
	__be16 dport;
	__u8 icmp_type;		/* ICMP or ICMPv6 */
	__u8 v6;		/* an IPv6 packet; addresses are native, not mapped */
	__u8 pad[2];
};

/*
 * Returns a pointer to len bytes at off, pulling them into the linear area
 * if they are not there yet, or NULL if the packet is shorter. Must be
 * inlined: the verifier only trusts a packet pointer whose own bounds check
 * it has seen, so the check is done on the very pointer handed back.
 */
static __always_inline void *pkt_ptr(struct __sk_buff *skb, __u32 off, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	void *p = data + off;

	if (p + len <= data_end)
		return p;
	/* Non-linear headers (rare): fails if the packet is that short. */
	if (bpf_skb_pull_data(skb, off + len))
		return NULL;
	/* The helper invalidated every packet pointer: reload them. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	p = data + off;
	if (p + len > data_end)
		return NULL;
	return p;
}

/*
 * The packet is too short for Ethernet + IPv4 (or could not be pulled):
 * only the ethertype decides between "not IP" and "broken IP". Off the
 * fast path, so load_bytes, which copes with any layout, is fine here.
 */
static __always_inline int parse_short(struct __sk_buff *skb)
{
	__be16 proto;

	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &proto,
			       sizeof(proto)))
		return PARSE_NON_IP;
	return proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6) ? PARSE_BAD_IP :
	       PARSE_NON_IP;
}

/* Ports (or the echo id) of the L4 header at p->l4_off, of either family. */
static __always_inline int parse_ports(struct __sk_buff *skb, struct pkt *p)
{
	void *l4;

	switch (p->proto) {
	case IPPROTO_TCP:
		/* The whole base header, so a rewrite later has it all. */
		l4 = pkt_ptr(skb, p->l4_off, sizeof(struct tcphdr));
		if (!l4)
			return PARSE_BAD_L4;
		p->tcp_word = bpf_ntohs(*(__be16 *)(l4 + TCP_FLAGS_OFF));
		p->sport = ((struct tcphdr *)l4)->source;
		p->dport = ((struct tcphdr *)l4)->dest;
		break;
	case IPPROTO_UDP:
		l4 = pkt_ptr(skb, p->l4_off, sizeof(struct udphdr));
		if (!l4)
			return PARSE_BAD_L4;
		p->sport = ((struct udphdr *)l4)->source;
		p->dport = ((struct udphdr *)l4)->dest;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* type, code, checksum and the 4 bytes every ICMP message has. */
		l4 = pkt_ptr(skb, p->l4_off, 8);
		if (!l4)
			return PARSE_BAD_L4;
		p->icmp_type = *(__u8 *)l4;
		/* Echo: the identifier is what ties a reply to its request. */
		p->sport = *(__be16 *)(l4 + 4);
		p->dport = p->sport;
		break;
	}
	return PARSE_OK;
}

/* The L4 part of parsing an IPv4 packet, from its header iph (checked by the caller). */
static __always_inline int parse_l4_from(struct __sk_buff *skb, const struct iphdr *iph,
					 struct pkt *p)
{
	__u16 frag = bpf_ntohs(iph->frag_off);

	addr_set_v4(&p->saddr, iph->saddr);
	addr_set_v4(&p->daddr, iph->daddr);
	p->proto = iph->protocol;
	/* ihl is 4 bits, so the verifier can bound the variable offset (<= 74). */
	p->l4_off = sizeof(struct ethhdr) + (iph->ihl & 0xf) * 4;
	p->later_frag = (frag & IP_OFFSET) != 0;
	if (p->later_frag)
		return PARSE_OK;
	/* May pull data: iph is dead after this. */
	return parse_ports(skb, p);
}

/*
 * IPv4 past the fast path (a quarantined destination): the header where it
 * lies in the packet.
 */
static __always_inline int parse_l4(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr *iph = pkt_ptr(skb, ETH_HLEN, sizeof(*iph));

	return iph ? parse_l4_from(skb, iph, p) : PARSE_BAD_IP;
}

/*
 * The same from a copy of the header, for tc ingress, where packet
 * pointers of the IPv4 and IPv6 branches would share a register (below).
 */
static __always_inline int parse_l4_copy(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr iph;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &iph, sizeof(iph)))
		return PARSE_BAD_IP;
	return parse_l4_from(skb, &iph, p);
}

/*
 * A subprogram, as every IPv6-only path here: the IPv4 fast path keeps the
 * code (and cost) it had, and clang cannot merge packet pointers of the two
 * families into one register, which the verifier rejects.
 *
 * IPv6 past its fixed header (checked by the caller): the extension headers
 * (hop-by-hop, routing, destination options, fragment, AH), then the L4
 * header. A non-first fragment has no L4 header, as in IPv4. ESP and "no
 * next header" end the walk with nothing to parse. May pull data.
 */
static __noinline int parse_l4_v6(struct __sk_buff *skb, struct pkt *p)
{
	struct ipv6hdr *ip6 = pkt_ptr(skb, ETH_HLEN, sizeof(*ip6));
	__u32 off = L3_HLEN6;
	__u8 next, h[4];

	if (!ip6)
		return PARSE_BAD_IP;
	addr_set_v6(&p->saddr, ip6->saddr.in6_u.u6_addr32);
	addr_set_v6(&p->daddr, ip6->daddr.in6_u.u6_addr32);
	next = ip6->nexthdr;
	p->v6 = 1;
	/*
	 * Extension headers are rare and only walked for a quarantined
	 * address: load_bytes keeps the packet pointers out of the loop.
	 */
	for (int i = 0; i < IP6_MAX_EXT; i++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (bpf_skb_load_bytes(skb, off, h, 2))
				return PARSE_BAD_L4;
			next = h[0];
			off += ((__u32)h[1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			if (bpf_skb_load_bytes(skb, off, h, 2))
				return PARSE_BAD_L4;
			next = h[0];
			off += ((__u32)h[1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT:
			if (bpf_skb_load_bytes(skb, off, h, 4))
				return PARSE_BAD_L4;
			next = h[0];
			off += 8;
			if (((h[2] << 8) | h[3]) & IP6_OFFSET) {
				p->proto = next;
				p->l4_off = off;
				p->later_frag = 1;
				return PARSE_OK;
			}
			continue;
		}
		p->proto = next;
		p->l4_off = off;
		return parse_ports(skb, p);
	}
	/* More extension headers than any sane packet has. */
	return PARSE_BAD_L4;
}

#endif /* STEER_BPF_PARSE_H */
