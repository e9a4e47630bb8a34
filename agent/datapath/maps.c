// SPDX-License-Identifier: MIT
#include "datapath/maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

static const struct {
	const char *name;
	size_t off;
	uint32_t max;
} map_info[MAP_NR] = {
	[MAP_QUAR] = { STEER_MAP_QUAR, offsetof(struct steer_maps, quar), STEER_MAX_QUAR },
	[MAP_QSTATS] = { STEER_MAP_QSTATS, offsetof(struct steer_maps, qstats), STEER_MAX_QUAR },
	[MAP_STATS] = { STEER_MAP_STATS, offsetof(struct steer_maps, stats), STEER_R_MAX },
	[MAP_EXEMPT] = { STEER_MAP_EXEMPT, offsetof(struct steer_maps, exempt), STEER_MAX_EXEMPT },
	[MAP_SVC] = { STEER_MAP_SVC, offsetof(struct steer_maps, svc), STEER_MAX_SVC },
	[MAP_BACKEND] = { STEER_MAP_BACKEND, offsetof(struct steer_maps, backend),
			  STEER_MAX_BACKEND },
	[MAP_REVNAT] = { STEER_MAP_REVNAT, offsetof(struct steer_maps, revnat), STEER_MAX_REVNAT },
	[MAP_LATENCY] = { STEER_MAP_LATENCY, offsetof(struct steer_maps, latency),
			  STEER_LAT_SLOTS },
	[MAP_IFACES] = { STEER_MAP_IFACES, offsetof(struct steer_maps, ifaces), STEER_MAX_IFACES },
	[MAP_MEMBERS] = { STEER_MAP_MEMBERS, offsetof(struct steer_maps, members),
			  STEER_MAX_MEMBERS },
	[MAP_FLOWS] = { STEER_MAP_FLOWS, offsetof(struct steer_maps, flows), STEER_MAX_FLOWS },
	[MAP_EPOCH] = { STEER_MAP_EPOCH, offsetof(struct steer_maps, epoch), 1 },
	[MAP_AFFINITY] = { STEER_MAP_AFFINITY, offsetof(struct steer_maps, affinity),
			   STEER_MAX_AFFINITY },
	[MAP_FEATURES] = { STEER_MAP_FEATURES, offsetof(struct steer_maps, features),
			   STEER_FEATURE_SLOTS },
};

#define MAP_FD(m, i) (*(int *)((char *)(m) + map_info[i].off))

const char *maps_name(enum steer_map_id id)
{
	return id < MAP_NR ? map_info[id].name : "?";
}

uint32_t maps_max_entries(enum steer_map_id id)
{
	return id < MAP_NR ? map_info[id].max : 0;
}

int maps_fd(const struct steer_maps *m, enum steer_map_id id)
{
	return id < MAP_NR ? MAP_FD(m, id) : -1;
}

static void maps_reset(struct steer_maps *m)
{
	for (int i = 0; i < MAP_NR; i++)
		MAP_FD(m, i) = -1;
}

static int obj_get(const char *path, bool rdonly)
{
#ifdef HAVE_LIBBPF_BPF_OBJ_GET_OPTS
	LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = rdonly ? BPF_F_RDONLY : 0);

	return bpf_obj_get_opts(path, &opts);
#else
	return bpf_obj_get(path);
#endif
}

int maps_open_pinned(struct steer_maps *m, const char *bpffs, bool rdonly, uint32_t *missing)
{
	char path[PATH_MAX];
	int err = 0, found = 0;

	maps_reset(m);
	*missing = 0;
	for (int i = 0; i < MAP_NR; i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, map_info[i].name);
		MAP_FD(m, i) = obj_get(path, rdonly);
		if (MAP_FD(m, i) >= 0) {
			found++;
			continue;
		}
		err = -errno;
		if (err != -ENOENT) {
			pr_warn("open pinned map %s: %s", path, strerror(-err));
			goto cleanup;
		}
		*missing |= 1u << i;
	}
	if (found)
		return 0;
	err = -ENOENT;
cleanup:
	maps_close(m);
	return err;
}

int maps_pin_open(const char *bpffs, enum steer_map_id id, char *path, size_t size,
		  struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	int fd;

	snprintf(path, size, "%s/%s", bpffs, maps_name(id));
	if (access(path, F_OK))
		return -1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len)) {
		close(fd);
		return -1;
	}
	return fd;
}

int maps_from_object(struct steer_maps *m, const struct bpf_object *obj)
{
	const struct bpf_map *map;

	maps_reset(m);
	for (int i = 0; i < MAP_NR; i++) {
		map = bpf_object__find_map_by_name(obj, map_info[i].name);
		if (!map || bpf_map__fd(map) < 0)
			return -ENOENT;
		MAP_FD(m, i) = bpf_map__fd(map);
	}
	return 0;
}

int maps_count(int fd, uint32_t *n)
{
	char key[64], next[64];
	void *prev = NULL;

	*n = 0;
	/* Every steer key is far smaller than 64 bytes. */
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, sizeof(key));
		prev = key;
		(*n)++;
	}
	return errno == ENOENT ? 0 : -errno;
}

void maps_close(struct steer_maps *m)
{
	for (int i = 0; i < MAP_NR; i++)
		if (MAP_FD(m, i) >= 0)
			close(MAP_FD(m, i));
	maps_reset(m);
}

static int ret_errno(int ret)
{
	return ret < 0 ? -errno : 0;
}

/* Read-modify-write is fine with several writers: any change invalidates. */
int maps_epoch_bump(const struct steer_maps *m)
{
	struct steer_epoch e = {};
	__u32 zero = 0;

	if (m->epoch < 0)
		return -ENOENT;
	bpf_map_lookup_elem(m->epoch, &zero, &e);
	e.quar++;
	return ret_errno(bpf_map_update_elem(m->epoch, &zero, &e, BPF_ANY));
}

int maps_quar_set(const struct steer_maps *m, const struct steer_addr *addr,
		  const struct steer_quar_val *val)
{
	struct steer_quar_key k = { .addr = *addr };
	int err;

	if (val->action >= STEER_ACT_MAX || val->origin >= STEER_ORIGIN_MAX)
		return -EINVAL;
	err = ret_errno(bpf_map_update_elem(m->quar, &k, val, BPF_ANY));
	/*
	 * After the write: a packet between the two is let through once, as
	 * one just before the write would be. Pins of an older steer have no
	 * epoch and no cache to tell.
	 */
	if (!err && m->epoch >= 0)
		err = maps_epoch_bump(m);
	return err;
}

int maps_quar_get(const struct steer_maps *m, const struct steer_addr *addr,
		  struct steer_quar_val *val)
{
	struct steer_quar_key k = { .addr = *addr };

	return ret_errno(bpf_map_lookup_elem(m->quar, &k, val));
}

int maps_quar_del(const struct steer_maps *m, const struct steer_addr *addr)
{
	struct steer_quar_key k = { .addr = *addr };
	int err;

	err = ret_errno(bpf_map_delete_elem(m->quar, &k));
	/* The counters belong to the quarantine; a new one starts from zero. */
	if (m->qstats >= 0)
		bpf_map_delete_elem(m->qstats, &k);
	return err;
}

/* Sums a per-CPU value made of nfields __u64 counters over every possible CPU. */
static int percpu_sum(int fd, const void *key, uint64_t *sum, int nfields)
{
	uint64_t *vals;
	int ncpu, err;

	memset(sum, 0, nfields * sizeof(*sum));
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return ncpu;
	vals = calloc((size_t)ncpu * nfields, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	err = ret_errno(bpf_map_lookup_elem(fd, key, vals));
	for (int i = 0; !err && i < ncpu * nfields; i++)
		sum[i % nfields] += vals[i];
	free(vals);
	return err;
}

int maps_qstat_get(const struct steer_maps *m, const struct steer_addr *addr,
		   struct steer_qstat *sum)
{
	struct steer_quar_key k = { .addr = *addr };

	memset(sum, 0, sizeof(*sum));
	return ret_errno(bpf_map_lookup_elem(m->qstats, &k, sum));
}

static int backend_del_rev(const struct steer_maps *m, const struct steer_svc_key *key,
			   __u16 rev, uint32_t n)
{
	struct steer_backend_key bk = { .svc = *key, .rev = rev };

	for (uint32_t i = 0; i < n; i++) {
		bk.slot = i;
		bpf_map_delete_elem(m->backend, &bk);
	}
	return 0;
}

static bool svc_valid(const struct steer_svc_key *key, uint32_t n, uint8_t origin)
{
	return n <= STEER_MAX_BACKENDS_PER_SVC && origin < STEER_ORIGIN_MAX &&
	       (key->proto == 6 || key->proto == 17) && !key->pad;
}

int maps_svc_set(const struct steer_maps *m, const struct steer_svc_key *key,
		 const struct steer_backend_val *backends, uint32_t n,
		 uint8_t origin, uint32_t gen)
{
	struct steer_backend_key bk = { .svc = *key };
	struct steer_svc_val old = {}, val = {};
	bool had_old;
	int err;

	if (!svc_valid(key, n, origin))
		return -EINVAL;
	had_old = !bpf_map_lookup_elem(m->svc, key, &old);

	val.count = n;
	val.rev = had_old ? (__u16)(old.rev + 1) : 1;
	val.origin = origin;
	val.gen = gen;
	val.prev_count = had_old ? old.count : 0;
	bk.rev = val.rev;
	for (uint32_t i = 0; i < n; i++) {
		struct steer_backend_val bv = backends[i];

		memset(bv.pad, 0, sizeof(bv.pad));
		bk.slot = i;
		if (bpf_map_update_elem(m->backend, &bk, &bv, BPF_ANY)) {
			err = -errno;
			backend_del_rev(m, key, val.rev, i);
			return err;
		}
	}
	/* Readers pick slots under the rev they read from steer_svc: one flip. */
	if (bpf_map_update_elem(m->svc, key, &val, BPF_ANY)) {
		err = -errno;
		backend_del_rev(m, key, val.rev, n);
		return err;
	}
	/*
	 * The old rev stays: a reader that read steer_svc just before the
	 * flip picks from it. The one before it goes; a reader would have had
	 * to hold its rev across a whole update of ours.
	 */
	if (had_old)
		backend_del_rev(m, key, (__u16)(old.rev - 1), old.prev_count);
	return 0;
}

/*
 * In place, under the same rev: the slots that differ, then the count, then
 * the slots past it. sock_decide skips a missing slot and checks steer_quar
 * for every backend it picks, so a reader that still holds the old count
 * finds a backend that is wanted, one about to be replaced, or no slot; it
 * never needs a complete second set, and a one-backend change costs three
 * writes instead of two per backend.
 */
int maps_svc_patch(const struct steer_maps *m, const struct steer_svc_key *key,
		   const struct steer_backend_val *old, uint32_t nold,
		   const struct steer_backend_val *backends, uint32_t n,
		   uint8_t origin, uint32_t gen)
{
	struct steer_backend_key bk = { .svc = *key };
	struct steer_svc_val cur, val;

	if (!svc_valid(key, n, origin))
		return -EINVAL;
	/* The map does not hold what the caller last wrote: a new rev, from scratch. */
	if (!old || bpf_map_lookup_elem(m->svc, key, &cur) || cur.count != nold ||
	    cur.origin != origin)
		return maps_svc_set(m, key, backends, n, origin, gen);
	bk.rev = cur.rev;
	for (uint32_t i = 0; i < n; i++) {
		struct steer_backend_val bv = backends[i];

		memset(bv.pad, 0, sizeof(bv.pad));
		if (i < nold && !memcmp(&old[i].addr, &bv.addr, sizeof(bv.addr)) &&
		    old[i].port == bv.port)
			continue;
		bk.slot = i;
		if (bpf_map_update_elem(m->backend, &bk, &bv, BPF_ANY))
			return -errno;
	}
	val = cur;
	val.count = n;
	val.gen = gen;
	if (memcmp(&val, &cur, sizeof(val)) &&
	    bpf_map_update_elem(m->svc, key, &val, BPF_ANY))
		return -errno;
	for (uint32_t i = n; i < nold; i++) {
		bk.slot = i;
		bpf_map_delete_elem(m->backend, &bk);
	}
	return 0;
}

int maps_svc_get(const struct steer_maps *m, const struct steer_svc_key *key,
		 struct steer_svc_val *val, struct steer_backend_val *backends,
		 uint32_t max, uint32_t *n)
{
	struct steer_backend_key bk = { .svc = *key };
	uint32_t i;

	if (bpf_map_lookup_elem(m->svc, key, val))
		return -errno;
	bk.rev = val->rev;
	for (i = 0; i < val->count && i < max; i++) {
		bk.slot = i;
		if (bpf_map_lookup_elem(m->backend, &bk, &backends[i]))
			return -errno;
	}
	if (n)
		*n = i;
	return 0;
}

int maps_svc_del(const struct steer_maps *m, const struct steer_svc_key *key)
{
	struct steer_svc_val old;

	if (bpf_map_lookup_elem(m->svc, key, &old))
		return -errno;
	if (bpf_map_delete_elem(m->svc, key))
		return -errno;
	backend_del_rev(m, key, (__u16)(old.rev - 1), old.prev_count);
	return backend_del_rev(m, key, old.rev, old.count);
}

/* prefixlen over 128 bits (abi.h); the address is masked to it, keeping keys canonical. */
static int exempt_key(struct steer_exempt_key *k, const struct steer_addr *addr,
		      uint32_t prefixlen)
{
	if (prefixlen > 128)
		return -EINVAL;
	k->prefixlen = prefixlen;
	k->addr = *addr;
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int keep = prefixlen >= 8 * (i + 1) ? 8 :
				    prefixlen > 8 * i ? prefixlen - 8 * i : 0;

		k->addr.b[i] &= (__u8)(0xff00 >> keep);
	}
	return 0;
}

int maps_exempt_set(const struct steer_maps *m, const struct steer_addr *addr,
		    uint32_t prefixlen, uint8_t origin)
{
	struct steer_exempt_val v = { .origin = origin };
	struct steer_exempt_key k;
	int err;

	if (origin >= STEER_ORIGIN_MAX)
		return -EINVAL;
	err = exempt_key(&k, addr, prefixlen);
	if (err)
		return err;
	return ret_errno(bpf_map_update_elem(m->exempt, &k, &v, BPF_ANY));
}

int maps_exempt_del(const struct steer_maps *m, const struct steer_addr *addr,
		    uint32_t prefixlen)
{
	struct steer_exempt_key k;
	int err;

	err = exempt_key(&k, addr, prefixlen);
	if (err)
		return err;
	return ret_errno(bpf_map_delete_elem(m->exempt, &k));
}


int maps_stat_get(const struct steer_maps *m, enum steer_reason reason, uint64_t *sum)
{
	__u32 k = reason;

	if (reason >= STEER_R_MAX)
		return -EINVAL;
	return percpu_sum(m->stats, &k, sum, 1);
}

int maps_latency_add(const struct steer_maps *m, uint64_t ns)
{
	struct steer_lat_slot v = {};
	uint64_t us = ns / 1000;
	__u32 slot = 0;

	while (us > 1 && slot < STEER_LAT_SLOTS - 1) {
		us >>= 1;
		slot++;
	}
	/* steerd is the only writer and single-threaded: read-modify-write is safe. */
	if (bpf_map_lookup_elem(m->latency, &slot, &v))
		return -errno;
	v.count++;
	return ret_errno(bpf_map_update_elem(m->latency, &slot, &v, BPF_ANY));
}

int maps_latency_get(const struct steer_maps *m, uint64_t *counts)
{
	for (__u32 i = 0; i < STEER_LAT_SLOTS; i++) {
		struct steer_lat_slot v;

		if (bpf_map_lookup_elem(m->latency, &i, &v))
			return -errno;
		counts[i] = v.count;
	}
	return 0;
}

int maps_iface_get(const struct steer_maps *m, __u32 ifindex, struct steer_iface_val *val)
{
	return ret_errno(bpf_map_lookup_elem(m->ifaces, &ifindex, val));
}

int maps_iface_set(const struct steer_maps *m, __u32 ifindex, const struct steer_iface_val *val)
{
	return ret_errno(bpf_map_update_elem(m->ifaces, &ifindex, val, BPF_ANY));
}

int maps_iface_del(const struct steer_maps *m, __u32 ifindex)
{
	return ret_errno(bpf_map_delete_elem(m->ifaces, &ifindex));
}

int maps_feature_set(const struct steer_maps *m, __u32 slot, const struct steer_feature_val *val)
{
	return ret_errno(bpf_map_update_elem(m->features, &slot, val, BPF_ANY));
}

int maps_feature_foreach(const struct steer_maps *m, maps_feature_cb cb, void *arg)
{
	for (__u32 i = 0; i < STEER_FEATURE_SLOTS; i++) {
		struct steer_feature_val v;
		int ret;

		if (bpf_map_lookup_elem(m->features, &i, &v))
			return -errno;
		if (!v.name[0])
			continue;
		v.name[sizeof(v.name) - 1] = v.why[sizeof(v.why) - 1] = '\0';
		ret = cb(&v, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int maps_member_set(const struct steer_maps *m, const struct steer_member_key *key,
		    const struct steer_member_val *val)
{
	return ret_errno(bpf_map_update_elem(m->members, key, val, BPF_ANY));
}

int maps_member_del(const struct steer_maps *m, const struct steer_member_key *key)
{
	return ret_errno(bpf_map_delete_elem(m->members, key));
}

/* Collects all keys first so the callback may delete what it is given. */
static int collect_keys(int fd, size_t key_sz, void **keys, size_t *n)
{
	size_t cap = 64, cnt = 0;
	char *buf, *prev = NULL;
	int err = 0;

	buf = malloc(cap * key_sz);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (cnt == cap) {
			char *nb = realloc(buf, 2 * cap * key_sz);

			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
			cap *= 2;
		}
		prev = cnt ? buf + (cnt - 1) * key_sz : NULL;
		if (bpf_map_get_next_key(fd, prev, buf + cnt * key_sz)) {
			err = -errno;
			if (err == -ENOENT)
				err = 0;
			break;
		}
		cnt++;
	}
cleanup:
	if (err) {
		free(buf);
		return err;
	}
	*keys = buf;
	*n = cnt;
	return 0;
}

/*
 * Calls visit(key, value) for every entry of fd. Keys are collected first,
 * so a visitor may delete the entry it is given (mark and sweep); an entry
 * deleted by someone else in between is skipped.
 */
typedef int (*visit_fn)(const void *key, const void *val, const void *cb, void *arg);

static int walk(int fd, size_t key_sz, void *val, visit_fn visit, const void *cb, void *arg)
{
	char *keys;
	size_t n;
	int err;

	err = collect_keys(fd, key_sz, (void **)&keys, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n && !err; i++)
		if (!bpf_map_lookup_elem(fd, keys + i * key_sz, val))
			err = visit(keys + i * key_sz, val, cb, arg);
	free(keys);
	return err;
}

static int visit_quar(const void *k, const void *v, const void *cb, void *arg)
{
	return ((maps_quar_cb)cb)(&((const struct steer_quar_key *)k)->addr, v, arg);
}

static int visit_svc(const void *k, const void *v, const void *cb, void *arg)
{
	return ((maps_svc_cb)cb)(k, v, arg);
}

static int visit_exempt(const void *k, const void *v, const void *cb, void *arg)
{
	const struct steer_exempt_key *key = k;

	return ((maps_exempt_cb)cb)(&key->addr, key->prefixlen, v, arg);
}

static int visit_member(const void *k, const void *v, const void *cb, void *arg)
{
	return ((maps_member_cb)cb)(k, v, arg);
}

static int visit_iface(const void *k, const void *v, const void *cb, void *arg)
{
	return ((maps_iface_cb)cb)(*(const __u32 *)k, v, arg);
}

int maps_quar_foreach(const struct steer_maps *m, maps_quar_cb cb, void *arg)
{
	struct steer_quar_val v;

	return walk(m->quar, sizeof(struct steer_quar_key), &v, visit_quar, cb, arg);
}

int maps_svc_foreach(const struct steer_maps *m, maps_svc_cb cb, void *arg)
{
	struct steer_svc_val v;

	return walk(m->svc, sizeof(struct steer_svc_key), &v, visit_svc, cb, arg);
}

int maps_exempt_foreach(const struct steer_maps *m, maps_exempt_cb cb, void *arg)
{
	struct steer_exempt_val v;

	return walk(m->exempt, sizeof(struct steer_exempt_key), &v, visit_exempt, cb, arg);
}

int maps_iface_foreach(const struct steer_maps *m, maps_iface_cb cb, void *arg)
{
	struct steer_iface_val v;

	return walk(m->ifaces, sizeof(__u32), &v, visit_iface, cb, arg);
}

#ifndef ENOTSUPP
#define ENOTSUPP 524	/* kernel-internal: bpf() on a map without batch ops */
#endif

/* Entries per BPF_MAP_LOOKUP_BATCH: far more than a hash bucket ever holds. */
#define MEMBER_BATCH 4096

static int member_foreach_keys(const struct steer_maps *m, maps_member_cb cb, void *arg)
{
	struct steer_member_val v;

	return walk(m->members, sizeof(struct steer_member_key), &v, visit_member, cb, arg);
}

/*
 * A resync reads all of steer_members (150k entries at target scale): in
 * batches that is a few dozen bpf() calls instead of two per entry. The
 * batch token resumes at the next bucket, so the callback may delete the
 * entries it was given.
 */
int maps_member_foreach(const struct steer_maps *m, maps_member_cb cb, void *arg)
{
	struct steer_member_key *keys = malloc(MEMBER_BATCH * sizeof(*keys));
	struct steer_member_val *vals = malloc(MEMBER_BATCH * sizeof(*vals));
	__u32 token, count;
	void *in = NULL;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		count = MEMBER_BATCH;
		err = bpf_map_lookup_batch(m->members, in, &token, keys, vals, &count, NULL) ?
		      -errno : 0;
		/* Kernels without batch ops for hash maps: one key at a time. */
		if (!in && (err == -EINVAL || err == -ENOTSUPP)) {
			err = member_foreach_keys(m, cb, arg);
			break;
		}
		if (err && err != -ENOENT)
			break;
		for (__u32 i = 0; i < count; i++) {
			int ret = cb(&keys[i], &vals[i], arg);

			if (ret) {
				err = ret;
				goto cleanup;
			}
		}
		/* -ENOENT: that was the last batch. */
		if (err || !count) {
			err = 0;
			break;
		}
		in = &token;
	}
cleanup:
	free(keys);
	free(vals);
	return err;
}
