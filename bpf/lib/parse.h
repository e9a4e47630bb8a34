/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header parsing for tc programs. bpf_skb_load_bytes() rather than direct
 * packet access: forwarded GRO skbs may keep headers outside the linear
 * area, and load_bytes copes with that where data/data_end would not.
 */
#ifndef STEER_BPF_PARSE_H
#define STEER_BPF_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum parse_status {
	PARSE_OK = 0,
	PARSE_NON_IP,		/* not IPv4 */
	PARSE_BAD_IP,		/* truncated or bogus IPv4 header */
	PARSE_BAD_L4,		/* IPv4 fine, L4 header truncated */
};

/* linux/icmp.h drags in libc's sys/socket.h, which a BPF target lacks. */
#define ICMP_DEST_UNREACH	3
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12

#define IP_MF		0x2000
#define IP_OFFSET	0x1fff

/* TCP flag bits in the 16-bit word at offset 12 (doff, res, flags). */
#define TCPW_FIN	0x0001
#define TCPW_SYN	0x0002
#define TCPW_RST	0x0004
#define TCPW_ACK	0x0010
#define TCP_FLAGS_OFF	12

struct pkt {
	__be32 saddr;
	__be32 daddr;
	__u32 l4_off;		/* from the start of the Ethernet header */
	__u8 proto;
	__u8 later_frag;	/* non-first fragment: no L4 header here */
	__u16 tcp_word;		/* host order: doff/res/flags */
	__u8 icmp_type;
};

/* Parses Ethernet + IPv4 and, for first fragments, the L4 bits we decide on. */
static __always_inline int parse_pkt(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr ip;
	__be16 proto;
	__u16 frag;

	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &proto,
			       sizeof(proto)))
		return PARSE_NON_IP;
	if (proto != bpf_htons(ETH_P_IP))
		return PARSE_NON_IP;
	if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &ip, sizeof(ip)))
		return PARSE_BAD_IP;
	p->saddr = ip.saddr;
	p->daddr = ip.daddr;
	if (ip.version != 4 || ip.ihl < 5)
		return PARSE_BAD_IP;
	p->proto = ip.protocol;
	p->l4_off = sizeof(struct ethhdr) + ip.ihl * 4;
	frag = bpf_ntohs(ip.frag_off);
	p->later_frag = (frag & IP_OFFSET) != 0;
	if (p->later_frag)
		return PARSE_OK;

	switch (ip.protocol) {
	case IPPROTO_TCP: {
		struct tcphdr th;

		/* The whole base header, so a rewrite later has it all. */
		if (bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)))
			return PARSE_BAD_L4;
		p->tcp_word = bpf_ntohs(*(__be16 *)((char *)&th + TCP_FLAGS_OFF));
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, p->l4_off, &uh, sizeof(uh)))
			return PARSE_BAD_L4;
		break;
	}
	case IPPROTO_ICMP: {
		/* type + code + checksum: the part every ICMP message has. */
		__u8 hdr[4];

		if (bpf_skb_load_bytes(skb, p->l4_off, hdr, sizeof(hdr)))
			return PARSE_BAD_L4;
		p->icmp_type = hdr[0];
		break;
	}
	}
	return PARSE_OK;
}

#endif /* STEER_BPF_PARSE_H */
