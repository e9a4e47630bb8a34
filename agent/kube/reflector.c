// SPDX-License-Identifier: MIT
#include "kube/reflector.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/log.h"

#define LINE_MAX_BYTES (64u << 20)

static uint32_t rnd(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)now_ns() * 2654435761u;
	return v;
}

static const char *get_str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, a) : NULL;

	x = cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, b) : NULL;
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

static void set_rv(char *dst, size_t size, const char *rv)
{
	size_t n = rv ? strlen(rv) : size;

	if (n < size && rv != dst)
		memmove(dst, rv, n + 1);
}

static int on_line(const char *line, size_t len, void *arg)
{
	struct watch_stream *ws = arg;
	const cJSON *type, *obj, *code;
	enum watch_type t;
	cJSON *ev = cJSON_ParseWithLength(line, len);
	int err = 0;

	if (!ev) {
		ws->bad++;
		pr_warn("watch: skip an event that is not JSON (%zu bytes)", len);
		return 0;
	}
	type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
		ws->bad++;
		pr_warn("watch: skip event: %s missing or of the wrong type",
			cJSON_IsString(type) ? "object" : "type");
		goto cleanup;
	}
	if (!strcmp(type->valuestring, "ADDED"))
		t = WT_ADDED;
	else if (!strcmp(type->valuestring, "MODIFIED"))
		t = WT_MODIFIED;
	else if (!strcmp(type->valuestring, "DELETED"))
		t = WT_DELETED;
	else if (!strcmp(type->valuestring, "BOOKMARK"))
		t = WT_BOOKMARK;
	else if (!strcmp(type->valuestring, "ERROR"))
		t = WT_ERROR;
	else {
		ws->bad++;
		pr_warn("watch: skip event of unknown type %.32s", type->valuestring);
		goto cleanup;
	}
	if (t == WT_ERROR) {
		code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		ws->error_code = cJSON_IsNumber(code) ? code->valueint : 500;
		err = -ECONNABORTED;
		goto cleanup;
	}
	set_rv(ws->rv, sizeof(ws->rv), get_str(obj, "metadata", "resourceVersion"));
	if (t == WT_BOOKMARK)
		ws->bookmarks++;
	else
		ws->events++;
	if (ws->event)
		ws->event(ws->arg, t, obj, ws->rx_ns);
cleanup:
	cJSON_Delete(ev);
	return err;
}

void watch_stream_init(struct watch_stream *ws,
		       void (*event)(void *, enum watch_type, const cJSON *, uint64_t),
		       void *arg)
{
	memset(ws, 0, sizeof(*ws));
	ndjson_init(&ws->nj, LINE_MAX_BYTES, on_line, ws);
	ws->event = event;
	ws->arg = arg;
}

int watch_stream_feed(struct watch_stream *ws, const char *data, size_t len, uint64_t rx_ns)
{
	ws->rx_ns = rx_ns;
	return ndjson_feed(&ws->nj, data, len);
}

void watch_stream_free(struct watch_stream *ws)
{
	ndjson_free(&ws->nj);
}

/* -------------------------------------------------------------- reflector */

/* client-go's reflector: a backoff resets after 2 min without errors. */
#define BACKOFF_RESET_NS (120 * 1000000000ULL)
#define SHORT_WATCH_NS 1000000000ULL

enum rstate {
	RS_IDLE,
	RS_LIST,
	RS_WATCH,
	RS_BACKOFF,
};

/*
 * Where a list is read from. Every node relists when an API server
 * restarts: from its watch cache (resourceVersion=0, or not older than the
 * last one seen), never all as quorum reads from etcd; a quorum read only
 * when the cache cannot serve that resourceVersion.
 */
enum list_from {
	LF_ANY,		/* resourceVersion=0: whatever the cache holds */
	LF_NOT_OLDER,	/* resourceVersion=rv&resourceVersionMatch=NotOlderThan */
	LF_QUORUM,	/* no resourceVersion: etcd, paged */
};

struct reflector {
	struct kube_client *c;
	struct reflector_cfg cfg;
	struct reflector_ops ops;
	void *arg;
	enum rstate state;
	enum list_from from;
	bool synced;
	bool relist;		/* next start is a list, not a watch */
	bool listing;		/* between list_begin and list_end */
	char cont[4096];
	char rv[64];
	struct kube_req *req;
	struct watch_stream ws;
	struct loop_timer *timer;
	unsigned int backoff_ms;
	uint64_t backoff_ns;	/* when the last backoff began */
	uint64_t watch_ns;	/* when the watch in flight started */
	struct reflector_stats st;
};

static void start_list(struct reflector *r);
static void start_watch(struct reflector *r);

static void on_timer(struct loop *loop, void *arg)
{
	struct reflector *r = arg;

	if (r->relist || !r->rv[0])
		start_list(r);
	else
		start_watch(r);
}

/* Jitter in [d/2, d]: keeps thousands of agents from moving in step. */
static unsigned int jitter(unsigned int d)
{
	return d / 2 + rnd() % (d / 2 + 1);
}

/* retry_s: what the server asked for (Retry-After), 0 if nothing. */
static void backoff(struct reflector *r, const char *why, unsigned int retry_s)
{
	uint64_t now = now_ns();
	unsigned int d;

	if (r->backoff_ms && now - r->backoff_ns >= BACKOFF_RESET_NS)
		r->backoff_ms = 0;
	d = r->backoff_ms ? r->backoff_ms * 2 : r->cfg.backoff_min_ms;
	if (d > r->cfg.backoff_max_ms)
		d = r->cfg.backoff_max_ms;
	r->backoff_ms = d;
	r->backoff_ns = now;
	r->st.errors++;
	r->st.backoff_ms = d;
	d = jitter(d);
	if (retry_s * 1000 > d)
		d = retry_s * 1000;
	pr_warn("%s %s: %s; retrying in %u ms (enforcement unchanged)", r->state == RS_WATCH ?
		"watch" : "list", r->cfg.name, why, d);
	r->state = RS_BACKOFF;
	loop_timer_arm(r->timer, d);
}

static void status_reason(const char *body, size_t len, char *out, size_t size)
{
	cJSON *st = body ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(st, "message");

	snprintf(out, size, "%s", cJSON_IsString(msg) ? msg->valuestring : "");
	cJSON_Delete(st);
}

/* The watch cache cannot serve the resourceVersion asked for. */
static bool rv_unavailable(long status, const char *body, size_t len)
{
	cJSON *st;
	bool yes;

	if (status == 410)
		return true;
	if (status != 504 || !body)
		return false;
	st = cJSON_ParseWithLength(body, len);
	yes = strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "message")) ?: "",
		     "Too large resource version");
	cJSON_Delete(st);
	return yes;
}

static void append_query(char *buf, size_t size, const struct reflector *r)
{
	char *esc;

	if (r->cfg.label_selector && *r->cfg.label_selector) {
		esc = curl_easy_escape(NULL, r->cfg.label_selector, 0);
		if (esc) {
			snprintf(buf + strlen(buf), size - strlen(buf), "&labelSelector=%s", esc);
			curl_free(esc);
		}
	}
}

static void list_failed(struct reflector *r, long status, int err, const char *body,
			size_t len)
{
	unsigned int retry_s = status == 429 || status == 503 ? kube_req_retry_after(r->req) : 0;
	char why[256];

	r->req = NULL;
	if (status == 401)
		kube_client_auth_failed(r->c);
	if (r->cont[0] && status == 410) {
		/* The continue token expired: start the list over. */
		r->cont[0] = '\0';
	} else if (r->from != LF_QUORUM && rv_unavailable(status, body, len)) {
		/* As client-go: the cache is behind or compacted; read etcd once. */
		pr_info("list %s: resourceVersion %s not in the watch cache: listing from etcd",
			r->cfg.name, r->from == LF_ANY ? "0" : r->rv);
		r->from = LF_QUORUM;
		r->cont[0] = '\0';
		start_list(r);
		return;
	}
	status_reason(body, len, why, sizeof(why));
	if (err)
		snprintf(why, sizeof(why), "%s", strerror(-err));
	else if (!why[0])
		snprintf(why, sizeof(why), "HTTP %ld", status);
	backoff(r, why, retry_s);
}

static void list_done(void *arg, long status, int err, const char *body, size_t len)
{
	struct reflector *r = arg;
	const cJSON *items, *it;
	const char *cont, *rv;
	cJSON *list;

	if (err || status != 200) {
		list_failed(r, status, err, body, len);
		return;
	}
	r->req = NULL;
	list = cJSON_ParseWithLength(body, len);
	items = cJSON_GetObjectItemCaseSensitive(list, "items");
	if (!list || (items && !cJSON_IsArray(items) && !cJSON_IsNull(items))) {
		cJSON_Delete(list);
		backoff(r, "list response is not a List", 0);
		return;
	}
	cont = get_str(list, "metadata", "continue");
	if (cont && strlen(cont) >= sizeof(r->cont)) {
		/* Taking it for the last page would sweep every later object. */
		cJSON_Delete(list);
		r->cont[0] = '\0';
		backoff(r, "continue token too long: listing again from the start", 0);
		return;
	}
	if (!r->listing) {
		r->listing = true;
		r->ops.list_begin(r->arg);
	}
	cJSON_ArrayForEach(it, items)
		r->ops.event(r->arg, WT_ADDED, it, now_ns());
	rv = get_str(list, "metadata", "resourceVersion");
	if (cont && *cont) {
		strcpy(r->cont, cont);
		cJSON_Delete(list);
		start_list(r);
		return;
	}
	r->rv[0] = '\0';
	set_rv(r->rv, sizeof(r->rv), rv);
	cJSON_Delete(list);
	r->cont[0] = '\0';
	r->listing = false;
	r->relist = false;
	r->from = LF_NOT_OLDER;
	r->ops.list_end(r->arg);
	if (!r->synced)
		pr_info("list %s: synced at resourceVersion %s", r->cfg.name, r->rv);
	r->synced = true;
	start_watch(r);
}

static void start_list(struct reflector *r)
{
	char path[8192];
	int n;

	if (r->cont[0]) {
		/* A continued page carries no resourceVersion: the token has it. */
		char *esc = curl_easy_escape(NULL, r->cont, 0);

		n = snprintf(path, sizeof(path), "%s?limit=%u&continue=%s", r->cfg.path,
			     r->cfg.page_limit, esc ? esc : "");
		curl_free(esc);
	} else if (r->from == LF_QUORUM || !r->rv[0]) {
		n = snprintf(path, sizeof(path), "%s?limit=%u%s", r->cfg.path, r->cfg.page_limit,
			     r->from == LF_QUORUM ? "" : "&resourceVersion=0");
	} else {
		/* No limit: with one the server would skip its cache for etcd. */
		n = snprintf(path, sizeof(path),
			     "%s?resourceVersion=%s&resourceVersionMatch=NotOlderThan",
			     r->cfg.path, r->rv);
	}
	if (n < 0 || (size_t)n >= sizeof(path)) {
		r->cont[0] = '\0';
		backoff(r, "list path too long", 0);
		return;
	}
	append_query(path, sizeof(path), r);
	r->state = RS_LIST;
	r->st.lists++;
	if (r->from == LF_QUORUM)
		r->st.quorum_lists++;
	r->req = kube_get(r->c, path, r->cfg.accept, false, NULL, list_done, r);
	if (!r->req)
		backoff(r, "cannot start request", 0);
}

static void ws_event(void *arg, enum watch_type t, const cJSON *obj, uint64_t rx_ns)
{
	struct reflector *r = arg;

	r->st.events++;
	if (t != WT_BOOKMARK)
		r->ops.event(r->arg, t, obj, rx_ns);
}

static int watch_data(void *arg, const char *data, size_t len)
{
	struct reflector *r = arg;

	return watch_stream_feed(&r->ws, data, len, now_ns()) ? 1 : 0;
}

static unsigned long stream_bad(const struct watch_stream *ws)
{
	return ws->bad + ws->nj.dropped;
}

static void watch_done(void *arg, long status, int err, const char *body, size_t len)
{
	struct reflector *r = arg;
	unsigned int retry_s = status == 429 || status == 503 ? kube_req_retry_after(r->req) : 0;
	bool quiet = !r->ws.events && !r->ws.bookmarks;
	char why[256];

	r->req = NULL;
	set_rv(r->rv, sizeof(r->rv), r->ws.rv[0] ? r->ws.rv : NULL);
	r->st.malformed += stream_bad(&r->ws);
	watch_stream_free(&r->ws);
	if (r->ws.error_code == 410 || status == 410) {
		pr_info("watch %s: resourceVersion %s is too old (410 Gone): relisting",
			r->cfg.name, r->rv);
		r->relist = true;
		r->st.relists++;
		r->state = RS_BACKOFF;
		/* Not at once: after an API server restart every node gets one. */
		loop_timer_arm(r->timer, jitter(r->cfg.backoff_min_ms));
		return;
	}
	if (r->ws.error_code) {
		snprintf(why, sizeof(why), "ERROR event with code %d", r->ws.error_code);
		backoff(r, why, 0);
		return;
	}
	if (!err && status == 200) {
		if (quiet && now_ns() - r->watch_ns < SHORT_WATCH_NS) {
			/* client-go's guard: a server that closes at once is not healthy. */
			backoff(r, "the server ended the watch within 1 s with no event", 0);
			return;
		}
		/* The server closed the stream at timeoutSeconds: carry on. */
		pr_debug("watch %s: stream ended at resourceVersion %s", r->cfg.name, r->rv);
		start_watch(r);
		return;
	}
	if (status == 401)
		kube_client_auth_failed(r->c);
	status_reason(body, len, why, sizeof(why));
	if (err)
		snprintf(why, sizeof(why), "%s", err == -ETIMEDOUT ?
			 "no data (dead connection?)" : strerror(-err));
	else if (!why[0])
		snprintf(why, sizeof(why), "HTTP %ld", status);
	backoff(r, why, retry_s);
}

static void start_watch(struct reflector *r)
{
	char path[2048];

	snprintf(path, sizeof(path),
		 "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
		 r->cfg.path, r->rv, 300 + rnd() % 301);
	append_query(path, sizeof(path), r);
	watch_stream_init(&r->ws, ws_event, r);
	set_rv(r->ws.rv, sizeof(r->ws.rv), r->rv);
	r->state = RS_WATCH;
	r->st.watches++;
	r->watch_ns = now_ns();
	r->req = kube_get(r->c, path, r->cfg.watch_accept, true, watch_data, watch_done, r);
	if (!r->req) {
		watch_stream_free(&r->ws);
		backoff(r, "cannot start request", 0);
	}
}

struct reflector *reflector_new(struct kube_client *c, const struct reflector_cfg *cfg,
				const struct reflector_ops *ops, void *arg)
{
	struct reflector *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->c = c;
	r->cfg = *cfg;
	r->ops = *ops;
	r->arg = arg;
	if (!r->cfg.page_limit)
		r->cfg.page_limit = 500;
	if (!r->cfg.backoff_min_ms)
		r->cfg.backoff_min_ms = 800;
	if (!r->cfg.backoff_max_ms)
		r->cfg.backoff_max_ms = 30000;
	return r;
}

int reflector_start(struct reflector *r, struct loop *loop);

void reflector_free(struct reflector *r)
{
	if (!r)
		return;
	kube_req_cancel(r->req);
	if (r->state == RS_WATCH)
		watch_stream_free(&r->ws);
	loop_timer_free(r->timer);
	free(r);
}

bool reflector_synced(const struct reflector *r)
{
	return r->synced;
}

void reflector_get_stats(const struct reflector *r, struct reflector_stats *st)
{
	*st = r->st;
	if (r->state == RS_WATCH)
		st->malformed += stream_bad(&r->ws);
}

int reflector_start(struct reflector *r, struct loop *loop)
{
	r->timer = loop_timer_new(loop, on_timer, r);
	if (!r->timer)
		return -ENOMEM;
	r->relist = true;
	start_list(r);
	return 0;
}
