// SPDX-License-Identifier: MIT
/*
 * The planner as a table, in the style of test_tc.c: each row gives typed
 * objects (as kube/ hands them up) and the desired state that must come out:
 * quarantine by address with its action, the backends of every steered
 * Service port, and the memberships departure memory keeps. No map, no
 * loop: the sink records what the planner asks for, and a full emit into a
 * fresh recorder must agree with what the incremental path asked for.
 *
 * Objects are written compactly (all in namespace default, uid "u-NAME"):
 *   svc   NAME VIP SELECTOR PORT...     SELECTOR k=v,k=v or -; PORT name:port/proto
 *   eps   NAME SVC PORTS EP...          PORTS name:port/proto,...; EP pod@ip[/flags]
 *                                       flags r(eady) s(erving) t(erminating), default rs
 *   meta  NAME[#UID] LABELS [ACTION]    LABELS k=v,k=v or -
 *   quar  NAME IP LABELS [ACTION]
 *   node  NAME IP
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kube/objects.h"
#include "lib/addr.h"
#include "lib/table.h"
#include "model/planner.h"

/* ------------------------------------------------------------ the sink */

struct desired {
	struct table quar;	/* struct steer_addr -> action + 1 */
	struct table svc;	/* steer_svc_key -> struct dsvc */
	struct table member;	/* steer_member_key -> 1 */
	int bad;		/* sink calls that break its contract */
};

struct dsvc {
	uint32_t n;
	struct steer_backend_val b[];
};

/* Where the sink records: the incremental state, or a fresh one for a full emit. */
static struct desired *cur;

static void rec_quar(void *arg, const struct steer_addr *addr, const struct steer_quar_val *want)
{
	struct desired *d = cur;

	if (!want) {
		table_del(&d->quar, addr, sizeof(*addr));
		return;
	}
	if (want->action >= STEER_ACT_MAX || !want->since)
		d->bad++;
	table_put(&d->quar, addr, sizeof(*addr), (void *)(uintptr_t)(want->action + 1));
}

static void rec_svc(void *arg, const struct steer_svc_key *key,
		    const struct steer_backend_val *set, uint32_t n)
{
	struct desired *d = cur;
	struct dsvc *s = malloc(sizeof(*s) + n * sizeof(*set));

	for (uint32_t i = 1; i < n; i++)
		if (addr_backend_cmp(&set[i - 1], &set[i]) >= 0)
			d->bad++;	/* promised sorted, without duplicates */
	s->n = n;
	if (n)
		memcpy(s->b, set, n * sizeof(*set));
	free(table_get(&d->svc, key, sizeof(*key)));
	table_put(&d->svc, key, sizeof(*key), s);
}

static void rec_svc_del(void *arg, const struct steer_svc_key *key)
{
	struct desired *d = cur;

	free(table_del(&d->svc, key, sizeof(*key)));
}

static void rec_member(void *arg, const struct steer_member_key *key,
		       const struct steer_member_val *want)
{
	struct desired *d = cur;

	if (want)
		table_put(&d->member, key, sizeof(*key), (void *)1);
	else
		table_del(&d->member, key, sizeof(*key));
}

static void desired_free(struct desired *d)
{
	struct table_iter it;
	struct tent *e;

	table_iter_init(&it, &d->svc);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_free(&d->quar);
	table_free(&d->svc);
	table_free(&d->member);
}

/* ------------------------------------------------------ typed objects */

#define NS "default/"

static char *words(const char *spec, char **w, int max, int *n)
{
	char *s = strdup(spec), *save = NULL, *t;

	*n = 0;
	for (t = strtok_r(s, " ", &save); t && *n < max; t = strtok_r(NULL, " ", &save))
		w[(*n)++] = t;
	return s;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct label *)a)->key, ((const struct label *)b)->key);
}

static struct labels mk_labels(const char *spec)
{
	struct labels l = {};
	char *s, *save = NULL, *t;

	if (!strcmp(spec, "-"))
		return l;
	s = strdup(spec);
	l.v = calloc(32, sizeof(*l.v));
	for (t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		*eq = '\0';
		l.v[l.n].key = strdup(t);
		l.v[l.n].val = strdup(eq + 1);
		l.n++;
	}
	qsort(l.v, l.n, sizeof(*l.v), label_cmp);
	free(s);
	return l;
}

static void mk_meta(struct obj_meta *m, const char *name)
{
	const char *hash = strchr(name, '#');
	size_t len = hash ? (size_t)(hash - name) : strlen(name);

	snprintf(m->key, sizeof(m->key), NS "%.*s", (int)len, name);
	m->name_off = strlen(NS);
	if (hash)
		snprintf(m->uid, sizeof(m->uid), "%s", hash + 1);
	else
		snprintf(m->uid, sizeof(m->uid), "u-%.*s", (int)len, name);
}

static struct svc_port mk_port(const char *spec)
{
	struct svc_port p = { .proto = IPPROTO_TCP };
	const char *colon = strchr(spec, ':'), *slash = strchr(spec, '/');

	snprintf(p.name, sizeof(p.name), "%.*s", (int)(colon - spec), spec);
	p.port = atoi(colon + 1);
	if (slash && !strcmp(slash + 1, "udp"))
		p.proto = IPPROTO_UDP;
	return p;
}

static int mk_action(const char *s)
{
	__u8 a;

	return s && !addr_parse_action(s, &a) ? a : -1;
}

/* "10.0.0.1", "fd00::1" or "10.0.0.1,fd00::1": one address per family. */
static void mk_ips(struct steer_addr *ip, char *spec)
{
	char *save = NULL;

	for (char *t = strtok_r(spec, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct steer_addr a = addr_lit(t);

		ip[addr_family(&a)] = a;
	}
}

/* One object from its compact spec; false on a spec the test got wrong. */
static bool mk_object(struct kube_object *o, enum plan_src src, const char *spec)
{
	char *w[32], *s;
	int n;

	memset(o, 0, sizeof(*o));
	s = words(spec, w, 32, &n);
	switch (src) {
	case PS_SVC:
		o->kind = KUBE_SERVICE;
		mk_meta(&o->meta, w[0]);
		mk_ips(o->svc.vip, w[1]);
		o->svc.selector = mk_labels(w[2]);
		o->svc.has_selector = o->svc.selector.n > 0;
		o->svc.ports = calloc(n, sizeof(*o->svc.ports));
		for (int i = 3; i < n; i++)
			o->svc.ports[o->svc.nports++] = mk_port(w[i]);
		break;
	case PS_EPS: {
		char *save = NULL, *t;

		o->kind = KUBE_SLICE;
		mk_meta(&o->meta, w[0]);
		snprintf(o->eps.service, sizeof(o->eps.service), "%s", w[1]);
		o->eps.family = ADDR_V4;
		o->eps.ports = calloc(8, sizeof(*o->eps.ports));
		for (t = strtok_r(w[2], ",", &save); t; t = strtok_r(NULL, ",", &save))
			o->eps.ports[o->eps.nports++] = mk_port(t);
		o->eps.eps = calloc(n, sizeof(*o->eps.eps));
		for (int i = 3; i < n; i++) {
			struct eps_endpoint *ep = &o->eps.eps[o->eps.neps++];
			char *at = strchr(w[i], '@'), *fl = strchr(w[i], '/');

			*at = '\0';
			if (fl)
				*fl++ = '\0';
			snprintf(ep->pod, sizeof(ep->pod), "%s", w[i]);
			ep->addr = addr_lit(at + 1);
			/* The slice's addressType: its endpoints' family. */
			o->eps.family = addr_family(&ep->addr);
			fl = fl ? fl : "rs";
			ep->ready = strchr(fl, 'r');
			ep->serving = strchr(fl, 's');
			ep->terminating = strchr(fl, 't');
			ep->node = obj_node_hash("node-1");
		}
		break;
	}
	case PS_POD_META:
	case PS_POD_QUAR:
		o->kind = KUBE_POD;
		mk_meta(&o->meta, w[0]);
		if (src == PS_POD_QUAR) {
			mk_ips(o->pod.ip, w[1]);
			o->pod.node = obj_node_hash("node-1");
		}
		o->pod.labels = mk_labels(w[src == PS_POD_QUAR ? 2 : 1]);
		o->pod.action = mk_action(n > (src == PS_POD_QUAR ? 3 : 2) ?
					  w[n - 1] : NULL);
		break;
	case PS_NODE:
		o->kind = KUBE_NODE;
		mk_meta(&o->meta, w[0]);
		o->node.addrs[o->node.naddrs++] = addr_lit(w[1]);
		break;
	default:
		free(s);
		return false;
	}
	/* Nodes are cluster-scoped. */
	if (src == PS_NODE) {
		snprintf(o->meta.key, sizeof(o->meta.key), "/%s", w[0]);
		o->meta.name_off = 1;
	}
	free(s);
	return true;
}

/* ------------------------------------------------------------ rendering */

static int by_addr(const void *a, const void *b)
{
	return addr_cmp(a, b);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Joins n strings, sorted, with spaces. */
static void join(char **v, size_t n, char *out, size_t len)
{
	size_t off = 0;

	qsort(v, n, sizeof(*v), str_cmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		off += snprintf(out + off, off < len ? len - off : 0, "%s%s", i ? " " : "", v[i]);
		free(v[i]);
	}
}

static void render_quar(const struct desired *d, char *out, size_t len)
{
	static const char *const names[] = STEER_ACTION_NAMES;
	struct steer_addr addrs[64];
	char *v[64], ip[ADDR_STRLEN];
	struct table_iter it;
	struct tent *e;
	size_t n = 0;

	table_iter_init(&it, &d->quar);
	while ((e = table_iter_next(&it)) && n < 64)
		addrs[n++] = *(struct steer_addr *)e->key;
	qsort(addrs, n, sizeof(*addrs), by_addr);
	for (size_t i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)table_get(&d->quar, &addrs[i], sizeof(addrs[i])) - 1;

		v[i] = malloc(64);
		snprintf(v[i], 64, "%s=%s", addr_str(&addrs[i], ip), names[a]);
	}
	/* Address order, not string order: the v[] are already sorted by address. */
	out[0] = '\0';
	for (size_t i = 0, off = 0; i < n; i++) {
		off += snprintf(out + off, off < len ? len - off : 0, "%s%s", i ? " " : "", v[i]);
		free(v[i]);
	}
}

static void render_svcs(const struct desired *d, char *out, size_t len)
{
	char *v[64], ip[ADDR_HOSTPORTLEN];
	struct table_iter it;
	struct tent *e;
	size_t n = 0;

	table_iter_init(&it, &d->svc);
	while ((e = table_iter_next(&it)) && n < 64) {
		const struct steer_svc_key *k = (const void *)e->key;
		const struct dsvc *s = e->val;
		size_t off;

		v[n] = malloc(1024);
		off = snprintf(v[n], 1024, "%s/%s=", addr_hostport_str(&k->vip, k->port, ip),
			       addr_proto_name(k->proto));
		for (uint32_t i = 0; i < s->n && off < 1024; i++)
			off += snprintf(v[n] + off, 1024 - off, "%s%s", i ? "," : "",
					addr_hostport_str(&s->b[i].addr, s->b[i].port, ip));
		n++;
	}
	join(v, n, out, len);
}

/* Pod and Service names for the hashes in steer_member_key. */
struct names {
	char pod[32][64], uid[32][64], svc[32][64];
	int npod, nsvc;
};

static void names_add(struct names *nm, enum plan_src src, const char *spec)
{
	char *w[32], *s = words(spec, w, 32, &(int){ 0 });
	struct kube_object o;

	if (src == PS_POD_META || src == PS_POD_QUAR) {
		mk_meta(&o.meta, w[0]);
		snprintf(nm->pod[nm->npod], 64, "%.63s", o.meta.key + strlen(NS));
		snprintf(nm->uid[nm->npod++], 64, "%.39s", o.meta.uid);
	} else if (src == PS_SVC) {
		snprintf(nm->svc[nm->nsvc++], 64, "%s", w[0]);
	}
	free(s);
}

static void render_members(const struct desired *d, const struct names *nm, char *out,
			   size_t len)
{
	struct table_iter it;
	struct tent *e;
	char *v[256];
	size_t n = 0;

	table_iter_init(&it, &d->member);
	while ((e = table_iter_next(&it)) && n < 256) {
		const struct steer_member_key *k = (const void *)e->key;
		const char *pod = "?", *svc = "?";
		char key[128];

		for (int i = 0; i < nm->npod; i++)
			if (plan_pod_hash(nm->uid[i], NULL) == k->pod)
				pod = nm->pod[i];
		for (int i = 0; i < nm->nsvc; i++) {
			snprintf(key, sizeof(key), NS "%s", nm->svc[i]);
			if (plan_svc_hash(key) == k->svc)
				svc = nm->svc[i];
		}
		v[n] = malloc(160);
		snprintf(v[n++], 160, "%s>%s", pod, svc);
	}
	join(v, n, out, len);
}

/* ---------------------------------------------------------------- table */

struct step {
	enum plan_src src;
	enum plan_ev ev;
	const char *spec;
};

struct row {
	const char *desc;
	bool seed;		/* start from the nginx Service of three pods */
	bool no_departure;
	int default_action;	/* 0: drain */
	const struct step *steps;	/* ends with a NULL spec */
	const char *quar;	/* "IP=ACTION ..." in address order */
	const char *svcs;	/* "VIP:PORT/PROTO=BACKEND,... ..." sorted; empty set: refuse */
	const char *members;	/* "POD>SVC ..." sorted */
};

#define S(src, ev, spec) { PS_##src, PE_##ev, spec }
#define END { 0, 0, NULL }
#define STEPS(...) (const struct step[]){ __VA_ARGS__, END }

static const struct step seed_steps[] = {
	S(SVC, ADDED, "nginx 10.96.0.10 app=nginx,enabled=true http:80/tcp"),
	S(EPS, ADDED, "nginx-abcde nginx http:8080/tcp nginx-1@10.0.0.1 nginx-2@10.0.0.2 nginx-3@10.0.0.3"),
	S(POD_META, ADDED, "nginx-1 app=nginx,enabled=true"),
	S(POD_META, ADDED, "nginx-2 app=nginx,enabled=true"),
	S(POD_META, ADDED, "nginx-3 app=nginx,enabled=true"),
	END,
};

#define OFF "app=nginx,enabled=false"
#define ON "app=nginx,enabled=true"
#define ALL3 "10.96.0.10:80/tcp=10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080"
#define BUT1 "10.96.0.10:80/tcp=10.0.0.2:8080,10.0.0.3:8080"
#define MEMBERS3 "nginx-1>nginx nginx-2>nginx nginx-3>nginx"
#define SLICE_BUT1 "nginx-abcde nginx http:8080/tcp nginx-2@10.0.0.2 nginx-3@10.0.0.3"

/* A dual-stack Service: a VIP and a slice per family, two dual-stack pods. */
#define DUAL								\
	S(SVC, ADDED, "web 10.96.0.20,fd00:96::20 app=web http:80/tcp"),	\
	S(EPS, ADDED, "web-v4 web http:8080/tcp web-a@10.0.1.1 web-b@10.0.1.2"),	\
	S(EPS, ADDED, "web-v6 web http:8080/tcp web-a@fd00:1::1 web-b@fd00:1::2"),	\
	S(POD_META, ADDED, "web-a app=web"),				\
	S(POD_META, ADDED, "web-b app=web")
#define DUAL_ALL "10.96.0.20:80/tcp=10.0.1.1:8080,10.0.1.2:8080 " \
	"[fd00:96::20]:80/tcp=[fd00:1::1]:8080,[fd00:1::2]:8080"

static const struct row rows[] = {
	{ "dual-stack: one relabel quarantines both addresses",
	  .steps = STEPS(DUAL, S(POD_META, MODIFIED, "web-a app=other")),
	  .quar = "10.0.1.1=drain fd00:1::1=drain",
	  .svcs = "10.96.0.20:80/tcp=10.0.1.2:8080 [fd00:96::20]:80/tcp=[fd00:1::2]:8080",
	  .members = "web-a>web web-b>web" },
	{ "dual-stack: one relabel back releases both",
	  .steps = STEPS(DUAL, S(POD_META, MODIFIED, "web-a app=other"),
			 S(POD_META, MODIFIED, "web-a app=web")),
	  .quar = "", .svcs = DUAL_ALL, .members = "web-a>web web-b>web" },
	{ "dual-stack: the quarantine selector takes both podIPs",
	  .steps = STEPS(DUAL, S(POD_QUAR, ADDED, "web-b 10.0.1.2,fd00:1::2 app=web")),
	  .quar = "10.0.1.2=drain fd00:1::2=drain",
	  .svcs = "10.96.0.20:80/tcp=10.0.1.1:8080 [fd00:96::20]:80/tcp=[fd00:1::1]:8080",
	  .members = "web-a>web web-b>web" },
	{ "an IPv6-only Service steers over its IPv6 slice",
	  .steps = STEPS(S(SVC, ADDED, "v6 fd00:96::30 app=v6 http:80/tcp"),
			 S(EPS, ADDED, "v6-x v6 http:8080/tcp v6-a@fd00:2::1 v6-b@fd00:2::2"),
			 S(POD_META, ADDED, "v6-a app=v6"), S(POD_META, ADDED, "v6-b app=v6"),
			 S(POD_META, MODIFIED, "v6-a app=gone")),
	  .quar = "fd00:2::1=drain", .svcs = "[fd00:96::30]:80/tcp=[fd00:2::2]:8080",
	  .members = "v6-a>v6 v6-b>v6" },
	{ "nothing departed: nothing wanted but memory", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-2 " ON ",pod-template-hash=1")),
	  .quar = "", .svcs = "", .members = MEMBERS3 },
	{ "relabel out of the selector (the seed)", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF)),
	  .quar = "10.0.0.1=drain", .svcs = BUT1, .members = MEMBERS3 },
	{ "the slice drops the departed pod: memory keeps it quarantined", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF), S(EPS, MODIFIED, SLICE_BUT1)),
	  .quar = "10.0.0.1=drain", .svcs = BUT1, .members = MEMBERS3 },
	{ "relabel back: released, the Service stays steered to settle", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF), S(POD_META, MODIFIED, "nginx-1 " ON)),
	  .quar = "", .svcs = ALL3, .members = MEMBERS3 },
	{ "deleted while quarantined: released and forgotten", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF), S(EPS, MODIFIED, SLICE_BUT1),
			 S(POD_META, DELETED, "nginx-1 -")),
	  .quar = "", .svcs = BUT1, .members = "nginx-2>nginx nginx-3>nginx" },
	{ "the annotation picks the action", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF " drop")),
	  .quar = "10.0.0.1=drop", .svcs = BUT1, .members = MEMBERS3 },
	{ "an action change is a new desired value, in place", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF " drop"),
			 S(POD_META, MODIFIED, "nginx-1 " OFF " reset")),
	  .quar = "10.0.0.1=reset", .svcs = BUT1, .members = MEMBERS3 },
	{ "no annotation: --default-action", .seed = true, .default_action = STEER_ACT_RESET,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF)),
	  .quar = "10.0.0.1=reset", .svcs = BUT1, .members = MEMBERS3 },
	{ "explicit quarantine while still matching", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-2 " ON ",steer.dev/quarantine= drop"),
			 S(POD_QUAR, ADDED, "nginx-2 10.0.0.2 " ON ",steer.dev/quarantine= drop")),
	  .quar = "10.0.0.2=drop", .svcs = "10.96.0.10:80/tcp=10.0.0.1:8080,10.0.0.3:8080",
	  .members = MEMBERS3 },
	{ "leaving the quarantine selector releases", .seed = true,
	  .steps = STEPS(S(POD_QUAR, ADDED, "nginx-2 10.0.0.2 " ON),
			 S(POD_QUAR, DELETED, "nginx-2 10.0.0.2 -")),
	  .quar = "", .svcs = ALL3, .members = MEMBERS3 },
	{ "--no-departure: a relabel does nothing, the selector still works", .seed = true,
	  .no_departure = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF),
			 S(POD_QUAR, ADDED, "nginx-3 10.0.0.3 steer.dev/quarantine=yes")),
	  .quar = "10.0.0.3=drain", .svcs = "10.96.0.10:80/tcp=10.0.0.1:8080,10.0.0.2:8080",
	  .members = "" },
	{ "named targetPorts, two ports, two slices",
	  .steps = STEPS(S(SVC, ADDED, "web 10.96.1.1 app=web http:80/tcp dns:53/udp"),
			 S(EPS, ADDED, "web-1 web http:8081/tcp,dns:5353/udp web-a@10.0.1.1 web-b@10.0.1.2"),
			 S(EPS, ADDED, "web-2 web http:9090/tcp,dns:5353/udp web-c@10.0.1.3"),
			 S(POD_META, ADDED, "web-a app=web"), S(POD_META, ADDED, "web-b app=web"),
			 S(POD_META, ADDED, "web-c app=web"),
			 S(POD_META, MODIFIED, "web-a app=debug")),
	  .quar = "10.0.1.1=drain",
	  .svcs = "10.96.1.1:53/udp=10.0.1.2:5353,10.0.1.3:5353 "
		  "10.96.1.1:80/tcp=10.0.1.2:8081,10.0.1.3:9090",
	  .members = "web-a>web web-b>web web-c>web" },
	{ "an endpoint in two slices is one backend",
	  .steps = STEPS(S(SVC, ADDED, "web 10.96.1.1 app=web http:80/tcp"),
			 S(EPS, ADDED, "web-1 web http:80/tcp web-a@10.0.1.1 web-b@10.0.1.2"),
			 S(EPS, ADDED, "web-2 web http:80/tcp web-b@10.0.1.2"),
			 S(POD_META, ADDED, "web-a app=debug"), S(POD_META, ADDED, "web-b app=web")),
	  .quar = "10.0.1.1=drain", .svcs = "10.96.1.1:80/tcp=10.0.1.2:80",
	  .members = "web-b>web" },
	{ "no ready backend left: serving and terminating ones",
	  .steps = STEPS(S(SVC, ADDED, "db 10.96.2.2 app=db :5432/tcp"),
			 S(EPS, ADDED, "db-1 db :5432/tcp db-a@10.0.2.1 db-b@10.0.2.2/st db-c@10.0.2.3/t"),
			 S(POD_META, ADDED, "db-a app=db"), S(POD_META, ADDED, "db-b app=db"),
			 S(POD_META, MODIFIED, "db-a app=db-debug")),
	  .quar = "10.0.2.1=drain", .svcs = "10.96.2.2:5432/tcp=10.0.2.2:5432",
	  .members = "db-a>db db-b>db" },
	{ "nothing left at all: refuse",
	  .steps = STEPS(S(SVC, ADDED, "db 10.96.2.2 app=db :5432/tcp"),
			 S(EPS, ADDED, "db-1 db :5432/tcp db-a@10.0.2.1 db-b@10.0.2.2/st"),
			 S(POD_META, ADDED, "db-a app=db"), S(POD_META, ADDED, "db-b app=db"),
			 S(POD_META, MODIFIED, "db-a app=db-debug"),
			 S(POD_QUAR, ADDED, "db-b 10.0.2.2 app=db")),
	  .quar = "10.0.2.1=drain 10.0.2.2=drain", .svcs = "10.96.2.2:5432/tcp=",
	  .members = "db-a>db db-b>db" },
	{ "a selector edit quarantines nobody and forgets the members", .seed = true,
	  .steps = STEPS(S(SVC, MODIFIED, "nginx 10.96.0.10 app=nginx2 http:80/tcp")),
	  .quar = "", .svcs = "", .members = "" },
	{ "after a selector edit the new one counts, once the slice follows", .seed = true,
	  .steps = STEPS(S(SVC, MODIFIED, "nginx 10.96.0.10 app=nginx2 http:80/tcp"),
			 S(EPS, MODIFIED, "nginx-abcde nginx http:8080/tcp web-1@10.0.0.7"),
			 S(POD_META, ADDED, "web-1 app=nginx2"),
			 S(POD_META, MODIFIED, "web-1 app=debug")),
	  .quar = "10.0.0.7=drain", .svcs = "10.96.0.10:80/tcp=", .members = "web-1>nginx" },
	{ "a node's address is never quarantined (hostNetwork pod)", .seed = true,
	  .steps = STEPS(S(NODE, ADDED, "node-1 10.0.0.2"), S(POD_META, MODIFIED, "nginx-2 " OFF)),
	  .quar = "", .svcs = ALL3, .members = MEMBERS3 },
	{ "the node goes: its address is an ordinary pod's again", .seed = true,
	  .steps = STEPS(S(NODE, ADDED, "node-1 10.0.0.2"), S(POD_META, MODIFIED, "nginx-2 " OFF),
			 S(NODE, DELETED, "node-1 10.0.0.2")),
	  .quar = "10.0.0.2=drain", .svcs = "10.96.0.10:80/tcp=10.0.0.1:8080,10.0.0.3:8080",
	  .members = MEMBERS3 },
	{ "a new uid under the same name has no memory of the old pod", .seed = true,
	  .steps = STEPS(S(POD_META, MODIFIED, "nginx-1 " OFF), S(EPS, MODIFIED, SLICE_BUT1),
			 S(POD_META, MODIFIED, "nginx-1#u-new " OFF)),
	  .quar = "", .svcs = BUT1, .members = "nginx-2>nginx nginx-3>nginx" },
};

static void run_steps(struct plan *p, const struct step *steps, struct names *nm,
		      const char *row, int *bad)
{
	for (const struct step *st = steps; st->spec; st++) {
		struct kube_object o;
		int err;

		if (!mk_object(&o, st->src, st->spec)) {
			(*bad)++;
			continue;
		}
		names_add(nm, st->src, st->spec);
		err = plan_object(p, st->src, st->ev, &o);
		CHECK_(!err, "%s: step \"%s\" not accepted: %d", row, st->spec, err);
		kube_object_free(&o);
		CHECK_(!plan_flush(p), "%s: flush after \"%s\"", row, st->spec);
	}
}

static uint64_t fake_now = 1000000000;

static uint64_t fake_clock(void)
{
	return fake_now;
}

TEST(planner_table_objects_in_desired_state_out)
{
	int cases = 0, bad = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct desired d = {}, full = {};
		struct plan_opts o = {
			.default_action = r->default_action, .departure = !r->no_departure,
			.settle_ns = 60ULL * 1000000000, .clock = fake_clock,
			.sink = { rec_quar, rec_svc, rec_svc_del, rec_member, NULL },
		};
		struct names nm = {};
		char got[1024], all[1024];
		struct plan *p = plan_new(&o);

		cur = &d;
		if (r->seed)
			run_steps(p, seed_steps, &nm, r->desc, &bad);
		run_steps(p, r->steps, &nm, r->desc, &bad);

		render_quar(&d, got, sizeof(got));
		CHECK_(!strcmp(got, r->quar), "%s: quarantine \"%s\", expected \"%s\"", r->desc,
		       got, r->quar);
		render_svcs(&d, got, sizeof(got));
		CHECK_(!strcmp(got, r->svcs), "%s: services \"%s\", expected \"%s\"", r->desc,
		       got, r->svcs);
		render_members(&d, &nm, got, sizeof(got));
		CHECK_(!strcmp(got, r->members), "%s: members \"%s\", expected \"%s\"", r->desc,
		       got, r->members);

		/* A resync's full emit into a fresh recorder asks for the same state. */
		cur = &full;
		CHECK_(!plan_emit_all(p), "%s: emit all", r->desc);
		render_quar(&d, got, sizeof(got));
		render_quar(&full, all, sizeof(all));
		CHECK_(!strcmp(got, all), "%s: full emit quarantines \"%s\"", r->desc, all);
		render_svcs(&d, got, sizeof(got));
		render_svcs(&full, all, sizeof(all));
		CHECK_(!strcmp(got, all), "%s: full emit steers \"%s\"", r->desc, all);
		render_members(&d, &nm, got, sizeof(got));
		render_members(&full, &nm, all, sizeof(all));
		CHECK_(!strcmp(got, all), "%s: full emit remembers \"%s\"", r->desc, all);
		CHECK_(!d.bad && !full.bad, "%s: %d sink calls broke the contract", r->desc,
		       d.bad + full.bad);
		plan_free(p);
		desired_free(&d);
		desired_free(&full);
		cases++;
	}
	ASSERT_EQ(bad, 0, "specs understood");
	ASSERT_EQ(cases, (int)(sizeof(rows) / sizeof(rows[0])), "rows run");
}
