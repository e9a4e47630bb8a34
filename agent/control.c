// SPDX-License-Identifier: MIT
/* Placeholder until the control plane lands: steerd runs --standalone. */
#include <errno.h>
#include <stddef.h>

#include "control.h"
#include "log.h"

int control_start(struct control **ctl, struct loop *loop,
		  const struct steer_maps *maps, const struct control_opts *opts)
{
	pr_warn("control plane not built yet: run steerd --standalone");
	*ctl = NULL;
	return -ENOSYS;
}

void control_stop(struct control *ctl)
{
}
