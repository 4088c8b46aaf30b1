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

static void test_safe_mode_masks_units_and_redirects_default_target(void **state)
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
	assert_string_equal(link_of("default.target"),
	                    "/usr/lib/systemd/system/lifeline-safe.target");
	assert_non_null(link_of("lifeline-safe.target.wants/myagent.service"));
	assert_non_null(link_of("lifeline-safe.target.wants/ssh.service"));

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
	assert_non_null(link_of("default.target"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_safe_mode_masks_units_and_redirects_default_target, setup),
	    cmocka_unit_test_setup(test_durable_quarantine_masks_even_after_blessing, setup),
	    cmocka_unit_test_setup(test_normal_boot_generates_nothing, setup),
	    cmocka_unit_test_setup(test_no_state_and_bad_arguments_never_fail, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
