/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file quarantine on real files in a temp root: apply and restore
 * give back an identical tree (content, mode, owner, mtime, xattrs),
 * symlinks are never followed, paths outside the globs are untouched, a
 * vendor's newer file is kept, re-applying is idempotent, moves across
 * filesystems (a tmpfs in a private mount namespace, as root), the
 * manifest format, the boot's rootfs phase and lifelinectl clear/quarantine,
 * and the time for 1,000 files.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/boot.h"
#include "agent/conf/components.h"
#include "agent/ctl/ctl.h"
#include "agent/quarantine/quarantine-internal.h"
#include "agent/quarantine/quarantine.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "tests/util/testutil.h"

static char tmp_base[1024];
static char root[1100];
static unsigned root_seq;
static bool xattrs_work;

/* ---------------------------------------------------------------------- */
/* Fixtures */

static int make_base(void **state)
{
	const char *base = getenv("LIFELINE_TEST_TMP");
	char probe[1200];
	int fd;

	(void)state;
	snprintf(tmp_base, sizeof(tmp_base), "%s/test-quarantine.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmp_base))
		return -1;
	snprintf(probe, sizeof(probe), "%s/xattr-probe", tmp_base);
	fd = open(probe, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	xattrs_work = fsetxattr(fd, "user.test", "x", 1, 0) == 0;
	if (!xattrs_work)
		printf("# user xattrs refused by %s (%m): the xattr checks are skipped\n",
		       tmp_base);
	close(fd);
	unlink(probe);
	return 0;
}

static int remove_base(void **state)
{
	char cmd[2200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "chattr -R -i '%s' >/dev/null 2>&1; rm -rf '%s'", tmp_base,
	         tmp_base);
	return system(cmd) == 0 ? 0 : -1;
}

static int new_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/root%u", tmp_base, root_seq++);
	return mkdir_p(root, 0755);
}

static char *at_root(const char *rel)
{
	char *p = path_join(root, rel);

	assert_non_null(p);
	return p;
}

/* root + rel with content, mode and mtime (parents created). */
static void put_full(const char *rel, const char *text, mode_t mode, time_t mtime)
{
	_cleanup_free_ char *path = at_root(rel), *dir = strdup(path);
	struct timespec ts[2] = {{.tv_sec = mtime, .tv_nsec = 123456789},
	                         {.tv_sec = mtime, .tv_nsec = 987654321}};
	int fd;

	assert_non_null(dir);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static void put(const char *rel, const char *text)
{
	put_full(rel, text, 0644, 1700000000);
}

static bool exists(const char *rel)
{
	_cleanup_free_ char *p = at_root(rel);
	struct stat st;

	return lstat(p, &st) == 0;
}

static char *get(const char *rel)
{
	_cleanup_free_ char *p = at_root(rel);
	char *text = NULL;

	if (read_full_file(p, 1 << 20, &text, NULL) < 0)
		return NULL;
	return text;
}

static void set_xattr(const char *rel, const char *value)
{
	_cleanup_free_ char *p = at_root(rel);

	if (xattrs_work)
		assert_int_equal(lsetxattr(p, "user.test", value, strlen(value), 0), 0);
}

/* A component with the given globs (space-separated). */
static void make_component(struct component *c, const char *id, const char *files,
                           const char *content)
{
	memset(c, 0, sizeof(*c));
	c->id = strdup(id);
	assert_non_null(c->id);
	assert_int_equal(strv_split_ws(files ? files : "", &c->files), 0);
	assert_int_equal(strv_split_ws(content ? content : "", &c->content), 0);
	c->rollback_content = true;
}

/* ---------------------------------------------------------------------- */
/* A tree's fingerprint: one line per entry under the given top dirs */

static FILE *snap_out;
static size_t snap_skip;

static int snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = path + snap_skip;

	(void)type;
	(void)ftw;
	if (S_ISREG(st->st_mode)) {
		_cleanup_free_ char *text = NULL;
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char xv[256] = "";
		ssize_t xl = lgetxattr(path, "user.test", xv, sizeof(xv) - 1);
		size_t size = 0;

		assert_int_equal(read_full_file(path, 64 << 20, &text, &size), 0);
		assert_int_equal(EVP_Digest(text, size, md, &n, EVP_sha256(), NULL), 1);
		xv[xl > 0 ? xl : 0] = 0;
		fprintf(snap_out, "F %s mode=%o uid=%u gid=%u size=%zu mtime=%lld.%09ld sha=", rel,
		        (unsigned)st->st_mode & 07777, (unsigned)st->st_uid, (unsigned)st->st_gid,
		        size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
		for (unsigned i = 0; i < n; i++)
			fprintf(snap_out, "%02x", md[i]);
		fprintf(snap_out, " user.test=%s\n", xv);
	} else if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t k = readlink(path, target, sizeof(target) - 1);

		target[k > 0 ? k : 0] = 0;
		fprintf(snap_out, "L %s -> %s\n", rel, target);
	} else if (S_ISDIR(st->st_mode))
		fprintf(snap_out, "D %s\n", rel);
	return 0;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fingerprint of root/top, sorted (readdir order differs between
 * filesystems and after a restore); caller frees. */
static char *snapshot(const char *top)
{
	_cleanup_free_ char *dir = at_root(top), *buf = NULL;
	_cleanup_strv_free_ char **lines = NULL;
	size_t size = 0;

	snap_out = open_memstream(&buf, &size);
	assert_non_null(snap_out);
	snap_skip = strlen(root);
	assert_int_equal(nftw(dir, snap_one, 16, FTW_PHYS), 0);
	assert_int_equal(fclose(snap_out), 0);
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		assert_int_equal(strv_extend(&lines, l), 0);
	if (lines)
		qsort(lines, strv_length(lines), sizeof(char *), line_cmp);
	return strv_join(lines, "\n");
}

static bool lines_contain(char **lines, const char *needle)
{
	STRV_FOREACH (l, lines)
		if (strstr(*l, needle))
			return true;
	return false;
}

static void print_lines(const struct quarantine_result *r)
{
	STRV_FOREACH (l, r->lines)
		printf("#   %s\n", *l);
}

/* ---------------------------------------------------------------------- */

static void populate_badsec(void)
{
	put_full("/opt/badsec/bin/badsecd", "#!/bin/sh\necho daemon\n", 04755, 1600000000);
	put_full("/opt/badsec/bin/helper", "helper binary\n", 0700, 1600000100);
	put_full("/opt/badsec/content/channel-291.bin", "\x01\x02 channel file\n", 0640,
	         1721347200);
	put_full("/opt/badsec/content/channel-292.bin", "", 0600, 1721347300); /* empty */
	put("/opt/badsec/content/README.txt", "not content\n");
	put("/opt/badsec/etc/badsec.conf", "key=value\n");
	set_xattr("/opt/badsec/bin/badsecd", "label-1");
	set_xattr("/opt/badsec/content/channel-291.bin", "");
	if (geteuid() == 0) {
		_cleanup_free_ char *p = at_root("/opt/badsec/bin/helper");
		assert_int_equal(lchown(p, 1234, 5678), 0);
		/* chown cleared nothing on 0700; set again to be sure */
		assert_int_equal(chmod(p, 0700), 0);
	}
}

static void test_apply_then_restore_gives_an_identical_tree(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL, *text = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	populate_badsec();
	{
		/* setuid survives the chown in populate only if set after it */
		_cleanup_free_ char *p = at_root("/opt/badsec/bin/badsecd");
		assert_int_equal(chmod(p, 04755), 0);
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
		                         {.tv_sec = 1600000000, .tv_nsec = 5}};
		assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	}
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	before = snapshot("/opt");

	assert_int_equal(quarantine_apply(root, &c, 3, &res), 0);
	print_lines(&res);
	assert_int_equal(res.moved, 4);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_false(exists("/opt/badsec/bin/helper"));
	assert_false(exists("/opt/badsec/content/channel-291.bin"));
	assert_true(exists("/opt/badsec/content/README.txt"));
	assert_true(exists("/var/lib/lifeline/quarantine/3/badsec/files/opt/badsec/bin/badsecd"));
	assert_true(exists(
	    "/var/lib/lifeline/quarantine/3/badsec/files/opt/badsec/content/channel-292.bin"));
	text = get("/var/lib/lifeline/quarantine/3/badsec/manifest");
	assert_non_null(text);
	assert_non_null(strstr(
	    text,
	    "lifeline-quarantine-manifest 1\ncomponent badsec\ngeneration 3\nstate applied\n"));
	assert_non_null(strstr(text, "file moved /opt/badsec/bin/badsecd mode=4755 uid="));
	assert_non_null(strstr(text, " size=22 mtime=1600000000.000000005 sha256="));
	assert_int_equal(quarantine_exists(root, "badsec", 3), 1);
	assert_int_equal(quarantine_exists(root, "badsec", 4), 0);
	assert_int_equal(quarantine_needs_recovery(root), 0);
	{
		_cleanup_strv_free_ char **ids = NULL;
		assert_int_equal(quarantine_list(root, &ids), 0);
		assert_int_equal(strv_length(ids), 1);
		assert_string_equal(ids[0], "badsec");
	}

	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	print_lines(&res);
	assert_int_equal(res.restored, 4);
	assert_int_equal(res.kept_vendor, 0);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	after = snapshot("/opt");
	assert_string_equal(before, after);
	/* nothing left behind */
	assert_false(exists("/var/lib/lifeline/quarantine/3"));
	assert_int_equal(quarantine_exists(root, "badsec", 3), 0);
	component_done(&c);
}

static void test_symlink_matched_by_a_glob_is_neither_followed_nor_moved(void **state)
{
	_cleanup_free_ char *link = NULL, *secret = NULL;
	struct quarantine_result res = {0};
	struct component c;
	char target[256];

	(void)state;
	put("/etc/shadow-like", "secret\n");
	put("/opt/badsec/bin/real", "real\n");
	link = at_root("/opt/badsec/bin/link-to-etc");
	assert_int_equal(symlink("/etc/shadow-like", link), 0);
	secret = at_root("/opt/badsec/bin/relative-link");
	assert_int_equal(symlink("../../../etc/shadow-like", secret), 0);
	make_component(&c, "badsec", "/opt/badsec/bin/*", NULL);

	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	assert_int_equal(res.moved, 1);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	/* the links are where they were, pointing where they pointed */
	assert_int_equal(readlink(link, target, sizeof(target)),
	                 (ssize_t)strlen("/etc/shadow-like"));
	assert_true(exists("/opt/badsec/bin/relative-link"));
	assert_true(exists("/etc/shadow-like"));
	assert_false(
	    exists("/var/lib/lifeline/quarantine/1/badsec/files/opt/badsec/bin/link-to-etc"));
	assert_false(exists("/var/lib/lifeline/quarantine/1/badsec/files/etc"));
	assert_false(exists("/opt/badsec/bin/real"));
	component_done(&c);
}

/* A folder the vendor removed after the apply comes back as it was: a
 * 0700 secrets folder is not made world-readable by the restore. */
static void test_restore_makes_missing_folders_with_their_modes(void **state)
{
	_cleanup_free_ char *top = NULL, *keys = NULL, *cmd = NULL;
	struct quarantine_result res = {0};
	struct component c;
	struct stat st;
	mode_t old = umask(022);

	(void)state;
	put("/opt/vault/keys/private/agent.key", "secret\n");
	put("/opt/vault/bin/vaultd", "daemon\n");
	top = at_root("/opt/vault/keys");
	keys = at_root("/opt/vault/keys/private");
	assert_int_equal(chmod(keys, 0700), 0);
	assert_int_equal(chmod(top, 02750), 0); /* setgid survives the restore's chown */
	make_component(&c, "vault", "/opt/vault/keys/private/* /opt/vault/bin/*", NULL);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	assert_int_equal(res.moved, 2);
	quarantine_result_done(&res);

	/* the vendor's uninstall removed the folders meanwhile */
	assert_int_equal(rmdir(keys), 0);
	assert_int_equal(rmdir(top), 0);
	assert_false(exists("/opt/vault/keys"));

	assert_int_equal(quarantine_restore(root, "vault", &res), 0);
	print_lines(&res);
	assert_int_equal(res.restored, 2);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	assert_int_equal(lstat(keys, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(top, &st), 0);
	assert_int_equal(st.st_mode & 07777, 02750);
	assert_true(exists("/opt/vault/keys/private/agent.key"));
	umask(old);
	component_done(&c);
}

/* Merged /usr: a glob written through /lib (a link to usr/lib) moves the
 * file at its real path, and the restore puts it back there. */
static void test_globs_through_merged_usr_links_are_quarantined(void **state)
{
	_cleanup_free_ char *lib = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	put("/usr/lib/firmware/acme/chan-7.bin", "bad content\n");
	put("/usr/lib/firmware/other/keep.bin", "not acme's\n");
	lib = at_root("/lib");
	assert_int_equal(symlink("usr/lib", lib), 0);
	make_component(&c, "acme", NULL, "/lib/firmware/acme/*.bin");
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	print_lines(&res);
	assert_int_equal(res.moved, 1);
	quarantine_result_done(&res);
	assert_false(exists("/usr/lib/firmware/acme/chan-7.bin"));
	assert_true(exists("/usr/lib/firmware/other/keep.bin"));
	assert_true(
	    exists("/var/lib/lifeline/quarantine/1/acme/files/usr/lib/firmware/acme/chan-7.bin"));

	assert_int_equal(quarantine_restore(root, "acme", &res), 0);
	assert_int_equal(res.restored, 1);
	quarantine_result_done(&res);
	assert_true(exists("/usr/lib/firmware/acme/chan-7.bin"));
	component_done(&c);
}

static void test_symlinked_parent_directory_is_refused(void **state)
{
	_cleanup_free_ char *link = NULL, *bin = NULL, *moved = NULL, *cmd = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	/* at apply: a glob through a symlinked directory matches nothing */
	put("/srv/elsewhere/tool", "not badsec's\n");
	put("/opt/badsec/bin/badsecd", "daemon\n");
	link = at_root("/opt/badsec/lib");
	assert_int_equal(symlink("/srv/elsewhere", link), 0);
	make_component(&c, "badsec", "/opt/badsec/lib/* /opt/badsec/bin/*", NULL);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	assert_int_equal(res.moved, 1);
	quarantine_result_done(&res);
	assert_true(exists("/srv/elsewhere/tool"));

	/* at restore: the directory became a symlink meanwhile; the file is
	 * not written through it and stays in the quarantine */
	bin = at_root("/opt/badsec/bin");
	moved = at_root("/opt/badsec/bin.moved");
	assert_int_equal(rename(bin, moved), 0);
	assert_int_equal(symlink("/srv/elsewhere", bin), 0);
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	print_lines(&res);
	assert_int_equal(res.restored, 0);
	assert_int_equal(res.errors, 1);
	assert_true(lines_contain(res.lines, "a directory in its path is a symlink"));
	quarantine_result_done(&res);
	assert_false(exists("/srv/elsewhere/badsecd"));
	assert_true(exists("/var/lib/lifeline/quarantine/1/badsec/files/opt/badsec/bin/badsecd"));

	/* once the directory is real again, the restore finishes */
	assert_int_equal(unlink(bin), 0);
	assert_int_equal(rename(moved, bin), 0);
	assert_int_equal(quarantine_needs_recovery(root), 1);
	assert_int_equal(quarantine_recover(root), 1);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	assert_false(exists("/var/lib/lifeline/quarantine/1"));
	component_done(&c);
}

static void test_paths_outside_the_globs_are_untouched(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	populate_badsec();
	put("/opt/other/bin/otherd", "other\n");
	put("/opt/badsec/bin/.hidden", "dot files do not match '*'\n");
	put("/opt/badsec/bin/sub/deeper", "one level too deep for bin/*\n");
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	before = snapshot("/opt/other");
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	quarantine_result_done(&res);
	assert_true(exists("/opt/badsec/content/README.txt"));
	assert_true(exists("/opt/badsec/etc/badsec.conf"));
	assert_true(exists("/opt/badsec/bin/.hidden"));
	assert_true(exists("/opt/badsec/bin/sub/deeper"));
	after = snapshot("/opt/other");
	assert_string_equal(before, after);
	component_done(&c);
}

static void test_vendor_replaced_file_is_kept_on_restore(void **state)
{
	_cleanup_free_ char *text = NULL, *copy = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	populate_badsec();
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	assert_int_equal(quarantine_apply(root, &c, 5, &res), 0);
	quarantine_result_done(&res);
	/* the fixed update arrives while the old file is quarantined */
	put("/opt/badsec/content/channel-291.bin", "fixed channel file\n");

	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	print_lines(&res);
	assert_int_equal(res.restored, 3);
	assert_int_equal(res.kept_vendor, 1);
	assert_int_equal(res.errors, 0);
	assert_true(lines_contain(
	    res.lines, "/opt/badsec/content/channel-291.bin: the vendor put a different file"));
	assert_true(lines_contain(res.lines,
	                          "quarantine/5/badsec/files/opt/badsec/content/channel-291.bin"));
	quarantine_result_done(&res);
	text = get("/opt/badsec/content/channel-291.bin");
	assert_string_equal(text, "fixed channel file\n");
	copy =
	    get("/var/lib/lifeline/quarantine/5/badsec/files/opt/badsec/content/channel-291.bin");
	assert_string_equal(copy, "\x01\x02 channel file\n");
	assert_true(exists("/opt/badsec/bin/badsecd"));

	/* finished: not listed as quarantined, a second restore has nothing to do */
	{
		_cleanup_strv_free_ char **ids = NULL;
		assert_int_equal(quarantine_list(root, &ids), 0);
		assert_int_equal(strv_length(ids), 0);
	}
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	assert_int_equal(res.restored + res.kept_vendor + res.errors, 0);
	quarantine_result_done(&res);

	/* quarantining again in the same generation sets the leftover aside */
	assert_int_equal(quarantine_apply(root, &c, 5, &res), 0);
	assert_int_equal(res.moved, 4);
	quarantine_result_done(&res);
	assert_true(exists(
	    "/var/lib/lifeline/quarantine/5/badsec~1/files/opt/badsec/content/channel-291.bin"));
	component_done(&c);
}

static void test_reapply_is_idempotent_and_picks_up_new_files(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL, *mpath = NULL;
	struct quarantine_result res = {0};
	struct component c;
	struct stat st1, st2;

	(void)state;
	populate_badsec();
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	assert_int_equal(quarantine_apply(root, &c, 2, &res), 0);
	assert_int_equal(res.moved, 4);
	quarantine_result_done(&res);
	mpath = at_root("/var/lib/lifeline/quarantine/2/badsec/manifest");
	assert_int_equal(stat(mpath, &st1), 0);
	before = snapshot("/");

	assert_int_equal(quarantine_apply(root, &c, 2, &res), 0);
	assert_int_equal(res.moved, 4);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	after = snapshot("/");
	assert_string_equal(before, after);
	assert_int_equal(stat(mpath, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino); /* not even rewritten */

	/* the vendor's updater drops a new content file: it is quarantined too */
	put("/opt/badsec/content/channel-293.bin", "new\n");
	assert_int_equal(quarantine_apply(root, &c, 2, &res), 0);
	assert_int_equal(res.moved, 5);
	quarantine_result_done(&res);
	assert_false(exists("/opt/badsec/content/channel-293.bin"));
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	assert_int_equal(res.restored, 5);
	quarantine_result_done(&res);
	assert_true(exists("/opt/badsec/content/channel-293.bin"));
	component_done(&c);
}

static void test_file_that_cannot_be_moved_is_reported_and_the_rest_move(void **state)
{
	_cleanup_free_ char *p = NULL;
	struct quarantine_result res = {0};
	struct component c;
	int fd, flags = FS_IMMUTABLE_FL, r;

	(void)state;
	populate_badsec();
	p = at_root("/opt/badsec/bin/helper");
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	close(fd);
	if (r < 0) {
		printf("# cannot make a file immutable here (%m): skipped\n");
		return;
	}
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	print_lines(&res);
	assert_int_equal(res.moved, 3);
	assert_int_equal(res.errors, 1);
	assert_true(lines_contain(res.lines,
	                          "/opt/badsec/bin/helper: cannot be quarantined, left in place"));
	quarantine_result_done(&res);
	assert_true(exists("/opt/badsec/bin/helper"));

	/* once it is mutable again a re-apply retries it */
	flags = 0;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_int_equal(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
	close(fd);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	assert_int_equal(res.moved, 4);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	assert_false(exists("/opt/badsec/bin/helper"));
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	assert_int_equal(res.restored, 4);
	quarantine_result_done(&res);
	component_done(&c);
}

static void test_reapply_with_failed_entries_and_new_files_sorting_before_them(void **state)
{
	_cleanup_(qmanifest_done) struct qmanifest m = {0}, back = {0};
	_cleanup_free_ char *qdir = at_root("/var/lib/lifeline/quarantine/1/x");
	struct quarantine_result res = {0};
	struct component c;
	int fd;

	(void)state;
	/* c and d could not be moved last time (their entries say failed);
	 * a and b are new and sort before them */
	put("/opt/x/a", "a\n");
	put("/opt/x/b", "b\n");
	put("/opt/x/c", "c\n");
	put("/opt/x/d", "d\n");
	assert_int_equal(mkdir_p(qdir, 0700), 0);
	fd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	m.component = strdup("x");
	m.generation = 1;
	m.state = QM_APPLIED;
	for (const char *p = "cd"; *p; p++) {
		struct qentry e = {.state = QE_FAILED, .mode = 0644, .error = EPERM};

		assert_true(asprintf(&e.path, "/opt/x/%c", *p) > 0);
		assert_int_equal(qmanifest_add(&m, &e), 0);
	}
	assert_int_equal(qmanifest_save(fd, &m), 0);

	make_component(&c, "x", "/opt/x/*", NULL);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	print_lines(&res);
	assert_int_equal(res.moved, 4);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	/* one entry per file, and the manifest still loads */
	assert_int_equal(qmanifest_load(fd, &back), 0);
	assert_int_equal(back.n, 4);
	close(fd);
	assert_int_equal(quarantine_restore(root, "x", &res), 0);
	assert_int_equal(res.restored, 4);
	quarantine_result_done(&res);
	component_done(&c);
}

static void test_odd_file_names_round_trip(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	put("/opt/badsec/bin/with space", "1\n");
	put("/opt/badsec/bin/with\nnewline", "2\n");
	put("/opt/badsec/bin/100%done", "3\n");
	put("/opt/badsec/bin/caf\xc3\xa9", "4\n");
	make_component(&c, "badsec", "/opt/badsec/bin/*", NULL);
	before = snapshot("/opt");
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	assert_int_equal(res.moved, 4);
	quarantine_result_done(&res);
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	assert_int_equal(res.restored, 4);
	quarantine_result_done(&res);
	after = snapshot("/opt");
	assert_string_equal(before, after);
	component_done(&c);
}

static void test_restore_recreates_a_removed_directory(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL, *cmd = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	populate_badsec();
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	before = snapshot("/opt/badsec/bin");
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	quarantine_result_done(&res);
	assert_true(asprintf(&cmd, "rm -rf '%s/opt/badsec/bin'", root) > 0);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	assert_int_equal(res.restored, 4);
	quarantine_result_done(&res);
	after = snapshot("/opt/badsec/bin");
	assert_string_equal(before, after);
	component_done(&c);
}

static void test_restore_of_a_component_not_in_quarantine_is_an_empty_success(void **state)
{
	struct quarantine_result res = {0};
	struct component c = {0};

	(void)state;
	assert_int_equal(quarantine_restore(root, "nothing", &res), 0);
	assert_int_equal(res.restored + res.kept_vendor + res.errors, 0);
	quarantine_result_done(&res);
	assert_int_equal(quarantine_restore(root, "../etc", &res), -EINVAL);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), -EINVAL);
	assert_int_equal(quarantine_recover(root), 0);
	assert_int_equal(quarantine_needs_recovery(root), 0);
}

static void test_component_without_files_records_an_empty_quarantine(void **state)
{
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	make_component(&c, "othersec", "/opt/othersec/bin/*", NULL);
	assert_int_equal(quarantine_apply(root, &c, 2, &res), 0);
	assert_int_equal(res.moved, 0);
	quarantine_result_done(&res);
	assert_int_equal(quarantine_exists(root, "othersec", 2), 1);
	assert_int_equal(quarantine_restore(root, "othersec", &res), 0);
	quarantine_result_done(&res);
	assert_int_equal(quarantine_exists(root, "othersec", 2), 0);
	assert_false(exists("/var/lib/lifeline/quarantine/2"));
	component_done(&c);
}

static void test_damaged_copy_is_not_restored(void **state)
{
	_cleanup_free_ char *copy = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	populate_badsec();
	make_component(&c, "badsec", "/opt/badsec/bin/*", NULL);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	quarantine_result_done(&res);
	copy = at_root("/var/lib/lifeline/quarantine/1/badsec/files/opt/badsec/bin/helper");
	assert_int_equal(write_file_atomic(copy, "bitrot\n", 7, 0700), 0);
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	print_lines(&res);
	assert_int_equal(res.restored, 1);
	assert_int_equal(res.errors, 1);
	assert_true(lines_contain(res.lines, "does not match its recorded SHA-256"));
	quarantine_result_done(&res);
	assert_false(exists("/opt/badsec/bin/helper"));
	assert_true(exists("/var/lib/lifeline/quarantine/1/badsec/manifest"));
	component_done(&c);
}

static void test_restore_after_an_interrupted_apply_puts_back_what_was_moved(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL;
	struct quarantine_result res = {0};
	struct component c;
	int status;
	pid_t pid;

	(void)state;
	populate_badsec();
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	before = snapshot("/opt");
	/* power fails before the third move */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LIFELINE_FAULT", "quarantine-apply-rename:3", 1);
		_exit(quarantine_apply(root, &c, 4, NULL) < 0 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 99);
	assert_int_equal(quarantine_needs_recovery(root), 1);

	/* the administrator clears it before any recovery ran */
	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	print_lines(&res);
	assert_int_equal(res.restored, 2);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	after = snapshot("/opt");
	assert_string_equal(before, after);
	assert_false(exists("/var/lib/lifeline/quarantine/4"));
	assert_int_equal(quarantine_needs_recovery(root), 0);
	component_done(&c);
}

/* ---------------------------------------------------------------------- */
/* Wired into the boot and lifelinectl */

static void write_runstate(const char *action, unsigned generation, const char *quarantine)
{
	_cleanup_free_ char *path = at_root("/run/lifeline/state");
	struct runstate rs;

	runstate_init(&rs);
	rs.action = strdup(action);
	rs.mode = strdup("safe");
	rs.generation = generation;
	rs.level = 1;
	if (quarantine)
		assert_int_equal(strv_extend(&rs.quarantine, quarantine), 0);
	assert_int_equal(runstate_write(path, &rs), 0);
	runstate_done(&rs);
}

static void boot_rootfs(void)
{
	_cleanup_free_ char *run = at_root("/run/lifeline");
	struct boot_opts o = {.root = root, .run_dir = run};

	assert_int_equal(boot_phase_rootfs(&o), 0);
}

static void test_rootfs_phase_moves_files_and_lifelinectl_clear_puts_them_back(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL, *conf = NULL, *active = NULL;
	char *args[] = {(char *)"badsec", NULL};
	struct ctl_ctx ctx = {.root = root};
	struct ctl_ctx qctx = {.root = root, .args = args, .n_args = 1};

	(void)state;
	populate_badsec();
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nfiles = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n");
	assert_true(asprintf(&conf,
	                     "[boot]\nstore = file\nstate_file = %s/var/lib/lifeline/state.rec\n",
	                     root) > 0);
	put("/etc/lifeline/lifeline.conf", conf);
	before = snapshot("/opt");

	/* a crash loop escalated in the initramfs: the rootfs phase records
	 * the quarantine and moves the files */
	write_runstate("escalate", 2, "badsec");
	boot_rootfs();
	active = get(QUARANTINE_ACTIVE_FILE);
	assert_string_equal(active, "badsec 2 1\n");
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_int_equal(quarantine_exists(root, "badsec", 2), 1);

	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	after = snapshot("/opt");
	assert_string_equal(before, after);
	assert_false(exists("/var/lib/lifeline/quarantine/2"));
	assert_false(exists(QUARANTINE_ACTIVE_FILE));

	/* lifelinectl quarantine: the files move at the next boot's rootfs
	 * phase, before the component runs */
	assert_int_equal(ctl_quarantine(&qctx), CTL_EXIT_OK);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	write_runstate("none", 0, NULL);
	boot_rootfs();
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	free(after);
	after = snapshot("/opt");
	assert_string_equal(before, after);
}

static void test_rootfs_phase_finishes_an_interrupted_quarantine_on_a_normal_boot(void **state)
{
	struct component c;
	int status;
	pid_t pid;

	(void)state;
	populate_badsec();
	put("/etc/lifeline/components.d/badsec.conf", "[badsec]\nfiles = /opt/badsec/bin/*\n");
	make_component(&c, "badsec", "/opt/badsec/bin/*", NULL);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LIFELINE_FAULT", "quarantine-apply-rename:2", 1);
		_exit(quarantine_apply(root, &c, 1, NULL) < 0 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 99);
	assert_true(exists("/opt/badsec/bin/helper"));

	/* the next boot does not escalate, and still finishes the job */
	write_runstate("none", 1, NULL);
	boot_rootfs();
	assert_false(exists("/opt/badsec/bin/helper"));
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_int_equal(quarantine_needs_recovery(root), 0);
	component_done(&c);
}

/* ---------------------------------------------------------------------- */
/* The manifest format */

/* ---------------------------------------------------------------------- */
/* The lock of the quarantine directory */

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &now), 0);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* What fn(arg) logs on stderr (caller frees); *ret its return value. */
static char *stderr_of(int (*fn)(const void *), const void *arg, int *ret)
{
	char path[1200];
	int fd, saved;

	snprintf(path, sizeof(path), "%s/stderr.XXXXXX", tmp_base);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	*ret = fn(arg);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	{
		char *text = NULL;

		assert_int_equal(read_full_file(path, 1 << 20, &text, NULL), 0);
		unlink(path);
		fputs(text, stderr);
		return text;
	}
}

static int run_ctl_clear(const void *ctx)
{
	return ctl_clear(ctx);
}

static void test_a_held_lock_fails_busy_within_the_bound(void **state)
{
	_cleanup_free_ char *conf = NULL, *log = NULL;
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	struct ctl_ctx ctx = {.root = root};
	unsigned old = quarantine_set_lock_timeout(300);
	_cleanup_free_ char *dir = at_root(QUARANTINE_DIR);
	struct timespec t0;
	struct tu_flock h;
	long took;
	int r;

	(void)state;
	populate_badsec();
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nfiles = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n");
	assert_true(asprintf(&conf,
	                     "[boot]\nstore = file\nstate_file = %s/var/lib/lifeline/state.rec\n",
	                     root) > 0);
	put("/etc/lifeline/lifeline.conf", conf);
	write_runstate("escalate", 2, "badsec");
	boot_rootfs();
	assert_false(exists("/opt/badsec/bin/badsecd"));

	/* held (a hung lifelinectl, say) longer than the bound: -EWOULDBLOCK
	 * after the bound, not a wait for as long as the holder lives */
	tu_flock_hold(&h, dir, 10000);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	r = qstate_dir_open(root, QUARANTINE_DIR, false, &root_fd, &base_fd);
	took = elapsed_ms(&t0);
	assert_int_equal(r, -EWOULDBLOCK);
	assert_int_equal(root_fd, -1);
	assert_true(took >= 300);
	assert_true(took < 3000);
	assert_int_equal(quarantine_restore(root, "badsec", NULL), -EWOULDBLOCK);
	assert_string_equal(quarantine_strerror(-EWOULDBLOCK),
	                    QUARANTINE_DIR ": held by another lifeline process (lifelined or "
	                                   "lifelinectl); nothing was done, try again");
	assert_string_equal(quarantine_strerror(-ENOENT), strerror(ENOENT));
	/* lifelinectl clear says so, and clears nothing */
	log = stderr_of(run_ctl_clear, &ctx, &r);
	assert_int_equal(r, CTL_EXIT_FAILURE);
	assert_non_null(strstr(log, QUARANTINE_DIR ": held by another lifeline process"));
	assert_false(exists("/opt/badsec/bin/badsecd"));
	assert_int_equal(quarantine_exists(root, "badsec", 2), 1);
	tu_flock_release(&h);

	/* released while waiting: the lock is taken then */
	quarantine_set_lock_timeout(10000);
	tu_flock_hold(&h, dir, 200);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	assert_int_equal(qstate_dir_open(root, QUARANTINE_DIR, false, &root_fd, &base_fd), 0);
	took = elapsed_ms(&t0);
	assert_true(took >= 100);
	assert_true(took < 5000);
	assert_int_equal(flock(base_fd, LOCK_EX | LOCK_NB), 0); /* ours */
	close(root_fd);
	close(base_fd);
	root_fd = base_fd = -1;
	tu_flock_release(&h);

	assert_int_equal(ctl_clear(&ctx), CTL_EXIT_OK);
	assert_true(exists("/opt/badsec/bin/badsecd"));
	quarantine_set_lock_timeout(old);
}

static void test_manifest_round_trips_and_refuses_damage(void **state)
{
	_cleanup_free_ char *text = NULL, *again = NULL;
	struct qmanifest m = {0}, p = {0};
	struct qentry e = {0};
	size_t size = 0, size2 = 0;

	(void)state;
	m.component = strdup("badsec");
	m.generation = 42;
	m.state = QM_RESTORING;
	e.path = strdup("/opt/odd name/%x\n\x7f");
	e.state = QE_KEPT_VENDOR;
	e.mode = 04755;
	e.uid = 4000000000u;
	e.gid = 7;
	e.size = 1ull << 40;
	e.mtime_sec = -5;
	e.mtime_nsec = 999999999;
	memset(e.sha256, 0xab, sizeof(e.sha256));
	e.error = EPERM;
	e.xattrs = calloc(2, sizeof(*e.xattrs));
	e.n_xattrs = 2;
	e.xattrs[0].name = strdup("security.selinux");
	e.xattrs[0].value = (uint8_t *)strdup("system_u:object_r:bin_t:s0");
	e.xattrs[0].size = strlen("system_u:object_r:bin_t:s0") + 1; /* with its NUL */
	e.xattrs[1].name = strdup("user.a:b,c=d");
	e.xattrs[1].value = (uint8_t *)strdup("");
	e.xattrs[1].size = 0;
	assert_int_equal(qmanifest_add(&m, &e), 0);
	e.path = strdup("/a");
	assert_int_equal(qmanifest_add(&m, &e), 0);
	qmanifest_sort(&m);

	assert_int_equal(qmanifest_format(&m, &text, &size), 0);
	assert_int_equal(qmanifest_parse(text, size, &p), 0);
	assert_int_equal(qmanifest_format(&p, &again, &size2), 0);
	assert_int_equal(size, size2);
	assert_memory_equal(text, again, size);
	assert_int_equal(p.n, 2);
	assert_non_null(qmanifest_find(&p, "/opt/odd name/%x\n\x7f"));
	assert_int_equal(qmanifest_find(&p, "/opt/odd name/%x\n\x7f")->xattrs[0].size,
	                 strlen("system_u:object_r:bin_t:s0") + 1);
	qmanifest_done(&p);

	/* a flipped byte, a truncation, a newer version, garbage */
	text[40] ^= 1;
	assert_int_equal(qmanifest_parse(text, size, &p), -EBADMSG);
	text[40] ^= 1;
	assert_int_equal(qmanifest_parse(text, size - 10, &p), -EBADMSG);
	assert_int_equal(qmanifest_parse(text, 100, &p), -EBADMSG);
	text[strlen(QM_MAGIC) + 1] = '2';
	assert_int_equal(qmanifest_parse(text, size, &p), -EPROTONOSUPPORT);
	assert_int_equal(qmanifest_parse("hello\n", 6, &p), -EBADMSG);
	qmanifest_done(&m);
}

static void test_manifest_ignores_unknown_fields_of_the_same_version(void **state)
{
	const char body[] = QM_MAGIC
	    " 1\ncomponent x\ngeneration 1\nstate applied\nfuture-key 7\n"
	    "file moved /a mode=0644 uid=0 gid=0 size=0 mtime=1.000000000 sha256="
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 xattrs= new=1\n";
	_cleanup_free_ char *text = NULL;
	struct qmanifest p = {0};
	unsigned char md[32];
	unsigned int n;
	char hex[65];

	(void)state;
	assert_int_equal(EVP_Digest(body, strlen(body), md, &n, EVP_sha256(), NULL), 1);
	sha256_to_hex(md, hex);
	assert_true(asprintf(&text, "%send 1 sha256=%s\n", body, hex) > 0);
	assert_int_equal(qmanifest_parse(text, strlen(text), &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.entries[0].mode, 0644);
	qmanifest_done(&p);
}

/* ---------------------------------------------------------------------- */
/* Across filesystems */

static void test_cross_filesystem_move_copies_then_unlinks_and_restores(void **state)
{
	_cleanup_free_ char *before = NULL, *after = NULL, *opt = NULL, *text = NULL;
	struct quarantine_result res = {0};
	struct component c;

	(void)state;
	if (geteuid() != 0) {
		printf("# not root: no second filesystem, skipped\n");
		return;
	}
	/* a private mount namespace: the tmpfs is seen by this process only */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		printf("# cannot make a mount namespace (%m): skipped\n");
		return;
	}
	opt = at_root("/opt");
	assert_int_equal(mkdir_p(opt, 0755), 0);
	assert_int_equal(mount("lifeline-test", opt, "tmpfs", 0, "mode=0755"), 0);
	populate_badsec();
	make_component(&c, "badsec", "/opt/badsec/bin/*", "/opt/badsec/content/*.bin");
	before = snapshot("/opt");

	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	print_lines(&res);
	assert_int_equal(res.moved, 4);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	assert_false(exists("/opt/badsec/bin/badsecd"));
	text = get("/var/lib/lifeline/quarantine/1/badsec/files/opt/badsec/bin/badsecd");
	assert_string_equal(text, "#!/bin/sh\necho daemon\n");
	{
		/* the copy carries the metadata too */
		_cleanup_free_ char *p =
		    at_root("/var/lib/lifeline/quarantine/1/badsec/files/opt/badsec/bin/helper");
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_mode & 07777, 0700);
		assert_int_equal(st.st_mtim.tv_sec, 1600000100);
	}

	assert_int_equal(quarantine_restore(root, "badsec", &res), 0);
	print_lines(&res);
	assert_int_equal(res.restored, 4);
	assert_int_equal(res.errors, 0);
	quarantine_result_done(&res);
	after = snapshot("/opt");
	assert_string_equal(before, after);
	assert_false(exists("/var/lib/lifeline/quarantine/1"));
	assert_int_equal(umount2(opt, MNT_DETACH), 0);
	component_done(&c);
}

/* ---------------------------------------------------------------------- */
/* Size */

static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void test_thousand_files_are_quarantined_and_restored(void **state)
{
	_cleanup_free_ char *dir = at_root("/opt/big/content");
	struct quarantine_result res = {0};
	struct component c;
	struct timespec t0;
	double apply_ms, restore_ms;

	(void)state;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	for (int i = 0; i < 1000; i++) {
		char rel[128], text[128];

		snprintf(rel, sizeof(rel), "/opt/big/content/file-%04d.bin", i);
		snprintf(text, sizeof(text), "content file %d, a few hundred bytes in real life\n",
		         i);
		put(rel, text);
	}
	sync();
	make_component(&c, "big", NULL, "/opt/big/content/*.bin");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	apply_ms = ms_since(&t0);
	assert_int_equal(res.moved, 1000);
	quarantine_result_done(&res);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(quarantine_restore(root, "big", &res), 0);
	restore_ms = ms_since(&t0);
	assert_int_equal(res.restored, 1000);
	quarantine_result_done(&res);
	printf("# quarantine of 1000 files: apply %.1f ms, restore %.1f ms\n", apply_ms,
	       restore_ms);
	component_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_apply_then_restore_gives_an_identical_tree, new_root),
	    cmocka_unit_test_setup(test_symlink_matched_by_a_glob_is_neither_followed_nor_moved,
	                           new_root),
	    cmocka_unit_test_setup(test_symlinked_parent_directory_is_refused, new_root),
	    cmocka_unit_test_setup(test_restore_makes_missing_folders_with_their_modes, new_root),
	    cmocka_unit_test_setup(test_globs_through_merged_usr_links_are_quarantined, new_root),
	    cmocka_unit_test_setup(test_paths_outside_the_globs_are_untouched, new_root),
	    cmocka_unit_test_setup(test_vendor_replaced_file_is_kept_on_restore, new_root),
	    cmocka_unit_test_setup(test_reapply_is_idempotent_and_picks_up_new_files, new_root),
	    cmocka_unit_test_setup(test_file_that_cannot_be_moved_is_reported_and_the_rest_move,
	                           new_root),
	    cmocka_unit_test_setup(
	        test_reapply_with_failed_entries_and_new_files_sorting_before_them, new_root),
	    cmocka_unit_test_setup(test_odd_file_names_round_trip, new_root),
	    cmocka_unit_test_setup(test_restore_recreates_a_removed_directory, new_root),
	    cmocka_unit_test_setup(
	        test_restore_of_a_component_not_in_quarantine_is_an_empty_success, new_root),
	    cmocka_unit_test_setup(test_component_without_files_records_an_empty_quarantine,
	                           new_root),
	    cmocka_unit_test_setup(test_damaged_copy_is_not_restored, new_root),
	    cmocka_unit_test_setup(test_restore_after_an_interrupted_apply_puts_back_what_was_moved,
	                           new_root),
	    cmocka_unit_test_setup(
	        test_rootfs_phase_moves_files_and_lifelinectl_clear_puts_them_back, new_root),
	    cmocka_unit_test_setup(
	        test_rootfs_phase_finishes_an_interrupted_quarantine_on_a_normal_boot, new_root),
	    cmocka_unit_test_setup(test_a_held_lock_fails_busy_within_the_bound, new_root),
	    cmocka_unit_test(test_manifest_round_trips_and_refuses_damage),
	    cmocka_unit_test(test_manifest_ignores_unknown_fields_of_the_same_version),
	    cmocka_unit_test_setup(test_thousand_files_are_quarantined_and_restored, new_root),
	    /* last: it moves this process into its own mount namespace */
	    cmocka_unit_test_setup(test_cross_filesystem_move_copies_then_unlinks_and_restores,
	                           new_root),
	};

	return cmocka_run_group_tests(tests, make_base, remove_base);
}
