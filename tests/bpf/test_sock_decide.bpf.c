// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test harness for bpf/lib/sock_decide.h and sock_nat.h: sock_addr programs
 * cannot be test-run, so this tc program feeds the decision helpers from
 * packet bytes (a struct test_in at offset 0) and writes a struct sock_out
 * back over them.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define SOCK_RND(in) ((in)->rnd)
#include "lib/sock_decide.h"
#include "lib/sock_nat.h"
#include "sock_decide_test.h"

/* The decision, then its revnat entry written twice and read back. */
static __always_inline void revnat_twice(const struct test_in *t, struct sock_out *out)
{
	struct steer_revnat_val *v;

	out->verdict = sock_decide(&t->in, NULL, &out->pick, &out->reason);
	if (out->verdict != SOCK_REWRITE)
		return;
	for (int i = 0; i < 2; i++)
		out->writes += revnat_save(t->in.rnd, t->in.proto, &out->pick, &t->in.addr,
					   t->in.port);
	v = revnat_find(t->in.rnd, t->in.proto, &out->pick.be.addr, out->pick.be.port);
	out->found = v && addr_eq(&v->vip, &t->in.addr) && v->port == t->in.port;
}

SEC("tc")
int test_sock_decide(struct __sk_buff *skb)
{
	struct sock_out out = {};
	struct test_in t;

	if (bpf_skb_load_bytes(skb, 0, &t, sizeof(t)))
		return TC_ACT_SHOT;
	switch (t.mode) {
	case TEST_DECIDE:
		out.verdict = sock_decide(&t.in, t.has_prior ? &t.prior : NULL, &out.pick,
					  &out.reason);
		break;
	case TEST_PICK_SNAPSHOT: {
		struct steer_svc_key sk = { .vip = t.in.addr, .port = t.in.port,
					    .proto = t.in.proto };

		out.verdict = sock_pick(&sk, t.snap_count, t.snap_rev, t.in.rnd, &out.pick,
					&out.reason);
		break;
	}
	case TEST_REVNAT:
		revnat_twice(&t, &out);
		break;
	}
	bpf_skb_store_bytes(skb, 0, &out, sizeof(out), 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
