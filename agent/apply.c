// SPDX-License-Identifier: MIT
#include "apply.h"

#include "lib/log.h"

static void sink_quar(void *arg, const struct steer_addr *addr,
		      const struct steer_quar_val *want)
{
	recon_quar(arg, addr, want);
}

static void sink_svc(void *arg, const struct steer_svc_key *key,
		     const struct steer_backend_val *set, uint32_t n)
{
	recon_svc(arg, key, set, n);
}

static void sink_svc_del(void *arg, const struct steer_svc_key *key)
{
	recon_svc_del(arg, key);
}

static void sink_member(void *arg, const struct steer_member_key *key,
			const struct steer_member_val *want)
{
	recon_member(arg, key, want);
}

struct plan_sink apply_sink(struct recon *r)
{
	return (struct plan_sink){
		.quar = sink_quar, .svc = sink_svc, .svc_del = sink_svc_del,
		.member = sink_member, .arg = r,
	};
}

static void remember(void *arg, const struct steer_member_key *key,
		     const struct steer_member_val *val)
{
	plan_remember(arg, key, val);
}

int apply_sync(struct plan *p, struct recon *r)
{
	bool first = !recon_live(r);
	int err;

	plan_flush(p);
	if (first) {
		/* Not live yet: what the restore changes is written by the sync below. */
		recon_restore(r, remember, p);
		plan_remember_done(p);
		plan_flush(p);
		pr_info("initial sync complete: taking over the maps");
	}
	recon_sync_begin(r);
	err = plan_emit_all(p);
	return recon_sync_end(r) ?: err;
}
