// SPDX-License-Identifier: MIT
/*
 * The control plane: one reflector per watched collection feeds the model;
 * after every event the model writes what changed, and the time from the
 * event's bytes arriving to the maps being updated goes to the histogram.
 */
#include "control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/reflector.h"
#include "log.h"
#include "model/labels.h"
#include "model/model.h"
#include "model/objects.h"

#define META_ACCEPT "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

struct watch {
	struct control *ctl;
	enum model_kind kind;
	struct reflector *r;
};

struct control {
	struct loop *loop;
	struct control_opts opts;
	const struct steer_maps *maps;
	struct kube_config cfg;
	struct kube_client *client;
	struct model *model;
	struct watch w[MK_MAX];
	struct loop_timer *resync;
	struct loop_timer *settle;
	struct loop_timer *retry;
	uint64_t armed_deadline;
};

static void after_flush(struct control *ctl, int err)
{
	uint64_t d = model_next_deadline(ctl->model), now = now_ns();

	if (d && d != ctl->armed_deadline) {
		ctl->armed_deadline = d;
		loop_timer_arm(ctl->settle, d > now ? (d - now) / 1000000 + 1 : 0);
	}
	/* A failed map write is repaired by a resync soon, not in 5 minutes. */
	if (err && model_synced(ctl->model))
		loop_timer_arm(ctl->retry, 1000);
}

static void on_event(void *arg, enum watch_type t, const struct cJSON *obj, uint64_t rx_ns)
{
	struct watch *w = arg;
	struct control *ctl = w->ctl;
	enum model_ev ev = t == WT_ADDED ? MEV_ADDED : t == WT_MODIFIED ? MEV_MODIFIED :
			   MEV_DELETED;
	int err;

	model_event(ctl->model, w->kind, ev, obj);
	err = model_flush(ctl->model);
	if (model_synced(ctl->model) && ctl->maps)
		maps_latency_add(ctl->maps, now_ns() - rx_ns);
	after_flush(ctl, err);
}

static void on_list_begin(void *arg)
{
	struct watch *w = arg;

	model_list_begin(w->ctl->model, w->kind);
}

static void on_list_end(void *arg)
{
	struct watch *w = arg;
	struct control *ctl = w->ctl;
	int i;

	model_list_end(ctl->model, w->kind);
	if (model_synced(ctl->model)) {
		after_flush(ctl, model_flush(ctl->model));
		return;
	}
	for (i = 0; i < MK_MAX; i++)
		if (ctl->w[i].r && !reflector_synced(ctl->w[i].r) && &ctl->w[i] != w)
			return;
	/* Every initial list is in: only now may anything be swept. */
	after_flush(ctl, model_resync(ctl->model));
	loop_timer_arm(ctl->resync, ctl->opts.resync_s * 1000ULL);
}

static void on_resync(struct loop *loop, void *arg)
{
	struct control *ctl = arg;

	if (model_synced(ctl->model))
		after_flush(ctl, model_resync(ctl->model));
	loop_timer_arm(ctl->resync, ctl->opts.resync_s * 1000ULL);
}

static void on_retry(struct loop *loop, void *arg)
{
	struct control *ctl = arg;

	after_flush(ctl, model_resync(ctl->model));
}

static void on_settle(struct loop *loop, void *arg)
{
	struct control *ctl = arg;

	ctl->armed_deadline = 0;
	after_flush(ctl, model_tick(ctl->model));
}

static const struct reflector_ops rops = {
	.list_begin = on_list_begin,
	.event = on_event,
	.list_end = on_list_end,
};

static int add_watch(struct control *ctl, enum model_kind kind, const char *name,
		     const char *path, const char *sel, const char *accept)
{
	struct reflector_cfg cfg = {
		.name = name, .path = path, .label_selector = sel, .accept = accept,
	};
	struct watch *w = &ctl->w[kind];

	w->ctl = ctl;
	w->kind = kind;
	w->r = reflector_new(ctl->client, &cfg, &rops, w);
	return w->r ? 0 : -ENOMEM;
}

int control_start_ops(struct control **out, struct loop *loop,
		      const struct apply_ops *ops, void *ops_ctx,
		      const struct steer_maps *maps, const struct control_opts *opts)
{
	struct model_opts mo = {};
	struct control *ctl;
	struct selector sel;
	int err, i;

	*out = NULL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->loop = loop;
	ctl->opts = *opts;
	ctl->maps = maps;
	if (!ctl->opts.quarantine_selector)
		ctl->opts.quarantine_selector = "steer.dev/quarantine";
	if (!ctl->opts.resync_s)
		ctl->opts.resync_s = 300;
	err = selector_parse(&sel, ctl->opts.quarantine_selector);
	if (err) {
		pr_warn("--quarantine-selector '%s': not a valid label selector",
			ctl->opts.quarantine_selector);
		goto cleanup;
	}
	selector_free(&sel);
	if (ctl->opts.default_action >= STEER_ACT_MAX) {
		err = -EINVAL;
		pr_warn("--default-action: unknown action %u", ctl->opts.default_action);
		goto cleanup;
	}
	err = opts->kubeconfig ? kube_config_load(&ctl->cfg, opts->kubeconfig) :
				 kube_config_in_cluster(&ctl->cfg, NULL);
	if (err)
		goto cleanup;
	mo.default_action = ctl->opts.default_action;
	mo.departure = !ctl->opts.no_departure;
	mo.settle_ns = ctl->opts.settle_s * 1000000000ULL;
	mo.clock = now_ns;
	ctl->model = model_new(&mo, ops, ops_ctx);
	ctl->client = kube_client_new(loop, &ctl->cfg, NULL);
	ctl->resync = loop_timer_new(loop, on_resync, ctl);
	ctl->settle = loop_timer_new(loop, on_settle, ctl);
	ctl->retry = loop_timer_new(loop, on_retry, ctl);
	if (!ctl->model || !ctl->client || !ctl->resync || !ctl->settle || !ctl->retry) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = add_watch(ctl, MK_SVC, "services", "/api/v1/services", NULL, NULL);
	err = err ?: add_watch(ctl, MK_EPS, "endpointslices",
			       "/apis/discovery.k8s.io/v1/endpointslices", NULL, NULL);
	err = err ?: add_watch(ctl, MK_POD_QUAR, "quarantined pods", "/api/v1/pods",
			       ctl->opts.quarantine_selector, NULL);
	if (!ctl->opts.no_departure)
		err = err ?: add_watch(ctl, MK_POD_META, "pod metadata", "/api/v1/pods", NULL,
				       META_ACCEPT);
	if (err)
		goto cleanup;
	for (i = 0; i < MK_MAX; i++) {
		if (!ctl->w[i].r)
			continue;
		err = reflector_start(ctl->w[i].r, loop);
		if (err)
			goto cleanup;
	}
	pr_info("control plane: watching %s (quarantine selector '%s', default action %s, departure %s)",
		ctl->cfg.server, ctl->opts.quarantine_selector, action_name(ctl->opts.default_action),
		ctl->opts.no_departure ? "off" : "on");
	*out = ctl;
	return 0;
cleanup:
	control_stop(ctl);
	return err;
}

int control_start(struct control **ctl, struct loop *loop,
		  const struct steer_maps *maps, const struct control_opts *opts)
{
	return control_start_ops(ctl, loop, &apply_maps_ops, (void *)maps, maps, opts);
}

bool control_synced(const struct control *ctl)
{
	return ctl && model_synced(ctl->model);
}

void control_stop(struct control *ctl)
{
	int i;

	if (!ctl)
		return;
	/* The maps stay as they are: enforcement outlives the agent. */
	for (i = 0; i < MK_MAX; i++)
		reflector_free(ctl->w[i].r);
	kube_client_free(ctl->client);
	loop_timer_free(ctl->resync);
	loop_timer_free(ctl->settle);
	loop_timer_free(ctl->retry);
	model_free(ctl->model);
	kube_config_free(&ctl->cfg);
	free(ctl);
}
