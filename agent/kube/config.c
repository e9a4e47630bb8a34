// SPDX-License-Identifier: MIT
#include "kube/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/log.h"

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	int err = 0;

	if (!f)
		return -errno;
	do {
		if (n + 4096 + 1 > cap) {
			char *p;

			cap = cap ? cap * 2 : 8192;
			if (cap > 16 << 20) {
				err = -EFBIG;
				goto cleanup;
			}
			p = realloc(buf, cap);
			if (!p) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = p;
		}
		r = fread(buf + n, 1, 4096, f);
		n += r;
	} while (r > 0);
	if (ferror(f)) {
		err = -EIO;
		goto cleanup;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
cleanup:
	free(buf);
	fclose(f);
	return err;
}

static char *trim_dup(const char *s, size_t len)
{
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
		len--;
	return strndup(s, len);
}

int kube_config_reload_token(struct kube_config *c)
{
	char *buf, *tok;
	size_t len;
	int err;

	if (!c->token_file)
		return 0;
	err = read_file(c->token_file, &buf, &len);
	if (err) {
		pr_warn("read token %s: %s", c->token_file, strerror(-err));
		return err;
	}
	tok = trim_dup(buf, len);
	free(buf);
	if (!tok)
		return -ENOMEM;
	if (c->token && !strcmp(c->token, tok)) {
		free(tok);
		return 0;
	}
	free(c->token);
	c->token = tok;
	return 1;
}

int kube_config_in_cluster(struct kube_config *c, const char *sa_dir)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char buf[512];
	int err;

	memset(c, 0, sizeof(*c));
	if (!sa_dir)
		sa_dir = KUBE_SA_DIR;
	if (!host || !*host || !port || !*port) {
		pr_warn("in-cluster config: KUBERNETES_SERVICE_HOST/PORT not set (use --kubeconfig)");
		return -ENOENT;
	}
	/* An IPv6 service host needs brackets in a URL. */
	snprintf(buf, sizeof(buf), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		 host, port);
	c->server = strdup(buf);
	snprintf(buf, sizeof(buf), "%s/token", sa_dir);
	c->token_file = strdup(buf);
	snprintf(buf, sizeof(buf), "%s/ca.crt", sa_dir);
	c->ca_file = strdup(buf);
	if (!c->server || !c->token_file || !c->ca_file) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = kube_config_reload_token(c);
	if (err < 0)
		goto cleanup;
	return 0;
cleanup:
	kube_config_free(c);
	return err;
}

/* libyaml document -> cJSON; scalars stay strings (JSON is YAML too). */
static cJSON *yaml_to_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
	yaml_node_item_t *item;
	yaml_node_pair_t *pair;
	cJSON *out = NULL, *child;

	if (!node || depth > 64)
		return NULL;
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return cJSON_CreateString((const char *)node->data.scalar.value);
	case YAML_SEQUENCE_NODE:
		out = cJSON_CreateArray();
		for (item = node->data.sequence.items.start;
		     out && item < node->data.sequence.items.top; item++) {
			child = yaml_to_json(doc, yaml_document_get_node(doc, *item), depth + 1);
			if (!child)
				goto fail;
			cJSON_AddItemToArray(out, child);
		}
		return out;
	case YAML_MAPPING_NODE:
		out = cJSON_CreateObject();
		for (pair = node->data.mapping.pairs.start;
		     out && pair < node->data.mapping.pairs.top; pair++) {
			yaml_node_t *k = yaml_document_get_node(doc, pair->key);

			if (!k || k->type != YAML_SCALAR_NODE)
				goto fail;
			child = yaml_to_json(doc, yaml_document_get_node(doc, pair->value), depth + 1);
			if (!child)
				goto fail;
			cJSON_AddItemToObject(out, (const char *)k->data.scalar.value, child);
		}
		return out;
	default:
		return NULL;
	}
fail:
	cJSON_Delete(out);
	return NULL;
}

static const char *str(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;

	return cJSON_IsString(it) && *it->valuestring ? it->valuestring : NULL;
}

/* Finds the entry called name in a named list (clusters, users, contexts). */
static const cJSON *named(const cJSON *root, const char *list, const char *name,
			  const char *field)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, list), *it;

	cJSON_ArrayForEach(it, arr) {
		const char *n = str(it, "name");

		if (n && name && !strcmp(n, name))
			return cJSON_GetObjectItemCaseSensitive(it, field);
	}
	return NULL;
}

static char *path_dup(const char *dir, const char *p)
{
	char *out;

	if (!p)
		return NULL;
	if (p[0] == '/' || !dir)
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

static int b64_dup(const char *in, char **out, size_t *outlen)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(in), n = 0;
	unsigned int acc = 0, bits = 0;
	char *buf = malloc(len / 4 * 3 + 4);
	const char *p;

	if (!buf)
		return -ENOMEM;
	for (p = in; *p; p++) {
		const char *hit;

		if (*p == '=' || *p == '\n' || *p == '\r' || *p == ' ')
			continue;
		hit = strchr(tbl, *p);
		if (!hit) {
			free(buf);
			return -EINVAL;
		}
		acc = (acc << 6) | (hit - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (acc >> bits) & 0xff;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

int kube_config_parse(struct kube_config *c, const char *text, size_t len, const char *dir)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	const cJSON *cluster, *user;
	const char *ctx_name, *s;
	cJSON *root = NULL, *ctx;
	int err = -EINVAL;

	memset(c, 0, sizeof(*c));
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		pr_warn("kubeconfig: YAML/JSON error at line %zu: %s",
			parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	root = yaml_to_json(&doc, yaml_document_get_root_node(&doc), 0);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (!cJSON_IsObject(root)) {
		pr_warn("kubeconfig: not a mapping");
		goto cleanup;
	}
	ctx_name = str(root, "current-context");
	ctx = (cJSON *)named(root, "contexts", ctx_name, "context");
	if (!ctx) {
		/* A config with a single context needs no current-context. */
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "contexts");

		if (cJSON_GetArraySize(arr) == 1)
			ctx = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 0), "context");
	}
	if (!ctx) {
		pr_warn("kubeconfig: current-context %s not found", ctx_name ? ctx_name : "(unset)");
		goto cleanup;
	}
	cluster = named(root, "clusters", str(ctx, "cluster"), "cluster");
	user = named(root, "users", str(ctx, "user"), "user");
	s = str(cluster, "server");
	if (!s) {
		pr_warn("kubeconfig: cluster %s: server missing", str(ctx, "cluster") ?: "?");
		goto cleanup;
	}
	c->server = strndup(s, strlen(s) - (s[strlen(s) - 1] == '/'));
	s = str(cluster, "insecure-skip-tls-verify");
	c->insecure = s && !strcmp(s, "true");
	c->ca_file = path_dup(dir, str(cluster, "certificate-authority"));
	if ((s = str(cluster, "certificate-authority-data")) && b64_dup(s, &c->ca_data, &c->ca_len))
		goto bad_b64;
	c->token_file = path_dup(dir, str(user, "tokenFile"));
	if ((s = str(user, "token")))
		c->token = strdup(s);
	c->cert_file = path_dup(dir, str(user, "client-certificate"));
	c->key_file = path_dup(dir, str(user, "client-key"));
	if ((s = str(user, "client-certificate-data")) &&
	    b64_dup(s, &c->cert_data, &c->cert_len))
		goto bad_b64;
	if ((s = str(user, "client-key-data")) && b64_dup(s, &c->key_data, &c->key_len))
		goto bad_b64;
	if (!c->server) {
		err = -ENOMEM;
		goto cleanup;
	}
	cJSON_Delete(root);
	/* A token file wins over an inline token, as in client-go. */
	if (c->token_file) {
		err = kube_config_reload_token(c);
		if (err < 0)
			goto cleanup_c;
	}
	return 0;
bad_b64:
	pr_warn("kubeconfig: a *-data field is not base64");
cleanup:
	cJSON_Delete(root);
cleanup_c:
	kube_config_free(c);
	return err;
}

int kube_config_load(struct kube_config *c, const char *path)
{
	char *text, *dir, *slash;
	size_t len;
	int err;

	memset(c, 0, sizeof(*c));
	err = read_file(path, &text, &len);
	if (err) {
		pr_warn("read kubeconfig %s: %s", path, strerror(-err));
		return err;
	}
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash)
		*slash = '\0';
	err = kube_config_parse(c, text, len, slash ? dir : ".");
	free(dir);
	free(text);
	return err;
}

void kube_config_free(struct kube_config *c)
{
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->cert_data);
	free(c->key_file);
	free(c->key_data);
	memset(c, 0, sizeof(*c));
}
