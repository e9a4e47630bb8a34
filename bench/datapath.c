// SPDX-License-Identifier: MIT
/*
 * Datapath benchmarks, all in one run and in a private netns, each beside
 * an empty program of the same type measured the same way in the same run:
 *  - tc ns/packet (BPF_PROG_TEST_RUN with repeat): egress (towards a pod)
 *    for a destination that is not quarantined and one that is, IPv4 and
 *    IPv6; ingress (from a pod) for a segment and for a SYN, which is
 *    recorded;
 *  - connect4 and connect6 ns/call from the kernel's own accounting
 *    (bpf_stats), not steered and steered, attached to a private cgroup;
 *  - connect() latency over loopback: direct without programs, direct with
 *    connect4 attached (the untouched path), and through a steered VIP.
 * usage: bench_datapath [RESULTS.jsonl]  (appends JSON lines)
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "lib/addr.h"
#include "lib/log.h"
#include "lib/loop.h"

#define TC_REPEAT	2000000
#define CONNECTS	4000
#define ROUNDS		5
#define PORT		9000

static FILE *jf;

static void result(const char *name, double v, const char *unit, double base)
{
	if (base > 0)
		printf("%-34s %10.1f %-4s  baseline %8.1f  ratio %5.2f\n", name, v, unit, base,
		       v / base);
	else
		printf("%-34s %10.1f %-4s\n", name, v, unit);
	if (!jf)
		return;
	if (base > 0)
		fprintf(jf, "{\"name\":\"%s\",\"value\":%.2f,\"unit\":\"%s\",\"baseline\":%.2f,"
			"\"ratio\":%.3f}\n", name, v, unit, base, v / base);
	else
		fprintf(jf, "{\"name\":\"%s\",\"value\":%.2f,\"unit\":\"%s\",\"baseline\":null,"
			"\"ratio\":null}\n", name, v, unit);
}

/* A TCP segment from src to dst, IPv6 when the addresses are. */
static double tc_ns(int prog, const char *src, const char *dst, bool syn)
{
	unsigned char pkt[ETH_HLEN + sizeof(struct ipv6hdr) + sizeof(struct tcphdr)] = {};
	struct ethhdr *eth = (void *)pkt;
	struct iphdr *ip = (void *)(pkt + ETH_HLEN);
	struct ipv6hdr *ip6 = (void *)(pkt + ETH_HLEN);
	bool v6 = strchr(src, ':');
	struct tcphdr *th = v6 ? (void *)(ip6 + 1) : (void *)(ip + 1);
	struct __sk_buff ctx = { .ingress_ifindex = 1 };
	size_t len = (unsigned char *)(th + 1) - pkt;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = TC_REPEAT);

	if (v6) {
		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->nexthdr = IPPROTO_TCP;
		ip6->hop_limit = 64;
		ip6->payload_len = htons(sizeof(*th));
		inet_pton(AF_INET6, src, &ip6->saddr);
		inet_pton(AF_INET6, dst, &ip6->daddr);
	} else {
		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->protocol = IPPROTO_TCP;
		ip->tot_len = htons(sizeof(*ip) + sizeof(*th));
		ip->saddr = inet_addr(src);
		ip->daddr = inet_addr(dst);
	}
	th->doff = 5;
	th->syn = syn;
	th->ack = !syn;
	if (bpf_prog_test_run_opts(prog, &o))
		return -1;
	return o.duration;	/* the kernel already divides by repeat */
}

/* The baseline: a program of the same type that only returns rc. */
static int empty_prog(enum bpf_prog_type type, enum bpf_attach_type attach, int rc)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = rc },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = attach);

	return bpf_prog_load(type, "bench_empty", "GPL", insns, 2, &o);
}

/* connect() latency to ip:port (either family; lfd listens on ::, both). */
static double connect_ns(const char *ip, int port, int lfd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	bool v6 = strchr(ip, ':');
	struct sockaddr *to = v6 ? (void *)&sa6 : (void *)&sa;
	socklen_t tolen = v6 ? sizeof(sa6) : sizeof(sa);
	uint64_t total = 0;

	if (v6)
		inet_pton(AF_INET6, ip, &sa6.sin6_addr);
	else
		inet_pton(AF_INET, ip, &sa.sin_addr);
	for (int i = 0; i < CONNECTS; i++) {
		int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), afd;
		uint64_t t0;

		t0 = now_ns();
		if (connect(fd, to, tolen)) {
			perror("connect");
			close(fd);
			return -1;
		}
		total += now_ns() - t0;
		afd = accept(lfd, NULL, NULL);
		close(afd);
		close(fd);
	}
	return (double)total / CONNECTS;
}

/* The kernel's own accounting (bpf_stats): run time and count of a program. */
static void prog_stats(int prog, uint64_t *ns, uint64_t *cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	*ns = *cnt = 0;
	if (!bpf_obj_get_info_by_fd(prog, &info, &len)) {
		*ns = info.run_time_ns;
		*cnt = info.run_cnt;
	}
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int median_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), median_cmp);
	return v[n / 2];
}

/* connect4 ns per call, from bpf_stats, while connecting n times to ip:port. */
static double prog_connect_ns(int prog, const char *ip, int port, int lfd, double *wall)
{
	uint64_t ns0, cnt0, ns1, cnt1;

	prog_stats(prog, &ns0, &cnt0);
	*wall = connect_ns(ip, port, lfd);
	prog_stats(prog, &ns1, &cnt1);
	return cnt1 > cnt0 ? (double)(ns1 - ns0) / (cnt1 - cnt0) : -1;
}

enum { TC_EMPTY, TC_PASS, TC_QUAR, TC_PASS6, TC_QUAR6, TC_IN_SEG, TC_IN_SYN, TC_N };
/* connect4 then connect6: empty, not steered, steered each. */
enum { C_EMPTY, C_PASS, C_STEER, C6_EMPTY, C6_PASS, C6_STEER, C_N };

/* One connect hook's three figures, the empty program's first. */
static int connect_round(int empty, int prog, enum bpf_attach_type at, int cgfd, int lfd,
			 const char *direct_ip, const char *vip, double *pc, double *wall)
{
	if (bpf_prog_attach(empty, cgfd, at, 0)) {
		perror("attach the empty connect program to the bench cgroup");
		return -1;
	}
	pc[0] = prog_connect_ns(empty, direct_ip, PORT, lfd, &wall[0]);
	bpf_prog_detach2(empty, cgfd, at);
	if (bpf_prog_attach(prog, cgfd, at, 0)) {
		perror("attach the connect program to the bench cgroup");
		return -1;
	}
	pc[1] = prog_connect_ns(prog, direct_ip, PORT, lfd, &wall[1]);
	pc[2] = prog_connect_ns(prog, vip, 80, lfd, &wall[2]);
	bpf_prog_detach2(prog, cgfd, at);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const tc_names[TC_N] = {
		"tc_empty_prog", "tc_egress_not_quarantined", "tc_egress_quarantined",
		"tc_egress6_not_quarantined", "tc_egress6_quarantined",
		"tc_ingress_segment", "tc_ingress_syn_recorded",
	};
	static const char *const c_names[C_N] = {
		"connect4_ns_empty_prog", "connect4_ns_not_steered", "connect4_ns_steered",
		"connect6_ns_empty_prog", "connect6_ns_not_steered", "connect6_ns_steered",
	};
	struct steer_quar_val qv = { .action = STEER_ACT_DRAIN };
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(PORT),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct steer_svc_key sk = { .port = htons(80), .proto = 6 }, sk6 = sk;
	struct steer_backend_val be = { .port = htons(PORT) }, be6 = be;
	char cgroot[PATH_MAX], cg[PATH_MAX + 32], pid[32];
	double tc[TC_N][ROUNDS], pc[C_N][ROUNDS], wall[C_N][ROUNDS], direct = 0;
	double tcm[TC_N], pcm[C_N] = { 0 }, wallm[C_N] = { 0 };
	int progs[TC_N], connect4, connect6;
	struct datapath *dp = NULL;
	const struct steer_maps *m;
	int lfd = -1, cgfd = -1, one = 1, zero = 0, err = 1, stats_fd = -1, empty_tc, empty_c4;
	int empty_c6;
	struct steer_addr qv_addr4, qv_addr6;

	log_setup_libbpf();
	if (argc > 1 && !(jf = fopen(argv[1], "a"))) {
		perror(argv[1]);
		return 1;
	}
	if (unshare(CLONE_NEWNET) || system("ip link set lo up")) {
		perror("private netns");
		return 1;
	}
	if (datapath_open(&dp, &(struct datapath_opts){ 0 }))
		return 1;
	m = datapath_maps(dp);
	addr_parse_ip("10.244.1.7", &qv_addr4);
	addr_parse_ip("fd00:244:1::7", &qv_addr6);
	maps_quar_set(m, &qv_addr4, &qv);
	maps_quar_set(m, &qv_addr6, &qv);
	addr_parse_ip("10.96.0.10", &sk.vip);
	addr_parse_ip("127.0.0.1", &be.addr);
	addr_parse_ip("fd00:96::10", &sk6.vip);
	addr_parse_ip("::1", &be6.addr);
	empty_tc = empty_prog(BPF_PROG_TYPE_SCHED_CLS, 0, 0);
	empty_c4 = empty_prog(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 1);
	empty_c6 = empty_prog(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, 1);
	if (empty_tc < 0 || empty_c4 < 0 || empty_c6 < 0) {
		perror("load the empty baseline programs");
		goto cleanup;
	}
	progs[TC_EMPTY] = empty_tc;
	progs[TC_PASS] = progs[TC_QUAR] = datapath_prog_fd(dp, DATAPATH_PROG_TC);
	progs[TC_PASS6] = progs[TC_QUAR6] = progs[TC_PASS];
	progs[TC_IN_SEG] = progs[TC_IN_SYN] = datapath_prog_fd(dp, DATAPATH_PROG_TC_INGRESS);
	/* Alternating rounds, median of each: drift on a shared machine hits all alike. */
	for (int r = 0; r < ROUNDS; r++) {
		tc[TC_EMPTY][r] = tc_ns(progs[TC_EMPTY], "10.244.2.3", "10.244.1.8", false);
		tc[TC_PASS][r] = tc_ns(progs[TC_PASS], "10.244.2.3", "10.244.1.8", false);
		tc[TC_QUAR][r] = tc_ns(progs[TC_QUAR], "10.244.2.3", "10.244.1.7", false);
		tc[TC_PASS6][r] = tc_ns(progs[TC_PASS6], "fd00:244:2::3", "fd00:244:1::8", false);
		tc[TC_QUAR6][r] = tc_ns(progs[TC_QUAR6], "fd00:244:2::3", "fd00:244:1::7", false);
		tc[TC_IN_SEG][r] = tc_ns(progs[TC_IN_SEG], "10.244.1.8", "10.244.2.3", false);
		/* The same SYN each time: recorded once, then found (lookup, no update). */
		tc[TC_IN_SYN][r] = tc_ns(progs[TC_IN_SYN], "10.244.1.8", "10.244.2.3", true);
	}
	for (int i = 0; i < TC_N; i++)
		tcm[i] = median(tc[i], ROUNDS);

	/* One listener on :: for both families (dual-stack). */
	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1024)) {
		perror("listen");
		goto cleanup;
	}

	/* A private child cgroup: never the real root, other tests share it. */
	if (datapath_find_cgroup2(cgroot, sizeof(cgroot))) {
		fprintf(stderr, "no cgroup2: skipping the socket benchmarks\n");
		direct = connect_ns("127.0.0.1", PORT, lfd);
		err = 0;
		goto print;
	}
	snprintf(cg, sizeof(cg), "%s/steer-bench-%d", cgroot, getpid());
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (mkdir(cg, 0755) || (cgfd = open(cg, O_RDONLY | O_DIRECTORY)) < 0) {
		perror(cg);
		goto cleanup;
	}
	strcat(cg, "/cgroup.procs");
	if (write_file(cg, pid)) {
		perror("join the bench cgroup");
		goto restore;
	}
	maps_svc_set(m, &sk, &be, 1, STEER_ORIGIN_MANUAL, 0);
	maps_svc_set(m, &sk6, &be6, 1, STEER_ORIGIN_MANUAL, 0);
	connect4 = datapath_prog_fd(dp, DATAPATH_PROG_CONNECT4);
	connect6 = datapath_prog_fd(dp, DATAPATH_PROG_CONNECT6);
	/*
	 * Wall-clock connect() differences are noise-bound; the kernel's
	 * per-program accounting gives what connect4 itself costs per call.
	 */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		fprintf(stderr, "bpf_stats: %s; no per-call figures\n", strerror(errno));
	for (int r = 0; r < ROUNDS; r++) {
		double d = connect_ns("127.0.0.1", PORT, lfd);

		double p[3], w[3];

		direct = r && direct < d ? direct : d;
		if (connect_round(empty_c4, connect4, BPF_CGROUP_INET4_CONNECT, cgfd, lfd,
				  "127.0.0.1", "10.96.0.10", p, w))
			goto restore;
		for (int i = 0; i < 3; i++) {
			pc[C_EMPTY + i][r] = p[i];
			wall[C_EMPTY + i][r] = w[i];
		}
		if (connect_round(empty_c6, connect6, BPF_CGROUP_INET6_CONNECT, cgfd, lfd,
				  "::1", "fd00:96::10", p, w))
			goto restore;
		for (int i = 0; i < 3; i++) {
			pc[C6_EMPTY + i][r] = p[i];
			wall[C6_EMPTY + i][r] = w[i];
		}
	}
	for (int c = 0; c < C_N; c++) {
		pcm[c] = median(pc[c], ROUNDS);
		wallm[c] = median(wall[c], ROUNDS);
	}

	err = 0;
restore:
	snprintf(cg, sizeof(cg), "%s/cgroup.procs", cgroot);
	write_file(cg, pid);
	snprintf(cg, sizeof(cg), "%s/steer-bench-%d", cgroot, getpid());
	rmdir(cg);
	if (err)
		goto cleanup;
print:
	printf("%-34s %10s %-4s\n", "benchmark", "value", "unit");
	result("tc_ns_empty_prog", tcm[TC_EMPTY], "ns", 0);
	for (int i = TC_PASS; i < TC_N; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s_ns", tc_names[i]);
		result(name, tcm[i], "ns", tcm[TC_EMPTY]);
		snprintf(name, sizeof(name), "%s_added_ns", tc_names[i]);
		result(name, tcm[i] - tcm[TC_EMPTY], "ns", 0);
	}
	result("connect_direct_no_progs", direct, "ns", 0);
	if (cgfd >= 0 && stats_fd >= 0) {
		for (int e = C_EMPTY; e <= C6_EMPTY; e += C6_EMPTY) {
			char name[64];

			result(c_names[e], pcm[e], "ns", 0);
			for (int i = e + 1; i <= e + 2; i++) {
				result(c_names[i], pcm[i], "ns", pcm[e]);
				/* connect4_ns_steered -> connect4_steered_added_ns */
				snprintf(name, sizeof(name), "%.8s%s_added_ns", c_names[i],
					 c_names[i] + strlen("connect4_ns"));
				result(name, pcm[i] - pcm[e], "ns", 0);
			}
		}
		result("connect_with_empty_connect4", wallm[C_EMPTY], "ns", direct);
		result("connect_not_steered", wallm[C_PASS], "ns", wallm[C_EMPTY]);
		result("connect_steered_vip", wallm[C_STEER], "ns", wallm[C_EMPTY]);
	}
cleanup:
	if (stats_fd >= 0)
		close(stats_fd);
	if (cgfd >= 0)
		close(cgfd);
	if (lfd >= 0)
		close(lfd);
	datapath_close(dp);
	if (jf)
		fclose(jf);
	return err;
}
