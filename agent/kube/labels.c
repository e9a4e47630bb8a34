// SPDX-License-Identifier: MIT
#include "kube/labels.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct label *)a)->key, ((const struct label *)b)->key);
}

int labels_from_json(struct labels *l, const cJSON *obj, const char **bad)
{
	const cJSON *it;
	uint32_t n = 0;
	int err;

	memset(l, 0, sizeof(*l));
	*bad = "";
	if (!obj || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj))
		return -EINVAL;
	cJSON_ArrayForEach(it, obj) {
		if (++n > LABELS_MAX)
			return -E2BIG;
	}
	if (!n)
		return 0;
	l->v = calloc(n, sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	cJSON_ArrayForEach(it, obj) {
		if (!cJSON_IsString(it) || !it->string) {
			*bad = it->string ? it->string : "";
			err = -EINVAL;
			goto cleanup;
		}
		l->v[l->n].key = strdup(it->string);
		l->v[l->n].val = strdup(it->valuestring);
		l->n++;
		if (!l->v[l->n - 1].key || !l->v[l->n - 1].val) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	qsort(l->v, l->n, sizeof(*l->v), label_cmp);
	return 0;
cleanup:
	labels_free(l);
	return err;
}

const char *labels_get(const struct labels *l, const char *key)
{
	struct label k = { .key = (char *)key }, *hit;

	if (!l->n)
		return NULL;
	hit = bsearch(&k, l->v, l->n, sizeof(*l->v), label_cmp);
	return hit ? hit->val : NULL;
}

bool labels_equal(const struct labels *a, const struct labels *b)
{
	uint32_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].val, b->v[i].val))
			return false;
	return true;
}

void labels_free(struct labels *l)
{
	uint32_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].val);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* A qualified name segment: alphanumeric at both ends, at most 63 bytes. */
static bool name_valid(const char *s, uint32_t len)
{
	uint32_t i;

	if (!len || len > 63 || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

bool label_key_valid(const char *key, uint32_t len)
{
	const char *slash = memchr(key, '/', len);
	uint32_t i, plen;

	if (!slash)
		return name_valid(key, len);
	plen = slash - key;
	/* DNS-1123 subdomain prefix. */
	if (!plen || plen > 253 || !isalnum((unsigned char)key[0]) ||
	    !isalnum((unsigned char)key[plen - 1]))
		return false;
	for (i = 0; i < plen; i++)
		if (!(islower((unsigned char)key[i]) || isdigit((unsigned char)key[i]) ||
		      key[i] == '-' || key[i] == '.'))
			return false;
	return name_valid(slash + 1, len - plen - 1);
}

bool label_value_valid(const char *val, uint32_t len)
{
	return !len || name_valid(val, len);
}

/* Tokenizer for selector strings. */
enum tok {
	T_END,
	T_IDENT,
	T_COMMA,
	T_LPAREN,
	T_RPAREN,
	T_EQ,		/* = or == */
	T_NE,
	T_BANG,
	T_ERR,
};

struct lexer {
	const char *p;
	const char *tok;
	uint32_t len;
};

static bool ident_char(char c)
{
	return name_char(c) || c == '/';
}

static enum tok next(struct lexer *lx)
{
	const char *p = lx->p;

	while (*p == ' ' || *p == '\t')
		p++;
	lx->tok = p;
	lx->len = 1;
	switch (*p) {
	case '\0':
		lx->p = p;
		lx->len = 0;
		return T_END;
	case ',':
		lx->p = p + 1;
		return T_COMMA;
	case '(':
		lx->p = p + 1;
		return T_LPAREN;
	case ')':
		lx->p = p + 1;
		return T_RPAREN;
	case '=':
		lx->len = p[1] == '=' ? 2 : 1;
		lx->p = p + lx->len;
		return T_EQ;
	case '!':
		if (p[1] == '=') {
			lx->p = p + 2;
			lx->len = 2;
			return T_NE;
		}
		lx->p = p + 1;
		return T_BANG;
	}
	if (!ident_char(*p))
		return T_ERR;
	while (ident_char(*p))
		p++;
	lx->len = p - lx->tok;
	lx->p = p;
	return T_IDENT;
}

static enum tok peek(struct lexer *lx)
{
	struct lexer save = *lx;
	enum tok t = next(lx);

	*lx = save;
	return t;
}

static int add_val(struct sel_req *r, const char *v, uint32_t len)
{
	char **vals;

	if (!label_value_valid(v, len))
		return -EINVAL;
	vals = realloc(r->vals, (r->nvals + 1) * sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	r->vals = vals;
	vals[r->nvals] = strndup(v, len);
	if (!vals[r->nvals])
		return -ENOMEM;
	r->nvals++;
	return 0;
}

static int add_req(struct selector *s, struct sel_req **out)
{
	struct sel_req *reqs = realloc(s->reqs, (s->n + 1) * sizeof(*reqs));

	if (!reqs)
		return -ENOMEM;
	s->reqs = reqs;
	*out = &reqs[s->n++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static int parse_req(struct selector *s, struct lexer *lx)
{
	struct sel_req *r;
	enum tok t = next(lx);
	bool neg = false;
	int err;

	if (t == T_BANG) {
		neg = true;
		t = next(lx);
	}
	if (t != T_IDENT || !label_key_valid(lx->tok, lx->len))
		return -EINVAL;
	err = add_req(s, &r);
	if (err)
		return err;
	r->key = strndup(lx->tok, lx->len);
	if (!r->key)
		return -ENOMEM;
	t = peek(lx);
	if (neg) {
		r->op = SEL_NOT_EXISTS;
		return t == T_END || t == T_COMMA ? 0 : -EINVAL;
	}
	if (t == T_END || t == T_COMMA) {
		r->op = SEL_EXISTS;
		return 0;
	}
	t = next(lx);
	if (t == T_EQ || t == T_NE) {
		r->op = t == T_EQ ? SEL_EQ : SEL_NE;
		if (peek(lx) != T_IDENT)	/* empty value */
			return add_val(r, "", 0);
		next(lx);
		return add_val(r, lx->tok, lx->len);
	}
	if (t != T_IDENT)
		return -EINVAL;
	if (lx->len == 2 && !strncmp(lx->tok, "in", 2))
		r->op = SEL_IN;
	else if (lx->len == 5 && !strncmp(lx->tok, "notin", 5))
		r->op = SEL_NOTIN;
	else
		return -EINVAL;
	if (next(lx) != T_LPAREN)
		return -EINVAL;
	for (;;) {
		t = next(lx);
		if (t == T_IDENT) {
			err = add_val(r, lx->tok, lx->len);
			if (err)
				return err;
			t = next(lx);
		} else if (t == T_COMMA || t == T_RPAREN) {
			err = add_val(r, "", 0);	/* "in (a,)" holds "" */
			if (err)
				return err;
		}
		if (t == T_RPAREN)
			return 0;
		if (t != T_COMMA)
			return -EINVAL;
	}
}

int selector_parse(struct selector *s, const char *str)
{
	struct lexer lx = { .p = str };
	int err;

	memset(s, 0, sizeof(*s));
	if (peek(&lx) == T_END)
		return 0;
	for (;;) {
		err = parse_req(s, &lx);
		if (err)
			goto cleanup;
		switch (next(&lx)) {
		case T_END:
			return 0;
		case T_COMMA:
			continue;
		default:
			err = -EINVAL;
			goto cleanup;
		}
	}
cleanup:
	selector_free(s);
	return err;
}

int selector_from_labels(struct selector *s, const struct labels *l)
{
	struct sel_req *r;
	uint32_t i;
	int err;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < l->n; i++) {
		err = add_req(s, &r);
		if (err)
			goto cleanup;
		r->op = SEL_EQ;
		r->key = strdup(l->v[i].key);
		if (!r->key) {
			err = -ENOMEM;
			goto cleanup;
		}
		err = add_val(r, l->v[i].val, strlen(l->v[i].val));
		if (err == -EINVAL) {
			/* The API server validated it; keep whatever it sent. */
			r->vals = realloc(r->vals, sizeof(char *));
			if (!r->vals) {
				err = -ENOMEM;
				goto cleanup;
			}
			r->vals[0] = strdup(l->v[i].val);
			r->nvals = 1;
			err = r->vals[0] ? 0 : -ENOMEM;
		}
		if (err)
			goto cleanup;
	}
	return 0;
cleanup:
	selector_free(s);
	return err;
}

static bool has_val(const struct sel_req *r, const char *v)
{
	uint32_t i;

	for (i = 0; i < r->nvals; i++)
		if (!strcmp(r->vals[i], v))
			return true;
	return false;
}

bool selector_match(const struct selector *s, const struct labels *l)
{
	uint32_t i;

	for (i = 0; i < s->n; i++) {
		const struct sel_req *r = &s->reqs[i];
		const char *v = labels_get(l, r->key);

		switch (r->op) {
		case SEL_EQ:
		case SEL_IN:
			if (!v || !has_val(r, v))
				return false;
			break;
		case SEL_NE:
		case SEL_NOTIN:
			if (v && has_val(r, v))
				return false;
			break;
		case SEL_EXISTS:
			if (!v)
				return false;
			break;
		case SEL_NOT_EXISTS:
			if (v)
				return false;
			break;
		}
	}
	return true;
}

void selector_free(struct selector *s)
{
	uint32_t i, j;

	for (i = 0; i < s->n; i++) {
		for (j = 0; j < s->reqs[i].nvals; j++)
			free(s->reqs[i].vals[j]);
		free(s->reqs[i].vals);
		free(s->reqs[i].key);
	}
	free(s->reqs);
	s->reqs = NULL;
	s->n = 0;
}
