/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent/decision/decide.h"

unsigned decide_target_level(unsigned failures, const struct decide_params *p)
{
	unsigned e = p->escalate_after ? p->escalate_after : 1;
	unsigned over;

	if (failures <= p->threshold)
		return 0;
	over = failures - p->threshold - 1;
	return over / e + 1 > 4 ? 4 : over / e + 1;
}

void decide_boot(struct state_record *rec, const struct decide_params *p, struct decision *ret)
{
	struct decision d = {.action = DECIDE_NONE};
	unsigned target;

	rec->boot_seq++;
	/* With count_clean_reboots=no, a previous boot that ended in a clean
	 * shutdown is not a failure (attack guard: a local user who can only
	 * reboot cleanly cannot drive the machine into quarantine). */
	if (!p->count_clean_reboots && (rec->flags & STATE_FLAG_CLEAN_SHUTDOWN))
		rec->failures = 0;
	rec->flags &= (uint16_t)~STATE_FLAG_CLEAN_SHUTDOWN;
	if (rec->failures < UINT32_MAX)
		rec->failures++;
	d.failures = rec->failures;

	target = decide_target_level(rec->failures, p);
	d.new_level = rec->level;
	if (rec->mode == STATE_MODE_GIVEN_UP) {
		/* nothing more to do until an administrator clears it */
	} else if (target == 4 && rec->level >= 3) {
		d.action = DECIDE_GIVE_UP;
		rec->mode = STATE_MODE_GIVEN_UP;
	} else if (target > rec->level) {
		d.action = DECIDE_ESCALATE;
		d.new_level = target > 3 ? 3 : target;
		rec->level = (uint8_t)d.new_level;
		rec->mode = STATE_MODE_SAFE;
		rec->generation++;
	}
	*ret = d;
}

void decide_bless(struct state_record *rec, unsigned long long now)
{
	rec->failures = 0;
	rec->last_blessed_seq = rec->boot_seq;
	rec->last_blessed_time = now;
}

void decide_clear(struct state_record *rec)
{
	rec->mode = STATE_MODE_NORMAL;
	rec->level = 0;
	rec->failures = 0;
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
