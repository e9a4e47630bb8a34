// SPDX-License-Identifier: MIT
/*
 * Table-driven BPF_PROG_TEST_RUN of the tc programs (every action x packet
 * kind x exemption, with the flows the pod opened recorded by the ingress
 * program first), and of the socket decision helpers through
 * tests/bpf/test_sock_decide.bpf.c.
 */
#include "harness.h"
#include "../bpf/sock_decide_test.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "datapath/internal.h"
#include "steer_tc.skel.h"
#include "test_sock_decide.skel.h"

#define POD	"10.244.1.7"	/* quarantined */
#define OTHER	"10.244.1.8"	/* not quarantined */
#define CLIENT	"10.244.2.3"
#define DEBUG_NET "172.16.0.0"	/* exempt /12 */
#define DEBUGGER "172.16.5.5"
#define FWD_IFINDEX 1		/* lo: any non-zero arrival ifindex */
/* The same roles over IPv6. */
#define POD6	"fd00:244:1::7"
#define OTHER6	"fd00:244:1::8"
#define CLIENT6	"fd00:244:2::3"
#define DEBUG_NET6 "fd00:172::"	/* exempt /48 */
#define DEBUGGER6 "fd00:172::5:5"

/* data sits 2 bytes into a 4-aligned struct, so the IPv4 header is aligned. */
struct pkt_buf {
	__u16 align;
	unsigned char data[256];
	__u32 len;
	__u32 l4;		/* offset of the L4 header in data */
	bool frag_later;	/* a non-first IPv6 fragment: no L4 checksum */
} __attribute__((aligned(4)));

enum kind {
	K_SYN, K_SYN_OPTS_DATA, K_SYN_FIN, K_SYN_RST, K_SYN_IPOPTS, K_SYNACK, K_ACK,
	K_ACK_IPOPTS, K_FIN, K_RST, K_UDP, K_ICMP_ECHO, K_ICMP_ECHOREPLY, K_ICMP_UNREACH,
	K_OTHER_PROTO, K_NON_IP, K_FRAG_FIRST, K_FRAG_LATER, K_TRUNC_TCP, K_TRUNC_IP,
	/* IPv6 only: neighbour, router and listener discovery, extension headers. */
	K_ND_NS, K_ND_NA, K_ND_RS, K_ND_RA, K_ND_REDIRECT, K_MLD_REPORT, K_EXT_CHAIN,
	K_EXT_TOO_MANY, K_TRUNC_EXT,
	K_MAX,
	K_NONE = K_MAX,
};

/*
 * V_SHOT: dropped, nothing answered. V_REFUSE: dropped, and the sender
 * gets a RST+ACK reflected, as from a closed port.
 */
enum exp_verdict { V_PASS, V_SHOT, V_RST, V_REFUSE, V_RST_POD };

struct row {
	const char *desc;
	enum kind kind;
	/*
	 * What the pod sent first (through the ingress program), addresses and
	 * ports swapped: the row's packet then answers a flow the pod opened.
	 */
	enum kind opened;
	/* Per action: drain, drop, reset (enum steer_action order). */
	enum exp_verdict v[STEER_ACT_MAX];
	enum steer_reason r[STEER_ACT_MAX];
	bool ip_ok;	/* destination readable, so exemptions and qstats apply */
};

#define P V_PASS
#define S V_SHOT
#define R V_RST
#define F V_REFUSE
#define N V_RST_POD	/* reset, the pod only: no reflection behind extension headers */
static const struct row rows[] = {
	{ "tcp syn", K_SYN, K_NONE, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn, options and data", K_SYN_OPTS_DATA, K_NONE, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn+fin", K_SYN_FIN, K_NONE, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn+rst (never answered)", K_SYN_RST, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn with ip options", K_SYN_IPOPTS, K_NONE, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn-ack, nobody's syn", K_SYNACK, K_NONE, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp syn-ack to the pod's syn", K_SYNACK, K_SYN, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "tcp ack+data", K_ACK, K_NONE, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp ack+data, the pod's connection", K_ACK, K_SYN, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "tcp ack with ip options", K_ACK_IPOPTS, K_NONE, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp fin", K_FIN, K_NONE, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp rst", K_RST, K_NONE, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "udp, new", K_UDP, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "udp answer to the pod's query", K_UDP, K_UDP, { P, S, P },
	  { STEER_R_PASS_REPLY, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "icmp echo", K_ICMP_ECHO, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "icmp echo reply, unasked", K_ICMP_ECHOREPLY, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "icmp echo reply to the pod's ping", K_ICMP_ECHOREPLY, K_ICMP_ECHO, { P, S, P },
	  { STEER_R_PASS_REPLY, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "icmp unreachable", K_ICMP_UNREACH, K_NONE, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "sctp", K_OTHER_PROTO, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "sctp answering the pod", K_OTHER_PROTO, K_OTHER_PROTO, { P, S, P },
	  { STEER_R_PASS_REPLY, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "arp (non-ip)", K_NON_IP, K_NONE, { P, P, P },
	  { STEER_R_NON_IP, STEER_R_NON_IP, STEER_R_NON_IP }, false },
	{ "udp first fragment", K_FRAG_FIRST, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "later fragment", K_FRAG_LATER, K_NONE, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "truncated tcp", K_TRUNC_TCP, K_NONE, { S, S, S },
	  { STEER_R_MALFORMED, STEER_R_DROP, STEER_R_MALFORMED }, true },
	{ "bogus ip header (ihl 4)", K_TRUNC_IP, K_NONE, { P, P, P },
	  { STEER_R_MALFORMED, STEER_R_MALFORMED, STEER_R_MALFORMED }, false },
};

#define LINK { P, P, P }, { STEER_R_PASS_LINK, STEER_R_PASS_LINK, STEER_R_PASS_LINK }, false
/* The same over IPv6, where "ip options" are extension headers. */
static const struct row rows6[] = {
	{ "tcp syn", K_SYN, K_NONE, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn, options and data", K_SYN_OPTS_DATA, K_NONE, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn+fin", K_SYN_FIN, K_NONE, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn+rst (never answered)", K_SYN_RST, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn behind destination options (dropped, not answered)", K_SYN_IPOPTS, K_NONE,
	  { S, S, S }, { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn-ack, nobody's syn", K_SYNACK, K_NONE, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp syn-ack to the pod's syn", K_SYNACK, K_SYN, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "tcp ack+data", K_ACK, K_NONE, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp ack+data, the pod's connection", K_ACK, K_SYN, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "tcp ack behind hop-by-hop options", K_ACK_IPOPTS, K_NONE, { P, S, N },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp fin", K_FIN, K_NONE, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp rst", K_RST, K_NONE, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "udp, new", K_UDP, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "udp answer to the pod's query", K_UDP, K_UDP, { P, S, P },
	  { STEER_R_PASS_REPLY, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "icmpv6 echo", K_ICMP_ECHO, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "icmpv6 echo reply, unasked", K_ICMP_ECHOREPLY, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "icmpv6 echo reply to the pod's ping", K_ICMP_ECHOREPLY, K_ICMP_ECHO, { P, S, P },
	  { STEER_R_PASS_REPLY, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "icmpv6 packet too big", K_ICMP_UNREACH, K_NONE, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "neighbour solicitation", K_ND_NS, K_NONE, LINK },
	{ "neighbour advertisement", K_ND_NA, K_NONE, LINK },
	{ "router solicitation", K_ND_RS, K_NONE, LINK },
	{ "router advertisement", K_ND_RA, K_NONE, LINK },
	{ "redirect", K_ND_REDIRECT, K_NONE, LINK },
	{ "mldv2 report", K_MLD_REPORT, K_NONE, LINK },
	{ "sctp", K_OTHER_PROTO, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "sctp answering the pod", K_OTHER_PROTO, K_OTHER_PROTO, { P, S, P },
	  { STEER_R_PASS_REPLY, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "arp (non-ip)", K_NON_IP, K_NONE, { P, P, P },
	  { STEER_R_NON_IP, STEER_R_NON_IP, STEER_R_NON_IP }, false },
	{ "udp first fragment", K_FRAG_FIRST, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "later fragment", K_FRAG_LATER, K_NONE, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "udp behind hop-by-hop, routing, dest options", K_EXT_CHAIN, K_NONE, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "the same answering the pod", K_EXT_CHAIN, K_EXT_CHAIN, { P, S, P },
	  { STEER_R_PASS_REPLY, STEER_R_DROP, STEER_R_PASS_REPLY }, true },
	{ "seven extension headers", K_EXT_TOO_MANY, K_NONE, { S, S, S },
	  { STEER_R_MALFORMED, STEER_R_DROP, STEER_R_MALFORMED }, true },
	{ "truncated extension header", K_TRUNC_EXT, K_NONE, { S, S, S },
	  { STEER_R_MALFORMED, STEER_R_DROP, STEER_R_MALFORMED }, true },
	{ "truncated tcp", K_TRUNC_TCP, K_NONE, { S, S, S },
	  { STEER_R_MALFORMED, STEER_R_DROP, STEER_R_MALFORMED }, true },
	{ "bogus ip header (version 4)", K_TRUNC_IP, K_NONE, { P, P, P },
	  { STEER_R_MALFORMED, STEER_R_MALFORMED, STEER_R_MALFORMED }, false },
};
#undef LINK
#undef P
#undef S
#undef R
#undef F
#undef N

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __u32 csum_add(__u32 sum, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

static bool is6(const struct pkt_buf *b)
{
	return ((const struct ethhdr *)b->data)->h_proto == htons(ETH_P_IPV6);
}

static struct iphdr *ip_of(struct pkt_buf *b)
{
	return (void *)(b->data + ETH_HLEN);
}

static struct ipv6hdr *ip6_of(struct pkt_buf *b)
{
	return (void *)(b->data + ETH_HLEN);
}

static unsigned char *l4_of(struct pkt_buf *b)
{
	return b->data + b->l4;
}

/* The L4 protocol: the last next-header of an IPv6 chain, found in the l4 - 8 byte. */
static __u8 proto_of(struct pkt_buf *b)
{
	if (!is6(b))
		return ip_of(b)->protocol;
	return b->l4 == ETH_HLEN + sizeof(struct ipv6hdr) ? ip6_of(b)->nexthdr :
	       b->data[b->l4 - 8];
}

/* Fills in the IP and L4 checksums from scratch (IPv6 has no header checksum). */
static void fix_csums(struct pkt_buf *b)
{
	unsigned char *l4 = l4_of(b);
	size_t l4len = b->len - b->l4;
	__u8 proto = proto_of(b);
	__u16 *check = NULL;
	__u32 sum = 0;
	bool later;

	if (is6(b)) {
		later = b->frag_later;
		sum = csum_add(0, &ip6_of(b)->saddr, 32);
	} else {
		struct iphdr *ip = ip_of(b);

		ip->check = 0;
		ip->check = htons(csum_fold(csum_add(0, ip, ip->ihl * 4)));
		later = ntohs(ip->frag_off) & 0x1fff;
		sum = csum_add(0, &ip->saddr, 8);
	}
	if (proto == IPPROTO_TCP && l4len >= sizeof(struct tcphdr))
		check = &((struct tcphdr *)l4)->check;
	else if (proto == IPPROTO_UDP && l4len >= sizeof(struct udphdr))
		check = &((struct udphdr *)l4)->check;
	else if (proto == IPPROTO_ICMPV6 && l4len >= 4)
		check = (__u16 *)(l4 + 2);
	if (!check || later)
		return;
	*check = 0;
	sum += proto + l4len;
	sum = csum_add(sum, l4, l4len);
	*check = htons(csum_fold(sum));
}

/* IPv6 extension headers before the L4 header of kind k: next-header codes, 0-ended. */
/* IPv6 extension headers before the L4 header of kind k: next-header codes. */
#define EXT_END 255	/* reserved; 0 is hop-by-hop */

static const __u8 *ext_chain(enum kind k)
{
	static const __u8 dst[] = { IPPROTO_DSTOPTS, EXT_END },
		hbh[] = { IPPROTO_HOPOPTS, EXT_END }, frag[] = { IPPROTO_FRAGMENT, EXT_END },
		chain[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, EXT_END },
		many[] = { IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
			   IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, EXT_END },
		none[] = { EXT_END };

	switch (k) {
	case K_SYN_IPOPTS: return dst;
	case K_ACK_IPOPTS: case K_TRUNC_EXT: return hbh;
	case K_FRAG_FIRST: case K_FRAG_LATER: return frag;
	case K_EXT_CHAIN: return chain;
	case K_EXT_TOO_MANY: return many;
	default: return none;
	}
}

/* A packet of kind k from src to dst; IPv6 when the addresses are. */
static void build(struct pkt_buf *b, enum kind k, const char *src, const char *dst)
{
	bool v6 = strchr(src, ':'), ipopts = k == K_SYN_IPOPTS || k == K_ACK_IPOPTS;
	struct ethhdr *eth = (void *)b->data;
	const __u8 *ext = ext_chain(k);
	struct iphdr *ip = ip_of(b);
	size_t l3len, l4len = 0;
	unsigned char *l4;
	struct tcphdr *th;
	struct udphdr *uh;
	__u8 proto = IPPROTO_TCP;
	int n = 0;

	memset(b, 0, sizeof(*b));
	while (v6 && ext[n] != EXT_END)
		n++;
	l3len = v6 ? sizeof(struct ipv6hdr) + 8 * n : ipopts ? 24 : 20;
	b->l4 = ETH_HLEN + l3len;
	l4 = l4_of(b);
	th = (void *)l4;
	uh = (void *)l4;
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	eth->h_proto = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
	if (k == K_NON_IP) {
		eth->h_proto = htons(ETH_P_ARP);
		b->len = ETH_HLEN + 28;
		return;
	}
	switch (k) {
	case K_SYN: case K_SYN_OPTS_DATA: case K_SYN_FIN: case K_SYN_RST: case K_SYN_IPOPTS:
	case K_SYNACK: case K_ACK: case K_ACK_IPOPTS: case K_FIN: case K_RST: case K_TRUNC_TCP: {
		bool syn = k == K_SYN || k == K_SYN_OPTS_DATA || k == K_SYN_FIN ||
			   k == K_SYN_RST || k == K_SYN_IPOPTS;

		th->source = htons(40000);
		th->dest = htons(80);
		th->seq = htonl(1000);
		th->ack_seq = htonl(syn ? 0 : 2000);
		th->doff = 5;
		th->window = htons(512);
		th->syn = syn || k == K_SYNACK;
		th->ack = !syn;
		th->fin = k == K_FIN || k == K_SYN_FIN;
		th->rst = k == K_RST || k == K_SYN_RST;
		l4len = sizeof(*th);
		if (k == K_SYN_OPTS_DATA) {
			/*
			 * A client's usual options (MSS, NOP NOP timestamps,
			 * NOP window scale), then data as with Fast Open.
			 */
			static const unsigned char opts[20] = {
				2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0x30, 0x39,
				0, 0, 0, 0, 1, 3, 3, 7 };

			memcpy(l4 + l4len, opts, sizeof(opts));
			th->doff = 10;
			l4len += sizeof(opts);
			memcpy(l4 + l4len, "GET / HTTP/1.1\r\n", 16);
			l4len += 16;
		}
		if (k == K_ACK || k == K_ACK_IPOPTS) {
			memcpy(l4 + l4len, "GET / HTTP/1.1\r\n", 16);
			th->psh = 1;
			l4len += 16;
		}
		if (k == K_TRUNC_TCP)
			l4len = 10;
		break;
	}
	case K_UDP: case K_FRAG_FIRST: case K_FRAG_LATER: case K_EXT_CHAIN: case K_EXT_TOO_MANY:
	case K_TRUNC_EXT:
		proto = IPPROTO_UDP;
		uh->source = htons(5353);
		uh->dest = htons(53);
		l4len = sizeof(*uh) + 8;
		uh->len = htons(l4len);
		memcpy(l4 + sizeof(*uh), "question", 8);
		break;
	case K_ICMP_ECHO: case K_ICMP_ECHOREPLY: case K_ICMP_UNREACH:
		proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
		if (v6)
			l4[0] = k == K_ICMP_ECHO ? 128 : k == K_ICMP_ECHOREPLY ? 129 : 2;
		else
			l4[0] = k == K_ICMP_ECHO ? 8 : k == K_ICMP_ECHOREPLY ? 0 : 3;
		l4[1] = k == K_ICMP_UNREACH && !v6 ? 4 : 0;	/* frag needed */
		if (k != K_ICMP_UNREACH)
			memcpy(l4 + 4, "\x12\x34\x00\x01", 4);	/* echo id, sequence */
		l4len = 8;
		break;
	case K_ND_NS: case K_ND_NA: case K_ND_RS: case K_ND_RA: case K_ND_REDIRECT:
	case K_MLD_REPORT:
		proto = IPPROTO_ICMPV6;
		l4[0] = k == K_ND_NS ? 135 : k == K_ND_NA ? 136 : k == K_ND_RS ? 133 :
			k == K_ND_RA ? 134 : k == K_ND_REDIRECT ? 137 : 143;
		l4len = 24;
		break;
	case K_OTHER_PROTO:
		proto = 132;
		l4len = 12;
		break;
	case K_TRUNC_IP:
		/*
		 * test_run refuses an skb too short for an IP header, so the
		 * unreadable-header case is a header length below the minimum
		 * (IPv4), or the wrong version (IPv6).
		 */
		proto = IPPROTO_UDP;
		l4len = 8;
		break;
	default:
		break;
	}
	b->len = b->l4 + l4len;
	if (v6) {
		struct ipv6hdr *ip6 = ip6_of(b);
		struct steer_addr a;

		ip6->version = k == K_TRUNC_IP ? 4 : 6;
		ip6->hop_limit = 63;
		ip6->payload_len = htons(8 * n + l4len);
		ip6->nexthdr = n ? ext[0] : proto;
		addr_parse_ip(src, &a);
		memcpy(&ip6->saddr, a.b, 16);
		addr_parse_ip(dst, &a);
		memcpy(&ip6->daddr, a.b, 16);
		for (int i = 0; i < n; i++) {
			unsigned char *h = b->data + ETH_HLEN + sizeof(*ip6) + 8 * i;

			h[0] = i + 1 < n ? ext[i + 1] : proto;
			/* 8 bytes each (length 0); a truncated one claims 88. */
			h[1] = k == K_TRUNC_EXT ? 10 : 0;
			if (ext[i] == IPPROTO_FRAGMENT) {
				h[1] = 0;
				/* MF on the first; offset 1480 bytes on the later one. */
				h[3] = k == K_FRAG_FIRST ? 1 : 0;
				if (k == K_FRAG_LATER) {
					h[2] = 1480 >> 8;
					h[3] = 1480 & 0xf8;
					b->frag_later = true;
				}
			}
			if (ext[i] == IPPROTO_ROUTING)
				h[2] = 4;	/* a segment routing header with nothing left */
		}
		if (k == K_TRUNC_EXT)
			ip6->payload_len = htons(8 * n + l4len);
	} else {
		ip->version = 4;
		ip->ihl = k == K_TRUNC_IP ? 4 : ipopts ? 6 : 5;
		/* As a SYN arrives after one routed hop; reflections must not copy it. */
		ip->ttl = 63;
		ip->saddr = inet_addr(src);
		ip->daddr = inet_addr(dst);
		ip->protocol = proto;
		if (ipopts)
			memcpy(ip + 1, "\x01\x01\x01\x00", 4);	/* NOP NOP NOP EOL */
		if (k == K_FRAG_FIRST)
			ip->frag_off = htons(0x2000);	/* MF */
		if (k == K_FRAG_LATER)
			ip->frag_off = htons(185);	/* offset 1480 bytes */
		ip->tot_len = htons(l3len + l4len);
	}
	fix_csums(b);
}

/* A reply from the pod: MACs, addresses and ports swapped. Returns its TCP header. */
static struct tcphdr *reflect(struct pkt_buf *b)
{
	struct ethhdr *eth = (void *)b->data;
	struct tcphdr *th = (void *)l4_of(b);
	unsigned char mac[ETH_ALEN];
	__be16 port = th->source;

	memcpy(mac, eth->h_dest, ETH_ALEN);
	memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	memcpy(eth->h_source, mac, ETH_ALEN);
	if (is6(b)) {
		struct in6_addr a = ip6_of(b)->saddr;

		ip6_of(b)->saddr = ip6_of(b)->daddr;
		ip6_of(b)->daddr = a;
	} else {
		__be32 a = ip_of(b)->saddr;

		ip_of(b)->saddr = ip_of(b)->daddr;
		ip_of(b)->daddr = a;
	}
	th->source = th->dest;
	th->dest = port;
	return th;
}

/* A fresh TTL or hop limit, as the pod's own answer would have. */
static void fresh_ttl(struct pkt_buf *b)
{
	if (is6(b))
		ip6_of(b)->hop_limit = 64;
	else
		ip_of(b)->ttl = 64;
}

/* What the pod sent first, for a row's opened kind: built from the pod, ports swapped. */
static void opener(struct pkt_buf *b, enum kind k, const char *peer)
{
	unsigned char *l4;
	__be16 port;

	build(b, k, strchr(peer, ':') ? POD6 : POD, peer);
	l4 = l4_of(b);
	if (k == K_ICMP_ECHO || k == K_OTHER_PROTO)
		return;
	memcpy(&port, l4, 2);
	memmove(l4, l4 + 2, 2);
	memcpy(l4 + 2, &port, 2);
	fix_csums(b);
}

/* Removes the IPv4 options, as the program does before reflecting. */
static void strip_ip_opts(struct pkt_buf *b)
{
	struct iphdr *ip = ip_of(b);
	size_t opt = is6(b) ? 0 : ip->ihl * 4 - sizeof(*ip);

	if (!opt)
		return;
	memmove((unsigned char *)(ip + 1), (unsigned char *)(ip + 1) + opt,
		b->len - ETH_HLEN - sizeof(*ip) - opt);
	b->len -= opt;
	b->l4 -= opt;
	ip->ihl = 5;
	ip->tot_len = htons(ntohs(ip->tot_len) - opt);
}

/*
 * What the sender should get back for a V_RST row (reflected through the
 * ingress of the test_run device): the pod's answer, seq = the segment's
 * ack_seq, RST alone, payload kept, a fresh TTL and no IP options.
 */
static void expect_reflected(struct pkt_buf *b)
{
	struct tcphdr *th;

	strip_ip_opts(b);
	th = reflect(b);
	fresh_ttl(b);
	th->seq = th->ack_seq;
	th->ack_seq = 0;
	th->fin = th->syn = th->psh = th->urg = th->ack = 0;
	th->rst = 1;
	th->window = 0;
	fix_csums(b);
}

/*
 * What the sender should get back for a V_REFUSE row: what Linux answers a
 * SYN to a closed port with (RST+ACK, seq 0, ack = seq + 1 + FIN +
 * payload), from the pod's addresses, with a fresh TTL and no IP options;
 * the SYN's TCP options stay in place as payload of a header with doff 5.
 */
static void expect_refused(struct pkt_buf *b)
{
	struct tcphdr *th = (void *)l4_of(b);
	unsigned int payload = b->len - b->l4 - th->doff * 4;

	strip_ip_opts(b);
	th = reflect(b);
	fresh_ttl(b);
	th->ack_seq = htonl(ntohl(th->seq) + 1 + th->fin + payload);
	th->seq = 0;
	th->doff = 5;
	th->fin = th->syn = th->psh = th->urg = 0;
	th->rst = th->ack = 1;
	th->window = 0;
	fix_csums(b);
}

/* What the pod should receive for a V_RST row: the segment turned into RST. */
static void expect_rst(struct pkt_buf *b)
{
	struct tcphdr *th;
	bool ack;

	strip_ip_opts(b);
	th = (void *)l4_of(b);
	ack = th->ack;
	th->fin = th->syn = th->psh = th->urg = 0;
	th->rst = 1;
	th->ack = ack;
	fix_csums(b);
}

struct env {
	struct datapath *dp;
	const struct steer_maps *m;
	int prog;	/* tc egress: towards the pod */
	int ingress;	/* tc ingress: from the pod, records its flows */
	int qcache;
	int tap;	/* AF_PACKET on lo: sees what the program reflects */
	uint64_t stats[STEER_R_MAX];
};

/*
 * test_run runs the program on lo of the private netns, so a clone
 * redirected to the ingress of skb->ifindex arrives on lo. It must be up,
 * or the redirect is dropped before any tap sees it.
 */
static int tap_open(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	int fd, err;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	err = ioctl(fd, SIOCGIFFLAGS, &ifr) ? -errno : 0;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr))
		err = -errno;
	close(fd);
	if (err)
		return err;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	sll.sll_ifindex = if_nametoindex("lo");
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Next frame the tap saw within timeout_ms: its length, 0 if none. */
static int tap_recv(struct env *e, struct pkt_buf *out, int timeout_ms)
{
	struct pollfd pfd = { .fd = e->tap, .events = POLLIN };
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	n = recv(e->tap, out->data, sizeof(out->data), 0);
	out->len = n > 0 ? n : 0;
	return out->len;
}

/*
 * The rows simulate forwarded packets through ctx ingress_ifindex, which
 * test_run takes only on newer kernels (5.10 refuses it with EINVAL):
 * skipped there, with the reason, rather than failed or run as something
 * else. The netns tests cover forwarded traffic on every kernel.
 */
static bool can_forward(int prog)
{
	struct __sk_buff ctx = { .ingress_ifindex = FWD_IFINDEX };
	char pkt[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(prog, &o) && errno == EINVAL) {
		test_skip("this kernel's test_run cannot set ingress_ifindex (forwarded packets)");
		return false;
	}
	return true;
}

static bool env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->tap = -1;
	if (geteuid() != 0) {
		test_skip("needs root to load BPF");
		return false;
	}
	/* A private netns: test_run uses its loopback, nobody else's. */
	if (!ASSERT_OK(unshare(CLONE_NEWNET) ? -errno : 0, "unshare netns"))
		return false;
	if (!ASSERT_OK(datapath_open(&e->dp, &(struct datapath_opts){ 0 }), "datapath_open"))
		return false;
	e->m = datapath_maps(e->dp);
	e->prog = datapath_prog_fd(e->dp, DATAPATH_PROG_TC);
	e->ingress = datapath_prog_fd(e->dp, DATAPATH_PROG_TC_INGRESS);
	/* Not a steer map (not pinned): the loader's own. */
	e->qcache = bpf_map__fd(e->dp->tc->maps.steer_qcache);
	e->tap = tap_open();
	if (!ASSERT_GE(e->tap, 0, "packet tap on lo"))
		return false;
	return can_forward(e->prog);
}

static void env_close(struct env *e)
{
	if (e->tap >= 0)
		close(e->tap);
	datapath_close(e->dp);
}

/* Forgets every recorded flow, so each case starts from what it sends. */
static void flows_flush(struct env *e)
{
	struct steer_flow_key k, next;

	while (!bpf_map_get_next_key(e->m->flows, NULL, &next)) {
		k = next;
		bpf_map_delete_elem(e->m->flows, &k);
	}
}

static uint32_t flows_count(struct env *e)
{
	uint32_t n = 0;

	maps_count(e->m->flows, &n);
	return n;
}

static void snap_stats(struct env *e)
{
	for (int r = 0; r < STEER_R_MAX; r++)
		maps_stat_get(e->m, r, &e->stats[r]);
}

/* Runs one packet; returns the tc verdict, fills out. */
static int run_prog(int prog, const struct pkt_buf *in, __u32 ingress_ifindex,
		    struct pkt_buf *out)
{
	struct __sk_buff ctx = { .ingress_ifindex = ingress_ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->data, .data_size_in = in->len,
		    .data_out = out->data, .data_size_out = sizeof(out->data),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(prog, &o);
	if (!ASSERT_OK(err, "test_run"))
		return -1;
	out->len = o.data_size_out;
	return o.retval;
}

/* A packet towards the pod (tc egress); returns the verdict, fills out. */
static int run(struct env *e, const struct pkt_buf *in, __u32 ingress_ifindex,
	       struct pkt_buf *out)
{
	return run_prog(e->prog, in, ingress_ifindex, out);
}

/* A packet from the pod (tc ingress), which must pass untouched. */
static bool run_from_pod(struct env *e, const struct pkt_buf *in)
{
	struct pkt_buf out;
	int ret = run_prog(e->ingress, in, FWD_IFINDEX, &out);

	return CHECK_(ret == TC_ACT_UNSPEC && out.len == in->len &&
		      !memcmp(out.data, in->data, in->len),
		      "from the pod: verdict %d, %s", ret,
		      out.len == in->len ? "same length" : "length changed");
}

static const char *const action_names[] = STEER_ACTION_NAMES;
static const char *const reason_names[] = STEER_REASON_NAMES;

enum exempt_mode { EX_NONE, EX_HOST, EX_CIDR, EX_MAX };
static const char *const exempt_names[] = { "forwarded", "node-generated", "exempt cidr" };

struct table_count {
	int cases, reflected, refused;
};

/* Every row under every action and exemption, for one family. */
static void run_table(struct env *e, const struct row *rows, size_t nrows, bool v6,
		      struct table_count *c)
{
	const char *pod = v6 ? POD6 : POD;
	struct steer_quar_val qv = { .origin = STEER_ORIGIN_MANUAL };

	ASSERT_OK(maps_exempt_set(e->m, v6 ? IPP(DEBUG_NET6) : IPP(DEBUG_NET),
				  v6 ? 48 : 96 + 12, STEER_ORIGIN_API), "exempt");
	for (int a = 0; a < STEER_ACT_MAX; a++) {
		qv.action = a;
		ASSERT_OK(maps_quar_set(e->m, IPP(pod), &qv), "set action");
		for (size_t i = 0; i < nrows; i++) {
			for (int x = 0; x < EX_MAX; x++) {
				const char *peer = x == EX_CIDR ? (v6 ? DEBUGGER6 : DEBUGGER) :
						   v6 ? CLIENT6 : CLIENT;
				const struct row *r = &rows[i];
				struct pkt_buf in, want, got;
				enum exp_verdict v = r->v[a];
				enum steer_reason reason = r->r[a];
				uint64_t before;
				char name[160];
				int ret;

				flows_flush(e);
				if (r->opened != K_NONE) {
					struct pkt_buf op;

					opener(&op, r->opened, peer);
					run_from_pod(e, &op);
				}
				build(&in, r->kind, peer, pod);
				if (x != EX_NONE && r->ip_ok) {
					v = V_PASS;
					reason = x == EX_HOST ? STEER_R_EXEMPT_HOST : STEER_R_EXEMPT_CIDR;
				}
				want = in;
				if (v == V_RST || v == V_RST_POD)
					expect_rst(&want);
				/*
				 * test_run hands back the dropped SYN as the
				 * program left it: rewritten in place into the
				 * answer before it was cloned.
				 */
				if (v == V_REFUSE)
					expect_refused(&want);
				snprintf(name, sizeof(name), "%s %s, %s, %s", v6 ? "ipv6" : "ipv4",
					 action_names[a], r->desc, exempt_names[x]);
				snap_stats(e);
				before = e->stats[reason];
				CHECK_(!tap_recv(e, &got, 0), "%s: reflected packet before the run "
				       "(from the case before)", name);
				ret = run(e, &in, x == EX_HOST ? 0 : FWD_IFINDEX, &got);
				if (!CHECK_(ret == (v == V_SHOT || v == V_REFUSE ? TC_ACT_SHOT :
						    TC_ACT_OK),
					    "%s: verdict %d", name, ret))
					continue;
				CHECK_(got.len == want.len && !memcmp(got.data, want.data, want.len),
				       "%s: output bytes differ", name);
				if (v == V_RST) {
					want = in;
					expect_reflected(&want);
					tap_recv(e, &got, 1000);
					CHECK_(got.len == want.len &&
					       !memcmp(got.data, want.data, want.len),
					       "%s: reflected RST differs (%u bytes)", name, got.len);
					c->reflected++;
				}
				if (v == V_REFUSE) {
					want = in;
					expect_refused(&want);
					tap_recv(e, &got, 1000);
					CHECK_(got.len == want.len &&
					       !memcmp(got.data, want.data, want.len),
					       "%s: reflected RST+ACK differs (%u bytes)", name,
					       got.len);
					c->refused++;
				}
				if (v == V_SHOT || v == V_PASS || v == V_RST_POD)
					CHECK_(!tap_recv(e, &got, 20), "%s: answered (%u bytes), "
					       "expected silence", name, got.len);
				snap_stats(e);
				CHECK_(e->stats[reason] == before + 1, "%s: counter %s did not move",
				       name, reason_names[reason]);
				c->cases++;
			}
		}
	}
}

/*
 * Every row of a table under every action and exemption; then the RSTs
 * reflected back and the refusing RST+ACKs checked, and nothing else on lo.
 */
static void table_test(const struct row *rows, size_t nrows, bool v6, int reflected,
		       int refused)
{
	struct table_count c = {};
	struct pkt_buf stray;
	struct env e;

	if (!env_open(&e))
		goto cleanup;
	run_table(&e, rows, nrows, v6, &c);
	ASSERT_EQ(c.cases, STEER_ACT_MAX * EX_MAX * (int)nrows, "cases run");
	ASSERT_EQ(c.reflected, reflected, "reflected RSTs checked");
	ASSERT_EQ(c.refused, refused, "refusing RST+ACKs checked");
	ASSERT_EQ(tap_recv(&e, &stray, 100), 0, "nothing else reflected");
cleanup:
	env_close(&e);
}

TEST(tc_table_every_action_kind_exemption)
{
	/*
	 * Reflected: syn-ack, ack+data (with and without IP options), fin
	 * under reset, forwarded only. Refused: the four answerable SYNs under
	 * drain and reset, forwarded only.
	 */
	table_test(rows, sizeof(rows) / sizeof(rows[0]), false, 4, 8);
}

TEST(tc_table_ipv6_every_action_kind_exemption)
{
	/*
	 * Reflected: syn-ack, ack+data, fin under reset, forwarded only (not
	 * behind hop-by-hop). Refused: the three answerable SYNs without
	 * extension headers, drain and reset, forwarded.
	 */
	table_test(rows6, sizeof(rows6) / sizeof(rows6[0]), true, 3, 6);
}

TEST(tc_not_quarantined_passes_and_qstats_count)
{
	struct steer_quar_val qv = { .action = STEER_ACT_DROP };
	struct pkt_buf in, got;
	struct steer_qstat qs;
	struct env e;

	if (!env_open(&e))
		goto cleanup;
	ASSERT_OK(maps_quar_set(e.m, IPP(POD), &qv), "quarantine");
	for (int k = 0; k < K_MAX; k++) {
		if (k == K_NON_IP || k == K_TRUNC_IP)
			continue;
		build(&in, k, CLIENT, OTHER);
		snap_stats(&e);
		ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_OK, "other pod passes");
		ASSERT_TRUE(got.len == in.len && !memcmp(got.data, in.data, in.len), "untouched");
		uint64_t b = e.stats[STEER_R_PASS];
		snap_stats(&e);
		ASSERT_EQ(e.stats[STEER_R_PASS], b + 1, "pass counter");
	}
	ASSERT_EQ(maps_qstat_get(e.m, IPP(OTHER), &qs), -ENOENT, "no qstats for others");
	build(&in, K_ACK, CLIENT, POD);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_SHOT, "dropped");
	ASSERT_OK(maps_qstat_get(e.m, IPP(POD), &qs), "qstats");
	ASSERT_EQ(qs.packets, 3, "qstat packets");
	ASSERT_EQ(qs.bytes, 3 * in.len, "qstat bytes");
	ASSERT_OK(maps_quar_del(e.m, IPP(POD)), "release");
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_OK, "released pod reachable");
cleanup:
	env_close(&e);
}


TEST(tc_flows_recorded_from_the_pod)
{
	struct steer_quar_val qv = { .action = STEER_ACT_DRAIN };
	struct pkt_buf in, got;
	uint64_t rec;
	struct env e;

	if (!env_open(&e))
		goto cleanup;
	/* Not quarantined: its SYNs are remembered, nothing else. */
	opener(&in, K_SYN, CLIENT);
	run_from_pod(&e, &in);
	ASSERT_EQ(flows_count(&e), 1, "syn of a pod that is not quarantined");
	opener(&in, K_ACK, CLIENT);
	run_from_pod(&e, &in);
	opener(&in, K_UDP, CLIENT);
	run_from_pod(&e, &in);
	opener(&in, K_ICMP_ECHO, CLIENT);
	run_from_pod(&e, &in);
	ASSERT_EQ(flows_count(&e), 1, "nothing else while not quarantined");

	/* Quarantined: datagrams and pings too, each flow once. */
	ASSERT_OK(maps_quar_set(e.m, IPP(POD), &qv), "quarantine");
	snap_stats(&e);
	rec = e.stats[STEER_R_FLOW_RECORDED];
	for (int i = 0; i < 3; i++) {
		opener(&in, K_UDP, CLIENT);
		run_from_pod(&e, &in);
	}
	opener(&in, K_ICMP_ECHO, CLIENT);
	run_from_pod(&e, &in);
	opener(&in, K_ICMP_ECHOREPLY, CLIENT);	/* answering someone's ping opens nothing */
	run_from_pod(&e, &in);
	ASSERT_EQ(flows_count(&e), 3, "udp and echo of a quarantined pod");
	snap_stats(&e);
	ASSERT_EQ(e.stats[STEER_R_FLOW_RECORDED], rec + 2, "looked up before updating: one write each");

	/* The answer to the datagram passes; one from a port the pod did not use does not. */
	build(&in, K_UDP, CLIENT, POD);
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_OK, "udp answer passes");
	((struct udphdr *)l4_of(&in))->source = htons(5354);
	fix_csums(&in);
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_SHOT, "other peer port dropped");
cleanup:
	env_close(&e);
}

/* The cache entries of every CPU for slot of addr that vouch for it. */
static int qcache_vouching(struct env *e, const struct steer_addr *addr)
{
	__u32 slot = (__u32)(addr->w[3] * 0x9e3779b1u) >> 24;	/* as bpf/lib/qcache.h */
	int ncpu = libbpf_num_possible_cpus(), n = 0;
	struct { struct steer_addr a; __u32 epoch, jiffy; } *ents;

	ents = calloc(ncpu, sizeof(*ents));
	if (!ents || bpf_map_lookup_elem(e->qcache, &slot, ents)) {
		free(ents);
		return -1;
	}
	for (int i = 0; i < ncpu; i++)
		n += addr_eq(&ents[i].a, addr);
	free(ents);
	return n;
}

TEST(tc_not_quarantined_cache_yields_to_every_writer)
{
	struct steer_quar_val qv = { .action = STEER_ACT_DROP };
	struct steer_quar_key k = { .addr = addr_lit(OTHER) };
	struct pkt_buf in, got;
	struct env e;

	if (!env_open(&e))
		goto cleanup;
	build(&in, K_ACK, CLIENT, OTHER);
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_OK, "not quarantined");
	ASSERT_EQ(qcache_vouching(&e, &k.addr), 1, "the cache holds it");

	/* steer's writers (maps_quar_set) bump the epoch: enforced on the very next packet. */
	ASSERT_OK(maps_quar_set(e.m, &k.addr, &qv), "quarantine");
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_SHOT, "enforced at once");
	ASSERT_OK(maps_quar_del(e.m, &k.addr), "release");
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_OK, "released at once");

	/* A plain map update, as bpftool makes, without the epoch: within a tick. */
	ASSERT_EQ(qcache_vouching(&e, &k.addr), 1, "cached again");
	ASSERT_OK(bpf_map_update_elem(e.m->quar, &k, &qv, BPF_ANY) ? -errno : 0,
		  "bpftool-style update");
	usleep(25 * 1000);	/* more than a jiffy at HZ=100 */
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_SHOT, "enforced after a tick");
cleanup:
	env_close(&e);
}

static struct sock_out sock_run(int prog, const struct test_in *in)
{
	struct sock_out out = {};
	unsigned char buf[128];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = sizeof(*in),
		    .data_out = buf, .data_size_out = sizeof(buf), .repeat = 1);

	if (ASSERT_OK(bpf_prog_test_run_opts(prog, &o), "test_run"))
		memcpy(&out, buf, sizeof(out));
	return out;
}

/* The affinity entry a socket given o's pick would hold. */
static void prior_of(struct test_in *t, const struct sock_out *o)
{
	t->has_prior = 1;
	memset(&t->prior, 0, sizeof(t->prior));
	t->prior.backend = o->pick.be.addr;
	t->prior.port = o->pick.be.port;
	t->prior.rev = o->pick.rev;
	t->prior.slot = o->pick.slot;
}

/*
 * Loads the socket decision harness (root only), its maps in *m and its
 * program in *prog; NULL when the test is skipped or failed.
 */
static struct test_sock_decide_bpf *sock_decide_load(struct steer_maps *m, int *prog)
{
	struct test_sock_decide_bpf *skel;

	if (geteuid() != 0) {
		test_skip("needs root to load BPF");
		return NULL;
	}
	skel = test_sock_decide_bpf__open_and_load();
	if (!ASSERT_OK_PTR(skel, "open_and_load"))
		return NULL;
	if (!ASSERT_OK(maps_from_object(m, skel->obj), "maps")) {
		test_sock_decide_bpf__destroy(skel);
		return NULL;
	}
	*prog = bpf_program__fd(skel->progs.test_sock_decide);
	return skel;
}

TEST(sock_decision_steer_refuse_fallthrough)
{
	struct test_sock_decide_bpf *skel;
	struct steer_svc_key k = { .vip = addr_lit("10.96.0.10"), .port = htons(80), .proto = 6 };
	struct steer_backend_val be[3] = {
		{ .addr = addr_lit("10.244.1.7"), .port = htons(8080) },
		{ .addr = addr_lit("10.244.1.8"), .port = htons(8080) },
		{ .addr = addr_lit("10.244.1.9"), .port = htons(8080) },
	};
	struct steer_quar_val qv = { .action = STEER_ACT_DRAIN };
	struct test_in t = { .in = { .addr = k.vip, .port = k.port, .proto = 6 } };
	struct steer_svc_val sv;
	struct steer_maps m;
	struct sock_out out;
	int prog, seen[2] = {};

	skel = sock_decide_load(&m, &prog);
	if (!skel)
		return;

	out = sock_run(prog, &t);
	ASSERT_EQ(out.verdict, SOCK_PASS, "unsteered vip untouched");
	ASSERT_EQ(out.reason, STEER_R_PASS, "reason pass");

	ASSERT_OK(maps_svc_set(&m, &k, be, 2, STEER_ORIGIN_MANUAL, 0), "svc set");
	for (__u32 rnd = 0; rnd < 8; rnd++) {
		t.in.rnd = rnd;
		out = sock_run(prog, &t);
		ASSERT_EQ(out.verdict, SOCK_REWRITE, "steered");
		ASSERT_EQ(out.reason, STEER_R_SOCK_STEERED, "reason steered");
		ASSERT_EQ(out.pick.be.port, htons(8080), "backend port");
		ASSERT_TRUE(addr_eq(&out.pick.be.addr, &be[out.pick.slot].addr), "slot says where");
		seen[addr_eq(&out.pick.be.addr, &be[1].addr)]++;
	}
	ASSERT_TRUE(seen[0] && seen[1], "random slot reaches both backends");

	t.in.proto = 17;
	ASSERT_EQ(sock_run(prog, &t).verdict, SOCK_PASS, "other proto untouched");
	t.in.proto = 6;

	/* Affinity: a socket keeps its backend while it is in its slot and healthy. */
	t.in.rnd = 0;
	out = sock_run(prog, &t);
	prior_of(&t, &out);
	for (__u32 rnd = 1; rnd < 8; rnd++) {
		t.in.rnd = rnd;
		struct sock_out again = sock_run(prog, &t);

		ASSERT_TRUE(addr_eq(&again.pick.be.addr, &out.pick.be.addr), "kept");
	}
	ASSERT_OK(maps_quar_set(&m, &out.pick.be.addr, &qv), "quarantine the kept backend");
	for (__u32 rnd = 0; rnd < 4; rnd++) {
		t.in.rnd = rnd;
		struct sock_out moved = sock_run(prog, &t);

		ASSERT_FALSE(addr_eq(&moved.pick.be.addr, &out.pick.be.addr), "moved off it");
	}
	ASSERT_OK(maps_quar_del(&m, &out.pick.be.addr), "release it");
	t.has_prior = 0;

	/* Safety net: a backend quarantined before the writer caught up. */
	ASSERT_OK(maps_quar_set(&m, &be[0].addr, &qv), "quarantine backend 0");
	for (__u32 rnd = 0; rnd < 4; rnd++) {
		t.in.rnd = rnd;
		out = sock_run(prog, &t);
		ASSERT_EQ(out.verdict, SOCK_REWRITE, "steered around");
		ASSERT_TRUE(addr_eq(&out.pick.be.addr, &be[1].addr), "healthy backend");
	}
	/* Every slot quarantined but the writer says there are backends: kube-proxy's turn. */
	ASSERT_OK(maps_quar_set(&m, &be[1].addr, &qv), "quarantine backend 1");
	out = sock_run(prog, &t);
	ASSERT_EQ(out.verdict, SOCK_PASS, "falls through, never refused");
	ASSERT_EQ(out.reason, STEER_R_SOCK_FALLTHROUGH, "reason fallthrough");
	maps_quar_del(&m, &be[0].addr);
	maps_quar_del(&m, &be[1].addr);

	/*
	 * A reader that read steer_svc just before an update and picks after
	 * it: the slots of the rev it holds must not make it refuse.
	 */
	ASSERT_OK(maps_svc_get(&m, &k, &sv, NULL, 0, NULL), "svc get");
	t.mode = TEST_PICK_SNAPSHOT;
	t.snap_count = sv.count;
	t.snap_rev = sv.rev;
	ASSERT_OK(maps_svc_set(&m, &k, &be[2], 1, STEER_ORIGIN_MANUAL, 0), "svc update");
	for (__u32 rnd = 0; rnd < 4; rnd++) {
		t.in.rnd = rnd;
		out = sock_run(prog, &t);
		ASSERT_EQ(out.verdict, SOCK_REWRITE, "a reader of the rev before still picks");
		ASSERT_TRUE(addr_eq(&out.pick.be.addr, &be[0].addr) ||
			    addr_eq(&out.pick.be.addr, &be[1].addr),
			    "from the set it read");
	}
	/* Slots missing under the current rev (a writer between two steps). */
	t.snap_rev = sv.rev + 40;
	out = sock_run(prog, &t);
	ASSERT_EQ(out.verdict, SOCK_PASS, "missing slots fall through");
	ASSERT_EQ(out.reason, STEER_R_SOCK_FALLTHROUGH, "reason fallthrough");
	t.mode = TEST_DECIDE;

	ASSERT_OK(maps_svc_set(&m, &k, NULL, 0, STEER_ORIGIN_MANUAL, 0), "svc empty");
	out = sock_run(prog, &t);
	ASSERT_EQ(out.verdict, SOCK_REFUSE, "the writer says no backend: refused");
	ASSERT_EQ(out.reason, STEER_R_SOCK_NO_BACKEND, "reason no backend");

	/* A quarantined pod's address is left to tc on its veth. */
	ASSERT_OK(maps_quar_set(&m, &be[0].addr, &qv), "quarantine a pod");
	t.in.addr = be[0].addr;
	t.in.port = htons(8080);
	ASSERT_EQ(sock_run(prog, &t).verdict, SOCK_PASS, "direct connect not refused here");
	test_sock_decide_bpf__destroy(skel);
}

/* IPv6 VIPs and backends, and an IPv4 VIP asked for in its mapped form. */
TEST(sock_decision_ipv6_and_mapped)
{
	struct test_sock_decide_bpf *skel;
	struct steer_svc_key k6 = { .vip = addr_lit("fd00:96::10"), .port = htons(80), .proto = 6 };
	struct steer_svc_key k4 = { .vip = addr_lit("10.96.0.10"), .port = htons(80), .proto = 6 };
	struct steer_backend_val be6[2] = {
		{ .addr = addr_lit("fd00:244:1::7"), .port = htons(8080) },
		{ .addr = addr_lit("fd00:244:1::8"), .port = htons(8080) },
	};
	struct steer_backend_val be4 = { .addr = addr_lit("10.244.1.7"), .port = htons(8080) };
	struct steer_quar_val qv = { .action = STEER_ACT_DRAIN };
	struct test_in t = { .in = { .addr = k6.vip, .port = k6.port, .proto = 6 } };
	struct steer_maps m;
	struct sock_out out;
	int prog;

	skel = sock_decide_load(&m, &prog);
	if (!skel)
		return;
	ASSERT_OK(maps_svc_set(&m, &k6, be6, 2, STEER_ORIGIN_MANUAL, 0), "IPv6 svc set");
	ASSERT_OK(maps_quar_set(&m, &be6[0].addr, &qv), "quarantine an IPv6 backend");
	for (__u32 rnd = 0; rnd < 4; rnd++) {
		t.in.rnd = rnd;
		out = sock_run(prog, &t);
		ASSERT_EQ(out.verdict, SOCK_REWRITE, "IPv6 VIP steered");
		ASSERT_TRUE(addr_eq(&out.pick.be.addr, &be6[1].addr), "to the healthy IPv6 backend");
	}
	t.in.addr = addr_lit("fd00:96::11");
	ASSERT_EQ(sock_run(prog, &t).verdict, SOCK_PASS, "another IPv6 address untouched");

	/* What connect6 reads from an AF_INET6 socket dialing ::ffff:10.96.0.10. */
	ASSERT_OK(maps_svc_set(&m, &k4, &be4, 1, STEER_ORIGIN_MANUAL, 0), "IPv4 svc set");
	t.in.addr = addr_lit("::ffff:10.96.0.10");
	out = sock_run(prog, &t);
	ASSERT_EQ(out.verdict, SOCK_REWRITE, "the mapped VIP is the IPv4 Service");
	ASSERT_TRUE(addr_eq(&out.pick.be.addr, IPP("10.244.1.7")), "to its IPv4 backend, mapped");

	t.mode = TEST_REVNAT;
	t.in.addr = k6.vip;
	t.in.rnd = 91;
	out = sock_run(prog, &t);
	ASSERT_TRUE(out.verdict == SOCK_REWRITE && out.found, "IPv6 reverse translation found");
	test_sock_decide_bpf__destroy(skel);
}

TEST(sock_revnat_looked_up_before_written)
{
	struct test_sock_decide_bpf *skel;
	struct steer_svc_key k = { .vip = addr_lit("10.96.0.10"), .port = htons(53), .proto = 17 };
	struct steer_backend_val be = { .addr = addr_lit("10.244.1.7"), .port = htons(5353) };
	struct test_in t = { .mode = TEST_REVNAT,
			     .in = { .addr = k.vip, .port = k.port, .proto = 17, .rnd = 77 } };
	struct steer_maps m;
	struct sock_out out;
	uint32_t n;
	int prog;

	skel = sock_decide_load(&m, &prog);
	if (!skel)
		return;
	ASSERT_OK(maps_svc_set(&m, &k, &be, 1, STEER_ORIGIN_MANUAL, 0), "svc set");
	out = sock_run(prog, &t);
	ASSERT_EQ(out.verdict, SOCK_REWRITE, "steered");
	ASSERT_EQ(out.writes, 1, "the same translation twice: written once");
	ASSERT_TRUE(out.found, "found by (socket, backend)");
	ASSERT_OK(maps_count(m.revnat, &n), "count");
	ASSERT_EQ(n, 1, "one entry");
	/* Another socket (cookie) through the same VIP: its own entry. */
	t.in.rnd = 78;
	ASSERT_EQ(sock_run(prog, &t).writes, 1, "second socket");
	ASSERT_OK(maps_count(m.revnat, &n), "count");
	ASSERT_EQ(n, 2, "two entries");
	test_sock_decide_bpf__destroy(skel);
}

/* The bytes the kernel charges for a map, from its fdinfo. */
static long long map_memlock(int fd)
{
	char path[64], line[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * docs/datapath.md ("Memory"): steer_qstats costs 16 B per bucket (65,536
 * of them), a few bytes per possible CPU and one element per address that
 * saw traffic, never value x CPUs x 65,536 as a per-CPU hash did. Kernels
 * from 6.4 report what is in use; older ones charge every element up front.
 */
TEST(memory_qstats_formula)
{
	struct steer_qstat v = { .packets = 1 };
	long long m0, m1, buckets = 16LL * STEER_MAX_QUAR;
	int ncpu = libbpf_num_possible_cpus(), n = 1000;
	struct env e;

	if (!env_open(&e))
		goto cleanup;
	m0 = map_memlock(e.m->qstats);
	printf("  steer_qstats: %lld bytes empty at %d possible CPUs\n", m0, ncpu);
	ASSERT_GE(m0, buckets, "at least the buckets");
	/* Elements (80 B + a list node) for every entry if charged up front. */
	ASSERT_LE(m0, buckets + 88LL * STEER_MAX_QUAR + 64LL * ncpu + 4096,
		  "no per-CPU copy of 65,536 values");
	for (int i = 0; i < n; i++) {
		struct steer_quar_key k;

		addr_from_v4(&k.addr, htonl(0x0af50000 + i));

		ASSERT_OK(bpf_map_update_elem(e.m->qstats, &k, &v, BPF_NOEXIST) ? -errno : 0,
			  "add");
	}
	m1 = map_memlock(e.m->qstats);
	printf("  steer_qstats: %lld bytes with %d addresses\n", m1, n);
	/* Charged as used: 88 B an address (16 B key); charged up front: no change. */
	ASSERT_TRUE(m1 == m0 || (m1 - m0 >= 80LL * n && m1 - m0 <= 104LL * n),
		    "one element per counted address, whatever the CPU count");
cleanup:
	env_close(&e);
}
