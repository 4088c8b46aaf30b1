/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Level 1's recency pick (agent/inventory/recency.h) on real files in a
 * temp root, and through the boot phases: the newest component is picked
 * and an older one left alone, two changed within the window both, a
 * component with no file never; module and unit files count, the
 * kernel's own modules and symlinks out of the root do not; recency is
 * not used when a panic log exists or a last good inventory does.
 *
 * ctime cannot be set from user space, so every fixture file has "now"
 * as its ctime: this program links its own recency_clock_ns() (the
 * library's is weak) that puts "now" in 2100, and sets mtimes relative
 * to it, so the mtimes are what tells the components apart.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <json-c/json.h>

#include "agent/boot/boot.h"
#include "agent/conf/components.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/history.h"
#include "agent/decision/runstate.h"
#include "agent/inventory/inventory.h"
#include "agent/inventory/recency.h"
#include "agent/quarantine/quarantine.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

#define KVER "6.1.0-lifeline-test"
/* 2100-01-01 00:00:00 UTC: later than any fixture file's ctime */
#define NOW_SEC INT64_C(4102444800)
#define NOW_NS  (NOW_SEC * 1000000000)

int64_t recency_clock_ns(void)
{
	return NOW_NS;
}

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

/* mtime (and atime) of root + rel: sec_before seconds before NOW; the
 * link itself for a symlink. */
static void age(const char *rel, int64_t sec_before)
{
	char p[8192];
	struct timespec ts[2] = {{.tv_sec = (time_t)(NOW_SEC - sec_before)},
	                         {.tv_sec = (time_t)(NOW_SEC - sec_before)}};

	assert_true((size_t)snprintf(p, sizeof(p), "%s%s", root, rel) < sizeof(p));
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void put_aged(const char *rel, int64_t sec_before)
{
	put(rel, "x\n");
	age(rel, sec_before);
}

static int setup(void **state)
{
	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "recency-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	tu_var_reset(var_path);
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nstore = efi\n");
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nvendor = BadSec Security\nmodules = badsec*\nunits = badsec.service\n"
	    "files = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*\n");
	put("/etc/lifeline/components.d/othersec.conf",
	    "[othersec]\nmodules = othersec\nunits = othersec.service\n"
	    "files = /opt/othersec/bin/*\n");
	put("/lib/modules/" KVER "/modules.dep",
	    "kernel/fs/ext4/ext4.ko.xz:\n"
	    "extra/badsec_core.ko:\n"
	    "updates/dkms/badsec-net.ko.xz: extra/badsec_core.ko\n"
	    "updates/othersec.ko:\n");
	put("/lib/modules/" KVER "/modules.builtin", "kernel/drivers/block/virtio_blk.ko\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_rm_rf(root);
}

static struct recency *scan(void)
{
	struct component_set set = {0};
	struct recency *rec = NULL;

	assert_int_equal(components_load(root, &set, NULL), 0);
	assert_int_equal(recency_scan(root, &set, KVER, NOW_NS, &rec), 0);
	components_done(&set);
	return rec;
}

static const struct recency_component *find(const struct recency *rec, const char *id)
{
	for (size_t i = 0; i < rec->n_components; i++)
		if (streq(rec->components[i].id, id))
			return &rec->components[i];
	fail_msg("component %s not scanned", id);
	return NULL;
}

static char **pick(const struct recency *rec)
{
	char **ids = NULL;

	assert_int_equal(recency_pick(rec, RECENCY_WINDOW_NS, &ids), 0);
	return ids;
}

static bool strv_has_substring(char **l, const char *needle)
{
	STRV_FOREACH (s, l)
		if (strstr(*s, needle))
			return true;
	return false;
}

/* ---------------------------------------------------------------------- */
/* The ranking on files */

static void test_newest_component_is_picked(void **state)
{
	struct recency *rec;
	char **ids, *reason = NULL, **lines = NULL;

	(void)state;
	put_aged("/opt/badsec/bin/badsecd", 3 * 86400);
	put_aged("/opt/badsec/content/channel-291.bin", 60);
	put_aged("/opt/othersec/bin/otherd", 2 * 86400);
	rec = scan();
	assert_int_equal(find(rec, "badsec")->n_files, 2);
	assert_string_equal(find(rec, "badsec")->newest_path,
	                    "/opt/badsec/content/channel-291.bin");
	assert_true(find(rec, "badsec")->newest_ns == NOW_NS - INT64_C(60) * 1000000000);
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "badsec");

	assert_int_equal(recency_explain(rec, ids, &reason, &lines), 0);
	assert_string_equal(reason,
	                    "badsec changed most recently "
	                    "(/opt/badsec/content/channel-291.bin, 2099-12-31 23:59:00 UTC)");
	assert_int_equal(strv_length(lines), 2);
	assert_string_equal(lines[0], "recency: badsec: newest change 2099-12-31 23:59:00 UTC "
	                              "(/opt/badsec/content/channel-291.bin), picked");
	assert_string_equal(lines[1], "recency: othersec: newest change 2099-12-30 00:00:00 UTC "
	                              "(/opt/othersec/bin/otherd), older: left alone");
	free(reason);
	strv_free(lines);
	strv_free(ids);
	recency_free(rec);

	/* othersec updated since, badsec's content a day old: othersec now */
	age("/opt/othersec/bin/otherd", 10);
	age("/opt/badsec/content/channel-291.bin", 86400);
	rec = scan();
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "othersec");
	strv_free(ids);
	recency_free(rec);
}

/* One update: changes at most RECENCY_WINDOW_SEC apart are both picked,
 * newest first; a third one a minute outside the window is not. */
static void test_changes_within_the_window_are_all_picked(void **state)
{
	struct recency *rec;
	char **ids, *reason = NULL;

	(void)state;
	put("/etc/lifeline/components.d/thirdsec.conf", "[thirdsec]\nfiles = /opt/third/*\n");
	put_aged("/opt/othersec/bin/otherd", 100);
	put_aged("/opt/badsec/bin/badsecd", 100 + RECENCY_WINDOW_SEC); /* at the edge: in */
	put_aged("/opt/third/thirdd", 100 + RECENCY_WINDOW_SEC + 60);
	rec = scan();
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 2);
	assert_string_equal(ids[0], "othersec");
	assert_string_equal(ids[1], "badsec");
	assert_int_equal(recency_explain(rec, ids, &reason, NULL), 0);
	assert_non_null(
	    strstr(reason, "othersec changed most recently (/opt/othersec/bin/otherd, "));
	assert_non_null(strstr(reason, ", and badsec within 10 minutes of it "
	                               "(/opt/badsec/bin/badsecd, "));
	assert_null(strstr(reason, "thirdsec"));
	free(reason);
	strv_free(ids);
	recency_free(rec);
}

/* Nothing of a component on the machine: never picked, however its id
 * sorts; with no component on the machine at all, nothing is. */
static void test_component_without_files_is_never_picked(void **state)
{
	struct recency *rec;
	char **ids, *reason = NULL, **lines = NULL;

	(void)state;
	put("/etc/lifeline/components.d/aaa.conf",
	    "[aaa]\nmodules = aaa_mod\nunits = aaa.service\nfiles = /opt/aaa/*\n");
	rec = scan();
	assert_int_equal(find(rec, "aaa")->n_files, 0);
	ids = pick(rec);
	assert_null(ids); /* none has a file */
	assert_int_equal(recency_explain(rec, ids, &reason, &lines), 0);
	assert_string_equal(reason, "no component has a file on this machine");
	assert_true(strv_contains(lines, "recency: aaa: no file of it on this machine"));
	free(reason);
	strv_free(lines);
	recency_free(rec);

	put_aged("/opt/othersec/bin/otherd", 5 * 365 * 86400); /* years old */
	rec = scan();
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "othersec");
	strv_free(ids);
	recency_free(rec);
}

/* Equal times: ordered by id, the same list every time. */
static void test_ties_are_ordered_by_id(void **state)
{
	struct recency *rec;
	char **ids;

	(void)state;
	put_aged("/opt/othersec/bin/otherd", 3600);
	put_aged("/opt/badsec/bin/badsecd", 3600);
	for (int i = 0; i < 3; i++) {
		rec = scan();
		ids = pick(rec);
		assert_int_equal(strv_length(ids), 2);
		assert_string_equal(ids[0], "badsec");
		assert_string_equal(ids[1], "othersec");
		strv_free(ids);
		recency_free(rec);
	}
}

/* A component's module files (modules.dep) and unit files count; a
 * module of the kernel's own tree never does, whatever the pattern. */
static void test_module_and_unit_files_count(void **state)
{
	struct recency *rec;
	char **ids;

	(void)state;
	put_aged("/opt/badsec/bin/badsecd", 7200);
	put_aged("/opt/othersec/bin/otherd", 3600);
	/* badsec's DKMS module was rebuilt a minute ago */
	put_aged("/lib/modules/" KVER "/updates/dkms/badsec-net.ko.xz", 60);
	rec = scan();
	assert_string_equal(find(rec, "badsec")->newest_path,
	                    "/lib/modules/" KVER "/updates/dkms/badsec-net.ko.xz");
	assert_int_equal(find(rec, "badsec")->n_files, 2);
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "badsec");
	strv_free(ids);
	recency_free(rec);

	/* a day later, othersec's unit file changed */
	age("/lib/modules/" KVER "/updates/dkms/badsec-net.ko.xz", 86400);
	age("/opt/badsec/bin/badsecd", 86400);
	age("/opt/othersec/bin/otherd", 86400);
	put_aged("/etc/systemd/system/othersec.service", 30);
	rec = scan();
	assert_string_equal(find(rec, "othersec")->newest_path,
	                    "/etc/systemd/system/othersec.service");
	assert_int_equal(find(rec, "othersec")->n_files, 2);
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "othersec");
	strv_free(ids);
	recency_free(rec);
}

/* A module file of the kernel's own tree never counts, even for a
 * pattern that matches it (the loader refuses such a component: this one
 * is made by hand, as a configuration the loader never gives). */
static void test_in_tree_modules_never_count(void **state)
{
	char *mods[] = {(char *)"hand*", NULL}, *files[] = {(char *)"/opt/hand/*", NULL};
	struct component c = {.id = (char *)"hand", .modules = mods, .files = files};
	struct component_set set = {.items = &c, .n = 1};
	struct recency *rec = NULL;
	char **ids = NULL;

	(void)state;
	put("/lib/modules/" KVER "/modules.dep", "kernel/drivers/misc/hand_intree.ko.xz:\n"
	                                         "updates/hand_oot.ko:\n");
	put_aged("/lib/modules/" KVER "/kernel/drivers/misc/hand_intree.ko.xz", 1);
	assert_int_equal(recency_scan(root, &set, KVER, NOW_NS, &rec), 0);
	assert_int_equal(rec->components[0].n_files, 0);
	assert_int_equal(recency_pick(rec, RECENCY_WINDOW_NS, &ids), 0);
	assert_null(ids);
	recency_free(rec);

	/* the same name out of tree does */
	put_aged("/lib/modules/" KVER "/updates/hand_oot.ko", 5);
	assert_int_equal(recency_scan(root, &set, KVER, NOW_NS, &rec), 0);
	assert_int_equal(rec->components[0].n_files, 1);
	assert_string_equal(rec->components[0].newest_path,
	                    "/lib/modules/" KVER "/updates/hand_oot.ko");
	recency_free(rec);
}

/* Merged /usr: /lib is the root's own link to usr/lib, followed inside
 * the root; the unit file reached through /lib and /usr/lib is one file. */
static void test_merged_usr_is_followed_inside_the_root(void **state)
{
	char from[8192], to[8192];
	struct recency *rec;

	(void)state;
	snprintf(from, sizeof(from), "%s/lib", root);
	snprintf(to, sizeof(to), "rm -rf '%s/lib'", root);
	assert_int_equal(system(to), 0);
	put("/usr/lib/modules/" KVER "/modules.dep", "updates/othersec.ko:\n");
	assert_int_equal(symlink("usr/lib", from), 0);
	put_aged("/usr/lib/modules/" KVER "/updates/othersec.ko", 50);
	put_aged("/usr/lib/systemd/system/othersec.service", 500);
	rec = scan();
	assert_int_equal(find(rec, "othersec")->n_files, 2);
	assert_string_equal(find(rec, "othersec")->newest_path,
	                    "/usr/lib/modules/" KVER "/updates/othersec.ko");
	recency_free(rec);
}

/* A symlink is looked at as itself; a folder symlinked out of the root is
 * never entered, so what lies there neither counts nor makes the
 * component look installed. */
static void test_symlinks_out_of_the_root_are_not_followed(void **state)
{
	char outside[4200], link[8192], cmd[8800];
	struct recency *rec;
	char **ids;

	(void)state;
	snprintf(outside, sizeof(outside), "%s-outside", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/bin' && echo x > '%s/bin/otherd'", outside,
	         outside);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mkdir_p(strcat(strcpy(link, root), "/opt/othersec"), 0755), 0);
	strcat(link, "/bin");
	assert_int_equal(symlink(strcat(strcpy(cmd, outside), "/bin"), link), 0);
	put_aged("/opt/badsec/bin/badsecd", 86400);
	rec = scan();
	assert_int_equal(find(rec, "othersec")->n_files, 0);
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "badsec");
	strv_free(ids);
	recency_free(rec);

	/* a symlink among badsec's files: its own time, never its target's */
	assert_int_equal(symlink("/etc/passwd", strcat(strcpy(link, root), "/opt/badsec/bin/ln")),
	                 0);
	age("/opt/badsec/bin/ln", 20);
	rec = scan();
	assert_string_equal(find(rec, "badsec")->newest_path, "/opt/badsec/bin/ln");
	assert_true(find(rec, "badsec")->newest_ns == NOW_NS - INT64_C(20) * 1000000000);
	recency_free(rec);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", outside);
	assert_int_equal(system(cmd), 0);
}

/* An mtime ahead of the clock is a vendor's clock, not a change here. */
static void test_future_mtime_is_left_out(void **state)
{
	struct recency *rec;
	char **ids;

	(void)state;
	put_aged("/opt/badsec/bin/badsecd", -86400); /* a day in the future */
	put_aged("/opt/othersec/bin/otherd", 3600);
	rec = scan();
	ids = pick(rec);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "othersec");
	assert_true(find(rec, "badsec")->newest_ns < NOW_NS - INT64_C(86400) * 1000000000);
	strv_free(ids);
	recency_free(rec);
}

/* ---------------------------------------------------------------------- */
/* Through the boot phases */

static void boot_init(void)
{
	struct boot_opts o = {.root = root, .kernel_release = KVER};

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

static void wipe_run(void)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/run'", root);
	assert_int_equal(system(cmd), 0);
}

static void failed_boots(int n)
{
	for (int i = 0; i < n; i++) {
		wipe_run();
		boot_init();
		boot_rootfs();
	}
}

static unsigned load_level(void)
{
	struct state_record r;

	assert_int_equal(tu_record_load(&r), 0);
	return r.level;
}

static struct history read_history(void)
{
	struct history h;

	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n_damaged, 0);
	return h;
}

/* What the code between capture_start() and capture_end() logs (stderr,
 * the log's target here), echoed for the test's own output. */
static int captured_saved = -1;

static void capture_start(void)
{
	char path[4200];
	int fd;

	fflush(stderr);
	snprintf(path, sizeof(path), "%s/stderr.log", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	captured_saved = dup(STDERR_FILENO);
	assert_true(captured_saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

static char *capture_end(void)
{
	char *text;

	fflush(stderr);
	assert_int_equal(dup2(captured_saved, STDERR_FILENO), STDERR_FILENO);
	close(captured_saved);
	captured_saved = -1;
	text = get("/stderr.log");
	assert_non_null(text);
	fputs(text, stderr);
	return text;
}

/* The one report spooled for the fleet (the decision's). */
static char *spooled_report(void)
{
	char spool[4200], rel[4400];
	DIR *d;
	struct dirent *de;
	char *text = NULL;

	snprintf(spool, sizeof(spool), "%s/var/lib/lifeline/spool", root);
	d = opendir(spool);
	assert_non_null(d);
	while (!text && (de = readdir(d)))
		if (strstr(de->d_name, ".json")) {
			snprintf(rel, sizeof(rel), "/var/lib/lifeline/spool/%s", de->d_name);
			text = get(rel);
		}
	closedir(d);
	assert_non_null(text);
	return text;
}

static void take_last_good(void)
{
	struct component_set set = {0};
	struct inventory *inv = NULL;

	assert_int_equal(components_load(root, &set, NULL), 0);
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	assert_int_equal(inventory_save(root, inv), 0);
	inventory_free(inv);
	components_done(&set);
}

/* badsec installed a few minutes before the loop began, othersec two
 * days before that. */
static void install_two(void)
{
	put_aged("/opt/badsec/bin/badsecd", 300);
	put_aged("/opt/badsec/content/channel-291.bin", 240);
	put_aged("/opt/othersec/bin/otherd", 2 * 86400);
	put_aged("/etc/systemd/system/othersec.service", 2 * 86400);
}

/* The boot of issue "no empty level": a module that hangs the machine
 * from its first boot after install (no panic log, never blessed) is
 * quarantined at the level-1 boot, the older component left alone. */
static void test_level1_without_evidence_quarantines_the_newest(void **state)
{
	struct history h;
	char *text;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nstore = efi\n"
	    "[report]\nurl = https://collector.invalid/lifeline\n");
	install_two();
	failed_boots(3);
	assert_int_equal(load_level(), 0);
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	failed_boots(1);
	assert_int_equal(load_level(), 1);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	/* badsec's files moved; othersec's where they were */
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_true(exists("/opt/othersec/bin/otherd"));
	assert_true(exists("/etc/systemd/system/othersec.service"));
	/* the real root blocks badsec's modules only: othersec's unblocked */
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install badsec_core /bin/false\n"));
	assert_non_null(strstr(text, "install badsec_net /bin/false\n"));
	assert_null(strstr(text, "othersec"));
	free(text);
	/* the generator's list masks badsec's units only */
	text = get(RUNSTATE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	text = get("/run/lifeline/state");
	assert_non_null(strstr(text, "quarantine=badsec\n"));
	assert_non_null(strstr(text, "reason=no panic log and no last good boot: badsec changed "
	                             "most recently (/opt/badsec/content/channel-291.bin, "
	                             "2099-12-31 23:56:00 UTC)\n"));
	free(text);

	h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "escalate");
	assert_int_equal(h.entries[0].level, 1);
	assert_string_equal(h.entries[0].reason,
	                    "no panic log and no last good boot: badsec changed most recently "
	                    "(/opt/badsec/content/channel-291.bin, 2099-12-31 23:56:00 UTC)");
	assert_true(strv_contains(h.entries[0].components, "badsec"));
	assert_false(strv_contains(h.entries[0].components, "othersec"));
	assert_true(strv_contains(h.entries[0].modules, "badsec_net"));
	assert_false(strv_contains(h.entries[0].modules, "othersec"));
	assert_true(strv_has_substring(
	    h.entries[0].evidence, "recency: othersec: newest change 2099-12-30 00:00:00 UTC "
	                           "(/etc/systemd/system/othersec.service), older: left alone"));
	history_done(&h);
	/* the fleet hears the same reason, before any file moved */
	text = spooled_report();
	assert_non_null(
	    strstr(text, "\"phase\":\"before-quarantine\",\"quarantine\":[\"badsec\"]"));
	assert_non_null(strstr(text, "no panic log and no last good boot: badsec changed most "
	                             "recently (/opt/badsec/content/channel-291.bin, "
	                             "2099-12-31 23:56:00 UTC)"));
	free(text);

	/* the next boot keeps it so, othersec still untouched */
	failed_boots(1);
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(strstr(text, "install badsec_core /bin/false\n"));
	assert_null(strstr(text, "othersec"));
	free(text);
	assert_true(exists("/opt/othersec/bin/otherd"));
}

/* A panic log that names a component: that one, however old. */
static void test_panic_log_wins_over_recency(void **state)
{
	static const char oops[] =
	    "Oops#1 Part1\n"
	    "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	    "<4>[    9.120100] Modules linked in: othersec(OE+) efi_pstore\n"
	    "<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           OE      "
	    "6.1.0-27-amd64 #1  Debian 6.1.115-1\n"
	    "<4>[    9.120300] RIP: 0010:othersec_crash+0x5/0x10 [othersec]\n"
	    "<4>[    9.120400] Call Trace:\n"
	    "<4>[    9.120500]  <TASK>\n"
	    "<4>[    9.120600]  othersec_init+0x9d/0x1000 [othersec]\n"
	    "<4>[    9.120700]  do_one_initcall+0x56/0x220\n"
	    "<4>[    9.120800]  </TASK>\n"
	    "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";
	struct history h;
	char *text;

	(void)state;
	install_two();
	for (int i = 0; i < 4; i++) {
		wipe_run();
		put("/sys/fs/pstore/dmesg-efi-173237123410001", oops);
		boot_init();
		boot_rootfs();
	}
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "othersec 1 1\n");
	free(text);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_non_null(strstr(h.entries[0].reason, "panic log"));
	assert_null(strstr(h.entries[0].reason, "most recently"));
	assert_false(strv_has_substring(h.entries[0].evidence, "recency:"));
	history_done(&h);
}

/* A panic log that names no component points away from them all: no
 * recency pick (level 2 follows if the loop goes on). */
static void test_panic_log_naming_nobody_is_not_recency(void **state)
{
	static const char oops[] =
	    "Oops#1 Part1\n"
	    "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	    "<4>[    9.120100] Modules linked in: efi_pstore\n"
	    "<4>[    9.120200] CPU: 0 PID: 1 Comm: swapper Not tainted 6.1.0-27-amd64 #1\n"
	    "<4>[    9.120300] RIP: 0010:ext4_fill_super+0x5/0x10\n"
	    "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";

	char *text;

	(void)state;
	install_two();
	for (int i = 0; i < 4; i++) {
		wipe_run();
		put("/sys/fs/pstore/dmesg-efi-173237123410001", oops);
		boot_init();
		if (i == 3)
			capture_start();
		boot_rootfs();
	}
	text = capture_end();
	assert_non_null(strstr(text, "the panic log names no configured component and there is "
	                             "no last-good inventory (never blessed): nothing to pick"));
	assert_null(strstr(text, "no panic log"));
	free(text);
	assert_int_equal(load_level(), 1);
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	assert_true(exists("/opt/badsec/bin/badsecd"));
}

/* A last good inventory with a change since: the diff picks (othersec's
 * new binary), not recency (badsec's newer mtime alone is no change). */
static void test_last_good_diff_wins_over_recency(void **state)
{
	struct history h;
	char *text;

	(void)state;
	install_two();
	take_last_good();
	put("/opt/othersec/bin/otherd", "v2\n"); /* new bytes, an hour ago */
	age("/opt/othersec/bin/otherd", 3600);
	age("/opt/badsec/bin/badsecd", 10); /* touched, same bytes */
	failed_boots(4);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "othersec 1 1\n");
	free(text);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_non_null(strstr(h.entries[0].reason, "changed since the last good boot: othersec"));
	assert_false(strv_has_substring(h.entries[0].evidence, "recency:"));
	history_done(&h);
}

/* A last good inventory and nothing changed since: every component's
 * files are as they were at a boot that went well, so none is picked by
 * recency either (the loop's cause lies elsewhere; level 2 follows). */
static void test_empty_last_good_diff_picks_nothing(void **state)
{
	struct history h;

	(void)state;
	install_two();
	take_last_good();
	failed_boots(4);
	assert_int_equal(load_level(), 1);
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	assert_true(exists("/opt/badsec/bin/badsecd"));
	assert_false(exists("/run/modprobe.d/lifeline.conf"));
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_non_null(strstr(h.entries[0].reason, "changed since the last good boot: nothing"));
	history_done(&h);
}

/* Boot 4 decides level 1 (on the panic log oops, when not NULL) and is
 * cut before its rootfs phase; boot 5's initramfs phase runs. */
static void lose_level1_decision(const char *oops)
{
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 5\nstore = efi\n");
	install_two();
	failed_boots(3);
	wipe_run();
	if (oops)
		put("/sys/fs/pstore/dmesg-efi-173237123410001", oops);
	boot_init();
	assert_int_equal(load_level(), 1);
	wipe_run();
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	boot_init();
}

/* The level-1 boot cut before its rootfs phase: the next boot finishes
 * the decision with the same recency pick. badsec's modules are a
 * pattern (badsec*), othersec's a name: the record blocks both
 * components' modules, which the rebuild must read as "every
 * component's" (the inventory or recency pick), not as a panic pick of
 * both. */
static void test_lost_decision_is_finished_by_recency(void **state)
{
	struct history h;
	char *text;

	(void)state;
	lose_level1_decision(NULL);
	capture_start();
	boot_rootfs();
	/* the console says what was picked and why, and nothing that
	 * contradicts it */
	text = capture_end();
	assert_non_null(strstr(text, "safe mode level 1: quarantining badsec: no panic log and "
	                             "no last good boot: badsec changed most recently"));
	assert_null(strstr(text, "nothing to pick"));
	free(text);
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	assert_true(exists("/opt/othersec/bin/otherd"));
	assert_true(exists("/etc/systemd/system/othersec.service"));
	assert_false(exists("/opt/badsec/bin/badsecd"));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install badsec_core /bin/false\n"));
	assert_non_null(strstr(text, "install badsec_net /bin/false\n"));
	assert_null(strstr(text, "othersec"));
	free(text);
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "recover-decision");
	assert_true(strv_contains(h.entries[0].components, "badsec"));
	assert_false(strv_contains(h.entries[0].components, "othersec"));
	assert_non_null(strstr(h.entries[0].reason, "never reached the root"));
	assert_non_null(strstr(h.entries[0].reason, "; no panic log and no last good boot: "
	                                            "badsec changed most recently"));
	history_done(&h);
}

/* The same without the root's module index (a kernel package half
 * removed): the record's names are matched against badsec* as they are,
 * not through an index the root no longer has. */
static void test_lost_decision_without_the_root_module_index(void **state)
{
	char dep[4200], *text;

	(void)state;
	lose_level1_decision(NULL);
	snprintf(dep, sizeof(dep), "%s/lib/modules/" KVER "/modules.dep", root);
	assert_int_equal(unlink(dep), 0);
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	assert_true(exists("/opt/othersec/bin/otherd"));
}

/* A lost panic pick of the component whose modules are a pattern: that
 * component alone, as the panic log said (not the recency pick). */
static void test_lost_panic_pick_of_a_pattern_component(void **state)
{
	static const char oops[] =
	    "Oops#1 Part1\n"
	    "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	    "<4>[    9.120100] Modules linked in: badsec_net(OE+) badsec_core(OE) efi_pstore\n"
	    "<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           OE      "
	    "6.1.0-27-amd64 #1  Debian 6.1.115-1\n"
	    "<4>[    9.120300] RIP: 0010:badsec_net_open+0x5/0x10 [badsec_net]\n"
	    "<4>[    9.120400] Call Trace:\n"
	    "<4>[    9.120500]  <TASK>\n"
	    "<4>[    9.120600]  badsec_net_init+0x9d/0x1000 [badsec_net]\n"
	    "<4>[    9.120700]  do_one_initcall+0x56/0x220\n"
	    "<4>[    9.120800]  </TASK>\n"
	    "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";
	struct history h;
	char *text;

	(void)state;
	/* othersec changed last: a recency pick would take it */
	lose_level1_decision(oops);
	age("/opt/othersec/bin/otherd", 10);
	boot_rootfs();
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	assert_true(exists("/opt/othersec/bin/otherd"));
	h = read_history();
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].action, "recover-decision");
	assert_null(strstr(h.entries[0].reason, "most recently"));
	history_done(&h);
}

/* What `lifelinectl plan` prints, its exit code checked. */
static char *plan(bool json)
{
	char path[4200];
	struct ctl_ctx ctx = {.root = root, .json = json};
	int saved, fd;
	char *out;

	snprintf(path, sizeof(path), "%s/plan.out", root);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	assert_int_equal(ctl_plan(&ctx), CTL_EXIT_OK);
	fflush(stdout);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	out = tu_slurp(path);
	assert_non_null(out);
	unlink(path);
	return out;
}

/* Level 1 of the plan as JSON: how it is chosen, the components. */
static void plan_level1(const char **how, char ***ids, char **reason)
{
	char *out = plan(true);
	json_object *o = json_tokener_parse(out), *levels, *lv, *v, *comps;

	free(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "levels", &levels));
	lv = json_object_array_get_idx(levels, 0);
	assert_true(json_object_object_get_ex(lv, "chosen_by", &v));
	*how = streq(json_object_get_string(v), "recency")          ? "recency"
	       : streq(json_object_get_string(v), "inventory diff") ? "inventory diff"
	       : streq(json_object_get_string(v), "nothing")        ? "nothing"
	                                                            : "other";
	assert_true(json_object_object_get_ex(lv, "reason", &v));
	*reason = strdup(json_object_get_string(v));
	assert_true(json_object_object_get_ex(lv, "components", &comps));
	*ids = NULL;
	for (size_t i = 0; i < json_object_array_length(comps); i++) {
		json_object *c = json_object_array_get_idx(comps, i);

		assert_true(json_object_object_get_ex(c, "component", &v));
		assert_int_equal(strv_extend(ids, json_object_get_string(v)), 0);
	}
	json_object_put(o);
}

/* lifelinectl plan shows the pick level 1 would make now: by recency with
 * no panic log and no last good boot, by the diff once there is one;
 * nothing is changed. */
static void test_plan_shows_the_level1_pick(void **state)
{
	const char *how;
	char **ids, *reason, *text;

	(void)state;
	install_two();
	plan_level1(&how, &ids, &reason);
	assert_string_equal(how, "recency");
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "badsec");
	assert_string_equal(reason, "no panic log and no last good boot: badsec changed most "
	                            "recently (/opt/badsec/content/channel-291.bin, "
	                            "2099-12-31 23:56:00 UTC)");
	strv_free(ids);
	free(reason);
	text = plan(false);
	assert_non_null(strstr(text, "chosen at boot by recency"));
	assert_non_null(strstr(text, "recency: othersec: newest change 2099-12-30 00:00:00 UTC "
	                             "(/etc/systemd/system/othersec.service), older: left alone"));
	free(text);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	assert_false(exists(QUARANTINE_ACTIVE_FILE));

	/* a last good inventory, nothing changed since: nothing */
	take_last_good();
	plan_level1(&how, &ids, &reason);
	assert_string_equal(how, "nothing");
	assert_null(ids);
	assert_non_null(strstr(reason, "changed since the last good boot: nothing"));
	free(reason);

	/* othersec changed since: the diff's pick */
	put("/opt/othersec/bin/otherd", "v2\n");
	plan_level1(&how, &ids, &reason);
	assert_string_equal(how, "inventory diff");
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "othersec");
	strv_free(ids);
	free(reason);
	assert_true(exists("/opt/othersec/bin/otherd"));
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_newest_component_is_picked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changes_within_the_window_are_all_picked, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_component_without_files_is_never_picked, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_ties_are_ordered_by_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_module_and_unit_files_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_tree_modules_never_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_merged_usr_is_followed_inside_the_root, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_out_of_the_root_are_not_followed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_future_mtime_is_left_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_level1_without_evidence_quarantines_the_newest,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_panic_log_wins_over_recency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_panic_log_naming_nobody_is_not_recency, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_last_good_diff_wins_over_recency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_last_good_diff_picks_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_lost_decision_is_finished_by_recency, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_lost_decision_without_the_root_module_index, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_lost_panic_pick_of_a_pattern_component, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plan_shows_the_level1_pick, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
