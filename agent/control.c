// SPDX-License-Identifier: MIT
/*
 * The control plane: one reflector per watched collection; each event is
 * parsed into a typed object (kube/objects.h) for the planner, whose desired
 * state goes to the reconciler at once (apply.h), and the time from the
 * event's bytes arriving to the maps being updated goes to the histogram.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/events.h"
#include "kube/labels.h"
#include "kube/objects.h"
#include "kube/reflector.h"
#include "lib/addr.h"
#include "lib/log.h"

/*
 * As client-go's metadata client: a list is transformed as a whole, each
 * watch event on its own, so a watch asking for ...List gets its 200 and
 * then ends at the first event (upstream cannot make a List of one Pod).
 */
#define META_LIST_ACCEPT "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
#define META_WATCH_ACCEPT "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

struct watch {
	struct control *ctl;
	enum plan_src src;
	enum kube_kind kind;
	struct reflector *r;
};

/* An API quarantine the first sync started or ended: an Event to post. */
struct change {
	struct steer_addr addr;
	bool on;
};

struct control {
	struct loop *loop;
	struct control_opts opts;
	struct recon *recon;
	struct kube_config cfg;
	struct kube_client *client;
	struct kube_events *events;
	uint32_t node_hash;	/* obj_node_hash(node_name), 0 if none */
	struct plan *plan;
	bool synced;
	struct watch w[PS_MAX];
	struct loop_timer *resync;
	struct loop_timer *settle;
	uint64_t armed_deadline;
	uint64_t last_sync_wall_ns;
	struct control_stats st;
	struct change *changes;	/* during the first sync */
	uint32_t nchanges, capchanges;
};

static void after_flush(struct control *ctl)
{
	uint64_t d = plan_next_deadline(ctl->plan), now = now_ns();

	if (d && d != ctl->armed_deadline) {
		ctl->armed_deadline = d;
		loop_timer_arm(ctl->settle, d > now ? (d - now) / 1000000 + 1 : 0);
	}
}

/* Only the pod's own node reports, so N nodes make one Event, not N. */
static void post_event(struct control *ctl, const struct plan_pod *pod, bool on)
{
	char msg[256];

	if (!ctl->events || !pod->node || pod->node != ctl->node_hash)
		return;
	if (on)
		snprintf(msg, sizeof(msg),
			 "steer quarantined the pod on node %s: action %s, steered away from %u service(s)",
			 ctl->opts.node_name, addr_action_name(pod->action), pod->nsvc);
	else
		snprintf(msg, sizeof(msg), "steer released the pod on node %s", ctl->opts.node_name);
	kube_events_pod(ctl->events, pod->key, pod->uid, on ? "Warning" : "Normal",
			on ? "Quarantined" : "Released", msg);
}

static void on_transition(void *arg, const struct plan_pod *pod, bool on)
{
	struct control *ctl = arg;

	/*
	 * Before the first sync the planner rebuilds what the maps already
	 * hold; the first sync reports what really changed (on_enforce).
	 */
	if (ctl->synced)
		post_event(ctl, pod, on);
}

static void on_enforce(void *arg, const struct steer_addr *addr, bool on)
{
	struct control *ctl = arg;
	struct change *c;

	if (ctl->nchanges == ctl->capchanges) {
		uint32_t cap = ctl->capchanges ? 2 * ctl->capchanges : 16;

		c = realloc(ctl->changes, cap * sizeof(*c));
		if (!c)
			return;
		ctl->changes = c;
		ctl->capchanges = cap;
	}
	ctl->changes[ctl->nchanges++] = (struct change){ .addr = *addr, .on = on };
}

/*
 * The first sync against what a previous steerd left: a quarantine that
 * started or ended while no steerd ran gets its Event from this one.
 */
static void first_sync_events(struct control *ctl)
{
	struct plan_pod pod;

	for (uint32_t i = 0; i < ctl->nchanges; i++) {
		const struct change *c = &ctl->changes[i];

		if (plan_pod_at(ctl->plan, &c->addr, &pod) && pod.quarantined == c->on)
			post_event(ctl, &pod, c->on);
	}
	free(ctl->changes);
	ctl->changes = NULL;
	ctl->nchanges = ctl->capchanges = 0;
}

static void resync(struct control *ctl)
{
	bool first = !ctl->synced;
	int err;

	if (first)
		recon_on_enforce(ctl->recon, on_enforce, ctl);
	err = apply_sync(ctl->plan, ctl->recon);
	ctl->st.resyncs++;
	if (first) {
		recon_on_enforce(ctl->recon, NULL, NULL);
		ctl->synced = true;
		first_sync_events(ctl);
	}
	if (!err)
		ctl->last_sync_wall_ns = wall_ns();
	after_flush(ctl);
}

static void on_event(void *arg, enum watch_type t, const struct cJSON *json, uint64_t rx_ns)
{
	struct watch *w = arg;
	struct control *ctl = w->ctl;
	enum plan_ev ev = t == WT_ADDED ? PE_ADDED : t == WT_MODIFIED ? PE_MODIFIED :
			  PE_DELETED;
	struct kube_object o;

	ctl->st.events++;
	if (kube_object_parse(&o, w->kind, ev == PE_DELETED, json)) {
		/* Skipped: caches and maps keep their previous state. */
		ctl->st.bad_objects++;
		kube_object_free(&o);
		return;
	}
	plan_object(ctl->plan, w->src, ev, &o);
	kube_object_free(&o);
	plan_flush(ctl->plan);
	if (ctl->synced)
		recon_latency(ctl->recon, now_ns() - rx_ns);
	after_flush(ctl);
}

static void on_list_begin(void *arg)
{
	struct watch *w = arg;

	plan_list_begin(w->ctl->plan, w->src);
}

static void on_list_end(void *arg)
{
	struct watch *w = arg;
	struct control *ctl = w->ctl;
	int i;

	plan_list_end(ctl->plan, w->src);
	if (ctl->synced) {
		plan_flush(ctl->plan);
		after_flush(ctl);
		return;
	}
	for (i = 0; i < PS_MAX; i++)
		if (ctl->w[i].r && !reflector_synced(ctl->w[i].r) && &ctl->w[i] != w)
			return;
	/* Every initial list is in: only now may anything be swept. */
	resync(ctl);
	loop_timer_arm(ctl->resync, ctl->opts.resync_s * 1000ULL);
}

static void on_resync(struct loop *loop, void *arg)
{
	struct control *ctl = arg;

	if (ctl->synced)
		resync(ctl);
	loop_timer_arm(ctl->resync, ctl->opts.resync_s * 1000ULL);
}

static void on_settle(struct loop *loop, void *arg)
{
	struct control *ctl = arg;

	ctl->armed_deadline = 0;
	plan_tick(ctl->plan);
	after_flush(ctl);
}

static const struct reflector_ops rops = {
	.list_begin = on_list_begin,
	.event = on_event,
	.list_end = on_list_end,
};

static int add_watch(struct control *ctl, enum plan_src src, const char *name,
		     const char *path, const char *sel, bool meta)
{
	struct reflector_cfg cfg = {
		.name = name, .path = path, .label_selector = sel,
		.accept = meta ? META_LIST_ACCEPT : NULL,
		.watch_accept = meta ? META_WATCH_ACCEPT : NULL,
	};
	struct watch *w = &ctl->w[src];

	w->ctl = ctl;
	w->src = src;
	w->kind = plan_src_kind(src);
	w->r = reflector_new(ctl->client, &cfg, &rops, w);
	return w->r ? 0 : -ENOMEM;
}

int control_start(struct control **out, struct loop *loop, struct recon *recon,
		  const struct control_opts *opts)
{
	struct plan_opts po = {};
	struct control *ctl;
	struct selector sel;
	int err, i;

	*out = NULL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->loop = loop;
	ctl->opts = *opts;
	ctl->recon = recon;
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
	po.default_action = ctl->opts.default_action;
	po.departure = !ctl->opts.no_departure;
	po.settle_ns = ctl->opts.settle_s * 1000000000ULL;
	po.clock = now_ns;
	po.sink = apply_sink(recon);
	po.on_transition = on_transition;
	po.transition_arg = ctl;
	ctl->plan = plan_new(&po);
	ctl->client = kube_client_new(loop, &ctl->cfg, NULL);
	if (ctl->client && ctl->opts.node_name && ctl->opts.node_name[0]) {
		ctl->node_hash = obj_node_hash(ctl->opts.node_name);
		ctl->events = kube_events_new(loop, ctl->client, ctl->opts.node_name);
	}
	ctl->resync = loop_timer_new(loop, on_resync, ctl);
	ctl->settle = loop_timer_new(loop, on_settle, ctl);
	if (!ctl->plan || !ctl->client || !ctl->resync || !ctl->settle) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = add_watch(ctl, PS_SVC, "services", "/api/v1/services", NULL, false);
	err = err ?: add_watch(ctl, PS_EPS, "endpointslices",
			       "/apis/discovery.k8s.io/v1/endpointslices", NULL, false);
	err = err ?: add_watch(ctl, PS_NODE, "nodes", "/api/v1/nodes", NULL, false);
	err = err ?: add_watch(ctl, PS_POD_QUAR, "quarantined pods", "/api/v1/pods",
			       ctl->opts.quarantine_selector, false);
	if (!ctl->opts.no_departure)
		err = err ?: add_watch(ctl, PS_POD_META, "pod metadata", "/api/v1/pods", NULL,
				       true);
	if (err)
		goto cleanup;
	for (i = 0; i < PS_MAX; i++) {
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

void control_fill_metrics(const struct control *ctl, struct agent_metrics *am)
{
	static const enum metrics_resource res[PS_MAX] = {
		[PS_POD_META] = RES_PODS, [PS_POD_QUAR] = RES_QPODS,
		[PS_SVC] = RES_SERVICES, [PS_EPS] = RES_SLICES, [PS_NODE] = RES_NODES,
	};
	struct kube_client_stats cs;
	struct plan_stats ps;

	if (!ctl)
		return;
	for (int i = 0; i < PS_MAX; i++) {
		struct reflector_stats st = {};

		if (!ctl->w[i].r)
			continue;
		reflector_get_stats(ctl->w[i].r, &st);
		am->watches[res[i]] = st.watches;
		am->relists[res[i]] = st.relists;
		am->watch_errors[res[i]] = st.errors;
		am->events[res[i]] = st.events;
		am->lists[res[i]] = st.lists;
		am->quorum_lists[res[i]] = st.quorum_lists;
		am->malformed_lines[res[i]] = st.malformed;
	}
	kube_client_get_stats(ctl->client, &cs);
	am->api_dead = cs.dead;
	am->api_probes = cs.probes;
	plan_get_stats(ctl->plan, &ps);
	am->bad_objects = ctl->st.bad_objects;
	am->restored_memberships = ps.restored;
	am->resyncs = ctl->st.resyncs;
	if (ctl->events) {
		am->k8s_events_posted = kube_events_posted(ctl->events);
		am->k8s_events_dropped = kube_events_dropped(ctl->events);
	}
	am->synced = ctl->synced;
	am->last_sync_wall_ns = ctl->last_sync_wall_ns;
}

bool control_synced(const struct control *ctl)
{
	return ctl && ctl->synced;
}

void control_get_stats(const struct control *ctl, struct control_stats *st)
{
	*st = ctl->st;
}


void control_stop(struct control *ctl)
{
	int i;

	if (!ctl)
		return;
	/* The maps stay as they are: enforcement outlives the agent. */
	for (i = 0; i < PS_MAX; i++)
		reflector_free(ctl->w[i].r);
	/* The client first: it drops in-flight Event posts that point at events. */
	kube_client_free(ctl->client);
	kube_events_free(ctl->events);
	loop_timer_free(ctl->resync);
	loop_timer_free(ctl->settle);
	plan_free(ctl->plan);
	free(ctl->changes);
	kube_config_free(&ctl->cfg);
	free(ctl);
}
