/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The boot decision: state record in, state record + action out. Pure:
 * no I/O, so every branch is a unit test.
 *
 * Levels (DESIGN.md "Choosing suspects, and escalation"): with threshold T
 * and escalate_after E, level 1 is entered at failure T+1, level 2 at
 * T+1+E, level 3 at T+1+2E, give-up at T+1+3E. A level never goes down
 * by itself: only `lifelinectl clear` (or a signed clear) lowers it.
 */
#pragma once

#include <stdbool.h>

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

/* A blessed boot: failures reset, blessing recorded. Mode and level stay:
 * a blessed safe-mode boot is still in safe mode until cleared. */
void decide_bless(struct state_record *rec, unsigned long long now);

/* Clear: back to normal, level 0, no module quarantine. */
void decide_clear(struct state_record *rec);

const char *decide_action_to_string(enum decide_action a);
