/* SPDX-License-Identifier: MIT */
/*
 * HTTP(S) GETs and POSTs against the API server on libcurl's multi interface, driven
 * by steerd's epoll loop (socket and timer callbacks; no threads).
 */
#ifndef STEER_KUBE_CLIENT_H
#define STEER_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/config.h"
#include "lib/loop.h"

struct kube_client;
struct kube_req;

/* Streamed 2xx body bytes; return non-zero to abort the request. */
typedef int (*kube_data_cb)(void *arg, const char *data, size_t len);
/*
 * The request ended: status is the HTTP code (0 if none), err 0 or a
 * negative errno for transport errors, body the buffered body (non-stream
 * requests, and error bodies of streams). The request is freed after.
 */
typedef void (*kube_done_cb)(void *arg, long status, int err, const char *body, size_t len);

struct kube_client_opts {
	unsigned int stream_idle_s;	/* no byte for this long: dead (default 90) */
	unsigned int token_reload_s;	/* default 60 */
};

struct kube_client_stats {
	unsigned long dead;	/* watches ended because the server went silent */
	unsigned long probes;	/* liveness probes after a quiet spell */
};

struct kube_client *kube_client_new(struct loop *loop, struct kube_config *cfg,
				    const struct kube_client_opts *opts);
void kube_client_free(struct kube_client *c);

/*
 * GET server+path. A stream request hands 2xx body bytes to on_data as they
 * arrive; otherwise the body is buffered and given to on_done.
 */
struct kube_req *kube_get(struct kube_client *c, const char *path, const char *accept,
			  bool stream, kube_data_cb on_data, kube_done_cb on_done, void *arg);
/* POST a JSON body to server+path; the response body goes to on_done. */
struct kube_req *kube_post(struct kube_client *c, const char *path, const char *json,
			   kube_done_cb on_done, void *arg);
/* Stops a request without calling on_done; never from a libcurl callback. */
void kube_req_cancel(struct kube_req *r);

/* A 401 came back: re-read the token now. */
void kube_client_auth_failed(struct kube_client *c);

/* Seconds a 429 or 503 asked to wait (Retry-After), 0 if none; from on_done. */
unsigned int kube_req_retry_after(const struct kube_req *r);
void kube_client_get_stats(const struct kube_client *c, struct kube_client_stats *st);

#endif /* STEER_KUBE_CLIENT_H */
