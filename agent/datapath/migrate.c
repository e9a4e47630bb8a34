// SPDX-License-Identifier: MIT
/*
 * Upgrade over the pins of a steer before IPv6, whose maps keyed addresses
 * by a 4-byte IPv4 address. The maps that hold enforcement (quarantines,
 * exempt CIDRs, steered services, departure memory) cannot be replaced
 * empty: the old pin is set aside before the load, libbpf creates and pins
 * the new layout, and every entry is copied over, mapped to ::ffff:a.b.c.d,
 * before any program that reads the new maps is attached. The programs
 * still attached keep reading the old map until steerd swaps them, so
 * enforcement never lapses.
 */
#include "datapath/internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/log.h"

/* The IPv4-only layout, as it was pinned. */
struct v4_svc_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct v4_backend_key {
	struct v4_svc_key svc;
	__u16 rev;
	__u16 slot;
};

struct v4_backend_val {
	__be32 addr;
	__be16 port;
	__u8 pad[2];
};

struct v4_exempt_key {
	__u32 prefixlen;
	__be32 addr;
};

struct v4_member_val {
	__u32 gen;
	__be32 addr;
};

static const struct {
	__u32 key, value;
} v4_layout[MAP_NR] = {
	[MAP_QUAR] = { sizeof(__be32), sizeof(struct steer_quar_val) },
	[MAP_EXEMPT] = { sizeof(struct v4_exempt_key), sizeof(struct steer_exempt_val) },
	[MAP_SVC] = { sizeof(struct v4_svc_key), sizeof(struct steer_svc_val) },
	[MAP_BACKEND] = { sizeof(struct v4_backend_key), sizeof(struct v4_backend_val) },
	[MAP_MEMBERS] = { sizeof(struct steer_member_key), sizeof(struct v4_member_val) },
};

static void svc_key_from_v4(struct steer_svc_key *k, const struct v4_svc_key *o)
{
	memset(k, 0, sizeof(*k));
	addr_from_v4(&k->vip, o->vip);
	k->port = o->port;
	k->proto = o->proto;
}

/* One old entry in the new layout: key and value into nk, nv. */
static void convert(enum steer_map_id id, const void *ok, const void *ov, void *nk, void *nv)
{
	switch (id) {
	case MAP_QUAR:
		memset(nk, 0, sizeof(struct steer_quar_key));
		addr_from_v4(&((struct steer_quar_key *)nk)->addr, *(const __be32 *)ok);
		memcpy(nv, ov, sizeof(struct steer_quar_val));
		break;
	case MAP_EXEMPT: {
		const struct v4_exempt_key *o = ok;
		struct steer_exempt_key *k = nk;

		k->prefixlen = 96 + o->prefixlen;
		addr_from_v4(&k->addr, o->addr);
		memcpy(nv, ov, sizeof(struct steer_exempt_val));
		break;
	}
	case MAP_SVC:
		svc_key_from_v4(nk, ok);
		memcpy(nv, ov, sizeof(struct steer_svc_val));
		break;
	case MAP_BACKEND: {
		const struct v4_backend_key *o = ok;
		const struct v4_backend_val *ob = ov;
		struct steer_backend_key *k = nk;
		struct steer_backend_val *b = nv;

		memset(k, 0, sizeof(*k));
		svc_key_from_v4(&k->svc, &o->svc);
		k->rev = o->rev;
		k->slot = o->slot;
		memset(b, 0, sizeof(*b));
		addr_from_v4(&b->addr, ob->addr);
		b->port = ob->port;
		break;
	}
	case MAP_MEMBERS: {
		const struct v4_member_val *o = ov;
		struct steer_member_val *v = nv;

		memcpy(nk, ok, sizeof(struct steer_member_key));
		memset(v, 0, sizeof(*v));
		v->gen = o->gen;
		if (o->addr)
			addr_from_v4(&v->addr[0], o->addr);
		break;
	}
	default:
		break;
	}
}

void migrate_detach(struct datapath *dp)
{
	char path[PATH_MAX];

	for (int i = 0; i < MAP_NR; i++) {
		struct bpf_map_info info;
		int fd;

		dp->old_maps[i] = -1;
		if (!v4_layout[i].key)
			continue;
		fd = maps_pin_open(dp->bpffs, i, path, sizeof(path), &info);
		if (fd < 0)
			continue;
		if (info.key_size != v4_layout[i].key || info.value_size != v4_layout[i].value) {
			close(fd);
			continue;
		}
		/* The fd keeps the map and its entries; libbpf pins a new one in its place. */
		if (unlink(path)) {
			pr_warn("set aside pinned map %s: %s", path, strerror(errno));
			close(fd);
			continue;
		}
		dp->old_maps[i] = fd;
	}
}

void migrate_restore(struct datapath *dp)
{
	char path[PATH_MAX];

	for (int i = 0; i < MAP_NR; i++) {
		if (dp->old_maps[i] < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dp->bpffs, maps_name(i));
		/*
		 * The load or the copy failed: the old steer's pin goes back in
		 * place of whatever libbpf pinned, so a later start migrates again.
		 */
		unlink(path);
		if (bpf_obj_pin(dp->old_maps[i], path))
			pr_warn("pin %s back: %s", path, strerror(errno));
		close(dp->old_maps[i]);
		dp->old_maps[i] = -1;
	}
}

/* Every entry of the old map into the new one; returns how many, or -errno. */
static int copy_all(enum steer_map_id id, int from, int to)
{
	char ok[64], prev[64], ov[64], nk[64], nv[64];
	void *pk = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(from, pk, ok)) {
		memcpy(prev, ok, sizeof(prev));
		pk = prev;
		if (bpf_map_lookup_elem(from, ok, ov))
			continue;
		convert(id, ok, ov, nk, nv);
		if (bpf_map_update_elem(to, nk, nv, BPF_ANY))
			return -errno;
		n++;
	}
	return n;
}

int migrate_copy(struct datapath *dp)
{
	/* Slots before the services that point at them, as a writer fills them. */
	static const enum steer_map_id order[] = {
		MAP_BACKEND, MAP_SVC, MAP_EXEMPT, MAP_MEMBERS, MAP_QUAR,
	};
	int err = 0;

	for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
		enum steer_map_id i = order[j];
		int n;

		if (dp->old_maps[i] < 0)
			continue;
		n = copy_all(i, dp->old_maps[i], maps_fd(&dp->maps, i));
		if (n < 0) {
			pr_warn("migrate pinned map %s/%s: %s", dp->bpffs, maps_name(i),
				strerror(-n));
			err = err ? err : n;
			continue;
		}
		pr_info("pinned map %s/%s has an older layout (IPv4 only): migrated, %d entries",
			dp->bpffs, maps_name(i), n);
		close(dp->old_maps[i]);
		dp->old_maps[i] = -1;
	}
	if (err)
		migrate_restore(dp);
	return err;
}
