/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * components.d: loading (broken drop-ins cost only themselves), lookups,
 * and the glob walk on real files in a temp root (thousands of files,
 * symlinks).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "agent/conf/components.h"
#include "agent/conf/glob-walk.h"
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
	snprintf(tmp_base, sizeof(tmp_base), "%s/test-components.XXXXXX", base ? base : "/tmp");
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

/* Writes root + rel (parents created). */
static void put(const char *rel, const char *text)
{
	_cleanup_free_ char *path = path_join(root, rel);
	_cleanup_free_ char *dir = NULL;
	FILE *f;

	assert_non_null(path);
	dir = strdup(path);
	assert_non_null(dir);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void put_dropin(const char *name, const char *text)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "/etc/lifeline/components.d/%s", name);
	put(rel, text);
}

static void mkdir_in_root(const char *rel)
{
	_cleanup_free_ char *path = path_join(root, rel);

	assert_int_equal(mkdir_p(path, 0755), 0);
}

static void symlink_in_root(const char *target, const char *rel)
{
	_cleanup_free_ char *path = path_join(root, rel);

	assert_int_equal(symlink(target, path), 0);
}

struct capture {
	int saved;
	char path[1200];
};

static void capture_start(struct capture *c)
{
	int fd;

	fflush(stderr);
	snprintf(c->path, sizeof(c->path), "%s/stderr.XXXXXX", tmp_base);
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static char *capture_end(struct capture *c)
{
	char *text = NULL;

	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	assert_int_equal(read_full_file(c->path, 1 << 20, &text, NULL), 0);
	unlink(c->path);
	fputs(text, stderr);
	return text;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------- */

static void test_missing_directory_is_an_empty_set(void **state)
{
	struct component_set s = {.n = 99};
	unsigned problems = 99;

	(void)state;
	assert_int_equal(components_load(root, &s, &problems), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(problems, 0);
	components_done(&s);
}

static void test_every_key_is_parsed_and_modules_are_normalised(void **state)
{
	struct component_set s = {0};
	const struct component *c;
	unsigned problems = 99;

	(void)state;
	put_dropin("examplesec.conf", "[examplesec]\n"
	                              "vendor = Example Security\n"
	                              "modules = examplesec examplesec-net  ; comment\n"
	                              "units = examplesec.service examplesec-update.timer\n"
	                              "files = /opt/examplesec/bin/*\n"
	                              "content = /opt/examplesec/content/*.bin\n"
	                              "   /var/lib/examplesec/channel-*\n"
	                              "rollback_content = no\n"
	                              "\n"
	                              "[minimal]\n"
	                              "units = minimal.service\n");
	assert_int_equal(components_load(root, &s, &problems), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(s.n, 2);
	c = components_find(&s, "examplesec");
	assert_non_null(c);
	assert_string_equal(c->vendor, "Example Security");
	assert_int_equal(strv_length(c->modules), 2);
	assert_string_equal(c->modules[0], "examplesec");
	assert_string_equal(c->modules[1], "examplesec_net");
	assert_int_equal(strv_length(c->units), 2);
	assert_string_equal(c->units[1], "examplesec-update.timer");
	assert_int_equal(strv_length(c->files), 1);
	assert_int_equal(strv_length(c->content), 2);
	assert_string_equal(c->content[1], "/var/lib/examplesec/channel-*");
	assert_false(c->rollback_content);
	assert_int_equal(c->source_line, 1);
	assert_non_null(strstr(c->source_file, "/etc/lifeline/components.d/examplesec.conf"));

	c = components_find(&s, "minimal");
	assert_non_null(c);
	assert_null(c->vendor);
	assert_true(c->rollback_content); /* the default */
	assert_int_equal(c->source_line, 10);
	assert_null(components_find(&s, "nothere"));
	components_done(&s);
	components_done(&s);
	components_done(NULL);
}

static void test_broken_component_is_left_out_and_good_ones_in_both_files_are_kept(void **state)
{
	struct component_set s = {0};
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	char fixture[PATH_MAX];
	unsigned problems = 0;

	(void)state;
	/* tests/data/config/components-mixed: 10-good.conf (good), 20-broken.conf
	 * (one good, one with a bad module name), 30-syntax.conf (syntax
	 * error), README (not a drop-in). */
	assert_non_null(realpath("tests/data/config/components-mixed", fixture));
	mkdir_in_root("/etc/lifeline");
	symlink_in_root(fixture, "/etc/lifeline/components.d");

	capture_start(&cap);
	assert_int_equal(components_load(root, &s, &problems), 0);
	log = capture_end(&cap);
	assert_int_equal(s.n, 2);
	assert_non_null(components_find(&s, "goodsec"));
	assert_non_null(components_find(&s, "alsogood"));
	assert_null(components_find(&s, "badsec"));
	assert_null(components_find(&s, "syntaxsec"));
	assert_string_equal(s.items[0].id, "goodsec"); /* lexical file order */
	assert_int_equal(problems, 2);
	assert_non_null(strstr(
	    log, "20-broken.conf:10: [badsec] modules: \"bad/sec\" is not a kernel module name"));
	assert_non_null(strstr(log, "component left out"));
	assert_non_null(strstr(log, "30-syntax.conf:4: expected"));
	assert_non_null(
	    strstr(log, "30-syntax.conf: syntax errors, no component of this file is loaded"));
	assert_null(strstr(log, "README"));
	components_done(&s);
}

static void test_syntax_error_disables_the_whole_file_only(void **state)
{
	struct component_set s = {0};
	unsigned problems = 0;

	(void)state;
	put_dropin("a.conf", "[first]\nunits = first.service\n[second\nunits = second.service\n");
	put_dropin("b.conf", "units = orphan.service\n[third]\nunits = third.service\n");
	put_dropin("c.conf", "[fourth]\nunits = fourth.service\n");
	assert_int_equal(components_load(root, &s, &problems), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.items[0].id, "fourth");
	assert_int_equal(problems, 2);
	components_done(&s);
}

static void test_duplicate_id_first_wins_and_the_error_names_both_files(void **state)
{
	struct component_set s = {0};
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	unsigned problems = 0;

	(void)state;
	put_dropin("10-vendor.conf", "# vendor\n[dupsec]\nunits = first.service\n");
	put_dropin("20-local.conf",
	           "[dupsec]\nunits = second.service\n[other]\nunits = other.service\n");
	put_dropin("30-same-file.conf", "[twice]\nunits = a.service\n[twice]\nunits = b.service\n");
	capture_start(&cap);
	assert_int_equal(components_load(root, &s, &problems), 0);
	log = capture_end(&cap);
	assert_int_equal(s.n, 3);
	assert_string_equal(components_find(&s, "dupsec")->units[0], "first.service");
	assert_string_equal(components_find(&s, "twice")->units[0], "a.service");
	assert_non_null(components_find(&s, "other"));
	assert_int_equal(problems, 2);
	assert_non_null(strstr(log, "20-local.conf:1: [dupsec]: already defined in "));
	assert_non_null(strstr(log, "10-vendor.conf:2; ignoring this one"));
	assert_non_null(strstr(log, "30-same-file.conf:3: [twice]: already defined at line 1"));
	components_done(&s);
}

static void test_bad_names_and_globs_are_rejected(void **state)
{
	static const struct {
		const char *text;
		const char *message;
	} cases[] = {
	    {"[bad id]\nunits = a.service\n", "invalid component id"},
	    {"[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nunits = "
	     "a.service\n",
	     "invalid component id"},
	    {"[..]\nunits = a.service\n", "invalid component id"},
	    {"[m1]\nmodules = bad.module\n", "is not a kernel module name"},
	    {"[m2]\nmodules = a_very_long_module_name_that_is_longer_than_the_kernel_allows_1\n",
	     "is not a kernel module name"},
	    {"[u1]\nunits = noext\n", "is not a unit name"},
	    {"[u2]\nunits = ../evil.service\n", "is not a unit name"},
	    {"[u3]\nunits = .service\n", "is not a unit name"},
	    {"[g1]\nfiles = relative/*\n", "is not an absolute glob"},
	    {"[g2]\nfiles = /opt/x/../../etc/*\n", "is not an absolute glob"},
	    {"[g3]\ncontent = /*\n", "is not an absolute glob"},
	    {"[g4]\ncontent = /*/bin/tool\n", "is not an absolute glob"},
	    {"[g5]\nfiles = /opt/./x\n", "is not an absolute glob"},
	    {"[b1]\nunits = a.service\nrollback_content = sometimes\n", "is not a boolean"},
	    {"[v1]\nvendor = A\n  B\n", "continuation lines are only allowed for lists"},
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct component_set s = {0};
		struct capture cap;
		_cleanup_free_ char *log = NULL;
		unsigned problems = 0;
		char name[32];

		snprintf(name, sizeof(name), "case%02zu.conf", i);
		put_dropin(name, cases[i].text);
		capture_start(&cap);
		assert_int_equal(components_load(root, &s, &problems), 0);
		log = capture_end(&cap);
		assert_int_equal(s.n, 0);
		assert_int_equal(problems, 1);
		assert_non_null(strstr(log, name));
		assert_non_null(strstr(log, cases[i].message));
		assert_int_equal(count_lines(log), 1);
		components_done(&s);
		{
			_cleanup_free_ char *dir = path_join(root, "/etc/lifeline/components.d");
			_cleanup_free_ char *p = path_join(dir, name);

			unlink(p);
		}
	}
}

static void test_name_rules(void **state)
{
	char buf[64];

	(void)state;
	assert_true(component_id_is_valid("crowdstrike-falcon"));
	assert_true(component_id_is_valid("a.b_c-9"));
	assert_false(component_id_is_valid(""));
	assert_false(component_id_is_valid("a/b"));
	assert_true(module_name_is_valid("falcon_lsm_pinned_*", true));
	assert_false(module_name_is_valid("falcon_lsm_pinned_*", false));
	assert_true(module_name_is_valid("nvidia-drm", false));
	assert_string_equal(module_name_normalize(strcpy(buf, "nvidia-drm")), "nvidia_drm");
	assert_true(unit_name_is_valid("getty@tty1.service"));
	assert_true(unit_name_is_valid("falco@.target"));
	assert_true(unit_name_is_valid("dev-sda1.device"));
	assert_false(unit_name_is_valid("a@b@c.service"));
	assert_false(unit_name_is_valid("sshd"));
	assert_false(unit_name_is_valid("a b.service"));
	assert_true(component_glob_is_valid("/opt/CrowdStrike/*"));
	assert_true(component_glob_is_valid("/var/ossec"));
	assert_false(component_glob_is_valid("/"));
	assert_false(component_glob_is_valid("/opt/a\\*"));
}

static void test_find_module_treats_dash_and_underscore_alike_and_matches_patterns(void **state)
{
	struct component_set s = {0};
	const struct component *c;

	(void)state;
	put_dropin("f.conf", "[falcon]\nmodules = falcon_kal falcon-lsm-pinned-*\n"
	                     "[other]\nmodules = nvidia_drm\n");
	assert_int_equal(components_load(root, &s, NULL), 0);
	c = components_find_module(&s, "falcon_kal");
	assert_non_null(c);
	assert_string_equal(c->id, "falcon");
	assert_ptr_equal(components_find_module(&s, "falcon-kal"), c);
	assert_ptr_equal(components_find_module(&s, "falcon_lsm_pinned_11110"), c);
	assert_ptr_equal(components_find_module(&s, "falcon-lsm-pinned-16206"), c);
	assert_null(components_find_module(&s, "falcon_lsm_serviceable"));
	assert_null(components_find_module(&s, "falcon_kal2"));
	assert_string_equal(components_find_module(&s, "nvidia-drm")->id, "other");
	assert_null(components_find_module(&s, ""));
	assert_true(module_name_match("falcon_lsm_pinned_*", "falcon-lsm-pinned-1"));
	assert_false(module_name_match("falcon_lsm_pinned_?", "falcon_lsm_pinned_12"));
	components_done(&s);
}

static void test_find_unit_and_path(void **state)
{
	struct component_set s = {0};

	(void)state;
	put_dropin("u.conf", "[tpl]\nunits = agent@.service plain.service\n"
	                     "files = /opt/agent/bin/*\ncontent = /var/lib/agent/*.dat\n");
	assert_int_equal(components_load(root, &s, NULL), 0);
	assert_non_null(components_find_unit(&s, "plain.service"));
	assert_non_null(components_find_unit(&s, "agent@.service"));
	assert_non_null(components_find_unit(&s, "agent@eth0.service"));
	assert_null(components_find_unit(&s, "agent@eth0.socket"));
	assert_null(components_find_unit(&s, "agentx@eth0.service"));
	assert_null(components_find_unit(&s, "plain.socket"));
	assert_non_null(components_find_path(&s, "/opt/agent/bin/agentd"));
	assert_non_null(components_find_path(&s, "/var/lib/agent/rules.dat"));
	assert_null(components_find_path(&s, "/opt/agent/bin/sub/dir"));
	assert_null(components_find_path(&s, "/opt/agent/bin/.hidden"));
	components_done(&s);
}

static void test_non_conf_and_non_regular_entries_are_skipped(void **state)
{
	struct component_set s = {0};
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	unsigned problems = 99;

	(void)state;
	put_dropin("real.conf", "[real]\nunits = real.service\n");
	put_dropin(".hidden.conf", "[hidden]\nunits = hidden.service\n");
	put_dropin("notes.txt", "[txt]\nunits = txt.service\n");
	put_dropin("real.conf~", "[backup]\nunits = backup.service\n");
	put("/srv/linked-target", "[linked]\nunits = linked.service\n");
	symlink_in_root("../../../srv/linked-target", "/etc/lifeline/components.d/linked.conf");
	symlink_in_root("/nonexistent/target", "/etc/lifeline/components.d/dangling.conf");
	mkdir_in_root("/etc/lifeline/components.d/dir.conf");

	capture_start(&cap);
	assert_int_equal(components_load(root, &s, &problems), 0);
	log = capture_end(&cap);
	assert_int_equal(problems, 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.items[0].id, "linked");
	assert_string_equal(s.items[1].id, "real");
	assert_non_null(strstr(log, "dangling.conf: No such file or directory, ignoring it"));
	assert_non_null(strstr(log, "dir.conf: not a regular file, ignoring it"));
	assert_int_equal(count_lines(log), 2);
	components_done(&s);
}

static void test_overlapping_module_or_glob_warns_naming_both(void **state)
{
	struct component_set s = {0};
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	unsigned problems = 99;

	(void)state;
	put_dropin("a.conf", "[one]\nmodules = shared_mod\nfiles = /opt/shared/*\n");
	put_dropin("b.conf", "[two]\nmodules = shared-mod\ncontent = /opt/shared/*\n");
	capture_start(&cap);
	assert_int_equal(components_load(root, &s, &problems), 0);
	log = capture_end(&cap);
	assert_int_equal(s.n, 2);
	assert_int_equal(problems, 0); /* warnings, not errors */
	assert_non_null(
	    strstr(log, "b.conf:1: [two]: module shared_mod is also claimed by [one] ("));
	assert_non_null(
	    strstr(log, "b.conf:1: [two]: path /opt/shared/* is also claimed by [one] ("));
	assert_non_null(strstr(log, "a.conf:1)"));
	components_done(&s);
}

/* A section name past inih's 49-byte MAX_SECTION must not be truncated
 * into someone else's id. */
static void test_long_ids_are_kept_whole(void **state)
{
	struct component_set s = {0};
	unsigned problems = 99;

	(void)state;
	put_dropin("long.conf",
	           "[a-component-id-that-is-longer-than-forty-nine-bytes-x1]\nunits = a.service\n"
	           "[a-component-id-that-is-longer-than-forty-nine-bytes-x2]\nunits = b.service\n");
	assert_int_equal(components_load(root, &s, &problems), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(s.n, 2);
	assert_non_null(
	    components_find(&s, "a-component-id-that-is-longer-than-forty-nine-bytes-x2"));
	components_done(&s);
}

static void make_many_files(const char *reldir, unsigned n)
{
	_cleanup_free_ char *dir = path_join(root, reldir);

	assert_int_equal(mkdir_p(dir, 0755), 0);
	for (unsigned i = 0; i < n; i++) {
		char path[1400];
		int fd;

		snprintf(path, sizeof(path), "%s/chan-%05u.bin", dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
}

static void test_glob_over_5000_files_is_cheap_for_is_active_and_bounded_in_expand(void **state)
{
	struct component_set s = {0};
	const struct component *c;
	_cleanup_strv_free_ char **paths = NULL;
	char **none = (char **)1;
	double t0, per_call_active, per_call_expand;

	(void)state;
	make_many_files("/opt/big/content", 5000);
	put_dropin("big.conf", "[big]\ncontent = /opt/big/content/chan-*.bin\n");
	assert_int_equal(components_load(root, &s, NULL), 0);
	c = components_find(&s, "big");
	assert_non_null(c);

	/* is_active stops at the first match: far cheaper than listing all. */
	t0 = now();
	for (int i = 0; i < 200; i++)
		assert_true(component_is_active(c, root));
	per_call_active = (now() - t0) / 200;

	t0 = now();
	assert_int_equal(component_expand_files(c, root, true, &paths), 0);
	per_call_expand = now() - t0;
	assert_int_equal(strv_length(paths), 5000);
	assert_string_equal(paths[0], "/opt/big/content/chan-00000.bin"); /* sorted, no root */
	assert_string_equal(paths[4999], "/opt/big/content/chan-04999.bin");
	fprintf(stderr, "is_active %.1f us/call, expand of 5000 %.1f us\n", per_call_active * 1e6,
	        per_call_expand * 1e6);
	/* Generous: one directory read vs 5000 lstat()s + strdup()s; the
	 * ratio, not the machine's speed, is what is checked. */
	assert_true(per_call_active * 4 < per_call_expand);

	/* Bounded: past the limit it fails instead of growing. */
	assert_int_equal(component_expand_files_max(c, root, true, 1000, &none), -E2BIG);
	assert_ptr_equal(none, (char **)1); /* untouched on failure */
	components_done(&s);
}

static void test_expand_does_not_follow_or_return_symlinks(void **state)
{
	struct component_set s = {0};
	const struct component *c;
	_cleanup_strv_free_ char **paths = NULL, **content = NULL;

	(void)state;
	put("/opt/sym/bin/real-tool", "x");
	put("/opt/sym/content/rules.dat", "x");
	put("/usr/bin/system-tool", "x");
	put("/usr/lib/outside/secret.dat", "x");
	mkdir_in_root("/opt/sym/bin/subdir");
	symlink_in_root("real-tool", "/opt/sym/bin/link-to-tool");
	symlink_in_root("/usr/bin/system-tool", "/opt/sym/bin/abs-link");
	symlink_in_root("../../../usr/lib/outside", "/opt/sym/content/linked-dir");
	put_dropin("sym.conf", "[sym]\nfiles = /opt/sym/bin/*\ncontent = /opt/sym/content/*.dat\n"
	                       "  /opt/sym/content/*/*.dat\n");
	assert_int_equal(components_load(root, &s, NULL), 0);
	c = components_find(&s, "sym");

	assert_int_equal(component_expand_files(c, root, false, &paths), 0);
	assert_int_equal(strv_length(paths), 2);
	assert_string_equal(paths[0], "/opt/sym/bin/real-tool");
	assert_string_equal(paths[1], "/opt/sym/content/rules.dat");

	assert_int_equal(component_expand_files(c, root, true, &content), 0);
	assert_int_equal(strv_length(content), 1);
	assert_string_equal(content[0], "/opt/sym/content/rules.dat");
	components_done(&s);
}

/* Vendor drop-ins in /usr/lib/lifeline/components.d; a same-named file in
 * /etc/lifeline/components.d overrides one, an empty one or a symlink to
 * /dev/null masks it (systemd's convention). */
static void test_vendor_dropins_are_overridden_or_masked_from_etc(void **state)
{
	struct component_set s = {0};
	const struct component *c;

	(void)state;
	put("/usr/lib/lifeline/components.d/10-acme.conf", "[acme]\nfiles = /opt/acme/bin/*\n");
	put("/usr/lib/lifeline/components.d/20-beta.conf", "[beta]\nfiles = /opt/beta/bin/*\n");
	put("/usr/lib/lifeline/components.d/30-gamma.conf", "[gamma]\nfiles = /opt/gamma/*\n");
	put("/usr/lib/lifeline/components.d/40-delta.conf", "[delta]\nfiles = /opt/delta/*\n");
	/* overridden: the admin's copy, another path */
	put_dropin("10-acme.conf", "[acme]\nfiles = /srv/acme/bin/*\n");
	/* masked: an empty file, and a symlink to /dev/null */
	put_dropin("20-beta.conf", "");
	symlink_in_root("/dev/null", "/etc/lifeline/components.d/30-gamma.conf");
	/* the admin's own, between the vendor's in name order */
	put_dropin("35-local.conf", "[local]\nunits = local-agent.service\n");

	assert_int_equal(components_load(root, &s, NULL), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.items[0].id, "acme");
	assert_string_equal(s.items[1].id, "local");
	assert_string_equal(s.items[2].id, "delta");
	c = components_find(&s, "acme");
	assert_string_equal(c->files[0], "/srv/acme/bin/*");
	assert_null(c->files[1]);
	assert_non_null(strstr(c->source_file, "/etc/lifeline/components.d/10-acme.conf"));
	assert_non_null(strstr(components_find(&s, "delta")->source_file,
	                       "/usr/lib/lifeline/components.d/40-delta.conf"));
	assert_null(components_find(&s, "beta"));
	assert_null(components_find(&s, "gamma"));
	components_done(&s);
}

/* Merged /usr: /lib, /bin and /sbin are links to usr/...; a glob written
 * with the short form finds the files by their real path, and a link
 * under the root never leads out of it. */
static void test_globs_through_the_roots_own_symlinks_resolve(void **state)
{
	struct component_set s = {0};
	const struct component *c;
	_cleanup_strv_free_ char **fw = NULL, **bin = NULL, **esc = NULL, **deep = NULL;
	_cleanup_free_ char *resolved = NULL;
	_cleanup_close_ int rfd = -1;

	(void)state;
	put("/usr/lib/firmware/acme/chan-1.bin", "x");
	put("/usr/lib/firmware/acme/chan-2.bin", "x");
	put("/usr/bin/acmed", "x");
	put("/usr/lib64/ld.so", "x");
	symlink_in_root("usr/lib", "/lib");           /* relative, as Debian ships it */
	symlink_in_root("/usr/bin", "/bin");          /* absolute: from the root */
	symlink_in_root("../../../../..", "/escape"); /* ".." stops at the root */
	symlink_in_root("/../../usr/lib64", "/lib64");
	put_dropin("fw.conf", "[fw]\nfiles = /bin/acmed\ncontent = /lib/firmware/acme/*.bin\n"
	                      "[esc]\nfiles = /escape/usr/lib64/*\n"
	                      "[deep]\nfiles = /lib64/*\n");
	assert_int_equal(components_load(root, &s, NULL), 0);

	c = components_find(&s, "fw");
	assert_true(component_is_active(c, root));
	assert_int_equal(component_expand_files(c, root, true, &fw), 0);
	assert_int_equal(strv_length(fw), 2);
	assert_string_equal(fw[0], "/usr/lib/firmware/acme/chan-1.bin");
	assert_string_equal(fw[1], "/usr/lib/firmware/acme/chan-2.bin");
	assert_int_equal(component_expand_files(c, root, false, &bin), 0);
	assert_int_equal(strv_length(bin), 3);
	assert_string_equal(bin[0], "/usr/bin/acmed");

	/* the escaping link lands on the root itself */
	assert_int_equal(component_expand_files(components_find(&s, "esc"), root, false, &esc), 0);
	assert_int_equal(strv_length(esc), 1);
	assert_string_equal(esc[0], "/usr/lib64/ld.so");
	assert_int_equal(component_expand_files(components_find(&s, "deep"), root, false, &deep),
	                 0);
	assert_int_equal(strv_length(deep), 1);
	assert_string_equal(deep[0], "/usr/lib64/ld.so");

	rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(rfd >= 0);
	assert_int_equal(glob_resolve_prefix(rfd, "/lib/firmware/acme/*.bin", &resolved), 0);
	assert_string_equal(resolved, "/usr/lib/firmware/acme/*.bin");
	free(resolved);
	/* the last component is a match, never resolved */
	assert_int_equal(glob_resolve_prefix(rfd, "/lib", &resolved), 0);
	assert_string_equal(resolved, "/lib");
	free(resolved);
	resolved = NULL;
	/* a loop ends with -ELOOP, not forever */
	symlink_in_root("loop2", "/loop1");
	symlink_in_root("loop1", "/loop2");
	assert_int_equal(glob_resolve_prefix(rfd, "/loop1/x/*", &resolved), -ELOOP);
	components_done(&s);
}

static void test_is_active_needs_an_existing_path_under_the_root(void **state)
{
	struct component_set s = {0};

	(void)state;
	put_dropin("act.conf", "[present]\nfiles = /opt/present/bin/*\n"
	                       "[absent]\nfiles = /opt/absent/bin/*\nmodules = absent_mod_xyz\n"
	                       "[dironly]\nfiles = /var/dironly\n"
	                       "[throughlink]\nfiles = /opt/linked/bin/tool\n"
	                       "[unitonly]\nunits = unitonly.service\n");
	put("/opt/present/bin/agentd", "x");
	mkdir_in_root("/var/dironly");
	put("/real/bin/tool", "x");
	symlink_in_root("../real", "/opt/linked");
	assert_int_equal(components_load(root, &s, NULL), 0);
	assert_true(component_is_active(components_find(&s, "present"), root));
	assert_false(component_is_active(components_find(&s, "absent"), root));
	assert_true(component_is_active(components_find(&s, "dironly"), root));
	/* Under a root other than "/", symlinks in directories are not
	 * followed (an absolute one would point outside the root). */
	assert_false(component_is_active(components_find(&s, "throughlink"), root));
	assert_false(component_is_active(components_find(&s, "unitonly"), root));
	components_done(&s);
}

static void test_loaded_modules_are_matched_by_normalised_name_and_pattern(void **state)
{
	struct component_set s = {0};
	static const char proc_modules[] =
	    "nf_tables 286720 0 - Live 0x0000000000000000\n"
	    "falcon_lsm_pinned_16206 98304 1 - Live 0x0000000000000000 (OE)\n"
	    "i6300esb 16384 0 - Live 0x0000000000000000\n";

	(void)state;
	put_dropin("m.conf", "[falcon]\nmodules = falcon_kal falcon-lsm-pinned-*\n"
	                     "[esb]\nmodules = i6300esb\n"
	                     "[none]\nmodules = nf_table\n"
	                     "[nomods]\nunits = x.service\n");
	assert_int_equal(components_load(root, &s, NULL), 0);
	assert_true(component_has_loaded_module(components_find(&s, "falcon"), proc_modules));
	assert_true(component_has_loaded_module(components_find(&s, "esb"), proc_modules));
	assert_false(component_has_loaded_module(components_find(&s, "none"), proc_modules));
	assert_false(component_has_loaded_module(components_find(&s, "nomods"), proc_modules));
	assert_false(component_has_loaded_module(components_find(&s, "falcon"), ""));
	components_done(&s);
}

static void test_loaded_module_makes_active_only_on_the_real_root(void **state)
{
	struct component_set s = {0};
	_cleanup_free_ char *mods = NULL;
	char text[256], name[64] = "";

	(void)state;
	if (read_full_file("/proc/modules", 1 << 24, &mods, NULL) < 0 ||
	    sscanf(mods, "%63s", name) != 1) {
		fprintf(stderr, "no /proc/modules here, skipping\n");
		skip();
	}
	snprintf(text, sizeof(text), "[loaded]\nmodules = never_loaded_xyz %s\n", name);
	put_dropin("mod.conf", text);
	assert_int_equal(components_load(root, &s, NULL), 0);
	assert_true(component_is_active(components_find(&s, "loaded"), "/"));
	assert_true(component_is_active(components_find(&s, "loaded"), NULL));
	assert_false(component_is_active(components_find(&s, "loaded"), root));
	components_done(&s);
}

/* The drop-ins shipped in config/components.d load without a problem. */
static void test_shipped_dropins_load_cleanly(void **state)
{
	struct component_set s = {0};
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	const struct component *c;
	char shipped[PATH_MAX];
	unsigned problems = 99;

	(void)state;
	assert_non_null(realpath("config/components.d", shipped));
	mkdir_in_root("/etc/lifeline");
	symlink_in_root(shipped, "/etc/lifeline/components.d");
	capture_start(&cap);
	assert_int_equal(components_load(root, &s, &problems), 0);
	log = capture_end(&cap);
	assert_int_equal(problems, 0);
	assert_string_equal(log, "");
	assert_true(s.n >= 6);
	c = components_find_module(&s, "falcon_lsm_pinned_11308");
	assert_non_null(c);
	assert_string_equal(c->id, "crowdstrike-falcon");
	assert_ptr_equal(components_find_unit(&s, "falcon-sensor.service"), c);
	assert_string_equal(components_find_module(&s, "falco")->id, "falco");
	assert_string_equal(components_find_module(&s, "falco-probe")->id, "falco");
	assert_string_equal(components_find_unit(&s, "mdatp.service")->id, "microsoft-defender");
	assert_non_null(components_find(&s, "sentinelone"));
	assert_non_null(components_find(&s, "elastic-endpoint"));
	assert_non_null(components_find(&s, "tetragon"));
	/* None is active on an empty root. */
	for (size_t i = 0; i < s.n; i++)
		assert_false(component_is_active(&s.items[i], root));
	components_done(&s);
}

/* Degrade steps (docs/degrade.md): Falco's and KESL's shipped drop-ins
 * carry theirs, exactly as docs/vendors.md states them. */
static void test_shipped_dropins_carry_degrade_steps(void **state)
{
	struct component_set s;
	const struct component *c;
	char shipped[PATH_MAX];
	unsigned problems = 99, with_step = 0;

	(void)state;
	assert_non_null(realpath("config/components.d", shipped));
	mkdir_in_root("/etc/lifeline");
	symlink_in_root(shipped, "/etc/lifeline/components.d");
	assert_int_equal(components_load(root, &s, &problems), 0);
	assert_int_equal(problems, 0);
	c = components_find(&s, "falco");
	assert_non_null(c);
	assert_true(component_can_degrade(c));
	assert_int_equal(c->n_degrade, 1);
	assert_int_equal(c->degrade[0].kind, DEGRADE_SET);
	assert_int_equal(c->degrade[0].format, DEGRADE_FORMAT_YAML);
	assert_string_equal(c->degrade[0].path, "/etc/falco/falco.yaml");
	assert_string_equal(c->degrade[0].key, "engine.kind");
	assert_string_equal(c->degrade[0].value, "modern_ebpf");
	assert_true(strv_contains(c->kernel_units, "falco-kmod-inject.service"));
	assert_true(strv_contains(c->degrade_units, "falco-modern-bpf.service"));
	assert_false(strv_contains(c->kernel_units, "falco-modern-bpf.service"));
	c = components_find(&s, "kesl");
	assert_non_null(c);
	assert_int_equal(c->n_degrade, 1);
	assert_int_equal(c->degrade[0].format, DEGRADE_FORMAT_KEYVALUE);
	assert_string_equal(c->degrade[0].path, "/var/opt/kaspersky/kesl/common/kesl.ini");
	assert_string_equal(c->degrade[0].key, "General.SafeMode");
	assert_string_equal(c->degrade[0].value, "yes");
	for (size_t i = 0; i < s.n; i++)
		with_step += component_can_degrade(&s.items[i]);
	assert_int_equal(with_step, 2);
	components_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_missing_directory_is_an_empty_set, new_root),
	    cmocka_unit_test_setup(test_every_key_is_parsed_and_modules_are_normalised, new_root),
	    cmocka_unit_test_setup(
	        test_broken_component_is_left_out_and_good_ones_in_both_files_are_kept, new_root),
	    cmocka_unit_test_setup(test_syntax_error_disables_the_whole_file_only, new_root),
	    cmocka_unit_test_setup(test_duplicate_id_first_wins_and_the_error_names_both_files,
	                           new_root),
	    cmocka_unit_test_setup(test_bad_names_and_globs_are_rejected, new_root),
	    cmocka_unit_test(test_name_rules),
	    cmocka_unit_test_setup(
	        test_find_module_treats_dash_and_underscore_alike_and_matches_patterns, new_root),
	    cmocka_unit_test_setup(test_find_unit_and_path, new_root),
	    cmocka_unit_test_setup(test_non_conf_and_non_regular_entries_are_skipped, new_root),
	    cmocka_unit_test_setup(test_overlapping_module_or_glob_warns_naming_both, new_root),
	    cmocka_unit_test_setup(test_long_ids_are_kept_whole, new_root),
	    cmocka_unit_test_setup(
	        test_glob_over_5000_files_is_cheap_for_is_active_and_bounded_in_expand, new_root),
	    cmocka_unit_test_setup(test_expand_does_not_follow_or_return_symlinks, new_root),
	    cmocka_unit_test_setup(test_is_active_needs_an_existing_path_under_the_root, new_root),
	    cmocka_unit_test_setup(test_globs_through_the_roots_own_symlinks_resolve, new_root),
	    cmocka_unit_test_setup(test_vendor_dropins_are_overridden_or_masked_from_etc, new_root),
	    cmocka_unit_test_setup(test_loaded_modules_are_matched_by_normalised_name_and_pattern,
	                           new_root),
	    cmocka_unit_test_setup(test_loaded_module_makes_active_only_on_the_real_root, new_root),
	    cmocka_unit_test_setup(test_shipped_dropins_load_cleanly, new_root),
	    cmocka_unit_test_setup(test_shipped_dropins_carry_degrade_steps, new_root),
	};

	return cmocka_run_group_tests(tests, make_base, remove_base);
}
