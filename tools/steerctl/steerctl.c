// SPDX-License-Identifier: MIT
/*
 * steerctl: inspect and drive steer's pinned maps. Works whether steerd
 * runs or not; everything it writes is origin=manual, which the API-driven
 * reconciler never removes.
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

#include "datapath/addr.h"
#include "datapath/datapath.h"
#include "datapath/maps.h"
#include "log.h"
#include "loop.h"
#include "monitor.h"

#define EXIT_USAGE 2

static const char usage_text[] =
"usage: steerctl [--bpffs DIR] [-o text|json] COMMAND [ARG]...\n"
"Inspect and drive steer's pinned maps (steerd need not run).\n"
"\n"
"Commands:\n"
"  status                                attach points, map fill, counters, latency\n"
"  list                                  quarantined addresses\n"
"  quarantine ADDR [--action drain|drop|reset]   quarantine a pod IP (default drain)\n"
"  release ADDR                          end a quarantine\n"
"  service set VIP:PORT/PROTO [BACKEND:PORT]...  steer a service (no backends: refuse)\n"
"  service del VIP:PORT/PROTO            stop steering a service\n"
"  services                              steered services and their backends\n"
"  exempt add|del CIDR                   always let a source CIDR in\n"
"  exempt list                           exempt CIDRs\n"
"  monitor [--interval S] [--count N]    live per-second counters, per-address\n"
"                                        traffic, quarantine and service changes\n"
"                                        (polls the maps: no datapath cost)\n"
"  cleanup                               remove every pin, link, tc filter and qdisc\n"
"\n"
"Options:\n"
"  --bpffs DIR      pin directory (default: " STEER_BPFFS_DEFAULT ")\n"
"  -o, --output FMT text (default) or json, for the read commands\n"
"                   (monitor: one JSON object per line)\n"
"  --interval S     monitor: seconds between samples (default 1)\n"
"  --count N        monitor: stop after N samples (default: until SIGINT)\n"
"  -h, --help       show this help\n"
"\n"
"Exit status: 0 on success, 1 on a runtime failure, 2 on a usage error.\n";

static const char *const reason_names[] = STEER_REASON_NAMES;

struct ctl {
	const char *bpffs;
	bool json;
	struct steer_maps maps;
};

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "steerctl: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static int open_maps(struct ctl *c)
{
	int err = maps_open_pinned(&c->maps, c->bpffs);

	if (err)
		fprintf(stderr, "steerctl: no steer maps under %s: %s (is steerd set up?)\n",
			c->bpffs, strerror(-err));
	return err;
}

static void print_json(cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s)
		puts(s);
	free(s);
	cJSON_Delete(j);
}

static const char *ip_str(__be32 a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void time_str(__u64 ns, char *buf, size_t len)
{
	time_t t = ns / 1000000000ull;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* list */
static int list_cb(__be32 addr, const struct steer_quar_val *v, void *arg)
{
	struct ctl *c = ((void **)arg)[0];
	cJSON *arr = ((void **)arg)[1];
	struct steer_qstat qs = {};
	char ip[INET_ADDRSTRLEN], since[32];
	cJSON *o;

	maps_qstat_get(&c->maps, addr, &qs);
	ip_str(addr, ip);
	time_str(v->since, since, sizeof(since));
	if (!c->json) {
		printf("%-15s %-6s %-6s %-20s %12llu %14llu\n", ip, addr_action_name(v->action),
		       addr_origin_name(v->origin), since,
		       (unsigned long long)qs.packets, (unsigned long long)qs.bytes);
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "addr", ip);
	cJSON_AddStringToObject(o, "action", addr_action_name(v->action));
	cJSON_AddStringToObject(o, "origin",
				addr_origin_name(v->origin));
	cJSON_AddStringToObject(o, "since", since);
	cJSON_AddNumberToObject(o, "gen", v->gen);
	cJSON_AddNumberToObject(o, "packets", qs.packets);
	cJSON_AddNumberToObject(o, "bytes", qs.bytes);
	cJSON_AddItemToArray(arr, o);
	return 0;
}

static int cmd_list(struct ctl *c)
{
	cJSON *arr = cJSON_CreateArray();
	void *args[2] = { c, arr };
	int err;

	if (!c->json)
		printf("%-15s %-6s %-6s %-20s %12s %14s\n", "ADDR", "ACTION", "ORIGIN", "SINCE",
		       "PACKETS", "BYTES");
	err = maps_quar_foreach(&c->maps, list_cb, args);
	if (c->json)
		print_json(arr);
	else
		cJSON_Delete(arr);
	return err ? 1 : 0;
}

/* services */
static int svc_cb(const struct steer_svc_key *k, const struct steer_svc_val *v, void *arg)
{
	struct ctl *c = ((void **)arg)[0];
	cJSON *arr = ((void **)arg)[1], *o = NULL, *bes = NULL;
	static struct steer_backend_val be[STEER_MAX_BACKENDS_PER_SVC];
	char ip[INET_ADDRSTRLEN];
	struct steer_svc_val sv;
	uint32_t n = 0;

	if (maps_svc_get(&c->maps, k, &sv, be, STEER_MAX_BACKENDS_PER_SVC, &n))
		return 0;
	ip_str(k->vip, ip);
	if (c->json) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "vip", ip);
		cJSON_AddNumberToObject(o, "port", ntohs(k->port));
		cJSON_AddStringToObject(o, "proto", addr_proto_name(k->proto));
		cJSON_AddStringToObject(o, "origin",
					addr_origin_name(sv.origin));
		cJSON_AddNumberToObject(o, "rev", sv.rev);
		bes = cJSON_AddArrayToObject(o, "backends");
		cJSON_AddItemToArray(arr, o);
	} else {
		printf("%s:%u/%s origin=%s rev=%u backends=%u%s", ip, ntohs(k->port),
		       addr_proto_name(k->proto),
		       addr_origin_name(sv.origin), sv.rev,
		       sv.count, sv.count ? ":" : " (refusing)");
	}
	for (uint32_t i = 0; i < n; i++) {
		char b[INET_ADDRSTRLEN + 8];

		snprintf(b, sizeof(b), "%s:%u", ip_str(be[i].addr, ip), ntohs(be[i].port));
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
	cJSON *arr = cJSON_CreateArray();
	void *args[2] = { c, arr };
	int err;

	err = maps_svc_foreach(&c->maps, svc_cb, args);
	if (c->json)
		print_json(arr);
	else
		cJSON_Delete(arr);
	return err ? 1 : 0;
}

static int exempt_cb(__be32 addr, uint32_t plen, const struct steer_exempt_val *v, void *arg)
{
	struct ctl *c = ((void **)arg)[0];
	cJSON *arr = ((void **)arg)[1], *o;
	char ip[INET_ADDRSTRLEN], cidr[INET_ADDRSTRLEN + 4];
	const char *origin = addr_origin_name(v->origin);

	snprintf(cidr, sizeof(cidr), "%s/%u", ip_str(addr, ip), plen);
	if (!c->json) {
		printf("%-18s %s\n", cidr, origin);
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "cidr", cidr);
	cJSON_AddStringToObject(o, "origin", origin);
	cJSON_AddItemToArray(arr, o);
	return 0;
}

static int cmd_exempt_list(struct ctl *c)
{
	cJSON *arr = cJSON_CreateArray();
	void *args[2] = { c, arr };
	int err;

	err = maps_exempt_foreach(&c->maps, exempt_cb, args);
	if (c->json)
		print_json(arr);
	else
		cJSON_Delete(arr);
	return err ? 1 : 0;
}

/* status */
static const struct {
	const char *name;
	size_t off;
	uint32_t max;
} fill_maps[] = {
	{ STEER_MAP_QUAR, offsetof(struct steer_maps, quar), STEER_MAX_QUAR },
	{ STEER_MAP_EXEMPT, offsetof(struct steer_maps, exempt), STEER_MAX_EXEMPT },
	{ STEER_MAP_SVC, offsetof(struct steer_maps, svc), STEER_MAX_SVC },
	{ STEER_MAP_BACKEND, offsetof(struct steer_maps, backend), STEER_MAX_BACKEND },
	{ STEER_MAP_REVNAT, offsetof(struct steer_maps, revnat), STEER_MAX_REVNAT },
	{ STEER_MAP_IFACES, offsetof(struct steer_maps, ifaces), STEER_MAX_IFACES },
	{ STEER_MAP_MEMBERS, offsetof(struct steer_maps, members), STEER_MAX_MEMBERS },
};

static const char *const link_pins[] = {
	STEER_LINK_CONNECT4, STEER_LINK_SENDMSG4, STEER_LINK_RECVMSG4, STEER_LINK_GETPEER4,
};

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

static int cmd_status(struct ctl *c)
{
	cJSON *j = cJSON_CreateObject(), *tc, *cg, *maps, *cnt, *lat;
	uint64_t slots[STEER_LAT_SLOTS] = {}, total = 0;
	char path[PATH_MAX];
	int n_links = 0;
	__u32 key, next, *prev = NULL;

	cJSON_AddStringToObject(j, "bpffs", c->bpffs);
	tc = cJSON_AddArrayToObject(j, "tc");
	while (!bpf_map_get_next_key(c->maps.ifaces, prev, &next)) {
		struct steer_iface_val v;
		cJSON *o;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(c->maps.ifaces, &key, &v))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "iface", v.name);
		cJSON_AddNumberToObject(o, "ifindex", v.ifindex);
		cJSON_AddBoolToObject(o, "own_qdisc", v.own_qdisc);
		cJSON_AddItemToArray(tc, o);
	}
	cg = cJSON_AddArrayToObject(j, "cgroup");
	for (size_t i = 0; i < sizeof(link_pins) / sizeof(link_pins[0]); i++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		cJSON *o;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", c->bpffs, link_pins[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "link", link_pins[i]);
			cJSON_AddNumberToObject(o, "prog_id", info.prog_id);
			cJSON_AddNumberToObject(o, "cgroup_id", info.cgroup.cgroup_id);
			cJSON_AddItemToArray(cg, o);
			n_links++;
		}
		close(fd);
	}
	cJSON_AddBoolToObject(j, "socket_steering", n_links == 4);

	maps = cJSON_AddObjectToObject(j, "maps");
	for (size_t i = 0; i < sizeof(fill_maps) / sizeof(fill_maps[0]); i++) {
		int fd = *(int *)((char *)&c->maps + fill_maps[i].off);
		uint32_t n = 0;
		cJSON *o = cJSON_AddObjectToObject(maps, fill_maps[i].name);

		maps_count(fd, &n);
		cJSON_AddNumberToObject(o, "entries", n);
		cJSON_AddNumberToObject(o, "max", fill_maps[i].max);
	}
	cnt = cJSON_AddObjectToObject(j, "counters");
	for (int r = 0; r < STEER_R_MAX; r++) {
		uint64_t v = 0;

		maps_stat_get(&c->maps, r, &v);
		cJSON_AddNumberToObject(cnt, reason_names[r], v);
	}
	for (__u32 i = 0; i < STEER_LAT_SLOTS; i++) {
		struct steer_lat_slot s = {};

		bpf_map_lookup_elem(c->maps.latency, &i, &s);
		slots[i] = s.count;
		total += s.count;
	}
	lat = cJSON_AddObjectToObject(j, "latency");
	cJSON_AddNumberToObject(lat, "samples", total);
	cJSON_AddNumberToObject(lat, "p50_us", lat_quantile(slots, total, 0.50));
	cJSON_AddNumberToObject(lat, "p99_us", lat_quantile(slots, total, 0.99));

	if (c->json) {
		print_json(j);
		return 0;
	}
	printf("bpffs: %s\n", c->bpffs);
	printf("tc egress:");
	cJSON *it;
	if (!cJSON_GetArraySize(tc))
		printf(" none");
	cJSON_ArrayForEach(it, tc)
		printf(" %s%s", cJSON_GetObjectItem(it, "iface")->valuestring,
		       cJSON_IsTrue(cJSON_GetObjectItem(it, "own_qdisc")) ? "" : "(shared qdisc)");
	printf("\nsocket steering: %s", n_links == 4 ? "on" : "off");
	if (n_links)
		printf(" (cgroup id %.0f, %d/4 links)",
		       cJSON_GetObjectItem(cJSON_GetArrayItem(cg, 0), "cgroup_id")->valuedouble,
		       n_links);
	printf("\nmaps:\n");
	cJSON_ArrayForEach(it, maps)
		printf("  %-14s %8.0f / %.0f\n", it->string,
		       cJSON_GetObjectItem(it, "entries")->valuedouble,
		       cJSON_GetObjectItem(it, "max")->valuedouble);
	printf("counters:\n");
	cJSON_ArrayForEach(it, cnt)
		printf("  %-17s %llu\n", it->string, (unsigned long long)it->valuedouble);
	printf("event->map latency: %llu samples, p50 <= %.0f us, p99 <= %.0f us\n",
	       (unsigned long long)total, lat_quantile(slots, total, 0.50),
	       lat_quantile(slots, total, 0.99));
	cJSON_Delete(j);
	return 0;
}

static int runtime_err(const char *what, const char *arg, int err)
{
	fprintf(stderr, "steerctl: %s %s: %s\n", what, arg, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	struct ctl c = { .bpffs = STEER_BPFFS_DEFAULT };
	struct monitor_opts mon = { .interval_s = 1.0 };
	const char *pos[64], *action = NULL, *interval = NULL, *count = NULL;
	int npos = 0, err;

	log_set_cli("steerctl");
	log_setup_libbpf();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--bpffs") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
			   !strcmp(a, "--action") || !strcmp(a, "--interval") ||
			   !strcmp(a, "--count")) {
			if (i + 1 >= argc)
				return usage_err("%s: needs an argument", a);
			if (!strcmp(a, "--bpffs"))
				c.bpffs = argv[++i];
			else if (!strcmp(a, "--action"))
				action = argv[++i];
			else if (!strcmp(a, "--interval"))
				interval = argv[++i];
			else if (!strcmp(a, "--count"))
				count = argv[++i];
			else if (!strcmp(argv[++i], "json"))
				c.json = true;
			else if (strcmp(argv[i], "text"))
				return usage_err("-o: \"%s\" is not text or json", argv[i]);
		} else if (a[0] == '-' && a[1]) {
			return usage_err("%s: unknown option (see steerctl --help)", a);
		} else if (npos < 64) {
			pos[npos++] = a;
		} else {
			return usage_err("%s: too many arguments", a);
		}
	}
	if (!npos)
		return usage_err("%s", "missing command (see steerctl --help)");

	const char *cmd = pos[0];
	int nargs = npos - 1;
	const char **args = pos + 1;

	if (action && strcmp(cmd, "quarantine"))
		return usage_err("--action: only for quarantine, not %s", cmd);
	if ((interval || count) && strcmp(cmd, "monitor"))
		return usage_err("--interval/--count: only for monitor, not %s", cmd);

	if (!strcmp(cmd, "cleanup")) {
		if (nargs)
			return usage_err("%s: unexpected argument", args[0]);
		return datapath_cleanup(c.bpffs) ? 1 : 0;
	}

	/* Validate arguments before touching maps, so usage errors are exit 2. */
	struct steer_quar_val qv = { .origin = STEER_ORIGIN_MANUAL, .action = STEER_ACT_DRAIN };
	struct steer_backend_val be[STEER_MAX_BACKENDS_PER_SVC < 64 ? 1 : 64];
	struct steer_svc_key sk;
	uint32_t plen = 0;
	__be32 addr = 0;

	if (!strcmp(cmd, "status") || !strcmp(cmd, "list") || !strcmp(cmd, "services")) {
		if (nargs)
			return usage_err("%s: unexpected argument", args[0]);
	} else if (!strcmp(cmd, "monitor")) {
		char *end;

		if (nargs)
			return usage_err("%s: unexpected argument", args[0]);
		if (interval) {
			errno = 0;
			mon.interval_s = strtod(interval, &end);
			if (errno || *end || end == interval || !(mon.interval_s >= 0.01) ||
			    mon.interval_s > 86400)
				return usage_err("--interval: \"%s\" is not 0.01..86400 seconds",
						 interval);
		}
		if (count) {
			errno = 0;
			mon.count = strtol(count, &end, 10);
			if (errno || *end || end == count || mon.count < 1)
				return usage_err("--count: \"%s\" is not a positive integer", count);
		}
		mon.json = c.json;
	} else if (!strcmp(cmd, "quarantine") || !strcmp(cmd, "release")) {
		if (nargs != 1)
			return usage_err("%s: needs exactly one ADDR", cmd);
		if (addr_parse_ipv4(args[0], &addr))
			return usage_err("ADDR: \"%s\" is not an IPv4 address", args[0]);
		if (action && addr_parse_action(action, &qv.action))
			return usage_err("--action: \"%s\" is not drain, drop or reset", action);
	} else if (!strcmp(cmd, "service")) {
		if (nargs < 2 || (strcmp(args[0], "set") && strcmp(args[0], "del")))
			return usage_err("%s", "service: expected set VIP:PORT/PROTO BACKEND:PORT... or del VIP:PORT/PROTO");
		if (addr_parse_svc(args[1], &sk))
			return usage_err("VIP:PORT/PROTO: \"%s\" is not IPv4:port/tcp|udp", args[1]);
		if (!strcmp(args[0], "del") && nargs != 2)
			return usage_err("%s: unexpected argument", args[2]);
		for (int i = 2; i < nargs; i++)
			if (addr_parse_backend(args[i], &be[i - 2]))
				return usage_err("BACKEND:PORT: \"%s\" is not IPv4:port", args[i]);
	} else if (!strcmp(cmd, "exempt")) {
		if (nargs == 1 && !strcmp(args[0], "list")) {
			/* read command */
		} else if (nargs != 2 || (strcmp(args[0], "add") && strcmp(args[0], "del"))) {
			return usage_err("%s", "exempt: expected add|del CIDR or list");
		} else if (addr_parse_cidr(args[1], &addr, &plen)) {
			return usage_err("CIDR: \"%s\" is not an IPv4 CIDR", args[1]);
		}
	} else {
		return usage_err("%s: unknown command (see steerctl --help)", cmd);
	}

	if (open_maps(&c))
		return 1;
	err = 0;
	if (!strcmp(cmd, "status")) {
		err = cmd_status(&c);
	} else if (!strcmp(cmd, "monitor")) {
		err = monitor_run(&c.maps, &mon);
	} else if (!strcmp(cmd, "list")) {
		err = cmd_list(&c);
	} else if (!strcmp(cmd, "services")) {
		err = cmd_services(&c);
	} else if (!strcmp(cmd, "quarantine")) {
		struct steer_quar_val old;

		/* Keep the original start time when only the action changes. */
		qv.since = maps_quar_get(&c.maps, addr, &old) ? wall_ns() : old.since;
		err = maps_quar_set(&c.maps, addr, &qv);
		err = err ? runtime_err("quarantine", args[0], err) : 0;
	} else if (!strcmp(cmd, "release")) {
		err = maps_quar_del(&c.maps, addr);
		if (err == -ENOENT) {
			fprintf(stderr, "steerctl: release %s: not quarantined\n", args[0]);
			err = 1;
		} else {
			err = err ? runtime_err("release", args[0], err) : 0;
		}
	} else if (!strcmp(cmd, "service")) {
		if (!strcmp(args[0], "set"))
			err = maps_svc_set(&c.maps, &sk, be, nargs - 2, STEER_ORIGIN_MANUAL, 0);
		else
			err = maps_svc_del(&c.maps, &sk);
		err = err ? runtime_err(args[0][0] == 's' ? "set service" : "delete service",
					args[1], err) : 0;
	} else if (!strcmp(cmd, "exempt")) {
		if (!strcmp(args[0], "list"))
			err = cmd_exempt_list(&c);
		else if (!strcmp(args[0], "add"))
			err = maps_exempt_set(&c.maps, addr, plen, STEER_ORIGIN_MANUAL);
		else
			err = maps_exempt_del(&c.maps, addr, plen);
		if (err < 0)
			err = runtime_err(args[0][0] == 'a' ? "add exempt" : "delete exempt",
					  args[1], err);
	}
	maps_close(&c.maps);
	return err;
}
