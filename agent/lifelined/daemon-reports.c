/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's report jobs (daemon-state.h, daemon_reports()): the start
 * report, heartbeats, fleet command polls and the spool's flush with its
 * back-off, kept in the daemon state between two workers.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "agent/command/command.h"
#include "agent/conf/config.h"
#include "agent/lifelined/daemon-state.h"
#include "agent/report/report.h"
#include "agent/report/spool.h"
#include "common/log.h"
#include "common/macro.h"

int daemon_reports(struct daemon_state *ds, const char *root, const struct lifeline_config *cfg,
                   unsigned jobs, uint64_t now)
{
	bool force = jobs & DAEMON_JOB_FORCE;
	int r;

	ds->backoff.last_error[0] = 0;
	if (jobs & DAEMON_JOB_START) {
		/* Started outside normal mode: say so even when it is no
		 * change (a restarted agent in safe mode). */
		r = report_mode_change(root, cfg, REPORT_EVENT_START, true);
		if (r < 0)
			log_warning_errno(r, "Failed to spool the start report: %m");
		/* In normal mode there was no report: the metrics file could
		 * still say what the previous boot left (failures, mode). */
		r = report_metrics_refresh(root, cfg);
		if (r < 0)
			log_debug_errno(r, "Failed to write the metrics file: %m");
		force = true; /* the spool goes out at every start */
	}
	if (jobs & DAEMON_JOB_POLL) {
		unsigned judged = 0;

		r = 0;
		if (cfg->commands_url && *cfg->commands_url)
			r = command_poll(&ds->poller, root, cfg, NULL, NULL, (int64_t)time(NULL),
			                 &judged);
		if (r < 0 && r != ds->poll_error)
			log_warning_errno(r, "Fleet commands from %s not checked: %m",
			                  cfg->commands_url);
		ds->poll_error = r < 0 ? r : 0;
		/* from the end of this poll: a Retry-After is never cut short */
		ds->poll_next_ms = daemon_now_ms() + command_poll_next_delay(&ds->poller);
		/* An applied command may have changed the mode. */
		if (judged > 0)
			(void)report_mode_change(root, cfg, _REPORT_EVENT_MAX, false);
	}
	if (jobs & DAEMON_JOB_HEARTBEAT) {
		r = report_mode_change(root, cfg, REPORT_EVENT_HEARTBEAT, false);
		if (r < 0)
			log_debug_errno(r, "Heartbeat report failed: %m");
	}
	if (force)
		ds->backoff.next_attempt = 0;
	r = report_flush(root, cfg, &ds->backoff, now, false, NULL, NULL, NULL);
	/* another process is flushing: try again soon, not at once */
	if (r == -EBUSY && ds->backoff.next_attempt <= now)
		ds->backoff.next_attempt = now + SPOOL_BACKOFF_MIN;
	return r;
}
