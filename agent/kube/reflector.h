/* SPDX-License-Identifier: MIT */
/*
 * A reflector keeps a cache in step with one API collection, as client-go's
 * does: list from the watch cache (resourceVersion=0, paged from etcd only
 * when the cache cannot serve it), then watch from the list's
 * resourceVersion with bookmarks; re-watch on a clean end, relist on 410
 * Gone, jittered backoff on errors (and on a watch the server ends at once),
 * reset after 2 min without one; Retry-After honoured. It never tells the
 * cache to forget anything because a connection failed (fail-static).
 */
#ifndef STEER_KUBE_REFLECTOR_H
#define STEER_KUBE_REFLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/client.h"
#include "kube/ndjson.h"

struct cJSON;

enum watch_type {
	WT_ADDED,
	WT_MODIFIED,
	WT_DELETED,
	WT_BOOKMARK,
	WT_ERROR,
};

struct reflector_ops {
	void (*list_begin)(void *arg);
	/* rx_ns: CLOCK_MONOTONIC when the bytes of this event arrived. */
	void (*event)(void *arg, enum watch_type type, const struct cJSON *obj, uint64_t rx_ns);
	void (*list_end)(void *arg);
};

struct reflector_cfg {
	const char *name;		/* for logs: "pods", "services", ... */
	const char *path;		/* collection, e.g. /api/v1/pods */
	const char *label_selector;	/* NULL: none */
	const char *accept;		/* of a list; NULL: application/json */
	const char *watch_accept;	/* of a watch; NULL: application/json */
	unsigned int page_limit;	/* default 500 */
	unsigned int backoff_min_ms;	/* default 800 */
	unsigned int backoff_max_ms;	/* default 30000 */
};

/*
 * Watch-stream framing and decoding, separate from the transport so tests
 * can feed it chunk by chunk.
 */
struct watch_stream {
	struct ndjson nj;
	char rv[64];		/* last resourceVersion seen */
	int error_code;		/* code of an in-stream ERROR, 0 if none */
	unsigned long events, bookmarks, bad;
	uint64_t rx_ns;
	void (*event)(void *arg, enum watch_type type, const struct cJSON *obj, uint64_t rx_ns);
	void *arg;
};

void watch_stream_init(struct watch_stream *ws,
		       void (*event)(void *, enum watch_type, const struct cJSON *, uint64_t),
		       void *arg);
/* Returns 0, or -ECONNABORTED after an ERROR event (stop reading). */
int watch_stream_feed(struct watch_stream *ws, const char *data, size_t len, uint64_t rx_ns);
void watch_stream_free(struct watch_stream *ws);

struct reflector;

struct reflector *reflector_new(struct kube_client *c, const struct reflector_cfg *cfg,
				const struct reflector_ops *ops, void *arg);
int reflector_start(struct reflector *r, struct loop *loop);
void reflector_free(struct reflector *r);
/* The first list completed. */
bool reflector_synced(const struct reflector *r);

struct reflector_stats {
	unsigned long lists, watches, relists, errors, events;
	unsigned long quorum_lists;	/* list requests read from etcd, not the cache */
	unsigned long malformed;	/* watch lines skipped: not JSON, bad shape, too long */
	unsigned int backoff_ms;
};
void reflector_get_stats(const struct reflector *r, struct reflector_stats *st);

#endif /* STEER_KUBE_REFLECTOR_H */
