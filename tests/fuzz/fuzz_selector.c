// SPDX-License-Identifier: MIT
/* libFuzzer: the label selector parser, and matching what it accepts. */
#include <stdlib.h>
#include <string.h>

#include "kube/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct label lv[] = {
		{ "app", "nginx" }, { "enabled", "true" }, { "steer.dev/quarantine", "" },
	};
	struct labels l = { .v = lv, .n = 3 };
	struct selector s;
	char *str = malloc(size + 1);

	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	if (!selector_parse(&s, str)) {
		selector_match(&s, &l);
		selector_free(&s);
	}
	free(str);
	return 0;
}
