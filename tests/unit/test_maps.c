// SPDX-License-Identifier: MIT
/* The typed map API against the real maps of the loaded BPF objects. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "datapath/reconcile.h"
#include "model/planner.h"

static struct datapath *open_dp(void)
{
	struct datapath *dp = NULL;
	int err;

	if (geteuid() != 0) {
		test_skip("needs root to load BPF");
		return NULL;
	}
	err = datapath_open(&dp, &(struct datapath_opts){ .bpffs = NULL });
	if (!ASSERT_OK(err, "datapath_open"))
		return NULL;
	return dp;
}

static int count_quar(const struct steer_addr *addr, const struct steer_quar_val *val, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

TEST(quarantine_set_get_del)
{
	struct datapath *dp = open_dp();
	const struct steer_maps *m;
	struct steer_quar_val v = { .action = STEER_ACT_DROP, .origin = STEER_ORIGIN_MANUAL,
				    .gen = 7, .since = 123 }, got;
	int n = 0;

	if (!dp)
		return;
	m = datapath_maps(dp);
	ASSERT_OK(maps_quar_set(m, IPP("10.0.0.1"), &v), "set");
	ASSERT_OK(maps_quar_get(m, IPP("10.0.0.1"), &got), "get");
	ASSERT_EQ(got.action, STEER_ACT_DROP, "action");
	ASSERT_EQ(got.origin, STEER_ORIGIN_MANUAL, "origin");
	ASSERT_EQ(got.gen, 7, "gen");
	ASSERT_OK(maps_quar_foreach(m, count_quar, &n), "foreach");
	ASSERT_EQ(n, 1, "entries");
	v.action = STEER_ACT_MAX;
	ASSERT_EQ(maps_quar_set(m, IPP("10.0.0.2"), &v), -EINVAL, "bad action");
	ASSERT_OK(maps_quar_del(m, IPP("10.0.0.1")), "del");
	ASSERT_EQ(maps_quar_get(m, IPP("10.0.0.1"), &got), -ENOENT, "gone");
	ASSERT_EQ(maps_quar_del(m, IPP("10.0.0.1")), -ENOENT, "del again");
	datapath_close(dp);
}

TEST(service_rev_flip_keeps_the_rev_before_one_update)
{
	struct datapath *dp = open_dp();
	struct steer_svc_key k = { .vip = addr_lit("10.96.0.10"), .port = htons(80),
				   .proto = 6 };
	struct steer_backend_val b[3] = {
		{ .addr = addr_lit("10.1.0.1"), .port = htons(8080) },
		{ .addr = addr_lit("10.1.0.2"), .port = htons(8080) },
		{ .addr = addr_lit("10.1.0.3"), .port = htons(8080) },
	}, out[4];
	const struct steer_maps *m;
	struct steer_svc_val sv;
	uint32_t n, cnt;

	if (!dp)
		return;
	m = datapath_maps(dp);
	ASSERT_OK(maps_svc_set(m, &k, b, 3, STEER_ORIGIN_API, 1), "set 3");
	ASSERT_OK(maps_svc_get(m, &k, &sv, out, 4, &n), "get");
	ASSERT_EQ(n, 3, "n");
	ASSERT_TRUE(addr_eq(&out[2].addr, &b[2].addr), "slot 2");
	ASSERT_OK(maps_svc_set(m, &k, b + 1, 1, STEER_ORIGIN_API, 2), "set 1");
	ASSERT_OK(maps_svc_get(m, &k, &sv, out, 4, &n), "get again");
	ASSERT_EQ(n, 1, "n after flip");
	ASSERT_EQ(sv.rev, 2, "rev");
	ASSERT_TRUE(addr_eq(&out[0].addr, &b[1].addr), "slot 0 after flip");
	/* A reader that read rev 1 just before the flip still finds its slots. */
	ASSERT_OK(maps_count(m->backend, &cnt), "count");
	ASSERT_EQ(cnt, 1 + 3, "rev 1 kept beside rev 2");
	ASSERT_EQ(sv.prev_count, 3, "prev_count says how many");
	ASSERT_OK(maps_svc_set(m, &k, b, 2, STEER_ORIGIN_API, 3), "set 2");
	ASSERT_OK(maps_count(m->backend, &cnt), "count");
	ASSERT_EQ(cnt, 2 + 1, "rev 1 gone at the next update, rev 2 kept");
	ASSERT_OK(maps_svc_set(m, &k, NULL, 0, STEER_ORIGIN_API, 3), "set 0");
	ASSERT_OK(maps_svc_get(m, &k, &sv, out, 4, &n), "get empty");
	ASSERT_EQ(sv.count, 0, "refusing service");
	k.proto = 1;
	ASSERT_EQ(maps_svc_set(m, &k, b, 1, STEER_ORIGIN_API, 1), -EINVAL, "bad proto");
	k.proto = 6;
	ASSERT_OK(maps_svc_del(m, &k), "del");
	ASSERT_OK(maps_count(m->svc, &cnt), "count svc");
	ASSERT_EQ(cnt, 0, "svc gone");
	ASSERT_OK(maps_count(m->backend, &cnt), "count slots");
	ASSERT_EQ(cnt, 0, "both revs' slots gone");
	datapath_close(dp);
}

TEST(service_patch_rewrites_only_changed_slots)
{
	struct datapath *dp = open_dp();
	struct steer_svc_key k = { .vip = addr_lit("10.96.0.11"), .port = htons(80),
				   .proto = 6 };
	struct steer_backend_val b[3] = {
		{ .addr = addr_lit("10.1.0.1"), .port = htons(8080) },
		{ .addr = addr_lit("10.1.0.2"), .port = htons(8080) },
		{ .addr = addr_lit("10.1.0.3"), .port = htons(8080) },
	}, shrunk[2] = { b[0], b[2] }, out[4];
	const struct steer_maps *m;
	struct steer_svc_val sv;
	uint32_t n, cnt;

	if (!dp)
		return;
	m = datapath_maps(dp);
	ASSERT_OK(maps_svc_patch(m, &k, NULL, 0, b, 3, STEER_ORIGIN_API, 1), "fresh");
	/* b[1] leaves: the last backend moves into its slot, same rev. */
	ASSERT_OK(maps_svc_patch(m, &k, b, 3, shrunk, 2, STEER_ORIGIN_API, 1), "shrink");
	ASSERT_OK(maps_svc_get(m, &k, &sv, out, 4, &n), "get");
	ASSERT_EQ(sv.rev, 1, "same rev");
	ASSERT_EQ(n, 2, "n");
	ASSERT_TRUE(addr_eq(&out[1].addr, &b[2].addr), "slot 1 refilled");
	ASSERT_OK(maps_count(m->backend, &cnt), "count");
	ASSERT_EQ(cnt, 2, "tail slot deleted");
	ASSERT_OK(maps_svc_patch(m, &k, shrunk, 2, b, 3, STEER_ORIGIN_API, 2), "grow");
	ASSERT_OK(maps_svc_get(m, &k, &sv, out, 4, &n), "get grown");
	ASSERT_EQ(n, 3, "n grown");
	ASSERT_EQ(sv.gen, 2, "gen");
	ASSERT_TRUE(addr_eq(&out[2].addr, &b[2].addr), "slot 2 appended");
	/* What the caller remembers is stale: a new rev instead. */
	ASSERT_OK(maps_svc_patch(m, &k, b, 2, b, 1, STEER_ORIGIN_API, 3), "stale");
	ASSERT_OK(maps_svc_get(m, &k, &sv, out, 4, &n), "get fresh");
	ASSERT_EQ(sv.rev, 2, "new rev");
	ASSERT_OK(maps_count(m->backend, &cnt), "count fresh");
	ASSERT_EQ(cnt, 1 + 3, "the new rev and the one before it");
	ASSERT_OK(maps_svc_del(m, &k), "del");
	datapath_close(dp);
}

static int exempt_cb(const struct steer_addr *addr, uint32_t plen,
		     const struct steer_exempt_val *v, void *arg)
{
	char buf[ADDR_HOSTPORTLEN];

	/* Masked to the prefix, printed in the address's own family. */
	addr_cidr_str(addr, plen, buf);
	ASSERT_TRUE(!strcmp(buf, "192.168.0.0/16") || !strcmp(buf, "fd00:0:0:7::/64"),
		    "masked CIDR");
	(*(int *)arg)++;
	return 0;
}

TEST(exempt_masks_and_iterates)
{
	struct datapath *dp = open_dp();
	const struct steer_maps *m;
	int n = 0;

	if (!dp)
		return;
	m = datapath_maps(dp);
	/* Prefix lengths count over 128 bits: an IPv4 /16 is mapped, /112. */
	ASSERT_OK(maps_exempt_set(m, IPP("192.168.7.9"), 96 + 16, STEER_ORIGIN_API), "set");
	ASSERT_OK(maps_exempt_set(m, IPP("fd00:0:0:7:1::9"), 64, STEER_ORIGIN_API), "set v6");
	ASSERT_OK(maps_exempt_foreach(m, exempt_cb, &n), "foreach");
	ASSERT_EQ(n, 2, "two entries");
	ASSERT_EQ(maps_exempt_set(m, IPP("::"), 129, STEER_ORIGIN_API), -EINVAL, "prefix 129");
	ASSERT_OK(maps_exempt_del(m, IPP("192.168.0.0"), 96 + 16), "del");
	ASSERT_OK(maps_exempt_del(m, IPP("fd00:0:0:7::"), 64), "del v6");
	datapath_close(dp);
}

TEST(latency_histogram_and_stats)
{
	struct datapath *dp = open_dp();
	const struct steer_maps *m;
	struct steer_lat_slot s;
	uint64_t sum = 1;
	__u32 slot;

	if (!dp)
		return;
	m = datapath_maps(dp);
	ASSERT_OK(maps_latency_add(m, 500), "add 0.5us");
	ASSERT_OK(maps_latency_add(m, 150000), "add 150us");
	slot = 0;
	ASSERT_OK(bpf_map_lookup_elem(m->latency, &slot, &s), "slot 0");
	ASSERT_EQ(s.count, 1, "slot 0 count");
	slot = 7;	/* 150 us is in [128, 256) */
	ASSERT_OK(bpf_map_lookup_elem(m->latency, &slot, &s), "slot 7");
	ASSERT_EQ(s.count, 1, "slot 7 count");
	ASSERT_OK(maps_stat_get(m, STEER_R_PASS, &sum), "stat");
	ASSERT_EQ(sum, 0, "fresh counter");
	ASSERT_EQ(maps_stat_get(m, STEER_R_MAX, &sum), -EINVAL, "bad reason");
	datapath_close(dp);
}

struct member_seen {
	int n;
	struct steer_member_key key;
	struct steer_member_val val;
};

static int seen_member(const struct steer_member_key *key,
		       const struct steer_member_val *val, void *arg)
{
	struct member_seen *s = arg;

	s->n++;
	s->key = *key;
	s->val = *val;
	return 0;
}

/* Through recon_maps_ops, the way the reconciler persists departure memory. */
TEST(members_persist_through_recon_ops)
{
	struct datapath *dp = open_dp();
	struct steer_member_key k = {
		.pod = plan_pod_hash("9b2c-uid", "default/nginx-1"),
		.svc = plan_svc_hash("default/nginx"),
	};
	struct steer_member_val v = { .gen = 9, .addr = { addr_lit("10.0.0.1"), addr_lit("fd00::1") } };
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct member_seen seen = {};
	const struct steer_maps *m;
	void *ctx;

	if (!dp)
		return;
	m = datapath_maps(dp);
	ctx = (void *)m;
	if (ASSERT_OK(bpf_obj_get_info_by_fd(m->members, &info, &len), "map info")) {
		ASSERT_STREQ(info.name, STEER_MAP_MEMBERS, "name");
		ASSERT_EQ(info.key_size, sizeof(k), "key size");
		ASSERT_EQ(info.value_size, sizeof(v), "value size");
		ASSERT_EQ(info.max_entries, STEER_MAX_MEMBERS, "max entries");
		ASSERT_NEQ(info.btf_id, 0, "BTF for bpftool");
	}
	ASSERT_NEQ(k.pod, k.svc, "distinct hashes");
	ASSERT_OK(recon_maps_ops.member_set(ctx, &k, &v), "set");
	ASSERT_OK(recon_maps_ops.member_foreach(ctx, seen_member, &seen), "foreach");
	ASSERT_EQ(seen.n, 1, "one entry");
	ASSERT_EQ(seen.key.pod, k.pod, "pod hash");
	ASSERT_EQ(seen.val.gen, 9, "gen");
	ASSERT_TRUE(addr_eq(&seen.val.addr[0], IPP("10.0.0.1")), "IPv4 address");
	ASSERT_TRUE(addr_eq(&seen.val.addr[1], IPP("fd00::1")), "IPv6 address");
	ASSERT_OK(recon_maps_ops.member_del(ctx, &k), "del");
	ASSERT_EQ(recon_maps_ops.member_del(ctx, &k), -ENOENT, "del again");
	seen.n = 0;
	ASSERT_OK(recon_maps_ops.member_foreach(ctx, seen_member, &seen), "foreach empty");
	ASSERT_EQ(seen.n, 0, "empty");
	/* More than one lookup batch: every entry seen once. */
	for (k.pod = 0; k.pod < 10000; k.pod++)
		recon_maps_ops.member_set(ctx, &k, &v);
	ASSERT_OK(recon_maps_ops.member_foreach(ctx, seen_member, &seen), "foreach 10k");
	ASSERT_EQ(seen.n, 10000, "all entries");
	datapath_close(dp);
}
