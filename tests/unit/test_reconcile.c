// SPDX-License-Identifier: MIT
/*
 * The reconciler on its own, over its in-memory double: what it writes for
 * a desired state, that manual entries win, the slot layout, mark and sweep,
 * restore after a restart, and that every failed write comes back pending
 * and is written by a retry.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "datapath/reconcile.h"
#include "harness.h"
#include "memmaps.h"

#define A1 IPP("10.0.0.1")
#define A2 IPP("10.0.0.2")
#define A3 IPP("10.0.0.3")

static const struct steer_svc_key K = {
	/* 10.96.0.10:80, mapped */
	.vip = { .b = { [10] = 0xff, [11] = 0xff, 10, 96, 0, 10 } },
	.port = 0x5000, .proto = IPPROTO_TCP,
};

static struct steer_backend_val be(const char *ip, uint16_t port)
{
	return (struct steer_backend_val){ .addr = addr_lit(ip), .port = htons(port) };
}

static struct recon *start(struct memmaps *mm, uint32_t gen)
{
	return recon_new(&mem_ops, mm, &(struct recon_opts){ .gen = gen });
}

struct seen {
	int on, off;
	struct steer_addr last;
};

static void on_enforce(void *arg, const struct steer_addr *addr, bool on)
{
	struct seen *s = arg;

	on ? s->on++ : s->off++;
	s->last = *addr;
}

TEST(nothing_written_before_the_first_sync)
{
	struct steer_quar_val want = { .action = STEER_ACT_DROP, .since = 1 };
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);

	ASSERT_FALSE(recon_live(r), "not live");
	ASSERT_OK(recon_quar(r, A1, &want), "quarantine asked");
	ASSERT_OK(recon_svc(r, &K, NULL, 0), "service asked");
	ASSERT_EQ(mm.writes, 0, "no write: a restart keeps what the pins hold");
	recon_sync_begin(r);
	ASSERT_OK(recon_quar(r, A1, &want), "in the sync");
	ASSERT_OK(recon_sync_end(r), "sync");
	ASSERT_OK_PTR(memmaps_quar(&mm, "10.0.0.1"), "written once live");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->origin, STEER_ORIGIN_API, "origin api");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->gen, 11, "the sync's generation");
	recon_free(r);
	memmaps_free(&mm);
}

TEST(manual_entries_win)
{
	struct steer_quar_val manual = { .action = STEER_ACT_RESET, .origin = STEER_ORIGIN_MANUAL,
					 .gen = 5 };
	struct steer_quar_val want = { .action = STEER_ACT_DROP, .since = 1 };
	struct steer_backend_val mb = be("10.0.9.9", 8443), b[2] = { be("10.0.0.2", 80) };
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);

	mem_ops.quar_set(&mm, A1, &manual);
	mem_ops.svc_patch(&mm, &K, NULL, 0, &mb, 1, STEER_ORIGIN_MANUAL, 5);
	recon_sync_begin(r);
	ASSERT_OK(recon_quar(r, A1, &want), "quarantine over a manual one");
	ASSERT_OK(recon_svc(r, &K, b, 1), "service over a manual one");
	ASSERT_OK(recon_sync_end(r), "sync");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->origin, STEER_ORIGIN_MANUAL, "still manual");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->action, STEER_ACT_RESET, "its action");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->gen, 5, "not rewritten");
	ASSERT_TRUE(memsvc_has(memmaps_svc(&mm, "10.96.0.10", 80, IPPROTO_TCP), "10.0.9.9", 8443),
		    "manual backends kept");
	/* Released by hand later: the reconciler may take it again. */
	mem_ops.quar_del(&mm, A1);
	ASSERT_OK(recon_quar(r, A1, &want), "asked again");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->origin, STEER_ORIGIN_API, "now the API's");
	recon_free(r);
	memmaps_free(&mm);
}

TEST(one_backend_more_or_less_is_one_slot)
{
	struct steer_backend_val set1[3] = { be("10.0.0.3", 80), be("10.0.0.1", 80),
					     be("10.0.0.2", 80) };
	struct steer_backend_val set2[3] = { be("10.0.0.4", 80), be("10.0.0.3", 80),
					     be("10.0.0.1", 80) };
	const struct memsvc *s;
	struct steer_backend_val before[3];
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);
	uint16_t rev;

	recon_sync_begin(r);
	ASSERT_OK(recon_sync_end(r), "live");
	ASSERT_OK(recon_svc(r, &K, set1, 3), "three");
	s = memmaps_svc(&mm, "10.96.0.10", 80, IPPROTO_TCP);
	if (!ASSERT_OK_PTR(s, "steered"))
		goto cleanup;
	ASSERT_TRUE(addr_eq(&s->b[0].addr, A1) && addr_eq(&s->b[1].addr, A2) &&
		    addr_eq(&s->b[2].addr, A3),
		    "a fresh set is sorted");
	memcpy(before, s->b, sizeof(before));
	rev = s->val.rev;
	ASSERT_OK(recon_svc(r, &K, set2, 3), ".2 out, .4 in");
	s = memmaps_svc(&mm, "10.96.0.10", 80, IPPROTO_TCP);
	ASSERT_EQ(s->val.rev, rev, "in place, same rev");
	ASSERT_TRUE(addr_eq(&s->b[0].addr, &before[0].addr), "slot 0 kept");
	ASSERT_TRUE(addr_eq(&s->b[1].addr, IPP("10.0.0.4")), "slot 1 takes the new backend");
	ASSERT_TRUE(addr_eq(&s->b[2].addr, &before[2].addr), "slot 2 kept");
	ASSERT_EQ(mm.writes, 2, "one write per change");
	ASSERT_OK(recon_svc(r, &K, set2, 3), "same again");
	ASSERT_EQ(mm.writes, 2, "nothing to write");
cleanup:
	recon_free(r);
	memmaps_free(&mm);
}

TEST(sync_sweeps_what_nobody_asked_for)
{
	struct steer_quar_val old = { .action = STEER_ACT_DROP, .origin = STEER_ORIGIN_API,
				      .gen = 3, .since = 77 };
	struct steer_quar_val want = { .action = STEER_ACT_DRAIN, .since = 99 };
	struct steer_backend_val b = be("10.0.0.1", 80);
	struct steer_svc_key k2 = K;
	struct seen seen = {};
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);

	k2.port = htons(81);
	mem_ops.quar_set(&mm, A1, &old);
	mem_ops.quar_set(&mm, A2, &old);
	mem_ops.svc_patch(&mm, &K, NULL, 0, &b, 1, STEER_ORIGIN_API, 3);
	mem_ops.svc_patch(&mm, &k2, NULL, 0, &b, 1, STEER_ORIGIN_API, 3);
	recon_on_enforce(r, on_enforce, &seen);
	recon_sync_begin(r);
	ASSERT_OK(recon_quar(r, A1, &want), "A1 still wanted");
	ASSERT_OK(recon_svc(r, &K, &b, 1), "K still wanted");
	ASSERT_OK(recon_sync_end(r), "sync");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->gen, 11, "rewritten with the new gen");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->action, STEER_ACT_DRAIN, "current action");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->since, 77, "the original since is kept");
	ASSERT_TRUE(memmaps_quar(&mm, "10.0.0.2") == NULL, "A2 swept");
	ASSERT_OK_PTR(memmaps_svc(&mm, "10.96.0.10", 80, IPPROTO_TCP), "K kept");
	ASSERT_TRUE(memmaps_svc(&mm, "10.96.0.10", 81, IPPROTO_TCP) == NULL, "k2 swept");
	ASSERT_EQ(seen.on, 0, "A1 was enforced already: no start");
	ASSERT_EQ(seen.off, 1, "A2's quarantine ended");
	ASSERT_TRUE(addr_eq(&seen.last, A2), "at A2");
	ASSERT_OK(recon_quar(r, IPP("10.0.0.9"), &want), "a new one");
	ASSERT_EQ(seen.on, 1, "started");
	recon_free(r);
	memmaps_free(&mm);
}

struct restored {
	int n;
	struct steer_addr addr_of_1[2];
};

static void restored_cb(void *arg, const struct steer_member_key *key,
			const struct steer_member_val *val)
{
	struct restored *s = arg;

	s->n++;
	if (key->pod == 1)
		memcpy(s->addr_of_1, val->addr, sizeof(s->addr_of_1));
}

TEST(restore_then_first_sync_compares_memberships)
{
	struct steer_member_key k1 = { 1, 9 }, k2 = { 2, 9 }, k3 = { 3, 9 }, k4 = { 4, 9 };
	struct steer_member_val v = { .gen = 1, .addr = { *A1, addr_lit("fd00::1") } }, want;
	struct restored got = {};
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);
	struct recon_stats st;
	unsigned long writes;

	mem_ops.member_set(&mm, &k1, &v);
	mem_ops.member_set(&mm, &k2, &v);
	mem_ops.member_set(&mm, &k3, &v);
	writes = mm.writes;
	ASSERT_EQ(recon_restore(r, restored_cb, &got), 3, "three read back");
	ASSERT_EQ(got.n, 3, "each reported");
	ASSERT_TRUE(addr_eq(&got.addr_of_1[0], A1), "with its address");
	ASSERT_TRUE(addr_eq(&got.addr_of_1[1], IPP("fd00::1")), "and its IPv6 one");
	recon_sync_begin(r);
	want = v;
	ASSERT_OK(recon_member(r, &k1, &want), "k1 as it is");
	want.addr[0] = *A2;
	ASSERT_OK(recon_member(r, &k2, &want), "k2 moved");
	ASSERT_OK(recon_member(r, &k4, &want), "k4 new");
	ASSERT_OK(recon_sync_end(r), "sync");
	ASSERT_EQ(mm.writes, writes + 2, "two writes: k2 and k4, not k1");
	ASSERT_EQ(((struct steer_member_val *)table_get(&mm.member, &k1, sizeof(k1)))->gen, 1,
		  "k1 untouched");
	ASSERT_TRUE(addr_eq(((struct steer_member_val *)table_get(&mm.member, &k2,
								  sizeof(k2)))->addr, A2),
		    "k2 repaired");
	ASSERT_TRUE(table_get(&mm.member, &k3, sizeof(k3)) == NULL, "k3 swept");
	recon_get_stats(r, &st);
	ASSERT_EQ(st.restored, 3, "restored count");
	recon_free(r);
	memmaps_free(&mm);
}

TEST(a_failed_rewrite_in_a_sync_is_not_swept)
{
	struct steer_quar_val old = { .action = STEER_ACT_DROP, .origin = STEER_ORIGIN_API,
				      .gen = 3, .since = 77 };
	struct steer_quar_val want = { .action = STEER_ACT_DROP, .since = 99 };
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);
	struct recon_stats st;

	mem_ops.quar_set(&mm, A1, &old);
	recon_sync_begin(r);
	mm.fail_next = 1;
	ASSERT_EQ(recon_quar(r, A1, &want), -EIO, "the rewrite fails");
	ASSERT_EQ(recon_sync_end(r), -EIO, "the sync says so");
	ASSERT_OK_PTR(memmaps_quar(&mm, "10.0.0.1"), "still enforced: not swept");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->gen, 3, "with its old generation");
	recon_get_stats(r, &st);
	ASSERT_EQ(st.pending, 1, "pending");
	ASSERT_EQ(recon_retry(r), 0, "retry writes it");
	ASSERT_EQ(memmaps_quar(&mm, "10.0.0.1")->gen, 11, "now the sync's generation");
	recon_free(r);
	memmaps_free(&mm);
}

TEST(every_kind_of_failed_write_is_retried)
{
	struct steer_backend_val b[2] = { be("10.0.0.1", 80), be("10.0.0.2", 80) };
	struct steer_member_key mk = { 1, 2 };
	struct steer_member_val mv = { .addr = { *A1 } };
	struct steer_iface_val iv = { .ifindex = 7, .name = "veth7" };
	struct steer_exempt_key ex = { .prefixlen = 96 + 24, .addr = addr_lit("192.168.7.0") };
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);
	struct recon_stats st;

	recon_sync_begin(r);
	ASSERT_OK(recon_sync_end(r), "live");
	mm.fail = -ENOSPC;
	ASSERT_EQ(recon_svc(r, &K, b, 2), -ENOSPC, "service");
	ASSERT_EQ(recon_member(r, &mk, &mv), -ENOSPC, "membership");
	ASSERT_EQ(recon_iface_set(r, 7, &iv), -ENOSPC, "attach point");
	ASSERT_EQ(recon_exempt(r, &ex, 1), -ENOSPC, "exempt CIDR");
	recon_get_stats(r, &st);
	ASSERT_EQ(st.pending, 4, "four pending");
	ASSERT_EQ(st.write_errors, 4, "four errors");
	ASSERT_EQ(recon_retry(r), 4, "still failing: all four left");
	mm.fail = 0;
	ASSERT_EQ(recon_retry(r), 0, "all written");
	ASSERT_EQ(memmaps_svc(&mm, "10.96.0.10", 80, IPPROTO_TCP)->val.count, 2, "service");
	ASSERT_OK_PTR(table_get(&mm.member, &mk, sizeof(mk)), "membership");
	ASSERT_OK_PTR(table_get(&mm.iface, &(__u32){ 7 }, sizeof(__u32)), "attach point");
	ASSERT_OK_PTR(table_get(&mm.exempt, &ex, sizeof(ex)), "exempt CIDR");
	recon_get_stats(r, &st);
	ASSERT_EQ(st.pending, 0, "none pending");
	ASSERT_EQ(st.retried, 3, "three keys retried (the exempt list is one sync)");
	/* A want that changes while pending: the retry writes the latest. */
	mm.fail_next = 1;
	ASSERT_EQ(recon_svc(r, &K, b, 1), -EIO, "shrink fails");
	ASSERT_OK(recon_svc(r, &K, b, 2), "grown back before the retry");
	ASSERT_EQ(recon_retry(r), 0, "nothing left");
	ASSERT_EQ(memmaps_svc(&mm, "10.96.0.10", 80, IPPROTO_TCP)->val.count, 2, "the latest");
	recon_free(r);
	memmaps_free(&mm);
}

TEST(exempt_list_replaces_only_its_own)
{
	struct steer_exempt_key mine[2] = {
		{ .prefixlen = 96 + 24, .addr = addr_lit("192.168.7.0") },
		{ .prefixlen = 96 + 32, .addr = addr_lit("10.1.1.1") },
	};
	struct memmaps mm = {};
	struct recon *r = start(&mm, 10);
	struct steer_exempt_key stale = { .prefixlen = 96 + 16, .addr = addr_lit("172.16.0.0") };
	struct steer_exempt_key manual = { .prefixlen = 96 + 8, .addr = addr_lit("10.0.0.0") };

	mem_ops.exempt_set(&mm, &stale.addr, stale.prefixlen, STEER_ORIGIN_API);
	mem_ops.exempt_set(&mm, &manual.addr, manual.prefixlen, STEER_ORIGIN_MANUAL);
	ASSERT_OK(recon_exempt(r, mine, 2), "flags written (not gated by the first sync)");
	ASSERT_OK_PTR(table_get(&mm.exempt, &mine[0], sizeof(mine[0])), "first");
	ASSERT_OK_PTR(table_get(&mm.exempt, &mine[1], sizeof(mine[1])), "second");
	ASSERT_TRUE(table_get(&mm.exempt, &stale, sizeof(stale)) == NULL, "stale flag removed");
	ASSERT_OK_PTR(table_get(&mm.exempt, &manual, sizeof(manual)), "steerctl's kept");
	recon_free(r);
	memmaps_free(&mm);
}
