// SPDX-License-Identifier: MIT
/*
 * steerctl: inspect and drive steer's pinned maps. Works whether steerd
 * runs or not; everything it writes is origin=manual, which the API-driven
 * reconciler never removes. It needs the ABI, the map layer and the shared
 * plumbing of agent/lib/ only: no API client, no planner.
 *
 * Commands are a table (as in xdp-tools): each names the maps it cannot do
 * without, its own options, a parser for its arguments and a runner. Pins
 * of an older steerd may lack a newer map: steerctl says which, and every
 * command that does not need it still works.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datapath/cleanup.h"
#include "datapath/maps.h"
#include "lib/addr.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "monitor.h"

#define EXIT_USAGE 2
#define MAX_ARGS 64
#define MAX_BACKENDS 62

static const char *const reason_names[] = STEER_REASON_NAMES;
static const char *const link_pins[] = STEER_LINK_PINS;
static const char *const prog_pins[] = STEER_PROG_PINS;
#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(ARRAY_N(link_pins) == ARRAY_N(prog_pins), "a program pin per link pin");

/* Options that belong to one command. */
enum { O_ACTION, O_INTERVAL, O_COUNT, O_NR };
static const char *const opt_names[O_NR] = { "--action", "--interval", "--count" };

struct ctl {
	const char *bpffs;
	bool json;
	const char *opt[O_NR];
	const char **args;
	int nargs;
	struct steer_maps maps;
	uint32_t missing;	/* bit per enum steer_map_id not pinned */
	/* Parsed arguments. */
	struct steer_addr addr;
	uint32_t plen;		/* over 128 bits, as steer_exempt keys it */
	struct steer_quar_val qv;
	struct steer_svc_key sk;
	struct steer_backend_val be[MAX_BACKENDS];
	uint32_t nbe;
	struct monitor_opts mon;
};

#define NEEDS(id) (1u << (id))

struct cmd {
	const char *name;
	const char *args;		/* for the usage text */
	const char *help;
	const struct cmd *sub;		/* subcommands, NULL-terminated; or: */
	uint32_t needs;			/* maps it cannot work without */
	uint32_t opts;			/* bit per O_* it takes */
	bool no_maps;			/* runs on the pins themselves */
	bool writes;			/* opens the maps writable */
	int (*parse)(struct ctl *c);	/* 0 or EXIT_USAGE, after one line */
	int (*run)(struct ctl *c);	/* exit status */
};

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "steerctl: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static int runtime_err(const char *what, const char *arg, int err)
{
	fprintf(stderr, "steerctl: %s %s: %s\n", what, arg, strerror(-err));
	return 1;
}

static void print_json(cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s)
		puts(s);
	free(s);
	cJSON_Delete(j);
}



static void time_str(__u64 ns, char *buf, size_t len)
{
	time_t t = ns / 1000000000ull;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A list command's walk: the JSON array it fills, or text lines. */
struct out {
	struct ctl *c;
	cJSON *arr;
};

static int finish_list(struct out *o, int err)
{
	if (o->c->json)
		print_json(o->arr);
	else
		cJSON_Delete(o->arr);
	return err ? runtime_err("read", "maps", err) : 0;
}

/* --------------------------------------------------------------- list */

static int list_cb(const struct steer_addr *addr, const struct steer_quar_val *v,
		   void *arg)
{
	struct out *out = arg;
	struct ctl *c = out->c;
	bool stats = c->maps.qstats >= 0;
	char ip[ADDR_STRLEN], since[32], ns[24];
	struct steer_qstat qs = {};
	cJSON *o;

	if (stats)
		maps_qstat_get(&c->maps, addr, &qs);
	addr_str(addr, ip);
	time_str(v->since, since, sizeof(since));
	if (!c->json) {
		if (stats)
			printf("%-15s %-6s %-6s %-20s %12llu %14llu\n", ip,
			       addr_action_name(v->action), addr_origin_name(v->origin), since,
			       (unsigned long long)qs.packets, (unsigned long long)qs.bytes);
		else
			printf("%-15s %-6s %-6s %-20s %12s %14s\n", ip, addr_action_name(v->action),
			       addr_origin_name(v->origin), since, "-", "-");
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "addr", ip);
	cJSON_AddStringToObject(o, "action", addr_action_name(v->action));
	cJSON_AddStringToObject(o, "origin", addr_origin_name(v->origin));
	cJSON_AddStringToObject(o, "since", since);
	/* Exact: a double would round nanoseconds since 1970. */
	snprintf(ns, sizeof(ns), "%llu", (unsigned long long)v->since);
	cJSON_AddRawToObject(o, "since_ns", ns);
	cJSON_AddNumberToObject(o, "gen", v->gen);
	if (stats) {
		cJSON_AddNumberToObject(o, "packets", qs.packets);
		cJSON_AddNumberToObject(o, "bytes", qs.bytes);
	} else {
		cJSON_AddNullToObject(o, "packets");
		cJSON_AddNullToObject(o, "bytes");
	}
	cJSON_AddItemToArray(out->arr, o);
	return 0;
}

static int cmd_list(struct ctl *c)
{
	struct out o = { c, cJSON_CreateArray() };

	if (!c->json)
		printf("%-15s %-6s %-6s %-20s %12s %14s\n", "ADDR", "ACTION", "ORIGIN", "SINCE",
		       "PACKETS", "BYTES");
	return finish_list(&o, maps_quar_foreach(&c->maps, list_cb, &o));
}

/* ----------------------------------------------------------- services */

static int svc_cb(const struct steer_svc_key *k, const struct steer_svc_val *v, void *arg)
{
	static struct steer_backend_val be[STEER_MAX_BACKENDS_PER_SVC];
	struct out *out = arg;
	struct ctl *c = out->c;
	char ip[ADDR_STRLEN], b[ADDR_HOSTPORTLEN];
	cJSON *o, *bes = NULL;
	struct steer_svc_val sv;
	uint32_t n = 0;

	if (maps_svc_get(&c->maps, k, &sv, be, STEER_MAX_BACKENDS_PER_SVC, &n))
		return 0;
	addr_str(&k->vip, ip);
	if (c->json) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "vip", ip);
		cJSON_AddNumberToObject(o, "port", ntohs(k->port));
		cJSON_AddStringToObject(o, "proto", addr_proto_name(k->proto));
		cJSON_AddStringToObject(o, "origin", addr_origin_name(sv.origin));
		cJSON_AddNumberToObject(o, "rev", sv.rev);
		bes = cJSON_AddArrayToObject(o, "backends");
		cJSON_AddItemToArray(out->arr, o);
	} else {
		printf("%s/%s origin=%s rev=%u backends=%u%s",
		       addr_hostport_str(&k->vip, k->port, b), addr_proto_name(k->proto), addr_origin_name(sv.origin), sv.rev,
		       sv.count, sv.count ? ":" : " (refusing)");
	}
	for (uint32_t i = 0; i < n; i++) {
		addr_hostport_str(&be[i].addr, be[i].port, b);
		if (bes)
			cJSON_AddItemToArray(bes, cJSON_CreateString(b));
		else
			printf(" %s", b);
	}
	if (!c->json)
		putchar('\n');
	return 0;
}

static int cmd_services(struct ctl *c)
{
	struct out o = { c, cJSON_CreateArray() };

	return finish_list(&o, maps_svc_foreach(&c->maps, svc_cb, &o));
}

/* ------------------------------------------------------------- exempt */

static int exempt_cb(const struct steer_addr *addr, uint32_t plen,
		     const struct steer_exempt_val *v, void *arg)
{
	struct out *out = arg;
	const char *origin = addr_origin_name(v->origin);
	char cidr[ADDR_HOSTPORTLEN];
	cJSON *o;

	addr_cidr_str(addr, plen, cidr);
	if (!out->c->json) {
		printf("%-18s %s\n", cidr, origin);
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "cidr", cidr);
	cJSON_AddStringToObject(o, "origin", origin);
	cJSON_AddItemToArray(out->arr, o);
	return 0;
}

static int cmd_exempt_list(struct ctl *c)
{
	struct out o = { c, cJSON_CreateArray() };

	return finish_list(&o, maps_exempt_foreach(&c->maps, exempt_cb, &o));
}

/* ------------------------------------------------------------- status */

/* Upper bound in us of the histogram slot holding quantile q. */
static double lat_quantile(const uint64_t *slots, uint64_t total, double q)
{
	uint64_t want = (uint64_t)(q * total + 0.999999), acc = 0;

	if (!total)
		return 0;
	for (int i = 0; i < STEER_LAT_SLOTS; i++) {
		acc += slots[i];
		if (acc >= want)
			return (double)(1ull << (i + 1));
	}
	return (double)(1ull << STEER_LAT_SLOTS);
}

static int iface_cb(__u32 ifindex, const struct steer_iface_val *v, void *arg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "iface", v->name);
	cJSON_AddNumberToObject(o, "ifindex", v->ifindex);
	cJSON_AddBoolToObject(o, "own_qdisc", v->own_qdisc);
	cJSON_AddItemToArray(arg, o);
	return 0;
}

static int feature_cb(const struct steer_feature_val *v, void *arg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "feature", v->name);
	cJSON_AddBoolToObject(o, "enabled", v->state == STEER_FEATURE_ON);
	cJSON_AddStringToObject(o, "why", v->why);
	cJSON_AddItemToArray(arg, o);
	return 0;
}

/*
 * The pinned links (on the cgroup, with its id) into links, and the
 * programs attached without links (kernels before 5.7, which pin
 * themselves) into progs; returns how many links.
 */
static int status_links(struct ctl *c, cJSON *links, cJSON *progs)
{
	char path[PATH_MAX];
	int n = 0;

	for (size_t i = 0; i < 2 * ARRAY_N(link_pins); i++) {
		bool link = i < ARRAY_N(link_pins);
		const char *pin = link ? link_pins[i] : prog_pins[i - ARRAY_N(link_pins)];
		struct bpf_link_info li = {};
		struct bpf_prog_info pi = {};
		__u32 len = link ? sizeof(li) : sizeof(pi);
		cJSON *o;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", c->bpffs, pin);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, link ? (void *)&li : (void *)&pi, &len)) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, link ? "link" : "program", pin);
			cJSON_AddNumberToObject(o, "prog_id", link ? li.prog_id : pi.id);
			if (link)
				cJSON_AddNumberToObject(o, "cgroup_id", li.cgroup.cgroup_id);
			cJSON_AddItemToArray(link ? links : progs, o);
			n += link;
		}
		close(fd);
	}
	return n;
}

static bool link_pinned(struct ctl *c, const char *pin)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", c->bpffs, pin);
	return !access(path, F_OK);
}

static void status_text(const cJSON *j, int n_links)
{
	const cJSON *it, *tc = cJSON_GetObjectItem(j, "tc"), *lat = cJSON_GetObjectItem(j, "latency");

	printf("bpffs: %s\n", cJSON_GetObjectItem(j, "bpffs")->valuestring);
	printf("tc egress:");
	if (!cJSON_IsArray(tc))
		printf(" unknown (%s not pinned)", STEER_MAP_IFACES);
	else if (!cJSON_GetArraySize(tc))
		printf(" none");
	cJSON_ArrayForEach(it, tc)
		printf(" %s%s", cJSON_GetObjectItem(it, "iface")->valuestring,
		       cJSON_IsTrue(cJSON_GetObjectItem(it, "own_qdisc")) ? "" : "(shared qdisc)");
	int n_unlinked = cJSON_GetArraySize(cJSON_GetObjectItem(j, "without_links"));

	printf("\nsocket steering: %s",
	       cJSON_IsTrue(cJSON_GetObjectItem(j, "socket_steering")) ? "on" : "off");
	if (n_links)
		printf(" (cgroup id %.0f, %d/%zu links)",
		       cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "cgroup"), 0),
					   "cgroup_id")->valuedouble, n_links,
		       ARRAY_N(link_pins));
	else if (n_unlinked)
		printf(" (%d/%zu programs attached without links)", n_unlinked, ARRAY_N(prog_pins));
	printf("\nkernel features:");
	if (!cJSON_IsArray(cJSON_GetObjectItem(j, "features")))
		printf(" unknown (%s not pinned)", STEER_MAP_FEATURES);
	printf("\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "features")) {
		const char *why = cJSON_GetObjectItem(it, "why")->valuestring;

		printf("  %-14s %s%s%s\n", cJSON_GetObjectItem(it, "feature")->valuestring,
		       cJSON_IsTrue(cJSON_GetObjectItem(it, "enabled")) ? "on" : "off",
		       *why ? ": " : "", why);
	}
	printf("maps:\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "maps")) {
		const cJSON *e = cJSON_GetObjectItem(it, "entries");

		if (cJSON_IsNumber(e))
			printf("  %-14s %8.0f / %.0f\n", it->string, e->valuedouble,
			       cJSON_GetObjectItem(it, "max")->valuedouble);
		else
			printf("  %-14s  missing (pinned by an older steerd?)\n", it->string);
	}
	printf("counters:\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "counters"))
		printf("  %-17s %llu\n", it->string, (unsigned long long)it->valuedouble);
	if (cJSON_IsObject(lat))
		printf("event->map latency: %.0f samples, p50 <= %.0f us, p99 <= %.0f us\n",
		       cJSON_GetObjectItem(lat, "samples")->valuedouble,
		       cJSON_GetObjectItem(lat, "p50_us")->valuedouble,
		       cJSON_GetObjectItem(lat, "p99_us")->valuedouble);
}

static int cmd_status(struct ctl *c)
{
	cJSON *j = cJSON_CreateObject(), *cg, *maps, *cnt, *lat, *miss;
	uint64_t slots[STEER_LAT_SLOTS] = {}, total = 0;
	int n_links;

	cJSON_AddStringToObject(j, "bpffs", c->bpffs);
	if (c->maps.ifaces >= 0)
		maps_iface_foreach(&c->maps, iface_cb, cJSON_AddArrayToObject(j, "tc"));
	else
		cJSON_AddNullToObject(j, "tc");
	cg = cJSON_AddArrayToObject(j, "cgroup");
	n_links = status_links(c, cg, cJSON_AddArrayToObject(j, "without_links"));
	/* connect4 is the hook that steers; the others only complete it. */
	cJSON_AddBoolToObject(j, "socket_steering", link_pinned(c, STEER_LINK_CONNECT4) ||
			      link_pinned(c, prog_pins[0]));
	if (c->maps.features >= 0)
		maps_feature_foreach(&c->maps, feature_cb, cJSON_AddArrayToObject(j, "features"));
	else
		cJSON_AddNullToObject(j, "features");

	maps = cJSON_AddObjectToObject(j, "maps");
	miss = cJSON_AddArrayToObject(j, "missing_maps");
	for (int i = 0; i < MAP_NR; i++) {
		cJSON *o;
		uint32_t n = 0;

		if (i == MAP_QSTATS || i == MAP_STATS || i == MAP_LATENCY || i == MAP_EPOCH ||
		    i == MAP_FEATURES)
			continue;	/* counters and facts, not a fill */
		o = cJSON_AddObjectToObject(maps, maps_name(i));
		if (c->missing & NEEDS(i)) {
			cJSON_AddNullToObject(o, "entries");
		} else {
			maps_count(maps_fd(&c->maps, i), &n);
			cJSON_AddNumberToObject(o, "entries", n);
		}
		cJSON_AddNumberToObject(o, "max", maps_max_entries(i));
	}
	for (int i = 0; i < MAP_NR; i++)
		if (c->missing & NEEDS(i))
			cJSON_AddItemToArray(miss, cJSON_CreateString(maps_name(i)));
	cnt = cJSON_AddObjectToObject(j, "counters");
	for (int r = 0; c->maps.stats >= 0 && r < STEER_R_MAX; r++) {
		uint64_t v = 0;

		maps_stat_get(&c->maps, r, &v);
		cJSON_AddNumberToObject(cnt, reason_names[r], v);
	}
	if (c->maps.latency >= 0 && !maps_latency_get(&c->maps, slots)) {
		for (int i = 0; i < STEER_LAT_SLOTS; i++)
			total += slots[i];
		lat = cJSON_AddObjectToObject(j, "latency");
		cJSON_AddNumberToObject(lat, "samples", total);
		cJSON_AddNumberToObject(lat, "p50_us", lat_quantile(slots, total, 0.50));
		cJSON_AddNumberToObject(lat, "p99_us", lat_quantile(slots, total, 0.99));
	} else {
		cJSON_AddNullToObject(j, "latency");
	}
	if (c->json) {
		print_json(j);
		return 0;
	}
	status_text(j, n_links);
	cJSON_Delete(j);
	return 0;
}

/* ----------------------------------------------------------- writers */

static int parse_none(struct ctl *c)
{
	return c->nargs ? usage_err("%s: unexpected argument", c->args[0]) : 0;
}

static int parse_addr(struct ctl *c)
{
	if (c->nargs != 1)
		return usage_err("%s", "needs exactly one ADDR");
	if (addr_parse_ip(c->args[0], &c->addr))
		return usage_err("ADDR: \"%s\" is not an IPv4 or IPv6 address", c->args[0]);
	return 0;
}

static int parse_quarantine(struct ctl *c)
{
	int err = parse_addr(c);

	c->qv = (struct steer_quar_val){ .origin = STEER_ORIGIN_MANUAL, .action = STEER_ACT_DRAIN };
	if (!err && c->opt[O_ACTION] && addr_parse_action(c->opt[O_ACTION], &c->qv.action))
		return usage_err("--action: \"%s\" is not drain, drop or reset", c->opt[O_ACTION]);
	return err;
}

static int cmd_quarantine(struct ctl *c)
{
	struct steer_quar_val old;
	int err;

	/* Keep the original start time when only the action changes. */
	c->qv.since = maps_quar_get(&c->maps, &c->addr, &old) ? wall_ns() : old.since;
	err = maps_quar_set(&c->maps, &c->addr, &c->qv);
	return err ? runtime_err("quarantine", c->args[0], err) : 0;
}

static int cmd_release(struct ctl *c)
{
	int err = maps_quar_del(&c->maps, &c->addr);

	if (err == -ENOENT) {
		fprintf(stderr, "steerctl: release %s: not quarantined\n", c->args[0]);
		return 1;
	}
	return err ? runtime_err("release", c->args[0], err) : 0;
}

static int parse_svc_key(struct ctl *c)
{
	if (!c->nargs)
		return usage_err("%s", "needs VIP:PORT/PROTO");
	if (addr_parse_svc(c->args[0], &c->sk))
		return usage_err("VIP:PORT/PROTO: \"%s\" is not IPv4:port/tcp|udp or [IPv6]:port/tcp|udp",
				 c->args[0]);
	return 0;
}

static int parse_svc_set(struct ctl *c)
{
	int err = parse_svc_key(c);

	if (err)
		return err;
	if (c->nargs - 1 > MAX_BACKENDS)
		return usage_err("%s", "at most 62 backends on the command line");
	for (int i = 1; i < c->nargs; i++) {
		if (addr_parse_backend(c->args[i], &c->be[i - 1]))
			return usage_err("BACKEND:PORT: \"%s\" is not IPv4:port or [IPv6]:port",
					 c->args[i]);
		/* connect() cannot change a socket's family: a VIP's backends share it. */
		if (addr_family(&c->be[i - 1].addr) != addr_family(&c->sk.vip))
			return usage_err("BACKEND:PORT: \"%s\" is not of the VIP's address family",
					 c->args[i]);
	}
	c->nbe = c->nargs - 1;
	return 0;
}

static int parse_svc_del(struct ctl *c)
{
	int err = parse_svc_key(c);

	if (!err && c->nargs > 1)
		return usage_err("%s: unexpected argument", c->args[1]);
	return err;
}

/* Over a manual set already there, only the slots that differ are written. */
static int cmd_svc_set(struct ctl *c)
{
	static struct steer_backend_val cur[STEER_MAX_BACKENDS_PER_SVC];
	struct steer_svc_val v;
	uint32_t n = 0;
	int err;

	err = maps_svc_get(&c->maps, &c->sk, &v, cur, STEER_MAX_BACKENDS_PER_SVC, &n);
	err = maps_svc_patch(&c->maps, &c->sk, err || n != v.count ? NULL : cur, n, c->be, c->nbe,
			     STEER_ORIGIN_MANUAL, 0);
	return err ? runtime_err("set service", c->args[0], err) : 0;
}

static int cmd_svc_del(struct ctl *c)
{
	int err = maps_svc_del(&c->maps, &c->sk);

	return err ? runtime_err("delete service", c->args[0], err) : 0;
}

static int parse_cidr(struct ctl *c)
{
	if (c->nargs != 1)
		return usage_err("%s", "needs exactly one CIDR");
	if (addr_parse_cidr(c->args[0], &c->addr, &c->plen))
		return usage_err("CIDR: \"%s\" is not an IPv4 or IPv6 CIDR", c->args[0]);
	return 0;
}

static int cmd_exempt_add(struct ctl *c)
{
	int err = maps_exempt_set(&c->maps, &c->addr, c->plen, STEER_ORIGIN_MANUAL);

	return err ? runtime_err("add exempt", c->args[0], err) : 0;
}

static int cmd_exempt_del(struct ctl *c)
{
	int err = maps_exempt_del(&c->maps, &c->addr, c->plen);

	return err ? runtime_err("delete exempt", c->args[0], err) : 0;
}

/* ------------------------------------------------------ monitor, cleanup */

static int parse_monitor(struct ctl *c)
{
	const char *interval = c->opt[O_INTERVAL], *count = c->opt[O_COUNT];
	char *end;

	if (c->nargs)
		return usage_err("%s: unexpected argument", c->args[0]);
	c->mon = (struct monitor_opts){ .interval_s = 1.0, .json = c->json };
	if (interval) {
		errno = 0;
		c->mon.interval_s = strtod(interval, &end);
		if (errno || *end || end == interval || !(c->mon.interval_s >= 0.01) ||
		    c->mon.interval_s > 86400)
			return usage_err("--interval: \"%s\" is not 0.01..86400 seconds", interval);
	}
	if (count) {
		errno = 0;
		c->mon.count = strtol(count, &end, 10);
		if (errno || *end || end == count || c->mon.count < 1)
			return usage_err("--count: \"%s\" is not a positive integer", count);
	}
	return 0;
}

static int cmd_monitor(struct ctl *c)
{
	return monitor_run(&c->maps, &c->mon);
}

static int cmd_cleanup(struct ctl *c)
{
	return datapath_cleanup(c->bpffs, NULL) ? 1 : 0;
}

/* -------------------------------------------------------------- table */

#define SVC_MAPS (NEEDS(MAP_SVC) | NEEDS(MAP_BACKEND))

static const struct cmd service_cmds[] = {
	{ "set", "VIP:PORT/PROTO [BACKEND:PORT]...", "steer a service (no backends: refuse)",
	  .needs = SVC_MAPS, .parse = parse_svc_set, .run = cmd_svc_set, .writes = true },
	{ "del", "VIP:PORT/PROTO", "stop steering a service",
	  .needs = SVC_MAPS, .parse = parse_svc_del, .run = cmd_svc_del, .writes = true },
	{}
};

static const struct cmd exempt_cmds[] = {
	{ "add", "CIDR", "always let a source CIDR in",
	  .needs = NEEDS(MAP_EXEMPT), .parse = parse_cidr, .run = cmd_exempt_add, .writes = true },
	{ "del", "CIDR", "stop exempting a CIDR",
	  .needs = NEEDS(MAP_EXEMPT), .parse = parse_cidr, .run = cmd_exempt_del, .writes = true },
	{ "list", "", "exempt CIDRs",
	  .needs = NEEDS(MAP_EXEMPT), .parse = parse_none, .run = cmd_exempt_list },
	{}
};

static const struct cmd commands[] = {
	{ "status", "", "attach points, map fill, counters, latency",
	  .parse = parse_none, .run = cmd_status },
	{ "list", "", "quarantined addresses",
	  .needs = NEEDS(MAP_QUAR), .parse = parse_none, .run = cmd_list },
	{ "quarantine", "ADDR [--action drain|drop|reset]", "quarantine a pod IP (default drain)",
	  .needs = NEEDS(MAP_QUAR), .opts = 1u << O_ACTION, .parse = parse_quarantine,
	  .run = cmd_quarantine, .writes = true },
	{ "release", "ADDR", "end a quarantine",
	  .needs = NEEDS(MAP_QUAR), .parse = parse_addr, .run = cmd_release, .writes = true },
	{ "service", NULL, NULL, .sub = service_cmds },
	{ "services", "", "steered services and their backends",
	  .needs = SVC_MAPS, .parse = parse_none, .run = cmd_services },
	{ "exempt", NULL, NULL, .sub = exempt_cmds },
	{ "monitor", "[--interval S] [--count N]",
	  "live counters, per-address traffic and changes (polls the maps)",
	  .needs = NEEDS(MAP_QUAR) | NEEDS(MAP_STATS) | SVC_MAPS,
	  .opts = 1u << O_INTERVAL | 1u << O_COUNT, .parse = parse_monitor, .run = cmd_monitor },
	{ "cleanup", "", "remove every pin, link, tc filter and qdisc",
	  .no_maps = true, .parse = parse_none, .run = cmd_cleanup },
	{}
};

static void usage(FILE *f)
{
	char line[128];

	fputs("usage: steerctl [--bpffs DIR] [-o text|json] COMMAND [ARG]...\n"
	      "Inspect and drive steer's pinned maps (steerd need not run).\n\nCommands:\n", f);
	for (const struct cmd *c = commands; c->name; c++) {
		const struct cmd *s = c->sub ? c->sub : c;

		for (; s->name; s++) {
			if (c->sub)
				snprintf(line, sizeof(line), "%s %s %s", c->name, s->name, s->args);
			else
				snprintf(line, sizeof(line), "%s %s", s->name, s->args);
			fprintf(f, "  %-46s %s\n", line, s->help);
			if (!c->sub)
				break;
		}
	}
	fputs("\nOptions:\n"
	      "  --bpffs DIR      pin directory (default: " STEER_BPFFS_DEFAULT ")\n"
	      "  -o, --output FMT text (default) or json, for the read commands\n"
	      "                   (monitor: one JSON object per line)\n"
	      "  -h, --help       show this help\n"
	      "\nExit status: 0 on success, 1 on a runtime failure, 2 on a usage error.\n", f);
}

static const struct cmd *find(const struct cmd *table, const char *name)
{
	for (; table->name; table++)
		if (!strcmp(table->name, name))
			return table;
	return NULL;
}

static int list_missing(const struct ctl *c, uint32_t which, char *buf, size_t len)
{
	size_t off = 0;
	int n = 0;

	buf[0] = '\0';
	for (int i = 0; i < MAP_NR; i++) {
		if (!(which & NEEDS(i)))
			continue;
		off += snprintf(buf + off, off < len ? len - off : 0, "%s%s", n++ ? ", " : "",
				maps_name(i));
	}
	return n;
}

static int run(struct ctl *c, const struct cmd *cmd, const char *name)
{
	char names[256];
	int err;

	for (int i = 0; i < O_NR; i++)
		if (c->opt[i] && !(cmd->opts & 1u << i))
			return usage_err("%s: not an option of this command", opt_names[i]);
	err = cmd->parse(c);
	if (err)
		return err;
	if (cmd->no_maps)
		return cmd->run(c);
	/* Read commands cannot write by mistake: read-only fds, where libbpf can. */
	err = maps_open_pinned(&c->maps, c->bpffs, !cmd->writes, &c->missing);
	if (err) {
		fprintf(stderr, "steerctl: no steer maps under %s: %s (is steerd set up?)\n",
			c->bpffs, strerror(-err));
		return 1;
	}
	if (list_missing(c, cmd->needs & c->missing, names, sizeof(names))) {
		fprintf(stderr, "steerctl: %s needs %s, which %s not pinned under %s (pins of an older steerd? restart steerd to create it)\n",
			name, names, strchr(names, ',') ? "are" : "is", c->bpffs);
		maps_close(&c->maps);
		return 1;
	}
	if (list_missing(c, c->missing, names, sizeof(names)))
		fprintf(stderr, "steerctl: note: %s lacks %s (pins of an older steerd?); showing the rest\n",
			c->bpffs, names);
	err = cmd->run(c);
	maps_close(&c->maps);
	return err;
}

int main(int argc, char **argv)
{
	struct ctl c = { .bpffs = STEER_BPFFS_DEFAULT };
	const struct cmd *cmd;
	const char *pos[MAX_ARGS];
	int npos = 0;

	log_set_cli("steerctl");
	log_setup_libbpf();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int o;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		for (o = 0; o < O_NR && strcmp(a, opt_names[o]); o++)
			;
		if (o < O_NR || !strcmp(a, "--bpffs") || !strcmp(a, "-o") ||
		    !strcmp(a, "--output")) {
			if (i + 1 >= argc)
				return usage_err("%s: needs an argument", a);
			if (o < O_NR)
				c.opt[o] = argv[++i];
			else if (!strcmp(a, "--bpffs"))
				c.bpffs = argv[++i];
			else if (!strcmp(argv[++i], "json"))
				c.json = true;
			else if (strcmp(argv[i], "text"))
				return usage_err("-o: \"%s\" is not text or json", argv[i]);
		} else if (a[0] == '-' && a[1]) {
			return usage_err("%s: unknown option (see steerctl --help)", a);
		} else if (npos < MAX_ARGS) {
			pos[npos++] = a;
		} else {
			return usage_err("%s: too many arguments", a);
		}
	}
	if (!npos)
		return usage_err("%s", "missing command (see steerctl --help)");
	cmd = find(commands, pos[0]);
	if (!cmd)
		return usage_err("%s: unknown command (see steerctl --help)", pos[0]);
	c.args = pos + 1;
	c.nargs = npos - 1;
	if (cmd->sub) {
		const struct cmd *sub = c.nargs ? find(cmd->sub, c.args[0]) : NULL;

		if (!sub) {
			char alts[64] = "";

			for (const struct cmd *s = cmd->sub; s->name; s++)
				snprintf(alts + strlen(alts), sizeof(alts) - strlen(alts), "%s%s",
					 s == cmd->sub ? "" : "|", s->name);
			fprintf(stderr, "steerctl: %s: expected %s (see steerctl --help)\n",
				cmd->name, alts);
			return EXIT_USAGE;
		}
		cmd = sub;
		c.args++;
		c.nargs--;
	}
	return run(&c, cmd, pos[0]);
}
