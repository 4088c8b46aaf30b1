/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Power cuts at every step of a quarantine and of a restore.
 *
 * For every fault point (LIFELINE_FAULT=NAME:N, common/fileio.h) and every
 * hit N of it over a component of 5 files, a child process runs the
 * operation and must die there (exit 99: the point was reached, so the
 * test cannot pass by never cutting). Then:
 *   - nothing is lost: each file is in place or in the quarantine with
 *     its original content;
 *   - a second child runs recover + the operation and is cut at the first
 *     hit of the same point (a cut during the recovery; in the runs with a
 *     manifest flush after every file);
 *   - this process runs quarantine_recover() and the operation again, and
 *     the end state must be the one of an uninterrupted run: every file
 *     exactly once, where it belongs, content and metadata unchanged, the
 *     manifest complete, no temp file left.
 * Same filesystem and across filesystems (/opt on its own tmpfs in a
 * private mount namespace, as root), with the manifest rewritten after
 * every file (flush interval 1) and at the default interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conf/components.h"
#include "agent/quarantine/quarantine-internal.h"
#include "agent/quarantine/quarantine.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "tests/util/testutil.h"

#define GEN  7
#define QDIR "/var/lib/lifeline/quarantine/7/pc"

static char base[1024];
static char root[1200];
static unsigned root_seq, covered, covered_in_recovery;
static bool have_ns; /* a private mount namespace: tmpfs mounts allowed */

struct file {
	const char *path;
	size_t size;
	mode_t mode;
	time_t mtime;
	uint8_t sha[32];
};

/* One file spans several copy chunks (256 KiB), so the copy loop's fault
 * point has several hits. */
static struct file files[] = {
    {.path = "/opt/pc/bin/pcd", .size = 3000, .mode = 04755, .mtime = 1600000000},
    {.path = "/opt/pc/bin/pc-helper", .size = 300 * 1024, .mode = 0700, .mtime = 1600000100},
    {.path = "/opt/pc/bin/empty", .size = 0, .mode = 0644, .mtime = 1600000200},
    {.path = "/opt/pc/content/channel-1.bin", .size = 5000, .mode = 0640, .mtime = 1721347200},
    {.path = "/opt/pc/content/channel-2.bin", .size = 70, .mode = 0600, .mtime = 1721347300},
};

struct scenario {
	const char *name;
	bool restore;   /* cut the restore (the apply ran whole before) */
	bool cross_fs;  /* /opt on its own filesystem */
	unsigned flush; /* manifest flush interval */
	const char *const *points;
};

static const char *const apply_points[] = {
    "quarantine-mkdir",
    "quarantine-manifest-write",
    "quarantine-manifest-fsync",
    "quarantine-manifest-rename",
    "quarantine-manifest-fsync-dir",
    "quarantine-apply-rename",
    "quarantine-dir-fsync",
    NULL,
};

static const char *const apply_cross_points[] = {
    "quarantine-mkdir",
    "quarantine-manifest-write",
    "quarantine-manifest-fsync",
    "quarantine-manifest-rename",
    "quarantine-manifest-fsync-dir",
    "quarantine-apply-rename",
    "quarantine-dir-fsync",
    "quarantine-copy-write",
    "quarantine-copy-fsync",
    "quarantine-copy-rename",
    "quarantine-copy-fsync-dir",
    "quarantine-copy-unlink",
    NULL,
};

static const char *const restore_points[] = {
    "quarantine-mkdir",
    "quarantine-manifest-write",
    "quarantine-manifest-fsync",
    "quarantine-manifest-rename",
    "quarantine-manifest-fsync-dir",
    "quarantine-restore-rename",
    "quarantine-restore-meta",
    "quarantine-dir-fsync",
    "quarantine-restore-remove",
    "quarantine-rmdir",
    "quarantine-restore-unlink-manifest",
    "quarantine-restore-rmdir",
    NULL,
};

static const char *const restore_cross_points[] = {
    "quarantine-mkdir",
    "quarantine-manifest-write",
    "quarantine-manifest-fsync",
    "quarantine-manifest-rename",
    "quarantine-manifest-fsync-dir",
    "quarantine-restore-rename",
    "quarantine-restore-meta",
    "quarantine-dir-fsync",
    "quarantine-restore-remove",
    "quarantine-rmdir",
    "quarantine-restore-unlink-manifest",
    "quarantine-restore-rmdir",
    "quarantine-restore-copy-write",
    "quarantine-restore-copy-fsync",
    "quarantine-restore-copy-rename",
    "quarantine-restore-copy-fsync-dir",
    "quarantine-restore-copy-unlink",
    NULL,
};

/* ---------------------------------------------------------------------- */
/* Roots */

static int setup_base(void **state)
{

	(void)state;
	if (tu_mkdtemp(base, sizeof(base), "test-quarantine-powercut.") < 0)
		return -1;
	/* As root: a private mount namespace, and the whole test on a tmpfs
	 * (fsync is free there; a cut is the process dying, whatever the
	 * filesystem). */
	if (tu_private_mounts() && mount("lifeline-pc", base, "tmpfs", 0, "mode=0755") == 0)
		have_ns = true;
	else
		printf("# no private mount namespace (not root?): same filesystem only, on %s\n",
		       base);
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *data = malloc(files[i].size + 1);
		unsigned int n;

		if (!data)
			return -1;
		for (size_t k = 0; k < files[i].size; k++)
			data[k] = (char)('a' + (k * 7 + i) % 26);
		if (EVP_Digest(data, files[i].size, files[i].sha, &n, EVP_sha256(), NULL) != 1)
			return -1;
	}
	return 0;
}

static int teardown_base(void **state)
{
	char cmd[2200];

	(void)state;
	if (have_ns)
		(void)umount2(base, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static char *at(const char *rel)
{
	char *p = path_join(root, rel);

	assert_non_null(p);
	return p;
}

static void write_file(const struct file *f, size_t idx)
{
	_cleanup_free_ char *p = at(f->path), *dir = strdup(p), *data = malloc(f->size + 1);
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = f->mtime, .tv_nsec = 42}};
	int fd;

	assert_non_null(dir);
	assert_non_null(data);
	for (size_t k = 0; k < f->size; k++)
		data[k] = (char)('a' + (k * 7 + idx) % 26);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, f->size), (ssize_t)f->size);
	if (geteuid() == 0 && idx == 1)
		assert_int_equal(fchown(fd, 1234, 5678), 0);
	assert_int_equal(fchmod(fd, f->mode), 0);
	(void)fsetxattr(fd, "user.pc", f->path, strlen(f->path), 0); /* where allowed */
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static void component(struct component *c)
{
	memset(c, 0, sizeof(*c));
	c->id = strdup("pc");
	assert_int_equal(strv_split_ws("/opt/pc/bin/*", &c->files), 0);
	assert_int_equal(strv_split_ws("/opt/pc/content/*.bin", &c->content), 0);
}

static void new_root(const struct scenario *s)
{
	_cleanup_free_ char *opt = NULL;

	snprintf(root, sizeof(root), "%s/r%u", base, root_seq++);
	assert_int_equal(mkdir_p(root, 0755), 0);
	if (s->cross_fs) {
		opt = at("/opt");
		assert_int_equal(mkdir_p(opt, 0755), 0);
		assert_int_equal(mount("lifeline-pc-opt", opt, "tmpfs", 0, "mode=0755"), 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		write_file(&files[i], i);
	if (s->restore) {
		struct quarantine_result res = {0};
		struct component c;
		_cleanup_free_ char *content = at("/opt/pc/content");

		component(&c);
		assert_int_equal(quarantine_apply(root, &c, GEN, &res), 0);
		assert_int_equal(res.moved, ELEMENTSOF(files));
		quarantine_result_done(&res);
		component_done(&c);
		/* the vendor's uninstaller removed a directory meanwhile:
		 * the restore creates it again */
		assert_int_equal(rmdir(content), 0);
	}
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

/* rm -rf without a shell (fork + exec costs more than a whole cut). */
static void drop_root(const struct scenario *s)
{
	_cleanup_free_ char *opt = NULL;

	if (s->cross_fs) {
		opt = at("/opt");
		assert_int_equal(umount2(opt, MNT_DETACH), 0);
	}
	assert_int_equal(nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ---------------------------------------------------------------------- */
/* Invariants */

static int sha_of(const char *path, uint8_t sha[32])
{
	_cleanup_free_ char *data = NULL;
	unsigned int n;
	size_t size = 0;
	int r;

	r = read_full_file(path, 64 << 20, &data, &size);
	if (r < 0)
		return r;
	return EVP_Digest(data, size, sha, &n, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* 1: a regular file with the original content; 0: absent; fails otherwise. */
static int has_original(const char *path, const struct file *f)
{
	struct stat st;
	uint8_t sha[32];

	if (lstat(path, &st) < 0) {
		assert_int_equal(errno, ENOENT);
		return 0;
	}
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(sha_of(path, sha), 0);
	if (memcmp(sha, f->sha, 32) != 0)
		fail_msg("%s: content changed", path);
	return 1;
}

static void assert_metadata(const char *path, const struct file *f, size_t idx)
{
	struct stat st;
	char v[256];
	ssize_t n;

	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, f->mode);
	assert_int_equal(st.st_mtim.tv_sec, f->mtime);
	assert_int_equal(st.st_mtim.tv_nsec, 42);
	if (geteuid() == 0 && idx == 1) {
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_gid, 5678);
	}
	n = lgetxattr(path, "user.pc", v, sizeof(v));
	if (n >= 0 || errno != ENODATA) {
		/* the xattr was set at creation where the fs allows it */
		assert_int_equal(n, (ssize_t)strlen(f->path));
		assert_memory_equal(v, f->path, (size_t)n);
	}
}

/* Nothing lost, right after a cut. */
static void assert_nothing_lost(const char *when)
{
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *in_place = at(files[i].path), *rel = NULL, *in_q = NULL;

		assert_true(asprintf(&rel, QDIR "/files%s", files[i].path) > 0);
		in_q = at(rel);
		if (has_original(in_place, &files[i]) + has_original(in_q, &files[i]) == 0)
			fail_msg("%s: %s lost after a cut at %s", root, files[i].path, when);
	}
}

static int no_temp(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *name = path + ftw->base;

	(void)st;
	(void)type;
	if (strncmp(name, ".lifeline-tmp-", 14) == 0 || streq(name, "manifest.tmp"))
		fail_msg("temp file left behind: %s", path);
	return 0;
}

static void assert_no_temp_files(void)
{
	assert_int_equal(nftw(root, no_temp, 16, FTW_PHYS), 0);
}

static void assert_applied(void)
{
	_cleanup_free_ char *qdir = at(QDIR);
	_cleanup_close_ int fd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_(qmanifest_done) struct qmanifest m = {0};

	assert_true(fd >= 0);
	assert_int_equal(qmanifest_load(fd, &m), 0);
	assert_int_equal(m.state, QM_APPLIED);
	assert_int_equal(m.n, ELEMENTSOF(files));
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *in_place = at(files[i].path), *rel = NULL, *in_q = NULL;
		const struct qentry *e = qmanifest_find(&m, files[i].path);

		assert_true(asprintf(&rel, QDIR "/files%s", files[i].path) > 0);
		in_q = at(rel);
		assert_int_equal(has_original(in_place, &files[i]), 0);
		assert_int_equal(has_original(in_q, &files[i]), 1);
		assert_metadata(in_q, &files[i], i);
		assert_non_null(e);
		assert_int_equal(e->state, QE_MOVED);
		assert_memory_equal(e->sha256, files[i].sha, 32);
		assert_int_equal(e->mode, files[i].mode);
		assert_int_equal(e->mtime_sec, files[i].mtime);
	}
	assert_int_equal(quarantine_needs_recovery(root), 0);
	assert_no_temp_files();
}

static void assert_restored(void)
{
	_cleanup_free_ char *qdir = at(QDIR);
	struct stat st;

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *in_place = at(files[i].path);

		assert_int_equal(has_original(in_place, &files[i]), 1);
		assert_metadata(in_place, &files[i], i);
	}
	if (lstat(qdir, &st) == 0)
		fail_msg("%s still exists after the restore", qdir);
	assert_int_equal(quarantine_needs_recovery(root), 0);
	assert_no_temp_files();
}

/* ---------------------------------------------------------------------- */
/* Cuts */

static int run_op(const struct scenario *s, bool recover_first)
{
	struct quarantine_result res = {0};
	struct component c;
	int r;

	if (recover_first) {
		r = quarantine_recover(root);
		if (r < 0)
			return r;
	}
	if (s->restore)
		r = quarantine_restore(root, "pc", &res);
	else {
		component(&c);
		r = quarantine_apply(root, &c, GEN, &res);
		component_done(&c);
	}
	if (r >= 0 && res.errors > 0) {
		STRV_FOREACH (l, res.lines)
			fprintf(stderr, "%s\n", *l);
		r = -EIO;
	}
	quarantine_result_done(&res);
	return r;
}

/* The operation in a child with LIFELINE_FAULT=point:n; its exit code:
 * 99 cut there, 0 finished without reaching it, 1 failed. */
static int cut(const struct scenario *s, const char *point, unsigned n, bool recover_first)
{
	char spec[128];
	int status;
	pid_t pid;

	snprintf(spec, sizeof(spec), "%s:%u", point, n);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LIFELINE_FAULT", spec, 1);
		_exit(run_op(s, recover_first) < 0 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 99) {
		covered++;
		covered_in_recovery += recover_first;
	}
	return WEXITSTATUS(status);
}

static void finish_and_check(const struct scenario *s)
{
	int r;

	r = quarantine_recover(root);
	assert_true(r >= 0);
	assert_int_equal(run_op(s, false), 0);
	if (s->restore)
		assert_restored();
	else
		assert_applied();
}

/* Every hit of point: cut, check, cut the recovery, finish, check. */
static void sweep_point(const struct scenario *s, const char *point)
{
	for (unsigned n = 1;; n++) {
		char when[160];
		int st;

		if (n > 200)
			fail_msg("%s: %s hit more than 200 times", s->name, point);
		new_root(s);
		st = cut(s, point, n, false);
		if (st == 0) {
			/* ran to the end without an n-th hit */
			if (n == 1)
				fail_msg("%s: fault point %s never reached", s->name, point);
			if (s->restore)
				assert_restored();
			else
				assert_applied();
			drop_root(s);
			return;
		}
		if (st != 99)
			fail_msg("%s: child cut at %s:%u exited %d", s->name, point, n, st);
		snprintf(when, sizeof(when), "%s:%u", point, n);
		assert_nothing_lost(when);
		/* and once more, during the recovery (with per-file flushes,
		 * where the recovery has the most manifest states to trust) */
		st = s->flush == 1 ? cut(s, point, 1, true) : 0;
		if (st != 99 && st != 0)
			fail_msg("%s: recovery after %s exited %d", s->name, when, st);
		snprintf(when, sizeof(when), "%s:%u then %s:1 in the recovery", point, n, point);
		assert_nothing_lost(when);
		finish_and_check(s);
		drop_root(s);
	}
}

/* Points only a re-run reaches: first cut at `first` (each hit), then the
 * recovery must reach `second`. */
static void sweep_pair(const struct scenario *s, const char *first, const char *second)
{
	for (unsigned n = 1;; n++) {
		int st;

		new_root(s);
		st = cut(s, first, n, false);
		if (st == 0) {
			assert_true(n > 1);
			drop_root(s);
			return;
		}
		assert_int_equal(st, 99);
		st = cut(s, second, 1, true);
		if (st != 99)
			fail_msg("%s: after a cut at %s:%u the recovery never reached %s (exit %d)",
			         s->name, first, n, second, st);
		assert_nothing_lost(second);
		finish_and_check(s);
		drop_root(s);
	}
}

/* A cut after the copy of the first file (sorted: bin/empty) is durable,
 * then that copy is damaged: the recovery must see it differs from both
 * the original and the record, drop it and copy again. */
static void damaged_copy_after_cut(const struct scenario *s)
{
	_cleanup_free_ char *copy = NULL;

	new_root(s);
	assert_int_equal(cut(s, "quarantine-copy-unlink", 1, false), 99);
	copy = at(QDIR "/files/opt/pc/bin/empty");
	assert_int_equal(write_file_atomic(copy, "bit rot\n", 8, 0644), 0);
	assert_int_equal(cut(s, "quarantine-apply-unlink-copy", 1, true), 99);
	/* (the planted copy is still there at this cut: only the end state
	 * is checked) */
	finish_and_check(s);
	drop_root(s);
}

static void run_scenario(const struct scenario *s)
{
	unsigned before = covered, old;

	old = quarantine_set_flush_interval(s->flush);
	for (const char *const *p = s->points; *p; p++)
		sweep_point(s, *p);
	if (s->cross_fs && !s->restore) {
		sweep_pair(s, "quarantine-copy-fsync-dir", "quarantine-apply-unlink");
		sweep_pair(s, "quarantine-copy-unlink", "quarantine-apply-unlink");
		damaged_copy_after_cut(s);
	}
	if (s->cross_fs && s->restore) {
		sweep_pair(s, "quarantine-restore-copy-fsync-dir", "quarantine-restore-unlink");
		sweep_pair(s, "quarantine-restore-copy-unlink", "quarantine-restore-unlink");
	}
	quarantine_set_flush_interval(old);
	printf("# %s: %u cut points\n", s->name, covered - before);
}

static void test_apply_survives_a_cut_at_every_step(void **state)
{
	(void)state;
	run_scenario(
	    &(struct scenario){"apply, manifest after every file", false, false, 1, apply_points});
	run_scenario(&(struct scenario){"apply, default flush", false, false, 0, apply_points});
}

static void test_restore_survives_a_cut_at_every_step(void **state)
{
	(void)state;
	run_scenario(&(struct scenario){"restore, manifest after every file", true, false, 1,
	                                restore_points});
	run_scenario(&(struct scenario){"restore, default flush", true, false, 0, restore_points});
}

static void test_cross_filesystem_apply_survives_a_cut_at_every_step(void **state)
{
	(void)state;
	if (!have_ns) {
		printf("# not root: no second filesystem, skipped\n");
		return;
	}
	run_scenario(&(struct scenario){"apply across filesystems, manifest after every file",
	                                false, true, 1, apply_cross_points});
	run_scenario(&(struct scenario){"apply across filesystems, default flush", false, true, 0,
	                                apply_cross_points});
}

static void test_cross_filesystem_restore_survives_a_cut_at_every_step(void **state)
{
	(void)state;
	if (!have_ns) {
		printf("# not root: no second filesystem, skipped\n");
		return;
	}
	run_scenario(&(struct scenario){"restore across filesystems, manifest after every file",
	                                true, true, 1, restore_cross_points});
	run_scenario(&(struct scenario){"restore across filesystems, default flush", true, true, 0,
	                                restore_cross_points});
}

static void test_report_coverage(void **state)
{
	(void)state;
	printf("power-cut: %u cut points covered (%u in a first run, %u during the recovery)\n",
	       covered, covered - covered_in_recovery, covered_in_recovery);
	assert_true(covered > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply_survives_a_cut_at_every_step),
	    cmocka_unit_test(test_restore_survives_a_cut_at_every_step),
	    cmocka_unit_test(test_cross_filesystem_apply_survives_a_cut_at_every_step),
	    cmocka_unit_test(test_cross_filesystem_restore_survives_a_cut_at_every_step),
	    cmocka_unit_test(test_report_coverage),
	};

	unsetenv("LIFELINE_FAULT");
	return cmocka_run_group_tests(tests, setup_base, teardown_base);
}
