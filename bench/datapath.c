// SPDX-License-Identifier: MIT
/*
 * Datapath benchmarks, all in one run and in a private netns:
 *  - tc program ns/packet (BPF_PROG_TEST_RUN with repeat) for a destination
 *    that is not quarantined and one that is;
 *  - connect() latency over loopback: direct without programs, direct with
 *    the socket programs attached (the untouched path), and through a
 *    steered VIP.
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

static double tc_ns(int prog, const char *dst)
{
	unsigned char pkt[ETH_HLEN + sizeof(struct iphdr) + sizeof(struct tcphdr)] = {};
	struct ethhdr *eth = (void *)pkt;
	struct iphdr *ip = (void *)(pkt + ETH_HLEN);
	struct tcphdr *th = (void *)(ip + 1);
	struct __sk_buff ctx = { .ingress_ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = TC_REPEAT);

	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*th));
	ip->saddr = inet_addr("10.244.2.3");
	ip->daddr = inet_addr(dst);
	th->doff = 5;
	th->ack = 1;
	if (bpf_prog_test_run_opts(prog, &o))
		return -1;
	return o.duration;	/* the kernel already divides by repeat */
}

static double connect_ns(const char *ip, int port, int lfd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	uint64_t total = 0;

	inet_pton(AF_INET, ip, &sa.sin_addr);
	for (int i = 0; i < CONNECTS; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0), afd;
		uint64_t t0;

		t0 = now_ns();
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
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

int main(int argc, char **argv)
{
	struct steer_quar_val qv = { .action = STEER_ACT_DRAIN };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct steer_svc_key sk = { .vip = inet_addr("10.96.0.10"), .port = htons(80),
				    .proto = 6 };
	struct steer_backend_val be = { .addr = htonl(INADDR_LOOPBACK), .port = htons(PORT) };
	char cgroot[PATH_MAX], cg[PATH_MAX + 32], pid[32];
	double pass, quar, direct, direct_prog, steered, prog_pass = 0, prog_steer = 0;
	uint64_t ns0, cnt0, ns1, cnt1, pass_ns = 0, pass_cnt = 0, steer_ns = 0, steer_cnt = 0;
	int stats_fd;
	struct datapath *dp = NULL;
	const struct steer_maps *m;
	int lfd = -1, cgfd = -1, one = 1, err = 1, prog;

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
	maps_quar_set(m, inet_addr("10.244.1.7"), &qv);
	prog = datapath_prog_fd(dp, DATAPATH_PROG_TC);
	pass = tc_ns(prog, "10.244.1.8");
	quar = tc_ns(prog, "10.244.1.7");

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
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
	/*
	 * Interleaved rounds, best of each: a loopback connect is ~tens of us
	 * on a shared machine, so drift between phases would swamp the
	 * sub-microsecond differences we are after.
	 */
	/*
	 * Wall-clock connect() differences are noise-bound; the kernel's
	 * per-program accounting gives what connect4 itself adds per call.
	 */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	direct = direct_prog = steered = 1e18;
	for (int r = 0; r < ROUNDS; r++) {
		double v;

		v = connect_ns("127.0.0.1", PORT, lfd);
		direct = v < direct ? v : direct;
		if (bpf_prog_attach(datapath_prog_fd(dp, DATAPATH_PROG_CONNECT4), cgfd,
				    BPF_CGROUP_INET4_CONNECT, 0)) {
			perror("attach connect4 to the bench cgroup");
			goto restore;
		}
		prog_stats(datapath_prog_fd(dp, DATAPATH_PROG_CONNECT4), &ns0, &cnt0);
		v = connect_ns("127.0.0.1", PORT, lfd);
		direct_prog = v < direct_prog ? v : direct_prog;
		prog_stats(datapath_prog_fd(dp, DATAPATH_PROG_CONNECT4), &ns1, &cnt1);
		pass_ns += ns1 - ns0;
		pass_cnt += cnt1 - cnt0;
		v = connect_ns("10.96.0.10", 80, lfd);
		steered = v < steered ? v : steered;
		prog_stats(datapath_prog_fd(dp, DATAPATH_PROG_CONNECT4), &ns0, &cnt0);
		steer_ns += ns0 - ns1;
		steer_cnt += cnt0 - cnt1;
		bpf_prog_detach2(datapath_prog_fd(dp, DATAPATH_PROG_CONNECT4), cgfd,
				 BPF_CGROUP_INET4_CONNECT);
	}
	if (stats_fd >= 0)
		close(stats_fd);
	if (pass_cnt && steer_cnt) {
		prog_pass = (double)pass_ns / pass_cnt;
		prog_steer = (double)steer_ns / steer_cnt;
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
	result("tc_ns_per_packet_not_quarantined", pass, "ns", 0);
	result("tc_ns_per_packet_quarantined", quar, "ns", pass);
	result("connect_direct_no_progs", direct, "ns", 0);
	if (cgfd >= 0) {
		result("connect_direct_with_progs", direct_prog, "ns", direct);
		result("connect_steered_vip", steered, "ns", direct);
		result("connect_added_by_steering", steered - direct, "ns", 0);
	}
	if (prog_steer > 0) {
		result("connect4_prog_ns_not_steered", prog_pass, "ns", 0);
		result("connect4_prog_ns_steered", prog_steer, "ns", 0);
	}
cleanup:
	if (cgfd >= 0)
		close(cgfd);
	if (lfd >= 0)
		close(lfd);
	datapath_close(dp);
	if (jf)
		fclose(jf);
	return err;
}
