/* SPDX-License-Identifier: MIT */
/*
 * How to reach the API server: in-cluster service account (default) or a
 * kubeconfig file in YAML or JSON (its current-context).
 */
#ifndef STEER_KUBE_CONFIG_H
#define STEER_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config {
	char *server;		/* https://host:port, no trailing slash */
	char *ca_file;
	char *ca_data;		/* PEM, decoded from certificate-authority-data */
	size_t ca_len;
	char *token;		/* current bearer token, if any */
	char *token_file;	/* re-read every minute and after a 401 */
	char *cert_file;
	char *cert_data;
	size_t cert_len;
	char *key_file;
	char *key_data;
	size_t key_len;
	bool insecure;
};

int kube_config_in_cluster(struct kube_config *c, const char *sa_dir);
int kube_config_load(struct kube_config *c, const char *path);
/* Parses kubeconfig text; dir resolves relative file names. */
int kube_config_parse(struct kube_config *c, const char *text, size_t len, const char *dir);
/* Re-reads token_file; returns 1 if the token changed, 0 if not, or -errno. */
int kube_config_reload_token(struct kube_config *c);
void kube_config_free(struct kube_config *c);

#endif /* STEER_KUBE_CONFIG_H */
