// SPDX-License-Identifier: MIT
/*
 * Table-driven BPF_PROG_TEST_RUN of the tc program (every action x packet
 * kind x exemption), and of the socket decision helpers through
 * tests/bpf/test_sock_decide.bpf.c.
 */
#include "harness.h"
#include "../bpf/sock_decide_test.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "test_sock_decide.skel.h"

#define POD	"10.244.1.7"	/* quarantined */
#define OTHER	"10.244.1.8"	/* not quarantined */
#define CLIENT	"10.244.2.3"
#define DEBUG_NET "172.16.0.0"	/* exempt /12 */
#define DEBUGGER "172.16.5.5"
#define FWD_IFINDEX 1		/* lo: any non-zero arrival ifindex */

/* data sits 2 bytes into a 4-aligned struct, so the IPv4 header is aligned. */
struct pkt_buf {
	__u16 align;
	unsigned char data[256];
	__u32 len;
} __attribute__((aligned(4)));

enum kind {
	K_SYN, K_SYN_OPTS_DATA, K_SYN_FIN, K_SYN_RST, K_SYNACK, K_ACK, K_FIN, K_RST,
	K_UDP, K_ICMP_ECHO, K_ICMP_UNREACH,
	K_OTHER_PROTO, K_NON_IP, K_FRAG_FIRST, K_FRAG_LATER, K_TRUNC_TCP, K_TRUNC_IP,
	K_MAX,
};

/*
 * V_SHOT: dropped, nothing answered. V_REFUSE: dropped, and the sender
 * gets a RST+ACK reflected, as from a closed port.
 */
enum exp_verdict { V_PASS, V_SHOT, V_RST, V_REFUSE };

struct row {
	const char *desc;
	enum kind kind;
	/* Per action: drain, drop, reset (enum steer_action order). */
	enum exp_verdict v[STEER_ACT_MAX];
	enum steer_reason r[STEER_ACT_MAX];
	bool ip_ok;	/* destination readable, so exemptions and qstats apply */
};

#define P V_PASS
#define S V_SHOT
#define R V_RST
#define F V_REFUSE
static const struct row rows[] = {
	{ "tcp syn", K_SYN, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn, options and data", K_SYN_OPTS_DATA, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn+fin", K_SYN_FIN, { F, S, F },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn+rst (never answered)", K_SYN_RST, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "tcp syn-ack", K_SYNACK, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp ack+data", K_ACK, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp fin", K_FIN, { P, S, R },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_RESET }, true },
	{ "tcp rst", K_RST, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "udp", K_UDP, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "icmp echo", K_ICMP_ECHO, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "icmp unreachable", K_ICMP_UNREACH, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "sctp", K_OTHER_PROTO, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "arp (non-ip)", K_NON_IP, { P, P, P },
	  { STEER_R_NON_IP, STEER_R_NON_IP, STEER_R_NON_IP }, false },
	{ "udp first fragment", K_FRAG_FIRST, { S, S, S },
	  { STEER_R_DROP_NEW, STEER_R_DROP, STEER_R_DROP_NEW }, true },
	{ "later fragment", K_FRAG_LATER, { P, S, P },
	  { STEER_R_PASS_ESTABLISHED, STEER_R_DROP, STEER_R_PASS_ESTABLISHED }, true },
	{ "truncated tcp", K_TRUNC_TCP, { S, S, S },
	  { STEER_R_MALFORMED, STEER_R_DROP, STEER_R_MALFORMED }, true },
	{ "bogus ip header (ihl 4)", K_TRUNC_IP, { P, P, P },
	  { STEER_R_MALFORMED, STEER_R_MALFORMED, STEER_R_MALFORMED }, false },
};
#undef P
#undef S
#undef R
#undef F

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __u32 csum_add(__u32 sum, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

/* Fills in the IPv4 and L4 checksums from scratch. */
static void fix_csums(struct pkt_buf *b)
{
	struct iphdr *ip = (void *)(b->data + ETH_HLEN);
	unsigned char *l4 = b->data + ETH_HLEN + sizeof(*ip);
	size_t l4len = b->len - ETH_HLEN - sizeof(*ip);
	__u16 *check = NULL;
	__u32 sum = 0;

	ip->check = 0;
	ip->check = htons(csum_fold(csum_add(0, ip, sizeof(*ip))));
	if (ip->protocol == IPPROTO_TCP && l4len >= sizeof(struct tcphdr))
		check = &((struct tcphdr *)l4)->check;
	else if (ip->protocol == IPPROTO_UDP && l4len >= sizeof(struct udphdr))
		check = &((struct udphdr *)l4)->check;
	if (!check || (ntohs(ip->frag_off) & 0x1fff))
		return;
	*check = 0;
	sum = csum_add(sum, &ip->saddr, 8);
	sum += ip->protocol + l4len;
	sum = csum_add(sum, l4, l4len);
	*check = htons(csum_fold(sum));
}

static void build(struct pkt_buf *b, enum kind k, const char *src, const char *dst)
{
	struct ethhdr *eth = (void *)b->data;
	struct iphdr *ip = (void *)(b->data + ETH_HLEN);
	unsigned char *l4 = b->data + ETH_HLEN + sizeof(*ip);
	struct tcphdr *th = (void *)l4;
	struct udphdr *uh = (void *)l4;
	size_t l4len = 0;

	memset(b, 0, sizeof(*b));
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	if (k == K_NON_IP) {
		eth->h_proto = htons(ETH_P_ARP);
		b->len = ETH_HLEN + 28;
		return;
	}
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 63;
	ip->saddr = inet_addr(src);
	ip->daddr = inet_addr(dst);
	ip->protocol = IPPROTO_TCP;
	switch (k) {
	case K_SYN: case K_SYN_OPTS_DATA: case K_SYN_FIN: case K_SYN_RST:
	case K_SYNACK: case K_ACK: case K_FIN: case K_RST: case K_TRUNC_TCP: {
		bool syn = k == K_SYN || k == K_SYN_OPTS_DATA || k == K_SYN_FIN ||
			   k == K_SYN_RST;

		th->source = htons(40000);
		th->dest = htons(80);
		th->seq = htonl(1000);
		th->ack_seq = htonl(syn ? 0 : 2000);
		th->doff = 5;
		th->window = htons(512);
		th->syn = syn || k == K_SYNACK;
		th->ack = !syn;
		th->fin = k == K_FIN || k == K_SYN_FIN;
		th->rst = k == K_RST || k == K_SYN_RST;
		l4len = sizeof(*th);
		if (k == K_SYN_OPTS_DATA) {
			/*
			 * A client's usual options (MSS, NOP NOP timestamps,
			 * NOP window scale), then data as with Fast Open.
			 */
			static const unsigned char opts[20] = {
				2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0x30, 0x39,
				0, 0, 0, 0, 1, 3, 3, 7 };

			memcpy(l4 + l4len, opts, sizeof(opts));
			th->doff = 10;
			l4len += sizeof(opts);
			memcpy(l4 + l4len, "GET / HTTP/1.1\r\n", 16);
			l4len += 16;
		}
		if (k == K_ACK) {
			memcpy(l4 + l4len, "GET / HTTP/1.1\r\n", 16);
			th->psh = 1;
			l4len += 16;
		}
		if (k == K_TRUNC_TCP)
			l4len = 10;
		break;
	}
	case K_UDP: case K_FRAG_FIRST: case K_FRAG_LATER:
		ip->protocol = IPPROTO_UDP;
		uh->source = htons(5353);
		uh->dest = htons(53);
		l4len = sizeof(*uh) + 8;
		uh->len = htons(l4len);
		memcpy(l4 + sizeof(*uh), "question", 8);
		if (k == K_FRAG_FIRST)
			ip->frag_off = htons(0x2000);	/* MF */
		if (k == K_FRAG_LATER)
			ip->frag_off = htons(185);	/* offset 1480 bytes */
		break;
	case K_ICMP_ECHO: case K_ICMP_UNREACH:
		ip->protocol = IPPROTO_ICMP;
		l4[0] = k == K_ICMP_ECHO ? 8 : 3;
		l4[1] = k == K_ICMP_ECHO ? 0 : 4;	/* frag needed */
		l4len = 8;
		break;
	case K_OTHER_PROTO:
		ip->protocol = 132;
		l4len = 12;
		break;
	case K_TRUNC_IP:
		/*
		 * test_run refuses an skb too short for an IPv4 header, so the
		 * unreadable-header case is a header length below the minimum.
		 */
		ip->ihl = 4;
		ip->protocol = IPPROTO_UDP;
		l4len = 8;
		break;
	default:
		break;
	}
	ip->tot_len = htons(sizeof(*ip) + l4len);
	b->len = ETH_HLEN + sizeof(*ip) + l4len;
	fix_csums(b);
}

/* A reply from the pod: MACs, addresses and ports swapped. Returns its TCP header. */
static struct tcphdr *reflect(struct pkt_buf *b)
{
	struct ethhdr *eth = (void *)b->data;
	struct iphdr *ip = (void *)(b->data + ETH_HLEN);
	struct tcphdr *th = (void *)(b->data + ETH_HLEN + sizeof(struct iphdr));
	unsigned char mac[ETH_ALEN];
	__be32 a = ip->saddr;
	__be16 port = th->source;

	memcpy(mac, eth->h_dest, ETH_ALEN);
	memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	memcpy(eth->h_source, mac, ETH_ALEN);
	ip->saddr = ip->daddr;
	ip->daddr = a;
	th->source = th->dest;
	th->dest = port;
	return th;
}

/*
 * What the sender should get back for a V_RST row (reflected through the
 * ingress of the test_run device): the pod's answer, seq = the segment's
 * ack_seq, RST alone, payload kept.
 */
static void expect_reflected(struct pkt_buf *b)
{
	struct tcphdr *th = reflect(b);

	th->seq = th->ack_seq;
	th->ack_seq = 0;
	th->fin = th->syn = th->psh = th->urg = th->ack = 0;
	th->rst = 1;
	th->window = 0;
	fix_csums(b);
}

/*
 * What the sender should get back for a V_REFUSE row: what Linux answers a
 * SYN to a closed port with (RST+ACK, seq 0, ack = seq + 1 + FIN +
 * payload), from the pod's addresses; the SYN's options stay in place as
 * payload of a header with doff 5.
 */
static void expect_refused(struct pkt_buf *b)
{
	struct iphdr *ip = (void *)(b->data + ETH_HLEN);
	struct tcphdr *th = (void *)(b->data + ETH_HLEN + sizeof(struct iphdr));
	unsigned int payload = ntohs(ip->tot_len) - ip->ihl * 4 - th->doff * 4;

	reflect(b);
	th->ack_seq = htonl(ntohl(th->seq) + 1 + th->fin + payload);
	th->seq = 0;
	th->doff = 5;
	th->fin = th->syn = th->psh = th->urg = 0;
	th->rst = th->ack = 1;
	th->window = 0;
	fix_csums(b);
}

/* What the pod should receive for a V_RST row: the segment turned into RST. */
static void expect_rst(struct pkt_buf *b)
{
	struct tcphdr *th = (void *)(b->data + ETH_HLEN + sizeof(struct iphdr));
	bool ack = th->ack;

	th->fin = th->syn = th->psh = th->urg = 0;
	th->rst = 1;
	th->ack = ack;
	fix_csums(b);
}

struct env {
	struct datapath *dp;
	const struct steer_maps *m;
	int prog;
	int tap;	/* AF_PACKET on lo: sees what the program reflects */
	uint64_t stats[STEER_R_MAX];
};

/*
 * test_run runs the program on lo of the private netns, so a clone
 * redirected to the ingress of skb->ifindex arrives on lo. It must be up,
 * or the redirect is dropped before any tap sees it.
 */
static int tap_open(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	int fd, err;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	err = ioctl(fd, SIOCGIFFLAGS, &ifr) ? -errno : 0;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr))
		err = -errno;
	close(fd);
	if (err)
		return err;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	sll.sll_ifindex = if_nametoindex("lo");
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Next frame the tap saw within timeout_ms: its length, 0 if none. */
static int tap_recv(struct env *e, struct pkt_buf *out, int timeout_ms)
{
	struct pollfd pfd = { .fd = e->tap, .events = POLLIN };
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	n = recv(e->tap, out->data, sizeof(out->data), 0);
	out->len = n > 0 ? n : 0;
	return out->len;
}

static bool env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->tap = -1;
	if (geteuid() != 0) {
		test_skip("needs root to load BPF");
		return false;
	}
	/* A private netns: test_run uses its loopback, nobody else's. */
	if (!ASSERT_OK(unshare(CLONE_NEWNET) ? -errno : 0, "unshare netns"))
		return false;
	if (!ASSERT_OK(datapath_open(&e->dp, &(struct datapath_opts){ 0 }), "datapath_open"))
		return false;
	e->m = datapath_maps(e->dp);
	e->prog = datapath_prog_fd(e->dp, DATAPATH_PROG_TC);
	e->tap = tap_open();
	return ASSERT_GE(e->tap, 0, "packet tap on lo");
}

static void env_close(struct env *e)
{
	if (e->tap >= 0)
		close(e->tap);
	datapath_close(e->dp);
}

static void snap_stats(struct env *e)
{
	for (int r = 0; r < STEER_R_MAX; r++)
		maps_stat_get(e->m, r, &e->stats[r]);
}

/* Runs one packet; returns the tc verdict, fills out. */
static int run(struct env *e, const struct pkt_buf *in, __u32 ingress_ifindex,
	       struct pkt_buf *out)
{
	struct __sk_buff ctx = { .ingress_ifindex = ingress_ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->data, .data_size_in = in->len,
		    .data_out = out->data, .data_size_out = sizeof(out->data),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(e->prog, &o);
	if (!ASSERT_OK(err, "test_run"))
		return -1;
	out->len = o.data_size_out;
	return o.retval;
}

static const char *const action_names[] = STEER_ACTION_NAMES;
static const char *const reason_names[] = STEER_REASON_NAMES;

enum exempt_mode { EX_NONE, EX_HOST, EX_CIDR, EX_MAX };
static const char *const exempt_names[] = { "forwarded", "node-generated", "exempt cidr" };

TEST(tc_table_every_action_kind_exemption)
{
	struct steer_quar_val qv = { .origin = STEER_ORIGIN_MANUAL };
	struct pkt_buf stray;
	struct env e;
	int cases = 0, reflected = 0, refused = 0;

	if (!env_open(&e))
		goto cleanup;
	ASSERT_OK(maps_quar_set(e.m, inet_addr(POD), &qv), "quarantine");
	ASSERT_OK(maps_exempt_set(e.m, inet_addr(DEBUG_NET), 12, STEER_ORIGIN_API), "exempt");

	for (int a = 0; a < STEER_ACT_MAX; a++) {
		qv.action = a;
		ASSERT_OK(maps_quar_set(e.m, inet_addr(POD), &qv), "set action");
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			for (int x = 0; x < EX_MAX; x++) {
				const struct row *r = &rows[i];
				struct pkt_buf in, want, got;
				enum exp_verdict v = r->v[a];
				enum steer_reason reason = r->r[a];
				uint64_t before;
				char name[128];
				int ret;

				build(&in, r->kind, x == EX_CIDR ? DEBUGGER : CLIENT, POD);
				if (x != EX_NONE && r->ip_ok) {
					v = V_PASS;
					reason = x == EX_HOST ? STEER_R_EXEMPT_HOST : STEER_R_EXEMPT_CIDR;
				}
				want = in;
				if (v == V_RST)
					expect_rst(&want);
				/*
				 * test_run hands back the dropped SYN as the
				 * program left it: rewritten in place into the
				 * answer before it was cloned.
				 */
				if (v == V_REFUSE)
					expect_refused(&want);
				snprintf(name, sizeof(name), "%s, %s, %s", action_names[a], r->desc,
					 exempt_names[x]);
				snap_stats(&e);
				before = e.stats[reason];
				CHECK_(!tap_recv(&e, &got, 0), "%s: reflected packet before the run "
				       "(from the case before)", name);
				ret = run(&e, &in, x == EX_HOST ? 0 : FWD_IFINDEX, &got);
				if (!CHECK_(ret == (v == V_SHOT || v == V_REFUSE ? TC_ACT_SHOT :
						    TC_ACT_OK),
					    "%s: verdict %d", name, ret))
					continue;
				CHECK_(got.len == want.len && !memcmp(got.data, want.data, want.len),
				       "%s: output bytes differ", name);
				if (v == V_RST) {
					want = in;
					expect_reflected(&want);
					tap_recv(&e, &got, 1000);
					CHECK_(got.len == want.len &&
					       !memcmp(got.data, want.data, want.len),
					       "%s: reflected RST differs (%u bytes)", name, got.len);
					reflected++;
				}
				if (v == V_REFUSE) {
					want = in;
					expect_refused(&want);
					tap_recv(&e, &got, 1000);
					CHECK_(got.len == want.len &&
					       !memcmp(got.data, want.data, want.len),
					       "%s: reflected RST+ACK differs (%u bytes)", name,
					       got.len);
					refused++;
				}
				if (v == V_SHOT || v == V_PASS)
					CHECK_(!tap_recv(&e, &got, 20), "%s: answered (%u bytes), "
					       "expected silence", name, got.len);
				snap_stats(&e);
				CHECK_(e.stats[reason] == before + 1, "%s: counter %s did not move",
				       name, reason_names[reason]);
				cases++;
			}
		}
	}
	ASSERT_EQ(cases, STEER_ACT_MAX * EX_MAX * (int)(sizeof(rows) / sizeof(rows[0])),
		  "cases run");
	/* syn-ack, ack+data, fin under reset, forwarded only. */
	ASSERT_EQ(reflected, 3, "reflected RSTs checked");
	/* the three answerable SYNs under drain and reset, forwarded only. */
	ASSERT_EQ(refused, 6, "refusing RST+ACKs checked");
	ASSERT_EQ(tap_recv(&e, &stray, 100), 0, "nothing else reflected");
cleanup:
	env_close(&e);
}

TEST(tc_not_quarantined_passes_and_qstats_count)
{
	struct steer_quar_val qv = { .action = STEER_ACT_DROP };
	struct pkt_buf in, got;
	struct steer_qstat qs;
	struct env e;

	if (!env_open(&e))
		goto cleanup;
	ASSERT_OK(maps_quar_set(e.m, inet_addr(POD), &qv), "quarantine");
	for (int k = 0; k < K_MAX; k++) {
		if (k == K_NON_IP || k == K_TRUNC_IP)
			continue;
		build(&in, k, CLIENT, OTHER);
		snap_stats(&e);
		ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_OK, "other pod passes");
		ASSERT_TRUE(got.len == in.len && !memcmp(got.data, in.data, in.len), "untouched");
		uint64_t b = e.stats[STEER_R_PASS];
		snap_stats(&e);
		ASSERT_EQ(e.stats[STEER_R_PASS], b + 1, "pass counter");
	}
	ASSERT_EQ(maps_qstat_get(e.m, inet_addr(OTHER), &qs), -ENOENT, "no qstats for others");
	build(&in, K_ACK, CLIENT, POD);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_SHOT, "dropped");
	ASSERT_OK(maps_qstat_get(e.m, inet_addr(POD), &qs), "qstats");
	ASSERT_EQ(qs.packets, 3, "qstat packets");
	ASSERT_EQ(qs.bytes, 3 * in.len, "qstat bytes");
	ASSERT_OK(maps_quar_del(e.m, inet_addr(POD)), "release");
	ASSERT_EQ(run(&e, &in, FWD_IFINDEX, &got), TC_ACT_OK, "released pod reachable");
cleanup:
	env_close(&e);
}


static struct sock_out sock_run(int prog, const struct sock_in *in)
{
	struct sock_out out = {};
	unsigned char buf[64];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = sizeof(*in),
		    .data_out = buf, .data_size_out = sizeof(buf), .repeat = 1);

	if (ASSERT_OK(bpf_prog_test_run_opts(prog, &o), "test_run"))
		memcpy(&out, buf, sizeof(out));
	return out;
}

TEST(sock_decision_steer_refuse_revnat)
{
	struct test_sock_decide_bpf *skel = NULL;
	struct steer_svc_key k = { .vip = inet_addr("10.96.0.10"), .port = htons(80), .proto = 6 };
	struct steer_backend_val be[2] = {
		{ .addr = inet_addr("10.244.1.7"), .port = htons(8080) },
		{ .addr = inet_addr("10.244.1.8"), .port = htons(8080) },
	};
	struct steer_quar_val qv = { .action = STEER_ACT_DRAIN };
	struct sock_in in = { .addr = k.vip, .port = k.port, .proto = 6,
			      .netns = 4096, .host_netns = 4096 };
	struct steer_maps m;
	struct sock_out out;
	int prog, seen[2] = {};

	if (geteuid() != 0) {
		test_skip("needs root to load BPF");
		return;
	}
	skel = test_sock_decide_bpf__open_and_load();
	if (!ASSERT_OK_PTR(skel, "open_and_load"))
		return;
	if (!ASSERT_OK(maps_from_object(&m, skel->obj), "maps"))
		goto cleanup;
	prog = bpf_program__fd(skel->progs.test_sock_decide);

	out = sock_run(prog, &in);
	ASSERT_EQ(out.verdict, SOCK_PASS, "unsteered vip untouched");
	ASSERT_EQ(out.reason, STEER_R_PASS, "reason pass");

	ASSERT_OK(maps_svc_set(&m, &k, be, 2, STEER_ORIGIN_MANUAL, 0), "svc set");
	for (__u32 rnd = 0; rnd < 8; rnd++) {
		in.rnd = rnd;
		out = sock_run(prog, &in);
		ASSERT_EQ(out.verdict, SOCK_REWRITE, "steered");
		ASSERT_EQ(out.reason, STEER_R_SOCK_STEERED, "reason steered");
		ASSERT_EQ(out.port, htons(8080), "backend port");
		seen[out.addr == be[1].addr]++;
		ASSERT_TRUE(out.revnat_ok, "revnat saved");
		ASSERT_EQ(out.revnat_vip, k.vip, "revnat vip");
		ASSERT_EQ(out.revnat_port, k.port, "revnat port");
	}
	ASSERT_TRUE(seen[0] && seen[1], "random slot reaches both backends");

	in.proto = 17;
	ASSERT_EQ(sock_run(prog, &in).verdict, SOCK_PASS, "other proto untouched");
	in.proto = 6;

	/* Safety net: a backend quarantined before the writer caught up. */
	ASSERT_OK(maps_quar_set(&m, be[0].addr, &qv), "quarantine backend 0");
	for (__u32 rnd = 0; rnd < 4; rnd++) {
		in.rnd = rnd;
		out = sock_run(prog, &in);
		ASSERT_EQ(out.verdict, SOCK_REWRITE, "steered around");
		ASSERT_EQ(out.addr, be[1].addr, "healthy backend");
	}
	ASSERT_OK(maps_quar_set(&m, be[1].addr, &qv), "quarantine backend 1");
	out = sock_run(prog, &in);
	ASSERT_EQ(out.verdict, SOCK_REFUSE, "all backends quarantined");
	ASSERT_EQ(out.reason, STEER_R_SOCK_NO_BACKEND, "reason no backend");

	ASSERT_OK(maps_svc_set(&m, &k, NULL, 0, STEER_ORIGIN_MANUAL, 0), "svc empty");
	out = sock_run(prog, &in);
	ASSERT_EQ(out.verdict, SOCK_REFUSE, "empty service refused");
	ASSERT_EQ(out.reason, STEER_R_SOCK_NO_BACKEND, "reason no backend");

	/* Direct connects to a quarantined pod: refused from pods only. */
	in.addr = be[0].addr;
	in.port = htons(8080);
	out = sock_run(prog, &in);
	ASSERT_EQ(out.verdict, SOCK_PASS, "node may reach quarantined pod");
	in.netns = 8192;
	out = sock_run(prog, &in);
	ASSERT_EQ(out.verdict, SOCK_REFUSE, "pod refused");
	ASSERT_EQ(out.reason, STEER_R_SOCK_REFUSED, "reason refused");
	in.addr = inet_addr("10.244.9.9");
	ASSERT_EQ(sock_run(prog, &in).verdict, SOCK_PASS, "pod to healthy pod untouched");
	in.addr = be[0].addr;
	in.host_netns = 0;
	ASSERT_EQ(sock_run(prog, &in).verdict, SOCK_PASS, "unknown host netns: never refuse");
cleanup:
	test_sock_decide_bpf__destroy(skel);
}
