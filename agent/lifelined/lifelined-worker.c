/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelined-worker — the jobs lifelined runs in a short-lived process, so
 * that the long-lived daemon maps only libc and libsystemd while it waits
 * (goal: idle RSS <= 4 MiB, tests/bench/README.md). Everything that needs libcurl, OpenSSL,
 * json-c, libefivar or libblkid is here: sending the spool, heartbeats,
 * polling and verifying fleet commands, blessing (check.d and the state
 * record), recording a clean shutdown.
 *
 *   lifelined-worker [--root=DIR] JOB...
 *
 *   bless           run /etc/lifeline/check.d, then bless the boot (reset
 *                   the failure counter) and take the last-good inventory
 *   start           the daemon's start report (mode change, or "start"
 *                   outside normal mode) and a flush of the spool now
 *   heartbeat       a heartbeat report
 *   poll            fetch and judge fleet commands
 *   flush           send the spool (heartbeat, poll and start flush too)
 *   force           flush now, whatever the back-off says (network came up)
 *   clean-shutdown  record a clean shutdown ([boot] count_clean_reboots=no)
 *                   and a survival whose write was lost (agent/boot/survived.h)
 *
 * Jobs run in the order above. The spool's back-off, the poller's memory
 * and the bless verdict travel in /run/lifeline/daemon-state
 * (agent/daemon-state.h). Exit status: 0 every job did its work, 1 one
 * did not (logged; the daemon state says more), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/boot/bless.h"
#include "agent/boot/survived.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/lifelined/daemon-state.h"
#include "agent/ops/ops.h"
#include "agent/decision/decide.h"
#include "agent/decision/history.h"
#include "agent/inventory/inventory.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"

/* check.d scripts get this long each (seconds). */
#define CHECK_TIMEOUT 60

static const char *arg_root = "/";

static uint64_t uptime_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/* A blessed normal boot with nothing quarantined is the new "last good":
 * snapshot every component's files (docs/design.md boot flow 4) and keep
 * last-good copies of small content files for rollback. Not in safe mode:
 * quarantined files would be recorded as missing. */
static void take_last_good_inventory(const struct lifeline_config *cfg, int mode)
{
	_cleanup_inventory_free_ struct inventory *prev = NULL, *inv = NULL;
	_cleanup_free_ struct quarantine_entry *active = NULL;
	struct content_cache_result cr = {0};
	struct component_set set = {0};
	unsigned n_active = 0;
	int r;

	if (mode != STATE_MODE_NORMAL || quarantine_active_read(arg_root, &active, &n_active) < 0 ||
	    n_active > 0)
		return;
	(void)components_load(arg_root, &set, NULL);
	(void)inventory_load(arg_root, &prev); /* any error: no previous, hash all */
	r = inventory_take(arg_root, &set, prev, &inv);
	if (r >= 0)
		r = inventory_save(arg_root, inv);
	if (r >= 0)
		r = content_cache_update(arg_root, &set, inv, cfg->quarantine_cache_max, &cr);
	if (r < 0)
		log_warning_errno(r, "Failed to take the last-good inventory: %m");
	else
		log_info("last-good inventory taken");
	STRV_FOREACH (l, cr.lines)
		log_notice("%s", *l);
	content_cache_result_done(&cr);
	components_done(&set);
}

static int bless_now(const struct lifeline_config *cfg, struct daemon_state *ds)
{
	_cleanup_free_ char *why = NULL;
	struct ops_result res;
	int r;

	ds->blessed = false;
	r = bless_run_checks(arg_root, CHECK_TIMEOUT, &why);
	if (r == 0) {
		bool again = streq(ds->why, why ? why : "a check failed");

		snprintf(ds->why, sizeof(ds->why), "%s", why ? why : "a check failed");
		/* reported once per reason, not at every retry */
		if (!again) {
			r = report_unblessed(arg_root, cfg, ds->why);
			if (r < 0)
				log_debug_errno(r, "Failed to spool the unblessed report: %m");
		}
		return -EBADMSG;
	}
	if (r < 0)
		log_warning_errno(r, "Failed to run the checks in /etc/lifeline/check.d: %m");

	r = ops_bless(arg_root, OPS_ACTOR_DAEMON,
	              "healthy and up stable_after seconds; every check.d script passed", &res);
	if (r < 0) {
		if (res.record_error != 0 || r == -ENOENT)
			snprintf(ds->why, sizeof(ds->why), "state record: %s",
			         state_record_strerror(r));
		else
			snprintf(ds->why, sizeof(ds->why), "not blessed: %s", strerror(-r));
		return r;
	}
	ds->blessed = true;
	ds->why[0] = 0;
	/* lifeline_failures 0 now, not at the next heartbeat */
	r = report_metrics_refresh(arg_root, cfg);
	if (r < 0)
		log_debug_errno(r, "Failed to write the metrics file: %m");
	take_last_good_inventory(cfg, res.mode);
	return 0;
}

/* At shutdown (lifelined asks only when systemd says the system is
 * stopping): with count_clean_reboots=no the clean shutdown is marked so
 * that the next boot does not count this one as failed, and a survival
 * whose write was lost (survived.h) is written now: boot_phase_shutdown(),
 * which a unit of its own can also run without lifelined; whichever
 * comes second finds nothing left to write. */
static int mark_clean_shutdown(void)
{
	struct survived_retry retry = SURVIVED_RETRY_SHUTDOWN;
	struct boot_opts o = {.root = arg_root};

	return boot_phase_shutdown(&o, true, &retry);
}

static int reports(const struct lifeline_config *cfg, struct daemon_state *ds, unsigned jobs)
{
	int r = daemon_reports(ds, arg_root, cfg, jobs, uptime_seconds());

	if (r < 0 && r != -EAGAIN && r != -EBUSY) {
		log_warning("reports not delivered to %s: %s; next try in %llu s", cfg->report_url,
		            ds->backoff.last_error[0] ? ds->backoff.last_error : strerror(-r),
		            (unsigned long long)ds->backoff.delay);
		return r;
	}
	return 0;
}

static void help(void)
{
	printf("Usage: lifelined-worker [--root=DIR] JOB...\n"
	       "\n"
	       "Runs lifelined's jobs in a short-lived process (started by lifelined).\n"
	       "Jobs: bless start heartbeat poll flush force clean-shutdown\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	bool bless = false, start = false, heartbeat = false, poll = false, flush = false,
	     force = false, shutdown = false;
	struct lifeline_config cfg;
	struct daemon_state ds;
	int c, r, ret = 0;

	log_set_prefix("lifelined: ");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'r':
			arg_root = optarg;
			break;
		case 'h':
			help();
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "lifelined-worker: a job is required. Try --help.\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		if (streq(argv[i], "bless"))
			bless = true;
		else if (streq(argv[i], "start"))
			start = true;
		else if (streq(argv[i], "heartbeat"))
			heartbeat = true;
		else if (streq(argv[i], "poll"))
			poll = true;
		else if (streq(argv[i], "flush"))
			flush = true;
		else if (streq(argv[i], "force"))
			force = flush = true;
		else if (streq(argv[i], "clean-shutdown"))
			shutdown = true;
		else {
			fprintf(stderr, "lifelined-worker: unknown job '%s'\n", argv[i]);
			return 2;
		}
	}
	config_init_defaults(&cfg);
	(void)config_load(arg_root, &cfg);
	r = daemon_state_read(arg_root, &ds);
	if (r < 0) {
		log_debug_errno(r, "Failed to read %s, starting afresh: %m", DAEMON_STATE_FILE);
		memset(&ds, 0, sizeof(ds));
	}
	if (bless && bless_now(&cfg, &ds) < 0)
		ret = 1;
	if ((start || heartbeat || poll || flush) &&
	    reports(&cfg, &ds,
	            (start ? DAEMON_JOB_START : 0) | (poll ? DAEMON_JOB_POLL : 0) |
	                (heartbeat ? DAEMON_JOB_HEARTBEAT : 0) | (force ? DAEMON_JOB_FORCE : 0)) <
	        0)
		ret = 1;
	if (shutdown && mark_clean_shutdown() < 0)
		ret = 1;
	if (spool_count(arg_root, &ds.spooled, NULL) < 0)
		ds.spooled = 0;
	r = daemon_state_write(arg_root, &ds);
	if (r < 0)
		log_warning_errno(r, "Failed to write %s: %m", DAEMON_STATE_FILE);
	config_done(&cfg);
	return ret;
}
