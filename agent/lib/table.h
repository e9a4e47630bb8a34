/* SPDX-License-Identifier: MIT */
/* A chained hash table with byte-string keys, for the agent's caches. */
#ifndef STEER_LIB_TABLE_H
#define STEER_LIB_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct tent {
	struct tent *next;
	uint64_t hash;
	void *val;
	size_t klen;
	char key[];		/* NUL-terminated copy, so string keys print */
};

struct table {
	struct tent **b;
	size_t nb;
	size_t n;
};

struct table_iter {
	const struct table *t;
	size_t i;
	struct tent *e, *next;
};

void *table_get(const struct table *t, const void *key, size_t klen);
/* Inserts or replaces; returns 0 or -ENOMEM. */
int table_put(struct table *t, const void *key, size_t klen, void *val);
/* Removes the entry and returns its value (NULL if absent). */
void *table_del(struct table *t, const void *key, size_t klen);
void table_free(struct table *t);

/* Iteration tolerates deleting the entry just returned. */
void table_iter_init(struct table_iter *it, const struct table *t);
struct tent *table_iter_next(struct table_iter *it);

static inline void *table_gets(const struct table *t, const char *key)
{
	return table_get(t, key, __builtin_strlen(key));
}

#endif /* STEER_LIB_TABLE_H */
