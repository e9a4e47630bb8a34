/* SPDX-License-Identifier: MIT */
/*
 * FNV-1a, the one hash steer uses: table buckets, node names, and the keys
 * of steer_members (include/steer/abi.h), which outlive a steerd and so must
 * never change.
 */
#ifndef STEER_LIB_HASH_H
#define STEER_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static inline uint32_t fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

#endif /* STEER_LIB_HASH_H */
