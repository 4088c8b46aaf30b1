/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Is this boot good? bless_judge() against systemd states, failed units,
 * kernel taint and uptime; bless_run_checks() with real scripts in a fake
 * root's /etc/lifeline/check.d (pass, fail with output, time out, skipped
 * when not executable, lexical order).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/bless.h"
#include "agent/conf/config.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "tests/util/testutil.h"

static char root[1024];

static void put(const char *rel, const char *text, mode_t mode)
{
	tu_put(root, rel, text, mode);
}

static int setup(void **state)
{

	(void)state;
	return tu_mkdtemp(root, sizeof(root), "bless-");
}

static int teardown(void **state)
{
	(void)state;
	return tu_rm_rf(root);
}

/* The verdict's words, or "ok". */
static char *judge(const struct lifeline_config *cfg, const char *st, char **failed, double up,
                   unsigned long taint)
{
	struct bless_verdict v = {0};
	char *s;

	assert_int_equal(bless_judge(cfg, st, failed, up, taint, &v), 0);
	assert_true(v.ok == !v.why);
	s = strdup(v.ok ? "ok" : v.why);
	bless_verdict_done(&v);
	return s;
}

#define assert_judged(expect, ...)               \
	do {                                     \
		char *_s = judge(__VA_ARGS__);   \
		assert_string_equal(_s, expect); \
		free(_s);                        \
	} while (0)

static void test_judge_needs_running_stable_and_untainted(void **state)
{
	struct lifeline_config cfg;
	char *failed[] = {"backup.service", NULL},
	     *bad[] = {"backup.service", "sshd.service", NULL};

	(void)state;
	config_init_defaults(&cfg);
	cfg.stable_after = 120;
	assert_judged("ok", &cfg, "running", NULL, 121, 0);
	assert_judged("up 60 s of the 120 s a boot must stay up", &cfg, "running", NULL, 60, 0);
	assert_judged("system is starting, not running yet", &cfg, "starting", NULL, 500, 0);
	assert_judged("system state unknown", &cfg, NULL, NULL, 500, 0);
	/* the kernel's word beats systemd's (taint D = bit 7, L = bit 14) */
	assert_judged("kernel oopsed during this boot (taint D)", &cfg, "running", NULL, 500,
	              1ul << 7);
	assert_judged("kernel reported a soft lockup during this boot (taint L)", &cfg, "running",
	              NULL, 500, 1ul << 14);
	assert_judged("ok", &cfg, "running", NULL, 500,
	              1ul << 12); /* O: an out-of-tree module, fine */
	/* degraded: only in units the configuration allows */
	assert_judged("unit backup.service failed", &cfg, "degraded", failed, 500, 0);
	assert_int_equal(strv_extend(&cfg.allowed_failed_units, "backup.service"), 0);
	assert_judged("ok", &cfg, "degraded", failed, 500, 0);
	assert_judged("unit sshd.service failed", &cfg, "degraded", bad, 500, 0);
	config_done(&cfg);
}

static void test_checks_run_in_order_and_the_first_failure_says_why(void **state)
{
	char *why = NULL;

	(void)state;
	/* no check.d at all: nothing to fail */
	assert_int_equal(bless_run_checks(root, 5, &why), 1);
	assert_null(why);

	put("/etc/lifeline/check.d/10-ok", "#!/bin/sh\nexit 0\n", 0755);
	put("/etc/lifeline/check.d/20-disabled", "#!/bin/sh\nexit 1\n", 0644); /* not executable */
	put("/etc/lifeline/check.d/.hidden", "#!/bin/sh\nexit 1\n", 0755);
	assert_int_equal(bless_run_checks(root, 5, &why), 1);
	assert_null(why);

	put("/etc/lifeline/check.d/30-net",
	    "#!/bin/sh\necho gateway 10.0.0.1 unreachable\necho more\nexit 4\n", 0755);
	put("/etc/lifeline/check.d/40-never", "#!/bin/sh\ntouch \"$0.ran\"\nexit 1\n", 0755);
	assert_int_equal(bless_run_checks(root, 5, &why), 0);
	assert_string_equal(why, "check 30-net exited 4: gateway 10.0.0.1 unreachable");
	free(why);
	why = NULL;
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/etc/lifeline/check.d/40-never.ran", root);
		assert_int_not_equal(access(p, F_OK), 0); /* after the first failure: not run */
	}
}

static void test_a_hanging_check_is_killed_at_its_timeout(void **state)
{
	char *why = NULL;
	time_t t0 = time(NULL);

	(void)state;
	put("/etc/lifeline/check.d/10-hang", "#!/bin/sh\nexec sleep 30\n", 0755);
	assert_int_equal(bless_run_checks(root, 1, &why), 0);
	assert_true(time(NULL) - t0 <= 5);
	assert_string_equal(why, "check 10-hang timed out after 1 s");
	free(why);
	why = NULL;

	/* what the check started goes with it (its process group) */
	{
		char p[4096], *pid_text = NULL, *stat = NULL;

		snprintf(p, sizeof(p), "%s/child.pid", root);
		put("/etc/lifeline/check.d/10-hang",
		    "#!/bin/sh\nsleep 30 &\necho $! > \"$(dirname "
		    "\"$0\")/../../../child.pid\"\nwait\n",
		    0755);
		assert_int_equal(bless_run_checks(root, 1, &why), 0);
		free(why);
		assert_int_equal(read_full_file(p, 64, &pid_text, NULL), 0);
		snprintf(p, sizeof(p), "/proc/%d/stat", atoi(pid_text));
		usleep(200000);
		/* gone, or a zombie waiting for its reaper: not running */
		if (read_full_file(p, 4096, &stat, NULL) == 0)
			assert_non_null(strstr(stat, ") Z "));
		free(stat);
		free(pid_text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_judge_needs_running_stable_and_untainted),
	    cmocka_unit_test_setup_teardown(test_checks_run_in_order_and_the_first_failure_says_why,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_hanging_check_is_killed_at_its_timeout, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
