// SPDX-License-Identifier: MIT
/*
 * steerd: loads and attaches steer's datapath, then runs the control plane
 * on the event loop. Enforcement never depends on steerd running: maps and
 * links are pinned, and exit leaves them in place.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "datapath/cleanup.h"
#include "datapath/datapath.h"
#include "datapath/reconcile.h"
#include "httpd.h"
#include "lib/addr.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "metrics.h"

#define MAX_EXEMPT 64

struct steerd_opts {
	struct control_opts ctl;
	const char *bpffs;
	const char *cgroup;
	const char *pods_cgroup;
	const char *iface_glob;
	const char *metrics_addr;
	bool standalone;
	bool cleanup;
	struct steer_exempt_key exempt[MAX_EXEMPT];
	uint32_t n_exempt;
};

static const char usage_text[] =
"usage: steerd [OPTION]...\n"
"Enforce pod quarantine on this node with eBPF and steer Services away from it.\n"
"\n"
"  --standalone              run the datapath only, without the API server watch\n"
"  --cleanup                 remove every pin, link, tc filter and qdisc steer made, then exit\n"
"  --kubeconfig FILE         kubeconfig to reach the API server (default: in-cluster)\n"
"  --node-name NAME          this node's name (default: $NODE_NAME)\n"
"  --quarantine-selector SEL label selector that quarantines a pod explicitly\n"
"                            (default: steer.dev/quarantine)\n"
"  --default-action ACTION   drain, drop or reset, when a pod has no steer.dev/action\n"
"                            annotation (default: drain)\n"
"  --no-departure            do not quarantine pods that left a Service's selector\n"
"  --settle SECS             how long a Service stays steered after its last\n"
"                            quarantined pod is released, so kube-proxy converges\n"
"                            first (default: 60)\n"
"  --resync-period SECS      full mark-and-sweep resync period (default: 300)\n"
"  --exempt-cidr CIDR        source CIDR always let into quarantined pods (repeatable)\n"
"  --bpffs DIR               pin directory (default: " STEER_BPFFS_DEFAULT ")\n"
"  --cgroup DIR              cgroup v2 directory for the socket programs\n"
"                            (default: the cgroup2 mount in /proc/mounts)\n"
"  --pods-cgroup DIR         the pods' cgroup v2 directory: processes outside it (kubelet,\n"
"                            system daemons) are exempt, hostNetwork pods are not\n"
"                            (default: kubepods.slice or kubepods under the cgroup2 mount)\n"
"  --iface-glob GLOB         attach tc only to veths whose name matches (default: all veths)\n"
"  --metrics-addr HOST:PORT  serve /metrics, /healthz and /readyz (default: off)\n"
"  -v, --verbose             debug logging, including libbpf's\n"
"  -h, --help                show this help\n"
"\n"
"SIGTERM and SIGINT stop steerd and leave enforcement in place.\n"
"Kernel features are probed at start (steerctl status lists them);\n"
"STEER_FEATURES_OFF=set_retval,cgroup_link,... turns some off, for tests.\n"
"Exit status: 0 on success, 1 on a runtime failure, 2 on a usage error.\n";

enum {
	OPT_STANDALONE = 256, OPT_CLEANUP, OPT_KUBECONFIG, OPT_NODE_NAME, OPT_QSEL,
	OPT_ACTION, OPT_NO_DEPARTURE, OPT_SETTLE, OPT_RESYNC, OPT_EXEMPT, OPT_BPFFS,
	OPT_CGROUP, OPT_PODS_CGROUP, OPT_IFACE_GLOB, OPT_METRICS,
};

static const struct option long_opts[] = {
	{ "standalone", no_argument, NULL, OPT_STANDALONE },
	{ "cleanup", no_argument, NULL, OPT_CLEANUP },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "node-name", required_argument, NULL, OPT_NODE_NAME },
	{ "quarantine-selector", required_argument, NULL, OPT_QSEL },
	{ "default-action", required_argument, NULL, OPT_ACTION },
	{ "no-departure", no_argument, NULL, OPT_NO_DEPARTURE },
	{ "settle", required_argument, NULL, OPT_SETTLE },
	{ "resync-period", required_argument, NULL, OPT_RESYNC },
	{ "exempt-cidr", required_argument, NULL, OPT_EXEMPT },
	{ "bpffs", required_argument, NULL, OPT_BPFFS },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "pods-cgroup", required_argument, NULL, OPT_PODS_CGROUP },
	{ "iface-glob", required_argument, NULL, OPT_IFACE_GLOB },
	{ "metrics-addr", required_argument, NULL, OPT_METRICS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{}
};

static void __attribute__((noreturn)) usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "steerd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see steerd --help)\n");
	exit(2);
}

static unsigned int parse_secs(const char *flag, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > 86400 * 365)
		usage_error("%s: expected a number of seconds", flag);
	return v;
}

static void parse_args(int argc, char **argv, struct steerd_opts *o)
{
	struct sockaddr_in sin;
	__u8 action;
	int c;

	o->bpffs = STEER_BPFFS_DEFAULT;
	o->ctl.node_name = getenv("NODE_NAME");
	o->ctl.quarantine_selector = "steer.dev/quarantine";
	o->ctl.default_action = STEER_ACT_DRAIN;
	o->ctl.settle_s = 60;
	o->ctl.resync_s = 300;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_STANDALONE: o->standalone = true; break;
		case OPT_CLEANUP: o->cleanup = true; break;
		case OPT_KUBECONFIG: o->ctl.kubeconfig = optarg; break;
		case OPT_NODE_NAME: o->ctl.node_name = optarg; break;
		case OPT_QSEL: o->ctl.quarantine_selector = optarg; break;
		case OPT_ACTION:
			if (addr_parse_action(optarg, &action))
				usage_error("--default-action: \"%s\" is not drain, drop or reset",
					    optarg);
			o->ctl.default_action = action;
			break;
		case OPT_NO_DEPARTURE: o->ctl.no_departure = true; break;
		case OPT_SETTLE: o->ctl.settle_s = parse_secs("--settle", optarg); break;
		case OPT_RESYNC: o->ctl.resync_s = parse_secs("--resync-period", optarg); break;
		case OPT_EXEMPT:
			if (o->n_exempt == MAX_EXEMPT)
				usage_error("--exempt-cidr: more than %s given", "64");
			if (addr_parse_cidr(optarg, &o->exempt[o->n_exempt].addr,
					    &o->exempt[o->n_exempt].prefixlen))
				usage_error("--exempt-cidr: \"%s\" is not an IPv4 or IPv6 CIDR", optarg);
			o->n_exempt++;
			break;
		case OPT_BPFFS:
			if (optarg[0] != '/')
				usage_error("--bpffs: \"%s\" is not an absolute path", optarg);
			o->bpffs = optarg;
			break;
		case OPT_CGROUP: o->cgroup = optarg; break;
		case OPT_PODS_CGROUP:
			if (optarg[0] != '/')
				usage_error("--pods-cgroup: \"%s\" is not an absolute path", optarg);
			o->pods_cgroup = optarg;
			break;
		case OPT_IFACE_GLOB: o->iface_glob = optarg; break;
		case OPT_METRICS:
			if (httpd_parse_addr(optarg, &sin))
				usage_error("--metrics-addr: \"%s\" is not HOST:PORT, e.g. 0.0.0.0:9767",
					    optarg);
			o->metrics_addr = optarg;
			break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("%s: needs an argument", argv[optind - 1]);
		default:
			usage_error("%s: unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("%s: unexpected argument", argv[optind]);
	if (!o->standalone && !o->cleanup && (!o->ctl.node_name || !*o->ctl.node_name))
		usage_error("%s: needed (or $NODE_NAME), unless --standalone", "--node-name");
}

struct scrape {
	struct datapath *dp;
	struct recon *recon;
	struct control *ctl;
};

static int serve_metrics(const char *path, struct strbuf *body, const char **ctype, void *arg)
{
	struct scrape *s = arg;

	agent_metrics.tc_attached = true;
	agent_metrics.sock_attached = datapath_sock_active(s->dp);
	agent_metrics.sock_detail = agent_metrics.sock_attached ? NULL :
				    "socket steering off (see steer_feature_enabled and the start log)";
	control_fill_metrics(s->ctl, &agent_metrics);
	metrics_fill_recon(&agent_metrics, s->recon);
	/* --standalone has no API to sync with: ready once attached. */
	if (!s->ctl)
		agent_metrics.synced = true;
	return metrics_http(path, body, ctype, (void *)datapath_maps(s->dp));
}

static void on_signal(struct loop *loop, int signo, void *arg)
{
	pr_info("got %s: exiting, enforcement stays in place", strsignal(signo));
	loop_stop(loop, 0);
}

int main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct steerd_opts o = {};
	struct control *ctl = NULL;
	struct datapath *dp = NULL;
	struct recon *recon = NULL;
	struct httpd *httpd = NULL;
	struct loop *loop = NULL;
	struct scrape scrape;
	int err;

	parse_args(argc, argv, &o);
	log_setup_libbpf();

	if (o.cleanup) {
		err = datapath_cleanup(o.bpffs, o.cgroup);
		if (!err)
			pr_info("removed everything steer made under %s", o.bpffs);
		return err ? 1 : 0;
	}

	loop = loop_new();
	if (!loop) {
		pr_warn("create event loop: %s", strerror(errno));
		return 1;
	}
	err = loop_signals(loop, sigs, 2, on_signal, NULL);
	if (err) {
		pr_warn("set up signals: %s", strerror(-err));
		goto cleanup;
	}
	err = datapath_open(&dp, &(struct datapath_opts){
		.bpffs = o.bpffs, .cgroup = o.cgroup, .iface_glob = o.iface_glob,
		.pods_cgroup = o.pods_cgroup });
	if (err)
		goto cleanup;
	/* The one writer of the maps, from here on. */
	recon = recon_new(&recon_maps_ops, (void *)datapath_maps(dp),
			  &(struct recon_opts){ .loop = loop });
	if (!recon) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = datapath_attach(dp, loop, recon);
	if (err)
		goto cleanup;
	if (!datapath_sock_active(dp))
		pr_warn("socket steering is off: only tc enforcement on pod veths is active");
	/* A failed write is retried; the flags' CIDRs are not worth a failed start. */
	recon_exempt(recon, o.exempt, o.n_exempt);

	if (!o.standalone) {
		err = control_start(&ctl, loop, recon, &o.ctl);
		if (err) {
			/* Fail-static: what is in the maps keeps being enforced. */
			pr_warn("start control plane: %s; enforcing the current maps only",
				strerror(-err));
			ctl = NULL;
		}
	}
	if (o.metrics_addr) {
		scrape = (struct scrape){ .dp = dp, .recon = recon, .ctl = ctl };
		err = httpd_start(&httpd, loop, o.metrics_addr, serve_metrics, &scrape);
		if (err) {
			pr_warn("metrics on %s: %s; running without them", o.metrics_addr,
				strerror(-err));
			httpd = NULL;
		}
	}
	pr_info("steerd running: bpffs=%s%s", o.bpffs, o.standalone ? " standalone" : "");
	err = loop_run(loop);
	if (err < 0)
		pr_warn("event loop: %s", strerror(-err));

cleanup:
	httpd_stop(httpd);
	if (ctl)
		control_stop(ctl);
	recon_free(recon);
	datapath_close(dp);
	loop_free(loop);
	return err ? 1 : 0;
}
