// SPDX-License-Identifier: MIT
#include "kube/ndjson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

void ndjson_init(struct ndjson *nj, size_t max, ndjson_line_cb cb, void *arg)
{
	memset(nj, 0, sizeof(*nj));
	nj->max = max;
	nj->cb = cb;
	nj->arg = arg;
}

static int append(struct ndjson *nj, const char *data, size_t len)
{
	size_t need = nj->len + len + 1;

	if (need > nj->cap) {
		size_t cap = nj->cap ? nj->cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(nj->buf, cap);
		if (!p)
			return -ENOMEM;
		nj->buf = p;
		nj->cap = cap;
	}
	memcpy(nj->buf + nj->len, data, len);
	nj->len += len;
	nj->buf[nj->len] = '\0';
	return 0;
}

static int emit(struct ndjson *nj, const char *line, size_t len)
{
	/* Tolerate CRLF and blank keep-alive lines. */
	if (len && line[len - 1] == '\r')
		len--;
	if (!len)
		return 0;
	return nj->cb(line, len, nj->arg);
}

int ndjson_feed(struct ndjson *nj, const char *data, size_t len)
{
	const char *end = data + len;
	int err;

	while (data < end) {
		const char *nl = memchr(data, '\n', end - data);
		size_t n = (nl ? nl : end) - data;

		if (nj->overflow) {
			if (nl)
				nj->overflow = 0;
		} else if (nj->len + n > nj->max) {
			nj->dropped++;
			pr_warn("watch stream: dropping a line longer than %zu bytes", nj->max);
			nj->len = 0;
			nj->overflow = !nl;
		} else if (nl && !nj->len) {
			/* Whole line inside this chunk: no copy. */
			err = emit(nj, data, n);
			if (err)
				return err;
		} else {
			err = append(nj, data, n);
			if (err)
				return err;
			if (nl) {
				size_t total = nj->len;

				nj->len = 0;
				err = emit(nj, nj->buf, total);
				if (err)
					return err;
			}
		}
		if (!nl)
			break;
		data = nl + 1;
	}
	return 0;
}


void ndjson_free(struct ndjson *nj)
{
	free(nj->buf);
	nj->buf = NULL;
	nj->len = nj->cap = 0;
}
