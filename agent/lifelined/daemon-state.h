/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What lifelined and its short-lived worker (lifelined-worker) hand each
 * other: /run/lifeline/daemon-state, a small "key=value" file.
 *
 * lifelined itself links only libc and libsystemd (the idle RSS goal, tests/bench/README.md): all
 * network, crypto, JSON and state-store work runs in a lifelined-worker
 * process it starts when a job is due. The worker reads this file, does
 * its job, and writes it back; lifelined reads it when the worker exits to
 * set its next timer (the spool's back-off) and its STATUS= line. On a
 * tmpfs: it outlives a restarted daemon, not a reboot (a new boot starts
 * with a fresh back-off, as before).
 *
 *   failures=2             consecutive failed spool flushes
 *   next_attempt=1234      CLOCK_BOOTTIME seconds; no flush before (0: now)
 *   delay=60               the last back-off delay chosen, seconds
 *   last_status=500        HTTP status of the last failure, 0 if none came
 *   spooled=3              reports waiting in the spool after the job
 *   seen0=<sha256> seen1=<sha256>   the command poller's last judged documents
 *   poll_error=-111        why the last command poll failed, or 0
 *   poll_next_ms=1234567   CLOCK_BOOTTIME milliseconds: the next command poll
 *                          is due then, not before (the poller's schedule:
 *                          jitter, back-off, Retry-After); 0 none said
 *   blessed=1              the last bless job blessed the boot
 *   why=<text>             why the last bless job did not (a check's output)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent/command/command.h"
#include "agent/report/spool.h"

#define DAEMON_STATE_FILE "/run/lifeline/daemon-state"

struct lifeline_config;

struct daemon_state {
	/* failures, next_attempt, delay, last_status (last_error is not kept) */
	struct spool_backoff backoff;
	unsigned spooled;
	struct command_poller poller; /* seen0, seen1 */
	int poll_error;
	uint64_t poll_next_ms;
	bool blessed;
	char why[512];
};

/* Absent file: all zeros, returns 0. Unknown keys and bad lines are
 * skipped (a newer writer). */
int daemon_state_read(const char *root, struct daemon_state *ret);
/* Atomically (creating /run/lifeline). */
int daemon_state_write(const char *root, const struct daemon_state *s);

/* CLOCK_BOOTTIME in milliseconds (the clock of poll_next_ms). */
uint64_t daemon_now_ms(void);

/* When lifelined polls fleet commands (agent/lifelined/daemon-poll.c; the
 * schedule is command_poll_first_delay() and command_poll_next_delay(),
 * command.h), as CLOCK_BOOTTIME milliseconds; interval_s is [commands]
 * poll_interval, ds the daemon state as the last worker left it (NULL:
 * none).
 * The first poll after lifelined starts: a random time within one
 * interval, but not before a poll_next_ms a previous lifelined of this
 * boot was given (a server's Retry-After outlives a restart). */
uint64_t daemon_poll_first_at(unsigned interval_s, uint64_t now_ms, const struct daemon_state *ds);
/* After a worker that polled: the poll_next_ms it left, when that is
 * still ahead; else (the worker did not say: killed, could not start, an
 * older worker) one interval with its jitter. */
uint64_t daemon_poll_next_at(unsigned interval_s, uint64_t now_ms, const struct daemon_state *ds);

/* The worker's report jobs (agent/lifelined/daemon-reports.c; not in
 * daemon-state.c, which lifelined links without libcurl), done in this
 * order on ds, whose times are CLOCK_BOOTTIME seconds like now. lifelined
 * owns the timing: it starts the worker when a job is due. */
enum {
	DAEMON_JOB_START = 1 << 0,     /* the start report: a mode change, or "start"
	                                * outside normal mode; then a forced flush */
	DAEMON_JOB_POLL = 1 << 1,      /* fetch and judge fleet commands */
	DAEMON_JOB_HEARTBEAT = 1 << 2, /* a heartbeat (or mode-change) report */
	DAEMON_JOB_FORCE = 1 << 3,     /* flush whatever the back-off says */
};

/* Runs jobs, then flushes the spool (when its back-off allows, or forced).
 * Returns the flush's result: 0, -EAGAIN backing off, -EBUSY another
 * process is flushing (then the next attempt is SPOOL_BACKOFF_MIN away),
 * or why the collector was not reached (ds->backoff says more). A failed
 * poll is in ds->poll_error; after a poll ds->poll_next_ms says when the
 * next one is due. */
int daemon_reports(struct daemon_state *ds, const char *root, const struct lifeline_config *cfg,
                   unsigned jobs, uint64_t now);
