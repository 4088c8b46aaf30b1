/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifeline-generator as systemd runs it (three directory arguments), on a
 * fake root through LIFELINE_ROOT: masks, default.target, keep units,
 * banners; and nothing at all when no quarantine is active.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "tests/util/testutil.h"

static char root[1024], out[1100];

static void put(const char *rel, const char *text)
{
	tu_put(root, rel, text, 0644);
}

static int run_generator(void)
{
	const char *b = getenv("LIFELINE_BUILD");
	char cmd[32768];
	int st;

	snprintf(cmd, sizeof(cmd),
	         "LIFELINE_ROOT=%s %s/bin/lifeline-generator %s/normal %s/early %s/late", root,
	         b ? b : "build", out, out, out);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *link_of(const char *rel)
{
	static char target[PATH_MAX];
	char p[8192];
	ssize_t n;

	snprintf(p, sizeof(p), "%s/early/%s", out, rel);
	n = readlink(p, target, sizeof(target) - 1);
	if (n < 0)
		return NULL;
	target[n] = 0;
	return target;
}

static int setup(void **state)
{

	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "gen-") < 0)
		return -1;
	snprintf(out, sizeof(out), "%s/out", root);
	mkdir(out, 0755);
	put("/etc/lifeline/lifeline.conf",
	    "[safe-mode]\nkeep_units = ssh.service myagent.service\n");
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nmodules = badsec\nunits = badsec.service badsecd.service\nfiles = "
	    "/opt/badsec/bin/*\n");
	put("/etc/lifeline/components.d/other.conf",
	    "[other]\nmodules = other\nunits = other.service\nfiles = /opt/other/*\n");
	return 0;
}

static char *normal_file(const char *rel)
{
	char p[8192], *text = NULL;

	snprintf(p, sizeof(p), "%s/normal/%s", out, rel);
	return read_full_file(p, 65536, &text, NULL) < 0 ? NULL : text;
}

/* Safe mode at levels 1 and 2: the normal target minus the quarantined
 * components' units; every other unit keeps running. */
static void test_safe_mode_level_1_masks_units_and_keeps_default_target(void **state)
{
	(void)state;
	put("/run/lifeline/state",
	    "boot_seq=5\nfailures=4\nlevel=1\ngeneration=1\nmode=safe\n"
	    "action=escalate\nquarantine=badsec\nreason=panic log: RIP in badsec\n");
	assert_int_equal(run_generator(), 0);
	assert_non_null(link_of("badsec.service"));
	assert_string_equal(link_of("badsec.service"), "/dev/null");
	assert_string_equal(link_of("badsecd.service"), "/dev/null");
	assert_null(link_of("other.service"));
	assert_null(link_of("default.target"));
	assert_null(link_of("lifeline-safe.target.wants/ssh.service"));

	char p[8192], *text = NULL;
	snprintf(p, sizeof(p), "%s/run/motd.d/50-lifeline", root);
	assert_int_equal(read_full_file(p, 65536, &text, NULL), 0);
	assert_non_null(strstr(text, "SAFE MODE"));
	assert_non_null(strstr(text, "badsec"));
	assert_non_null(strstr(text, "lifelinectl clear"));
	free(text);
	snprintf(p, sizeof(p), "%s/run/issue.d/50-lifeline.issue", root);
	assert_int_equal(access(p, F_OK), 0);
}

/* A degraded component (docs/degrade.md): only its kernel_units are
 * masked, its degrade_units start with the normal target, its other units
 * run; a quarantined one next to it loses every unit; the banner tells the
 * two apart. */
static void test_degraded_component_masks_only_its_kernel_units(void **state)
{
	char p[8192], *text = NULL;

	(void)state;
	put("/etc/lifeline/components.d/usersec.conf",
	    "[usersec]\nmodules = usersec\nunits = usersec.service\n"
	    "kernel_units = usersec-kmod.service\ndegrade_units = usersec-user.service\n"
	    "degrade_set = /etc/usersec/usersec.conf engine.kind user\n");
	put("/var/lib/lifeline/quarantine/active", "usersec 1 1 degrade\nbadsec 1 1\n");
	put("/run/lifeline/state",
	    "boot_seq=5\nfailures=4\nlevel=1\ngeneration=1\nmode=safe\n"
	    "action=escalate\nquarantine=usersec badsec\nreason=panic log: RIP in usersec\n");
	assert_int_equal(run_generator(), 0);
	assert_string_equal(link_of("usersec-kmod.service"), "/dev/null");
	assert_null(link_of("usersec.service"));
	assert_null(link_of("usersec-user.service"));
	assert_string_equal(link_of("multi-user.target.wants/usersec-user.service"),
	                    LIFELINE_UNITDIR "/usersec-user.service");
	assert_string_equal(link_of("badsec.service"), "/dev/null");
	assert_string_equal(link_of("badsecd.service"), "/dev/null");
	assert_null(link_of("default.target"));
	snprintf(p, sizeof(p), "%s/run/motd.d/50-lifeline", root);
	assert_int_equal(read_full_file(p, 65536, &text, NULL), 0);
	assert_non_null(strstr(text, "quarantined: badsec\n"));
	assert_non_null(
	    strstr(text, "Degraded (kernel part off, running in user mode): usersec\n"));
	free(text);
}

/* Level 3 and give-up: the minimal safe target with keep_units. */
static void test_level_3_and_give_up_redirect_to_the_safe_target(void **state)
{
	(void)state;
	put("/run/lifeline/state", "boot_seq=9\nfailures=8\nlevel=3\ngeneration=3\nmode=safe\n"
	                           "action=escalate\nquarantine=badsec other\n");
	assert_int_equal(run_generator(), 0);
	assert_string_equal(link_of("default.target"), LIFELINE_UNITDIR "/lifeline-safe.target");
	assert_non_null(link_of("lifeline-safe.target.wants/myagent.service"));
	assert_non_null(link_of("lifeline-safe.target.wants/ssh.service"));
	assert_string_equal(link_of("other.service"), "/dev/null");
}

static void test_given_up_redirects_to_the_safe_target(void **state)
{
	(void)state;
	put("/run/lifeline/state", "boot_seq=11\nfailures=10\nlevel=3\ngeneration=3\n"
	                           "mode=given-up\naction=give-up\nquarantine=\n");
	assert_int_equal(run_generator(), 0);
	assert_string_equal(link_of("default.target"), LIFELINE_UNITDIR "/lifeline-safe.target");
}

/* A give-up below level 3 (max_level = 1): the normal target minus what is
 * quarantined, never the minimal one, which would stop every workload. */
static void test_given_up_under_max_level_keeps_the_normal_target(void **state)
{
	(void)state;
	put("/run/lifeline/state", "boot_seq=6\nfailures=5\nlevel=1\ngeneration=1\n"
	                           "mode=given-up\naction=give-up\nquarantine=badsec\n");
	assert_int_equal(run_generator(), 0);
	assert_null(link_of("default.target"));
	assert_string_equal(link_of("badsec.service"), "/dev/null");
	assert_null(link_of("other.service"));
}

/* Safe mode with nothing quarantined (e.g. only content rolled back, or
 * every quarantine cleared by hand): no unit is masked, and the machine
 * boots its normal target, every sensor running. */
static void test_safe_mode_with_nothing_quarantined_stops_nothing(void **state)
{
	(void)state;
	put("/run/lifeline/state",
	    "boot_seq=6\nfailures=1\nlevel=1\ngeneration=1\nmode=safe\naction=none\nquarantine=\n");
	assert_int_equal(run_generator(), 0);
	assert_null(link_of("default.target"));
	assert_null(link_of("badsec.service"));
	assert_null(link_of("other.service"));
}

/* Every counted boot gets the survived timer, with stable_after from the
 * configuration, wanted by timers.target, and the shutdown step; an
 * uncounted one (no state) neither. */
static void test_survived_timer_follows_stable_after(void **state)
{
	char p[8192], target[4096];
	char *text;
	ssize_t n;

	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nstable_after = 45\n");
	assert_int_equal(run_generator(), 0);
	assert_null(normal_file("lifeline-survived.timer"));
	snprintf(p, sizeof(p), "%s/normal/sysinit.target.wants/lifeline-shutdown.service", out);
	assert_true(readlink(p, target, sizeof(target) - 1) < 0);

	put("/run/lifeline/state", "boot_seq=2\nfailures=1\nlevel=0\ngeneration=0\nmode="
	                           "normal\naction=none\nquarantine=\n");
	assert_int_equal(run_generator(), 0);
	text = normal_file("lifeline-survived.timer");
	assert_non_null(text);
	/* counted from sysinit.target, not from the kernel's start */
	assert_non_null(strstr(text, "\nOnActiveSec=45s\n"));
	assert_non_null(strstr(text, "\nAfter=sysinit.target\n"));
	assert_null(strstr(text, "OnBootSec"));
	assert_non_null(strstr(text, "Conflicts=emergency.target rescue.target"));
	assert_non_null(strstr(text, "\nUnit=lifeline-survived.service\n"));
	free(text);
	snprintf(p, sizeof(p), "%s/normal/timers.target.wants/lifeline-survived.timer", out);
	n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = 0;
	assert_non_null(strstr(target, "/normal/lifeline-survived.timer"));
	/* and the shutdown step, which finishes a survival not yet written */
	snprintf(p, sizeof(p), "%s/normal/sysinit.target.wants/lifeline-shutdown.service", out);
	n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = 0;
	assert_string_equal(target, LIFELINE_UNITDIR "/lifeline-shutdown.service");
}

static void test_durable_quarantine_masks_even_after_blessing(void **state)
{
	(void)state;
	/* a later boot: initramfs decided nothing new, the active list holds it */
	put("/run/lifeline/state",
	    "boot_seq=7\nfailures=1\nlevel=1\ngeneration=1\nmode=safe\naction=none\nquarantine=\n");
	put("/var/lib/lifeline/quarantine/active", "other 1 1\n");
	assert_int_equal(run_generator(), 0);
	assert_string_equal(link_of("other.service"), "/dev/null");
	assert_null(link_of("badsec.service"));
	assert_null(link_of("default.target")); /* level 1 */
}

/* A separate /var is not mounted when generators run: the copy of the
 * active list the rootfs phase left in /run counts; once /var/lib/lifeline
 * is there, the durable list does. */
static void test_separate_var_masks_from_the_run_copy(void **state)
{
	(void)state;
	put("/run/lifeline/state",
	    "boot_seq=7\nfailures=1\nlevel=1\ngeneration=1\nmode=safe\naction=none\nquarantine=\n");
	put("/run/lifeline/active", "badsec 1 1\n");
	assert_int_equal(run_generator(), 0);
	assert_string_equal(link_of("badsec.service"), "/dev/null");
	assert_string_equal(link_of("badsecd.service"), "/dev/null");
}

static void test_durable_list_wins_over_the_run_copy(void **state)
{
	(void)state;
	put("/run/lifeline/state",
	    "boot_seq=7\nfailures=1\nlevel=1\ngeneration=1\nmode=safe\naction=none\nquarantine=\n");
	put("/run/lifeline/active", "badsec 1 1\n");
	put("/var/lib/lifeline/quarantine/active", "other 1 1\n");
	assert_int_equal(run_generator(), 0);
	assert_null(link_of("badsec.service"));
	assert_string_equal(link_of("other.service"), "/dev/null");
}

static void test_normal_boot_generates_nothing(void **state)
{
	char p[8192];

	(void)state;
	put("/run/lifeline/state", "boot_seq=2\nfailures=1\nlevel=0\ngeneration=0\nmode="
	                           "normal\naction=none\nquarantine=\n");
	assert_int_equal(run_generator(), 0);
	assert_null(link_of("default.target"));
	assert_null(link_of("badsec.service"));
	snprintf(p, sizeof(p), "%s/run/motd.d/50-lifeline", root);
	assert_int_equal(access(p, F_OK), -1);
}

static void test_no_state_and_bad_arguments_never_fail(void **state)
{
	const char *b = getenv("LIFELINE_BUILD");
	char cmd[8192];

	(void)state;
	assert_int_equal(run_generator(), 0); /* no /run/lifeline/state at all */
	assert_null(link_of("default.target"));
	snprintf(cmd, sizeof(cmd), "%s/bin/lifeline-generator 2>/dev/null", b ? b : "build");
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	/* garbage state file */
	put("/run/lifeline/state", "\x01\x02garbage\nmode\n=====\n");
	assert_int_equal(run_generator(), 0);
	assert_null(link_of("default.target"));
}

/* --help prints the usage; an option or a relative path is refused with
 * exit 2 and creates nothing (it once made a directory named "--help"). */
static void test_help_and_relative_arguments_create_nothing(void **state)
{
	const char *b = getenv("LIFELINE_BUILD");
	char prog[PATH_MAX], cmd[16384], p[2048];
	struct stat st;

	(void)state;
	assert_non_null(realpath(b ? b : "build", prog));
	strncat(prog, "/bin/lifeline-generator", sizeof(prog) - strlen(prog) - 1);
	snprintf(cmd, sizeof(cmd), "cd %s && %s --help | grep -q '^Usage: lifeline-generator'", out,
	         prog);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	snprintf(cmd, sizeof(cmd), "cd %s && %s --bogus 2>/dev/null", out, prog);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
	snprintf(cmd, sizeof(cmd), "cd %s && %s normal early late 2>/dev/null", out, prog);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
	snprintf(p, sizeof(p), "%s/--help", out);
	assert_int_equal(stat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/--bogus", out);
	assert_int_equal(stat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/normal", out);
	assert_int_equal(stat(p, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_degraded_component_masks_only_its_kernel_units, setup),
	    cmocka_unit_test_setup(test_safe_mode_level_1_masks_units_and_keeps_default_target,
	                           setup),
	    cmocka_unit_test_setup(test_level_3_and_give_up_redirect_to_the_safe_target, setup),
	    cmocka_unit_test_setup(test_given_up_redirects_to_the_safe_target, setup),
	    cmocka_unit_test_setup(test_given_up_under_max_level_keeps_the_normal_target, setup),
	    cmocka_unit_test_setup(test_safe_mode_with_nothing_quarantined_stops_nothing, setup),
	    cmocka_unit_test_setup(test_survived_timer_follows_stable_after, setup),
	    cmocka_unit_test_setup(test_durable_quarantine_masks_even_after_blessing, setup),
	    cmocka_unit_test_setup(test_separate_var_masks_from_the_run_copy, setup),
	    cmocka_unit_test_setup(test_durable_list_wins_over_the_run_copy, setup),
	    cmocka_unit_test_setup(test_normal_boot_generates_nothing, setup),
	    cmocka_unit_test_setup(test_no_state_and_bad_arguments_never_fail, setup),
	    cmocka_unit_test_setup(test_help_and_relative_arguments_create_nothing, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
