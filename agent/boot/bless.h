/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Is this boot good? (docs/design.md "blessed boot"). A boot is blessed when
 * systemd reports the system running (or degraded only in allowed units),
 * every check in /etc/lifeline/check.d exits 0, the kernel is not tainted
 * with D (oops) or L (soft lockup) since boot, and it has been up
 * stable_after seconds.
 */
#pragma once

#include <stdbool.h>

#include "agent/conf/config.h"

struct bless_verdict {
	bool ok;
	char *why; /* the first reason it is not (yet) good */
};

/* system_state: systemd's SystemState ("running", "degraded", ...);
 * failed_units: the failed units when degraded; uptime in seconds;
 * taint: /proc/sys/kernel/tainted. Pure decision, tested directly. */
int bless_judge(const struct lifeline_config *cfg, const char *system_state, char **failed_units,
                double uptime, unsigned long taint, struct bless_verdict *ret);

/* Run every executable in <root>/etc/lifeline/check.d in lexical order,
 * each with timeout seconds; the first one failing fills *ret_why with its
 * name, exit status and first output line. Returns 1 all passed, 0 one
 * failed, < 0 error. */
int bless_run_checks(const char *root, unsigned timeout, char **ret_why);

void bless_verdict_done(struct bless_verdict *v);
