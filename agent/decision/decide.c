/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pure boot decision (decide.h): count the boot, pick the level and
 * mode from the failure count and the configuration, bless, clear. No I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/decision/decide.h"
#include "common/macro.h"
#include "common/strv.h"

uint32_t decide_panic_sig(uint32_t site, uint64_t record_time, unsigned record_event)
{
	const unsigned b = DECIDE_PANIC_STAMP_BITS;
	uint32_t high, stamp;

	if (site == 0)
		return 0;
	high = (site ^ (site >> (32 - b))) & ((1u << (32 - b)) - 1);
	if (high == 0)
		high = 1; /* a site never reads as "none" */
	stamp = (uint32_t)(record_time ^ (record_time >> b) ^ (record_time >> (2 * b)) ^
	                   (record_time >> (3 * b)) ^ record_event) &
	        ((1u << b) - 1);
	return high << b | stamp;
}

unsigned decide_target_level(unsigned failures, const struct decide_params *p)
{
	unsigned e = p->escalate_after ? p->escalate_after : 1;
	unsigned over;

	if (failures <= p->threshold)
		return 0;
	over = failures - p->threshold - 1;
	return over / e + 1 > 4 ? 4 : over / e + 1;
}

void decide_boot(struct state_record *rec, const struct decide_params *p, uint32_t prev_panic_sig,
                 struct decision *ret)
{
	struct decision d = {.action = DECIDE_NONE};
	unsigned target, max = p->max_level >= 1 && p->max_level <= 3 ? p->max_level : 3;
	bool repeat, fast;

	rec->boot_seq++;
	/* With count_clean_reboots=no, a previous boot that ended in a clean
	 * shutdown is not a failure (attack guard: a local user who can only
	 * reboot cleanly cannot drive the machine into quarantine). */
	if (!p->count_clean_reboots && (rec->flags & STATE_FLAG_CLEAN_SHUTDOWN)) {
		rec->failures = 0;
		rec->panic_sig = 0;
	}
	rec->flags &= (uint16_t)~STATE_FLAG_CLEAN_SHUTDOWN;
	if (rec->failures < UINT32_MAX)
		rec->failures++;
	d.failures = rec->failures;
	d.max_level = max;

	/* The very record the previous boot saw (same site, same stamp): it
	 * was not erased (a power cut or a hang right after the record
	 * write), and the previous boot did not crash in a way it tells. */
	if (prev_panic_sig != 0 && prev_panic_sig == rec->panic_sig)
		prev_panic_sig = 0;
	/* The fast path: the boot before the previous one panicked at this
	 * site (its panic is in the record) and so did the previous one
	 * (prev_panic_sig, from this boot's pstore), with no survived boot in
	 * between (failures counts both, and this one). */
	repeat = p->repeat_crash && prev_panic_sig != 0 && rec->panic_sig != 0 &&
	         rec->panic_sig >> DECIDE_PANIC_STAMP_BITS ==
	             prev_panic_sig >> DECIDE_PANIC_STAMP_BITS &&
	         rec->failures >= 3;
	/* kept for the next boot's comparison: 0 (no third-party panic)
	 * breaks the run */
	rec->panic_sig = prev_panic_sig;

	target = decide_target_level(rec->failures, p);
	/* the fast path lifts the target to level 1, never higher */
	fast = repeat && target < 1;
	if (fast)
		target = 1;
	d.new_level = rec->level;
	if (rec->mode == STATE_MODE_GIVEN_UP) {
		/* nothing more to do until an administrator clears it */
	} else if (target > max && rec->level >= max) {
		/* past the last level allowed (3, or max_level) */
		d.action = DECIDE_GIVE_UP;
		d.trigger = max < 3 ? DECIDE_TRIGGER_MAX_LEVEL : DECIDE_TRIGGER_THRESHOLD;
		rec->mode = STATE_MODE_GIVEN_UP;
	} else if (target > rec->level) {
		/* one level per boot attempt: a count that jumps (a forged or
		 * damaged record, a lowered threshold) never skips a level */
		d.action = DECIDE_ESCALATE;
		d.trigger = fast ? DECIDE_TRIGGER_REPEAT_CRASH : DECIDE_TRIGGER_THRESHOLD;
		d.new_level = MIN(MIN(target, (unsigned)rec->level + 1), max);
		rec->level = (uint8_t)d.new_level;
		rec->mode = STATE_MODE_SAFE;
		rec->generation++;
	}
	*ret = d;
}

bool decide_survived(struct state_record *rec)
{
	bool changed = rec->failures != 0 || rec->panic_sig != 0;

	rec->failures = 0;
	rec->panic_sig = 0;
	return changed;
}

bool decide_bless(struct state_record *rec, unsigned long long now)
{
	rec->failures = 0;
	rec->panic_sig = 0;
	if (rec->mode != STATE_MODE_NORMAL)
		return false;
	rec->last_blessed_seq = rec->boot_seq;
	rec->last_blessed_time = now;
	return true;
}

int decide_record_check(const struct state_record *rec, const struct component_set *set,
                        const struct module_index *idx, char **ret_why)
{
	int r = 0;

	*ret_why = NULL;
	if (rec->failures > rec->boot_seq)
		r = asprintf(ret_why, "%u consecutive failures in %u boot attempts", rec->failures,
		             rec->boot_seq);
	else if (rec->last_blessed_seq > rec->boot_seq)
		r = asprintf(ret_why, "last blessed boot %u after boot attempt %u",
		             rec->last_blessed_seq, rec->boot_seq);
	else if (rec->mode == STATE_MODE_GIVEN_UP && rec->level < 1)
		/* give-up follows the last level allowed: 3, or max_level (1..3) */
		r = asprintf(ret_why, "given up at level 0 (give-up follows a recovery level)");
	for (unsigned i = 0; r == 0 && i < rec->n_modules; i++) {
		const char *m = rec->modules[i];

		if (module_index_in_tree(idx, m))
			r = asprintf(ret_why, "module %s is part of the kernel's own tree", m);
		else if (!components_find_module(set, m) && rec->level < 3)
			r = asprintf(ret_why,
			             "module %s at level %u: no configured component has it", m,
			             rec->level);
	}
	if (r < 0)
		return -ENOMEM;
	return *ret_why ? -EUCLEAN : 0;
}

void decide_clear(struct state_record *rec)
{
	rec->mode = STATE_MODE_NORMAL;
	rec->level = 0;
	rec->failures = 0;
	rec->panic_sig = 0;
	state_record_clear_modules(rec);
}

const char *decide_action_to_string(enum decide_action a)
{
	switch (a) {
	case DECIDE_ESCALATE:
		return "escalate";
	case DECIDE_GIVE_UP:
		return "give-up";
	default:
		return "none";
	}
}

const char *decide_trigger_to_string(enum decide_trigger t)
{
	switch (t) {
	case DECIDE_TRIGGER_THRESHOLD:
		return "threshold";
	case DECIDE_TRIGGER_REPEAT_CRASH:
		return "repeat-crash";
	case DECIDE_TRIGGER_MAX_LEVEL:
		return "max-level";
	default:
		return NULL;
	}
}
