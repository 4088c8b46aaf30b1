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
		decide_boot(&r, &P, &d);
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
		decide_boot(&r, &P, &d);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	/* a safe-mode boot never becomes the last good */
	assert_false(decide_bless(&r, 1000));
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.last_blessed_seq, 0);
	assert_true(r.last_blessed_time == 0);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_int_equal(r.level, 1);
	/* the next boot counts from 1 again and does not re-escalate */
	decide_boot(&r, &P, &d);
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
		decide_boot(&r, &P, &d);
	assert_true(decide_survived(&r));
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_int_equal(r.last_blessed_seq, 0);
	assert_false(decide_survived(&r)); /* nothing to write the second time */
	/* a normal boot blessed becomes the last good */
	decide_clear(&r);
	decide_boot(&r, &P, &d);
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
	decide_boot(&r, &P, &d);
	assert_int_equal(d.action, DECIDE_ESCALATE);
	assert_int_equal(d.new_level, 1);
	assert_int_equal(r.level, 1);
	decide_boot(&r, &P, &d);
	assert_int_equal(r.level, 2);
	decide_boot(&r, &P, &d);
	assert_int_equal(r.level, 3);
	decide_boot(&r, &P, &d);
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
	r.mode = STATE_MODE_GIVEN_UP;
	assert_int_equal(decide_record_check(&r, &set, &idx, &why), -EUCLEAN);
	free(why);
}

static void test_clear_returns_to_normal(void **state)
{
	struct state_record r;
	struct decision d;

	(void)state;
	state_record_init(&r);
	for (int i = 0; i < 6; i++)
		decide_boot(&r, &P, &d);
	assert_int_equal(state_record_add_module(&r, "badsec"), 1);
	decide_clear(&r);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.level, 0);
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.n_modules, 0);
	decide_boot(&r, &P, &d);
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
		decide_boot(&r, &p, &d);
		assert_int_equal(d.action, DECIDE_NONE);
		r.flags |= STATE_FLAG_CLEAN_SHUTDOWN; /* set by the agent at shutdown */
	}
	assert_int_equal(r.failures, 1);
	/* an unclean end (no flag) counts again */
	decide_boot(&r, &p, &d);
	decide_boot(&r, &p, &d);
	assert_int_equal(r.failures, 2);
	assert_false(r.flags & STATE_FLAG_CLEAN_SHUTDOWN);
}

static void test_clean_reboots_count_by_default(void **state)
{
	struct state_record r;
	struct decision d;

	(void)state;
	state_record_init(&r);
	decide_boot(&r, &P, &d);
	r.flags |= STATE_FLAG_CLEAN_SHUTDOWN;
	decide_boot(&r, &P, &d);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
