/* SPDX-License-Identifier: MIT */
/*
 * A minimal HTTP/1.1 server on steerd's event loop, for /metrics, /healthz
 * and /readyz. One request per connection, GET only, bounded buffers.
 */
#ifndef STEER_HTTPD_H
#define STEER_HTTPD_H

#include "lib/loop.h"

struct httpd;

struct strbuf {
	char *buf;
	size_t len, cap;
	int err;		/* -ENOMEM once an append failed */
};

void sb_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_free(struct strbuf *sb);

/*
 * Fills body for path; returns the HTTP status (200, 404, 503...).
 * content_type defaults to text/plain.
 */
typedef int (*httpd_handler)(const char *path, struct strbuf *body,
			     const char **content_type, void *arg);

struct sockaddr_in;

/* addr is "HOST:PORT" (IPv4) or ":PORT" for all addresses; 0 or -EINVAL. */
int httpd_parse_addr(const char *addr, struct sockaddr_in *sin);
int httpd_start(struct httpd **h, struct loop *loop, const char *addr,
		httpd_handler handler, void *arg);
void httpd_stop(struct httpd *h);
/* The port actually bound (useful with port 0). */
int httpd_port(const struct httpd *h);

#endif /* STEER_HTTPD_H */
