// SPDX-License-Identifier: MIT
/* The planner's lifecycle and counters; caches in cache.c, decisions in decide.c. */
#include <stdlib.h>

#include "lib/clock.h"
#include "model/internal.h"

struct plan *plan_new(const struct plan_opts *opts)
{
	struct plan *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->opts = *opts;
	if (!m->opts.wall)
		m->opts.wall = wall_ns;
	return m;
}

void plan_free(struct plan *m)
{
	struct table_iter it;
	struct tent *e;

	if (!m)
		return;
	table_iter_init(&it, &m->pods);
	while ((e = table_iter_next(&it)))
		pod_free(m, e->val);
	table_iter_init(&it, &m->svcs);
	while ((e = table_iter_next(&it)))
		svc_free(m, e->val);
	table_iter_init(&it, &m->slices);
	while ((e = table_iter_next(&it))) {
		struct slice *sl = e->val;

		eps_obj_free(&sl->obj);
		free(sl);
	}
	table_iter_init(&it, &m->nodes);
	while ((e = table_iter_next(&it)))
		free(e->val);
	table_free(&m->pods);
	table_free(&m->svcs);
	table_free(&m->slices);
	table_free(&m->nodes);
	table_free(&m->nodeips);
	table_free(&m->qdesired);
	table_free(&m->byhash[0]);
	table_free(&m->byhash[1]);
	table_free(&m->svcbyhash);
	free(m->scratch);
	free(m);
}

void plan_get_stats(const struct plan *m, struct plan_stats *st)
{
	struct table_iter it;
	struct tent *e;

	*st = (struct plan_stats){
		.pods = m->pods.n, .services = m->svcs.n, .slices = m->slices.n,
		.quarantined = m->qdesired.n, .restored = m->restored,
	};
	table_iter_init(&it, &m->svcs);
	while ((e = table_iter_next(&it)))
		st->steered += ((struct svc *)e->val)->steered;
}
