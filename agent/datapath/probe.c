// SPDX-License-Identifier: MIT
/*
 * Feature probes: each loads the smallest program that needs the feature.
 * A helper probe passes the kernel's own check for that program type and
 * attach type, which libbpf_probe_bpf_helper() cannot do for one attach
 * type of cgroup sock_addr (set_retval is there for connect4 on 6.1 and
 * later, never for recvmsg4).
 */
#include "datapath/probe.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/log.h"

static const struct probe_def {
	const char *name;
	enum bpf_prog_type type;
	enum bpf_attach_type attach;
	const char *section;	/* the section name, for the reason */
	int helper;		/* 0: none */
	bool link;		/* probe BPF_LINK_CREATE on this program type */
} defs[FEAT_NR] = {
	[FEAT_TC] = { .name = "tc", .type = BPF_PROG_TYPE_SCHED_CLS, .section = "tc" },
	[FEAT_SET_RETVAL] = { .name = "set_retval", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			      .attach = BPF_CGROUP_INET4_CONNECT, .section = "cgroup/connect4",
			      .helper = BPF_FUNC_set_retval },
	[FEAT_CGROUP_LINK] = { .name = "cgroup_link", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			       .attach = BPF_CGROUP_INET4_CONNECT, .section = "cgroup/connect4",
			       .link = true },
	[FEAT_CONNECT4] = { .name = "connect4", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_INET4_CONNECT, .section = "cgroup/connect4" },
	[FEAT_SENDMSG4] = { .name = "sendmsg4", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_UDP4_SENDMSG, .section = "cgroup/sendmsg4" },
	[FEAT_RECVMSG4] = { .name = "recvmsg4", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_UDP4_RECVMSG, .section = "cgroup/recvmsg4" },
	[FEAT_GETPEER4] = { .name = "getpeername4", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_INET4_GETPEERNAME, .section = "cgroup/getpeername4" },
	[FEAT_CONNECT6] = { .name = "connect6", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_INET6_CONNECT, .section = "cgroup/connect6" },
	[FEAT_SENDMSG6] = { .name = "sendmsg6", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_UDP6_SENDMSG, .section = "cgroup/sendmsg6" },
	[FEAT_RECVMSG6] = { .name = "recvmsg6", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_UDP6_RECVMSG, .section = "cgroup/recvmsg6" },
	[FEAT_GETPEER6] = { .name = "getpeername6", .type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    .attach = BPF_CGROUP_INET6_GETPEERNAME, .section = "cgroup/getpeername6" },
};

/* r1 = 0; call helper (if any); r0 = 1; exit. 1 is "proceed" for sock_addr. */
static int probe_load(const struct probe_def *d)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = d->helper },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = d->attach);
	int skip = d->helper ? 0 : 2;
	int fd;

	fd = bpf_prog_load(d->type, NULL, "Dual BSD/GPL", insns + skip,
			   sizeof(insns) / sizeof(insns[0]) - skip, &opts);
	return fd < 0 ? -errno : fd;
}

static void set(struct probe_result *r, enum probe_feature f, enum steer_feature_state st)
{
	struct steer_feature_val *v = &r->feat[f];

	memset(v, 0, sizeof(*v));
	v->state = st;
	snprintf(v->name, sizeof(v->name), "%s", defs[f].name);
}

void probe_off(struct probe_result *r, enum probe_feature f, const char *fmt, ...)
{
	va_list ap;

	set(r, f, STEER_FEATURE_OFF);
	va_start(ap, fmt);
	vsnprintf(r->feat[f].why, sizeof(r->feat[f].why), fmt, ap);
	va_end(ap);
}

bool probe_on(const struct probe_result *r, enum probe_feature f)
{
	return r->feat[f].state == STEER_FEATURE_ON;
}

static void probe_one(struct probe_result *r, enum probe_feature f)
{
	const struct probe_def *d = &defs[f];
	int fd, lfd, err;

	fd = probe_load(d);
	if (fd < 0) {
		if (d->helper)
			probe_off(r, f, "kernel refuses the helper in %s: %s", d->section,
				  strerror(-fd));
		else
			probe_off(r, f, "kernel refuses a %s program: %s", d->section,
				  strerror(-fd));
		return;
	}
	if (d->link) {
		/* A bad target fd: EBADF proves the kernel knows the command and type. */
		lfd = bpf_link_create(fd, -1, d->attach, NULL);
		err = lfd < 0 ? -errno : 0;
		if (lfd >= 0)
			close(lfd);
		if (err != -EBADF) {
			close(fd);
			probe_off(r, f, "kernel has no BPF links for %s: %s", d->section,
				  strerror(-err));
			return;
		}
	}
	close(fd);
	set(r, f, STEER_FEATURE_ON);
}

/* STEER_FEATURES_OFF=a,b: the named features off, for tests of the degraded paths. */
static void force_off(struct probe_result *r)
{
	const char *env = getenv("STEER_FEATURES_OFF");
	char *list, *tok, *save;
	int f;

	if (!env || !*env || !(list = strdup(env)))
		return;
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		for (f = 0; f < FEAT_NR && strcmp(tok, defs[f].name); f++)
			;
		if (f == FEAT_NR)
			pr_warn("STEER_FEATURES_OFF: \"%s\" is not a feature; see steerctl status", tok);
		else
			probe_off(r, f, "forced off by STEER_FEATURES_OFF");
	}
	free(list);
}

void probe_run(struct probe_result *r)
{
	for (int f = 0; f < FEAT_NR; f++)
		probe_one(r, f);
	force_off(r);
}

void probe_log(const struct probe_result *r)
{
	char line[2048];
	struct utsname u = {};
	size_t n = 0;

	uname(&u);
	for (int f = 0; f < FEAT_NR && n < sizeof(line); f++) {
		const struct steer_feature_val *v = &r->feat[f];

		n += snprintf(line + n, sizeof(line) - n, " %s=%s%s%s%s", v->name,
			      v->state == STEER_FEATURE_ON ? "on" : "off", v->why[0] ? " (" : "",
			      v->why, v->why[0] ? ")" : "");
	}
	pr_info("kernel %s features:%s", u.release, line);
}

int probe_publish(const struct probe_result *r, const struct steer_maps *maps)
{
	struct steer_feature_val none = {};
	int err;

	for (__u32 i = 0; i < STEER_FEATURE_SLOTS; i++) {
		err = maps_feature_set(maps, i, i < FEAT_NR ? &r->feat[i] : &none);
		if (err) {
			pr_warn("write %s slot %u: %s", STEER_MAP_FEATURES, i, strerror(-err));
			return err;
		}
	}
	return 0;
}
