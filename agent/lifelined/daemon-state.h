/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What lifelined and its short-lived worker (lifelined-worker) hand each
 * other: /run/lifeline/daemon-state, a small "key=value" file.
 *
 * lifelined itself links only libc and libsystemd (idle RSS, issue 5): all
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
 *   blessed=1              the last bless job blessed the boot
 *   why=<text>             why the last bless job did not (a check's output)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define DAEMON_STATE_FILE "/run/lifeline/daemon-state"

struct daemon_state {
	unsigned failures;
	uint64_t next_attempt;
	uint64_t delay;
	long last_status;
	unsigned spooled;
	char seen[2][65];
	int poll_error;
	bool blessed;
	char why[512];
};

/* Absent file: all zeros, returns 0. Unknown keys and bad lines are
 * skipped (a newer writer). */
int daemon_state_read(const char *root, struct daemon_state *ret);
/* Atomically (creating /run/lifeline). */
int daemon_state_write(const char *root, const struct daemon_state *s);
