/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The survived step's record write and the shutdown step (survived.c).
 *
 * A boot is counted as failed when it starts (the init phase adds 1 to
 * failures); the survived step takes that back once the boot has been up
 * [boot] stable_after seconds. If its write is lost (NVRAM full or
 * failing, the step killed), the next boot counts on from the old number
 * and may escalate although the run of failed boots was over. So:
 *   - the write is retried a few times, each try loading the record
 *     afresh (a clear or a blessing written meanwhile is kept, never
 *     overwritten by an older copy);
 *   - before it touches the record the step leaves SURVIVED_PENDING_FILE,
 *     removed once failures = 0 is written; the shutdown step (and
 *     lifelined's clean-shutdown job, and any blessing) write it later;
 *   - the shutdown step also sets STATE_FLAG_CLEAN_SHUTDOWN with
 *     [boot] count_clean_reboots = no, so that setting does not depend on
 *     lifelined either.
 * Every path only ever lowers failures or sets that flag: mode, level,
 * modules and generation are written back as read. A failure of any of
 * them leaves the record as it was: never a higher level than without
 * lifeline's retry.
 */
#pragma once

#include <stdbool.h>

#include "agent/boot/boot.h"
#include "agent/conf/config.h"
#include "efi/state-record.h"

/* There: this boot survived, failures = 0 is not written yet (its text,
 * "boot_seq=0", says nothing more). */
#define SURVIVED_PENDING_FILE "/run/lifeline/survived-pending"

/* tries attempts; the k-th retry waits first_delay_ms << (k - 1). */
struct survived_retry {
	unsigned tries;
	unsigned first_delay_ms;
};

/* The survived step: 6 tries over 31 s (1 + 2 + 4 + 8 + 16). */
#define SURVIVED_RETRY_STEP ((struct survived_retry){.tries = 6, .first_delay_ms = 1000})
/* At shutdown: 3 tries over 1.5 s, a shutdown is not held up. */
#define SURVIVED_RETRY_SHUTDOWN ((struct survived_retry){.tries = 3, .first_delay_ms = 500})

enum {
	SURVIVED_RESET_FAILURES = 1 << 0, /* failures = 0 */
	SURVIVED_MARK_CLEAN = 1 << 1,     /* STATE_FLAG_CLEAN_SHUTDOWN */
};

/* Applies what to the record, loaded afresh for each try, and writes it
 * when that changed something (none when nothing did). A failed write or
 * an I/O error reading is retried; a record that is absent or does not
 * decode is not (the next boot replaces it). Returns 0 with *ret_before
 * (failures before) and *ret_rec (the record as stored now), or the last
 * error. ret_before and ret_rec may be NULL. */
int survived_record_update(const struct lifeline_config *cfg, unsigned what,
                           const struct survived_retry *retry, unsigned *ret_before,
                           struct state_record *ret_rec);

/* boot_phase_survived() (boot.h) with its retries given. */
int boot_phase_survived_retry(const struct boot_opts *o, const struct survived_retry *retry);

/* The shutdown step. clean: the system is stopping (a clean shutdown or
 * reboot, not a crash). Writes failures = 0 when SURVIVED_PENDING_FILE is
 * there, and with [boot] count_clean_reboots = no and clean, the clean
 * shutdown flag; one write at most, none when there is nothing to do.
 * Returns 0, or the error of the write (logged). */
int boot_phase_shutdown(const struct boot_opts *o, bool clean, const struct survived_retry *retry);
