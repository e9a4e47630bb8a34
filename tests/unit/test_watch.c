// SPDX-License-Identifier: MIT
/*
 * Watch streams: NDJSON framing at every chunk boundary, bookmarks, ERROR
 * 410, selector exit (DELETED) and entry (ADDED), with a recorded stream in
 * the API's real shape (tests/fixtures/watch-quarantine-pods.ndjson). Then
 * the reflector's guards, against a scripted HTTP server in a thread: a
 * watch the server ends at once, backoff that bytes do not reset,
 * Retry-After, an oversized continue token, and where lists are read from.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "kube/client.h"
#include "kube/ndjson.h"
#include "kube/reflector.h"
#include "lib/clock.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(1 << 20);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

struct rec {
	char log[4096];
	int n;
};

static void rec_event(void *arg, enum watch_type t, const cJSON *obj, uint64_t rx)
{
	static const char *names[] = { "A", "M", "D", "B", "E" };
	struct rec *r = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");

	r->n++;
	snprintf(r->log + strlen(r->log), sizeof(r->log) - strlen(r->log), "%s:%s ", names[t],
		 cJSON_IsString(name) ? name->valuestring : "-");
}

#define EXPECT "A:nginx-1802606028-1posu M:nginx-1802606028-1posu B:- " \
	"D:nginx-1802606028-1posu A:nginx-1802606028-7xk2p "

/* Feeds the stream in chunks of the given sizes (cycled); returns feed's result. */
static int run(const char *data, size_t len, const size_t *chunks, int nchunks,
	       struct rec *r, struct watch_stream *ws)
{
	size_t off = 0;
	int i = 0, err = 0;

	memset(r, 0, sizeof(*r));
	watch_stream_init(ws, rec_event, r);
	while (off < len && !err) {
		size_t n = chunks[i++ % nchunks];

		if (n > len - off)
			n = len - off;
		err = watch_stream_feed(ws, data + off, n, 0);
		off += n;
	}
	return err;
}

TEST(recorded_stream_whole)
{
	struct watch_stream ws;
	struct rec r;
	size_t len, one;
	char *data = slurp("tests/fixtures/watch-quarantine-pods.ndjson", &len);

	if (!ASSERT_OK_PTR(data, "fixture"))
		return;
	one = len;
	ASSERT_EQ(run(data, len, &one, 1, &r, &ws), -ECONNABORTED, "ERROR stops the stream");
	ASSERT_STREQ(r.log, EXPECT, "events in order, nothing after ERROR");
	ASSERT_EQ(ws.error_code, 410, "410 Expired seen");
	ASSERT_STREQ(ws.rv, "1012", "last resourceVersion (bookmark then events)");
	ASSERT_EQ(ws.bookmarks, 1, "one bookmark");
	watch_stream_free(&ws);
	free(data);
}

TEST(byte_by_byte)
{
	struct watch_stream ws;
	struct rec r;
	size_t len, one = 1;
	char *data = slurp("tests/fixtures/watch-quarantine-pods.ndjson", &len);

	if (!ASSERT_OK_PTR(data, "fixture"))
		return;
	ASSERT_EQ(run(data, len, &one, 1, &r, &ws), -ECONNABORTED, "stops at ERROR");
	ASSERT_STREQ(r.log, EXPECT, "same events byte by byte");
	watch_stream_free(&ws);
	free(data);
}

TEST(every_split_point)
{
	struct watch_stream ws;
	struct rec r;
	size_t len, split, sizes[2];
	char *data = slurp("tests/fixtures/watch-quarantine-pods.ndjson", &len);
	int bad = 0;

	if (!ASSERT_OK_PTR(data, "fixture"))
		return;
	/* Two chunks, cut at every byte (inside UTF-8 and inside "\n" pairs too). */
	for (split = 1; split < len; split++) {
		sizes[0] = split;
		sizes[1] = len;
		run(data, len, sizes, 2, &r, &ws);
		if (strcmp(r.log, EXPECT))
			bad++;
		watch_stream_free(&ws);
	}
	ASSERT_EQ(bad, 0, "splits that changed the events");
	/* Odd, prime-sized chunks. */
	{
		size_t odd[] = { 7, 131, 3, 1021, 1, 64 };

		run(data, len, odd, 6, &r, &ws);
		ASSERT_STREQ(r.log, EXPECT, "odd chunks");
		watch_stream_free(&ws);
	}
	free(data);
}

static int count_line(const char *line, size_t len, void *arg)
{
	int *n = arg;

	(*n)++;
	return 0;
}

TEST(ndjson_limits_and_crlf)
{
	struct ndjson nj;
	char big[300];
	int n = 0;

	ndjson_init(&nj, 256, count_line, &n);
	ASSERT_OK(ndjson_feed(&nj, "{}\r\n\n\n{}", 9), "crlf and blank lines");
	ASSERT_EQ(n, 1, "one line so far");
	ASSERT_OK(ndjson_feed(&nj, "\n", 1), "end of second");
	ASSERT_EQ(n, 2, "blank lines skipped");
	memset(big, 'x', sizeof(big));
	ASSERT_OK(ndjson_feed(&nj, big, sizeof(big)), "oversized line");
	ASSERT_OK(ndjson_feed(&nj, big, 10), "more of it");
	ASSERT_OK(ndjson_feed(&nj, "\n{}\n", 4), "then a good one");
	ASSERT_EQ(n, 3, "oversized dropped, next kept");
	ASSERT_EQ(nj.dropped, 1, "counted");
	ndjson_free(&nj);
}

TEST(garbage_lines_skipped)
{
	const char *s = "not json\n{\"type\":\"ADDED\"}\n{\"type\":7,\"object\":{}}\n"
			"{\"type\":\"WHAT\",\"object\":{}}\n[1]\n"
			"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"ok\",\"resourceVersion\":\"5\"}}}\n";
	struct watch_stream ws;
	struct rec r = {};

	watch_stream_init(&ws, rec_event, &r);
	ASSERT_OK(watch_stream_feed(&ws, s, strlen(s), 0), "feed");
	ASSERT_STREQ(r.log, "A:ok ", "only the good event");
	ASSERT_EQ(ws.bad, 5, "bad lines counted");
	ASSERT_STREQ(ws.rv, "5", "rv");
	watch_stream_free(&ws);
}

/* ------------------------------------------------- scripted API server */

#define MAX_REQS 256

struct srv {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t mu;
	volatile bool stop;
	/* Answers request n (0-based) for path; runs in the server thread. */
	void (*handle)(struct srv *s, int fd, const char *path, int n);
	char path[MAX_REQS][8192];
	uint64_t ns[MAX_REQS];
	int n;
};

static void say(int fd, const char *s)
{
	ssize_t left = strlen(s);

	while (left > 0) {
		/* The client may be gone (a test ends): no SIGPIPE. */
		ssize_t w = send(fd, s, left, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		left -= w;
	}
}

static void reply(int fd, int code, const char *headers, const char *body)
{
	char h[512];

	snprintf(h, sizeof(h), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", code, strlen(body),
		 headers ? headers : "");
	say(fd, h);
	say(fd, body);
}

/* A watch: lines as chunks; clean: the terminating chunk, else a cut. */
static void stream(int fd, const char *const *lines, bool clean)
{
	char c[4096];

	say(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
	for (; lines && *lines; lines++) {
		snprintf(c, sizeof(c), "%zx\r\n%s\n\r\n", strlen(*lines) + 1, *lines);
		say(fd, c);
	}
	if (clean)
		say(fd, "0\r\n\r\n");
}

static void *srv_run(void *arg)
{
	struct srv *s = arg;

	while (!s->stop) {
		struct pollfd p = { .fd = s->lfd, .events = POLLIN };
		char req[16384], path[8192];
		size_t len = 0;
		int fd, n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		req[0] = '\0';
		while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
			ssize_t r = read(fd, req + len, sizeof(req) - 1 - len);

			if (r <= 0)
				break;
			len += r;
			req[len] = '\0';
		}
		if (sscanf(req, "GET %8191s", path) != 1)
			path[0] = '\0';
		pthread_mutex_lock(&s->mu);
		n = s->n;
		if (n < MAX_REQS) {
			snprintf(s->path[n], sizeof(s->path[n]), "%s", path);
			s->ns[n] = now_ns();
			s->n++;
		}
		pthread_mutex_unlock(&s->mu);
		s->handle(s, fd, path, n);
		close(fd);
	}
	return NULL;
}

static int srv_start(struct srv *s, void (*handle)(struct srv *, int, const char *, int))
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->handle = handle;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(s->lfd, 16) || getsockname(s->lfd, (struct sockaddr *)&a, &alen))
		return -errno;
	s->port = ntohs(a.sin_port);
	return -pthread_create(&s->th, NULL, srv_run, s);
}

static void srv_stop(struct srv *s)
{
	s->stop = true;
	pthread_join(s->th, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
}

static int srv_count(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

#define LIST_RV5 "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[]}"

/* A reflector on /api/v1/pods against s, with a fast backoff. */
struct rig {
	struct srv srv;
	struct kube_config cfg;
	struct loop *loop;
	struct kube_client *c;
	struct reflector *r;
	int list_ends, objects, objects_at_end;
};

static void rig_list_begin(void *arg)
{
	((struct rig *)arg)->objects = 0;
}

static void rig_event(void *arg, enum watch_type t, const cJSON *obj, uint64_t rx)
{
	((struct rig *)arg)->objects++;
}

static void rig_list_end(void *arg)
{
	struct rig *g = arg;

	g->list_ends++;
	g->objects_at_end = g->objects;
}

static const struct reflector_ops rig_ops = {
	.list_begin = rig_list_begin, .event = rig_event, .list_end = rig_list_end,
};

static bool rig_start(struct rig *g, void (*handle)(struct srv *, int, const char *, int))
{
	struct reflector_cfg rc = {
		.name = "pods", .path = "/api/v1/pods", .backoff_min_ms = 100,
		.backoff_max_ms = 30000,
	};
	char url[64];

	memset(g, 0, sizeof(*g));
	if (!ASSERT_OK(srv_start(&g->srv, handle), "server"))
		return false;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", g->srv.port);
	g->cfg.server = strdup(url);
	g->loop = loop_new();
	g->c = kube_client_new(g->loop, &g->cfg, NULL);
	g->r = reflector_new(g->c, &rc, &rig_ops, g);
	return ASSERT_OK(reflector_start(g->r, g->loop), "reflector_start");
}

static void rig_stop(struct rig *g)
{
	reflector_free(g->r);
	kube_client_free(g->c);
	loop_free(g->loop);
	srv_stop(&g->srv);
	kube_config_free(&g->cfg);
}

static void stop_loop(struct loop *loop, void *arg)
{
	loop_stop(loop, 0);
}

static void run_for(struct rig *g, unsigned int ms)
{
	struct loop_timer *t = loop_timer_new(g->loop, stop_loop, NULL);

	loop_timer_arm(t, ms);
	loop_run(g->loop);
	loop_timer_free(t);
}

static void short_watches(struct srv *s, int fd, const char *path, int n)
{
	if (strstr(path, "watch=1"))
		stream(fd, NULL, true);	/* 200, then at once the end */
	else
		reply(fd, 200, NULL, LIST_RV5);
}

/*
 * What a real API server does to a watch it cannot encode (a ...List
 * asked for): without the guard, re-watching at once is a hot loop.
 */
TEST(watch_ended_at_once_backs_off)
{
	struct reflector_stats st;
	struct rig g;

	if (!rig_start(&g, short_watches))
		goto cleanup;
	run_for(&g, 2000);
	reflector_get_stats(g.r, &st);
	ASSERT_GE(st.watches, 3, "watches retried");
	ASSERT_LE(st.watches, 8, "watches in 2 s with 100 ms doubling backoff");
	ASSERT_GE(st.errors, st.watches - 1, "each such watch counted as an error");
	ASSERT_GE(st.backoff_ms, 400, "backoff grew");
cleanup:
	rig_stop(&g);
}

static void cut_after_a_bookmark(struct srv *s, int fd, const char *path, int n)
{
	static const char *const bm[] = {
		"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"6\"}}}", NULL,
	};

	if (strstr(path, "watch=1"))
		stream(fd, bm, false);	/* a byte, then the connection drops */
	else
		reply(fd, 200, NULL, LIST_RV5);
}

/* A stream that sends a byte and dies is not healthy: the backoff keeps growing. */
TEST(backoff_not_reset_by_a_byte)
{
	struct reflector_stats st;
	struct rig g;

	if (!rig_start(&g, cut_after_a_bookmark))
		goto cleanup;
	run_for(&g, 2500);
	reflector_get_stats(g.r, &st);
	ASSERT_GE(st.errors, 4, "each cut stream an error");
	ASSERT_GE(st.backoff_ms, 800, "backoff doubled across them");
	ASSERT_LE(st.watches, 9, "watches in 2.5 s");
cleanup:
	rig_stop(&g);
}

static void throttled_once(struct srv *s, int fd, const char *path, int n)
{
	if (n == 0)
		reply(fd, 429, "Retry-After: 2\r\n",
		      "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\","
		      "\"message\":\"too many requests, please try again later\"}");
	else if (strstr(path, "watch=1"))
		stream(fd, NULL, false);
	else
		reply(fd, 200, NULL, LIST_RV5);
}

TEST(retry_after_honoured)
{
	struct rig g;
	double gap;

	if (!rig_start(&g, throttled_once))
		goto cleanup;
	run_for(&g, 3000);
	if (!ASSERT_GE(srv_count(&g.srv), 2, "list retried"))
		goto cleanup;
	gap = (g.srv.ns[1] - g.srv.ns[0]) / 1e9;
	ASSERT_TRUE(gap >= 1.9 && gap < 2.8, "retried after Retry-After: 2 s, not the 100 ms backoff");
	ASSERT_TRUE(reflector_synced(g.r), "synced after it");
cleanup:
	rig_stop(&g);
}

static void huge_continue(struct srv *s, int fd, const char *path, int n)
{
	static char page[8192];

	if (strstr(path, "watch=1")) {
		stream(fd, NULL, false);
	} else if (n == 0) {
		char tok[5001];

		memset(tok, 'x', sizeof(tok) - 1);
		tok[sizeof(tok) - 1] = '\0';
		snprintf(page, sizeof(page), "{\"metadata\":{\"resourceVersion\":\"5\","
			 "\"continue\":\"%s\"},\"items\":[{\"metadata\":{\"name\":\"a\"}}]}", tok);
		reply(fd, 200, NULL, page);
	} else {
		reply(fd, 200, NULL, "{\"metadata\":{\"resourceVersion\":\"5\"},\"items\":"
		      "[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}");
	}
}

/* Taken for the last page, it would end the list early and sweep b. */
TEST(oversized_continue_is_an_error)
{
	struct reflector_stats st;
	struct rig g;

	if (!rig_start(&g, huge_continue))
		goto cleanup;
	run_for(&g, 1000);
	reflector_get_stats(g.r, &st);
	ASSERT_GE(st.errors, 1, "an error");
	ASSERT_GE(g.list_ends, 1, "the list completed after");
	ASSERT_EQ(g.objects_at_end, 2, "with every object");
	if (ASSERT_GE(srv_count(&g.srv), 2, "two lists"))
		ASSERT_TRUE(!strstr(g.srv.path[1], "continue="), "started over, no token");
cleanup:
	rig_stop(&g);
}

static void gone_then_too_old(struct srv *s, int fd, const char *path, int n)
{
	static const char *const gone[] = {
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
		"\"reason\":\"Expired\",\"message\":\"too old resource version: 5 (9)\"}}", NULL,
	};

	if (n == 0)
		reply(fd, 200, NULL, LIST_RV5);
	else if (n == 1)
		stream(fd, gone, true);
	else if (strstr(path, "watch=1"))
		stream(fd, NULL, false);
	else if (n == 2)
		reply(fd, 410, NULL, "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
		      "\"message\":\"too old resource version: 5 (9)\"}");
	else
		reply(fd, 200, NULL, "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[]}");
}

/*
 * N nodes relisting must not all read etcd: the first list and a relist
 * after 410 come from the watch cache; only when that cannot serve the
 * resourceVersion does a paged quorum list go to etcd.
 */
TEST(lists_come_from_the_watch_cache)
{
	struct reflector_stats st;
	struct rig g;

	if (!rig_start(&g, gone_then_too_old))
		goto cleanup;
	run_for(&g, 1500);
	reflector_get_stats(g.r, &st);
	if (!ASSERT_GE(srv_count(&g.srv), 5, "list, watch, relist, quorum list, watch"))
		goto cleanup;
	ASSERT_TRUE(strstr(g.srv.path[0], "resourceVersion=0") &&
		    !strstr(g.srv.path[0], "watch"), "first list: resourceVersion=0");
	ASSERT_TRUE(strstr(g.srv.path[1], "watch=1") &&
		    strstr(g.srv.path[1], "resourceVersion=5"), "watch from the list's rv");
	ASSERT_TRUE(strstr(g.srv.path[2], "resourceVersion=5&resourceVersionMatch=NotOlderThan") &&
		    !strstr(g.srv.path[2], "limit="), "relist after 410: not older than 5, no limit");
	ASSERT_TRUE(!strstr(g.srv.path[3], "resourceVersion") && strstr(g.srv.path[3], "limit=500"),
		    "the cache could not: a paged quorum list");
	ASSERT_TRUE(strstr(g.srv.path[4], "resourceVersion=20"), "then watch from it");
	ASSERT_EQ(st.lists, 3, "lists");
	ASSERT_EQ(st.quorum_lists, 1, "quorum lists");
	ASSERT_EQ(st.relists, 1, "relists");
cleanup:
	rig_stop(&g);
}
