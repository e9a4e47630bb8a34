// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the object parsers of kube/, the planner and the reconciler
 * (over its in-memory double). The first byte picks the watch and the event
 * type; the rest is the object's JSON. One planner and reconciler live
 * across inputs, so sequences of events are explored too.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "kube/objects.h"
#include "lib/log.h"
#include "memmaps.h"

static struct memmaps mm;
static struct recon *r;
static struct plan *m;
static uint64_t t;

static uint64_t clk(void)
{
	return t += 1000000000ULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan_opts o = { .departure = true, .settle_ns = 3000000000ULL, .clock = clk };
	struct kube_object obj;
	enum plan_src src;
	enum plan_ev ev;
	cJSON *json;

	log_set_level(-1);
	if (!m) {
		r = recon_new(&mem_ops, &mm, NULL);
		o.sink = apply_sink(r);
		m = plan_new(&o);
		apply_sync(m, r);
	}
	if (size < 1)
		return 0;
	src = data[0] % PS_MAX;
	ev = (data[0] >> 2) % 3;
	json = cJSON_ParseWithLength((const char *)data + 1, size - 1);
	if (json) {
		if (!kube_object_parse(&obj, plan_src_kind(src), ev == PE_DELETED, json))
			plan_object(m, src, ev, &obj);
		kube_object_free(&obj);
		cJSON_Delete(json);
	}
	plan_flush(m);
	if (data[0] == 0xff)
		apply_sync(m, r);
	if (data[0] == 0xfe)
		plan_tick(m);
	if (data[0] == 0xfd)
		recon_retry(r);
	return 0;
}
