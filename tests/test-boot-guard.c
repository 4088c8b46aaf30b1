/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * First, do no harm (the early phases on a fake root and an EFIVARFS_PATH
 * directory): a boot that stays up ends the failure count whatever its
 * health and whether lifelined runs; the boot watchdog is armed only when
 * the image says lifeline is enabled, handed to PID 1, and handed back to
 * the administrator's setting after stable_after; a forged record never
 * blocks an in-tree module nor jumps levels; `modules = badsec*` patterns
 * are blocked by the names the kernel has.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/boot.h"
#include "agent/boot/var-mount.h"
#include "agent/boot/watchdog.h"
#include "agent/decision/blocked-modules.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

#define KVER "6.1.0-lifeline-test"

static char root[4096], var_path[4096], wdev[4200];

static void put(const char *rel, const char *text)
{
	tu_put(root, rel, text, 0644);
}

static char *get(const char *rel)
{
	return tu_get(root, rel);
}

static bool exists(const char *rel)
{
	return tu_exists(root, rel);
}

static int setup(void **state)
{
	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "guard-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	tu_var_reset(var_path);
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nstore = efi\n"
	    "stable_after = 30\nboot_watchdog = 90\n");
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nvendor = BadSec Security\nmodules = badsec*\nunits = badsec.service\n"
	    "files = /opt/badsec/bin/*\n");
	put("/opt/badsec/bin/badsecd", "#!/bin/sh\n");
	/* the kernel's module index: two BadSec modules out of tree, ext4 in */
	put("/lib/modules/" KVER "/modules.dep",
	    "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz\n"
	    "kernel/lib/crc16.ko.xz:\n"
	    "extra/badsec_core.ko:\n"
	    "updates/dkms/badsec-net.ko.xz: extra/badsec_core.ko\n"
	    "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz:\n");
	put("/lib/modules/" KVER "/modules.builtin", "kernel/drivers/block/virtio_blk.ko\n");
	put(BOOT_ENABLED_FLAG, "enabled\n");
	snprintf(wdev, sizeof(wdev), "%s/fake-watchdog", root);
	put("/fake-watchdog", "");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_rm_rf(root);
}

static void boot_init(void)
{
	struct boot_opts o = {.root = root, .kernel_release = KVER, .watchdog_dev = wdev};

	assert_int_equal(boot_phase_init(&o), 0);
}

static void boot_rootfs(void)
{
	char run[4200];
	struct boot_opts o = {.root = root, .kernel_release = KVER};

	snprintf(run, sizeof(run), "%s/run/lifeline", root);
	o.run_dir = run;
	assert_int_equal(boot_phase_rootfs(&o), 0);
}

static void boot_survived(void)
{
	char run[4200];
	struct boot_opts o = {.root = root};

	snprintf(run, sizeof(run), "%s/run/lifeline", root);
	o.run_dir = run;
	assert_int_equal(boot_phase_survived(&o), 0);
}

/* A power cut or reboot wipes /run. */
static void wipe_run(void)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/run'", root);
	assert_int_equal(system(cmd), 0);
}

static struct state_record load_record(void)
{
	struct state_record r;

	assert_int_equal(tu_record_load(&r), 0);
	return r;
}

/* A degraded machine (no blessing ever: lifelined broken, a unit failed)
 * that stays up every boot is never counted into a quarantine. */
static void test_boots_that_stay_up_never_escalate(void **state)
{
	struct state_record r;

	(void)state;
	for (int boot = 1; boot <= 10; boot++) {
		wipe_run();
		boot_init();
		boot_rootfs();
		r = load_record();
		assert_int_equal(r.failures, 1);
		assert_int_equal(r.mode, STATE_MODE_NORMAL);
		boot_survived();
		r = load_record();
		assert_int_equal(r.failures, 0);
		assert_int_equal(r.last_blessed_seq, 0); /* survived is not blessed */
	}
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	assert_false(exists("/run/modprobe.d/lifeline.conf"));
	char *text = get(RUNSTATE_SURVIVED_FILE);
	assert_string_equal(text, "boot_seq=10\n");
	free(text);
}

/* Failed boots count, and a survived one ends the run: 3 failures, then
 * one that stays up, then 3 failures again is still no quarantine. */
static void test_survival_ends_the_run(void **state)
{
	struct state_record r;

	(void)state;
	for (int i = 0; i < 3; i++) {
		wipe_run();
		boot_init();
	}
	boot_survived();
	assert_int_equal(load_record().failures, 0);
	for (int i = 0; i < 3; i++) {
		wipe_run();
		boot_init();
	}
	r = load_record();
	assert_int_equal(r.failures, 3);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	/* the fourth failure in a row escalates */
	wipe_run();
	boot_init();
	assert_int_equal(load_record().level, 1);
}

/* Armed and handed to PID 1 only when the image says lifeline is enabled;
 * the survived step takes the hand-over back. */
static void test_watchdog_armed_only_when_enabled_and_handed_back(void **state)
{
	char *text;

	(void)state;
	boot_init();
	text = get(BOOT_WATCHDOG_DROPIN);
	assert_non_null(text);
	assert_non_null(strstr(text, "[Manager]\nRuntimeWatchdogSec=90s\n"));
	free(text);
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "\nenabled=yes\n"));
	assert_non_null(strstr(text, "\nwatchdog=90\n"));
	free(text);

	boot_survived();
	assert_false(exists(BOOT_WATCHDOG_DROPIN));
	/* nothing to hand back a second time */
	assert_int_equal(boot_watchdog_hand_back(root, false), 0);

	/* not enabled in the image: nothing armed, nothing handed over */
	wipe_run();
	assert_int_equal(unlink(strcat(strcpy((char[4200]){0}, root), BOOT_ENABLED_FLAG)), 0);
	boot_init();
	assert_false(exists(BOOT_WATCHDOG_DROPIN));
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "\nenabled=no\n"));
	assert_non_null(strstr(text, "\nwatchdog=0\n"));
	free(text);
	/* the boot is still counted */
	assert_int_equal(load_record().failures, 1);

	/* no watchdog device: nothing handed over either */
	wipe_run();
	put(BOOT_ENABLED_FLAG, "enabled\n");
	assert_int_equal(unlink(wdev), 0);
	boot_init();
	assert_false(exists(BOOT_WATCHDOG_DROPIN));
}

static void test_timespans(void **state)
{
	uint64_t u;

	(void)state;
	assert_int_equal(boot_parse_timespan_usec("30", &u), 0);
	assert_true(u == 30000000ULL);
	assert_int_equal(boot_parse_timespan_usec("30s", &u), 0);
	assert_true(u == 30000000ULL);
	assert_int_equal(boot_parse_timespan_usec("5min", &u), 0);
	assert_true(u == 300000000ULL);
	assert_int_equal(boot_parse_timespan_usec("1h 30min", &u), 0);
	assert_true(u == 5400000000ULL);
	assert_int_equal(boot_parse_timespan_usec("2m30s", &u), 0);
	assert_true(u == 150000000ULL);
	assert_int_equal(boot_parse_timespan_usec("500ms", &u), 0);
	assert_true(u == 500000ULL);
	assert_int_equal(boot_parse_timespan_usec("off", &u), 0);
	assert_true(u == 0);
	assert_int_equal(boot_parse_timespan_usec("0", &u), 0);
	assert_true(u == 0);
	assert_int_equal(boot_parse_timespan_usec("default", &u), 0);
	assert_true(u == BOOT_WATCHDOG_INFINITY);
	assert_int_equal(boot_parse_timespan_usec("", &u), -EINVAL);
	assert_int_equal(boot_parse_timespan_usec("soon", &u), -EINVAL);
	assert_int_equal(boot_parse_timespan_usec("10 parsecs", &u), -EINVAL);
}

/* The administrator's RuntimeWatchdogSec= wins after stable_after:
 * system.conf, then drop-ins by name, /etc over /usr; ours never counts. */
static void test_admin_watchdog_setting_is_found(void **state)
{
	uint64_t u = 1;

	(void)state;
	assert_int_equal(boot_watchdog_admin_usec(root, &u), 0);
	put(BOOT_WATCHDOG_DROPIN, "[Manager]\nRuntimeWatchdogSec=90s\n");
	assert_int_equal(boot_watchdog_admin_usec(root, &u), 0);

	put("/etc/systemd/system.conf",
	    "[Manager]\n#RuntimeWatchdogSec=off\nRuntimeWatchdogSec=30s\n");
	assert_int_equal(boot_watchdog_admin_usec(root, &u), 1);
	assert_true(u == 30000000ULL);
	/* a drop-in overrides the main file */
	put("/usr/lib/systemd/system.conf.d/10-vendor.conf",
	    "[Manager]\nRuntimeWatchdogSec=1min\n");
	assert_int_equal(boot_watchdog_admin_usec(root, &u), 1);
	assert_true(u == 60000000ULL);
	/* same name in /etc masks /usr's; a later name wins */
	put("/etc/systemd/system.conf.d/10-vendor.conf", "[Manager]\nRuntimeWatchdogSec=2min\n");
	assert_int_equal(boot_watchdog_admin_usec(root, &u), 1);
	assert_true(u == 120000000ULL);
	put("/etc/systemd/system.conf.d/99-off.conf", "[Manager]\nRuntimeWatchdogSec=off\n");
	assert_int_equal(boot_watchdog_admin_usec(root, &u), 1);
	assert_true(u == 0);
	/* another section's key is not it */
	put("/etc/systemd/system.conf.d/99-off.conf", "[Other]\nRuntimeWatchdogSec=off\n");
	assert_int_equal(boot_watchdog_admin_usec(root, &u), 1);
	assert_true(u == 120000000ULL);
}

/* A record with a valid checksum naming in-tree modules at level 0 (the
 * forged "modules = ext4 nvme"): replaced, nothing blocked, counted. */
static void test_forged_record_blocks_nothing(void **state)
{
	struct state_record r;
	char *text;

	(void)state;
	state_record_init(&r);
	r.boot_seq = 7;
	r.failures = 2;
	assert_true(state_record_add_module(&r, "ext4") >= 0);
	assert_true(state_record_add_module(&r, "e1000e") >= 0);
	tu_record_save(&r);

	boot_init();
	r = load_record();
	assert_int_equal(r.boot_seq, 1);
	assert_int_equal(r.failures, 1);
	assert_int_equal(r.n_modules, 0);
	assert_false(exists("/run/modprobe.d/lifeline.conf"));
	assert_false(exists("/etc/modprobe.d/lifeline-quarantine.conf"));
	text = get("/run/lifeline/state");
	assert_non_null(
	    strstr(text, "record_replaced=module ext4 is part of the kernel's own tree"));
	free(text);
	assert_true(exists(RECORD_BAD_RUN_FILE));
}

/* A quarantine on disk stays in force when the record is replaced. */
static void test_quarantine_on_disk_survives_record_replacement(void **state)
{
	char *text;

	(void)state;
	put(QUARANTINE_ACTIVE_FILE, "badsec 3 1\n");
	put(QUARANTINE_DECIDED_FILE, "3\n");
	tu_var_reset(var_path);
	{
		static const char bad[] = "\x07\x00\x00\x00garbage";
		FILE *f = fopen(var_path, "w");

		assert_non_null(f);
		assert_int_equal(fwrite(bad, 1, sizeof(bad) - 1, f), sizeof(bad) - 1);
		fclose(f);
	}
	boot_init();
	boot_rootfs();
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install badsec_core /bin/false\n"));
	assert_non_null(strstr(text, "install badsec_net /bin/false\n"));
	free(text);
	assert_true(exists(RECORD_REPLACED_FILE));
}

/* `modules = badsec*`: resolved against the kernel's module names, in
 * the initramfs (the record) and on the root (/run/modprobe.d); in-tree
 * modules never, even when a pattern would match one. */
static void test_wildcard_modules_are_blocked(void **state)
{
	struct state_record r;
	char *text;

	(void)state;
	put("/etc/lifeline/components.d/greedy.conf",
	    "[greedy]\nmodules = e1000*\nfiles = /opt/greedy/*\n");
	for (int i = 0; i < 6; i++) {
		wipe_run();
		boot_init();
		boot_rootfs();
	}
	r = load_record();
	assert_int_equal(r.level, 2);
	assert_true(state_record_has_module(&r, "badsec_core"));
	assert_true(state_record_has_module(&r, "badsec_net"));
	assert_false(state_record_has_module(&r, "e1000e"));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "blacklist badsec_core\ninstall badsec_core /bin/false\n"));
	assert_non_null(strstr(text, "blacklist badsec_net\n"));
	assert_null(strstr(text, "e1000e"));
	free(text);
}

static void test_blocked_modules_in_one_place(void **state)
{
	struct module_index idx = {0};
	struct component_set set = {0};
	struct quarantine_entry *active = NULL;
	unsigned n = 0;
	char **l = NULL;
	char *extra[] = {(char *)"vendor_oot", (char *)"ext4", NULL};

	(void)state;
	assert_int_equal(module_index_load(root, KVER, &idx), 0);
	assert_true(idx.loaded);
	assert_true(module_index_in_tree(&idx, "ext4"));
	assert_true(module_index_in_tree(&idx, "virtio_blk")); /* built in */
	assert_false(module_index_in_tree(&idx, "badsec_core"));
	assert_true(strv_contains(idx.names, "badsec_net")); /* '-' normalised */
	assert_int_equal(components_load(root, &set, NULL), 0);
	assert_int_equal(quarantine_active_add(&active, &n, "badsec", 1, 1), 1);
	assert_int_equal(blocked_modules(&set, active, n, extra, &idx, &l), 0);
	assert_int_equal(strv_length(l), 3);
	assert_true(strv_contains(l, "badsec_core"));
	assert_true(strv_contains(l, "badsec_net"));
	assert_true(strv_contains(l, "vendor_oot"));
	strv_free(l);
	free(active);
	components_done(&set);
	module_index_done(&idx);

	/* no index: a pattern resolves to nothing, nothing fails */
	assert_int_equal(module_index_load(root, "no-such-kernel", &idx), 0);
	assert_false(idx.loaded);
	module_index_done(&idx);
}

static void test_fstab_finds_a_separate_var(void **state)
{
	struct fstab_entry e = {0};

	(void)state;
	assert_int_equal(boot_fstab_find(root, "/var", &e), -ENOENT); /* no fstab */
	put("/etc/fstab", "# comment\nPARTUUID=aa / ext4 errors=remount-ro 0 1\n"
	                  "  UUID=\"1234\"\t/var/\text4\tdefaults,nodev 0 2\n");
	assert_int_equal(boot_fstab_find(root, "/var", &e), 0);
	assert_string_equal(e.spec, "UUID=\"1234\"");
	assert_string_equal(e.fstype, "ext4");
	assert_string_equal(e.options, "defaults,nodev");
	fstab_entry_done(&e);
	assert_int_equal(boot_fstab_find(root, "/var/lib", &e), -ENOENT);
	/* noauto: not mounted at boot, so not lifeline's either */
	put("/etc/fstab", "LABEL=var /var xfs noauto 0 0\n");
	assert_int_equal(boot_fstab_find(root, "/var", &e), -ENOENT);
	/* no /var entry: nothing to mount, nothing fails */
	put("/etc/fstab", "PARTUUID=aa / ext4 defaults 0 1\n");
	assert_int_equal(boot_var_mount(root), 0);
}

/* The rootfs phase leaves the active list in /run for the generator. */
static void test_active_list_handed_to_run(void **state)
{
	char *text;

	(void)state;
	put(QUARANTINE_ACTIVE_FILE, "badsec 2 1\n");
	put(QUARANTINE_DECIDED_FILE, "2\n");
	boot_init();
	boot_rootfs();
	text = get(RUNSTATE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 2 1\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_boots_that_stay_up_never_escalate, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_survival_ends_the_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watchdog_armed_only_when_enabled_and_handed_back,
	                                    setup, teardown),
	    cmocka_unit_test(test_timespans),
	    cmocka_unit_test_setup_teardown(test_admin_watchdog_setting_is_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forged_record_blocks_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quarantine_on_disk_survives_record_replacement,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wildcard_modules_are_blocked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blocked_modules_in_one_place, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fstab_finds_a_separate_var, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_active_list_handed_to_run, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
