/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The boot decision: state record in, state record + action out. Pure:
 * no I/O, so every branch is a unit test.
 *
 * Levels (docs/design.md "Choosing suspects, and escalation"): with threshold T
 * and escalate_after E, level 1 is entered at failure T+1, level 2 at
 * T+1+E, level 3 at T+1+2E, give-up at T+1+3E; the level rises by at most
 * one per boot attempt whatever the count says. A level never goes down
 * by itself: only `lifelinectl clear` (or a signed clear) lowers it.
 *
 * Repeat-crash fast path ([boot] repeat_crash): when the two boots before
 * this one both ended in a panic at the same site in a configured
 * component's module or an eBPF program
 * (pstore.h pstore_crash_signature()), level 1 is entered now, at failure
 * 3, instead of at failure T+1. The record keeps the previous boot's
 * panic (panic_sig, decide_panic_sig()); anything else in between (a
 * hang, a panic in the kernel's own code, another crash site, the same
 * crash record read again, a survived boot, a clear) breaks the run.
 *
 * max_level ([boot] max_level, 1..3): escalation never goes above it.
 * When the count calls for a level above max_level, the machine gives up
 * as it does after level 3: mode given-up, nothing more changes, the
 * boot reports it loudly.
 */
#pragma once

#include <stdbool.h>

#include "agent/conf/components.h"
#include "agent/decision/blocked-modules.h"
#include "efi/state-record.h"

struct decide_params {
	unsigned threshold;
	unsigned escalate_after;
	bool count_clean_reboots;
	bool repeat_crash;  /* the fast path above; [boot] repeat_crash */
	unsigned max_level; /* 1..3; 0 (or above 3) is taken as 3 */
};

enum decide_action {
	DECIDE_NONE,     /* boot normally (or stay in the current safe mode) */
	DECIDE_ESCALATE, /* enter a new level: quarantine more */
	DECIDE_GIVE_UP,  /* past level 3: change nothing more, report loudly */
};

/* What made this boot escalate or give up. */
enum decide_trigger {
	DECIDE_TRIGGER_NONE,         /* no escalation, no give-up */
	DECIDE_TRIGGER_THRESHOLD,    /* the failure count (threshold, escalate_after) */
	DECIDE_TRIGGER_REPEAT_CRASH, /* the fast path: level 1 before the threshold */
	DECIDE_TRIGGER_MAX_LEVEL,    /* give-up because the count went past max_level < 3 */
};

struct decision {
	enum decide_action action;
	enum decide_trigger trigger;
	unsigned new_level;
	unsigned failures;
	unsigned max_level; /* the bound in effect (1..3) */
};

/* The state record's panic_sig for a crash record: the crash site's
 * signature (pstore_crash_signature(); 0: none, then 0 is returned)
 * folded into the high 20 bits, a stamp of the record itself (its time
 * and dump number) in the low 12. Two crashes at one site match in the
 * high bits; the same record read by two boots (a power cut or a hang
 * between the record write and the pstore erase, an erase NVRAM refused)
 * matches in all 32 and is not taken for a second crash. */
#define DECIDE_PANIC_STAMP_BITS 12
uint32_t decide_panic_sig(uint32_t site, uint64_t record_time, unsigned record_event);

/* Level the failure count calls for (0 = none, 4 = give up). */
unsigned decide_target_level(unsigned failures, const struct decide_params *p);

/* Count this boot attempt and decide. prev_panic_sig: decide_panic_sig()
 * of the previous boot's panic, from the newest crash record this boot
 * found in pstore (0: none, or none in third-party code). rec is updated
 * in place: boot_seq and failures bumped, CLEAN_SHUTDOWN consumed,
 * panic_sig set to prev_panic_sig (0 when it is the record the previous
 * boot already saw), and on escalation level, mode and generation set
 * (the caller fills the module list). */
void decide_boot(struct state_record *rec, const struct decide_params *p, uint32_t prev_panic_sig,
                 struct decision *ret);

/* A survived boot (up [boot] stable_after seconds, whatever its health):
 * the run of failed boots is over, failures and panic_sig back to 0. Mode
 * and level stay.
 * Returns true when the record changed (a variable write is due). */
bool decide_survived(struct state_record *rec);

/* A blessed boot (survived and healthy). failures and panic_sig go to 0 as for
 * decide_survived() (a blessing comes after stable_after, so the boot has
 * survived; writing 0 again also keeps a read-modify-write racing the
 * survived step from putting the old count back). Only a boot in normal
 * mode becomes the last good: a safe-mode boot runs with the culprit
 * switched off, so its blessing is not recorded. Returns true when the
 * boot became the last good. */
bool decide_bless(struct state_record *rec, unsigned long long now);

/* The record is input, not truth: a record that decodes can still be
 * inconsistent (forged, or written by a faulty firmware or tool). Returns
 * 0 when rec can be used, else -EUCLEAN with *ret_why (malloc'd) saying
 * why: more failures or a later blessing than boot attempts; a module
 * that no configured component (set) names and that is not level 3's
 * (level >= 3, not in-tree); any in-tree module (idx). Such a record must
 * never quarantine anything: the caller starts a fresh one. */
int decide_record_check(const struct state_record *rec, const struct component_set *set,
                        const struct module_index *idx, char **ret_why);

/* Clear: back to normal, level 0, no module quarantine, no failure run
 * (failures and panic_sig 0). */
void decide_clear(struct state_record *rec);

const char *decide_action_to_string(enum decide_action a);
/* "threshold", "repeat-crash", "max-level"; NULL for DECIDE_TRIGGER_NONE. */
const char *decide_trigger_to_string(enum decide_trigger t);
