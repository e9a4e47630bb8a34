// SPDX-License-Identifier: MIT
/*
 * libFuzzer: object parsers and the model. The first byte picks the kind and
 * event type; the rest is the object's JSON. One model lives across inputs,
 * so sequences of events are explored too.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "model/memmaps.h"
#include "model/model.h"

static struct memmaps mm;
static struct model *m;
static uint64_t t;

static uint64_t clk(void)
{
	return t += 1000000000ULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_opts o = { .departure = true, .settle_ns = 3000000000ULL, .clock = clk };
	cJSON *obj;

	log_set_level(-1);
	if (!m) {
		m = model_new(&o, &apply_mem_ops, &mm);
		model_resync(m);
	}
	if (size < 1)
		return 0;
	obj = cJSON_ParseWithLength((const char *)data + 1, size - 1);
	if (obj) {
		model_event(m, data[0] % MK_MAX, (data[0] >> 2) % 3, obj);
		cJSON_Delete(obj);
	}
	model_flush(m);
	if (data[0] == 0xff)
		model_resync(m);
	if (data[0] == 0xfe)
		model_tick(m);
	return 0;
}
