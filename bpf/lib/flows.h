/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flows a local pod opened (steer_flows), so drain and reset refuse only
 * what others open towards a quarantined pod: the pod's DNS answers, the
 * replies to its TCP connections and its pings still reach it.
 *
 * Written by tc on the host side of the pod's veth (packets from the pod,
 * before any NAT on the node), read by tc on the same veth (packets to the
 * pod, after de-NAT), so both see the pod's own view of the tuple: a reply
 * through a Service VIP comes from the VIP the pod sent to. Recorded:
 *   - TCP: every SYN without ACK a pod sends, quarantined or not, because
 *     a connection the pod opened before its quarantine must survive reset
 *     and never sends another SYN;
 *   - UDP, ICMP echo requests and other protocols: only while the pod is
 *     quarantined, which keeps a lookup off every datagram of every other
 *     pod. The answer to a datagram sent just before the quarantine landed
 *     can be dropped once; its sender retries.
 * docs/datapath.md ("Flows the pod opened") says why not conntrack.
 */
#ifndef STEER_BPF_FLOWS_H
#define STEER_BPF_FLOWS_H

#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

/* Ports 0 for protocols without them; the echo id alone for ICMP. */
static __always_inline void flow_ports(struct steer_flow_key *k, __u8 proto)
{
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		k->peer_port = 0;
	else if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		k->pod_port = k->peer_port = 0;
}

/* Does the packet towards the pod answer a flow the pod opened? */
static __always_inline bool flow_opened_by_pod(const struct pkt *p)
{
	struct steer_flow_key k = {
		.pod = p->daddr, .peer = p->saddr,
		.pod_port = p->dport, .peer_port = p->sport, .proto = p->proto,
	};

	flow_ports(&k, p->proto);
	return bpf_map_lookup_elem(&steer_flows, &k) != NULL;
}

/*
 * Remembers the flow of a packet from the pod. Looked up first: a flow
 * already known costs no update, and an LRU update of an existing key
 * would take a fresh element, which can evict another live flow.
 */
static __always_inline void flow_record(const struct pkt *p)
{
	struct steer_flow_key k = {
		.pod = p->saddr, .peer = p->daddr,
		.pod_port = p->sport, .peer_port = p->dport, .proto = p->proto,
	};
	struct steer_flow_val v;

	flow_ports(&k, p->proto);
	if (bpf_map_lookup_elem(&steer_flows, &k))
		return;
	v.since = bpf_ktime_get_ns();
	if (!bpf_map_update_elem(&steer_flows, &k, &v, BPF_NOEXIST))
		stat_inc(STEER_R_FLOW_RECORDED);
}

#endif /* STEER_BPF_FLOWS_H */
