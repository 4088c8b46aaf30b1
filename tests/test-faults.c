/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resource faults, each with its outcome (README.md "Resource faults"):
 * NVRAM full, a read-only root, a full disk under the spool and under the
 * quarantine, no efivarfs, no /run, a slow and a hanging collector, and
 * the realtime clock set back or forward.
 *
 * Full and read-only filesystems are small tmpfs and read-only bind mounts
 * in a private mount namespace (root only; skipped otherwise). The clock
 * is shifted by defining clock_gettime() and time() in this program (an
 * executable's definitions come first in the symbol lookup): a time
 * namespace would shift only the monotonic and boot-time clocks, which is
 * exactly what must not matter here.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/boot.h"
#include "agent/command/command.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/decision/history.h"
#include "agent/ctl/ctl.h"
#include "agent/quarantine/quarantine.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

/* ---------------------------------------------------------------------- */
/* The realtime clock, shifted by clock_shift seconds */

static long clock_shift;

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static __typeof__(clock_gettime) *real;
	int r;

	if (!real)
		real = (__typeof__(clock_gettime) *)dlsym(RTLD_NEXT, "clock_gettime");
	r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += clock_shift;
	return r;
}

time_t time(time_t *t)
{
	struct timespec ts;
	time_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	if (t)
		*t = now;
	return now;
}

/* ---------------------------------------------------------------------- */
/* Fixtures */

static char base[1024], root[1200], var_path[4096];
static unsigned root_seq;
static bool have_ns;

#define OOPS                                                           \
	"Oops#1 Part1\n"                                               \
	"<4>[    9.120300] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n" \
	"<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n"

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

static void at(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s%s", root, rel);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP || type == FTW_D)
		return rmdir(p) < 0 && errno != ENOENT && errno != EBUSY ? -1 : 0;
	return unlink(p) < 0 && errno != ENOENT ? -1 : 0;
}

static void reset_var(void)
{
	tu_var_reset(var_path);
}

static void new_root(void)
{
	snprintf(root, sizeof(root), "%s/r%u", base, ++root_seq);
	assert_int_equal(mkdir_p(root, 0755), 0);
	reset_var();
}

static void drop_root(void)
{
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Fills the filesystem of the directory p up to its last block (p/filler). */
static void fill_up(const char *p)
{
	char fill[4200];
	int fd;

	snprintf(fill, sizeof(fill), "%s/filler", p);
	fd = open(fill, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	memset(fill, 'x', 4096);
	while (write(fd, fill, 4096) > 0)
		;
	close(fd);
}

/* A tmpfs of size bytes mounted at the directory p, full (fill_up). */
static void mount_full_tmpfs(const char *p, const char *size)
{
	assert_int_equal(mount("tmpfs", p, "tmpfs", 0, size), 0);
	fill_up(p);
}

/* A full tmpfs of size bytes at root/rel (mount_full_tmpfs). */
static void full_tmpfs(const char *rel, const char *size)
{
	char p[4096];

	at(p, sizeof(p), rel);
	assert_int_equal(mkdir_p(p, 0755), 0);
	mount_full_tmpfs(p, size);
}

static void free_tmpfs(const char *rel)
{
	char p[4096];

	at(p, sizeof(p), rel);
	strcat(p, "/filler");
	assert_int_equal(unlink(p), 0);
}

static void unmount(const char *rel)
{
	char p[4096];

	at(p, sizeof(p), rel);
	assert_int_equal(umount2(p, MNT_DETACH), 0);
}

/* No temp file, partial copy or empty file left anywhere under dir. */
static unsigned n_junk;
static char junk_first[1024];

static int junk_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	const char *name = p + ftw->base;

	if (type == FTW_F &&
	    (strstr(name, ".tmp-") || (st->st_size == 0 && !streq(name, "filler")))) {
		if (n_junk++ == 0)
			snprintf(junk_first, sizeof(junk_first), "%s", p);
	}
	return 0;
}

static void assert_no_junk(const char *rel)
{
	char p[4096];

	at(p, sizeof(p), rel);
	n_junk = 0;
	if (access(p, F_OK) == 0)
		assert_int_equal(nftw(p, junk_one, 16, FTW_PHYS), 0);
	if (n_junk)
		fail_msg("%u temp or empty file(s) left, e.g. %s", n_junk, junk_first);
}

static void config(const char *store_lines)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = no\n%s", store_lines);
	put("/etc/lifeline/lifeline.conf", text);
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nvendor = BadSec Security\nmodules = badsec\nunits = badsec.service\n"
	    "files = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n");
	put("/opt/badsec/bin/badsecd", "#!/bin/sh\necho badsec\n");
	put("/opt/badsec/content/c-1.bin", "channel 1");
}

static int boot_init_rc(void)
{
	struct boot_opts o = {.root = root};

	return boot_phase_init(&o);
}

static int boot_rootfs_rc(void)
{
	char run[4200];
	struct boot_opts o = {.root = root, .run_dir = run};

	snprintf(run, sizeof(run), "%s/run/lifeline", root);
	return boot_phase_rootfs(&o);
}

static void wipe_run(void)
{
	char p[4096];

	at(p, sizeof(p), "/run");
	(void)nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct state_record load_record(int *ret)
{
	struct state_record r;

	*ret = tu_record_load(&r);
	return r;
}

static void runstate_get(struct runstate *rs)
{
	char p[4096];

	at(p, sizeof(p), RUNSTATE_FILE);
	runstate_init(rs);
	assert_int_equal(runstate_read(p, rs), 0);
}

#define NEED_NS()                                                              \
	do {                                                                   \
		if (!have_ns) {                                                \
			printf("# not root or no mount namespace: skipped\n"); \
			skip();                                                \
		}                                                              \
	} while (0)

/* ---------------------------------------------------------------------- */
/* NVRAM full */

static void test_nvram_full_boot_goes_on_uncounted_and_counts_again_once_there_is_room(void **state)
{
	const char *dir = getenv("EFIVARFS_PATH");
	char fill[4200];
	struct runstate rs;
	struct state_record r;
	int ret;

	(void)state;
	NEED_NS();
	new_root();
	config("store = efi\n");
	/* efivarfs answers ENOSPC when NVRAM is full (docs/platform.md): a
	 * full tmpfs over the variable directory, no record yet */
	mount_full_tmpfs(dir, "size=8k");
	snprintf(fill, sizeof(fill), "%s/filler", dir);

	assert_int_equal(boot_init_rc(), 0);
	runstate_get(&rs);
	assert_non_null(rs.error);
	assert_string_equal(rs.error, "state record write failed (No space left on device)");
	runstate_done(&rs);
	/* no half-made variable: an empty one would read as a damaged record
	 * and leave every later boot uncounted */
	r = load_record(&ret);
	assert_int_equal(ret, -ENOENT);

	/* room again (the init phase erased pstore, or firmware GC): the next
	 * boot counts */
	assert_int_equal(unlink(fill), 0);
	wipe_run();
	assert_int_equal(boot_init_rc(), 0);
	r = load_record(&ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r.boot_seq, 1);
	assert_int_equal(r.failures, 1);
	reset_var();
	assert_int_equal(umount2(dir, MNT_DETACH), 0);
	drop_root();
}

/* NVRAM full of crash records: efi-pstore fills NVRAM in about ten
 * crashes (docs/platform.md). The init phase keeps the records in /run,
 * erases them from NVRAM and writes the state record once more. Modelled
 * by one small tmpfs holding both the variable directory and the pstore
 * directory (bind mounts of two of its directories), full. */
static void test_nvram_full_of_crash_records_erases_them_and_writes_the_record_again(void **state)
{
	const char *dir = getenv("EFIVARFS_PATH");
	char nv[1100], p[4096], fill[4200];
	struct runstate rs;
	struct state_record r;
	char *text;
	int ret;

	(void)state;
	NEED_NS();
	new_root();
	config("store = efi\n");
	snprintf(nv, sizeof(nv), "%s/nvram-%u", base, root_seq);
	assert_int_equal(mkdir_p(nv, 0755), 0);
	assert_int_equal(mount("tmpfs", nv, "tmpfs", 0, "size=16k"), 0);
	snprintf(p, sizeof(p), "%s/vars", nv);
	assert_int_equal(mkdir_p(p, 0755), 0);
	assert_int_equal(mount(p, dir, NULL, MS_BIND, NULL), 0);
	snprintf(p, sizeof(p), "%s/pstore", nv);
	assert_int_equal(mkdir_p(p, 0755), 0);
	at(fill, sizeof(fill), "/sys/fs/pstore");
	assert_int_equal(mkdir_p(fill, 0755), 0);
	assert_int_equal(mount(p, fill, NULL, MS_BIND, NULL), 0);
	put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	/* the rest of NVRAM is full */
	fill_up(nv);
	snprintf(fill, sizeof(fill), "%s/filler", nv);

	assert_int_equal(boot_init_rc(), 0);
	/* counted: the second write found room */
	runstate_get(&rs);
	assert_null(rs.error);
	assert_string_equal(rs.mode, "normal");
	assert_int_equal(rs.boot_seq, 1);
	runstate_done(&rs);
	r = load_record(&ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r.boot_seq, 1);
	assert_int_equal(r.failures, 1);
	/* the crash record left NVRAM and is kept in /run for the suspects */
	assert_false(exists("/sys/fs/pstore/dmesg-efi-173237123410001"));
	assert_true(access(fill, F_OK) == 0);
	at(p, sizeof(p), "/run/lifeline/pstore/*.txt");
	{
		glob_t g;

		if (glob(p, 0, NULL, &g) != 0 || g.gl_pathc != 1)
			fail_msg("not one crash record kept as %s", p);
		text = NULL;
		assert_int_equal(read_full_file(g.gl_pathv[0], 1 << 20, &text, NULL), 0);
		globfree(&g);
	}
	assert_non_null(strstr(text, "RIP: 0010:badsec_crash+0x5/0x10 [badsec]"));
	free(text);

	reset_var();
	at(p, sizeof(p), "/sys/fs/pstore");
	assert_int_equal(umount2(p, MNT_DETACH), 0);
	assert_int_equal(umount2(dir, MNT_DETACH), 0);
	assert_int_equal(umount2(nv, MNT_DETACH), 0);
	drop_root();
}

/* ---------------------------------------------------------------------- */
/* A read-only root */

static void test_read_only_root_modules_stay_blocked_next_boot_quarantines(void **state)
{
	char p[4096];
	char *text;

	(void)state;
	NEED_NS();
	new_root();
	config("store = efi\n");
	/* /run is its own tmpfs, as in the initramfs */
	at(p, sizeof(p), "/run");
	assert_int_equal(mkdir_p(p, 0755), 0);
	assert_int_equal(mount("tmpfs", p, "tmpfs", 0, "size=1m"), 0);
	for (unsigned boot = 1; boot <= 4; boot++) {
		assert_int_equal(boot_init_rc(), 0);
		if (boot < 4) {
			assert_int_equal(boot_rootfs_rc(), 0);
			put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
		}
	}
	/* boot 4 decided level 1 (badsec); its root is read-only and the
	 * remount is not possible */
	assert_int_equal(mount(root, root, NULL, MS_BIND | MS_REC, NULL), 0);
	assert_int_equal(mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), 0);
	assert_int_equal(boot_rootfs_rc(), 0);
	/* nothing moved, nothing lost, the module stays blocked */
	text = get("/opt/badsec/bin/badsecd");
	assert_string_equal(text, "#!/bin/sh\necho badsec\n");
	free(text);
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install badsec /bin/false\n"));
	free(text);
	assert_int_equal(umount2(root, MNT_DETACH), 0);
	/* the next boot, root writable again (the /run tmpfs is new): the
	 * module stays blocked, and the decision the read-only root kept off
	 * the disk is finished: files moved, active list, history */
	{
		char run[4096];

		at(run, sizeof(run), "/run/lifeline");
		(void)nftw(run, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		at(run, sizeof(run), "/run/modprobe.d");
		(void)nftw(run, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	assert_int_equal(boot_init_rc(), 0);
	assert_int_equal(boot_rootfs_rc(), 0);
	text = get("/run/modprobe.d/lifeline.conf");
	assert_non_null(text);
	assert_non_null(strstr(text, "install badsec /bin/false\n"));
	free(text);
	/* boot 5 (a plain count) finishes boot 4's decision */
	assert_false(exists("/opt/badsec/bin/badsecd"));
	text = get(QUARANTINE_ACTIVE_FILE);
	assert_non_null(text);
	assert_string_equal(text, "badsec 1 1\n");
	free(text);
	text = get(HISTORY_FILE);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"recover-decision\""));
	free(text);
	unmount("/run");
	drop_root();
}

/* ---------------------------------------------------------------------- */
/* Disk full: spool and quarantine */

static json_object *report(const char *event, const char *id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "event", json_object_new_string(event));
	return o;
}

static int spool_one(const char *event, const char *id)
{
	json_object *o = report(event, id);
	int r = spool_add(root, 1 << 20, o, NULL);

	json_object_put(o);
	usleep(1500);
	return r;
}

#define RID(n) "0000000000000000000000000000000" #n

static char *spooled_ids(void)
{
	_cleanup_strv_free_ char **names = NULL;
	char *out = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&out, &sz);

	assert_non_null(f);
	assert_int_equal(spool_list(root, &names), 0);
	STRV_FOREACH (nm, names) {
		char rel[512], *t;
		json_object *o, *v;

		snprintf(rel, sizeof(rel), "%s/%s", SPOOL_DIR, *nm);
		t = get(rel);
		o = t ? json_tokener_parse(t) : NULL;
		free(t);
		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "id", &v));
		fprintf(f, "%s%s", nm == names ? "" : " ", json_object_get_string(v) + 31);
		json_object_put(o);
	}
	fclose(f);
	return out;
}

static void test_disk_full_spool_refuses_the_report_and_keeps_the_others_whole(void **state)
{
	char *ids;

	(void)state;
	NEED_NS();
	new_root();
	full_tmpfs("/var/lib/lifeline", "size=64k");
	free_tmpfs("/var/lib/lifeline");
	assert_int_equal(spool_one("mode-change", RID(1)), 0);
	assert_int_equal(spool_one("heartbeat", RID(2)), 0);
	/* the disk fills up */
	{
		char p[4096], fill[4096];
		int fd;

		at(p, sizeof(p), "/var/lib/lifeline/filler");
		fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		memset(fill, 'x', sizeof(fill));
		while (write(fd, fill, sizeof(fill)) > 0)
			;
		close(fd);
	}
	assert_int_equal(spool_one("command", RID(3)), -ENOSPC);
	ids = spooled_ids();
	assert_string_equal(ids, "1 2");
	free(ids);
	assert_no_junk("/var/lib/lifeline");
	/* room again: the next report is spooled */
	free_tmpfs("/var/lib/lifeline");
	assert_int_equal(spool_one("command", RID(4)), 0);
	ids = spooled_ids();
	assert_string_equal(ids, "1 2 4");
	free(ids);
	unmount("/var/lib/lifeline");
	drop_root();
}

static void test_disk_full_quarantine_moves_nothing_and_completes_later(void **state)
{
	struct component_set set = {0};
	struct quarantine_result res = {0};
	const struct component *c;
	char *text;
	int r;

	(void)state;
	NEED_NS();
	new_root();
	config("store = efi\n");
	/* the quarantine lives on its own full filesystem (a copy + fsync +
	 * unlink across filesystems) */
	full_tmpfs("/var/lib/lifeline", "size=64k");
	assert_int_equal(components_load(root, &set, NULL), 0);
	c = components_find(&set, "badsec");
	assert_non_null(c);
	r = quarantine_apply(root, c, 1, &res);
	assert_true(r < 0 || res.errors > 0);
	quarantine_result_done(&res);
	text = get("/opt/badsec/bin/badsecd");
	assert_non_null(text);
	assert_string_equal(text, "#!/bin/sh\necho badsec\n");
	free(text);
	text = get("/opt/badsec/content/c-1.bin");
	assert_non_null(text);
	assert_string_equal(text, "channel 1");
	free(text);
	assert_no_junk("/var/lib/lifeline");

	/* room again: the same job runs to its end */
	free_tmpfs("/var/lib/lifeline");
	(void)quarantine_recover(root);
	memset(&res, 0, sizeof(res));
	assert_int_equal(quarantine_apply(root, c, 1, &res), 0);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_false(exists("/opt/badsec/content/c-1.bin"));
	memset(&res, 0, sizeof(res));
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	text = get("/opt/badsec/bin/badsecd");
	assert_non_null(text);
	assert_string_equal(text, "#!/bin/sh\necho badsec\n");
	free(text);
	components_done(&set);
	unmount("/var/lib/lifeline");
	drop_root();
}

/* ---------------------------------------------------------------------- */
/* No efivarfs, no /run: the programs as the initramfs runs them */

/* lifeline-early --phase=init in a child whose environment says where the
 * variables are (libefivar reads EFIVARFS_PATH before main). */
static int run_early(const char *efivarfs)
{
	const char *build = getenv("LIFELINE_BUILD");
	char prog[1024], rootarg[1300];
	pid_t pid;
	int st;

	snprintf(prog, sizeof(prog), "%s/initramfs-hook/lifeline-early", build ? build : "build");
	snprintf(rootarg, sizeof(rootarg), "--root=%s", root);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("EFIVARFS_PATH", efivarfs, 1);
		execl(prog, prog, "--phase=init", rootarg, "--test", "--stderr", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* lifelinectl status in a child, its exit code and its stderr's first line. */
static int run_ctl_status(const char *efivarfs, char *err, size_t n)
{
	const char *build = getenv("LIFELINE_BUILD");
	char prog[1024], rootarg[1300];
	int fds[2], st;
	ssize_t k;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/bin/lifelinectl", build ? build : "build");
	snprintf(rootarg, sizeof(rootarg), "--root=%s", root);
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (devnull >= 0)
			dup2(devnull, 1);
		setenv("EFIVARFS_PATH", efivarfs, 1);
		execl(prog, prog, rootarg, "status", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	k = read(fds[0], err, n - 1);
	err[k > 0 ? k : 0] = 0;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_missing_efivarfs_boot_goes_on_uncounted_or_on_the_file_store(void **state)
{
	struct runstate rs;
	char file[4096], *text;

	(void)state;
	new_root();
	/* store = efi and no variables: not counted, the boot goes on */
	config("store = efi\n");
	assert_int_equal(run_early("/nonexistent-efivars/"), 0);
	runstate_get(&rs);
	assert_string_equal(rs.mode, "uncounted");
	assert_non_null(rs.error);
	runstate_done(&rs);
	/* the admin tool says so and exits 1 (operational error) */
	{
		char err[512];

		assert_int_equal(run_ctl_status("/nonexistent-efivars/", err, sizeof(err)), 1);
		assert_non_null(strstr(err, "No state store"));
	}
	text = get("/run/modprobe.d/lifeline.conf");
	free(text); /* may or may not be written; nothing to block */

	/* store = auto with a state file: counted there */
	wipe_run();
	at(file, sizeof(file), "/boot/efi/lifeline/state.bin");
	{
		char lines[4200];

		snprintf(lines, sizeof(lines), "store = auto\nstate_file = %s\n", file);
		config(lines);
	}
	assert_int_equal(run_early("/nonexistent-efivars/"), 0);
	runstate_get(&rs);
	assert_string_equal(rs.store, "file");
	assert_int_equal(rs.boot_seq, 1);
	assert_null(rs.error);
	runstate_done(&rs);
	assert_int_equal(access(file, F_OK), 0);
	drop_root();
}

static void test_missing_run_boot_is_counted_and_goes_on(void **state)
{
	struct state_record r;
	int ret;

	(void)state;
	new_root();
	config("store = efi\n");
	/* /run cannot be written at all: a file where the directory goes */
	put("/run", "not a directory");
	assert_int_equal(boot_init_rc(), 0);
	r = load_record(&ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r.boot_seq, 1);
	/* the rootfs phase finds no decision and changes nothing */
	assert_int_equal(boot_rootfs_rc(), 0);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	assert_false(exists(QUARANTINE_ACTIVE_FILE));
	reset_var();
	drop_root();
}

/* ---------------------------------------------------------------------- */
/* A slow and a hanging collector */

static pid_t collector_pid = -1;
static int collector_port;

static void collector_start(const char *extra)
{
	char dir[1300], words[256];

	/* report()'s documents are spool fixtures, not whole reports */
	snprintf(words, sizeof(words), "--no-schema %s", extra ? extra : "");
	snprintf(dir, sizeof(dir), "%s/received", root);
	tu_collector_start(&collector_pid, &collector_port, dir, 60, words);
}

static void collector_stop(void)
{
	tu_stop(&collector_pid);
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned keepalives;

static void count_keepalive(void *userdata)
{
	(void)userdata;
	keepalives++;
}

static void test_hanging_collector_times_out_keeps_the_spool_and_backs_off(void **state)
{
	struct lifeline_config cfg;
	struct spool_backoff b = {0};
	char url[128], *ids;
	unsigned sent = 9;
	double t0, took;
	int r;

	(void)state;
	new_root();
	assert_int_equal(spool_one("mode-change", RID(1)), 0);
	collector_start("--delay 30");
	config_init_defaults(&cfg);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/report", collector_port);
	cfg.report_url = strdup(url);
	spool_set_http_timeouts(1, 2);
	keepalives = 0;
	t0 = now_mono();
	r = spool_flush(root, &cfg, &b, 1000, false, count_keepalive, NULL, &sent);
	took = now_mono() - t0;
	spool_set_http_timeouts(0, 0);
	collector_stop();
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took < 10.0);
	assert_int_equal(sent, 0);
	assert_true(keepalives >= 1); /* the watchdog was fed while it waited */
	ids = spooled_ids();
	assert_string_equal(ids, "1");
	free(ids);
	assert_int_equal(b.failures, 1);
	assert_true(b.next_attempt > 1000);
	assert_false(spool_backoff_due(&b, 1001));
	assert_int_equal(spool_flush(root, &cfg, &b, 1001, false, NULL, NULL, NULL), -EAGAIN);
	config_done(&cfg);
	drop_root();
}

static void test_slow_collector_within_the_timeout_gets_the_report(void **state)
{
	struct lifeline_config cfg;
	struct spool_backoff b = {0};
	char url[128], *ids;
	unsigned sent = 0;

	(void)state;
	new_root();
	assert_int_equal(spool_one("mode-change", RID(1)), 0);
	collector_start("--delay 1.5");
	config_init_defaults(&cfg);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/report", collector_port);
	cfg.report_url = strdup(url);
	assert_int_equal(spool_flush(root, &cfg, &b, 1000, false, NULL, NULL, &sent), 0);
	collector_stop();
	assert_int_equal(sent, 1);
	ids = spooled_ids();
	assert_string_equal(ids, "");
	free(ids);
	assert_int_equal(b.failures, 0);
	config_done(&cfg);
	drop_root();
}

/* ---------------------------------------------------------------------- */
/* Clock jumps */

static void test_clock_set_back_keeps_the_spool_in_report_order(void **state)
{
	char *ids;

	(void)state;
	new_root();
	assert_int_equal(spool_one("mode-change", RID(1)), 0);
	assert_int_equal(spool_one("heartbeat", RID(2)), 0);
	clock_shift = -86400; /* an NTP step a day back */
	assert_int_equal(spool_one("heartbeat", RID(3)), 0);
	assert_int_equal(spool_one("command", RID(4)), 0);
	clock_shift = 0;
	ids = spooled_ids();
	/* sent oldest first, dropped oldest first: the order they were made */
	assert_string_equal(ids, "1 2 3 4");
	free(ids);
	drop_root();
}

static void test_backoff_runs_on_the_callers_clock_not_realtime(void **state)
{
	struct spool_backoff b = {0};
	uint64_t due;

	(void)state;
	/* lifelined passes CLOCK_BOOTTIME seconds: a realtime jump either
	 * way does not move the next attempt */
	spool_backoff_failed(&b, 5000);
	due = b.next_attempt;
	assert_true(due > 5000 && due <= 5000 + SPOOL_BACKOFF_MIN);
	clock_shift = 10 * 86400;
	assert_false(spool_backoff_due(&b, 5001));
	clock_shift = -10 * 86400;
	assert_false(spool_backoff_due(&b, 5001));
	assert_true(spool_backoff_due(&b, due));
	clock_shift = 0;
}

static void test_clock_set_back_history_keeps_append_order_with_the_clocks_times(void **state)
{
	struct history_entry e = {.boot_seq = 4, .level = 1, .who = (char *)HISTORY_WHO_BOOT};
	struct history h = {0};
	uint64_t t1;

	(void)state;
	new_root();
	e.action = (char *)"escalate";
	e.mode = (char *)"safe";
	e.reason = (char *)"first";
	assert_int_equal(history_append(root, &e), 0);
	clock_shift = -86400;
	e.boot_seq = 5;
	e.action = (char *)"bless";
	e.mode = (char *)"normal";
	e.reason = (char *)"second, after the clock was set back";
	assert_int_equal(history_append(root, &e), 0);
	clock_shift = 0;
	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 2);
	/* the order is the order of the decisions; each time is what the
	 * clock said then (an audit trail, not a sort key) */
	assert_string_equal(h.entries[0].reason, "first");
	assert_string_equal(h.entries[1].reason, "second, after the clock was set back");
	t1 = h.entries[0].time;
	assert_true(h.entries[1].time + 86000 < t1);
	history_done(&h);
	drop_root();
}

#define MACHINE_ID "0123456789abcdef0123456789abcdef"

static int noop_apply(const char *r, const struct command *c, void *userdata)
{
	(void)r;
	(void)c;
	++*(int *)userdata;
	return CTL_EXIT_OK;
}

static void test_clock_jumps_commands_expire_forward_never_replay_back(void **state)
{
	struct command c = {.seq = 9, .action = COMMAND_ACTION_CLEAR};
	struct command_check chk;
	struct lifeline_config cfg;
	EVP_PKEY *key = NULL;
	char keyp[1300], pubp[1300], *body = NULL, *doc = NULL, *pub = NULL;
	int applied = 0, code;
	struct command_applier a = {.apply = noop_apply, .userdata = &applied};
	uint64_t seq;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	new_root();
	snprintf(keyp, sizeof(keyp), "%s/k.key", root);
	snprintf(pubp, sizeof(pubp), "%s/k.pub", root);
	assert_int_equal(command_keygen(keyp, pubp), 0);
	assert_int_equal(command_key_load_private(keyp, &key), 0);
	assert_int_equal(read_full_file(pubp, 4096, &pub, NULL), 0);
	put("/etc/lifeline/fleet.pub", pub);
	free(pub);
	put("/etc/machine-id", MACHINE_ID "\n");
	put("/etc/lifeline/lifeline.conf", "[commands]\npublic_key = /etc/lifeline/fleet.pub\n");
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);
	c.issued = now - 5;
	c.expires = now + 3600;
	assert_int_equal(strv_split_ws("all", &c.targets), 0);
	assert_int_equal(strv_split_ws("", &c.components), 0);
	assert_int_equal(command_body_format(&c, &body), 0);
	assert_int_equal(command_sign(key, body, strlen(body), &doc), 0);

	/* the clock jumped two days forward: the command has expired and is
	 * not applied (and not used up: the seq stays) */
	assert_int_equal(
	    command_process(root, &cfg, doc, strlen(doc), "t", &a, now + 2 * 86400, &chk, &code),
	    0);
	assert_int_not_equal(chk.verdict, COMMAND_ACCEPTED);
	command_check_done(&chk);
	assert_int_equal(applied, 0);
	assert_int_equal(command_seq_read(root, &seq, NULL), 0);
	assert_int_equal(seq, 0);
	/* clock right again: applied once */
	assert_int_equal(command_process(root, &cfg, doc, strlen(doc), "t", &a, now, &chk, &code),
	                 0);
	assert_int_equal(chk.verdict, COMMAND_ACCEPTED);
	command_check_done(&chk);
	assert_int_equal(applied, 1);
	/* then set back a day: the same document is a replay, never applied
	 * again */
	assert_int_equal(
	    command_process(root, &cfg, doc, strlen(doc), "t", &a, now - 86400, &chk, &code), 0);
	assert_int_not_equal(chk.verdict, COMMAND_ACCEPTED);
	command_check_done(&chk);
	assert_int_equal(applied, 1);

	free(body);
	free(doc);
	command_done(&c);
	config_done(&cfg);
	EVP_PKEY_free(key);
	drop_root();
}

/* ---------------------------------------------------------------------- */

static int setup_base(void **state)
{
	const char *ev = getenv("EFIVARFS_PATH");

	(void)state;
	if (!ev || !*ev) {
		fprintf(stderr, "EFIVARFS_PATH is not set: run through tests/run-unit.sh\n");
		return -1;
	}
	if (tu_mkdtemp(base, sizeof(base), "faults-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	/* mounts stay in this process's own namespace */
	have_ns = tu_private_mounts();
	return 0;
}

static int teardown_base(void **state)
{
	(void)state;
	collector_stop();
	reset_var();
	if (nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		fprintf(stderr, "Failed to remove %s: %m\n", base);
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_nvram_full_boot_goes_on_uncounted_and_counts_again_once_there_is_room),
	    cmocka_unit_test(
	        test_nvram_full_of_crash_records_erases_them_and_writes_the_record_again),
	    cmocka_unit_test(test_read_only_root_modules_stay_blocked_next_boot_quarantines),
	    cmocka_unit_test(test_disk_full_spool_refuses_the_report_and_keeps_the_others_whole),
	    cmocka_unit_test(test_disk_full_quarantine_moves_nothing_and_completes_later),
	    cmocka_unit_test(test_missing_efivarfs_boot_goes_on_uncounted_or_on_the_file_store),
	    cmocka_unit_test(test_missing_run_boot_is_counted_and_goes_on),
	    cmocka_unit_test(test_hanging_collector_times_out_keeps_the_spool_and_backs_off),
	    cmocka_unit_test(test_slow_collector_within_the_timeout_gets_the_report),
	    cmocka_unit_test(test_clock_set_back_keeps_the_spool_in_report_order),
	    cmocka_unit_test(test_backoff_runs_on_the_callers_clock_not_realtime),
	    cmocka_unit_test(test_clock_set_back_history_keeps_append_order_with_the_clocks_times),
	    cmocka_unit_test(test_clock_jumps_commands_expire_forward_never_replay_back),
	};

	return cmocka_run_group_tests(tests, setup_base, teardown_base);
}
