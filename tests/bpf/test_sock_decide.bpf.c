// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test harness for bpf/lib/sock_decide.h: sock_addr programs cannot be
 * test-run, so this tc program feeds the decision helpers from packet bytes
 * (a struct sock_in at offset 0) and writes the outcome back over them.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/sock_decide.h"
#include "sock_decide_test.h"

SEC("tc")
int test_sock_decide(struct __sk_buff *skb)
{
	struct steer_backend_val be = {};
	struct steer_revnat_val rv = {};
	struct sock_out out = {};
	struct sock_in in;

	/* Both structs are 32 bytes: the output overwrites the input exactly. */
	if (bpf_skb_load_bytes(skb, 0, &in, sizeof(in)))
		return TC_ACT_SHOT;
	out.verdict = sock_decide(&in, &be, &out.reason);
	if (out.verdict == SOCK_REWRITE) {
		out.addr = be.addr;
		out.port = be.port;
		/* The netns cookie stands in for the socket cookie here. */
		sock_revnat_save(in.netns, &be, in.addr, in.port);
		out.revnat_ok = sock_revnat_lookup(in.netns, be.addr, be.port, &rv);
		out.revnat_vip = rv.vip;
		out.revnat_port = rv.port;
	}
	bpf_skb_store_bytes(skb, 0, &out, sizeof(out), 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
