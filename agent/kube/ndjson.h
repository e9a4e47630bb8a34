/* SPDX-License-Identifier: MIT */
/*
 * Newline framing for watch streams: bytes arrive in arbitrary chunks, whole
 * lines come out. A line longer than max is dropped (and reported), never
 * buffered without bound.
 */
#ifndef STEER_KUBE_NDJSON_H
#define STEER_KUBE_NDJSON_H

#include <stddef.h>

/* Returns 0 to go on; a negative errno stops the feed and is returned. */
typedef int (*ndjson_line_cb)(const char *line, size_t len, void *arg);

struct ndjson {
	char *buf;
	size_t len;
	size_t cap;
	size_t max;
	int overflow;		/* discarding until the next newline */
	unsigned long dropped;	/* lines dropped for length */
	ndjson_line_cb cb;
	void *arg;
};

void ndjson_init(struct ndjson *nj, size_t max, ndjson_line_cb cb, void *arg);
int ndjson_feed(struct ndjson *nj, const char *data, size_t len);
void ndjson_free(struct ndjson *nj);

#endif /* STEER_KUBE_NDJSON_H */
