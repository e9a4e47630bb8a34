// SPDX-License-Identifier: MIT
/*
 * Watch streams: NDJSON framing at every chunk boundary, bookmarks, ERROR
 * 410, selector exit (DELETED) and entry (ADDED), with a recorded stream in
 * the API's real shape (tests/fixtures/watch-quarantine-pods.ndjson).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>

#include "harness.h"
#include "kube/ndjson.h"
#include "kube/reflector.h"

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
