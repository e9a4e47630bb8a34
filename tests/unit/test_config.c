// SPDX-License-Identifier: MIT
/* kubeconfig (YAML and JSON) and in-cluster configuration. */
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "kube/config.h"

TEST(yaml_current_context)
{
	struct kube_config c;

	if (!ASSERT_OK(kube_config_load(&c, "tests/fixtures/kubeconfig.yaml"), "load"))
		return;
	ASSERT_STREQ(c.server, "https://127.0.0.1:6443", "server of the current context, no slash");
	ASSERT_STREQ(c.token, "abc.def", "inline token");
	ASSERT_STREQ(c.ca_data, "-----BEGIN CERTIFICATE-----\n", "CA data decoded");
	ASSERT_STREQ(c.cert_file, "tests/fixtures/certs/client.crt", "relative to the file");
	ASSERT_STREQ(c.key_data, "key", "key data decoded");
	ASSERT_FALSE(c.insecure, "verify");
	kube_config_free(&c);
}

TEST(json_token_file_and_rotation)
{
	struct kube_config c;
	char dir[] = "/tmp/steer-cfg.XXXXXX", path[256], tok[256];
	FILE *f;

	if (!ASSERT_OK_PTR(mkdtemp(dir), "tmpdir"))
		return;
	snprintf(path, sizeof(path), "%s/kubeconfig.json", dir);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	f = fopen(tok, "w");
	fputs("tok-1\n", f);
	fclose(f);
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "cp tests/fixtures/kubeconfig.json %s", path);
		ASSERT_OK(system(cmd), "copy");
	}
	if (!ASSERT_OK(kube_config_load(&c, path), "load json"))
		goto cleanup;
	ASSERT_STREQ(c.server, "https://10.0.0.1:443", "server");
	ASSERT_TRUE(c.insecure, "insecure-skip-tls-verify");
	ASSERT_STREQ(c.token, "tok-1", "token from tokenFile, trimmed");
	ASSERT_EQ(kube_config_reload_token(&c), 0, "unchanged");
	f = fopen(tok, "w");
	fputs("tok-2", f);
	fclose(f);
	ASSERT_EQ(kube_config_reload_token(&c), 1, "rotated");
	ASSERT_STREQ(c.token, "tok-2", "new token");
	kube_config_free(&c);
cleanup:
	unlink(tok);
	unlink(path);
	rmdir(dir);
}

TEST(in_cluster)
{
	struct kube_config c;
	char dir[] = "/tmp/steer-sa.XXXXXX", p[256];
	FILE *f;

	if (!ASSERT_OK_PTR(mkdtemp(dir), "tmpdir"))
		return;
	snprintf(p, sizeof(p), "%s/token", dir);
	f = fopen(p, "w");
	fputs("sa-token\n", f);
	fclose(f);
	unsetenv("KUBERNETES_SERVICE_HOST");
	ASSERT_ERR(kube_config_in_cluster(&c, dir), "no env: error");
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	if (ASSERT_OK(kube_config_in_cluster(&c, dir), "in-cluster")) {
		ASSERT_STREQ(c.server, "https://10.96.0.1:443", "server");
		ASSERT_STREQ(c.token, "sa-token", "token");
		ASSERT_OK_PTR(strstr(c.ca_file, "/ca.crt"), "ca path");
		kube_config_free(&c);
	}
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	if (ASSERT_OK(kube_config_in_cluster(&c, dir), "v6"))
		ASSERT_STREQ(c.server, "https://[fd00::1]:443", "brackets");
	kube_config_free(&c);
	unlink(p);
	rmdir(dir);
}

TEST(bad_configs)
{
	struct kube_config c;
	const char *bad[] = {
		"",
		"[1,2]",
		"current-context: x\ncontexts: []\n",
		"{\"contexts\":[{\"name\":\"a\",\"context\":{\"cluster\":\"k\"}}],\"current-context\":\"a\",\"clusters\":[]}",
		"clusters: [ {name: k, cluster: {server: https://x, certificate-authority-data: '!!!'}} ]\n"
		"contexts: [ {name: a, context: {cluster: k}} ]\ncurrent-context: a\n",
		"key: [unclosed\n",
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_ERR(kube_config_parse(&c, bad[i], strlen(bad[i]), "."), bad[i]);
	ASSERT_ERR(kube_config_load(&c, "/nonexistent/kubeconfig"), "missing file");
}
