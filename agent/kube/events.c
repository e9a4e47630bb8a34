// SPDX-License-Identifier: MIT
#include "kube/events.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"

struct pending {
	char path[300];
	char *body;
};

struct kube_events {
	struct kube_client *c;
	/*
	 * Decisions are made inside libcurl's write callback, where libcurl
	 * refuses new requests (CURLM_RECURSIVE_API_CALL): queue the Event
	 * and post it from a timer, outside any libcurl callback.
	 */
	struct loop_timer *timer;
	struct pending queue[EVENTS_BURST];
	unsigned int queued;
	char *node;
	double tokens;
	uint64_t refilled_ns;
	uint64_t posted;
	uint64_t dropped;
};

static void posted(void *arg, long status, int err, const char *body, size_t len)
{
	struct kube_events *e = arg;

	if (!err && status >= 200 && status < 300) {
		e->posted++;
	} else {
		e->dropped++;
		pr_warn("post event: HTTP %ld%s%s", status, err ? ": " : "",
			err ? strerror(-err) : "");
	}
}

static void flush_queue(struct loop *loop, void *arg)
{
	struct kube_events *e = arg;

	for (unsigned int i = 0; i < e->queued; i++) {
		struct pending *p = &e->queue[i];

		if (!kube_post(e->c, p->path, p->body, posted, e)) {
			e->dropped++;
			pr_warn("post event to %s: cannot start the request", p->path);
		}
		free(p->body);
	}
	e->queued = 0;
}

struct kube_events *kube_events_new(struct loop *loop, struct kube_client *c, const char *node)
{
	struct kube_events *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->c = c;
	e->node = strdup(node ? node : "");
	e->tokens = EVENTS_BURST;
	e->refilled_ns = now_ns();
	e->timer = loop_timer_new(loop, flush_queue, e);
	if (!e->node || !e->timer) {
		kube_events_free(e);
		return NULL;
	}
	return e;
}

void kube_events_free(struct kube_events *e)
{
	if (!e)
		return;
	for (unsigned int i = 0; i < e->queued; i++)
		free(e->queue[i].body);
	loop_timer_free(e->timer);
	free(e->node);
	free(e);
}

static bool take_token(struct kube_events *e)
{
	uint64_t now = now_ns();

	e->tokens += (double)(now - e->refilled_ns) / 1e9 * EVENTS_PER_SEC;
	if (e->tokens > EVENTS_BURST)
		e->tokens = EVENTS_BURST;
	e->refilled_ns = now;
	if (e->tokens < 1)
		return false;
	e->tokens -= 1;
	return true;
}


static char *event_json(const struct kube_events *e, const char *ns, const char *name,
			const char *uid, const char *type, const char *reason,
			const char *message)
{
	char ts[32], prefix[300];
	time_t now = time(NULL);
	struct tm tm;
	cJSON *o = cJSON_CreateObject(), *md, *io, *src;
	char *out = NULL;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(prefix, sizeof(prefix), "%s.", name);
	md = cJSON_AddObjectToObject(o, "metadata");
	io = cJSON_AddObjectToObject(o, "involvedObject");
	src = cJSON_AddObjectToObject(o, "source");
	if (!md || !io || !src)
		goto cleanup;
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "Event");
	cJSON_AddStringToObject(md, "generateName", prefix);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON_AddStringToObject(io, "apiVersion", "v1");
	cJSON_AddStringToObject(io, "kind", "Pod");
	cJSON_AddStringToObject(io, "namespace", ns);
	cJSON_AddStringToObject(io, "name", name);
	if (uid && uid[0])
		cJSON_AddStringToObject(io, "uid", uid);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddStringToObject(o, "message", message);
	cJSON_AddStringToObject(src, "component", "steerd");
	cJSON_AddStringToObject(src, "host", e->node);
	cJSON_AddStringToObject(o, "reportingComponent", "steer.dev/steerd");
	cJSON_AddStringToObject(o, "reportingInstance", e->node);
	cJSON_AddStringToObject(o, "firstTimestamp", ts);
	cJSON_AddStringToObject(o, "lastTimestamp", ts);
	cJSON_AddNumberToObject(o, "count", 1);
	out = cJSON_PrintUnformatted(o);
cleanup:
	cJSON_Delete(o);
	return out;
}

int kube_events_pod(struct kube_events *e, const char *key, const char *uid,
		    const char *type, const char *reason, const char *message)
{
	const char *slash = strchr(key, '/');
	char ns[254], *body;
	struct pending *p;

	if (!slash || (size_t)(slash - key) >= sizeof(ns))
		return -EINVAL;
	if (e->queued == EVENTS_BURST || !take_token(e)) {
		e->dropped++;
		pr_debug("event %s on pod %s dropped by the rate limit", reason, key);
		return -EBUSY;
	}
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	body = event_json(e, ns, slash + 1, uid, type, reason, message);
	if (!body)
		return -ENOMEM;
	p = &e->queue[e->queued++];
	snprintf(p->path, sizeof(p->path), "/api/v1/namespaces/%s/events", ns);
	p->body = body;
	loop_timer_arm(e->timer, 0);
	return 0;
}

uint64_t kube_events_posted(const struct kube_events *e)
{
	return e->posted;
}

uint64_t kube_events_dropped(const struct kube_events *e)
{
	return e->dropped;
}
