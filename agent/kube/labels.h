/* SPDX-License-Identifier: MIT */
/* Label sets (sorted key/value arrays) and Kubernetes label selectors. */
#ifndef STEER_KUBE_LABELS_H
#define STEER_KUBE_LABELS_H

#include <stdbool.h>
#include <stdint.h>

struct cJSON;

#define LABELS_MAX 4096		/* per object; beyond this the object is skipped */

struct label {
	char *key;
	char *val;
};

struct labels {
	struct label *v;	/* sorted by key */
	uint32_t n;
};

/*
 * From a JSON object of string values. Returns 0, -EINVAL naming the bad
 * entry in *bad (a key, or "" for a non-object), -E2BIG or -ENOMEM.
 */
int labels_from_json(struct labels *l, const struct cJSON *obj, const char **bad);
const char *labels_get(const struct labels *l, const char *key);
bool labels_equal(const struct labels *a, const struct labels *b);
void labels_free(struct labels *l);

enum sel_op {
	SEL_EQ,
	SEL_NE,
	SEL_IN,
	SEL_NOTIN,
	SEL_EXISTS,
	SEL_NOT_EXISTS,
};

struct sel_req {
	char *key;
	enum sel_op op;
	char **vals;
	uint32_t nvals;
};

/* An empty selector (no requirements) matches everything. */
struct selector {
	struct sel_req *reqs;
	uint32_t n;
};

/* The string grammar of labels.Parse: =, ==, !=, in, notin, key, !key. */
int selector_parse(struct selector *s, const char *str);
/* Equality-based map form, as in a Service's spec.selector. */
int selector_from_labels(struct selector *s, const struct labels *l);
bool selector_match(const struct selector *s, const struct labels *l);
void selector_free(struct selector *s);

bool label_key_valid(const char *key, uint32_t len);
bool label_value_valid(const char *val, uint32_t len);

#endif /* STEER_KUBE_LABELS_H */
