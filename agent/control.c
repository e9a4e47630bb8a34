// SPDX-License-Identifier: MIT
/*
 * The control plane: one reflector per watched collection feeds the model;
 * after every event the model writes what changed, and the time from the
 * event's bytes arriving to the maps being updated goes to the histogram.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/events.h"
#include "kube/reflector.h"
#include "datapath/addr.h"
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
	struct kube_events *events;
	uint32_t node_hash;	/* obj_node_hash(node_name), 0 if none */
	struct model *model;
	struct watch w[MK_MAX];
	struct loop_timer *resync;
	struct loop_timer *settle;
	struct loop_timer *retry;
	uint64_t armed_deadline;
	uint64_t last_sync_wall_ns;
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

static void resync(struct control *ctl)
{
	int err = model_resync(ctl->model);

	if (!err)
		ctl->last_sync_wall_ns = wall_ns();
	after_flush(ctl, err);
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
	resync(ctl);
	loop_timer_arm(ctl->resync, ctl->opts.resync_s * 1000ULL);
}

static void on_resync(struct loop *loop, void *arg)
{
	struct control *ctl = arg;

	if (model_synced(ctl->model))
		resync(ctl);
	loop_timer_arm(ctl->resync, ctl->opts.resync_s * 1000ULL);
}

static void on_retry(struct loop *loop, void *arg)
{
	resync(arg);
}

static void on_settle(struct loop *loop, void *arg)
{
	struct control *ctl = arg;

	ctl->armed_deadline = 0;
	after_flush(ctl, model_tick(ctl->model));
}

/* Only the pod's own node reports, so N nodes make one Event, not N. */
static void on_transition(void *arg, const char *key, const char *uid, uint32_t node,
			  bool on, int action, uint32_t nsvc)
{
	struct control *ctl = arg;
	char msg[256];

	if (!ctl->events || !node || node != ctl->node_hash)
		return;
	/*
	 * Before the first sync the model is rebuilding what an earlier steerd
	 * already reported; an Event then would repeat itself on every restart.
	 */
	if (!model_synced(ctl->model))
		return;
	if (on)
		snprintf(msg, sizeof(msg),
			 "steer quarantined the pod on node %s: action %s, steered away from %u service(s)",
			 ctl->opts.node_name, addr_action_name(action), nsvc);
	else
		snprintf(msg, sizeof(msg), "steer released the pod on node %s", ctl->opts.node_name);
	kube_events_pod(ctl->events, key, uid, on ? "Warning" : "Normal",
			on ? "Quarantined" : "Released", msg);
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
	mo.on_transition = on_transition;
	mo.transition_arg = ctl;
	ctl->model = model_new(&mo, ops, ops_ctx);
	ctl->client = kube_client_new(loop, &ctl->cfg, NULL);
	if (ctl->client && ctl->opts.node_name && ctl->opts.node_name[0]) {
		ctl->node_hash = obj_node_hash(ctl->opts.node_name);
		ctl->events = kube_events_new(loop, ctl->client, ctl->opts.node_name);
	}
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
	err = err ?: add_watch(ctl, MK_NODE, "nodes", "/api/v1/nodes", NULL, NULL);
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
		ctl->cfg.server, ctl->opts.quarantine_selector, addr_action_name(ctl->opts.default_action),
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

void control_fill_metrics(const struct control *ctl, struct agent_metrics *am)
{
	static const enum metrics_resource res[MK_MAX] = {
		[MK_POD_META] = RES_PODS, [MK_POD_QUAR] = RES_QPODS,
		[MK_SVC] = RES_SERVICES, [MK_EPS] = RES_SLICES, [MK_NODE] = RES_NODES,
	};
	struct model_stats ms;

	if (!ctl)
		return;
	for (int i = 0; i < MK_MAX; i++) {
		struct reflector_stats st = {};

		if (!ctl->w[i].r)
			continue;
		reflector_get_stats(ctl->w[i].r, &st);
		am->watches[res[i]] = st.watches;
		am->relists[res[i]] = st.relists;
		am->watch_errors[res[i]] = st.errors;
		am->events[res[i]] = st.events;
	}
	model_get_stats(ctl->model, &ms);
	am->bad_objects = ms.skipped;
	if (ctl->events) {
		am->k8s_events_posted = kube_events_posted(ctl->events);
		am->k8s_events_dropped = kube_events_dropped(ctl->events);
	}
	am->synced = model_synced(ctl->model);
	am->last_sync_wall_ns = ctl->last_sync_wall_ns;
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
	/* The client first: it drops in-flight Event posts that point at events. */
	kube_client_free(ctl->client);
	kube_events_free(ctl->events);
	loop_timer_free(ctl->resync);
	loop_timer_free(ctl->settle);
	loop_timer_free(ctl->retry);
	model_free(ctl->model);
	kube_config_free(&ctl->cfg);
	free(ctl);
}
