/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The survived step when its record write fails (agent/boot/survived.h):
 * the write is retried, each try on a freshly loaded record; a step that
 * fails for good or is killed leaves its "pending" mark and the shutdown
 * step writes failures = 0 then; with count_clean_reboots = no the
 * shutdown step (not lifelined) marks the clean shutdown; and no failure
 * of any of these ever raises the level or the count.
 *
 * Faults by interposition: this program defines write(), so the one
 * write() libefivar makes to the variable's file in the EFIVARFS_PATH
 * directory comes here first (an executable's definitions come first in
 * the symbol lookup) and can be answered EIO or ENOSPC as efivarfs does
 * when the firmware's SetVariable fails, or can end the process, as a
 * killed step.
 */
#undef _FORTIFY_SOURCE /* this file defines write() itself */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/boot.h"
#include "agent/boot/survived.h"
#include "agent/decision/decide.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

#define KVER "6.1.0-lifeline-test"

static char root[4096], var_path[4096], run_dir[4200];

/* ---- the fault: the next fail_writes writes of the variable fail with
 * fail_errno (or the process ends there, die_at_write) ---- */

static int fail_writes, fail_errno = EIO, var_writes;
static bool die_at_write;
static void (*on_fail)(void); /* runs once at the first failed write */

static bool is_variable(int fd)
{
	const char *dir = getenv("EFIVARFS_PATH");
	char link[64], target[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (!dir || n <= 0)
		return false;
	target[n] = 0;
	return strncmp(target, dir, strlen(dir)) == 0 && strstr(target, "LifelineState");
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static __typeof__(write) *real_write;

	if (!real_write)
		real_write = (__typeof__(write) *)dlsym(RTLD_NEXT, "write");
	if ((fail_writes > 0 || die_at_write) && is_variable(fd)) {
		if (die_at_write)
			_exit(9);
		fail_writes--;
		if (on_fail) {
			void (*f)(void) = on_fail;

			on_fail = NULL;
			f();
		}
		errno = fail_errno;
		return -1;
	}
	if (is_variable(fd))
		var_writes++;
	return real_write(fd, buf, n);
}

/* ---- a fake root ---- */

static void put(const char *rel, const char *text)
{
	tu_put(root, rel, text, 0644);
}

static int setup(void **state)
{
	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "survived-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	tu_var_reset(var_path);
	snprintf(run_dir, sizeof(run_dir), "%s/run/lifeline", root);
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nstore = efi\nstable_after = 30\n");
	put("/lib/modules/" KVER "/modules.dep", "kernel/fs/ext4/ext4.ko.xz:\n");
	fail_writes = 0;
	fail_errno = EIO;
	die_at_write = false;
	on_fail = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_var_reset(var_path);
	return tu_rm_rf(root);
}

static const struct survived_retry quick = {.tries = 6, .first_delay_ms = 5};

static void survived(void)
{
	struct boot_opts o = {.root = root, .run_dir = run_dir};

	assert_int_equal(boot_phase_survived_retry(&o, &quick), 0);
}

static int shutdown_step(bool clean)
{
	struct boot_opts o = {.root = root, .run_dir = run_dir};

	return boot_phase_shutdown(&o, clean, &quick);
}

static void next_boot(void)
{
	struct boot_opts o = {.root = root, .kernel_release = KVER};

	assert_int_equal(tu_rm_rf(run_dir), 0);
	assert_int_equal(boot_phase_init(&o), 0);
}

static struct state_record load(void)
{
	struct state_record r;

	assert_int_equal(tu_record_load(&r), 0);
	return r;
}

/* A boot counted as the third failure in a row (the init phase counts a
 * boot when it starts): threshold 3, so one more failure is level 1. */
static void boot_counted_third(void)
{
	struct state_record rec;

	state_record_init(&rec);
	rec.boot_seq = 7;
	rec.failures = 3;
	tu_record_save(&rec);
}

static bool pending(void)
{
	return tu_exists(root, SURVIVED_PENDING_FILE);
}

/* What the retries are for: without the reset, a clean reboot after a
 * boot that survived is counted on from 3, and escalates. */
static void test_lost_survival_would_escalate_the_next_boot(void **state)
{
	struct state_record r;

	(void)state;
	boot_counted_third();
	next_boot();
	r = load();
	assert_int_equal(r.failures, 4);
	assert_int_equal(r.level, 1);
}

/* Two failed writes (EIO), then the third try writes: failures 0, the
 * survived mark, no pending mark; the next boot is the first failure. */
static void test_failed_write_is_retried(void **state)
{
	struct state_record r;
	char *t;

	(void)state;
	boot_counted_third();
	fail_writes = 2;
	survived();
	assert_int_equal(fail_writes, 0);
	r = load();
	assert_int_equal(r.failures, 0);
	assert_false(pending());
	t = tu_get(root, RUNSTATE_SURVIVED_FILE);
	assert_non_null(t);
	assert_string_equal(t, "boot_seq=7\n");
	free(t);
	next_boot();
	r = load();
	assert_int_equal(r.failures, 1);
	assert_int_equal(r.level, 0);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
}

/* NVRAM full for the whole step (every try ENOSPC): the record is left
 * exactly as it was (failures 3, level 0, normal), the pending mark
 * stays; at shutdown there is room again and the shutdown step writes
 * failures = 0, so the next boot is failure 1, level 0. */
static void test_failing_step_never_raises_and_shutdown_resets(void **state)
{
	struct state_record r;

	(void)state;
	boot_counted_third();
	fail_errno = ENOSPC;
	fail_writes = 1000;
	survived();
	assert_int_equal(1000 - fail_writes, (int)quick.tries);
	fail_writes = 0;
	r = load();
	assert_int_equal(r.failures, 3);
	assert_int_equal(r.level, 0);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.boot_seq, 7);
	assert_true(pending());
	assert_false(tu_exists(root, RUNSTATE_SURVIVED_FILE));

	var_writes = 0;
	assert_int_equal(shutdown_step(false), 0);
	assert_int_equal(var_writes, 1);
	assert_int_equal(load().failures, 0);
	assert_false(pending());
	assert_true(tu_exists(root, RUNSTATE_SURVIVED_FILE));
	/* a second shutdown step (lifelined's job too) has nothing to write */
	var_writes = 0;
	assert_int_equal(shutdown_step(false), 0);
	assert_int_equal(var_writes, 0);

	next_boot();
	r = load();
	assert_int_equal(r.failures, 1);
	assert_int_equal(r.level, 0);
}

/* The shutdown step fails too: still nothing raised, the count is what
 * it would be without lifeline's retries (the init phase's own). */
static void test_shutdown_step_failing_too_changes_nothing(void **state)
{
	struct state_record before, r;

	(void)state;
	boot_counted_third();
	before = load();
	fail_writes = 1000;
	survived();
	assert_true(shutdown_step(false) < 0);
	fail_writes = 0;
	r = load();
	assert_int_equal(r.failures, before.failures);
	assert_int_equal(r.level, before.level);
	assert_int_equal(r.mode, before.mode);
	assert_int_equal(r.generation, before.generation);
	assert_int_equal(r.n_modules, 0);
	assert_true(pending());
}

/* The step killed at its write (the process ends there): the record is
 * as it was and the pending mark is there for the shutdown step. */
static void test_killed_step_is_finished_at_shutdown(void **state)
{
	int status = 0;
	pid_t pid;

	(void)state;
	boot_counted_third();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		die_at_write = true;
		survived();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 9);
	assert_int_equal(load().failures, 3);
	assert_true(pending());
	assert_int_equal(shutdown_step(true), 0);
	assert_int_equal(load().failures, 0);
	/* count_clean_reboots = yes (the default): no clean-shutdown flag */
	assert_int_equal(load().flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
}

/* An administrator's clear lands between two tries (a signed clear
 * applied by lifelined, lifelinectl clear): the retry loads the record
 * again and keeps the clear; it never writes back the level it read
 * before. */
static void concurrent_clear(void)
{
	struct state_record rec;

	assert_int_equal(tu_record_load(&rec), 0);
	decide_clear(&rec);
	fail_writes = 0; /* this write goes through */
	tu_record_save(&rec);
	fail_writes = 1; /* and the step's own try still fails once */
}

static void test_retry_keeps_a_clear_written_meanwhile(void **state)
{
	struct state_record rec;

	(void)state;
	state_record_init(&rec);
	rec.boot_seq = 12;
	rec.failures = 5;
	rec.level = 1;
	rec.mode = STATE_MODE_SAFE;
	rec.generation = 1;
	tu_record_save(&rec);
	fail_writes = 1;
	on_fail = concurrent_clear;
	survived();
	rec = load();
	assert_int_equal(rec.level, 0);
	assert_int_equal(rec.mode, STATE_MODE_NORMAL);
	assert_int_equal(rec.failures, 0);
	assert_false(pending());
}

/* count_clean_reboots = no: the clean shutdown is marked by the shutdown
 * step, lifelined or not, retried past a failed write; only when the
 * system is stopping; and the next boot does not count the one before. */
static void test_clean_shutdown_marked_without_lifelined(void **state)
{
	struct state_record r;

	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nthreshold = 3\nescalate_after = 2\n"
	                                   "store = efi\nstable_after = 30\n"
	                                   "count_clean_reboots = no\n");
	boot_counted_third();
	var_writes = 0;
	assert_int_equal(shutdown_step(false), 0); /* not stopping: nothing */
	assert_int_equal(var_writes, 0);
	assert_int_equal(load().flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
	fail_writes = 1;
	assert_int_equal(shutdown_step(true), 0);
	r = load();
	assert_int_not_equal(r.flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
	assert_int_equal(r.failures, 3); /* the flag only: no survival pending */
	next_boot();
	r = load();
	assert_int_equal(r.failures, 1);
	assert_int_equal(r.level, 0);

	/* count_clean_reboots = yes: a clean shutdown writes nothing */
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\n");
	var_writes = 0;
	assert_int_equal(shutdown_step(true), 0);
	assert_int_equal(var_writes, 0);
}

/* No record (or one that does not decode): nothing to retry, no pending
 * mark left behind, and nothing written. */
static void test_no_record_is_not_retried(void **state)
{
	(void)state;
	var_writes = 0;
	survived();
	assert_false(pending());
	assert_int_equal(var_writes, 0);
	assert_false(tu_exists(root, RUNSTATE_SURVIVED_FILE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lost_survival_would_escalate_the_next_boot, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_is_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failing_step_never_raises_and_shutdown_resets,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_step_failing_too_changes_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_killed_step_is_finished_at_shutdown, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_retry_keeps_a_clear_written_meanwhile, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_clean_shutdown_marked_without_lifelined, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_record_is_not_retried, setup, teardown),
	};

	if (!getenv("EFIVARFS_PATH")) {
		fprintf(stderr, "EFIVARFS_PATH is not set: run through tests/run-unit.sh\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
