/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The early-boot phases end to end on a fake root, with libefivar on an
 * EFIVARFS_PATH directory: a crash loop counted boot by boot, pstore
 * attribution, module quarantine in both modprobe configs, the rootfs
 * phase recording the quarantine, lifelinectl bless/clear, bad records.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot.h"
#include "agent/components.h"
#include "agent/ctl.h"
#include "agent/inventory.h"
#include "agent/runstate.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "efi/store.h"

static char root[4096], var_path[4096];

static void put(const char *rel, const char *text)
{
	char p[8192];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	char *slash = strrchr(p, '/');
	*slash = 0;
	assert_int_equal(mkdir_p(p, 0755), 0);
	*slash = '/';
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

static char *get(const char *rel)
{
	char p[8192], *text = NULL;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	if (read_full_file(p, 1 << 20, &text, NULL) < 0)
		return NULL;
	return text;
}

static bool exists(const char *rel)
{
	char p[8192];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	return access(p, F_OK) == 0;
}

static const char OOPS[] =
	"Oops#1 Part1\n"
	"<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	"<4>[    9.120100] Modules linked in: badsec(OE+) efi_pstore i6300esb\n"
	"<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           OE      6.1.0-27-amd64 #1  Debian 6.1.115-1\n"
	"<4>[    9.120300] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
	"<4>[    9.120400] Call Trace:\n"
	"<4>[    9.120500]  <TASK>\n"
	"<4>[    9.120600]  badsec_init+0x9d/0x1000 [badsec]\n"
	"<4>[    9.120700]  do_one_initcall+0x56/0x220\n"
	"<4>[    9.120800]  </TASK>\n"
	"<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";

static int setup_root(void **state)
{
	const char *tmp = getenv("LIFELINE_TEST_TMP");
	const char *ev = getenv("EFIVARFS_PATH");

	(void)state;
	snprintf(root, sizeof(root), "%s/root-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		return -1;
	snprintf(var_path, sizeof(var_path), "%s%s-%s", ev, LIFELINE_VAR_NAME, LIFELINE_GUID_STR);
	int fd = open(var_path, O_RDONLY);
	if (fd >= 0) {
		int flags = 0;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
		close(fd);
	}
	unlink(var_path);
	put("/etc/lifeline/lifeline.conf", "[boot]\nthreshold = 3\nescalate_after = 2\nstore = efi\n");
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nvendor = BadSec Security\nmodules = badsec\nunits = badsec.service\n"
	    "files = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n");
	put("/etc/lifeline/components.d/other.conf",
	    "[othersec]\nvendor = Other\nmodules = othersec othersec_net\nunits = othersec.service\n"
	    "files = /opt/othersec/bin/*\n");
	put("/opt/badsec/bin/badsecd", "#!/bin/sh\n");
	return 0;
}

static int teardown_root(void **state)
{
	char cmd[4200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void boot_init(void)
{
	struct boot_opts o = { .root = root };

	assert_int_equal(boot_phase_init(&o), 0);
}

static void boot_rootfs(void)
{
	char run[4200];
	struct boot_opts o = { .root = root };

	snprintf(run, sizeof(run), "%s/run/lifeline", root);
	o.run_dir = run;
	assert_int_equal(boot_phase_rootfs(&o), 0);
}

static struct state_record load_record(void)
{
	struct store *s = NULL;
	struct state_record r;

	assert_int_equal(store_open(STORE_PREF_EFI, NULL, &s, NULL), 0);
	assert_int_equal(store_load(s, &r), 0);
	store_free(s);
	return r;
}

static void test_crash_loop_quarantines_module_named_by_pstore(void **state)
{
	struct state_record r;
	char *text;

	(void)state;
	for (unsigned boot = 1; boot <= 3; boot++) {
		boot_init();
		r = load_record();
		assert_int_equal(r.boot_seq, boot);
		assert_int_equal(r.failures, boot);
		assert_int_equal(r.mode, STATE_MODE_NORMAL);
		assert_false(exists("/run/modprobe.d/lifeline.conf"));
		boot_rootfs();
		assert_false(exists(QUARANTINE_ACTIVE_FILE));
		/* the crash of this boot lands in pstore */
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	}

	/* boot 4: failures 4 > threshold 3 -> level 1, pstore names badsec */
	boot_init();
	r = load_record();
	assert_int_equal(r.failures, 4);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_int_equal(r.n_modules, 1);
	assert_string_equal(r.modules[0], "badsec");
	/* pstore erased (its NVRAM freed) and the text kept in /run */
	assert_false(exists("/sys/fs/pstore/dmesg-efi-173237123410001"));

	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "blacklist badsec\n"));
	assert_non_null(strstr(text, "install badsec /bin/false\n"));
	free(text);
	text = get("/etc/modprobe.d/lifeline-quarantine.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install badsec /bin/false\n"));
	free(text);

	text = get("/run/lifeline/state");
	assert_non_null(text);
	assert_non_null(strstr(text, "mode=safe\n"));
	assert_non_null(strstr(text, "action=escalate\n"));
	assert_non_null(strstr(text, "quarantine=badsec\n"));
	assert_non_null(strstr(text, "RIP: 0010:badsec_crash+0x5/0x10 [badsec]"));
	assert_null(strstr(text, "othersec"));
	free(text);
	text = get("/run/lifeline/mode");
	assert_string_equal(text, "safe\n");
	free(text);

	/* rootfs phase records the quarantine durably and keeps the crash */
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	text = get("/var/lib/lifeline/crashes/boot-4/efi-173237123410001-oops-1.txt");
	if (!text) {
		/* name chosen by the pstore module: any saved file will do */
		assert_true(exists("/var/lib/lifeline/crashes/boot-4"));
	}
	free(text);

	/* boot 5 (still failing): stays level 1, module still blocked */
	boot_init();
	r = load_record();
	assert_int_equal(r.failures, 5);
	assert_int_equal(r.level, 1);
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(strstr(text, "install badsec /bin/false"));
	free(text);

	/* boot 6: level 2 -> every component */
	boot_init();
	r = load_record();
	assert_int_equal(r.level, 2);
	assert_true(state_record_has_module(&r, "othersec"));
	assert_true(state_record_has_module(&r, "othersec_net"));
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "quarantine=badsec othersec\n"));
	free(text);
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "badsec 1 1\nothersec 2 2\n");
	free(text);
}

static void test_bless_and_clear_return_to_normal(void **state)
{
	struct ctl_ctx ctx = { .root = root };
	struct state_record r;
	char *text;

	(void)state;
	for (int i = 0; i < 4; i++) {
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
		boot_init();
		boot_rootfs();
	}
	r = load_record();
	assert_int_equal(r.mode, STATE_MODE_SAFE);

	assert_int_equal(ctl_bless(&ctx), CTL_EXIT_OK);
	r = load_record();
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.last_blessed_seq, 4);
	assert_int_equal(r.mode, STATE_MODE_SAFE); /* blessed, still quarantined */

	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	r = load_record();
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.level, 0);
	assert_int_equal(r.n_modules, 0);
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	assert_false(exists("/run/modprobe.d/lifeline.conf"));

	boot_init();
	r = load_record();
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.failures, 1);
	assert_false(exists("/run/modprobe.d/lifeline.conf"));
	text = get("/run/lifeline/mode");
	assert_string_equal(text, "normal\n");
	free(text);
}

static void test_corrupt_record_is_left_alone_and_boot_uncounted(void **state)
{
	uint8_t buf[4 + STATE_RECORD_SIZE];
	struct stat st1, st2;
	char *text, *before = NULL, *after = NULL;
	size_t n1, n2;

	(void)state;
	memset(buf, 0x5a, sizeof(buf));
	buf[0] = 7;
	buf[1] = buf[2] = buf[3] = 0;
	int fd = open(var_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	assert_int_equal(stat(var_path, &st1), 0);
	assert_int_equal(read_full_file(var_path, 4096, &before, &n1), 0);

	/* even with a crash log naming a component: nothing is quarantined */
	put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	for (int i = 0; i < 5; i++)
		boot_init();
	assert_int_equal(read_full_file(var_path, 4096, &after, &n2), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	free(before);
	free(after);
	assert_false(exists("/run/modprobe.d/lifeline.conf"));
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "mode=uncounted\n"));
	assert_non_null(strstr(text, "error=not a lifeline state record"));
	free(text);

	/* lifelinectl says so with exit code 3 and refuses to bless */
	struct ctl_ctx ctx = { .root = root };
	assert_int_equal(ctl_status(&ctx), CTL_EXIT_STATE);
	assert_int_equal(ctl_bless(&ctx), CTL_EXIT_STATE);
	/* reset starts over */
	assert_int_equal(ctl_reset(&ctx), CTL_EXIT_OK);
	boot_init();
	struct state_record r = load_record();
	assert_int_equal(r.failures, 1);
	(void)st2;
}

static void test_pstore_without_known_component_still_enters_safe_mode(void **state)
{
	struct state_record r;
	char *text;

	(void)state;
	put("/etc/lifeline/components.d/badsec.conf", "[badsec]\nmodules = badsec_renamed\n"
		"files = /opt/badsec/bin/*\n");
	for (int i = 0; i < 4; i++) {
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
		boot_init();
	}
	r = load_record();
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_int_equal(r.n_modules, 0);
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "quarantine=\n"));
	free(text);
}

static void test_missing_config_uses_defaults(void **state)
{
	char p[4200];
	struct state_record r;

	(void)state;
	snprintf(p, sizeof(p), "%s/etc/lifeline/lifeline.conf", root);
	unlink(p);
	boot_init();
	r = load_record();
	assert_int_equal(r.failures, 1);
}

/* The rootfs phase with no root where it should be: logs, never fails,
 * changes nothing (the module blocks of the init phase stay). */
static void test_rootfs_phase_without_root_carries_on(void **state)
{
	char run[4200];
	struct boot_opts o = { .root = "/nonexistent-lifeline-root" };

	(void)state;
	for (int i = 0; i < 4; i++) {
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
		boot_init();
	}
	snprintf(run, sizeof(run), "%s/run/lifeline", root);
	o.run_dir = run;
	assert_int_equal(boot_phase_rootfs(&o), 0);
	assert_int_equal(access("/nonexistent-lifeline-root", F_OK), -1);
	assert_true(exists("/run/modprobe.d/lifeline.conf"));
	/* and with no state from the init phase at all */
	snprintf(run, sizeof(run), "%s/run/nothing-here", root);
	assert_int_equal(boot_phase_rootfs(&o), 0);
}

static void take_last_good(void)
{
	struct component_set set = { 0 };
	struct inventory *inv = NULL;
	struct content_cache_result cr = { 0 };

	assert_int_equal(components_load(root, &set, NULL), 0);
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	assert_int_equal(inventory_save(root, inv), 0);
	assert_int_equal(content_cache_update(root, &set, inv, 1 << 20, &cr), 0);
	content_cache_result_done(&cr);
	inventory_free(inv);
	components_done(&set);
}

/* No panic log at all (the crash happened before efi-pstore was loaded):
 * level 1 falls back to what changed since the last good boot. A changed
 * binary quarantines its component; a changed content file alone is
 * rolled back to its cached last-good copy and nothing is quarantined. */
static void test_level1_without_pstore_uses_inventory_diff(void **state)
{
	struct state_record r;
	char *text;

	(void)state;
	put("/opt/badsec/content/channel-291.bin", "GOOD\n");
	put("/opt/othersec/bin/otherd", "v1\n");
	take_last_good();

	/* a bad content update for badsec, a new binary for othersec */
	put("/opt/badsec/content/channel-291.bin", "CRASH\n");
	put("/opt/othersec/bin/otherd", "v2\n");
	for (int i = 0; i < 4; i++) {
		boot_init();
		boot_rootfs();
	}
	r = load_record();
	assert_int_equal(r.level, 1);
	text = get("/opt/badsec/content/channel-291.bin");
	assert_string_equal(text, "GOOD\n"); /* rolled back */
	free(text);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_non_null(strstr(text, "othersec 1 1"));
	assert_null(strstr(text, "badsec"));
	free(text);
	assert_false(exists("/opt/othersec/bin/otherd")); /* moved into quarantine */
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "quarantine=othersec\n"));
	assert_non_null(strstr(text, "changed since the last good boot"));
	free(text);
	/* its modules are now blocked in the record and for the real root */
	r = load_record();
	assert_true(state_record_has_module(&r, "othersec"));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install othersec_net /bin/false"));
	free(text);

	/* clear puts the binary back */
	struct ctl_ctx ctx = { .root = root };
	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	text = get("/opt/othersec/bin/otherd");
	assert_string_equal(text, "v2\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash_loop_quarantines_module_named_by_pstore, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_bless_and_clear_return_to_normal, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_corrupt_record_is_left_alone_and_boot_uncounted, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_pstore_without_known_component_still_enters_safe_mode, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_missing_config_uses_defaults, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_rootfs_phase_without_root_carries_on, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_level1_without_pstore_uses_inventory_diff, setup_root, teardown_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
