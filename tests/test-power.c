/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Power cuts at every persistent change lifeline makes, by syscall
 * interposition: this test program defines write(), rename(), unlink(),
 * fsync(), ioctl(FS_IOC_SETFLAGS), open(O_CREAT|O_TRUNC), mkdir() ... itself.
 * An executable's definitions come first in the dynamic symbol lookup, so
 * they catch the calls of our own code and of libefivar alike (its
 * immutable-flag dance and its one write() happen inside the library,
 * where no fault_point() can go). Each forwards to the next definition
 * (dlsym(RTLD_NEXT): libc, or ASan's interceptor in the sanitizer build).
 *
 * A sweep runs the change in a child that is armed to _exit(99) right
 * before its N-th mutating call, for N = 1, 2, ... until a child finishes
 * without reaching N (so every mutating call of the change is a cut point
 * once, and a test cannot pass by never cutting). After each cut this
 * process checks what must hold right after the power failure, runs the
 * recovery path (the next boot or the next run of the same code, uncut)
 * and checks the end state against an uninterrupted reference run.
 *
 * Model: the calls made before the cut took effect and none after it, as
 * when the process dies. Data not yet fsync()ed that a real power cut would
 * also lose is not modelled (the fsync order is what write_file_atomic()
 * and the quarantine journal are reviewed for); a /run tmpfs is wiped
 * before the next boot, as a power cut wipes it.
 *
 * The number of cut points per change is printed and kept in README.md.
 */
#undef _FORTIFY_SOURCE /* this file defines open() & co. itself */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/boot.h"
#include "agent/command/command.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/ctl/ctl.h"
#include "agent/inventory/inventory.h"
#include "agent/quarantine/quarantine.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

/* ---------------------------------------------------------------------- */
/* The interposed calls */

static long cut_at;   /* armed in a child: die before the cut_at-th mutating call */
static long cut_seen; /* mutating calls seen so far in this child */
static bool cut_trace;

static void cut_here(const char *call, const char *what)
{
	if (cut_at <= 0)
		return;
	cut_seen++;
	if (cut_trace) {
		char buf[600];
		int n = snprintf(buf, sizeof(buf), "  cut point %ld: %s %s\n", cut_seen, call,
		                 what ? what : "");
		if (n > 0)
			(void)syscall(SYS_write, 2, buf,
			              (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
	if (cut_seen >= cut_at)
		_exit(99);
}

/* A write to a regular file (not the test's own stdout/stderr). */
static void cut_fd(const char *call, int fd)
{
	struct stat st;
	char what[32];

	if (cut_at <= 0 || fd <= 2 || fstat(fd, &st) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		return;
	snprintf(what, sizeof(what), "fd %d", fd);
	cut_here(call, what);
}

/* Data written and not yet fsync()ed, by inode. A rename that puts such a
 * file in place can leave it empty or torn after a real power cut (ext4's
 * delayed allocation; rename(2) orders nothing), which the process-death
 * model above cannot show: so every armed run also checks that no rename
 * moves unsynced data (exit 97 when one did). */
#define UNSYNCED_MAX 1024
static struct {
	dev_t dev;
	ino_t ino;
} unsynced[UNSYNCED_MAX];
static unsigned n_unsynced, n_unsynced_renames;

static int unsynced_find(const struct stat *st)
{
	for (unsigned i = 0; i < n_unsynced; i++)
		if (unsynced[i].dev == st->st_dev && unsynced[i].ino == st->st_ino)
			return (int)i;
	return -1;
}

static void note_written(int fd)
{
	struct stat st;

	if (cut_at <= 0 || fd <= 2 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (unsynced_find(&st) < 0 && n_unsynced < UNSYNCED_MAX) {
		unsynced[n_unsynced].dev = st.st_dev;
		unsynced[n_unsynced].ino = st.st_ino;
		n_unsynced++;
	}
}

static void note_synced(int fd)
{
	struct stat st;
	int i;

	if (cut_at <= 0 || fstat(fd, &st) < 0 || (i = unsynced_find(&st)) < 0)
		return;
	unsynced[i] = unsynced[--n_unsynced];
}

static void check_rename(int dfd, const char *from, const char *to)
{
	struct stat st;

	if (cut_at <= 0 || fstatat(dfd, from, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || unsynced_find(&st) < 0)
		return;
	n_unsynced_renames++;
	{
		char buf[600];
		int n = snprintf(buf, sizeof(buf), "renamed without fsync() of its data: %s\n", to);
		if (n > 0)
			(void)syscall(SYS_write, 2, buf,
			              (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
}

/* A write-like call: a cut point, and its data unsynced until fsync(). */
static void before_write(const char *call, int fd)
{
	cut_fd(call, fd);
	note_written(fd);
}

/* A rename-like call: a cut point, and a check that it moves no unsynced
 * data into place. */
static void before_rename(const char *call, int dfd, const char *from, const char *to)
{
	cut_here(call, to);
	check_rename(dfd, from, to);
}

#define REAL(name)                            \
	static __typeof__(name) *real_##name; \
	if (!real_##name)                     \
	real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* Creating a file or truncating a non-empty one changes the disk; an open
 * of an existing file with O_CREAT does not. */
static bool open_mutates(int dfd, const char *path, int flags)
{
	struct stat st;

	if (cut_at <= 0 || !(flags & (O_CREAT | O_TRUNC)))
		return false;
	if (fstatat(dfd, path, &st, 0) < 0)
		return (flags & O_CREAT) != 0;
	return (flags & O_TRUNC) && st.st_size > 0;
}

/* mkdir of a directory that exists (mkdir_p walks every parent) is none. */
static bool absent(int dfd, const char *path)
{
	struct stat st;

	return cut_at > 0 && fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0;
}

/* The mode argument of an open call, which has one only with O_CREAT or
 * O_TMPFILE (a macro: va_start needs the caller's own argument list). */
#define OPEN_MODE(flags, mode)                         \
	do {                                           \
		if ((flags) & (O_CREAT | O_TMPFILE)) { \
			va_list ap_;                   \
			va_start(ap_, flags);          \
			(mode) = va_arg(ap_, mode_t);  \
			va_end(ap_);                   \
		}                                      \
	} while (0)

static void open_cut(const char *call, int dfd, const char *path, int flags)
{
	if (open_mutates(dfd, path, flags))
		cut_here(call, path);
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(open);

	OPEN_MODE(flags, mode);
	open_cut("open", AT_FDCWD, path, flags);
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(open64);

	OPEN_MODE(flags, mode);
	open_cut("open", AT_FDCWD, path, flags);
	return real_open64(path, flags, mode);
}

int openat(int dfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(openat);

	OPEN_MODE(flags, mode);
	open_cut("openat", dfd, path, flags);
	return real_openat(dfd, path, flags, mode);
}

int openat64(int dfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(openat64);

	OPEN_MODE(flags, mode);
	open_cut("openat", dfd, path, flags);
	return real_openat64(dfd, path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(write);
	before_write("write", fd);
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite);
	before_write("pwrite", fd);
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	REAL(pwrite64);
	before_write("pwrite", fd);
	return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	REAL(writev);
	before_write("writev", fd);
	return real_writev(fd, iov, n);
}

ssize_t copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned flags)
{
	REAL(copy_file_range);
	before_write("copy_file_range", out);
	return real_copy_file_range(in, inoff, out, outoff, n, flags);
}

ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	REAL(sendfile);
	before_write("sendfile", out);
	return real_sendfile(out, in, off, n);
}

int ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	before_write("ftruncate", fd);
	return real_ftruncate(fd, len);
}

int fsync(int fd)
{
	REAL(fsync);
	cut_fd("fsync", fd);
	note_synced(fd);
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(fdatasync);
	cut_fd("fdatasync", fd);
	note_synced(fd);
	return real_fdatasync(fd);
}

int syncfs(int fd)
{
	REAL(syncfs);
	cut_here("syncfs", NULL);
	return real_syncfs(fd);
}

void sync(void)
{
	REAL(sync);
	cut_here("sync", NULL);
	real_sync();
}

int rename(const char *a, const char *b)
{
	REAL(rename);
	before_rename("rename", AT_FDCWD, a, b);
	return real_rename(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
	REAL(renameat);
	before_rename("renameat", da, a, b);
	return real_renameat(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned flags)
{
	REAL(renameat2);
	before_rename("renameat2", da, a, b);
	return real_renameat2(da, a, db, b, flags);
}

int unlink(const char *path)
{
	REAL(unlink);
	cut_here("unlink", path);
	return real_unlink(path);
}

int unlinkat(int dfd, const char *path, int flags)
{
	REAL(unlinkat);
	cut_here("unlinkat", path);
	return real_unlinkat(dfd, path, flags);
}

int rmdir(const char *path)
{
	REAL(rmdir);
	cut_here("rmdir", path);
	return real_rmdir(path);
}

int mkdir(const char *path, mode_t mode)
{
	REAL(mkdir);
	if (absent(AT_FDCWD, path))
		cut_here("mkdir", path);
	return real_mkdir(path, mode);
}

int mkdirat(int dfd, const char *path, mode_t mode)
{
	REAL(mkdirat);
	if (absent(dfd, path))
		cut_here("mkdirat", path);
	return real_mkdirat(dfd, path, mode);
}

int link(const char *a, const char *b)
{
	REAL(link);
	cut_here("link", b);
	return real_link(a, b);
}

int linkat(int da, const char *a, int db, const char *b, int flags)
{
	REAL(linkat);
	cut_here("linkat", b);
	return real_linkat(da, a, db, b, flags);
}

int symlink(const char *a, const char *b)
{
	REAL(symlink);
	cut_here("symlink", b);
	return real_symlink(a, b);
}

int symlinkat(const char *a, int dfd, const char *b)
{
	REAL(symlinkat);
	cut_here("symlinkat", b);
	return real_symlinkat(a, dfd, b);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	REAL(ioctl);

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FS_IOC_SETFLAGS)
		cut_fd("ioctl(FS_IOC_SETFLAGS)", fd);
	return real_ioctl(fd, req, arg);
}

/* ---------------------------------------------------------------------- */
/* Fixtures */

static void *mfree(void *p)
{
	free(p);
	return NULL;
}

static const char *strnull(const char *s)
{
	return s ? s : "(null)";
}

static char base[1024], root[1200], var_path[4096];
static bool base_mounted;
static unsigned root_seq;
static unsigned total_points;

#define OOPS                                                                             \
	"Oops#1 Part1\n"                                                                 \
	"<4>[    9.120100] Modules linked in: badsec(OE+) efi_pstore i6300esb\n"         \
	"<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           OE      " \
	"6.1.0-27-amd64 #1\n"                                                            \
	"<4>[    9.120300] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"                   \
	"<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n"

static char *at(const char *rel)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s%s", root, rel) > 0);
	return p;
}

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

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP || type == FTW_D)
		return rmdir(p) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(p) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *p)
{
	if (access(p, F_OK) == 0)
		assert_int_equal(nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void reset_var(void)
{
	tu_var_reset(var_path);
}

/* efivarfs makes every variable not on the kernel's list immutable
 * (docs/platform.md); a plain directory does not: do it here. */
static bool warned_immutable;

static void make_immutable(const char *p)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC), flags = 0;

	assert_true(fd >= 0);
	/* needs CAP_LINUX_IMMUTABLE and a filesystem with the flag: without
	 * them the sweeps run without the flag dance */
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags |= FS_IMMUTABLE_FL;
		if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 && !warned_immutable) {
			printf(
			    "# cannot set the immutable flag (%s): no flag dance in the sweeps\n",
			    strerror(errno));
			warned_immutable = true;
		}
	}
	close(fd);
}

static void new_root(void)
{
	snprintf(root, sizeof(root), "%s/r%u", base, ++root_seq);
	assert_int_equal(mkdir_p(root, 0755), 0);
	reset_var();
}

static void drop_root(void)
{
	rm_rf(root);
}

/* A power cut wipes /run (a tmpfs). */
static void power_off(void)
{
	_cleanup_free_ char *run = at("/run");

	rm_rf(run);
}

/* Stray files a cut may leave: temp files of write_file_atomic() and of
 * the quarantine. After the recovery path ran, none may be left. */
static unsigned n_stray;
static char stray_first[1024];

static int stray_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	const char *name = p + ftw->base;

	(void)st;
	/* crash texts are saved once per boot into their own boot-N
	 * directory: a temp file a cut left there is never written again,
	 * so nothing removes it (noted in README.md, harmless) */
	if (strstr(p, "/var/lib/lifeline/crashes/boot-"))
		return 0;
	if (type == FTW_F && (strstr(name, ".tmp-") || strstr(name, ".lifeline-tmp"))) {
		if (n_stray++ == 0)
			snprintf(stray_first, sizeof(stray_first), "%s", p);
	}
	return 0;
}

static void assert_no_stray(const char *what, const char *dir_rel)
{
	_cleanup_free_ char *d = at(dir_rel);

	n_stray = 0;
	if (access(d, F_OK) == 0)
		assert_int_equal(nftw(d, stray_one, 16, FTW_PHYS), 0);
	if (n_stray)
		fail_msg("%s: %u stray temp file(s) left after the recovery, e.g. %s", what,
		         n_stray, stray_first);
}

/* Runs op in a child armed to die before its n-th mutating call: 99 cut
 * there, 0 ran to its end first, else the op failed. */
static int run_cut(int (*op)(void), long n)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r;

		cut_at = n;
		cut_seen = 0;
		n_unsynced = n_unsynced_renames = 0;
		r = op();
		cut_at = 0;
		if (r < 0)
			fprintf(stderr, "operation failed: %s\n", strerror(-r));
		_exit(r < 0 ? 1 : n_unsynced_renames > 0 ? 97 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("child cut at call %ld died by signal %d", n, WTERMSIG(status));
	return WEXITSTATUS(status);
}

struct change {
	const char *name;
	void (*setup)(void);       /* a fresh root with the state before the change */
	int (*op)(void);           /* the change (in the child) */
	void (*after_cut)(long n); /* what must hold right after the cut */
	void (*recover)(long n);   /* the next run / boot, then the end state */
	void (*complete)(void);    /* the end state of an uncut run */
	/* The recovery runs the change itself again (a second try of the same
	 * write, clear, bless, command): then it is cut at every call too,
	 * after each first cut, and the same checks follow. */
	bool recovery_reruns;
};

static unsigned total_in_recovery;
static unsigned cuts_before_recovery; /* 1, or 2 when the rerun was cut too */

/* Cut at every mutating call in turn; returns the number of cut points. */
static unsigned sweep(const struct change *c)
{
	unsigned points = 0, in_recovery = 0;

	cut_trace = getenv("LIFELINE_POWER_TRACE") != NULL;
	for (long n = 1;; n++) {
		int st;

		if (n > 2000)
			fail_msg("%s: more than 2000 mutating calls", c->name);
		c->setup();
		st = run_cut(c->op, n);
		if (st == 0) {
			if (n == 1)
				fail_msg("%s: the change made no mutating call", c->name);
			c->complete();
			drop_root();
			break;
		}
		if (st == 97)
			fail_msg("%s: a rename put data in place before it was fsync()ed (above)",
			         c->name);
		if (st != 99)
			fail_msg("%s: child cut at call %ld exited %d", c->name, n, st);
		points++;
		cuts_before_recovery = 1;
		c->after_cut(n);
		c->recover(n);
		drop_root();
		for (long m = 1; c->recovery_reruns; m++) {
			c->setup();
			assert_int_equal(run_cut(c->op, n), 99);
			st = run_cut(c->op, m);
			if (st != 0 && st != 99)
				fail_msg("%s: cut at call %ld, the rerun cut at %ld exited %d",
				         c->name, n, m, st);
			if (st == 99)
				in_recovery++;
			cuts_before_recovery = st == 99 ? 2 : 1;
			c->after_cut(n);
			c->recover(n);
			drop_root();
			if (st == 0)
				break;
		}
	}
	printf("# power-cut %s: %u cut points", c->name, points);
	if (in_recovery)
		printf(" + %u in the rerun after each", in_recovery);
	printf("\n");
	total_points += points;
	total_in_recovery += in_recovery;
	return points;
}

/* ---------------------------------------------------------------------- */
/* The state record alone, EFI variable and file */

static struct state_record rec_old, rec_new, rec_next;
static enum store_pref store_pref;
static char state_file[1300];

static void make_records(void)
{
	state_record_init(&rec_old);
	rec_old.boot_seq = 41;
	rec_old.failures = 3;
	rec_new = rec_old;
	rec_new.boot_seq = 42;
	rec_new.failures = 4;
	rec_new.level = 1;
	rec_new.mode = STATE_MODE_SAFE;
	rec_new.generation = 1;
	assert_true(state_record_add_module(&rec_new, "badsec") >= 0);
	rec_next = rec_new;
	rec_next.boot_seq = 43;
	rec_next.failures = 5;
}

static bool same_record(const struct state_record *a, const struct state_record *b)
{
	uint8_t x[STATE_RECORD_SIZE], y[STATE_RECORD_SIZE];

	assert_int_equal(state_record_encode(a, x), 0);
	assert_int_equal(state_record_encode(b, y), 0);
	return memcmp(x, y, sizeof(x)) == 0;
}

static struct store *open_store(void)
{
	struct store *s = NULL;

	assert_int_equal(
	    store_open(store_pref, store_pref == STORE_PREF_FILE ? state_file : NULL, &s, NULL), 0);
	return s;
}

static int load(struct state_record *ret)
{
	struct store *s = open_store();
	int r = store_load(s, ret);

	store_free(s);
	return r;
}

/* The record after a cut (what: where it was cut, for the message);
 * fails the test when it does not load. */
static struct state_record load_after_cut(const char *what)
{
	struct state_record r;
	int ret = load(&r);

	if (ret < 0)
		fail_msg("%s: the record does not load: %s", what, state_record_strerror(ret));
	return r;
}

static void record_setup(void)
{
	struct store *s;

	new_root();
	snprintf(state_file, sizeof(state_file), "%s/boot/efi/lifeline/state.bin", root);
	s = open_store();
	assert_int_equal(store_save(s, &rec_old), 1);
	store_free(s);
	if (store_pref == STORE_PREF_EFI)
		make_immutable(var_path);
}

static int record_op(void)
{
	struct store *s = NULL;
	struct state_record r;
	int ret;

	ret = store_open(store_pref, store_pref == STORE_PREF_FILE ? state_file : NULL, &s, NULL);
	if (ret < 0)
		return ret;
	ret = store_load(s, &r);
	if (ret >= 0)
		ret = store_save(s, &rec_new);
	store_free(s);
	return ret < 0 ? ret : 0;
}

static void record_after_cut(long n)
{
	char what[64];
	struct state_record r;

	snprintf(what, sizeof(what), "cut at call %ld", n);
	r = load_after_cut(what);
	if (!same_record(&r, &rec_old) && !same_record(&r, &rec_new))
		fail_msg("cut at call %ld: the record is neither the old nor the new one", n);
}

static void record_recover(long n)
{
	struct state_record r;
	struct store *s = open_store();

	/* the next boot writes again: a flag or temp file the cut left behind
	 * must not stand in its way */
	assert_int_equal(store_load(s, &r), 0);
	if (store_save(s, &rec_next) != 1)
		fail_msg("cut at call %ld: the next write fails", n);
	store_free(s);
	assert_int_equal(load(&r), 0);
	assert_true(same_record(&r, &rec_next));
	assert_no_stray("state record", "/");
	if (store_pref == STORE_PREF_EFI) {
		/* the only file in the variable directory is ours */
		DIR *d = opendir(getenv("EFIVARFS_PATH"));
		struct dirent *de;

		assert_non_null(d);
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' && !strstr(var_path, de->d_name))
				fail_msg("cut at call %ld: stray %s in the variable directory", n,
				         de->d_name);
		closedir(d);
	}
}

static void record_complete(void)
{
	struct state_record r;

	assert_int_equal(load(&r), 0);
	assert_true(same_record(&r, &rec_new));
}

static const struct change record_change = {
    "state record", record_setup,    record_op, record_after_cut,
    record_recover, record_complete, true,
};

static void test_state_record_efi_variable_survives_a_cut_at_every_call(void **state)
{
	struct change c = record_change;

	(void)state;
	make_records();
	store_pref = STORE_PREF_EFI;
	c.name = "state record, EFI variable (libefivar)";
	assert_true(sweep(&c) >= 1);
}

static void test_state_record_file_survives_a_cut_at_every_call(void **state)
{
	struct change c = record_change;

	(void)state;
	make_records();
	store_pref = STORE_PREF_FILE;
	c.name = "state record, file store";
	assert_true(sweep(&c) >= 4);
}

/* ---------------------------------------------------------------------- */
/* The boot: the init phase that escalates (record, /run state, modprobe
 * configuration, pstore erase) and the rootfs phase that quarantines
 * (active list, quarantine journal and files). */

struct decision {
	struct state_record rec;
	char *mode;
	char *quarantine; /* space-separated */
	char *active;     /* the durable active list */
	char *modprobe;   /* /run/modprobe.d/lifeline.conf */
};

static struct decision ref_esc, ref_esc_next, ref_q, ref_q_next;

static void decision_done(struct decision *d)
{
	d->mode = mfree(d->mode);
	d->quarantine = mfree(d->quarantine);
	d->active = mfree(d->active);
	d->modprobe = mfree(d->modprobe);
}

static void boot_init(void)
{
	struct boot_opts o = {.root = root};

	assert_int_equal(boot_phase_init(&o), 0);
}

static int boot_rootfs_rc(void)
{
	_cleanup_free_ char *run = at("/run/lifeline");
	struct boot_opts o = {.root = root, .run_dir = run};

	return boot_phase_rootfs(&o);
}

static void boot_rootfs(void)
{
	assert_int_equal(boot_rootfs_rc(), 0);
}

static int init_op(void)
{
	struct boot_opts o = {.root = root};

	return boot_phase_init(&o);
}

static void decision_take(struct decision *d)
{
	struct runstate rs;
	_cleanup_free_ char *p = at(RUNSTATE_FILE);

	memset(d, 0, sizeof(*d));
	store_pref = STORE_PREF_EFI;
	assert_int_equal(load(&d->rec), 0);
	runstate_init(&rs);
	assert_int_equal(runstate_read(p, &rs), 0);
	d->mode = strdup(strempty(rs.mode));
	d->quarantine = strv_join(rs.quarantine, " ");
	if (!d->quarantine)
		d->quarantine = strdup("");
	runstate_done(&rs);
	d->active = get(QUARANTINE_ACTIVE_FILE);
	d->modprobe = get("/run/modprobe.d/lifeline.conf");
}

/* Right after the init phase the active list is still the one before the
 * rootfs phase: compare it only after that phase (with_active). */
static void assert_same_decision_as(const char *what, const struct decision *got,
                                    const struct decision *want, bool with_active);

static void assert_same_decision(const char *what, const struct decision *got,
                                 const struct decision *want)
{
	assert_same_decision_as(what, got, want, true);
}

static void assert_same_decision_as(const char *what, const struct decision *got,
                                    const struct decision *want, bool with_active)
{
	if (!same_record(&got->rec, &want->rec))
		fail_msg("%s: record boot %u failures %u level %u mode %u generation %u flags %#x "
		         "modules %u (%s), "
		         "want boot %u failures %u level %u mode %u generation %u flags %#x "
		         "modules %u (%s)",
		         what, got->rec.boot_seq, got->rec.failures, got->rec.level, got->rec.mode,
		         got->rec.generation, got->rec.flags, got->rec.n_modules,
		         got->rec.n_modules ? got->rec.modules[0] : "", want->rec.boot_seq,
		         want->rec.failures, want->rec.level, want->rec.mode, want->rec.generation,
		         want->rec.flags, want->rec.n_modules,
		         want->rec.n_modules ? want->rec.modules[0] : "");
	if (!streq(got->mode, want->mode) || !streq(got->quarantine, want->quarantine))
		fail_msg("%s: decided mode %s quarantine '%s', want mode %s quarantine '%s'", what,
		         got->mode, got->quarantine, want->mode, want->quarantine);
	if (with_active && !streq_ptr(got->active, want->active))
		fail_msg("%s: active list '%s', want '%s'", what, strnull(got->active),
		         strnull(want->active));
	if (!streq_ptr(got->modprobe, want->modprobe))
		fail_msg("%s: modprobe configuration differs", what);
}

/* A fake root that crashed at three boots, each leaving a panic log that
 * names badsec; the fourth boot escalates to level 1. */
static void crashed_three_times(void)
{
	new_root();
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = no\nstore = efi\n");
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nvendor = BadSec Security\nmodules = badsec\nunits = badsec.service\n"
	    "files = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n");
	put("/etc/lifeline/components.d/other.conf",
	    "[othersec]\nvendor = Other\nmodules = othersec\nfiles = /opt/othersec/bin/*\n");
	put("/opt/badsec/bin/badsecd", "#!/bin/sh\necho badsec\n");
	put("/opt/badsec/content/c-1.bin", "channel 1");
	put("/opt/othersec/bin/od", "other daemon");
	for (unsigned boot = 1; boot <= 3; boot++) {
		power_off();
		boot_init();
		if (boot == 1)
			make_immutable(var_path); /* as efivarfs makes it */
		boot_rootfs();
		put("/sys/fs/pstore/dmesg-efi-173237123410001", OOPS);
	}
	power_off();
}

/* Every file of badsec exactly once, with its content: in place or in the
 * quarantine. in_quarantine: where it must be (-1: either). */
static unsigned n_named;
static const char *named;
static char named_content[256];
static bool named_bad;

static int named_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	if (type == FTW_F && streq(p + ftw->base, named)) {
		char *t = NULL;

		n_named++;
		if (read_full_file(p, 4096, &t, NULL) < 0 || !streq(t, named_content))
			named_bad = true;
		free(t);
	}
	return 0;
}

static void assert_once(const char *what, const char *name, const char *content,
                        const char *in_place, int in_quarantine)
{
	_cleanup_free_ char *opt = at("/opt"), *q = at(QUARANTINE_DIR);

	named = name;
	snprintf(named_content, sizeof(named_content), "%s", content);
	n_named = 0;
	named_bad = false;
	if (access(opt, F_OK) == 0)
		assert_int_equal(nftw(opt, named_one, 16, FTW_PHYS), 0);
	if (access(q, F_OK) == 0)
		assert_int_equal(nftw(q, named_one, 16, FTW_PHYS), 0);
	if (n_named != 1 || named_bad)
		fail_msg("%s: %s found %u times%s", what, name, n_named,
		         named_bad ? ", content changed" : "");
	if (in_quarantine == 1 && exists(in_place))
		fail_msg("%s: %s still in place", what, in_place);
	if (in_quarantine == 0 && !exists(in_place))
		fail_msg("%s: %s not in place", what, in_place);
}

static void assert_badsec_files(const char *what, int in_quarantine)
{
	assert_once(what, "badsecd", "#!/bin/sh\necho badsec\n", "/opt/badsec/bin/badsecd",
	            in_quarantine);
	assert_once(what, "c-1.bin", "channel 1", "/opt/badsec/content/c-1.bin", in_quarantine);
	assert_once(what, "od", "other daemon", "/opt/othersec/bin/od", 0);
}

static void make_boot_references(void)
{
	static bool done;

	if (done)
		return;
	/* the escalating boot, uncut, and the boot after it */
	crashed_three_times();
	boot_init();
	decision_take(&ref_esc);
	boot_rootfs();
	decision_take(&ref_q);
	power_off();
	boot_init();
	decision_take(&ref_esc_next);
	boot_rootfs();
	decision_take(&ref_q_next);
	drop_root();
	assert_int_equal(ref_esc.rec.level, 1);
	assert_string_equal(ref_esc.quarantine, "badsec");
	assert_non_null(ref_q.active);
	done = true;
}

static struct state_record before_cut;

static void init_setup(void)
{
	crashed_three_times();
	store_pref = STORE_PREF_EFI;
	assert_int_equal(load(&before_cut), 0);
}

static void init_after_cut(long n)
{
	char what[64];
	struct state_record r;

	snprintf(what, sizeof(what), "init phase cut at call %ld", n);
	store_pref = STORE_PREF_EFI;
	r = load_after_cut(what);
	if (!same_record(&r, &before_cut) && !same_record(&r, &ref_esc.rec))
		fail_msg(
		    "init phase cut at call %ld: the record is neither the old nor the new one", n);
	assert_badsec_files("init phase cut", 0);
}

static void init_recover(long n)
{
	struct state_record r;
	struct decision d;
	char what[128];
	bool counted;

	store_pref = STORE_PREF_EFI;
	assert_int_equal(load(&r), 0);
	counted = same_record(&r, &ref_esc.rec);
	/* the panic log leaves NVRAM only after the record write: a boot
	 * the cut left uncounted still has it */
	if (!counted && !exists("/sys/fs/pstore/dmesg-efi-173237123410001"))
		fail_msg("init phase cut at call %ld: the panic log is gone from pstore and the "
		         "boot was not counted",
		         n);
	power_off();
	boot_init();
	decision_take(&d);
	/* The cut boot counted itself or it did not: the next boot decides
	 * as the boot after the escalating one, or as the escalating one. */
	snprintf(what, sizeof(what), "init phase cut at call %ld (%s), the next boot", n,
	         counted ? "counted" : "not counted");
	assert_same_decision_as(what, &d, counted ? &ref_esc_next : &ref_esc, false);
	decision_done(&d);
	boot_rootfs();
	decision_take(&d);
	assert_same_decision(what, &d, counted ? &ref_q_next : &ref_q);
	decision_done(&d);
	assert_badsec_files(what, 1);
	assert_no_stray(what, "/");
}

static void init_complete(void)
{
	struct decision d;

	decision_take(&d);
	assert_same_decision("init phase uncut", &d, &ref_esc);
	decision_done(&d);
	/* once the record holds the boot, NVRAM is freed; the text is in /run */
	if (exists("/sys/fs/pstore/dmesg-efi-173237123410001"))
		fail_msg("init phase uncut: the panic log was not erased from pstore");
	if (!exists("/run/lifeline/pstore"))
		fail_msg("init phase uncut: the panic log was not kept in /run/lifeline/pstore");
}

static void test_escalating_boot_survives_a_cut_at_every_call(void **state)
{
	(void)state;
	make_boot_references();
	assert_true(sweep(&(struct change){
	                "boot init phase (record, /run state, modprobe.d, pstore)", init_setup,
	                init_op, init_after_cut, init_recover, init_complete, false}) >= 5);
}

static void rootfs_setup(void)
{
	crashed_three_times();
	boot_init();
}

static int rootfs_op(void)
{
	return boot_rootfs_rc();
}

static void rootfs_after_cut(long n)
{
	_cleanup_free_ struct quarantine_entry *e = NULL;
	unsigned ne = 0;
	char what[64];

	snprintf(what, sizeof(what), "rootfs phase cut at call %ld", n);
	if (quarantine_active_read(root, &e, &ne) < 0)
		fail_msg("%s: the active list does not read", what);
	assert_badsec_files(what, -1);
	assert_once(what, "od", "other daemon", "/opt/othersec/bin/od", 0);
}

static void rootfs_recover(long n)
{
	struct decision d;
	char what[64];

	snprintf(what, sizeof(what), "rootfs phase cut at call %ld, the next boot", n);
	power_off();
	boot_init();
	decision_take(&d);
	assert_same_decision_as(what, &d, &ref_esc_next, false);
	decision_done(&d);
	boot_rootfs();
	decision_take(&d);
	assert_same_decision(what, &d, &ref_q_next);
	decision_done(&d);
	assert_badsec_files(what, 1);
	assert_no_stray(what, "/");
}

static void rootfs_complete(void)
{
	struct decision d;

	decision_take(&d);
	assert_same_decision("rootfs phase uncut", &d, &ref_q);
	decision_done(&d);
	assert_badsec_files("rootfs phase uncut", 1);
}

static void test_quarantining_boot_survives_a_cut_at_every_call(void **state)
{
	(void)state;
	make_boot_references();
	assert_true(sweep(&(struct change){"boot rootfs phase (quarantine, active list)",
	                                   rootfs_setup, rootfs_op, rootfs_after_cut,
	                                   rootfs_recover, rootfs_complete, false}) >= 5);
}

/* The degrading boot (docs/degrade.md): badsec has a degrade step and
 * kernel content, the panic log names its module; the rootfs phase of the
 * escalating boot writes the lists, applies the step (journal, the
 * vendor's file replaced) and moves the kernel content. Cut anywhere, the
 * vendor's file holds its original bytes or the user-mode ones, never a
 * mix; the next boot ends degraded (the lists were written) or with the
 * whole component quarantined (a decision the cut kept off the root is
 * rebuilt as a quarantine), never both half-way. */
static const char BADSEC_CONF_V[] = "# vendor\n[sensor]\nmode = kernel\n[log]\nlevel = 2\n";
static const char BADSEC_CONF_U[] = "# vendor\n[sensor]\nmode = user\n[log]\nlevel = 2\n";

static void degrade_setup(void)
{
	crashed_three_times();
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nvendor = BadSec Security\nmodules = badsec\nunits = badsec.service\n"
	    "files = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n"
	    "kernel_units = badsec-kmod.service\nkernel_content = /opt/badsec/kmod/*.ko\n"
	    "degrade_set = /etc/badsec/badsec.conf sensor.mode user\n");
	put("/etc/badsec/badsec.conf", BADSEC_CONF_V);
	put("/opt/badsec/kmod/badsec.ko", "ELF badsec");
	boot_init();
}

static void assert_badsec_conf(const char *what, const char *want)
{
	_cleanup_free_ char *t = get("/etc/badsec/badsec.conf");

	if (!t || (want ? !streq(t, want) : !streq(t, BADSEC_CONF_V) && !streq(t, BADSEC_CONF_U)))
		fail_msg("%s: /etc/badsec/badsec.conf holds '%s'", what, t ? t : "(nothing)");
}

static void degrade_after_cut(long n)
{
	char what[64];

	snprintf(what, sizeof(what), "degrading rootfs phase cut at call %ld", n);
	assert_badsec_conf(what, NULL);
	assert_once(what, "badsec.ko", "ELF badsec", "/opt/badsec/kmod/badsec.ko", -1);
	assert_once(what, "badsecd", "#!/bin/sh\necho badsec\n", "/opt/badsec/bin/badsecd", 0);
}

static void degrade_recover(long n)
{
	_cleanup_free_ char *active = NULL;
	char what[80];

	snprintf(what, sizeof(what), "degrading rootfs phase cut at call %ld, the next boot", n);
	power_off();
	boot_init();
	boot_rootfs();
	active = get(QUARANTINE_ACTIVE_FILE);
	if (active && streq(active, "badsec 1 1 degrade\n")) {
		assert_badsec_conf(what, BADSEC_CONF_U);
		assert_once(what, "badsec.ko", "ELF badsec", "/opt/badsec/kmod/badsec.ko", 1);
		assert_once(what, "badsecd", "#!/bin/sh\necho badsec\n", "/opt/badsec/bin/badsecd",
		            0);
	} else if (active && streq(active, "badsec 1 1\n")) {
		assert_badsec_conf(what, BADSEC_CONF_V);
		assert_once(what, "badsec.ko", "ELF badsec", "/opt/badsec/kmod/badsec.ko", 1);
		assert_badsec_files(what, 1);
	} else
		fail_msg("%s: active list '%s'", what, strnull(active));
	if (exists("/var/lib/lifeline/degrade") &&
	    !exists("/var/lib/lifeline/degrade/badsec/manifest") &&
	    streq(active, "badsec 1 1 degrade\n"))
		fail_msg("%s: degraded without its journal", what);
	assert_no_stray(what, "/");
}

static void degrade_complete(void)
{
	_cleanup_free_ char *active = get(QUARANTINE_ACTIVE_FILE);

	assert_string_equal(active, "badsec 1 1 degrade\n");
	assert_badsec_conf("degrading rootfs phase uncut", BADSEC_CONF_U);
	assert_once("degrading rootfs phase uncut", "badsec.ko", "ELF badsec",
	            "/opt/badsec/kmod/badsec.ko", 1);
	assert_once("degrading rootfs phase uncut", "badsecd", "#!/bin/sh\necho badsec\n",
	            "/opt/badsec/bin/badsecd", 0);
}

static void test_degrading_boot_survives_a_cut_at_every_call(void **state)
{
	(void)state;
	assert_true(sweep(&(struct change){"boot rootfs phase (degrade step, kernel content)",
	                                   degrade_setup, rootfs_op, degrade_after_cut,
	                                   degrade_recover, degrade_complete, false}) >= 10);
}

/* lifelinectl clear after the quarantine (files back, active list, record,
 * history); its recovery is the documented one: clear again (idempotent),
 * then the next boot must be a normal one with every file in place. */
static struct decision ref_cleared;

static void clear_setup(void)
{
	crashed_three_times();
	boot_init();
	boot_rootfs();
}

static int clear_op(void)
{
	struct ctl_ctx ctx = {.root = root, .all = true};

	return ctl_clear(&ctx) == CTL_EXIT_OK ? 0 : -EIO;
}

static void clear_after_cut(long n)
{
	char what[64];

	snprintf(what, sizeof(what), "clear cut at call %ld", n);
	store_pref = STORE_PREF_EFI;
	(void)load_after_cut(what);
	assert_badsec_files(what, -1);
}

static void clear_recover(long n)
{
	struct decision d;
	char what[64];

	snprintf(what, sizeof(what), "clear cut at call %ld, cleared again", n);
	assert_int_equal(clear_op(), 0);
	assert_badsec_files(what, 0);
	power_off();
	boot_init();
	boot_rootfs();
	decision_take(&d);
	assert_int_equal(d.rec.level, 0);
	assert_string_equal(d.mode, ref_cleared.mode);
	assert_string_equal(d.quarantine, "");
	if (!streq_ptr(d.active, ref_cleared.active))
		fail_msg("%s: active list '%s', want '%s'", what, strnull(d.active),
		         strnull(ref_cleared.active));
	if (d.modprobe && strstr(d.modprobe, "badsec"))
		fail_msg("%s: badsec still blocked after the clear", what);
	decision_done(&d);
	assert_badsec_files(what, 0);
	assert_no_stray(what, "/");
}

static void clear_complete(void)
{
	assert_badsec_files("clear uncut", 0);
}

static void test_clear_survives_a_cut_at_every_call(void **state)
{
	(void)state;
	make_boot_references();
	/* the reference: clear, then the next boot */
	clear_setup();
	assert_int_equal(clear_op(), 0);
	power_off();
	boot_init();
	boot_rootfs();
	decision_take(&ref_cleared);
	drop_root();
	assert_string_equal(ref_cleared.mode, "normal");
	assert_true(sweep(&(struct change){"lifelinectl clear (restore, active list, record)",
	                                   clear_setup, clear_op, clear_after_cut, clear_recover,
	                                   clear_complete, false}) >= 5);
}

/* Blessing: the record's second write of a good boot. */
static struct state_record bless_before;

static void bless_setup(void)
{
	crashed_three_times();
	boot_init();
	boot_rootfs();
	store_pref = STORE_PREF_EFI;
	assert_int_equal(load(&bless_before), 0);
}

static int bless_op(void)
{
	struct ctl_ctx ctx = {.root = root};

	return ctl_bless(&ctx) == CTL_EXIT_OK ? 0 : -EIO;
}

static void bless_after_cut(long n)
{
	char what[64];
	struct state_record r;

	snprintf(what, sizeof(what), "bless cut at call %ld", n);
	store_pref = STORE_PREF_EFI;
	r = load_after_cut(what);
	if (!same_record(&r, &bless_before) && r.failures != 0)
		fail_msg(
		    "bless cut at call %ld: the record is neither the old one nor a blessed one",
		    n);
}

static void bless_recover(long n)
{
	struct state_record r;

	/* a boot not blessed is simply blessed later (lifelined retries), or
	 * counted as failed at the next boot: either way the record is sound */
	assert_int_equal(bless_op(), 0);
	assert_int_equal(load(&r), 0);
	assert_int_equal(r.failures, 0);
	power_off();
	boot_init();
	assert_int_equal(load(&r), 0);
	assert_int_equal(r.failures, 1);
	assert_no_stray("bless", "/");
	(void)n;
}

static void bless_complete(void)
{
	struct state_record r;

	assert_int_equal(load(&r), 0);
	assert_int_equal(r.failures, 0);
}

static void test_bless_survives_a_cut_at_every_call(void **state)
{
	(void)state;
	assert_true(sweep(&(struct change){"lifelinectl bless (record)", bless_setup, bless_op,
	                                   bless_after_cut, bless_recover, bless_complete, true}) >=
	            1);
}

/* ---------------------------------------------------------------------- */
/* Inventory: saving the last-good snapshot */

static struct component_set inv_set;
static struct inventory *inv_old, *inv_new;
static char *inv_old_text, *inv_new_text;

static char *inv_text(const struct inventory *inv)
{
	char *t = NULL;
	size_t n;

	assert_int_equal(inventory_format(inv, &t, &n), 0);
	return t;
}

static void inventory_setup(void)
{
	new_root();
	put("/etc/lifeline/components.d/x.conf",
	    "[examplesec]\nfiles = /opt/x/bin/*\ncontent = /opt/x/content/*.bin\n");
	put("/opt/x/bin/agent", "agent v1");
	put("/opt/x/content/c-290.bin", "channel 290");
	components_done(&inv_set);
	assert_int_equal(components_load(root, &inv_set, NULL), 0);
	inventory_free(inv_old);
	inventory_free(inv_new);
	assert_int_equal(inventory_take(root, &inv_set, NULL, &inv_old), 0);
	assert_int_equal(inventory_save(root, inv_old), 0);
	put("/opt/x/content/c-291.bin", "channel 291");
	assert_int_equal(inventory_take(root, &inv_set, inv_old, &inv_new), 0);
	free(inv_old_text);
	free(inv_new_text);
	inv_old_text = inv_text(inv_old);
	inv_new_text = inv_text(inv_new);
	assert_string_not_equal(inv_old_text, inv_new_text);
}

static int inventory_op(void)
{
	return inventory_save(root, inv_new);
}

static void assert_inventory_is(long n, const char *a, const char *b)
{
	_cleanup_inventory_free_ struct inventory *back = NULL;
	_cleanup_free_ char *t = NULL;
	int r = inventory_load(root, &back);

	if (r < 0)
		fail_msg("inventory cut at call %ld: the last-good inventory does not load: %s", n,
		         strerror(-r));
	t = inv_text(back);
	if (!streq(t, a) && !(b && streq(t, b)))
		fail_msg(
		    "inventory cut at call %ld: the inventory is neither the old nor the new one",
		    n);
}

static void inventory_after_cut(long n)
{
	assert_inventory_is(n, inv_old_text, inv_new_text);
}

static void inventory_recover(long n)
{
	/* the next blessed boot saves again */
	assert_int_equal(inventory_save(root, inv_new), 0);
	assert_inventory_is(n, inv_new_text, NULL);
	assert_no_stray("inventory", "/");
}

static void inventory_complete(void)
{
	assert_inventory_is(0, inv_new_text, NULL);
}

static void test_last_good_inventory_survives_a_cut_at_every_call(void **state)
{
	(void)state;
	assert_true(sweep(&(struct change){"inventory (last-good save)", inventory_setup,
	                                   inventory_op, inventory_after_cut, inventory_recover,
	                                   inventory_complete, true}) >= 4);
	components_done(&inv_set);
	inv_old = inventory_free(inv_old);
	inv_new = inventory_free(inv_new);
	inv_old_text = mfree(inv_old_text);
	inv_new_text = mfree(inv_new_text);
}

/* ---------------------------------------------------------------------- */
/* Spool: adding a report, and sending the spool */

#define RID(n) "0000000000000000000000000000000" #n

static json_object *report(const char *event, const char *id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "event", json_object_new_string(event));
	return o;
}

static void spool(const char *event, const char *id)
{
	json_object *o = report(event, id);

	assert_int_equal(spool_add(root, 1 << 20, o, NULL), 0);
	json_object_put(o);
	usleep(1500); /* distinct microsecond names, in order */
}

/* The ids in the spool, in order, "1 2 3"; every file must parse. */
static char *spooled_ids(long n)
{
	_cleanup_strv_free_ char **names = NULL;
	char *out = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&out, &sz);

	assert_non_null(f);
	assert_int_equal(spool_list(root, &names), 0);
	STRV_FOREACH (nm, names) {
		_cleanup_free_ char *rel = NULL, *t = NULL;
		json_object *o, *v;

		assert_true(asprintf(&rel, "%s/%s", SPOOL_DIR, *nm) > 0);
		t = get(rel);
		o = t ? json_tokener_parse(t) : NULL;
		if (!o || !json_object_object_get_ex(o, "id", &v))
			fail_msg("spool cut at call %ld: %s does not parse", n, *nm);
		fprintf(f, "%s%c", json_object_get_string(v) + 31, nm[1] ? ' ' : '\0');
		json_object_put(o);
	}
	fclose(f);
	return out;
}

static void spool_add_setup(void)
{
	new_root();
	spool("mode-change", RID(1));
	spool("heartbeat", RID(2));
}

static int spool_add_op(void)
{
	json_object *o = report("command", RID(3));
	int r = spool_add(root, 1 << 20, o, NULL);

	json_object_put(o);
	return r;
}

static void spool_add_after_cut(long n)
{
	_cleanup_free_ char *ids = spooled_ids(n);

	if (!streq(ids, "1 2") && !streq(ids, "1 2 3"))
		fail_msg("spool add cut at call %ld: spool holds '%s'", n, ids);
}

static void spool_add_recover(long n)
{
	_cleanup_free_ char *ids = NULL;

	usleep(1500);
	spool("heartbeat", RID(4));
	ids = spooled_ids(n);
	if (!streq(ids, "1 2 4") && !streq(ids, "1 2 3 4"))
		fail_msg("spool add cut at call %ld, then another report: spool holds '%s'", n,
		         ids);
	assert_no_stray("spool", "/");
}

static void spool_add_complete(void)
{
	_cleanup_free_ char *ids = spooled_ids(0);

	assert_string_equal(ids, "1 2 3");
}

static void test_spool_add_survives_a_cut_at_every_call(void **state)
{
	(void)state;
	assert_true(sweep(&(struct change){"spool (add a report)", spool_add_setup, spool_add_op,
	                                   spool_add_after_cut, spool_add_recover,
	                                   spool_add_complete, false}) >= 4);
}

/* Sending: a collector on loopback counts what it got. */
static pid_t collector_pid = -1;
static int collector_port;
static char recv_dir[1300];
static struct lifeline_config spool_cfg;

static void collector_start(void)
{
	snprintf(recv_dir, sizeof(recv_dir), "%s/received", base);
	rm_rf(recv_dir);
	/* the spooled documents are fixtures, not whole reports */
	tu_collector_start(&collector_pid, &collector_port, recv_dir, 300, "--no-schema");
}

static void collector_stop(void)
{
	tu_stop(&collector_pid);
}

/* How many times the collector got report id n since the last clear. */
static unsigned received(unsigned n)
{
	DIR *d = opendir(recv_dir);
	struct dirent *de;
	char want[64];
	unsigned k = 0;

	if (!d)
		return 0;
	snprintf(want, sizeof(want), "\"0000000000000000000000000000000%u\"", n);
	while ((de = readdir(d))) {
		char p[2048], *t = NULL;

		if (!strstr(de->d_name, ".json"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", recv_dir, de->d_name);
		if (read_full_file(p, 1 << 20, &t, NULL) >= 0 && strstr(t, want)) {
			k++;
			(void)unlink(p);
		}
		free(t);
	}
	closedir(d);
	return k;
}

static unsigned got[4];

static void spool_send_setup(void)
{
	new_root();
	spool("mode-change", RID(1));
	spool("heartbeat", RID(2));
	spool("command", RID(3));
	memset(got, 0, sizeof(got));
}

static int spool_send_op(void)
{
	struct spool_backoff b = {0};
	unsigned sent = 0;

	return spool_flush(root, &spool_cfg, &b, 0, true, NULL, NULL, &sent);
}

static void spool_send_after_cut(long n)
{
	_cleanup_free_ char *ids = spooled_ids(n);

	/* nothing lost: every report is delivered or still spooled */
	for (unsigned i = 1; i <= 3; i++) {
		char id[4];

		snprintf(id, sizeof(id), "%u", i);
		got[i] += received(i);
		if (!got[i] && !strstr(ids, id))
			fail_msg(
			    "spool send cut at call %ld: report %u neither delivered nor spooled",
			    n, i);
	}
}

static void spool_send_recover(long n)
{
	struct spool_backoff b = {0};
	unsigned sent = 0;
	_cleanup_free_ char *ids = NULL;

	assert_int_equal(spool_flush(root, &spool_cfg, &b, 0, true, NULL, NULL, &sent), 0);
	ids = spooled_ids(n);
	assert_string_equal(ids, "");
	for (unsigned i = 1; i <= 3; i++) {
		got[i] += received(i);
		/* at least once; one cut between its answer and its unlink
		 * sends it once more (the collector dedups by id) */
		if (got[i] < 1 || got[i] > 1 + cuts_before_recovery)
			fail_msg("spool send cut at call %ld: report %u delivered %u times", n, i,
			         got[i]);
	}
	assert_no_stray("spool send", "/");
}

static void spool_send_complete(void)
{
	_cleanup_free_ char *ids = spooled_ids(0);

	assert_string_equal(ids, "");
	for (unsigned i = 1; i <= 3; i++)
		assert_int_equal(received(i), 1);
}

static void test_spool_send_survives_a_cut_at_every_call(void **state)
{
	char url[128];

	(void)state;
	collector_start();
	config_init_defaults(&spool_cfg);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/report", collector_port);
	spool_cfg.report_url = strdup(url);
	assert_true(sweep(&(struct change){"spool (send and delete)", spool_send_setup,
	                                   spool_send_op, spool_send_after_cut, spool_send_recover,
	                                   spool_send_complete, true}) >= 3);
	config_done(&spool_cfg);
	collector_stop();
}

/* ---------------------------------------------------------------------- */
/* The applied-command sequence */

#define MACHINE_ID "0123456789abcdef0123456789abcdef"

static EVP_PKEY *fleet;
static char fleet_pub[1300];
static char *cmd_doc;
static struct lifeline_config cmd_cfg;

static int marker_apply(const char *r, const struct command *c, void *userdata)
{
	char p[1400], line[64];
	int n;

	(void)userdata;
	/* the action: one durable line per application */
	snprintf(p, sizeof(p), "%s/applied-%" PRIu64, r, c->seq);
	n = snprintf(line, sizeof(line), "applied %" PRIu64 "\n", c->seq);
	if (access(p, F_OK) == 0)
		snprintf(p, sizeof(p), "%s/applied-%" PRIu64 "-again", r, c->seq);
	return write_file_atomic(p, line, (size_t)n, 0644) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

static const struct command_applier marker = {.apply = marker_apply};

static void command_setup(void)
{
	_cleanup_free_ char *pub = NULL;

	new_root();
	put("/etc/machine-id", MACHINE_ID "\n");
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nstore = efi\n[commands]\npublic_key = /etc/lifeline/fleet.pub\n");
	assert_int_equal(read_full_file(fleet_pub, 4096, &pub, NULL), 0);
	put("/etc/lifeline/fleet.pub", pub);
	assert_int_equal(
	    command_seq_write(root, 6,
	                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	    0);
	config_done(&cmd_cfg);
	config_init_defaults(&cmd_cfg);
	assert_int_equal(config_load(root, &cmd_cfg), 0);
}

static int command_process_doc(void)
{
	struct command_check chk;
	int code = -1, r;

	r = command_process(root, &cmd_cfg, cmd_doc, strlen(cmd_doc), "test", &marker,
	                    (int64_t)time(NULL), &chk, &code);
	if (r < 0)
		return r;
	r = chk.verdict == COMMAND_ACCEPTED ? 1 : 0;
	command_check_done(&chk);
	return r;
}

static int command_op(void)
{
	int r = command_process_doc();

	return r < 0 ? r : 0;
}

static void command_after_cut(long n)
{
	uint64_t seq = 0;
	int r = command_seq_read(root, &seq, NULL);

	if (r < 0)
		fail_msg("command cut at call %ld: the seq file does not read: %s", n,
		         strerror(-r));
	if (seq != 6 && seq != 7)
		fail_msg("command cut at call %ld: seq %" PRIu64, n, seq);
	/* applied only after the seq is durable */
	if (exists("/applied-7") && seq != 7)
		fail_msg("command cut at call %ld: applied with the seq not recorded", n);
}

static void command_recover(long n)
{
	uint64_t seq = 0;
	int r;

	assert_int_equal(command_seq_read(root, &seq, NULL), 0);
	/* the same document comes again (the poller fetches it again) */
	r = command_process_doc();
	assert_true(r >= 0);
	if (seq == 7 && r != 0)
		fail_msg("command cut at call %ld after the seq was recorded: the document was "
		         "applied again",
		         n);
	if (seq == 6 && r != 1)
		fail_msg("command cut at call %ld before the seq was recorded: not applied the "
		         "second time",
		         n);
	if (exists("/applied-7-again"))
		fail_msg("command cut at call %ld: applied twice", n);
	assert_int_equal(command_seq_read(root, &seq, NULL), 0);
	assert_int_equal(seq, 7);
	assert_no_stray("command", "/var");
	assert_no_stray("command", "/etc");
}

static void command_complete(void)
{
	uint64_t seq = 0;

	assert_int_equal(command_seq_read(root, &seq, NULL), 0);
	assert_int_equal(seq, 7);
	assert_true(exists("/applied-7"));
}

static void test_applied_command_sequence_survives_a_cut_at_every_call(void **state)
{
	struct command c = {.seq = 7, .action = COMMAND_ACTION_CLEAR};
	char keyp[1300], *body = NULL;

	(void)state;
	snprintf(keyp, sizeof(keyp), "%s/fleet.key", base);
	snprintf(fleet_pub, sizeof(fleet_pub), "%s/fleet.pub", base);
	assert_int_equal(command_keygen(keyp, fleet_pub), 0);
	assert_int_equal(command_key_load_private(keyp, &fleet), 0);
	c.expires = (int64_t)time(NULL) + 3600;
	c.issued = (int64_t)time(NULL) - 5;
	assert_int_equal(strv_split_ws("all", &c.targets), 0);
	assert_int_equal(strv_split_ws("", &c.components), 0);
	assert_int_equal(command_body_format(&c, &body), 0);
	assert_int_equal(command_sign(fleet, body, strlen(body), &cmd_doc), 0);
	free(body);
	command_done(&c);
	config_init_defaults(&cmd_cfg);
	assert_true(sweep(&(struct change){"applied-command sequence", command_setup, command_op,
	                                   command_after_cut, command_recover, command_complete,
	                                   true}) >= 3);
	config_done(&cmd_cfg);
	cmd_doc = mfree(cmd_doc);
	EVP_PKEY_free(fleet);
}

/* ---------------------------------------------------------------------- */

static void test_report_coverage(void **state)
{
	(void)state;
	printf("power-cut: %u cut points covered over every persistent change, %u more during a "
	       "rerun\n",
	       total_points, total_in_recovery);
	assert_true(total_points > 0);
}

static int setup_base(void **state)
{
	const char *ev = getenv("EFIVARFS_PATH");

	(void)state;
	if (!ev || !*ev) {
		fprintf(stderr, "EFIVARFS_PATH is not set: run through tests/run-unit.sh\n");
		return -1;
	}
	if (tu_mkdtemp(base, sizeof(base), "power-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	/* The fake roots on a tmpfs of their own (in a private mount
	 * namespace, as root): a sweep makes thousands of fsync() calls,
	 * which on a busy disk cost minutes and prove nothing more here. */
	if (tu_private_mounts() &&
	    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=0700") == 0)
		base_mounted = true;
	return 0;
}

static int teardown_base(void **state)
{
	(void)state;
	if (base_mounted)
		(void)umount2(base, MNT_DETACH);
	decision_done(&ref_esc);
	decision_done(&ref_esc_next);
	decision_done(&ref_q);
	decision_done(&ref_q_next);
	decision_done(&ref_cleared);
	reset_var();
	return nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_record_efi_variable_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_state_record_file_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_escalating_boot_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_quarantining_boot_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_degrading_boot_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_clear_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_bless_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_last_good_inventory_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_spool_add_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_spool_send_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_applied_command_sequence_survives_a_cut_at_every_call),
	    cmocka_unit_test(test_report_coverage),
	};

	unsetenv("LIFELINE_FAULT");
	return cmocka_run_group_tests(tests, setup_base, teardown_base);
}
