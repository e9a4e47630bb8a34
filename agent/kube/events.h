/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes Events on pods (core/v1), so `kubectl describe pod` shows what
 * steer did. Posted only by the steerd of the pod's own node, so a cluster
 * of N nodes writes one Event per decision, not N; rate-limited so a label
 * storm cannot turn into an Event storm against the API server.
 */
#ifndef STEER_KUBE_EVENTS_H
#define STEER_KUBE_EVENTS_H

#include <stdint.h>

#include "kube/client.h"

#define EVENTS_BURST 20		/* tokens */
#define EVENTS_PER_SEC 2	/* refill */

struct kube_events;

struct kube_events *kube_events_new(struct loop *loop, struct kube_client *c,
				    const char *node);
void kube_events_free(struct kube_events *e);

/*
 * Posts an Event on pod key ("namespace/name"). Returns 0 when sent,
 * -EBUSY when the rate limit dropped it, or another negative errno.
 */
int kube_events_pod(struct kube_events *e, const char *key, const char *uid,
		    const char *type, const char *reason, const char *message);

/* Events posted, and those dropped by the rate limit or a failed post. */
uint64_t kube_events_posted(const struct kube_events *e);
uint64_t kube_events_dropped(const struct kube_events *e);

#endif /* STEER_KUBE_EVENTS_H */
