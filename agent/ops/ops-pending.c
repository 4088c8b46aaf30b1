/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the operations decided that waits for the next boot (ops.h,
 * ops_reboot_required()): one rule for lifelinectl status, the reports
 * and the metrics.
 */
#include "agent/decision/runstate.h"
#include "agent/ops/ops.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/state-record.h"

static bool modules_differ(const struct state_record *rec, char **blocked)
{
	if (strv_length(blocked) != rec->n_modules)
		return true;
	for (unsigned i = 0; i < rec->n_modules; i++)
		if (!strv_contains(blocked, rec->modules[i]))
			return true;
	return false;
}

bool ops_reboot_required(const struct state_record *rec, const struct runstate *rs,
                         const char **ret_why)
{
	const char *why = NULL, *next = state_mode_to_string(rec->mode);

	if (!rs || !rs->mode || streq(rs->mode, "uncounted"))
		why = NULL;
	else if (!streq_ptr(rs->mode, next))
		why = rec->mode == STATE_MODE_NORMAL
		          ? "the quarantine was cleared: the next boot is a normal boot"
		          : "the next boot starts in another mode";
	else if (rs->generation != rec->generation)
		why = "a quarantine was decided since this boot started: it takes effect at the "
		      "next boot";
	else if (modules_differ(rec, rs->blocked))
		why = "the blocked modules changed since this boot started";
	if (ret_why)
		*ret_why = why;
	return why != NULL;
}
