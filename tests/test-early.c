/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The early-boot phases end to end on a fake root, with libefivar on an
 * EFIVARFS_PATH directory: a crash loop counted boot by boot, pstore
 * attribution, module quarantine in both modprobe configs, the rootfs
 * phase recording the quarantine, lifelinectl bless/clear, bad records.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/boot-internal.h"
#include "agent/boot/boot.h"
#include "agent/conf/components.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/history.h"
#include "agent/inventory/inventory.h"
#include "agent/decision/runstate.h"
#include "agent/crash/suspects.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

#define KVER "6.1.0-lifeline-test"

#define CONF_THRESHOLD "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = no\nstore = efi\n"

static char root[4096], var_path[4096];

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

static const char OOPS[] =
    "Oops#1 Part1\n"
    "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
    "<4>[    9.120100] Modules linked in: badsec(OE+) efi_pstore i6300esb\n"
    "<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           OE      6.1.0-27-amd64 "
    "#1  Debian 6.1.115-1\n"
    "<4>[    9.120300] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
    "<4>[    9.120400] Call Trace:\n"
    "<4>[    9.120500]  <TASK>\n"
    "<4>[    9.120600]  badsec_init+0x9d/0x1000 [badsec]\n"
    "<4>[    9.120700]  do_one_initcall+0x56/0x220\n"
    "<4>[    9.120800]  </TASK>\n"
    "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";

static int setup_root(void **state)
{

	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "root-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	tu_var_reset(var_path);
	/* the crash loops here count to the threshold; the repeat-crash fast
	 * path has its own tests, which switch it on */
	put("/etc/lifeline/lifeline.conf", CONF_THRESHOLD);
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nvendor = BadSec Security\nmodules = badsec\nunits = badsec.service\n"
	    "files = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n");
	put("/etc/lifeline/components.d/other.conf",
	    "[othersec]\nvendor = Other\nmodules = othersec othersec_net\nunits = "
	    "othersec.service\n"
	    "files = /opt/othersec/bin/*\n");
	put("/opt/badsec/bin/badsecd", "#!/bin/sh\n");
	return 0;
}

static int teardown_root(void **state)
{
	(void)state;
	return tu_rm_rf(root);
}

/* A power cut wipes /run (a tmpfs). */
static void wipe_run(void)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/run'", root);
	assert_int_equal(system(cmd), 0);
}

static void boot_init(void)
{
	struct boot_opts o = {.root = root};

	assert_int_equal(boot_phase_init(&o), 0);
}

static void boot_rootfs(void)
{
	char run[4200];
	struct boot_opts o = {.root = root};

	snprintf(run, sizeof(run), "%s/run/lifeline", root);
	o.run_dir = run;
	o.kernel_release = KVER;
	assert_int_equal(boot_phase_rootfs(&o), 0);
}

/* Writes of the state variable, seen by inotify on the EFIVARFS_PATH
 * directory: libefivar writes a variable by opening its file for writing
 * (one IN_CLOSE_WRITE); reads close without writing. */
static int var_watch(void)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	assert_true(fd >= 0);
	assert_true(inotify_add_watch(fd, getenv("EFIVARFS_PATH"), IN_CLOSE_WRITE | IN_MOVED_TO) >=
	            0);
	return fd;
}

static unsigned var_writes(int fd)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const char *name = strrchr(var_path, '/') + 1;
	unsigned n = 0;
	ssize_t len;

	while ((len = read(fd, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->len > 0 && streq(ev->name, name))
				n++;
			p += sizeof(*ev) + ev->len;
		}
	return n;
}

/* One boot attempt through both phases: exactly one variable write. */
static void boot_both_phases_one_write(int watch)
{
	(void)var_writes(watch);
	boot_init();
	boot_rootfs();
	assert_int_equal(var_writes(watch), 1);
}

static struct history read_history(void)
{
	struct history h;

	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n_damaged, 0);
	return h;
}

static bool strv_has_substring(char **l, const char *needle)
{
	STRV_FOREACH (s, l)
		if (strstr(*s, needle))
			return true;
	return false;
}

static struct state_record load_record(void)
{
	struct state_record r;

	assert_int_equal(tu_record_load(&r), 0);
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
	struct ctl_ctx ctx = {.root = root};
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
	/* a safe-mode boot is never the last good */
	assert_int_equal(r.last_blessed_seq, 0);
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

/* A product with a user mode (docs/degrade.md): its kernel module crashes
 * the boots; at level 1 the panic log names its kernel half, so it is
 * degraded, not quarantined: its module blocked, its kernel content moved,
 * its configuration switched to user mode, its programs left in place.
 * Still failing, level 2 undoes the switch and quarantines it whole; a
 * clear puts every byte back. */
static void put_usersec(const char *conf_text)
{
	put("/etc/lifeline/components.d/usersec.conf",
	    "[usersec]\nvendor = UserSec\nmodules = usersec\nunits = usersec.service\n"
	    "files = /opt/usersec/bin/*\n"
	    "kernel_units = usersec-kmod.service\nkernel_content = /opt/usersec/kmod/*.ko\n"
	    "degrade_units = usersec-user.service\n"
	    "degrade_set = /etc/usersec/usersec.conf engine.kind user\n");
	put("/etc/usersec/usersec.conf", conf_text);
	put("/opt/usersec/bin/usersecd", "#!/bin/sh\n");
	put("/opt/usersec/kmod/usersec.ko", "ELF usersec\n");
}

static const char USERSEC_OOPS[] =
    "Oops#1 Part1\n"
    "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
    "<4>[    9.120100] Modules linked in: usersec(OE+) badsec(OE) efi_pstore\n"
    "<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           OE      6.1.0-27-amd64 "
    "#1  Debian 6.1.115-1\n"
    "<4>[    9.120300] RIP: 0010:usersec_hook+0x5/0x10 [usersec]\n"
    "<4>[    9.120400] Call Trace:\n"
    "<4>[    9.120500]  <TASK>\n"
    "<4>[    9.120600]  usersec_init+0x9d/0x1000 [usersec]\n"
    "<4>[    9.120800]  </TASK>\n"
    "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";

static const char USERSEC_CONF[] = "# UserSec\n[engine]\nkind = kmod\n\n[log]\nlevel = info\n";

static void usersec_crash_loop_to_level_1(void)
{
	for (unsigned boot = 1; boot <= 4; boot++) {
		boot_init();
		boot_rootfs();
		if (boot < 4)
			put("/sys/fs/pstore/dmesg-efi-173237123410001", USERSEC_OOPS);
	}
}

static char *spooled_report(void);

static void test_level1_degrades_a_product_whose_kernel_half_crashed(void **state)
{
	struct ctl_ctx ctx = {.root = root};
	struct state_record r;
	struct history h;
	size_t n;
	char *text;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    CONF_THRESHOLD "[report]\nurl = https://collector.invalid/lifeline\n");
	put_usersec(USERSEC_CONF);
	usersec_crash_loop_to_level_1();
	r = load_record();
	assert_int_equal(r.level, 1);
	assert_true(state_record_has_module(&r, "usersec"));
	assert_false(state_record_has_module(&r, "badsec"));

	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "usersec 1 1 degrade\n");
	free(text);
	text = get("/etc/usersec/usersec.conf");
	assert_string_equal(text, "# UserSec\n[engine]\nkind = user\n\n[log]\nlevel = info\n");
	free(text);
	/* the kernel half is off; the user-mode half stays in place */
	assert_false(exists("/opt/usersec/kmod/usersec.ko"));
	assert_true(exists("/opt/usersec/bin/usersecd"));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(strstr(text, "install usersec /bin/false\n"));
	free(text);
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "degraded, not quarantined: usersec (kernel part off, running "
	                             "in user mode)"));
	free(text);
	text = get(RUNSTATE_ACTIVE_FILE);
	assert_string_equal(text, "usersec 1 1 degrade\n");
	free(text);
	/* the decision report, spooled before anything changed, says so */
	text = spooled_report();
	assert_non_null(strstr(text, "\"quarantine\":[\"usersec\"],\"degrade\":[\"usersec\"]"));
	free(text);
	h = read_history();
	assert_true(h.n > 0);
	assert_string_equal(h.entries[h.n - 1].action, "escalate");
	assert_non_null(strstr(h.entries[h.n - 1].reason, "degraded, not quarantined: usersec"));
	history_done(&h);

	/* boot 5, still failing: the same level, the same degrade, nothing
	 * done again (no history entry) */
	h = read_history();
	n = h.n;
	history_done(&h);
	boot_init();
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "usersec 1 1 degrade\n");
	free(text);
	h = read_history();
	assert_int_equal(h.n, n);
	history_done(&h);

	/* boot 6: level 2 quarantines every component, usersec whole: its
	 * configuration back as the vendor wrote it, then its files moved */
	boot_init();
	boot_rootfs();
	r = load_record();
	assert_int_equal(r.level, 2);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(strstr(text, "usersec 2 2\n"));
	assert_null(strstr(text, "degrade"));
	free(text);
	text = get("/etc/usersec/usersec.conf");
	assert_string_equal(text, USERSEC_CONF);
	free(text);
	assert_false(exists("/opt/usersec/bin/usersecd"));
	assert_false(exists("/opt/usersec/kmod/usersec.ko"));
	assert_false(exists("/var/lib/lifeline/degrade/usersec"));

	/* a clear puts everything back */
	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	assert_true(exists("/opt/usersec/bin/usersecd"));
	assert_true(exists("/opt/usersec/kmod/usersec.ko"));
	text = get("/etc/usersec/usersec.conf");
	assert_string_equal(text, USERSEC_CONF);
	free(text);
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
}

/* lifelinectl quarantine of a degraded component quarantines it whole at
 * the next boot: the step undone first, then its files moved. */
static void test_quarantine_by_hand_of_a_degraded_component_is_whole(void **state)
{
	char *ids[] = {(char *)"usersec", NULL};
	struct ctl_ctx ctx = {.root = root, .args = ids, .n_args = 1};
	struct ctl_ctx all = {.root = root, .all = true};
	char *text;

	(void)state;
	put_usersec(USERSEC_CONF);
	usersec_crash_loop_to_level_1();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "usersec 1 1 degrade\n");
	free(text);
	assert_int_equal(ctl_quarantine(&ctx), CTL_EXIT_OK);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "usersec 2 1\n");
	free(text);
	boot_init();
	boot_rootfs();
	text = get("/etc/usersec/usersec.conf");
	assert_string_equal(text, USERSEC_CONF);
	free(text);
	assert_false(exists("/opt/usersec/bin/usersecd"));
	assert_false(exists("/var/lib/lifeline/degrade/usersec"));
	assert_int_equal(ctl_clear(&all), CTL_EXIT_OK);
	assert_true(exists("/opt/usersec/bin/usersecd"));
	assert_true(exists("/opt/usersec/kmod/usersec.ko"));
}

/* Level 2 after a degrade, its rootfs phase cut by a power loss: the next
 * boot rebuilds the lost decision and quarantines the degraded component
 * whole, as the uncut boot would (its step undone first). */
static void test_lost_level2_decision_quarantines_a_degraded_component_whole(void **state)
{
	char *text;

	(void)state;
	put_usersec(USERSEC_CONF);
	usersec_crash_loop_to_level_1();
	wipe_run();
	boot_init(); /* boot 5: level 1 */
	boot_rootfs();
	wipe_run();
	boot_init(); /* boot 6: level 2, cut before its rootfs phase */
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "level=2\n"));
	free(text);
	wipe_run();

	boot_init();
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(strstr(text, "usersec 2 2\n"));
	assert_null(strstr(text, "degrade"));
	free(text);
	text = get("/etc/usersec/usersec.conf");
	assert_string_equal(text, USERSEC_CONF);
	free(text);
	assert_false(exists("/opt/usersec/bin/usersecd"));
	assert_false(exists("/var/lib/lifeline/degrade/usersec"));
}

/* A degrade step with no kernel content: the kernel half's quarantine of
 * the generation is empty but recorded, so later boots of the same level
 * do nothing again. */
static void test_a_degrade_without_kernel_content_is_done_once(void **state)
{
	struct history h;
	size_t n;
	char *text;

	(void)state;
	put_usersec(USERSEC_CONF);
	put("/etc/lifeline/components.d/usersec.conf",
	    "[usersec]\nmodules = usersec\nunits = usersec.service\nfiles = /opt/usersec/bin/*\n"
	    "kernel_units = usersec-kmod.service\n"
	    "degrade_set = /etc/usersec/usersec.conf engine.kind user\n");
	usersec_crash_loop_to_level_1();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "usersec 1 1 degrade\n");
	free(text);
	assert_true(exists("/opt/usersec/kmod/usersec.ko")); /* not its kernel content */
	h = read_history();
	n = h.n;
	history_done(&h);
	boot_init();
	boot_rootfs();
	h = read_history();
	assert_int_equal(h.n, n);
	history_done(&h);
	text = get("/etc/usersec/usersec.conf");
	assert_non_null(strstr(text, "kind = user\n"));
	free(text);
}

/* A clear while degraded: the configuration exactly as it was, the kernel
 * content back, nothing left under /var/lib/lifeline/degrade. */
static void test_clear_undoes_a_degrade_exactly(void **state)
{
	struct ctl_ctx ctx = {.root = root};
	struct state_record r;
	char *text;

	(void)state;
	put_usersec(USERSEC_CONF);
	usersec_crash_loop_to_level_1();
	assert_true(exists("/var/lib/lifeline/degrade/usersec/manifest"));
	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	r = load_record();
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.n_modules, 0);
	text = get("/etc/usersec/usersec.conf");
	assert_string_equal(text, USERSEC_CONF);
	free(text);
	assert_true(exists("/opt/usersec/kmod/usersec.ko"));
	assert_false(exists("/var/lib/lifeline/degrade/usersec"));
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
}

/* A degrade step that cannot apply on this machine (its key is not in the
 * vendor's file) is not an error of the boot: the component is
 * quarantined whole at once, and the history says why. */
static void test_a_degrade_that_cannot_apply_quarantines_instead(void **state)
{
	struct history h;
	char *text;
	bool said = false;

	(void)state;
	put_usersec("# UserSec\n[log]\nlevel = info\n");
	usersec_crash_loop_to_level_1();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "usersec 1 1\n");
	free(text);
	assert_false(exists("/opt/usersec/bin/usersecd"));
	text = get("/etc/usersec/usersec.conf");
	assert_string_equal(text, "# UserSec\n[log]\nlevel = info\n");
	free(text);
	h = read_history();
	for (unsigned i = 0; i < h.n; i++)
		said = said ||
		       strv_has_substring(h.entries[i].files, "usersec: degrade step not applied");
	assert_true(said);
	history_done(&h);
	text = get("/run/lifeline/state");
	assert_null(strstr(text, "degraded"));
	free(text);
}

/* The one report in the spool. */
static char *spooled_report(void)
{
	char spool[4200], rel[4400];
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	snprintf(spool, sizeof(spool), "%s/var/lib/lifeline/spool", root);
	d = opendir(spool);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".json")) {
			snprintf(rel, sizeof(rel), "/var/lib/lifeline/spool/%s", de->d_name);
			return get(rel);
		}
	fail();
	return NULL;
}

/* The record is input, not truth: a damaged variable never quarantines
 * anything and never switches protection off. The boot that finds it
 * starts a fresh record counting from itself, keeps the bad bytes, and
 * the rootfs phase says so in the history, a marker for status and a
 * report; the following boots count again. */
static void test_corrupt_record_is_replaced_and_counting_resumes(void **state)
{
	uint8_t buf[4 + STATE_RECORD_SIZE];
	char *text, *kept = NULL;
	size_t n = 0;
	struct state_record r;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = no\nstore = efi\n"
	    "[report]\nurl = https://collector.invalid/lifeline\n");
	memset(buf, 0x5a, sizeof(buf));
	buf[0] = 7;
	buf[1] = buf[2] = buf[3] = 0;
	int fd = open(var_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);

	/* even with a crash log naming a component: nothing is quarantined */
	put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	boot_init();
	r = load_record();
	assert_int_equal(r.boot_seq, 1);
	assert_int_equal(r.failures, 1);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.n_modules, 0);
	assert_false(exists("/run/modprobe.d/lifeline.conf"));
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "mode=normal\n"));
	assert_non_null(strstr(text, "record_replaced=not a lifeline state record"));
	free(text);
	/* the bad bytes, as they were (without the 4 attribute bytes) */
	assert_int_equal(
	    read_full_file(strcat(strcpy((char[4200]){0}, root), "/run/lifeline/record-bad.bin"),
	                   4096, &kept, &n),
	    0);
	assert_int_equal(n, STATE_RECORD_SIZE);
	assert_memory_equal(kept, buf + 4, n);
	free(kept);

	boot_rootfs();
	text = get(RECORD_REPLACED_FILE);
	assert_non_null(text);
	assert_non_null(strstr(text, "boot_seq=1\n"));
	assert_non_null(strstr(text, "reason=not a lifeline state record (bad magic)\n"));
	assert_non_null(strstr(text, "bytes=/var/lib/lifeline/record-bad-boot-1.bin\n"));
	free(text);
	assert_true(exists("/var/lib/lifeline/record-bad-boot-1.bin"));
	text = get(HISTORY_FILE);
	assert_non_null(strstr(text, "record-replaced"));
	free(text);
	assert_int_equal(
	    tu_count_files(strcat(strcpy((char[4200]){0}, root), "/var/lib/lifeline/spool"),
	                   ".json"),
	    1);
	text = spooled_report();
	assert_non_null(strstr(text, "\"action\":\"record-replaced\""));
	free(text);
	assert_false(exists(QUARANTINE_ACTIVE_FILE));

	/* lifelinectl: a valid record again, exit 0 */
	struct ctl_ctx ctx = {.root = root};
	assert_int_equal(ctl_status(&ctx), CTL_EXIT_OK);

	/* and the next boots count again: protection is back */
	wipe_run();
	boot_init();
	r = load_record();
	assert_int_equal(r.boot_seq, 2);
	assert_int_equal(r.failures, 2);
	text = get("/run/lifeline/state");
	assert_null(strstr(text, "record_replaced"));
	free(text);
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
	/* the pick is left to the root's inventory diff, which the initramfs
	 * cannot see: it blocks every component's modules for itself */
	assert_int_equal(r.n_modules, 3);
	assert_true(state_record_has_module(&r, "badsec_renamed"));
	assert_true(state_record_has_module(&r, "othersec_net"));
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "quarantine=\n"));
	free(text);
	/* the rootfs phase finds no last good inventory, so picks nothing, and
	 * the real root gets no module blocks */
	assert_true(exists("/run/modprobe.d/lifeline.conf"));
	boot_rootfs();
	assert_false(exists("/run/modprobe.d/lifeline.conf"));
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
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
	struct boot_opts o = {.root = "/nonexistent-lifeline-root"};

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
	struct component_set set = {0};
	struct inventory *inv = NULL;
	struct content_cache_result cr = {0};

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
	int watch = var_watch();
	/* the decision boot (4) too: one variable write per boot attempt,
	 * the rootfs phase's pick is kept on the root */
	for (int i = 0; i < 4; i++)
		boot_both_phases_one_write(watch);
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
	/* the initramfs blocks every component's modules (it cannot see the
	 * root's inventory); the real root only the pick's */
	r = load_record();
	assert_true(state_record_has_module(&r, "othersec"));
	assert_true(state_record_has_module(&r, "badsec"));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install othersec_net /bin/false"));
	assert_null(strstr(text, "badsec"));
	free(text);
	/* the decision with its evidence, the inventory diff */
	struct history h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "escalate");
	assert_string_equal(h.entries[0].who, "boot");
	assert_int_equal(h.entries[0].boot_seq, 4);
	assert_int_equal(h.entries[0].level, 1);
	assert_string_equal(h.entries[0].mode, "safe");
	assert_non_null(strstr(h.entries[0].reason, "changed since the last good boot"));
	assert_true(strv_has_substring(h.entries[0].evidence,
	                               "othersec: /opt/othersec/bin/otherd changed"));
	assert_true(strv_has_substring(h.entries[0].evidence, "channel-291.bin"));
	assert_true(strv_contains(h.entries[0].components, "othersec"));
	assert_false(strv_contains(h.entries[0].components, "badsec"));
	assert_true(strv_contains(h.entries[0].modules, "othersec_net"));
	assert_true(
	    strv_has_substring(h.entries[0].files, "badsec: 1 content file(s) rolled back"));
	history_done(&h);

	/* boot 5: the init phase blocks from the record again, the rootfs
	 * phase narrows from the durable active list; still one write */
	boot_both_phases_one_write(watch);
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(strstr(text, "install othersec /bin/false"));
	assert_null(strstr(text, "badsec"));
	free(text);
	close(watch);

	/* clear puts the binary back */
	struct ctl_ctx ctx = {.root = root};
	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	text = get("/opt/othersec/bin/otherd");
	assert_string_equal(text, "v2\n");
	free(text);
}

/* The decision boot died before its rootfs phase made the quarantine
 * durable on the root (power cut; /run is gone): the record still holds
 * the blocks, and the next boot, a plain count, finishes the decision
 * from the record: active list, files moved, "decided", the history. */
static void test_undurable_decision_is_finished_by_the_next_boot(void **state)
{
	struct history h;
	char *text;
	int watch;

	(void)state;
	/* level 2 only at the 9th failure: boot 6 below is a plain count */
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 5\nrepeat_crash = no\nstore = efi\n");
	put("/opt/othersec/bin/otherd", "other\n");
	for (int i = 0; i < 3; i++) {
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
		boot_init();
		boot_rootfs();
	}
	put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	boot_init(); /* decision boot 4 (level 1, badsec), cut before its rootfs phase */
	wipe_run();
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	assert_true(exists("/opt/badsec/bin/badsecd"));

	/* boot 5: counted (no escalation), still one variable write */
	watch = var_watch();
	boot_both_phases_one_write(watch);
	close(watch);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	text = get(QUARANTINE_DECIDED_FILE);
	assert_non_null(text);
	assert_string_equal(text, "1\n");
	free(text);
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_true(exists("/opt/othersec/bin/otherd"));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install badsec /bin/false\n"));
	assert_null(strstr(text, "othersec"));
	free(text);
	/* this boot's own action stays a count */
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "action=none\n"));
	free(text);
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "recover-decision");
	assert_string_equal(h.entries[0].who, "boot");
	assert_int_equal(h.entries[0].boot_seq, 5);
	assert_int_equal(h.entries[0].level, 1);
	assert_string_equal(h.entries[0].mode, "safe");
	assert_non_null(strstr(h.entries[0].reason, "never reached the root"));
	assert_true(strv_contains(h.entries[0].components, "badsec"));
	assert_false(strv_contains(h.entries[0].components, "othersec"));
	assert_true(strv_contains(h.entries[0].modules, "badsec"));
	assert_true(strv_has_substring(h.entries[0].files, "badsec: 1 file(s) in quarantine"));
	history_done(&h);

	/* finished once: the next boot records nothing more */
	wipe_run();
	boot_init();
	boot_rootfs();
	h = read_history();
	assert_int_equal(h.n, 1);
	history_done(&h);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
}

/* Level 1 without a panic log lost the same way: the record blocks every
 * component's modules (the initramfs cannot see the inventory), so the
 * next boot makes the inventory pick the escalating boot would have made,
 * not a quarantine of every component. */
static void test_undurable_inventory_decision_is_picked_by_the_next_boot(void **state)
{
	struct state_record r;
	struct history h;
	char *text;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 5\nrepeat_crash = no\nstore = efi\n");
	put("/opt/badsec/content/channel-291.bin", "GOOD\n");
	put("/opt/othersec/bin/otherd", "v1\n");
	take_last_good();
	put("/opt/othersec/bin/otherd", "v2\n");
	for (int i = 0; i < 3; i++) {
		boot_init();
		boot_rootfs();
		wipe_run();
	}
	boot_init(); /* decision boot 4, cut before its rootfs phase */
	wipe_run();
	r = load_record();
	assert_true(state_record_has_module(&r, "badsec"));
	assert_true(state_record_has_module(&r, "othersec"));

	boot_init();
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "othersec 1 1\n");
	free(text);
	assert_false(exists("/opt/othersec/bin/otherd"));
	assert_true(exists("/opt/badsec/bin/badsecd"));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install othersec_net /bin/false"));
	assert_null(strstr(text, "badsec"));
	free(text);
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "recover-decision");
	assert_non_null(strstr(h.entries[0].reason, "changed since the last good boot"));
	assert_true(strv_has_substring(h.entries[0].evidence,
	                               "othersec: /opt/othersec/bin/otherd changed"));
	assert_true(strv_contains(h.entries[0].components, "othersec"));
	assert_false(strv_contains(h.entries[0].components, "badsec"));
	history_done(&h);
}

/* Level 2 lost the same way: every component is quarantined by the next
 * boot; the level-1 decision before it stays as it was. */
static void test_undurable_level2_decision_quarantines_every_component(void **state)
{
	struct history h;
	char *text;

	(void)state;
	put("/opt/othersec/bin/otherd", "other\n");
	for (int i = 0; i < 4; i++) {
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
		boot_init();
		boot_rootfs();
		wipe_run();
	}
	/* boot 4 made level 1 (badsec) durable; boot 5 counts, boot 6 makes
	 * level 2 and is cut before its rootfs phase */
	boot_init();
	boot_rootfs();
	wipe_run();
	boot_init();
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "action=escalate\n"));
	assert_non_null(strstr(text, "level=2\n"));
	free(text);
	wipe_run();
	assert_true(exists("/opt/othersec/bin/otherd"));

	boot_init();
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\nothersec 2 2\n");
	free(text);
	assert_false(exists("/opt/othersec/bin/otherd"));
	h = read_history();
	assert_int_equal(h.n, 2);
	assert_string_equal(h.entries[0].action, "escalate");
	assert_string_equal(h.entries[1].action, "recover-decision");
	assert_int_equal(h.entries[1].level, 2);
	assert_true(strv_contains(h.entries[1].components, "othersec"));
	assert_true(strv_contains(h.entries[1].components, "badsec"));
	history_done(&h);
}

/* A quarantine decided by hand moves the files at the next boot's rootfs
 * phase: both decisions are in the history, with who made them. */
/* In safe mode an admin quarantines a second component by hand and clears
 * it again before any reboot: the next boot must not take the raised
 * generation for a decision a power cut lost (no "recover-decision", the
 * cleared component's files stay). */
static void test_quarantine_then_clear_by_hand_is_not_a_lost_decision(void **state)
{
	struct ctl_ctx ctx = {.root = root, .who = HISTORY_WHO_CTL};
	char *args[] = {"othersec", NULL};
	struct history h;

	(void)state;
	put("/opt/othersec/bin/othersecd", "#!/bin/sh\n");
	for (unsigned boot = 1; boot <= 3; boot++) {
		boot_init();
		boot_rootfs();
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	}
	boot_init(); /* boot 4: safe mode, level 1, badsec */
	boot_rootfs();
	assert_false(exists("/opt/badsec/bin/badsecd"));
	ctx.args = args;
	ctx.n_args = 1;
	assert_int_equal(ctl_quarantine(&ctx), CTL_EXIT_OK);
	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	boot_init();
	boot_rootfs();
	assert_true(exists("/opt/othersec/bin/othersecd"));
	h = read_history();
	for (size_t i = 0; i < h.n; i++)
		assert_string_not_equal(h.entries[i].action, "recover-decision");
	history_done(&h);
}

static void test_quarantine_by_hand_is_applied_and_recorded(void **state)
{
	struct ctl_ctx ctx = {.root = root, .who = HISTORY_WHO_CTL};
	char *args[] = {"badsec", NULL};
	struct history h;
	int watch;

	(void)state;
	boot_init();
	boot_rootfs();
	ctx.args = args;
	ctx.n_args = 1;
	assert_int_equal(ctl_quarantine(&ctx), CTL_EXIT_OK);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	watch = var_watch();
	boot_both_phases_one_write(watch);
	close(watch);
	assert_false(exists("/opt/badsec/bin/badsecd"));
	h = read_history();
	assert_int_equal(h.n, 2);
	assert_string_equal(h.entries[0].action, "quarantine");
	assert_string_equal(h.entries[0].who, "lifelinectl");
	assert_true(strv_contains(h.entries[0].components, "badsec"));
	assert_true(strv_contains(h.entries[0].modules, "badsec"));
	assert_string_equal(h.entries[1].action, "apply");
	assert_string_equal(h.entries[1].who, "boot");
	assert_int_equal(h.entries[1].boot_seq, 2);
	assert_true(strv_has_substring(h.entries[1].files, "badsec: 1 file(s) in quarantine"));
	history_done(&h);
	/* applied once: the next boot records nothing more */
	boot_init();
	boot_rootfs();
	h = read_history();
	assert_int_equal(h.n, 2);
	history_done(&h);
}

static const char OOPS_OOT[] =
    "Oops#1 Part1\n"
    "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
    "<4>[    9.120100] Modules linked in: badsec(OE+) thirdmod(OE) vendorgpu(POE) overlay(T) "
    "efi_pstore ext4\n"
    "<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: P           OE      6.1.0-27-amd64 "
    "#1\n"
    "<4>[    9.120300] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
    "<4>[    9.120400] Call Trace:\n"
    "<4>[    9.120500]  <TASK>\n"
    "<4>[    9.120600]  badsec_init+0x9d/0x1000 [badsec]\n"
    "<4>[    9.120650]  ext4_fill_super+0x9d/0x1000 [ext4]\n"
    "<4>[    9.120800]  </TASK>\n"
    "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";

#define OOT_FILE    "/lib/modules/" KVER "/updates/dkms/thirdmod.ko.xz"
#define OOT_FILE2   "/usr/lib/modules/" KVER "/extra/vendor-drv.ko"
#define INTREE_FILE "/lib/modules/" KVER "/kernel/fs/ext4/ext4.ko"
#define QDIR        "/var/lib/lifeline/quarantine/"

/* A crash loop that nothing ends, boot by boot through both phases, with
 * threshold 3 and escalate_after 2: level 1 at failure 4 (the component
 * the panic log names), level 2 at 6 (every component), level 3 at 8
 * (plus third-party modules: the panic log's O/E/P ones and the files of
 * the out-of-tree module directories), give-up at 10; then clear. At
 * every boot: counters, decision, module blocks in the record and in
 * /run/modprobe.d, the quarantine tree, mode, the history, one write. */
/* The crash-loop guard: the decision is in the report spool on the root
 * before the first quarantine step touches a file (cut there: the report
 * is on disk, the file still in place). */
static void test_decision_spooled_before_files_move(void **state)
{
	char spool[4200];
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	unsigned reports = 0;
	int status;
	pid_t pid;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = no\nstore = efi\n"
	    "[report]\nurl = https://collector.invalid/lifeline\n");
	for (unsigned boot = 1; boot <= 3; boot++) {
		boot_init();
		boot_rootfs();
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	}
	boot_init(); /* boot 4: level 1, badsec */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LIFELINE_FAULT", "quarantine-mkdir", 1);
		boot_rootfs();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 99); /* cut inside the quarantine */
	assert_true(exists("/opt/badsec/bin/badsecd"));

	snprintf(spool, sizeof(spool), "%s/var/lib/lifeline/spool", root);
	d = opendir(spool);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char rel[600];
		char *text;

		if (!strstr(de->d_name, ".json"))
			continue;
		snprintf(rel, sizeof(rel), "/var/lib/lifeline/spool/%s", de->d_name);
		text = get(rel);
		assert_non_null(text);
		assert_non_null(strstr(text, "before-quarantine"));
		assert_non_null(strstr(text, "badsec"));
		free(text);
		reports++;
	}
	assert_int_equal(reports, 1);

	/* the next boot finishes the quarantine */
	boot_init();
	boot_rootfs();
	assert_false(exists("/opt/badsec/bin/badsecd"));
}

static void test_every_level_end_to_end(void **state)
{
	struct ctl_ctx ctx = {.root = root, .who = HISTORY_WHO_CTL};
	struct state_record r;
	struct history h;
	char *text;
	int watch;

	(void)state;
	put("/opt/othersec/bin/otherd", "v1\n");
	put(OOT_FILE, "thirdmod\n");
	put(OOT_FILE2, "vendor\n");
	put(INTREE_FILE, "ext4\n");
	watch = var_watch();

	for (unsigned boot = 1; boot <= 11; boot++) {
		static const unsigned level[] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3};
		static const unsigned entries[] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4};

		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS_OOT);
		boot_both_phases_one_write(watch);
		r = load_record();
		assert_int_equal(r.boot_seq, boot);
		assert_int_equal(r.failures, boot);
		assert_int_equal(r.level, level[boot]);
		assert_int_equal(r.mode, boot >= 10  ? STATE_MODE_GIVEN_UP
		                         : boot >= 4 ? STATE_MODE_SAFE
		                                     : STATE_MODE_NORMAL);
		text = get("/run/lifeline/mode");
		assert_string_equal(text, boot >= 10  ? "given-up\n"
		                          : boot >= 4 ? "safe\n"
		                                      : "normal\n");
		free(text);
		h = read_history();
		assert_int_equal(h.n, entries[boot]);
		history_done(&h);
		text = get("/run/modprobe.d/lifeline.conf");
		if (boot < 4)
			assert_null(text);
		else {
			assert_non_null(strstr(text, "install badsec /bin/false\n"));
			/* in-tree modules named in the trace or list: never */
			assert_null(strstr(text, "ext4"));
			assert_null(strstr(text, "overlay"));
			assert_true((strstr(text, "othersec_net") != NULL) == (boot >= 6));
			assert_true((strstr(text, "install thirdmod /bin/false") != NULL) ==
			            (boot >= 8));
			assert_true((strstr(text, "install vendorgpu /bin/false") != NULL) ==
			            (boot >= 8));
			assert_true((strstr(text, "install vendor_drv /bin/false") != NULL) ==
			            (boot >= 8));
		}
		free(text);

		/* the files of each level's components are in the quarantine tree */
		assert_true(exists("/opt/badsec/bin/badsecd") == (boot < 4));
		assert_true(exists(QDIR "1/badsec/files/opt/badsec/bin/badsecd") == (boot >= 4));
		assert_true(exists("/opt/othersec/bin/otherd") == (boot < 6));
		assert_true(exists(QDIR "2/othersec/files/opt/othersec/bin/otherd") == (boot >= 6));
		assert_true(exists(OOT_FILE) == (boot < 8));
		assert_true(exists(QDIR "3/" SUSPECTS_OOT_ID "/files" OOT_FILE) == (boot >= 8));
		assert_true(exists(OOT_FILE2) == (boot < 8));
		assert_true(exists(INTREE_FILE));

		if (boot == 4) {
			assert_int_equal(r.n_modules, 1);
			text = get(QUARANTINE_ACTIVE_FILE);
			assert_string_equal(text, "badsec 1 1\n");
			free(text);
		}
		if (boot == 6) {
			assert_true(state_record_has_module(&r, "othersec_net"));
			assert_false(state_record_has_module(&r, "thirdmod"));
			text = get(QUARANTINE_ACTIVE_FILE);
			assert_string_equal(text, "badsec 1 1\nothersec 2 2\n");
			free(text);
		}
		if (boot == 8) {
			/* the panic log's third-party modules block in the initramfs too */
			assert_true(state_record_has_module(&r, "thirdmod"));
			assert_true(state_record_has_module(&r, "vendorgpu"));
			assert_false(state_record_has_module(&r, "ext4"));
			text = get(QUARANTINE_ACTIVE_FILE);
			assert_string_equal(text,
			                    "badsec 1 1\nothersec 2 2\n" SUSPECTS_OOT_ID " 3 3\n");
			free(text);
			text = get(QUARANTINE_MODULES_FILE);
			assert_string_equal(text, "thirdmod\nvendorgpu\nvendor_drv\n");
			free(text);
		}
	}
	close(watch);

	h = read_history();
	assert_int_equal(h.n, 4);
	static const char *const actions[] = {"escalate", "escalate", "escalate", "give-up"};
	static const unsigned boots[] = {4, 6, 8, 10};
	for (unsigned i = 0; i < 4; i++) {
		assert_string_equal(h.entries[i].action, actions[i]);
		assert_string_equal(h.entries[i].who, "boot");
		assert_int_equal(h.entries[i].boot_seq, boots[i]);
		assert_int_equal(h.entries[i].level, i < 3 ? i + 1 : 3);
		assert_true(strv_has_substring(h.entries[i].evidence,
		                               "RIP: 0010:badsec_crash+0x5/0x10 [badsec]"));
	}
	assert_non_null(strstr(h.entries[0].reason, "RIP is in module badsec"));
	assert_true(strv_contains(h.entries[0].components, "badsec"));
	assert_true(strv_contains(h.entries[0].modules, "badsec"));
	assert_true(strv_has_substring(h.entries[0].files, "badsec"));
	assert_true(strv_contains(h.entries[1].components, "othersec"));
	assert_true(strv_contains(h.entries[2].components, SUSPECTS_OOT_ID));
	assert_true(strv_contains(h.entries[2].modules, "thirdmod"));
	assert_true(strv_contains(h.entries[2].modules, "vendor_drv"));
	assert_string_equal(h.entries[3].mode, "given-up");
	history_done(&h);

	/* clear puts every file back, out-of-tree modules included */
	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	assert_true(exists(OOT_FILE));
	assert_true(exists(OOT_FILE2));
	assert_true(exists("/opt/badsec/bin/badsecd"));
	assert_true(exists("/opt/othersec/bin/otherd"));
	assert_false(exists(QUARANTINE_MODULES_FILE));
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	r = load_record();
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_equal(r.n_modules, 0);
	h = read_history();
	assert_int_equal(h.n, 5);
	assert_string_equal(h.entries[4].action, "clear");
	assert_string_equal(h.entries[4].who, "lifelinectl");
	assert_string_equal(h.entries[4].mode, "normal");
	assert_true(strv_contains(h.entries[4].components, SUSPECTS_OOT_ID));
	history_done(&h);
}

/* ------------------------------------------------ repeat-crash fast path */

/* A crash record of the boot before boot n (1-based), as efi-pstore names
 * it: id = (seconds * 100 + part) * 1000 + dump number; each boot's crash
 * has its own time. */
static void put_crash(unsigned n, const char *text)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "/sys/fs/pstore/dmesg-efi-%llu",
	         ((1733000000ull + 97ull * n) * 100ull + 1ull) * 1000ull + 1ull);
	put(rel, text);
}

/* boot_init() with its log (stderr) returned. */
static char *boot_init_log(void)
{
	char path[4200];
	char *text = NULL;
	int fd, saved;

	fflush(stderr);
	snprintf(path, sizeof(path), "%s/init-log.XXXXXX", root);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	boot_init();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	assert_int_equal(read_full_file(path, 1 << 20, &text, NULL), 0);
	unlink(path);
	fputs(text, stderr); /* kept in the test log */
	return text;
}

/* An oops at the RIP rip ("func+0x../0x.. [mod]"), in the 6.1 format. */
static char *oops_at(const char *rip, const char *modules)
{
	char *t = NULL;

	assert_true(
	    asprintf(&t,
	             "Oops#1 Part1\n"
	             "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: "
	             "0000000000000000\n"
	             "<4>[    9.120100] Modules linked in: %s\n"
	             "<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           "
	             "OE      6.1.0-27-amd64 #1  Debian 6.1.115-1\n"
	             "<4>[    9.120300] RIP: 0010:%s\n"
	             "<4>[    9.120400] Call Trace:\n"
	             "<4>[    9.120500]  <TASK>\n"
	             "<4>[    9.120700]  do_one_initcall+0x56/0x220\n"
	             "<4>[    9.120800]  </TASK>\n"
	             "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n",
	             modules, rip) > 0);
	return t;
}

/* Boots 1 and 2 panic in badsec_crash (module badsec): boot 3 enters
 * safe mode level 1 with threshold 5, and says why on the console, in
 * /run/lifeline/state, the history and the decision report. */
static void test_repeat_crash_enters_safe_mode_at_boot_3(void **state)
{
	_cleanup_free_ char *log = NULL, *runstate = NULL, *report = NULL;
	struct state_record r;
	struct history h;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 5\nescalate_after = 2\nrepeat_crash = yes\nstore = efi\n"
	    "[report]\nurl = https://collector.invalid/lifeline\n");
	boot_init(); /* boot 1 */
	boot_rootfs();
	put_crash(2, OOPS);
	boot_init(); /* boot 2: the first panic, no decision */
	boot_rootfs();
	r = load_record();
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_int_not_equal(r.panic_sig, 0);
	put_crash(3, OOPS);
	log = boot_init_log(); /* boot 3 */
	r = load_record();
	assert_int_equal(r.failures, 3);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	assert_true(state_record_has_module(&r, "badsec"));
	assert_non_null(strstr(log, "boot 3: repeat crash: boots 1 and 2 both crashed in "
	                            "badsec_crash (module badsec); entering safe mode level 1 "
	                            "before threshold 5 (repeat_crash=yes); quarantine: badsec"));
	runstate = get("/run/lifeline/state");
	assert_non_null(strstr(runstate, "\ntrigger=repeat-crash\n"));
	assert_non_null(strstr(runstate, "\ntrigger_reason=boots 1 and 2 both crashed in "
	                                 "badsec_crash (module badsec); level 1 before threshold "
	                                 "5 (repeat_crash=yes)\n"));
	boot_rootfs();
	assert_false(exists("/opt/badsec/bin/badsecd"));

	h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "escalate");
	assert_string_equal(h.entries[0].trigger, "repeat-crash");
	assert_non_null(strstr(h.entries[0].reason, "repeat crash: boots 1 and 2 both crashed in "
	                                            "badsec_crash (module badsec)"));
	assert_non_null(strstr(h.entries[0].reason, "RIP is in module badsec"));
	history_done(&h);
	report = spooled_report();
	assert_non_null(strstr(report, "\"trigger\":\"repeat-crash\""));
	assert_non_null(strstr(report, "\"trigger_reason\":\"boots 1 and 2 both crashed in "));
}

/* With the fast path on, a crash that gives it nothing still waits for
 * the threshold (3: level 1 at boot 4): the kernel's own code (ext4)
 * crashing at one place every boot; a third-party crash whose place
 * changes every boot; identical third-party crashes with a hang in
 * between (at boots 1, 3, 4: boot 4 is safe mode by the count anyway, so
 * threshold 4 here); and repeat_crash = no. The history says "threshold". */
static void run_crash_loop(const char *conf, const char *const *crashes, unsigned n,
                           unsigned want_boot)
{
	struct history h;

	put("/etc/lifeline/lifeline.conf", conf);
	tu_var_reset(var_path);
	for (unsigned boot = 1; boot <= n; boot++) {
		struct state_record r;

		if (crashes[boot - 1])
			put_crash(boot, crashes[boot - 1]);
		boot_init();
		boot_rootfs();
		r = load_record();
		if (r.level != (boot >= want_boot ? 1 : 0))
			fail_msg("boot %u: level %u, want safe mode from boot %u", boot, r.level,
			         want_boot);
	}
	h = read_history();
	assert_true(h.n >= 1);
	assert_string_equal(h.entries[h.n - 1].action, "escalate");
	assert_string_equal(h.entries[h.n - 1].trigger, "threshold");
	history_done(&h);
}

static void test_repeat_crash_waits_when_the_crash_gives_nothing(void **state)
{
	_cleanup_free_ char *ext4 =
	    oops_at("ext4_map_blocks+0x1a/0x5e0 [ext4]", "badsec(OE) ext4 efi_pstore");
	_cleanup_free_ char *other =
	    oops_at("badsec_scan+0x1f/0x40 [badsec]", "badsec(OE) ext4 efi_pstore");
	const char *const in_tree[] = {NULL, ext4, ext4, ext4, ext4};
	const char *const changing[] = {NULL, OOPS, other, OOPS, other};
	const char *const hang[] = {NULL, OOPS, NULL, OOPS, OOPS};
	const char *const same[] = {NULL, OOPS, OOPS, OOPS, OOPS};
	static const char on[] =
	    "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = yes\nstore = efi\n";

	(void)state;
	run_crash_loop(on, in_tree, 5, 4);
	tu_rm_rf(root);
	assert_int_equal(setup_root(NULL), 0);
	run_crash_loop(on, changing, 5, 4);
	tu_rm_rf(root);
	assert_int_equal(setup_root(NULL), 0);
	run_crash_loop("[boot]\nthreshold = 4\nescalate_after = 2\nrepeat_crash = yes\nstore = "
	               "efi\n",
	               hang, 5, 5);
	tu_rm_rf(root);
	assert_int_equal(setup_root(NULL), 0);
	run_crash_loop(CONF_THRESHOLD, same, 5, 4);
}

/* Boot 1 is blessed and its inventory kept as the last good (lifelined's
 * part, by hand here); othersec's binary changes; boots 2 and 3 panic at
 * one place in an eBPF program, run by a task (modprobe) no component
 * owns, so the panic names no component. Boot 4's init phase has run
 * when this returns, its rootfs phase not. */
static char *bless_change_and_crash_twice(const char *conf)
{
	char *oops = oops_at("bpf_prog_3c9b5b0ab6cc8b6e_exec_probe+0x2fa/0x49c", "efi_pstore ext4");
	struct ctl_ctx ctx = {.root = root};

	put("/etc/lifeline/lifeline.conf", conf);
	put("/opt/othersec/bin/otherd", "v1\n");
	boot_init(); /* boot 1 */
	boot_rootfs();
	assert_int_equal(ctl_bless(&ctx), CTL_EXIT_OK);
	take_last_good();
	put("/opt/othersec/bin/otherd", "v2\n");
	for (unsigned boot = 2; boot <= 3; boot++) {
		boot_init();
		boot_rootfs();
		assert_int_equal(load_record().level, 0);
		put_crash(boot + 1, oops); /* this boot's panic, read by the next */
	}
	boot_init(); /* boot 4 */
	return oops;
}

/* The fast path escalates (boot 4, failures 3, threshold 3) but the panic
 * names no component, so the root's inventory diff picks (othersec) and
 * writes the reason: the fast path's sentence stays in front of it, in
 * /run/lifeline/state, the history and the decision report. */
static void test_repeat_crash_reason_survives_the_inventory_pick(void **state)
{
	static const char repeat[] = "repeat crash: boots 2 and 3 both crashed in eBPF program "
	                             "exec_probe; level 1 before threshold 3 (repeat_crash=yes); ";
	static const char pick[] = "no panic log named a component; changed since the last good "
	                           "boot: othersec; quarantined: othersec";
	_cleanup_free_ char *oops = NULL, *active = NULL, *runstate = NULL, *report = NULL,
	                    *want = NULL;
	struct state_record r;
	struct history h;

	(void)state;
	assert_true(asprintf(&want, "%s%s", repeat, pick) > 0);
	oops = bless_change_and_crash_twice(
	    "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = yes\nstore = efi\n"
	    "[report]\nurl = https://collector.invalid/lifeline\n");
	r = load_record();
	assert_int_equal(r.boot_seq, 4);
	assert_int_equal(r.failures, 3);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	/* no component named: the initramfs blocks them all */
	assert_true(state_record_has_module(&r, "badsec"));
	assert_true(state_record_has_module(&r, "othersec"));
	boot_rootfs();

	/* the inventory pick: othersec (changed), not badsec */
	active = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(active);
	assert_string_equal(active, "othersec 1 1\n");
	assert_false(exists("/opt/othersec/bin/otherd"));
	assert_true(exists("/opt/badsec/bin/badsecd"));

	runstate = get("/run/lifeline/state");
	assert_non_null(runstate);
	assert_non_null(strstr(runstate, "\ntrigger=repeat-crash\n"));
	{
		const char *line = strstr(runstate, "\nreason=");

		assert_non_null(line);
		line += strlen("\nreason=");
		assert_int_equal(strncmp(line, repeat, strlen(repeat)), 0);
		assert_int_equal(strncmp(line, want, strlen(want)), 0);
		assert_int_equal(line[strlen(want)], '\n');
	}

	h = read_history();
	assert_int_equal(h.n, 2);
	assert_string_equal(h.entries[0].action, "bless");
	assert_string_equal(h.entries[1].action, "escalate");
	assert_int_equal(h.entries[1].boot_seq, 4);
	assert_int_equal(h.entries[1].level, 1);
	assert_string_equal(h.entries[1].trigger, "repeat-crash");
	assert_string_equal(h.entries[1].reason, want);
	assert_true(strv_contains(h.entries[1].components, "othersec"));
	assert_false(strv_contains(h.entries[1].components, "badsec"));
	history_done(&h);

	report = spooled_report();
	assert_non_null(strstr(report, "\"trigger\":\"repeat-crash\""));
	assert_non_null(strstr(report, "\"reason\":\"repeat crash: boots 2 and 3 both crashed in "
	                               "eBPF program exec_probe; "));
}

/* The same boots with repeat_crash = no: boot 4 waits for the threshold;
 * boot 5 escalates by it, the same inventory pick, and the reason has no
 * fast-path sentence. */
static void test_no_repeat_crash_waits_before_the_inventory_pick(void **state)
{
	_cleanup_free_ char *oops = NULL, *text = NULL;
	struct state_record r;
	struct history h;

	(void)state;
	oops = bless_change_and_crash_twice(CONF_THRESHOLD);
	r = load_record();
	assert_int_equal(r.failures, 3);
	assert_int_equal(r.level, 0);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	text = get("/run/lifeline/state");
	assert_non_null(text);
	assert_null(strstr(text, "trigger"));
	assert_null(strstr(text, "repeat"));
	free(text);
	boot_rootfs();
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	assert_true(exists("/opt/othersec/bin/otherd"));

	put_crash(5, oops);
	boot_init(); /* boot 5: failures 4 > threshold 3 */
	boot_rootfs();
	r = load_record();
	assert_int_equal(r.level, 1);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "othersec 1 1\n");
	h = read_history();
	assert_int_equal(h.n, 2);
	assert_string_equal(h.entries[1].action, "escalate");
	assert_int_equal(h.entries[1].boot_seq, 5);
	assert_string_equal(h.entries[1].trigger, "threshold");
	assert_string_equal(h.entries[1].reason,
	                    "no panic log named a component; changed since the last good boot: "
	                    "othersec; quarantined: othersec");
	history_done(&h);
}

/* Boots 2 and 3 panic at one place in "oot", a module that is only out
 * of tree (taint O) and that no component owns (a GPU driver, DKMS zfs):
 * no signature, so boot 3 (failures 3) stays at level 0 with no trigger
 * even with repeat_crash = yes, and boot 4 escalates by the threshold. */
static void test_repeat_crash_ignores_an_unowned_out_of_tree_module(void **state)
{
	_cleanup_free_ char *oops = oops_at("oot_crash+0x5/0x10 [oot]", "oot(O) efi_pstore ext4");
	_cleanup_free_ char *log = NULL, *runstate = NULL;
	struct state_record r;
	struct history h;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = yes\nstore = efi\n");
	for (unsigned boot = 1; boot <= 2; boot++) {
		boot_init();
		boot_rootfs();
		put_crash(boot + 1, oops);
	}
	log = boot_init_log(); /* boot 3 */
	r = load_record();
	assert_int_equal(r.failures, 3);
	assert_int_equal(r.panic_sig, 0);
	assert_int_equal(r.level, 0);
	assert_int_equal(r.mode, STATE_MODE_NORMAL);
	assert_null(strstr(log, "repeat crash"));
	runstate = get("/run/lifeline/state");
	assert_non_null(runstate);
	assert_null(strstr(runstate, "trigger"));
	boot_rootfs();
	assert_false(exists(QUARANTINE_ACTIVE_FILE));

	put_crash(4, oops);
	boot_init(); /* boot 4: failures 4 > threshold 3 */
	boot_rootfs();
	r = load_record();
	assert_int_equal(r.failures, 4);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "escalate");
	assert_int_equal(h.entries[0].boot_seq, 4);
	assert_string_equal(h.entries[0].trigger, "threshold");
	history_done(&h);
}

/* max_level = 1: level 1 at boot 4 as usual; where level 2 would come
 * (boot 6), the machine gives up instead: given-up, level 1, nothing
 * more quarantined (othersec stays), and the console, history and
 * /run/lifeline/state say max_level did it. */
static void test_max_level_gives_up_instead_of_level_2(void **state)
{
	_cleanup_free_ char *log = NULL, *runstate = NULL;
	struct state_record r;
	struct history h;

	(void)state;
	put("/opt/othersec/bin/otherd", "v1\n");
	put("/etc/lifeline/lifeline.conf", "[boot]\nthreshold = 3\nescalate_after = 2\nmax_level = "
	                                   "1\nrepeat_crash = no\nstore = efi\n");
	for (unsigned boot = 1; boot <= 5; boot++) {
		put_crash(boot, OOPS);
		boot_init();
		boot_rootfs();
	}
	r = load_record();
	assert_int_equal(r.level, 1);
	assert_int_equal(r.mode, STATE_MODE_SAFE);
	put_crash(6, OOPS);
	log = boot_init_log();
	assert_non_null(strstr(log, "6 consecutive failed boots at level 1, the highest "
	                            "max_level=1 allows: lifeline gives up"));
	runstate = get("/run/lifeline/state");
	assert_non_null(strstr(runstate, "\naction=give-up\n"));
	assert_non_null(strstr(runstate, "\ntrigger=max-level\n"));
	boot_rootfs();
	r = load_record();
	assert_int_equal(r.mode, STATE_MODE_GIVEN_UP);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.generation, 1);
	assert_false(state_record_has_module(&r, "othersec"));
	assert_true(exists("/opt/othersec/bin/otherd"));
	assert_false(exists("/opt/badsec/bin/badsecd"));

	h = read_history();
	assert_int_equal(h.n, 2);
	assert_string_equal(h.entries[0].action, "escalate");
	assert_string_equal(h.entries[0].trigger, "threshold");
	assert_string_equal(h.entries[1].action, "give-up");
	assert_string_equal(h.entries[1].trigger, "max-level");
	assert_string_equal(h.entries[1].mode, "given-up");
	assert_non_null(strstr(h.entries[1].reason, "the highest max_level allows"));
	history_done(&h);
}

/* An explicit [boot] state_file in the initramfs: on the initramfs's own
 * filesystem it would be a file in memory, every boot counted as the
 * first; it counts only when it lies on another (mounted) filesystem. */
static void test_state_file_on_the_initramfs_own_filesystem_is_refused(void **state)
{
	char dir[4200], path[4300];
	struct stat st;

	(void)state;
	assert_int_equal(tu_mkdtemp(dir, sizeof(dir), "sf"), 0);
	assert_int_equal(stat(dir, &st), 0);
	snprintf(path, sizeof(path), "%s/not/yet/made/state.bin", dir);
	/* the nearest existing folder is on root_dev: refused */
	assert_false(boot_path_off_device(path, st.st_dev));
	/* on another device: reachable */
	assert_true(boot_path_off_device(path, st.st_dev + 1));
	/* /proc is always another filesystem than the one of a temp dir */
	assert_true(boot_path_off_device("/proc/self/lifeline/state.bin", st.st_dev));
	/* a relative path that names nothing: refused */
	assert_false(boot_path_off_device("no-such-relative-folder-7f3a/state.bin", st.st_dev + 1));
	tu_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_file_on_the_initramfs_own_filesystem_is_refused),
	    cmocka_unit_test_setup_teardown(
	        test_level1_degrades_a_product_whose_kernel_half_crashed, setup_root,
	        teardown_root),
	    cmocka_unit_test_setup_teardown(test_clear_undoes_a_degrade_exactly, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(
	        test_lost_level2_decision_quarantines_a_degraded_component_whole, setup_root,
	        teardown_root),
	    cmocka_unit_test_setup_teardown(
	        test_quarantine_by_hand_of_a_degraded_component_is_whole, setup_root,
	        teardown_root),
	    cmocka_unit_test_setup_teardown(test_a_degrade_without_kernel_content_is_done_once,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_a_degrade_that_cannot_apply_quarantines_instead,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_repeat_crash_enters_safe_mode_at_boot_3,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_repeat_crash_waits_when_the_crash_gives_nothing,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_repeat_crash_reason_survives_the_inventory_pick,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_no_repeat_crash_waits_before_the_inventory_pick,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_repeat_crash_ignores_an_unowned_out_of_tree_module,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_max_level_gives_up_instead_of_level_2, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_crash_loop_quarantines_module_named_by_pstore,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_bless_and_clear_return_to_normal, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_corrupt_record_is_replaced_and_counting_resumes,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(
	        test_pstore_without_known_component_still_enters_safe_mode, setup_root,
	        teardown_root),
	    cmocka_unit_test_setup_teardown(test_missing_config_uses_defaults, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_rootfs_phase_without_root_carries_on, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_level1_without_pstore_uses_inventory_diff,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_every_level_end_to_end, setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_decision_spooled_before_files_move, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_undurable_decision_is_finished_by_the_next_boot,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(
	        test_undurable_level2_decision_quarantines_every_component, setup_root,
	        teardown_root),
	    cmocka_unit_test_setup_teardown(
	        test_undurable_inventory_decision_is_picked_by_the_next_boot, setup_root,
	        teardown_root),
	    cmocka_unit_test_setup_teardown(test_quarantine_by_hand_is_applied_and_recorded,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(
	        test_quarantine_then_clear_by_hand_is_not_a_lost_decision, setup_root,
	        teardown_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
