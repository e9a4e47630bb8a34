// SPDX-License-Identifier: MIT
/*
 * steerctl monitor: a live view built by polling the pinned maps, so
 * watching costs the datapath nothing (no ring buffer, no per-packet
 * event). Each tick takes a snapshot, diffs it against the previous one
 * and prints what moved.
 */
#include "monitor.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/addr.h"
#include "lib/loop.h"

static const char *const reason_names[] = STEER_REASON_NAMES;

struct quar_ent {
	struct steer_addr addr;
	struct steer_quar_val v;
	struct steer_qstat qs;
};

struct svc_ent {
	struct steer_svc_key k;
	struct steer_svc_val v;
	uint32_t n;			/* slots read: v.count, or fewer if a read failed */
	struct steer_backend_val *b;
};

struct snap {
	uint64_t stats[STEER_R_MAX];
	struct quar_ent *quar;
	size_t nquar, capquar;
	struct svc_ent *svc;
	size_t nsvc, capsvc;
	uint64_t mono;
};

struct mon {
	const struct steer_maps *m;
	const struct monitor_opts *o;
	char ts[40];
};

static void svcs_free(struct snap *s)
{
	for (size_t i = 0; i < s->nsvc; i++)
		free(s->svc[i].b);
	s->nsvc = 0;
}

static void snap_free(struct snap *s)
{
	svcs_free(s);
	free(s->quar);
	free(s->svc);
	memset(s, 0, sizeof(*s));
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	void *np;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 64;
	np = realloc(*p, c * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

static int quar_cb(const struct steer_addr *addr, const struct steer_quar_val *v, void *arg)
{
	struct snap *s = arg;

	if (grow((void **)&s->quar, &s->capquar, s->nquar, sizeof(*s->quar)))
		return -ENOMEM;
	s->quar[s->nquar++] = (struct quar_ent){ .addr = *addr, .v = *v };
	return 0;
}

static int svc_cb(const struct steer_svc_key *k, const struct steer_svc_val *v, void *arg)
{
	struct snap *s = arg;

	if (grow((void **)&s->svc, &s->capsvc, s->nsvc, sizeof(*s->svc)))
		return -ENOMEM;
	s->svc[s->nsvc++] = (struct svc_ent){ .k = *k, .v = *v };
	return 0;
}

/*
 * The slots too: a small change rewrites them in place under the same rev
 * and count (maps_svc_patch), which only the backends themselves show.
 */
static void svc_read_backends(const struct steer_maps *m, struct svc_ent *e)
{
	e->b = calloc(e->v.count ? e->v.count : 1, sizeof(*e->b));
	if (!e->b || maps_svc_get(m, &e->k, &e->v, e->b, e->v.count, &e->n))
		e->n = 0;
}

static bool same_backends(const struct svc_ent *x, const struct svc_ent *y)
{
	return x->n == y->n && (!x->n || !memcmp(x->b, y->b, x->n * sizeof(*x->b)));
}

static int cmp_quar(const void *a, const void *b)
{
	/* Network order, byte by byte: numeric order, IPv4 (mapped) first. */
	return addr_cmp(&((const struct quar_ent *)a)->addr, &((const struct quar_ent *)b)->addr);
}

static int cmp_svc(const void *a, const void *b)
{
	return memcmp(&((const struct svc_ent *)a)->k, &((const struct svc_ent *)b)->k,
		      sizeof(struct steer_svc_key));
}

static int snap_take(const struct steer_maps *m, struct snap *s)
{
	int err;

	svcs_free(s);
	s->nquar = 0;
	s->mono = now_ns();
	for (int r = 0; r < STEER_R_MAX; r++) {
		s->stats[r] = 0;
		maps_stat_get(m, r, &s->stats[r]);
	}
	err = maps_quar_foreach(m, quar_cb, s);
	if (!err)
		err = maps_svc_foreach(m, svc_cb, s);
	if (err)
		return err;
	for (size_t i = 0; i < s->nquar; i++)
		maps_qstat_get(m, &s->quar[i].addr, &s->quar[i].qs);
	for (size_t i = 0; i < s->nsvc; i++)
		svc_read_backends(m, &s->svc[i]);
	qsort(s->quar, s->nquar, sizeof(*s->quar), cmp_quar);
	qsort(s->svc, s->nsvc, sizeof(*s->svc), cmp_svc);
	return 0;
}

static void stamp(struct mon *mo)
{
	struct timespec t;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &t);
	gmtime_r(&t.tv_sec, &tm);
	if (mo->o->json) {
		n = strftime(mo->ts, sizeof(mo->ts), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(mo->ts + n, sizeof(mo->ts) - n, ".%03ldZ", t.tv_nsec / 1000000);
	} else {
		strftime(mo->ts, sizeof(mo->ts), "%H:%M:%S", &tm);
	}
}

static cJSON *line_new(struct mon *mo, const char *type)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "ts", mo->ts);
	cJSON_AddStringToObject(j, "type", type);
	return j;
}

static void line_put(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	if (s)
		puts(s);
	free(s);
	cJSON_Delete(j);
}

/* Counters can only go back if a map was recreated: count from zero then. */
static uint64_t delta(uint64_t cur, uint64_t prev)
{
	return cur >= prev ? cur - prev : cur;
}

static void print_counters(struct mon *mo, const struct snap *a, const struct snap *b,
			   double secs)
{
	cJSON *j, *d, *r;
	bool any = false;

	if (!mo->o->json) {
		printf("%s counters", mo->ts);
		for (int i = 0; i < STEER_R_MAX; i++) {
			uint64_t n = delta(b->stats[i], a->stats[i]);

			if (!n)
				continue;
			printf(" %s=%.0f/s", reason_names[i], n / secs);
			any = true;
		}
		puts(any ? "" : " idle");
		return;
	}
	j = line_new(mo, "counters");
	cJSON_AddNumberToObject(j, "interval_s", round(secs * 1000) / 1000);
	d = cJSON_AddObjectToObject(j, "delta");
	r = cJSON_AddObjectToObject(j, "per_s");
	for (int i = 0; i < STEER_R_MAX; i++) {
		uint64_t n = delta(b->stats[i], a->stats[i]);

		cJSON_AddNumberToObject(d, reason_names[i], n);
		cJSON_AddNumberToObject(r, reason_names[i], round(n / secs * 10) / 10);
	}
	line_put(j);
}

static void print_addr(struct mon *mo, const struct quar_ent *q, uint64_t pk, uint64_t by,
		       double secs)
{
	char ip[ADDR_STRLEN];
	cJSON *j;

	addr_str(&q->addr, ip);
	if (!mo->o->json) {
		printf("%s addr %-15s %-5s %10.0f pkt/s %12.0f B/s\n", mo->ts, ip,
		       addr_action_name(q->v.action), pk / secs, by / secs);
		return;
	}
	j = line_new(mo, "addr");
	cJSON_AddStringToObject(j, "addr", ip);
	cJSON_AddStringToObject(j, "action", addr_action_name(q->v.action));
	cJSON_AddNumberToObject(j, "packets", pk);
	cJSON_AddNumberToObject(j, "bytes", by);
	cJSON_AddNumberToObject(j, "packets_per_s", round(pk / secs * 10) / 10);
	cJSON_AddNumberToObject(j, "bytes_per_s", round(by / secs * 10) / 10);
	line_put(j);
}

enum { EV_PRESENT, EV_ADDED, EV_REMOVED, EV_CHANGED };
static const char ev_marks[] = "=+-~";
static const char *const ev_names[] = { "present", "added", "removed", "changed" };

static void print_quar_event(struct mon *mo, int ev, const struct quar_ent *q,
			     const struct quar_ent *old)
{
	char ip[ADDR_STRLEN];
	cJSON *j;

	addr_str(&q->addr, ip);
	if (!mo->o->json) {
		printf("%s quarantine %c %s", mo->ts, ev_marks[ev], ip);
		if (ev == EV_REMOVED) {
			putchar('\n');
			return;
		}
		if (old && old->v.action != q->v.action)
			printf(" action=%s->%s", addr_action_name(old->v.action),
			       addr_action_name(q->v.action));
		else
			printf(" action=%s", addr_action_name(q->v.action));
		if (old && old->v.origin != q->v.origin)
			printf(" origin=%s->%s\n", addr_origin_name(old->v.origin),
			       addr_origin_name(q->v.origin));
		else
			printf(" origin=%s\n", addr_origin_name(q->v.origin));
		return;
	}
	j = line_new(mo, "quarantine");
	cJSON_AddStringToObject(j, "event", ev_names[ev]);
	cJSON_AddStringToObject(j, "addr", ip);
	cJSON_AddStringToObject(j, "action", addr_action_name(q->v.action));
	cJSON_AddStringToObject(j, "origin", addr_origin_name(q->v.origin));
	if (old) {
		cJSON_AddStringToObject(j, "prev_action", addr_action_name(old->v.action));
		cJSON_AddStringToObject(j, "prev_origin", addr_origin_name(old->v.origin));
	}
	line_put(j);
}

static void backend_str(const struct steer_backend_val *b, char *buf, size_t len)
{
	char s[ADDR_HOSTPORTLEN];

	snprintf(buf, len, "%s", addr_hostport_str(&b->addr, b->port, s));
}

static bool has_backend(const struct svc_ent *s, const struct steer_backend_val *b)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (addr_eq(&s->b[i].addr, &b->addr) && s->b[i].port == b->port)
			return true;
	return false;
}

/* Backends of a that b lacks, as a JSON array or " +x" / " -x" words. */
static void backend_diff(const struct svc_ent *a, const struct svc_ent *b, cJSON *arr, char mark)
{
	char s[ADDR_HOSTPORTLEN];

	for (uint32_t i = 0; i < a->n; i++) {
		if (has_backend(b, &a->b[i]))
			continue;
		backend_str(&a->b[i], s, sizeof(s));
		if (arr)
			cJSON_AddItemToArray(arr, cJSON_CreateString(s));
		else
			printf(" %c%s", mark, s);
	}
}

/* old: the entry before a change, to show which backends came and went. */
static void print_svc_event(struct mon *mo, int ev, const struct svc_ent *s,
			    const struct svc_ent *old)
{
	char hp[ADDR_HOSTPORTLEN], name[ADDR_HOSTPORTLEN + 8], b[ADDR_HOSTPORTLEN];
	cJSON *j = NULL, *arr = NULL;

	snprintf(name, sizeof(name), "%s/%s", addr_hostport_str(&s->k.vip, s->k.port, hp),
		 addr_proto_name(s->k.proto));
	if (mo->o->json) {
		j = line_new(mo, "service");
		cJSON_AddStringToObject(j, "event", ev_names[ev]);
		cJSON_AddStringToObject(j, "service", name);
		if (ev != EV_REMOVED) {
			cJSON_AddStringToObject(j, "origin", addr_origin_name(s->v.origin));
			cJSON_AddNumberToObject(j, "rev", s->v.rev);
			arr = cJSON_AddArrayToObject(j, "backends");
		}
	} else {
		printf("%s service %c %s", mo->ts, ev_marks[ev], name);
		if (ev != EV_REMOVED)
			printf(" origin=%s backends=%u%s", addr_origin_name(s->v.origin),
			       s->v.count, s->v.count ? ":" : " (refusing)");
	}
	for (uint32_t i = 0; ev != EV_REMOVED && i < s->n; i++) {
		backend_str(&s->b[i], b, sizeof(b));
		if (arr)
			cJSON_AddItemToArray(arr, cJSON_CreateString(b));
		else
			printf(" %s", b);
	}
	if (old) {
		backend_diff(s, old, j ? cJSON_AddArrayToObject(j, "added") : NULL, '+');
		backend_diff(old, s, j ? cJSON_AddArrayToObject(j, "removed") : NULL, '-');
		if (j)
			cJSON_AddBoolToObject(j, "in_place", old->v.rev == s->v.rev);
		else if (old->v.rev == s->v.rev)
			printf(" (in place)");
	}
	if (j)
		line_put(j);
	else
		putchar('\n');
}

/* Merges two sorted snapshots; first = true prints the starting state. */
static void diff(struct mon *mo, const struct snap *a, const struct snap *b, bool first)
{
	size_t i = 0, k = 0;
	double secs;

	if (first) {
		for (i = 0; i < b->nquar; i++)
			print_quar_event(mo, EV_PRESENT, &b->quar[i], NULL);
		for (i = 0; i < b->nsvc; i++)
			print_svc_event(mo, EV_PRESENT, &b->svc[i], NULL);
		return;
	}
	secs = (b->mono - a->mono) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	print_counters(mo, a, b, secs);

	while (i < a->nquar || k < b->nquar) {
		int c = i >= a->nquar ? 1 : k >= b->nquar ? -1 : cmp_quar(&a->quar[i], &b->quar[k]);

		if (c < 0) {
			print_quar_event(mo, EV_REMOVED, &a->quar[i++], NULL);
			continue;
		}
		const struct quar_ent *q = &b->quar[k++], *old = c == 0 ? &a->quar[i++] : NULL;
		uint64_t pk, by;

		if (!old)
			print_quar_event(mo, EV_ADDED, q, NULL);
		else if (old->v.action != q->v.action || old->v.origin != q->v.origin)
			print_quar_event(mo, EV_CHANGED, q, old);
		pk = old ? delta(q->qs.packets, old->qs.packets) : q->qs.packets;
		by = old ? delta(q->qs.bytes, old->qs.bytes) : q->qs.bytes;
		if (pk)
			print_addr(mo, q, pk, by, secs);
	}

	i = k = 0;
	while (i < a->nsvc || k < b->nsvc) {
		int c = i >= a->nsvc ? 1 : k >= b->nsvc ? -1 : cmp_svc(&a->svc[i], &b->svc[k]);

		if (c < 0) {
			print_svc_event(mo, EV_REMOVED, &a->svc[i++], NULL);
		} else if (c > 0) {
			print_svc_event(mo, EV_ADDED, &b->svc[k++], NULL);
		} else {
			const struct svc_ent *x = &a->svc[i++], *y = &b->svc[k++];

			if (x->v.rev != y->v.rev || x->v.count != y->v.count ||
			    x->v.origin != y->v.origin || !same_backends(x, y))
				print_svc_event(mo, EV_CHANGED, y, x);
		}
	}
}

/* Waits until deadline (monotonic ns) unless SIGINT/SIGTERM comes first. */
static bool wait_until(const sigset_t *set, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ns();
		struct timespec ts;
		int sig;

		if (now >= deadline)
			return true;
		ts.tv_sec = (deadline - now) / 1000000000ull;
		ts.tv_nsec = (deadline - now) % 1000000000ull;
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			return false;
	}
}

int monitor_run(const struct steer_maps *m, const struct monitor_opts *o)
{
	struct snap s[2] = {};
	struct mon mo = { .m = m, .o = o };
	uint64_t step = (uint64_t)(o->interval_s * 1e9), next;
	sigset_t set, old;
	int cur = 0, err;

	/* Blocked and taken with sigtimedwait: no handler, no missed wakeup. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);

	err = snap_take(m, &s[cur]);
	if (err) {
		fprintf(stderr, "steerctl: monitor: read maps: %s\n", strerror(-err));
		goto cleanup;
	}
	stamp(&mo);
	diff(&mo, NULL, &s[cur], true);
	fflush(stdout);
	next = s[cur].mono;
	for (long n = 0; !o->count || n < o->count; n++) {
		/* Fixed cadence: a slow tick does not shift the ones after it. */
		next += step;
		if (!wait_until(&set, next))
			break;
		err = snap_take(m, &s[!cur]);
		if (err) {
			fprintf(stderr, "steerctl: monitor: read maps: %s\n", strerror(-err));
			goto cleanup;
		}
		stamp(&mo);
		diff(&mo, &s[cur], &s[!cur], false);
		fflush(stdout);
		cur = !cur;
	}
cleanup:
	sigprocmask(SIG_SETMASK, &old, NULL);
	snap_free(&s[0]);
	snap_free(&s[1]);
	return err ? 1 : 0;
}
