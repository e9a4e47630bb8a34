// SPDX-License-Identifier: MIT
/* libFuzzer: watch-stream framing and decoding, fed in fuzzer-chosen chunks. */
#include <stddef.h>
#include <stdint.h>

#include "kube/reflector.h"
#include "lib/log.h"

static void ev(void *arg, enum watch_type t, const struct cJSON *obj, uint64_t rx)
{
	(*(int *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct watch_stream ws;
	size_t off = 1, chunk;
	int n = 0;

	log_set_level(-1);
	if (!size)
		return 0;
	/* The first byte picks the chunk size, so splits get explored too. */
	chunk = data[0] % 17 + 1;
	watch_stream_init(&ws, ev, &n);
	while (off < size) {
		size_t len = size - off < chunk ? size - off : chunk;

		if (watch_stream_feed(&ws, (const char *)data + off, len, 0))
			break;
		off += len;
	}
	watch_stream_free(&ws);
	return 0;
}
