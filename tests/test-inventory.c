/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The inventory, its stored form, the diff and the content cache, on real
 * files in a temp root: round trips, warm runs that re-hash only what
 * changed, symlinks never followed, damaged files refused, the cache
 * bound, rollback with the bad file kept aside, and power cuts (a forked
 * child killed at every fault point) that leave the old or the new state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conf/components.h"
#include "agent/inventory/inventory.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

static char tmp_base[1024];
static char root[1100]; /* a fresh root per test */
static unsigned root_seq;

static int make_base(void **state)
{
	const char *base = getenv("LIFELINE_TEST_TMP");

	(void)state;
	snprintf(tmp_base, sizeof(tmp_base), "%s/test-inventory.XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmp_base) ? 0 : -1;
}

static int remove_base(void **state)
{
	char cmd[1200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_base);
	return system(cmd) == 0 ? 0 : -1;
}

static int new_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/root%u", tmp_base, root_seq++);
	return mkdir_p(root, 0755);
}

static char *rooted(const char *rel)
{
	char *p = path_join(root, rel);

	assert_non_null(p);
	return p;
}

/* Writes root + rel (parents created) with mode. */
static void put_mode(const char *rel, const char *text, mode_t mode)
{
	_cleanup_free_ char *path = rooted(rel);
	_cleanup_free_ char *dir = strdup(path);

	assert_non_null(dir);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	(void)unlink(path);
	assert_int_equal(write_file_atomic(path, text, strlen(text), mode), 0);
}

static void put(const char *rel, const char *text)
{
	put_mode(rel, text, 0644);
}

/* The bytes of root + rel; NULL when absent. */
static char *get(const char *rel)
{
	_cleanup_free_ char *path = rooted(rel);
	char *text = NULL;

	if (read_full_file(path, 1 << 20, &text, NULL) < 0)
		return NULL;
	return text;
}

static struct stat lstat_rel(const char *rel)
{
	_cleanup_free_ char *path = rooted(rel);
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st;
}

/* Inode times come from the kernel's coarse clock: wait out one tick so
 * that what is written next, and the walk that follows, fall after what
 * came before (a few ms with HZ=250; 30 ms is plenty). */
static void settle(void)
{
	struct timespec ts = {0, 30 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

static void load_set(struct component_set *set)
{
	unsigned problems = 0;

	assert_int_equal(components_load(root, set, &problems), 0);
	assert_int_equal(problems, 0);
}

/* Two components: examplesec (files + content, rollback) and othersec. */
static void two_components(struct component_set *set)
{
	put("/etc/lifeline/components.d/10-example.conf", "[examplesec]\n"
	                                                  "vendor = Example Security\n"
	                                                  "modules = examplesec examplesec_net\n"
	                                                  "files = /opt/x/bin/*\n"
	                                                  "content = /opt/x/content/*.bin\n"
	                                                  "rollback_content = yes\n"
	                                                  "[othersec]\n"
	                                                  "modules = othersec\n"
	                                                  "files = /opt/o/bin/*\n"
	                                                  "content = /opt/o/content/*\n"
	                                                  "rollback_content = no\n");
	put("/opt/x/bin/agent", "agent v1");
	put("/opt/x/bin/helper", "helper v1");
	put("/opt/x/content/c-290.bin", "channel 290");
	put("/opt/x/content/c-291.bin", "channel 291 good");
	put("/opt/x/content/readme.txt", "not matched by *.bin");
	put("/opt/o/bin/odaemon", "o daemon");
	put("/opt/o/content/rules", "o rules");
	load_set(set);
}

static const struct inventory_file *find(const struct inventory *inv, const char *id,
                                         const char *path)
{
	return inventory_component_find_file(inventory_find_component(inv, id), path);
}

static void sha256_of(const char *text, uint8_t out[32])
{
	assert_int_equal(EVP_Digest(text, strlen(text), out, NULL, EVP_sha256(), NULL), 1);
}

static char *format(const struct inventory *inv)
{
	char *text = NULL;
	size_t size;

	assert_int_equal(inventory_format(inv, &text, &size), 0);
	return text;
}

/* ---------------------------------------------------------------------- */
/* Taking, storing */

static void test_take_records_every_globbed_file_with_metadata_and_hash(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *inv = NULL;
	const struct inventory_component *c;
	const struct inventory_file *f;
	struct stat st;
	uint8_t want[32];

	(void)state;
	two_components(&set);
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	assert_int_equal(inv->n_components, 2);
	assert_true(inv->taken_ns > 0);

	c = inventory_find_component(inv, "examplesec");
	assert_non_null(c);
	assert_int_equal(c->error, 0);
	assert_int_equal(c->n_files, 4); /* readme.txt is not *.bin */
	assert_true(strv_contains(c->modules, "examplesec_net"));
	assert_string_equal(c->files[0].path, "/opt/x/bin/agent");
	assert_string_equal(c->files[3].path, "/opt/x/content/c-291.bin");

	f = find(inv, "examplesec", "/opt/x/content/c-291.bin");
	st = lstat_rel("/opt/x/content/c-291.bin");
	assert_non_null(f);
	assert_true(f->content);
	assert_true(f->hashed);
	sha256_of("channel 291 good", want);
	assert_memory_equal(f->sha256, want, 32);
	assert_int_equal(f->size, strlen("channel 291 good"));
	assert_int_equal(f->mode, st.st_mode);
	assert_int_equal(f->ino, st.st_ino);
	assert_int_equal(f->dev, st.st_dev);
	assert_int_equal(f->uid, st.st_uid);
	assert_true(f->mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	assert_true(f->ctime_ns == (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);

	f = find(inv, "examplesec", "/opt/x/bin/agent");
	assert_non_null(f);
	assert_false(f->content);
	assert_null(find(inv, "examplesec", "/opt/x/content/readme.txt"));
	assert_non_null(find(inv, "othersec", "/opt/o/content/rules"));
	assert_int_equal(inv->n_hashed, 6);
	assert_int_equal(inv->n_reused, 0);
	components_done(&set);
}

/* Merged /usr: a content glob written through /lib (a link to usr/lib)
 * is inventoried at the file's real path, the one a rollback or a
 * quarantine acts on; before, it matched nothing, silently. */
static void test_globs_through_merged_usr_links_are_inventoried(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *inv = NULL;
	_cleanup_free_ char *lib = rooted("/lib");
	const struct inventory_component *c;

	(void)state;
	put("/usr/lib/firmware/acme/chan-1.bin", "channel 1");
	assert_int_equal(symlink("usr/lib", lib), 0);
	put("/etc/lifeline/components.d/acme.conf", "[acme]\ncontent = /lib/firmware/acme/*.bin\n");
	load_set(&set);
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	c = inventory_find_component(inv, "acme");
	assert_non_null(c);
	assert_int_equal(c->n_files, 1);
	assert_string_equal(c->files[0].path, "/usr/lib/firmware/acme/chan-1.bin");
	assert_true(c->files[0].content);
	components_done(&set);
}

static void test_save_then_load_round_trips(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *inv = NULL, *back = NULL;
	_cleanup_free_ char *a = NULL, *b = NULL;

	(void)state;
	two_components(&set);
	/* A name that needs escaping, and a symlink record. */
	put("/opt/x/content/odd name%\t.bin", "odd");
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	assert_int_equal(inventory_load(root, &back), -ENOENT);
	assert_int_equal(inventory_save(root, inv), 0);
	assert_int_equal(inventory_load(root, &back), 0);

	a = format(inv);
	b = format(back);
	assert_string_equal(a, b);
	assert_int_equal(back->taken_ns, inv->taken_ns);
	assert_non_null(find(back, "examplesec", "/opt/x/content/odd name%\t.bin"));
	{
		_cleanup_free_ char *p = rooted(INVENTORY_LAST_GOOD_FILE);
		struct stat st;

		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	components_done(&set);
}

static void test_warm_run_rehashes_only_changed_files(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *cold = NULL, *warm = NULL, *after = NULL,
	                                          *loaded = NULL;
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000, 0}};
	_cleanup_free_ char *touched = NULL;
	const struct inventory_file *f;
	uint8_t want[32];

	(void)state;
	two_components(&set);
	settle();
	assert_int_equal(inventory_take(root, &set, NULL, &cold), 0);
	assert_int_equal(cold->n_hashed, 6);

	/* Nothing changed: nothing is read, from memory or from disk. */
	assert_int_equal(inventory_take(root, &set, cold, &warm), 0);
	assert_int_equal(warm->n_hashed, 0);
	assert_int_equal(warm->n_reused, 6);
	assert_int_equal(inventory_save(root, cold), 0);
	assert_int_equal(inventory_load(root, &loaded), 0);
	inventory_free(warm);
	assert_int_equal(inventory_take(root, &set, loaded, &warm), 0);
	assert_int_equal(warm->n_hashed, 0);

	/* Same size, new bytes; and only new times on another file. */
	settle();
	put("/opt/x/content/c-290.bin", "channel 29X");
	touched = rooted("/opt/o/bin/odaemon");
	assert_int_equal(utimensat(AT_FDCWD, touched, ts, AT_SYMLINK_NOFOLLOW), 0);
	settle();
	assert_int_equal(inventory_take(root, &set, loaded, &after), 0);
	assert_int_equal(after->n_hashed, 2);
	assert_int_equal(after->n_reused, 4);
	f = find(after, "examplesec", "/opt/x/content/c-290.bin");
	sha256_of("channel 29X", want);
	assert_memory_equal(f->sha256, want, 32);

	/* Rewritten in place (same inode, same size) with its old mtime put
	 * back, as a careful tamperer would: ctime still moved. */
	settle();
	{
		_cleanup_free_ char *p = rooted("/opt/x/bin/helper");
		_cleanup_inventory_free_ struct inventory *again = NULL;
		const struct inventory_file *old = find(after, "examplesec", "/opt/x/bin/helper");
		struct timespec keep[2] = {
		    {0, UTIME_OMIT}, {old->mtime_ns / 1000000000, old->mtime_ns % 1000000000}};
		int fd = open(p, O_WRONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "HELPER v1", 9), 9);
		assert_int_equal(futimens(fd, keep), 0);
		close(fd);
		assert_int_equal(inventory_take(root, &set, after, &again), 0);
		assert_int_equal(again->n_hashed, 1);
		f = find(again, "examplesec", "/opt/x/bin/helper");
		assert_int_equal(f->ino, old->ino);
		assert_int_equal(f->size, old->size);
		assert_true(f->mtime_ns == old->mtime_ns);
		sha256_of("HELPER v1", want);
		assert_memory_equal(f->sha256, want, 32);
	}
	components_done(&set);
}

static void test_file_changed_in_the_walks_clock_tick_is_rehashed(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *cold = NULL, *warm = NULL;
	const struct inventory_file *f;

	(void)state;
	two_components(&set);
	settle();
	/* c-291.bin alone in its clock tick. */
	put("/opt/x/content/c-291.bin", "channel 291 good");
	settle();
	assert_int_equal(inventory_take(root, &set, NULL, &cold), 0);
	/* As if the walk had started in the tick c-291.bin was written in: a
	 * second write in that tick would leave size, mtime and ctime as
	 * they are, so its hash cannot be trusted. */
	f = find(cold, "examplesec", "/opt/x/content/c-291.bin");
	cold->taken_ns = f->ctime_ns;
	assert_int_equal(inventory_take(root, &set, cold, &warm), 0);
	assert_int_equal(warm->n_hashed, 1);
	assert_int_equal(warm->n_reused, 5);
	components_done(&set);
}

static void test_symlink_swapped_in_is_changed_and_not_followed(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL, *fresh = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_free_ char *p = NULL, *secret = NULL, *dir = NULL, *elsewhere = NULL;
	const struct inventory_component_diff *cd;
	const struct inventory_file *f;
	uint8_t link_text[32], secret_hash[32];

	(void)state;
	two_components(&set);
	put("/secret/shadow", "top secret bytes");
	put("/elsewhere/c-900.bin", "planted");
	settle();
	assert_int_equal(inventory_take(root, &set, NULL, &lg), 0);

	/* The content file becomes a symlink to a file outside the globs. */
	p = rooted("/opt/x/content/c-291.bin");
	secret = rooted("/secret/shadow");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(secret, p), 0);
	free(p);
	p = rooted("/opt/x/content/c-999.bin");
	assert_int_equal(symlink(secret, p), 0);
	/* othersec's content directory becomes a symlink to another one. */
	dir = rooted("/opt/o/content");
	elsewhere = rooted("/elsewhere");
	{
		char cmd[2400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(symlink(elsewhere, dir), 0);

	assert_int_equal(inventory_take(root, &set, lg, &now), 0);
	f = find(now, "examplesec", "/opt/x/content/c-291.bin");
	assert_non_null(f);
	assert_true(S_ISLNK(f->mode));
	assert_true(f->content);
	/* What is hashed is the link's text, never the file it names. */
	sha256_of(secret, link_text);
	sha256_of("top secret bytes", secret_hash);
	assert_memory_equal(f->sha256, link_text, 32);
	assert_memory_not_equal(f->sha256, secret_hash, 32);
	assert_null(find(now, "othersec", "/opt/o/content/c-900.bin"));
	/* A symlink planted where the glob matches is recorded, not followed. */
	f = find(now, "examplesec", "/opt/x/content/c-999.bin");
	assert_non_null(f);
	assert_true(S_ISLNK(f->mode));
	assert_memory_equal(f->sha256, link_text, 32);
	assert_null(find(now, "othersec", "/elsewhere/c-900.bin"));

	assert_int_equal(inventory_diff(lg, now, &d), 0);
	cd = inventory_diff_find(d, "examplesec");
	assert_non_null(cd);
	assert_int_equal(cd->n_changed, 1);
	assert_int_equal(cd->n_added, 1);
	assert_string_equal(cd->changes[0].path, "/opt/x/content/c-291.bin");
	assert_true(cd->changes[0].what & INVENTORY_CHANGED_TYPE);
	assert_int_equal(cd->changes[1].kind, INVENTORY_ADDED);
	assert_true(S_ISLNK(cd->changes[1].after.mode));
	cd = inventory_diff_find(d, "othersec");
	assert_non_null(cd);
	assert_int_equal(cd->n_removed, 1); /* rules: behind a symlinked directory now */
	assert_int_equal(cd->n_added, 0);

	/* Stored and read back, the symlink record keeps its type. */
	assert_int_equal(inventory_save(root, now), 0);
	assert_int_equal(inventory_load(root, &fresh), 0);
	assert_true(S_ISLNK(find(fresh, "examplesec", "/opt/x/content/c-291.bin")->mode));
	components_done(&set);
}

static void test_corrupt_inventory_file_is_an_error_and_means_none(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *inv = NULL;
	_cleanup_free_ char *path = NULL, *good = NULL;
	size_t size;

	(void)state;
	two_components(&set);
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	assert_int_equal(inventory_format(inv, &good, &size), 0);
	path = rooted(INVENTORY_LAST_GOOD_FILE);
	assert_int_equal(inventory_save(root, inv), 0);

	/* Every single flipped byte, and every truncation, is refused. */
	for (size_t i = 0; i < size; i++) {
		_cleanup_free_ char *bad = malloc(size);
		struct inventory *x = NULL;

		assert_non_null(bad);
		memcpy(bad, good, size);
		bad[i] ^= 0x20;
		assert_true(inventory_parse(bad, size, &x) < 0);
		assert_true(inventory_parse(good, i, &x) < 0);
		assert_null(x);
	}
	/* Through the file: truncated, empty, newer version. */
	assert_int_equal(write_file_atomic(path, good, size / 2, 0600), 0);
	{
		struct inventory *x = NULL;

		assert_int_equal(inventory_load(root, &x), -EBADMSG);
		assert_int_equal(write_file_atomic(path, "", 0, 0600), 0);
		assert_int_equal(inventory_load(root, &x), -EBADMSG);
		assert_int_equal(
		    write_file_atomic(path, "lifeline-inventory 2\nwhatever\n", 30, 0600), 0);
		assert_int_equal(inventory_load(root, &x), -EPROTONOSUPPORT);
		assert_null(x);
	}
	components_done(&set);
}

/* A text with a right checksum around a wrong body. */
static int parse_with_checksum(const char *body, size_t n_components, size_t n_files)
{
	_cleanup_free_ char *text = NULL;
	uint8_t sum[32];
	char hex[65];
	struct inventory *x = NULL;
	int r;

	assert_int_equal(EVP_Digest(body, strlen(body), sum, NULL, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	assert_true(asprintf(&text, "%send %zu %zu %s\n", body, n_components, n_files, hex) > 0);
	r = inventory_parse(text, strlen(text), &x);
	if (r >= 0)
		inventory_free(x);
	return r;
}

static void test_parser_is_strict_even_with_a_valid_checksum(void **state)
{
	const char *h = "lifeline-inventory 1\ntaken 5\n";
	const char *sum = "0000000000000000000000000000000000000000000000000000000000000000";
	char body[2048];

	(void)state;
	snprintf(body, sizeof(body),
	         "%scomponent a 0\nmodule m\nfile 100644 0 0 1 2 3 4 5 c %s /a/b\n", h, sum);
	assert_int_equal(parse_with_checksum(body, 1, 1), 0);
	assert_int_equal(parse_with_checksum(body, 1, 2), -EBADMSG); /* count */
	assert_int_equal(parse_with_checksum(body, 2, 1), -EBADMSG);

	/* clang-format off */
	static const struct {
		const char *body;
		size_t nc, nf;
	} bad[] = {
		/* unsorted */
		{ "component a 0\n" "file 100644 0 0 1 2 3 4 5 c - /a/b\n" "file 100644 0 0 1 2 3 4 5 c - /a/a\n", 1, 2 },
		/* duplicate file */
		{ "component a 0\n" "file 100644 0 0 1 2 3 4 5 c - /a/b\n" "file 100644 0 0 1 2 3 4 5 c - /a/b\n", 1, 2 },
		/* duplicate component */
		{ "component a 0\ncomponent a 0\n", 2, 0 },
		/* bad id */
		{ "component a/b 0\n", 1, 0 },
		/* positive error */
		{ "component a 1\n", 1, 0 },
		/* file before any component */
		{ "file 100644 0 0 1 2 3 4 5 c - /a/b\n", 0, 1 },
		/* relative path */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 c - a/b\n", 1, 1 },
		/* dot-dot */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 c - /a/../b\n", 1, 1 },
		/* NUL */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 c - /a/%00\n", 1, 1 },
		/* short escape */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 c - /a/%4\n", 1, 1 },
		/* bad escape */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 c - /a/%4g\n", 1, 1 },
		/* flag */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 x - /a/b\n", 1, 1 },
		/* hash */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 c abc /a/b\n", 1, 1 },
		/* missing field */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 /a/b\n", 1, 1 },
		/* extra field */
		{ "component a 0\nfile 100644 0 0 1 2 3 4 5 c - /a/b extra\n", 1, 1 },
		/* out of range */
		{ "component a 0\nfile 100644 0 0 99999999999999999999 2 3 4 5 c - /a/b\n", 1, 1 },
		/* not octal */
		{ "component a 0\nfile 100648 0 0 1 2 3 4 5 c - /a/b\n", 1, 1 },
		/* sign */
		{ "component a 0\nfile 100644 -1 0 1 2 3 4 5 c - /a/b\n", 1, 1 },
		/* empty field */
		{ "component a 0\nfile  100644 0 0 1 2 3 4 5 c - /a/b\n", 1, 1 },
		/* module name */
		{ "component a 0\nmodule bad/name\n", 1, 0 },
		/* files under an error */
		{ "component a -2\nfile 100644 0 0 1 2 3 4 5 c - /a/b\n", 1, 1 },
		/* unknown line */
		{ "what 1\n", 0, 0 },
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(body, sizeof(body), "%s%s", h, bad[i].body);
		if (parse_with_checksum(body, bad[i].nc, bad[i].nf) != -EBADMSG)
			fail_msg("accepted: %s", bad[i].body);
	}
	assert_int_equal(parse_with_checksum("lifeline-inventory 1\n", 0, 0),
	                 -EBADMSG); /* no taken */
}

/* ---------------------------------------------------------------------- */
/* Diff */

/* An inventory from the body of a stored one (checksum added). */
static struct inventory *inventory_from(const char *body, size_t n_components, size_t n_files)
{
	_cleanup_free_ char *text = NULL;
	struct inventory *inv = NULL;
	uint8_t sum[32];
	char hex[65];

	assert_int_equal(EVP_Digest(body, strlen(body), sum, NULL, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	assert_true(asprintf(&text, "%send %zu %zu %s\n", body, n_components, n_files, hex) > 0);
	assert_int_equal(inventory_parse(text, strlen(text), &inv), 0);
	return inv;
}

static void test_component_that_could_not_be_inventoried_is_reported_not_suspected(void **state)
{
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_strv_free_ char **suspects = NULL, **lines = NULL;

	(void)state;
	lg = inventory_from("lifeline-inventory 1\ntaken 1\n"
	                    "component big 0\nfile 100644 0 0 1 2 3 4 5 c - /big/a\n"
	                    "component small 0\nfile 100644 0 0 1 2 3 4 5 c - /small/a\n",
	                    2, 2);
	/* Removals only: their time is unknown, so they rank by id. */
	now = inventory_from("lifeline-inventory 1\ntaken 2\n"
	                     "component big -7\n"
	                     "component small 0\n",
	                     2, 0);
	assert_int_equal(inventory_diff(lg, now, &d), 0);
	assert_int_equal(d->n_components, 2);
	assert_int_equal(inventory_diff_find(d, "big")->error, -E2BIG);
	assert_int_equal(inventory_diff_find(d, "big")->n_changes, 0);
	assert_int_equal(inventory_diff_find(d, "small")->n_removed, 1);
	assert_true(inventory_diff_find(d, "small")->newest_change_ns == 0);
	assert_int_equal(inventory_diff_suspects(d, &suspects), 0);
	assert_int_equal(strv_length(suspects), 1);
	assert_string_equal(suspects[0], "small");
	assert_int_equal(inventory_diff_lines(d, 0, &lines), 0);
	assert_non_null(strstr(lines[0], "big: files could not be inventoried ("));
}

static void test_diff_finds_added_removed_changed_and_orders_suspects_by_newest_change(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_strv_free_ char **suspects = NULL, **lines = NULL;
	const struct inventory_component_diff *x, *o;
	_cleanup_free_ char *agent = NULL, *gone = NULL;

	(void)state;
	two_components(&set);
	put("/opt/x/content/c-289.bin", "old channel");
	settle();
	assert_int_equal(inventory_take(root, &set, NULL, &lg), 0);

	/* examplesec first: a changed, an added, a removed content file,
	 * and a binary whose mode and owner changed. */
	put("/opt/x/content/c-291.bin", "channel 291 BAD!");
	put("/opt/x/content/c-292.bin", "channel 292");
	gone = rooted("/opt/x/content/c-289.bin");
	assert_int_equal(unlink(gone), 0);
	agent = rooted("/opt/x/bin/agent");
	assert_int_equal(chmod(agent, 04755), 0);
	assert_int_equal(chown(agent, 1, 2), 0);
	assert_int_equal(chmod(agent, 04755), 0);
	settle();
	/* othersec later: it is the most recent change. */
	put("/opt/o/content/rules", "o rules v2");

	assert_int_equal(inventory_take(root, &set, lg, &now), 0);
	assert_int_equal(inventory_diff(lg, now, &d), 0);
	assert_int_equal(d->n_components, 2);

	x = inventory_diff_find(d, "examplesec");
	assert_non_null(x);
	assert_int_equal(x->n_added, 1);
	assert_int_equal(x->n_removed, 1);
	assert_int_equal(x->n_changed, 2);
	assert_int_equal(x->n_non_content, 1);
	assert_string_equal(x->changes[0].path, "/opt/x/bin/agent");
	assert_int_equal(x->changes[0].what, INVENTORY_CHANGED_MODE | INVENTORY_CHANGED_OWNER);
	assert_string_equal(x->changes[1].path, "/opt/x/content/c-289.bin");
	assert_int_equal(x->changes[1].kind, INVENTORY_REMOVED);
	assert_int_equal(x->changes[2].kind, INVENTORY_CHANGED);
	assert_int_equal(x->changes[2].what, INVENTORY_CHANGED_CONTENT);
	assert_int_equal(x->changes[3].kind, INVENTORY_ADDED);
	assert_true(
	    x->newest_mtime_ns == find(now, "examplesec", "/opt/x/content/c-292.bin")->mtime_ns ||
	    x->newest_mtime_ns == find(now, "examplesec", "/opt/x/content/c-291.bin")->mtime_ns);

	o = inventory_diff_find(d, "othersec");
	assert_non_null(o);
	assert_int_equal(o->n_changed, 1);
	assert_true(o->newest_change_ns > x->newest_change_ns);

	assert_int_equal(inventory_diff_suspects(d, &suspects), 0);
	assert_int_equal(strv_length(suspects), 2);
	assert_string_equal(suspects[0], "othersec");
	assert_string_equal(suspects[1], "examplesec");

	assert_int_equal(inventory_diff_lines(d, 0, &lines), 0);
	assert_int_equal(strv_length(lines), 5);
	assert_non_null(strstr(
	    lines[0],
	    "examplesec: /opt/x/bin/agent changed (mode 0644 \u2192 4755, owner 0:0 \u2192 1:2"));
	assert_non_null(
	    strstr(lines[1], "examplesec: /opt/x/content/c-289.bin removed (was sha256 "));
	assert_non_null(strstr(lines[2], "examplesec: /opt/x/content/c-291.bin changed (sha256 "));
	assert_non_null(strstr(lines[2], "\u2026 \u2192 "));
	assert_non_null(strstr(lines[2], ", mtime 20"));
	assert_non_null(strstr(lines[3], "examplesec: /opt/x/content/c-292.bin added (sha256 "));
	assert_non_null(strstr(lines[4], "othersec: /opt/o/content/rules changed"));
	strv_free(lines);
	assert_int_equal(inventory_diff_lines(d, 1, &lines), 0);
	assert_string_equal(lines[1], "examplesec: \u2026 and 3 more changes");
	components_done(&set);
}

static void test_no_change_means_no_suspect(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_strv_free_ char **suspects = NULL;
	_cleanup_free_ char *p = NULL;

	(void)state;
	two_components(&set);
	settle();
	assert_int_equal(inventory_take(root, &set, NULL, &lg), 0);
	/* Rewritten with the same bytes, mode and owner: a new inode and new
	 * times are not a change. */
	put("/opt/x/content/c-290.bin", "channel 290");
	assert_int_equal(inventory_take(root, &set, lg, &now), 0);
	assert_int_equal(inventory_diff(lg, now, &d), 0);
	assert_int_equal(d->n_components, 0);
	assert_int_equal(inventory_diff_suspects(d, &suspects), 0);
	assert_non_null(suspects);
	assert_null(suspects[0]);
	components_done(&set);
}

static void test_component_new_since_last_good_is_all_additions(void **state)
{
	struct component_set set = {0}, set2 = {0};
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_strv_free_ char **suspects = NULL;

	(void)state;
	two_components(&set);
	assert_int_equal(inventory_take(root, &set, NULL, &lg), 0);
	put("/etc/lifeline/components.d/20-new.conf", "[newsec]\nfiles = /opt/n/*\n");
	put("/opt/n/newd", "new");
	load_set(&set2);
	assert_int_equal(inventory_take(root, &set2, lg, &now), 0);
	assert_int_equal(inventory_diff(lg, now, &d), 0);
	assert_int_equal(inventory_diff_suspects(d, &suspects), 0);
	assert_int_equal(strv_length(suspects), 1);
	assert_string_equal(suspects[0], "newsec");
	assert_int_equal(inventory_diff_find(d, "newsec")->n_added, 1);
	components_done(&set);
	components_done(&set2);
}

/* ---------------------------------------------------------------------- */
/* Content cache */

static char *cache_path(const char *id, const struct inventory_file *f)
{
	char hex[65], rel[256];

	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", f->sha256[i]);
	snprintf(rel, sizeof(rel), CONTENT_CACHE_DIR "/%s/%s", id, hex);
	return strdup(rel);
}

static bool cached(const struct inventory *inv, const char *id, const char *path)
{
	_cleanup_free_ char *rel = cache_path(id, find(inv, id, path));
	_cleanup_free_ char *p = rooted(rel);

	return access(p, F_OK) == 0;
}

static void test_content_cache_keeps_copies_of_content_files_only(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *inv = NULL;
	struct content_cache_result res = {0};
	_cleanup_free_ char *rel = NULL, *copy = NULL;

	(void)state;
	two_components(&set);
	put("/opt/x/content/c-dup.bin", "channel 290"); /* same bytes: one copy */
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	assert_int_equal(content_cache_update(root, &set, inv, 1 << 20, &res), 0);
	assert_int_equal(res.cached, 2);
	assert_int_equal(res.skipped, 0);
	assert_int_equal(res.bytes, strlen("channel 290") + strlen("channel 291 good"));
	assert_true(cached(inv, "examplesec", "/opt/x/content/c-291.bin"));
	assert_false(cached(inv, "examplesec", "/opt/x/bin/agent"));   /* files, not content */
	assert_false(cached(inv, "othersec", "/opt/o/content/rules")); /* rollback_content = no */
	rel = cache_path("examplesec", find(inv, "examplesec", "/opt/x/content/c-291.bin"));
	copy = get(rel);
	assert_string_equal(copy, "channel 291 good");
	content_cache_result_done(&res);

	/* Again: all there, nothing copied. */
	assert_int_equal(content_cache_update(root, &set, inv, 1 << 20, &res), 0);
	assert_int_equal(res.cached, 0);
	assert_int_equal(res.present, 2);
	content_cache_result_done(&res);
	components_done(&set);
}

static void test_content_cache_is_bounded_and_reports_what_it_skipped(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *inv = NULL;
	struct content_cache_result res = {0};
	char big[4001];

	(void)state;
	two_components(&set);
	memset(big, 'B', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	put("/opt/x/content/big.bin", big);
	assert_int_equal(inventory_take(root, &set, NULL, &inv), 0);
	assert_int_equal(content_cache_update(root, &set, inv, 100, &res), 0);
	assert_int_equal(res.cached, 2);
	assert_int_equal(res.skipped, 1);
	assert_true(res.bytes <= 100);
	assert_int_equal(strv_length(res.lines), 1);
	assert_non_null(strstr(
	    res.lines[0], "/opt/x/content/big.bin not cached: 4000 bytes would pass cache_max"));
	assert_false(cached(inv, "examplesec", "/opt/x/content/big.bin"));
	content_cache_result_done(&res);

	/* A smaller bound drops copies that no longer fit. */
	assert_int_equal(content_cache_update(root, &set, inv, 12, &res), 0);
	assert_int_equal(res.present, 1);
	assert_int_equal(res.evicted, 1);
	assert_true(res.bytes <= 12);
	assert_true(cached(inv, "examplesec", "/opt/x/content/c-290.bin"));
	assert_false(cached(inv, "examplesec", "/opt/x/content/c-291.bin"));
	content_cache_result_done(&res);
	components_done(&set);
}

static void test_content_cache_evicts_copies_no_longer_referenced(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *one = NULL, *two = NULL;
	struct content_cache_result res = {0};

	(void)state;
	two_components(&set);
	assert_int_equal(inventory_take(root, &set, NULL, &one), 0);
	assert_int_equal(content_cache_update(root, &set, one, 1 << 20, NULL), 0);
	settle();
	put("/opt/x/content/c-291.bin", "channel 291 v2");
	assert_int_equal(inventory_take(root, &set, one, &two), 0);
	assert_int_equal(content_cache_update(root, &set, two, 1 << 20, &res), 0);
	assert_int_equal(res.evicted, 1);
	assert_int_equal(res.cached, 1);
	assert_false(cached(one, "examplesec", "/opt/x/content/c-291.bin"));
	assert_true(cached(two, "examplesec", "/opt/x/content/c-291.bin"));
	assert_true(cached(two, "examplesec", "/opt/x/content/c-290.bin"));
	content_cache_result_done(&res);
	components_done(&set);
}

/* ---------------------------------------------------------------------- */
/* Rollback */

struct scene {
	struct component_set set;
	struct inventory *lg, *now;
};

static void scene_done(struct scene *s)
{
	components_done(&s->set);
	inventory_free(s->lg);
	inventory_free(s->now);
	memset(s, 0, sizeof(*s));
}

/* Last good: c-291.bin good (0640), cached. Now: c-291.bin bad (0600),
 * c-292.bin added, c-290.bin removed. */
static void make_scene(struct scene *s)
{
	_cleanup_free_ char *gone = NULL;

	two_components(&s->set);
	put_mode("/opt/x/content/c-291.bin", "channel 291 good", 0640);
	assert_int_equal(inventory_take(root, &s->set, NULL, &s->lg), 0);
	assert_int_equal(content_cache_update(root, &s->set, s->lg, 1 << 20, NULL), 0);
	settle();
	put_mode("/opt/x/content/c-291.bin", "channel 291 BAD!!", 0600);
	put("/opt/x/content/c-292.bin", "channel 292");
	gone = rooted("/opt/x/content/c-290.bin");
	assert_int_equal(unlink(gone), 0);
	assert_int_equal(inventory_take(root, &s->set, s->lg, &s->now), 0);
}

/* Whether some file under replaced/ holds text. */
static bool kept_aside(const char *text)
{
	_cleanup_free_ char *dir = rooted(CONTENT_CACHE_DIR "/examplesec/replaced");
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *got = NULL;

		if (de->d_name[0] == '.')
			continue;
		p = path_join(dir, de->d_name);
		if (read_full_file(p, 1 << 20, &got, NULL) == 0 && streq(got, text))
			found = true;
	}
	return found;
}

static void test_rollback_restores_last_good_bytes_and_keeps_the_bad_file_aside(void **state)
{
	struct scene s = {0};
	struct rollback_result res = {0};
	_cleanup_inventory_free_ struct inventory *after = NULL;
	_cleanup_free_ char *text = NULL, *text290 = NULL, *kept = NULL;
	struct stat st;

	(void)state;
	make_scene(&s);
	assert_int_equal(
	    content_cache_rollback(root, components_find(&s.set, "examplesec"), s.lg, s.now, &res),
	    0);
	assert_int_equal(res.restored, 2); /* c-291 changed, c-290 removed */
	assert_int_equal(res.uncovered, 1);
	assert_int_equal(res.errors, 0);
	assert_string_equal(res.uncovered_paths[0], "/opt/x/content/c-292.bin");
	assert_true(strv_contains(res.restored_paths, "/opt/x/content/c-291.bin"));
	assert_int_equal(strv_length(res.kept_aside), 1);
	assert_int_equal(strv_length(res.lines), 3);

	text = get("/opt/x/content/c-291.bin");
	assert_string_equal(text, "channel 291 good");
	st = lstat_rel("/opt/x/content/c-291.bin");
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_true(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec ==
	            find(s.lg, "examplesec", "/opt/x/content/c-291.bin")->mtime_ns);
	text290 = get("/opt/x/content/c-290.bin");
	assert_string_equal(text290, "channel 290");
	kept = get(res.kept_aside[0]);
	assert_string_equal(kept, "channel 291 BAD!!");
	assert_true(kept_aside("channel 291 BAD!!"));
	rollback_result_done(&res);

	/* Second run, with the same (stale) "now": nothing to do. */
	assert_int_equal(
	    content_cache_rollback(root, components_find(&s.set, "examplesec"), s.lg, s.now, &res),
	    0);
	assert_int_equal(res.restored, 0);
	assert_int_equal(res.already, 2);
	assert_int_equal(res.uncovered, 1);
	rollback_result_done(&res);
	/* And with a fresh one: only the added file is left. */
	assert_int_equal(inventory_take(root, &s.set, s.lg, &after), 0);
	assert_int_equal(
	    content_cache_rollback(root, components_find(&s.set, "examplesec"), s.lg, after, &res),
	    0);
	assert_int_equal(res.restored, 0);
	assert_int_equal(res.already, 0);
	assert_int_equal(res.uncovered, 1);
	rollback_result_done(&res);
	scene_done(&s);
}

static void test_rollback_without_a_cached_copy_reports_the_file_uncovered(void **state)
{
	struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	struct rollback_result res = {0};
	_cleanup_free_ char *text = NULL;

	(void)state;
	two_components(&set);
	assert_int_equal(inventory_take(root, &set, NULL, &lg), 0);
	/* cache_max 0: nothing cached. */
	assert_int_equal(content_cache_update(root, &set, lg, 0, NULL), 0);
	put("/opt/x/content/c-291.bin", "channel 291 BAD!");
	assert_int_equal(inventory_take(root, &set, lg, &now), 0);
	assert_int_equal(
	    content_cache_rollback(root, components_find(&set, "examplesec"), lg, now, &res), 0);
	assert_int_equal(res.restored, 0);
	assert_int_equal(res.uncovered, 1);
	assert_string_equal(res.uncovered_paths[0], "/opt/x/content/c-291.bin");
	assert_non_null(strstr(res.lines[0], "no cached last-good copy"));
	text = get("/opt/x/content/c-291.bin");
	assert_string_equal(text, "channel 291 BAD!");
	rollback_result_done(&res);

	/* rollback_content = no: never rolled back, always uncovered. */
	put("/opt/o/content/rules", "o rules v2");
	inventory_free(now);
	assert_int_equal(inventory_take(root, &set, lg, &now), 0);
	assert_int_equal(
	    content_cache_rollback(root, components_find(&set, "othersec"), lg, now, &res), 0);
	assert_int_equal(res.uncovered, 1);
	assert_non_null(strstr(res.lines[0], "rollback_content=no"));
	rollback_result_done(&res);
	components_done(&set);
}

static void test_rollback_never_installs_a_damaged_copy(void **state)
{
	struct scene s = {0};
	struct rollback_result res = {0};
	_cleanup_free_ char *rel = NULL, *p = NULL, *text = NULL;

	(void)state;
	make_scene(&s);
	rel = cache_path("examplesec", find(s.lg, "examplesec", "/opt/x/content/c-291.bin"));
	p = rooted(rel);
	assert_int_equal(write_file_atomic(p, "channel 291 evil", 16, 0600), 0);
	assert_int_equal(
	    content_cache_rollback(root, components_find(&s.set, "examplesec"), s.lg, s.now, &res),
	    0);
	assert_true(strv_contains(res.uncovered_paths, "/opt/x/content/c-291.bin"));
	text = get("/opt/x/content/c-291.bin");
	assert_string_equal(text, "channel 291 BAD!!");
	assert_int_equal(access(p, F_OK), -1); /* the damaged copy is gone */
	rollback_result_done(&res);
	scene_done(&s);
}

static void test_rollback_replaces_a_symlink_without_following_it(void **state)
{
	struct scene s = {0};
	struct rollback_result res = {0};
	_cleanup_free_ char *p = NULL, *secret = NULL, *text = NULL, *stext = NULL, *target = NULL;
	struct stat st;

	(void)state;
	two_components(&s.set);
	put("/secret/shadow", "top secret bytes");
	assert_int_equal(inventory_take(root, &s.set, NULL, &s.lg), 0);
	assert_int_equal(content_cache_update(root, &s.set, s.lg, 1 << 20, NULL), 0);
	p = rooted("/opt/x/content/c-291.bin");
	secret = rooted("/secret/shadow");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(secret, p), 0);
	assert_int_equal(inventory_take(root, &s.set, s.lg, &s.now), 0);

	assert_int_equal(
	    content_cache_rollback(root, components_find(&s.set, "examplesec"), s.lg, s.now, &res),
	    0);
	assert_int_equal(res.restored, 1);
	st = lstat_rel("/opt/x/content/c-291.bin");
	assert_true(S_ISREG(st.st_mode));
	text = get("/opt/x/content/c-291.bin");
	assert_string_equal(text, "channel 291 good");
	stext = get("/secret/shadow");
	assert_string_equal(stext, "top secret bytes");
	/* Kept aside as the symlink it was. */
	st = lstat_rel(res.kept_aside[0]);
	assert_true(S_ISLNK(st.st_mode));
	{
		_cleanup_free_ char *kp = rooted(res.kept_aside[0]);
		char buf[2048];
		ssize_t n = readlink(kp, buf, sizeof(buf) - 1);

		assert_true(n > 0);
		buf[n] = 0;
		assert_string_equal(buf, secret);
	}
	rollback_result_done(&res);
	scene_done(&s);
}

/* ---------------------------------------------------------------------- */
/* Power cuts */

/* Runs fn in a child with LIFELINE_FAULT=point:hit. Returns true when the
 * child died there (exit 99), false when it ran to its end. */
static bool cut_at(const char *point, unsigned hit, void (*fn)(void *), void *userdata)
{
	char spec[128];
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		snprintf(spec, sizeof(spec), "%s:%u", point, hit);
		setenv("LIFELINE_FAULT", spec, 1);
		fn(userdata);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 99 && WEXITSTATUS(status) != 0)
		fail_msg("child cut at %s:%u exited %d", point, hit, WEXITSTATUS(status));
	if (WEXITSTATUS(status) == 0 && hit == 1)
		fail_msg("fault point %s was never reached", point);
	return WEXITSTATUS(status) == 99;
}

static void do_save(void *userdata)
{
	(void)inventory_save(root, userdata);
}

static void test_power_cut_during_save_leaves_the_old_or_the_new_inventory(void **state)
{
	static const char *const points[] = {"inventory-save", "write-atomic-rename"};
	struct component_set set = {0};

	(void)state;
	for (size_t i = 0, hit = 1; i < ELEMENTSOF(points); hit++) {
		_cleanup_inventory_free_ struct inventory *old = NULL, *new = NULL, *back = NULL;
		_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

		new_root(NULL);
		two_components(&set);
		assert_int_equal(inventory_take(root, &set, NULL, &old), 0);
		assert_int_equal(inventory_save(root, old), 0);
		put("/opt/x/content/c-293.bin", "channel 293");
		assert_int_equal(inventory_take(root, &set, old, &new), 0);

		if (!cut_at(points[i], (unsigned)hit, do_save, new)) {
			/* Every hit of this point was tried: the next one. */
			i++;
			hit = 0;
			components_done(&set);
			continue;
		}
		assert_int_equal(inventory_load(root, &back), 0);
		a = format(old);
		b = format(new);
		c = format(back);
		assert_true(streq(c, a) || streq(c, b));
		/* The next save after the cut works and cleans up. */
		assert_int_equal(inventory_save(root, new), 0);
		inventory_free(back);
		back = NULL;
		assert_int_equal(inventory_load(root, &back), 0);
		free(c);
		c = format(back);
		assert_string_equal(c, b);
		{
			_cleanup_free_ char *dir = rooted(INVENTORY_DIR);
			_cleanup_(closedirp) DIR *d = opendir(dir);
			struct dirent *de;
			unsigned n = 0;

			while ((de = readdir(d)))
				n += de->d_name[0] != '.';
			assert_int_equal(n, 1);
		}
		components_done(&set);
	}
}

static void do_rollback(void *userdata)
{
	struct scene *s = userdata;
	struct rollback_result res = {0};

	(void)content_cache_rollback(root, components_find(&s->set, "examplesec"), s->lg, s->now,
	                             &res);
	rollback_result_done(&res);
}

static void test_power_cut_during_rollback_leaves_the_old_or_the_new_file(void **state)
{
	static const char *const points[] = {"inventory-rollback-copy", "inventory-rollback-tmp",
	                                     "inventory-rollback-keep",
	                                     "inventory-rollback-rename"};

	(void)state;
	for (size_t i = 0, hit = 1; i < ELEMENTSOF(points); hit++) {
		struct scene s = {0};
		struct rollback_result res = {0};
		_cleanup_free_ char *text = NULL, *text2 = NULL, *text290 = NULL;

		new_root(NULL);
		make_scene(&s);
		if (!cut_at(points[i], (unsigned)hit, do_rollback, &s)) {
			i++;
			hit = 0;
			scene_done(&s);
			continue;
		}

		/* Each file is whole: the old bytes or the new ones. */
		text = get("/opt/x/content/c-291.bin");
		assert_non_null(text);
		assert_true(streq(text, "channel 291 good") || streq(text, "channel 291 BAD!!"));
		text290 = get("/opt/x/content/c-290.bin");
		assert_true(!text290 || streq(text290, "channel 290"));

		/* The next boot's run finishes the job. */
		assert_int_equal(content_cache_rollback(root, components_find(&s.set, "examplesec"),
		                                        s.lg, s.now, &res),
		                 0);
		assert_int_equal(res.errors, 0);
		text2 = get("/opt/x/content/c-291.bin");
		assert_string_equal(text2, "channel 291 good");
		free(text290);
		text290 = get("/opt/x/content/c-290.bin");
		assert_string_equal(text290, "channel 290");
		assert_true(kept_aside("channel 291 BAD!!"));
		/* No temp file is left in the vendor's directory. */
		{
			_cleanup_free_ char *dir = rooted("/opt/x/content");
			_cleanup_(closedirp) DIR *d = opendir(dir);
			struct dirent *de;

			while ((de = readdir(d)))
				assert_true(streq(de->d_name, ".") || streq(de->d_name, "..") ||
				            de->d_name[0] != '.');
		}
		rollback_result_done(&res);
		scene_done(&s);
	}
}

struct cache_job {
	struct component_set *set;
	struct inventory *inv;
};

static void do_cache(void *userdata)
{
	struct cache_job *j = userdata;

	(void)content_cache_update(root, j->set, j->inv, 1 << 20, NULL);
}

/* Every copy in the cache holds the bytes its name says. */
static void assert_cache_consistent(void)
{
	_cleanup_free_ char *dir = rooted(CONTENT_CACHE_DIR "/examplesec");
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *text = NULL;
		uint8_t sum[32];
		char hex[65];
		size_t size;

		if (strlen(de->d_name) != 64)
			continue;
		p = path_join(dir, de->d_name);
		assert_int_equal(read_full_file(p, 1 << 20, &text, &size), 0);
		assert_int_equal(EVP_Digest(text, size, sum, NULL, EVP_sha256(), NULL), 1);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", sum[i]);
		assert_string_equal(hex, de->d_name);
	}
}

static void test_power_cut_during_cache_update_leaves_no_torn_copy(void **state)
{
	static const char *const points[] = {"inventory-cache-evict", "inventory-cache-copy",
	                                     "inventory-cache-rename"};

	(void)state;
	for (size_t i = 0, hit = 1; i < ELEMENTSOF(points); hit++) {
		struct component_set set = {0};
		_cleanup_inventory_free_ struct inventory *one = NULL, *two = NULL;
		struct content_cache_result res = {0};
		struct cache_job j = {&set, NULL};

		new_root(NULL);
		two_components(&set);
		assert_int_equal(inventory_take(root, &set, NULL, &one), 0);
		assert_int_equal(content_cache_update(root, &set, one, 1 << 20, NULL), 0);
		put("/opt/x/content/c-291.bin", "channel 291 v2");
		assert_int_equal(inventory_take(root, &set, one, &two), 0);
		j.inv = two;

		if (!cut_at(points[i], (unsigned)hit, do_cache, &j)) {
			i++;
			hit = 0;
			components_done(&set);
			continue;
		}
		assert_cache_consistent();
		assert_int_equal(content_cache_update(root, &set, two, 1 << 20, &res), 0);
		assert_cache_consistent();
		assert_true(cached(two, "examplesec", "/opt/x/content/c-291.bin"));
		assert_false(cached(one, "examplesec", "/opt/x/content/c-291.bin"));
		{
			_cleanup_free_ char *dir = rooted(CONTENT_CACHE_DIR "/examplesec");
			_cleanup_(closedirp) DIR *d = opendir(dir);
			struct dirent *de;

			while ((de = readdir(d)))
				assert_true(strncmp(de->d_name, ".tmp-", 5) != 0);
		}
		content_cache_result_done(&res);
		components_done(&set);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_take_records_every_globbed_file_with_metadata_and_hash,
	                           new_root),
	    cmocka_unit_test_setup(test_globs_through_merged_usr_links_are_inventoried, new_root),
	    cmocka_unit_test_setup(test_save_then_load_round_trips, new_root),
	    cmocka_unit_test_setup(test_warm_run_rehashes_only_changed_files, new_root),
	    cmocka_unit_test_setup(test_file_changed_in_the_walks_clock_tick_is_rehashed, new_root),
	    cmocka_unit_test_setup(test_symlink_swapped_in_is_changed_and_not_followed, new_root),
	    cmocka_unit_test_setup(test_corrupt_inventory_file_is_an_error_and_means_none,
	                           new_root),
	    cmocka_unit_test(test_parser_is_strict_even_with_a_valid_checksum),
	    cmocka_unit_test_setup(
	        test_diff_finds_added_removed_changed_and_orders_suspects_by_newest_change,
	        new_root),
	    cmocka_unit_test_setup(test_no_change_means_no_suspect, new_root),
	    cmocka_unit_test(
	        test_component_that_could_not_be_inventoried_is_reported_not_suspected),
	    cmocka_unit_test_setup(test_component_new_since_last_good_is_all_additions, new_root),
	    cmocka_unit_test_setup(test_content_cache_keeps_copies_of_content_files_only, new_root),
	    cmocka_unit_test_setup(test_content_cache_is_bounded_and_reports_what_it_skipped,
	                           new_root),
	    cmocka_unit_test_setup(test_content_cache_evicts_copies_no_longer_referenced, new_root),
	    cmocka_unit_test_setup(
	        test_rollback_restores_last_good_bytes_and_keeps_the_bad_file_aside, new_root),
	    cmocka_unit_test_setup(test_rollback_without_a_cached_copy_reports_the_file_uncovered,
	                           new_root),
	    cmocka_unit_test_setup(test_rollback_never_installs_a_damaged_copy, new_root),
	    cmocka_unit_test_setup(test_rollback_replaces_a_symlink_without_following_it, new_root),
	    cmocka_unit_test(test_power_cut_during_save_leaves_the_old_or_the_new_inventory),
	    cmocka_unit_test(test_power_cut_during_rollback_leaves_the_old_or_the_new_file),
	    cmocka_unit_test(test_power_cut_during_cache_update_leaves_no_torn_copy),
	};

	return cmocka_run_group_tests(tests, make_base, remove_base);
}
