// SPDX-License-Identifier: MIT
#include "lib/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"

static uint64_t hash(const void *key, size_t len)
{
	uint64_t h = fnv1a64(key, len);

	return h ^ (h >> 29);
}

void *table_get(const struct table *t, const void *key, size_t klen)
{
	uint64_t h;
	struct tent *e;

	if (!t->nb)
		return NULL;
	h = hash(key, klen);
	for (e = t->b[h & (t->nb - 1)]; e; e = e->next)
		if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
			return e->val;
	return NULL;
}

static int grow(struct table *t)
{
	size_t nb = t->nb ? t->nb * 2 : 64, i;
	struct tent **b = calloc(nb, sizeof(*b)), *e, *next;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->nb; i++) {
		for (e = t->b[i]; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

int table_put(struct table *t, const void *key, size_t klen, void *val)
{
	uint64_t h = hash(key, klen);
	struct tent *e;

	if (t->n >= t->nb && grow(t))
		return -ENOMEM;
	for (e = t->b[h & (t->nb - 1)]; e; e = e->next) {
		if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen)) {
			e->val = val;
			return 0;
		}
	}
	e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return -ENOMEM;
	e->hash = h;
	e->val = val;
	e->klen = klen;
	memcpy(e->key, key, klen);
	e->key[klen] = '\0';
	e->next = t->b[h & (t->nb - 1)];
	t->b[h & (t->nb - 1)] = e;
	t->n++;
	return 0;
}

void *table_del(struct table *t, const void *key, size_t klen)
{
	uint64_t h;
	struct tent **pp, *e;
	void *val;

	if (!t->nb)
		return NULL;
	h = hash(key, klen);
	for (pp = &t->b[h & (t->nb - 1)]; (e = *pp); pp = &e->next) {
		if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen)) {
			*pp = e->next;
			val = e->val;
			free(e);
			t->n--;
			return val;
		}
	}
	return NULL;
}

void table_free(struct table *t)
{
	size_t i;
	struct tent *e, *next;

	for (i = 0; i < t->nb; i++)
		for (e = t->b[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

void table_iter_init(struct table_iter *it, const struct table *t)
{
	memset(it, 0, sizeof(*it));
	it->t = t;
}

struct tent *table_iter_next(struct table_iter *it)
{
	while (!it->next) {
		if (it->i >= it->t->nb)
			return NULL;
		it->next = it->t->b[it->i++];
	}
	it->e = it->next;
	it->next = it->e->next;
	return it->e;
}
