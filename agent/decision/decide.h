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
};

enum decide_action {
	DECIDE_NONE,     /* boot normally (or stay in the current safe mode) */
	DECIDE_ESCALATE, /* enter a new level: quarantine more */
	DECIDE_GIVE_UP,  /* past level 3: change nothing more, report loudly */
};

struct decision {
	enum decide_action action;
	unsigned new_level;
	unsigned failures;
};

/* Level the failure count calls for (0 = none, 4 = give up). */
unsigned decide_target_level(unsigned failures, const struct decide_params *p);

/* Count this boot attempt and decide. rec is updated in place: boot_seq
 * and failures bumped, CLEAN_SHUTDOWN consumed, and on escalation level,
 * mode and generation set (the caller fills the module list). */
void decide_boot(struct state_record *rec, const struct decide_params *p, struct decision *ret);

/* A survived boot (up [boot] stable_after seconds, whatever its health):
 * the run of failed boots is over, failures back to 0. Mode and level stay.
 * Returns true when the record changed (a variable write is due). */
bool decide_survived(struct state_record *rec);

/* A blessed boot (survived and healthy). failures goes to 0 as for
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

/* Clear: back to normal, level 0, no module quarantine. */
void decide_clear(struct state_record *rec);

const char *decide_action_to_string(enum decide_action a);
