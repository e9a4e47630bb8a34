/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The reset action: cut an established TCP flow at both ends, statelessly,
 * from one segment travelling towards the pod (tc egress on its veth).
 * The same reflection refuses new connections under drain and reset
 * (tcp_refuse() at the end).
 *
 * 1. The segment is turned, in place, into the RST its sender would get
 *    from the pod: MACs, addresses and ports swapped, seq = the segment's
 *    ack_seq (exactly the sender's rcv_nxt, so RFC 5961 accepts it without
 *    a challenge ACK), flags = RST. bpf_clone_redirect() sends a copy of
 *    that into the *ingress* of the same veth, where the node receives it
 *    as if the pod had sent it and routes it (or bridges it: the swapped
 *    destination MAC is the one the segment came from) back to the sender,
 *    through conntrack, so a MASQUERADEd sender gets it de-NATed.
 * 2. The segment is then rewritten into a RST towards the pod (ACK kept,
 *    same seq, which is the pod's rcv_nxt) and continues to the pod.
 *
 * Why not build a fresh packet: a BPF program cannot allocate an skb; the
 * clone of a rewritten segment is the usual way (Cilium answers ARP and
 * ICMP the same way, reusing the packet and redirecting it back). Why not
 * let the pod answer: its socket is gone after step 2, but a RST is never
 * answered, and every later segment is rewritten too, so the sender would
 * only time out.
 *
 * The payload stays in both: Linux ignores data on a RST, and trimming
 * would need the IPv4 length and a checksum over the payload. Only the
 * first 16 bytes of the TCP header change, so the TCP checksum is patched
 * by difference; bpf_l4_csum_replace() leaves CHECKSUM_PARTIAL skbs (veth
 * traffic) to the offload, where only the pseudo-header is in the field.
 * Swapping addresses or ports moves 16-bit words around without changing
 * the pseudo-header sum. The reflected copy gets a fresh TTL, no IP
 * options and no mark, as a RST the pod sent would have; its IPv4 header
 * is rewritten with a new checksum.
 *
 * IPv6 is the same with a fresh hop limit and no header checksum. A
 * segment behind IPv6 extension headers gets no reflection (they would
 * have to be stripped, and a SYN never carries them in practice): the pod
 * is still reset, and a refused SYN is only dropped.
 */
#ifndef STEER_BPF_TCP_RESET_H
#define STEER_BPF_TCP_RESET_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/parse.h"

#define TCPW_DOFF	0xf000
/* What Linux sends with by default (ip_default_ttl, IPv6 hop_limit). */
#define REFLECT_TTL	64

/* The IP header of either family, as the segment carried it. */
struct l3_hdr {
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	};
};

static __always_inline int l3_load(struct __sk_buff *skb, const struct pkt *p, struct l3_hdr *h)
{
	if (p->v6)
		return bpf_skb_load_bytes(skb, ETH_HLEN, &h->v6, sizeof(h->v6));
	return bpf_skb_load_bytes(skb, ETH_HLEN, &h->v4, sizeof(h->v4));
}

/* Can a reflection be built? Not behind IPv6 extension headers. */
static __always_inline bool l3_reflectable(const struct pkt *p)
{
	return !p->v6 || p->l4_off == L3_HLEN6;
}

/* The first 16 bytes of a TCP header: 4-byte multiple, for bpf_csum_diff. */
struct tcp_head {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__be16 word;		/* doff, res, flags */
	__be16 window;
};

/* Rewrites the TCP head from *from to *to and patches the checksum. */
static __always_inline int tcp_head_store(struct __sk_buff *skb, __u32 l4_off,
					  struct tcp_head *from, struct tcp_head *to)
{
	__s64 diff;

	diff = bpf_csum_diff((__be32 *)from, sizeof(*from), (__be32 *)to, sizeof(*to), 0);
	if (diff < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, l4_off, to, sizeof(*to), 0))
		return -1;
	/* Size 0 in flags: "to" is a checksum difference, not a field value. */
	if (bpf_l4_csum_replace(skb, l4_off + offsetof(struct tcphdr, check), 0, diff, 0))
		return -1;
	return 0;
}

/*
 * Writes the base IPv4 header with a fresh checksum. RECOMPUTE_CSUM keeps
 * skb->csum right for a CHECKSUM_COMPLETE skb, whose receiver would
 * otherwise fail the TCP checksum of the reflected copy.
 */
static __always_inline int ip4_store(struct __sk_buff *skb, struct iphdr *ip)
{
	__s64 sum;

	ip->check = 0;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)ip, sizeof(*ip), 0);
	if (sum < 0)
		return -1;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = (__sum16)~sum;
	return bpf_skb_store_bytes(skb, ETH_HLEN, ip, sizeof(*ip), BPF_F_RECOMPUTE_CSUM);
}

/*
 * Removes the IPv4 options, if any, from the packet and from *ip (its base
 * header, loaded by the caller); p->l4_off follows. A RST needs none, and
 * the ones a SYN carries (record route, timestamps, source route) would be
 * wrong or harmful echoed back. ADJ_ROOM_NET shrinks right behind the base
 * header, which is where the options are. Returns 1 if it removed some.
 */
static __always_inline int ip4_drop_opts(struct __sk_buff *skb, struct pkt *p, struct iphdr *ip)
{
	__u32 optlen = p->l4_off - ETH_HLEN - sizeof(*ip);

	if (p->v6 || !optlen)
		return 0;
	if (bpf_skb_adjust_room(skb, -(__s32)optlen, BPF_ADJ_ROOM_NET, 0))
		return -1;
	ip->ihl = 5;
	ip->tot_len = bpf_htons(bpf_ntohs(ip->tot_len) - optlen);
	p->l4_off -= optlen;
	return 1;
}

/*
 * Turns the packet into its reflection's L2/L3: MACs and addresses swapped,
 * a fresh TTL (not the sender's, decremented on its way here), no mark
 * (kube-proxy's masquerade mark or a policy-routing mark of the segment
 * is not the answer's). The caller has dropped the IP options.
 */
/* Writes the IP header back: a fresh checksum for IPv4, IPv6 has none. */
static __always_inline int l3_store(struct __sk_buff *skb, const struct pkt *p, struct l3_hdr *h)
{
	if (p->v6)
		return bpf_skb_store_bytes(skb, ETH_HLEN, &h->v6, sizeof(h->v6),
					   BPF_F_RECOMPUTE_CSUM);
	return ip4_store(skb, &h->v4);
}

static __always_inline int reflect_l3(struct __sk_buff *skb, const struct pkt *p,
				      const __u8 *macs, const struct l3_hdr *h)
{
	struct l3_hdr r = *h;
	__u8 macs_r[2 * ETH_ALEN];

	__builtin_memcpy(macs_r, macs + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(macs_r + ETH_ALEN, macs, ETH_ALEN);
	if (p->v6) {
		r.v6.saddr = h->v6.daddr;
		r.v6.daddr = h->v6.saddr;
		r.v6.hop_limit = REFLECT_TTL;
	} else {
		r.v4.saddr = h->v4.daddr;
		r.v4.daddr = h->v4.saddr;
		r.v4.ttl = REFLECT_TTL;
	}
	skb->mark = 0;
	if (bpf_skb_store_bytes(skb, 0, macs_r, sizeof(macs_r), 0))
		return -1;
	return l3_store(skb, p, &r);
}

/*
 * Reflects a RST to the sender (if the segment carries an ACK, i.e. we
 * know the sequence number it expects) and turns the segment into a RST
 * towards the pod. Returns 0, or -1 if the segment could not be rewritten
 * (the caller drops it).
 */
static __always_inline int tcp_reset(struct __sk_buff *skb, struct pkt *p)
{
	struct tcp_head orig, to_pod, reply, *cur = &orig;
	__u8 macs[2 * ETH_ALEN];
	__u32 mark = skb->mark;
	struct l3_hdr ip;
	int opts;

	if (l3_load(skb, p, &ip))
		return -1;
	opts = ip4_drop_opts(skb, p, &ip.v4);
	if (opts < 0 || bpf_skb_load_bytes(skb, p->l4_off, &orig, sizeof(orig)))
		return -1;
	to_pod = orig;
	to_pod.word = bpf_htons((p->tcp_word & TCPW_DOFF) | TCPW_RST |
				(p->tcp_word & TCPW_ACK));

	/*
	 * Without an ACK the segment does not say what the sender expects
	 * next; the kernel would answer with seq 0 and an ACK over the
	 * payload, which needs the payload length. Such segments (a bare FIN
	 * is not valid TCP) only reset the pod.
	 */
	if ((p->tcp_word & TCPW_ACK) && l3_reflectable(p)) {
		if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)))
			return -1;
		reply = orig;
		reply.source = orig.dest;
		reply.dest = orig.source;
		reply.seq = orig.ack_seq;
		reply.ack_seq = 0;
		reply.word = bpf_htons((p->tcp_word & TCPW_DOFF) | TCPW_RST);
		reply.window = 0;
		if (reflect_l3(skb, p, macs, &ip) ||
		    tcp_head_store(skb, p->l4_off, &orig, &reply))
			return -1;
		/*
		 * A clone, so the original goes on to the pod. Ingress of the
		 * same device: the copy then looks like the pod's own answer.
		 * If it fails (no memory, device going down) the pod is still
		 * reset; the sender only stalls, as before reflection.
		 */
		bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS);
		skb->mark = mark;
		if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
			return -1;
		opts = 1;
		cur = &reply;
	}
	if (opts && l3_store(skb, p, &ip))
		return -1;
	return tcp_head_store(skb, p->l4_off, cur, &to_pod);
}

/*
 * Refuses a new connection the way a closed port does: the SYN (no ACK, no
 * RST) is turned into the pod's answer, RST+ACK with seq 0 and ack = the
 * SYN's seq + 1 (+ FIN, + payload), as tcp_v4_send_reset() builds it, and
 * a clone goes back through the ingress of the same veth, as in
 * tcp_reset(). The caller drops the SYN, so the pod never sees it and
 * nothing needs restoring. The client's connect() fails at once with
 * ECONNREFUSED instead of retransmitting into a timeout; its retry goes
 * through the (by then steered) socket hook or Service rules again.
 *
 * doff becomes 5: the SYN's TCP options (MSS, window scale, timestamps,
 * MPTCP, a Fast Open cookie) turn into payload of the RST, which Linux
 * ignores (RFC 1122 4.2.2.12 allows data on a RST), so the client never
 * parses its own options echoed back. Trimming them would need the IPv4
 * length and the pseudo-header to change. Returns 0, or -1 if no answer
 * went out (the SYN is then only dropped, as before).
 */
static __always_inline int tcp_refuse(struct __sk_buff *skb, struct pkt *p)
{
	struct tcp_head orig, reply;
	__u8 macs[2 * ETH_ALEN];
	struct l3_hdr ip;
	__s32 payload;

	if (!l3_reflectable(p) || l3_load(skb, p, &ip) ||
	    bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)))
		return -1;
	/*
	 * IPv4: tot_len counts the IP header, l4_off - ETH_HLEN long with its
	 * options. IPv6: payload_len counts what follows the fixed header.
	 */
	if (p->v6)
		payload = (__s32)bpf_ntohs(ip.v6.payload_len);
	else
		payload = (__s32)bpf_ntohs(ip.v4.tot_len) - (__s32)(p->l4_off - ETH_HLEN);
	payload -= (__s32)((p->tcp_word & TCPW_DOFF) >> 12) * 4;
	/* The pod's kernel would drop a segment shorter than its headers. */
	if (payload < 0)
		return -1;
	if (ip4_drop_opts(skb, p, &ip.v4) < 0 ||
	    bpf_skb_load_bytes(skb, p->l4_off, &orig, sizeof(orig)))
		return -1;

	reply.source = orig.dest;
	reply.dest = orig.source;
	reply.seq = 0;
	reply.ack_seq = bpf_htonl(bpf_ntohl(orig.seq) + 1 +
				  !!(p->tcp_word & TCPW_FIN) + payload);
	reply.word = bpf_htons((5 << 12) | TCPW_RST | TCPW_ACK);
	reply.window = 0;
	if (reflect_l3(skb, p, macs, &ip) || tcp_head_store(skb, p->l4_off, &orig, &reply))
		return -1;
	/*
	 * A clone although the SYN is dropped next, not bpf_redirect(): the
	 * verdict stays "dropped", the path is the one tcp_reset() takes, and
	 * the answer is really delivered under test_run, which never carries
	 * out a TC_ACT_REDIRECT. One skb head per refused SYN.
	 */
	return bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS) ? -1 : 0;
}

#endif /* STEER_BPF_TCP_RESET_H */
