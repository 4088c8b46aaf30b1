/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Boot counting and escalation, boot by boot. */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/decision/decide.h"

static const struct decide_params P = {
    .threshold = 3, .escalate_after = 2, .count_clean_reboots = true};

static void test_levels_follow_threshold_and_escalate_after(void **state)
{
	(void)state;
	assert_int_equal(decide_target_level(0, &P), 0);
	assert_int_equal(decide_target_level(3, &P), 0);
	assert_int_equal(decide_target_level(4, &P), 1);
	assert_int_equal(decide_target_level(5, &P), 1);
	assert_int_equal(decide_target_level(6, &P), 2);
	assert_int_equal(decide_target_level(8, &P), 3);
	assert_int_equal(decide_target_level(10, &P), 4);
	assert_int_equal(decide_target_level(4000000000u, &P), 4);
}

static void test_crash_loop_escalates_boot_by_boot(void **state)
{
	struct state_record r;
	struct decision d;
	/* boot n -> expected action, level, mode */
	static const struct {
		enum decide_action a;
		unsigned level;
		int mode;
	} want[] = {
	    {DECIDE_NONE, 0, STATE_MODE_NORMAL},      /* 1 */
	    {DECIDE_NONE, 0, STATE_MODE_NORMAL},      /* 2 */
	    {DECIDE_NONE, 0, STATE_MODE_NORMAL},      /* 3 */
	    {DECIDE_ESCALATE, 1, STATE_MODE_SAFE},    /* 4 */
	    {DECIDE_NONE, 1, STATE_MODE_SAFE},        /* 5 */
	    {DECIDE_ESCALATE, 2, STATE_MODE_SAFE},    /* 6 */
	    {DECIDE_NONE, 2, STATE_MODE_SAFE},        /* 7 */
	    {DECIDE_ESCALATE, 3, STATE_MODE_SAFE},    /* 8 */
	    {DECIDE_NONE, 3, STATE_MODE_SAFE},        /* 9 */
	    {DECIDE_GIVE_UP, 3, STATE_MODE_GIVEN_UP}, /* 10 */
	    {DECIDE_NONE, 3, STATE_MODE_GIVEN_UP},    /* 11 */
	};

	(void)state;
	state_record_init(&r);
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		decide_boot(&r, &P, 0, &d);
		assert_int_equal(r.boot_seq, i + 1);
		assert_int_equal(r.failures, i + 1);
		assert_int_equal(d.action, want[i].a);
		assert_int_equal(r.level, want[i].level);
		assert_int_equal(r.mode, want[i].mode);
	}
	assert_int_equal(r.generation, 3);
}

static void test_bless_resets_failures_but_keeps_safe_mode(void **state)
{
	struct state_record r;
	struct decision d;

	(void)state;
	state_record_init(&r);
	for (int i = 0; i < 4; i++)
		decide_boot(&r, &P, 0, &d);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	/* a safe-mode boot never becomes the last good */
	assert_false(decide_bless(&r, 1000));
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.last_blessed_seq, 0);
	assert_true(r.last_blessed_time == 0);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_int_equal(r.level, 1);
	/* the next boot counts from 1 again and does not re-escalate */
	decide_boot(&r, &P, 0, &d);
	assert_int_equal(r.failures, 1);
	assert_int_equal(d.action, DECIDE_NONE);
}

static void test_survived_resets_failures_only(void **state)
{
	struct state_record r;
	struct decision d;

	(void)state;
	state_record_init(&r);
	for (int i = 0; i < 4; i++)
		decide_boot(&r, &P, 0, &d);
	assert_true(decide_survived(&r));
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_int_equal(r.last_blessed_seq, 0);
	assert_false(decide_survived(&r)); /* nothing to write the second time */
	/* a normal boot blessed becomes the last good */
	decide_clear(&r);
	decide_boot(&r, &P, 0, &d);
	assert_true(decide_bless(&r, 77));
	assert_int_equal(r.last_blessed_seq, 5);
}

/* A forged count (failures = 1000) never skips a level. */
static void test_level_rises_by_one_per_boot(void **state)
{
	struct state_record r;
	struct decision d;

	(void)state;
	state_record_init(&r);
	r.boot_seq = 5000;
	r.failures = 1000;
	decide_boot(&r, &P, 0, &d);
	assert_int_equal(d.action, DECIDE_ESCALATE);
	assert_int_equal(d.new_level, 1);
	assert_int_equal(r.level, 1);
	decide_boot(&r, &P, 0, &d);
	assert_int_equal(r.level, 2);
	decide_boot(&r, &P, 0, &d);
	assert_int_equal(r.level, 3);
	decide_boot(&r, &P, 0, &d);
	assert_int_equal(d.action, DECIDE_GIVE_UP);
}

static void test_record_check_refuses_forged_records(void **state)
{
	struct component_set set = {0};
	struct component c = {0};
	struct module_index idx = {0};
	char *mods[] = {(char *)"badsec*", NULL};
	char *names[] = {(char *)"ext4", (char *)"badsec_core", NULL};
	char *in_tree[] = {(char *)"ext4", NULL};
	struct state_record r;
	char *why = NULL;

	(void)state;
	c.id = (char *)"badsec";
	c.modules = mods;
	set.items = &c;
	set.n = 1;
	idx.names = names;
	idx.in_tree = in_tree;
	idx.loaded = true;

	state_record_init(&r);
	r.boot_seq = 3;
	r.failures = 3;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), 0);
	assert_null(why);
	/* a component's module (pattern), at any level */
	assert_true(state_record_add_module(&r, "badsec_core") >= 0);
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), 0);

	/* ext4 at level 0: in-tree, and no component's */
	assert_true(state_record_add_module(&r, "ext4") >= 0);
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), -EUCLEAN);
	assert_non_null(strstr(why, "ext4"));
	free(why);
	/* in-tree even at level 3 */
	r.level = 3;
	r.mode = STATE_MODE_SAFE;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), -EUCLEAN);
	free(why);
	/* level 3 may block a module no component has, if out of tree */
	state_record_clear_modules(&r);
	assert_true(state_record_add_module(&r, "vendor_oot") >= 0);
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), 0);
	r.level = 1;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), -EUCLEAN);
	free(why);
	state_record_clear_modules(&r);

	/* counts that cannot be */
	r.failures = 1000;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), -EUCLEAN);
	assert_non_null(strstr(why, "1000"));
	free(why);
	r.failures = 1;
	r.last_blessed_seq = 9;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), -EUCLEAN);
	free(why);
	r.last_blessed_seq = 0;
	/* give-up follows the last level allowed (max_level 1..3), never level 0 */
	r.mode = STATE_MODE_GIVEN_UP;
	r.level = 1;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), 0);
	r.level = 0;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), -EUCLEAN);
	assert_non_null(strstr(why, "given up at level 0"));
	free(why);
	/* any panic signature is fine: the decision only compares it */
	r.mode = STATE_MODE_NORMAL;
	r.panic_sig = 0xffffffffu;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), 0);
}

/* ---------------------------------------------------- repeat-crash fast path */

#define SITE_A 0x5eed0001u
#define SITE_B 0x77aa0002u

/* The panic the boot before boot n (1-based) left: a record of its own
 * time (the efi-pstore id's seconds), at site (0: none in third-party code). */
static uint32_t panic_of(uint32_t site, unsigned n)
{
	return decide_panic_sig(site, 1733000000ull + 97 * n, 1);
}

/* Boot after boot, each boot given the panic its pstore holds (the
 * previous boot's; sites[i] 0: none in third-party code). Returns the boot
 * (1-based) that first escalated, 0 when none did; *ret the decision of
 * that boot. */
static unsigned run_boots(const struct decide_params *p, const uint32_t *sites, unsigned n,
                          struct state_record *r, struct decision *ret)
{
	struct decision d;

	state_record_init(r);
	for (unsigned i = 0; i < n; i++) {
		decide_boot(r, p, panic_of(sites[i], i + 1), &d);
		assert_int_equal(r->panic_sig, panic_of(sites[i], i + 1));
		if (d.action == DECIDE_ESCALATE) {
			*ret = d;
			return i + 1;
		}
		assert_int_equal(d.trigger, DECIDE_TRIGGER_NONE);
	}
	return 0;
}

/* One site, two crash records: the same high bits, other stamps; no site,
 * no value. */
static void test_panic_sig_keeps_site_and_stamps_the_record(void **state)
{
	const unsigned b = DECIDE_PANIC_STAMP_BITS;

	(void)state;
	assert_int_equal(decide_panic_sig(0, 1733000000, 1), 0);
	assert_int_not_equal(decide_panic_sig(SITE_A, 1733000000, 1), 0);
	assert_int_equal(decide_panic_sig(SITE_A, 1733000000, 1) >> b,
	                 decide_panic_sig(SITE_A, 1733000097, 1) >> b);
	assert_int_not_equal(decide_panic_sig(SITE_A, 1733000000, 1),
	                     decide_panic_sig(SITE_A, 1733000097, 1));
	assert_int_not_equal(decide_panic_sig(SITE_A, 1733000000, 1),
	                     decide_panic_sig(SITE_A, 1733000000, 2));
	assert_int_not_equal(decide_panic_sig(SITE_A, 1733000000, 1) >> b,
	                     decide_panic_sig(SITE_B, 1733000000, 1) >> b);
	/* a site whose high bits fold to 0 still is a site */
	assert_int_not_equal(decide_panic_sig(0x00100001u, 0, 0) >> b, 0);
}

/* Boots 1 and 2 panic at the same site: boot 3 enters level 1, before
 * threshold 3 (boot 4) and threshold 5 (boot 6). */
static void test_repeat_crash_enters_level_1_at_failure_3(void **state)
{
	struct decide_params p = P;
	const uint32_t sites[] = {0, SITE_A, SITE_A, SITE_A, SITE_A, SITE_A, SITE_A};
	struct state_record r;
	struct decision d = {0};

	(void)state;
	p.repeat_crash = true;
	assert_int_equal(run_boots(&p, sites, 7, &r, &d), 3);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_REPEAT_CRASH);
	assert_string_equal(decide_trigger_to_string(d.trigger), "repeat-crash");
	assert_int_equal(d.failures, 3);
	assert_int_equal(d.new_level, 1);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_int_equal(r.generation, 1);

	p.threshold = 5;
	assert_int_equal(run_boots(&p, sites, 7, &r, &d), 3);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_REPEAT_CRASH);

	/* the fast path is for level 1 only: the next levels keep their count */
	p.threshold = 3;
	(void)run_boots(&p, sites, 3, &r, &d);
	for (unsigned boot = 4; boot <= 6; boot++) {
		decide_boot(&r, &p, panic_of(SITE_A, boot), &d);
		assert_int_equal(d.action, boot == 6 ? DECIDE_ESCALATE : DECIDE_NONE);
		assert_int_equal(d.trigger,
		                 boot == 6 ? DECIDE_TRIGGER_THRESHOLD : DECIDE_TRIGGER_NONE);
	}
	assert_int_equal(r.level, 2);
}

/* A crash whose site changes each boot, a crash outside third-party code
 * (no signature), or repeat_crash=no: level 1 waits for the threshold. */
static void test_repeat_crash_waits_for_threshold_otherwise(void **state)
{
	struct decide_params p = P;
	const uint32_t changing[] = {0, SITE_A, SITE_B, SITE_A, SITE_B, SITE_A};
	const uint32_t in_tree[] = {0, 0, 0, 0, 0, 0};
	const uint32_t same[] = {0, SITE_A, SITE_A, SITE_A, SITE_A, SITE_A};
	struct state_record r;
	struct decision d = {0};

	(void)state;
	p.repeat_crash = true;
	assert_int_equal(run_boots(&p, changing, 6, &r, &d), 4);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_THRESHOLD);
	assert_string_equal(decide_trigger_to_string(d.trigger), "threshold");
	assert_int_equal(run_boots(&p, in_tree, 6, &r, &d), 4);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_THRESHOLD);

	p.repeat_crash = false;
	assert_int_equal(run_boots(&p, same, 6, &r, &d), 4);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_THRESHOLD);
}

/* Panic, hang, panic at the same site: the hang broke the run. Two
 * identical panics in a row after it still take the fast path. */
static void test_repeat_crash_run_broken_by_a_hang(void **state)
{
	struct decide_params p = P;
	const uint32_t sites[] = {0, SITE_A, 0, SITE_A, SITE_A, SITE_A};
	struct state_record r;
	struct decision d = {0};

	(void)state;
	p.repeat_crash = true;
	p.threshold = 5;
	assert_int_equal(run_boots(&p, sites, 6, &r, &d), 5);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_REPEAT_CRASH);
	assert_int_equal(d.failures, 5);
}

/* One panic, then a boot that hangs or loses power before its pstore
 * records were erased: the next boot reads the same record again. That is
 * no second crash: no fast path, and the run is broken. */
static void test_repeat_crash_same_record_read_twice_is_no_repeat(void **state)
{
	struct decide_params p = P;
	struct state_record r;
	struct decision d;

	(void)state;
	p.repeat_crash = true;
	p.threshold = 5;
	state_record_init(&r);
	decide_boot(&r, &p, 0, &d);                   /* boot 1 panics */
	decide_boot(&r, &p, panic_of(SITE_A, 2), &d); /* boot 2, erase cut, hangs */
	decide_boot(&r, &p, panic_of(SITE_A, 2), &d); /* boot 3: the same record */
	assert_int_equal(d.action, DECIDE_NONE);
	assert_int_equal(r.panic_sig, 0);
	assert_int_equal(r.failures, 3);
	decide_boot(&r, &p, panic_of(SITE_A, 4), &d); /* boot 3 did panic there */
	assert_int_equal(d.action, DECIDE_NONE);
	decide_boot(&r, &p, panic_of(SITE_A, 5), &d); /* and boot 4 */
	assert_int_equal(d.action, DECIDE_ESCALATE);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_REPEAT_CRASH);
}

/* Two identical panics, but the run of failed boots is not there: a
 * survived boot, a blessing or a clear in between (each resets the
 * signature), or a count that says fewer than 3 failed boots (a record
 * with a signature and no failures, a clean shutdown not counted). */
static void test_repeat_crash_needs_the_failure_run(void **state)
{
	struct decide_params p = P;
	struct state_record r;
	struct decision d;

	(void)state;
	p.repeat_crash = true;

	state_record_init(&r);
	decide_boot(&r, &p, 0, &d);
	decide_boot(&r, &p, panic_of(SITE_A, 2), &d);
	assert_int_equal(r.panic_sig, panic_of(SITE_A, 2));
	assert_true(decide_survived(&r));
	assert_int_equal(r.panic_sig, 0);
	r.panic_sig = panic_of(SITE_A, 2);
	r.failures = 0;
	assert_true(decide_survived(&r)); /* the signature alone is a change to write */
	assert_int_equal(r.panic_sig, 0);

	r.panic_sig = panic_of(SITE_A, 2);
	assert_true(decide_bless(&r, 100));
	assert_int_equal(r.panic_sig, 0);
	r.panic_sig = panic_of(SITE_A, 2);
	decide_clear(&r);
	assert_int_equal(r.panic_sig, 0);

	/* signature kept, but only this boot counted */
	r.panic_sig = panic_of(SITE_A, 2);
	r.failures = 0;
	decide_boot(&r, &p, panic_of(SITE_A, 3), &d);
	assert_int_equal(d.action, DECIDE_NONE);
	decide_boot(&r, &p, panic_of(SITE_A, 4), &d); /* failure 2 */
	assert_int_equal(d.action, DECIDE_NONE);
	decide_boot(&r, &p, panic_of(SITE_A, 5), &d); /* failure 3: now */
	assert_int_equal(d.action, DECIDE_ESCALATE);

	/* count_clean_reboots=no and a clean shutdown: the run starts again */
	p.count_clean_reboots = false;
	state_record_init(&r);
	decide_boot(&r, &p, 0, &d);
	decide_boot(&r, &p, panic_of(SITE_A, 2), &d);
	r.flags |= STATE_FLAG_CLEAN_SHUTDOWN;
	decide_boot(&r, &p, panic_of(SITE_A, 3), &d);
	assert_int_equal(r.failures, 1);
	assert_int_equal(d.action, DECIDE_NONE);
}

/* max_level bounds escalation: where the count calls for the next level,
 * the machine gives up as after level 3 (given-up, nothing more). */
static void test_max_level_gives_up_instead_of_the_next_level(void **state)
{
	struct decide_params p = P;
	struct state_record r;
	struct decision d;
	/* boot n -> action, level, mode, with max_level 1 */
	static const struct {
		enum decide_action a;
		unsigned level;
		int mode;
	} want[] = {
	    {DECIDE_NONE, 0, STATE_MODE_NORMAL},      /* 1 */
	    {DECIDE_NONE, 0, STATE_MODE_NORMAL},      /* 2 */
	    {DECIDE_NONE, 0, STATE_MODE_NORMAL},      /* 3 */
	    {DECIDE_ESCALATE, 1, STATE_MODE_SAFE},    /* 4 */
	    {DECIDE_NONE, 1, STATE_MODE_SAFE},        /* 5 */
	    {DECIDE_GIVE_UP, 1, STATE_MODE_GIVEN_UP}, /* 6: would be level 2 */
	    {DECIDE_NONE, 1, STATE_MODE_GIVEN_UP},    /* 7 */
	};

	(void)state;
	p.max_level = 1;
	state_record_init(&r);
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		decide_boot(&r, &p, 0, &d);
		assert_int_equal(d.action, want[i].a);
		assert_int_equal(r.level, want[i].level);
		assert_int_equal(r.mode, want[i].mode);
		assert_int_equal(d.max_level, 1);
		if (d.action == DECIDE_GIVE_UP) {
			assert_int_equal(d.trigger, DECIDE_TRIGGER_MAX_LEVEL);
			assert_string_equal(decide_trigger_to_string(d.trigger), "max-level");
		}
	}
	assert_int_equal(r.generation, 1);

	/* max_level 2: level 2 at boot 6, give-up at boot 8 instead of level 3 */
	p.max_level = 2;
	state_record_init(&r);
	for (unsigned boot = 1; boot <= 8; boot++) {
		decide_boot(&r, &p, 0, &d);
		if (boot == 6)
			assert_int_equal(r.level, 2);
	}
	assert_int_equal(d.action, DECIDE_GIVE_UP);
	assert_int_equal(r.level, 2);
	assert_int_equal(r.mode, STATE_MODE_GIVEN_UP);

	/* a forged count still climbs one level per boot, and stops at max */
	p.max_level = 1;
	state_record_init(&r);
	r.boot_seq = 5000;
	r.failures = 1000;
	decide_boot(&r, &p, 0, &d);
	assert_int_equal(d.action, DECIDE_ESCALATE);
	assert_int_equal(r.level, 1);
	decide_boot(&r, &p, 0, &d);
	assert_int_equal(d.action, DECIDE_GIVE_UP);
	assert_int_equal(r.level, 1);

	/* 0 (a caller that does not set it) is 3, as before max_level */
	p.max_level = 0;
	state_record_init(&r);
	for (unsigned boot = 1; boot <= 10; boot++)
		decide_boot(&r, &p, 0, &d);
	assert_int_equal(d.action, DECIDE_GIVE_UP);
	assert_int_equal(d.trigger, DECIDE_TRIGGER_THRESHOLD);
	assert_int_equal(r.level, 3);
}

static void test_clear_returns_to_normal(void **state)
{
	struct state_record r;
	struct decision d;

	(void)state;
	state_record_init(&r);
	for (int i = 0; i < 6; i++)
		decide_boot(&r, &P, 0, &d);
	assert_int_equal(state_record_add_module(&r, "badsec"), 1);
	decide_clear(&r);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.level, 0);
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.n_modules, 0);
	decide_boot(&r, &P, 0, &d);
	assert_int_equal(d.action, DECIDE_NONE);
}

static void test_clean_reboots_do_not_count_when_configured(void **state)
{
	struct decide_params p = P;
	struct state_record r;
	struct decision d;

	(void)state;
	p.count_clean_reboots = false;
	state_record_init(&r);
	for (int i = 0; i < 10; i++) {
		decide_boot(&r, &p, 0, &d);
		assert_int_equal(d.action, DECIDE_NONE);
		r.flags |= STATE_FLAG_CLEAN_SHUTDOWN; /* set by the agent at shutdown */
	}
	assert_int_equal(r.failures, 1);
	/* an unclean end (no flag) counts again */
	decide_boot(&r, &p, 0, &d);
	decide_boot(&r, &p, 0, &d);
	assert_int_equal(r.failures, 2);
	assert_false(r.flags & STATE_FLAG_CLEAN_SHUTDOWN);
}

static void test_clean_reboots_count_by_default(void **state)
{
	struct state_record r;
	struct decision d;

	(void)state;
	state_record_init(&r);
	decide_boot(&r, &P, 0, &d);
	r.flags |= STATE_FLAG_CLEAN_SHUTDOWN;
	decide_boot(&r, &P, 0, &d);
	assert_int_equal(r.failures, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels_follow_threshold_and_escalate_after),
	    cmocka_unit_test(test_crash_loop_escalates_boot_by_boot),
	    cmocka_unit_test(test_bless_resets_failures_but_keeps_safe_mode),
	    cmocka_unit_test(test_survived_resets_failures_only),
	    cmocka_unit_test(test_level_rises_by_one_per_boot),
	    cmocka_unit_test(test_record_check_refuses_forged_records),
	    cmocka_unit_test(test_clear_returns_to_normal),
	    cmocka_unit_test(test_clean_reboots_do_not_count_when_configured),
	    cmocka_unit_test(test_clean_reboots_count_by_default),
	    cmocka_unit_test(test_panic_sig_keeps_site_and_stamps_the_record),
	    cmocka_unit_test(test_repeat_crash_enters_level_1_at_failure_3),
	    cmocka_unit_test(test_repeat_crash_waits_for_threshold_otherwise),
	    cmocka_unit_test(test_repeat_crash_run_broken_by_a_hang),
	    cmocka_unit_test(test_repeat_crash_same_record_read_twice_is_no_repeat),
	    cmocka_unit_test(test_repeat_crash_needs_the_failure_run),
	    cmocka_unit_test(test_max_level_gives_up_instead_of_the_next_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
