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

enum rstate {
	RS_IDLE,
	RS_LIST,
	RS_WATCH,
	RS_BACKOFF,
};

struct reflector {
	struct kube_client *c;
	struct reflector_cfg cfg;
	struct reflector_ops ops;
	void *arg;
	enum rstate state;
	bool synced;
	bool relist;		/* next start is a list, not a watch */
	bool listing;		/* between list_begin and list_end */
	char cont[1024];
	char rv[64];
	struct kube_req *req;
	struct watch_stream ws;
	struct loop_timer *timer;
	unsigned int backoff_ms;
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

static void backoff(struct reflector *r, const char *why)
{
	unsigned int d = r->backoff_ms ? r->backoff_ms * 2 : r->cfg.backoff_min_ms;

	if (d > r->cfg.backoff_max_ms)
		d = r->cfg.backoff_max_ms;
	r->backoff_ms = d;
	r->st.errors++;
	r->st.backoff_ms = d;
	/* Jitter in [d/2, d]: keeps thousands of agents from moving in step. */
	d = d / 2 + rnd() % (d / 2 + 1);
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

static void list_done(void *arg, long status, int err, const char *body, size_t len)
{
	struct reflector *r = arg;
	const cJSON *items, *it;
	const char *cont, *rv;
	char why[256];
	cJSON *list;

	r->req = NULL;
	if (err || status != 200) {
		status_reason(body, len, why, sizeof(why));
		if (status == 401)
			kube_client_auth_failed(r->c);
		if (status == 410) {
			/* The continue token expired: start the list over. */
			r->cont[0] = '\0';
		}
		if (err)
			snprintf(why, sizeof(why), "%s", strerror(-err));
		else if (!why[0])
			snprintf(why, sizeof(why), "HTTP %ld", status);
		backoff(r, why);
		return;
	}
	list = cJSON_ParseWithLength(body, len);
	items = cJSON_GetObjectItemCaseSensitive(list, "items");
	if (!list || (items && !cJSON_IsArray(items) && !cJSON_IsNull(items))) {
		cJSON_Delete(list);
		backoff(r, "list response is not a List");
		return;
	}
	if (!r->listing) {
		r->listing = true;
		r->ops.list_begin(r->arg);
	}
	cJSON_ArrayForEach(it, items)
		r->ops.event(r->arg, WT_ADDED, it, now_ns());
	cont = get_str(list, "metadata", "continue");
	rv = get_str(list, "metadata", "resourceVersion");
	if (cont && *cont && strlen(cont) < sizeof(r->cont)) {
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
	r->backoff_ms = 0;
	r->ops.list_end(r->arg);
	if (!r->synced)
		pr_info("list %s: synced at resourceVersion %s", r->cfg.name, r->rv);
	r->synced = true;
	start_watch(r);
}

static void start_list(struct reflector *r)
{
	char path[2048];

	snprintf(path, sizeof(path), "%s?limit=%u", r->cfg.path, r->cfg.page_limit);
	if (r->cont[0]) {
		char *esc = curl_easy_escape(NULL, r->cont, 0);

		snprintf(path + strlen(path), sizeof(path) - strlen(path), "&continue=%s",
			 esc ? esc : "");
		curl_free(esc);
	}
	append_query(path, sizeof(path), r);
	r->state = RS_LIST;
	r->st.lists++;
	r->req = kube_get(r->c, path, r->cfg.accept, false, NULL, list_done, r);
	if (!r->req)
		backoff(r, "cannot start request");
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
	int err = watch_stream_feed(&r->ws, data, len, now_ns());

	/* A healthy stream resets the backoff. */
	r->backoff_ms = 0;
	return err ? 1 : 0;
}

static void watch_done(void *arg, long status, int err, const char *body, size_t len)
{
	struct reflector *r = arg;
	char why[256];

	r->req = NULL;
	set_rv(r->rv, sizeof(r->rv), r->ws.rv[0] ? r->ws.rv : NULL);
	if (r->ws.error_code == 410 || status == 410) {
		pr_info("watch %s: resourceVersion %s is too old (410 Gone): relisting",
			r->cfg.name, r->rv);
		r->relist = true;
		r->st.relists++;
		watch_stream_free(&r->ws);
		start_list(r);
		return;
	}
	if (r->ws.error_code) {
		snprintf(why, sizeof(why), "ERROR event with code %d", r->ws.error_code);
		watch_stream_free(&r->ws);
		backoff(r, why);
		return;
	}
	watch_stream_free(&r->ws);
	if (!err && status == 200) {
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
	backoff(r, why);
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
	r->req = kube_get(r->c, path, r->cfg.watch_accept, true, watch_data, watch_done, r);
	if (!r->req) {
		watch_stream_free(&r->ws);
		backoff(r, "cannot start request");
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
