// SPDX-License-Identifier: MIT
/*
 * tc egress on pod veths: attach on the veths that exist (RTM_GETLINK dump)
 * and on those created later (RTM_NEWLINK events on the loop).
 */
#include "datapath/internal.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fnmatch.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/reconcile.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "steer_tc.skel.h"

struct link_msg {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[32];
};

static void parse_linkinfo(struct rtattr *li, int len, struct link_msg *lm)
{
	for (struct rtattr *a = RTA_DATA(li); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_INFO_KIND)
			snprintf(lm->kind, sizeof(lm->kind), "%.*s",
				 (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
}

static void parse_link(struct nlmsghdr *nh, struct link_msg *lm)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));

	memset(lm, 0, sizeof(*lm));
	lm->ifindex = ifi->ifi_index;
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_IFNAME)
			snprintf(lm->name, sizeof(lm->name), "%.*s",
				 (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
		else if (a->rta_type == IFLA_LINKINFO)
			parse_linkinfo(a, RTA_PAYLOAD(a), lm);
	}
}

static bool link_matches(const struct datapath *dp, const struct link_msg *lm)
{
	if (strcmp(lm->kind, "veth"))
		return false;
	return !dp->iface_glob || !fnmatch(dp->iface_glob, lm->name, 0);
}

int tc_attach_ifindex(struct datapath *dp, int ifindex, const char *name)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STEER_TC_HANDLE,
		    .priority = STEER_TC_PRIORITY, .flags = BPF_TC_F_REPLACE,
		    .prog_fd = bpf_program__fd(dp->tc->progs.steer_tc_egress));
	struct steer_iface_val v = { .ifindex = ifindex };
	__u32 key = ifindex;
	bool own, known;
	int err;

	/*
	 * After a restart the clsact we recorded is still there: skip the
	 * create, whose EEXIST libbpf would log as a kernel error.
	 */
	known = !maps_iface_get(&dp->maps, key, &v) && v.ifindex == (__u32)ifindex &&
		!strncmp(v.name, name, sizeof(v.name));
	err = known ? -EEXIST : bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_warn("create clsact on %s: %s", name, strerror(-err));
		return err;
	}
	own = !err;
	/* Same handle and priority: replaces the old program with no gap. */
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		pr_warn("attach tc egress on %s: %s", name, strerror(-err));
		if (own)
			bpf_tc_hook_destroy(&hook);
		return err;
	}
	/*
	 * Ingress records the flows the pod opens (bpf/lib/flows.h).
	 * Enforcement does not depend on it: if it fails, the pod only loses
	 * the answers to its own flows while it is quarantined.
	 */
	hook.attach_point = BPF_TC_INGRESS;
	opts.prog_fd = bpf_program__fd(dp->tc->progs.steer_tc_ingress);
	opts.prog_id = 0;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		pr_warn("attach tc ingress on %s: %s; a quarantined pod there does not get "
			"the answers to its own flows", name, strerror(-err));
	/* A clsact we made before a restart is still ours to remove. */
	if (known) {
		own |= v.own_qdisc;
	} else {
		memset(&v, 0, sizeof(v));
		v.ifindex = ifindex;
		v.since = wall_ns();
	}
	v.own_qdisc = own;
	snprintf(v.name, sizeof(v.name), "%s", name);
	err = recon_iface_set(dp->recon, key, &v);
	if (err) {
		pr_warn("record attach point %s: %s", name, strerror(-err));
		return err;
	}
	pr_debug("tc egress attached on %s (ifindex %d%s)", name, ifindex,
		 own ? ", own clsact" : "");
	return 0;
}

static int nl_open(unsigned int groups)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | (groups ? SOCK_NONBLOCK : 0),
		    NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void handle_link_msg(struct datapath *dp, struct nlmsghdr *nh, int *n)
{
	struct steer_iface_val v;
	struct link_msg lm;
	__u32 key;

	parse_link(nh, &lm);
	key = lm.ifindex;
	if (nh->nlmsg_type == RTM_DELLINK) {
		/* The qdisc and filter died with the link; forget the record. */
		recon_iface_del(dp->recon, key);
		return;
	}
	if (nh->nlmsg_type != RTM_NEWLINK || !link_matches(dp, &lm))
		return;
	/* Events repeat for every flag change; attach once per link. */
	if (!n && !maps_iface_get(&dp->maps, key, &v) &&
	    !strncmp(v.name, lm.name, sizeof(v.name)))
		return;
	if (!tc_attach_ifindex(dp, lm.ifindex, lm.name) && n)
		(*n)++;
}

int datapath_scan_links(struct datapath *dp)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	static char buf[32768];
	int fd, n = 0, err = 0;
	ssize_t len;

	fd = nl_open(0);
	if (fd < 0) {
		pr_warn("open rtnetlink: %s", strerror(-fd));
		return fd;
	}
	if (send(fd, &req, sizeof(req), 0) < 0) {
		err = -errno;
		pr_warn("dump links: %s", strerror(-err));
		goto cleanup;
	}
	for (;;) {
		struct nlmsghdr *nh;

		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0) {
			err = -errno;
			pr_warn("dump links: %s", strerror(-err));
			goto cleanup;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				goto cleanup;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
				pr_warn("dump links: %s", strerror(-err));
				goto cleanup;
			}
			handle_link_msg(dp, nh, &n);
		}
	}
cleanup:
	close(fd);
	return err ? err : n;
}

static void on_netlink(struct loop *loop, int fd, uint32_t events, void *arg)
{
	static char buf[32768];
	struct datapath *dp = arg;
	ssize_t len;

	for (;;) {
		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0) {
			if (errno == ENOBUFS) {
				/* Events were lost: a full scan catches up. */
				pr_warn("rtnetlink overrun: rescanning links");
				datapath_scan_links(dp);
				continue;
			}
			return;
		}
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len))
			handle_link_msg(dp, nh, NULL);
	}
}

int links_watch(struct datapath *dp, struct loop *loop)
{
	int err;

	dp->nl_fd = nl_open(RTMGRP_LINK);
	if (dp->nl_fd < 0) {
		err = dp->nl_fd;
		pr_warn("subscribe to link events: %s", strerror(-err));
		return err;
	}
	err = loop_add(loop, dp->nl_fd, EPOLLIN, on_netlink, dp);
	if (err) {
		close(dp->nl_fd);
		dp->nl_fd = -1;
		return err;
	}
	dp->loop = loop;
	return 0;
}

void links_unwatch(struct datapath *dp)
{
	if (dp->nl_fd < 0)
		return;
	if (dp->loop)
		loop_del(dp->loop, dp->nl_fd);
	close(dp->nl_fd);
	dp->nl_fd = -1;
}
