/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pstore: evidence parsed from real-format oops texts (tests/data/pstore,
 * checked against tests/data/pstore/EXPECTED), reassembly of efi-pstore
 * parts, and collect() on temp directories: saving, erasing, bounds, and
 * the files it must leave alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conf/components.h"
#include "agent/conf/protected.h"
#include "agent/crash/pstore.h"
#include "agent/crash/suspects.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

static char data_dir[PATH_MAX];

/* ---------------------------------------------------------------- helpers */

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* tests/data/pstore: $LIFELINE_TEST_DATA, the source tree from the current
 * directory (make check runs from the top), or next to build/tests/. */
static int find_data_dir(void)
{
	const char *env = getenv("LIFELINE_TEST_DATA");
	char exe[PATH_MAX / 2];
	ssize_t n;

	if (env && is_dir(env)) {
		snprintf(data_dir, sizeof(data_dir), "%s", env);
		return 0;
	}
	if (is_dir("tests/data/pstore")) {
		snprintf(data_dir, sizeof(data_dir), "tests/data/pstore");
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		for (int i = 0; i < 3 && (slash = strrchr(exe, '/')); i++)
			*slash = 0; /* .../build/tests/test-pstore -> ... */
		snprintf(data_dir, sizeof(data_dir), "%s/tests/data/pstore", exe);
		if (is_dir(data_dir))
			return 0;
	}
	fprintf(stderr, "test-pstore: cannot find tests/data/pstore (set LIFELINE_TEST_DATA)\n");
	return -1;
}

static int group_setup(void **state)
{
	(void)state;
	return find_data_dir();
}

static char *data_path(const char *name)
{
	char *p = path_join(data_dir, name);

	assert_non_null(p);
	return p;
}

static char *slurp(const char *path, size_t *size)
{
	char *buf = NULL;
	size_t n = 0;

	assert_int_equal(read_full_file(path, 1 << 22, &buf, &n), 0);
	if (size)
		*size = n;
	return buf;
}

static char *slurp_fixture(const char *name, size_t *size)
{
	_cleanup_free_ char *p = data_path(name);

	return slurp(p, size);
}

/* The log text of a fixture: without a first line "Oops#1" if it has one. */
static const char *fixture_body(const char *text)
{
	const char *nl = strchr(text, '\n');
	size_t i = 0;

	while (text[i] &&
	       ((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z')))
		i++;
	if (i > 0 && text[i] == '#' && nl)
		return nl + 1;
	return text;
}

static void write_text(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmp(void)
{
	const char *base = getenv("LIFELINE_TEST_TMP");
	char *t;

	assert_true(asprintf(&t, "%s/pstore.XXXXXX", base && *base ? base : "/tmp") > 0);
	assert_non_null(mkdtemp(t));
	return t;
}

static void copy_file(const char *src, const char *dst)
{
	size_t n;
	_cleanup_free_ char *d = slurp(src, &n);

	assert_int_equal(write_file_atomic(dst, d, n, 0644), 0);
}

/* Copy the regular files of src into dst (created), those whose name
 * passes want() (NULL: all). */
static unsigned copy_dir(const char *src, const char *dst, bool (*want)(const char *name))
{
	_cleanup_(closedirp) DIR *d = opendir(src);
	struct dirent *de;
	unsigned n = 0;

	assert_non_null(d);
	assert_int_equal(mkdir_p(dst, 0755), 0);
	while ((de = readdir(d))) {
		_cleanup_free_ char *s = NULL, *t = NULL;

		if (de->d_name[0] == '.' || (want && !want(de->d_name)))
			continue;
		s = path_join(src, de->d_name);
		t = path_join(dst, de->d_name);
		copy_file(s, t);
		n++;
	}
	return n;
}

static unsigned count_entries(const char *dir)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	return n;
}

static bool exists(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);
	struct stat st;

	return lstat(p, &st) == 0;
}

static const struct pstore_record *find_record(const struct pstore_log *log, const char *reason,
                                               unsigned event)
{
	for (size_t i = 0; i < log->n_records; i++)
		if (streq(log->records[i].reason, reason) && log->records[i].event == event)
			return &log->records[i];
	return NULL;
}

static char *rank_joined(const struct pstore_evidence *e)
{
	char **l = NULL;
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	int n;

	assert_non_null(f);
	n = pstore_rank_modules(e, &l);
	assert_true(n >= 0);
	assert_non_null(l);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", l[i]);
	assert_null(l[n]);
	if (n == 0)
		fputs("-", f);
	fclose(f);
	pstore_strv_free(l);
	return s;
}

static void parse_text(const char *text, struct pstore_evidence *e)
{
	assert_int_equal(pstore_parse(text, strlen(text), e), 0);
}

/* ------------------------------------------------- fixtures vs EXPECTED */

/* Next field of an EXPECTED line: key=value or key="value with spaces". */
static bool next_field(char **p, char **key, char **value)
{
	char *s = *p, *eq;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return false;
	eq = strchr(s, '=');
	assert_non_null(eq);
	*eq = 0;
	*key = s;
	s = eq + 1;
	if (*s == '"') {
		char *end = strchr(s + 1, '"');

		assert_non_null(end);
		*end = 0;
		*value = s + 1;
		*p = end + 1;
	} else {
		*value = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (*s)
			*s++ = 0;
		*p = s;
	}
	return true;
}

static int mismatch(const char *fixture, const char *key, const char *want, const char *got)
{
	print_error("%s: %s: expected '%s', got '%s'\n", fixture, key, want, got ? got : "(none)");
	return 1;
}

/* The components the fixtures' site= is computed with (EXPECTED): badsec
 * and examplesec, each owning its module; nothing protected. */
static const struct component_set *fixture_components(void)
{
	static char *badsec_mods[] = {(char *)"badsec", NULL},
	            *examplesec_mods[] = {(char *)"examplesec", NULL};
	static struct component items[] = {
	    {.id = (char *)"badsec", .modules = badsec_mods},
	    {.id = (char *)"examplesec", .modules = examplesec_mods},
	};
	static const struct component_set set = {.items = items, .n = ELEMENTSOF(items)};

	return &set;
}

static int check_key(const char *fixture, const struct pstore_evidence *e, const char *key,
                     const char *want)
{
	bool dash = streq(want, "-"), none = streq(want, "none");

	if (streq(key, "rip")) {
		if (none)
			return e->rip_line ? mismatch(fixture, key, want, e->rip_line) : 0;
		if (!e->rip_line)
			return mismatch(fixture, key, want, NULL);
		if (dash)
			return e->rip_module ? mismatch(fixture, key, want, e->rip_module) : 0;
		return streq_ptr(e->rip_module, want) ? 0
		                                      : mismatch(fixture, key, want, e->rip_module);
	}
	if (streq(key, "rank")) {
		_cleanup_free_ char *got = rank_joined(e);

		return streq(got, want) ? 0 : mismatch(fixture, key, want, got);
	}
	if (streq(key, "taint")) {
		if (none)
			return e->taint ? mismatch(fixture, key, want, e->taint) : 0;
		return streq_ptr(e->taint, dash ? "" : want)
		           ? 0
		           : mismatch(fixture, key, want, e->taint);
	}
	if (streq(key, "thirdparty")) {
		_cleanup_free_ char *got =
		    e->modules_third_party ? strv_join(e->modules_third_party, ",") : strdup("");

		return streq(got, dash ? "" : want) ? 0 : mismatch(fixture, key, want, got);
	}
	if (streq(key, "site")) {
		_cleanup_free_ char *what = NULL;
		uint32_t sig = 0;
		int r = pstore_crash_signature(e, fixture_components(), &sig, &what);

		assert_true(r >= 0);
		assert_true(r == 0 ? what == NULL : sig != 0);
		return streq_ptr(what, dash ? NULL : want) ? 0 : mismatch(fixture, key, want, what);
	}
	if (streq(key, "comm") || streq(key, "loading") || streq(key, "panic")) {
		const char *got = streq(key, "comm")      ? e->comm
		                  : streq(key, "loading") ? e->loading_module
		                                          : e->panic_reason;

		return streq_ptr(got, dash ? NULL : want) ? 0 : mismatch(fixture, key, want, got);
	}
	print_error("%s: unknown key '%s' in EXPECTED\n", fixture, key);
	return 1;
}

struct field {
	char *key, *value;
};

static int check_line(char *line)
{
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	_cleanup_free_ char *text = NULL, *path = NULL;
	struct pstore_evidence e = {};
	struct field f[16];
	size_t nf = 0, size = 0;
	char *p = line, *name;
	int failures = 0, r;

	name = strsep(&p, " \t");
	while (nf < ELEMENTSOF(f) && p && next_field(&p, &f[nf].key, &f[nf].value))
		nf++;
	path = data_path(name);

	if (name[strlen(name) - 1] == '/') {
		const struct pstore_record *rec = NULL;

		r = pstore_collect(path, NULL, false, &log);
		if (r < 0) {
			print_error("%s: pstore_collect: %s\n", name, strerror(-r));
			return 1;
		}
		for (size_t i = 0; i < nf; i++) {
			if (streq(f[i].key, "records") &&
			    (size_t)atoi(f[i].value) != log->n_records) {
				char got[32];

				snprintf(got, sizeof(got), "%zu", log->n_records);
				failures += mismatch(name, "records", f[i].value, got);
			} else if (streq(f[i].key, "record")) {
				char reason[32];
				unsigned ev;

				assert_int_equal(sscanf(f[i].value, "%31[A-Za-z]#%u", reason, &ev),
				                 2);
				rec = find_record(log, reason, ev);
				if (!rec)
					return failures +
					       mismatch(name, "record", f[i].value, NULL);
			}
		}
		if (!rec)
			return failures;
		text = strdup(rec->text);
		assert_non_null(text);
		size = rec->size;
	} else
		text = slurp(path, &size);

	r = pstore_parse(text, size, &e);
	if (r < 0) {
		print_error("%s: pstore_parse: %s\n", name, strerror(-r));
		return failures + 1;
	}
	for (size_t i = 0; i < nf; i++)
		if (!streq(f[i].key, "records") && !streq(f[i].key, "record"))
			failures += check_key(name, &e, f[i].key, f[i].value);
	pstore_evidence_done(&e);
	return failures;
}

/* Every line of EXPECTED: drop a fixture in, add a line, done. */
static void test_fixtures_match_expectations(void **state)
{
	_cleanup_free_ char *exp = slurp_fixture("EXPECTED", NULL);
	char *p = exp, *line;
	int failures = 0, lines = 0;

	(void)state;
	while ((line = strsep(&p, "\n"))) {
		line += strspn(line, " \t");
		if (!*line || *line == '#')
			continue;
		lines++;
		failures += check_line(line);
	}
	assert_true(lines >= 10);
	assert_int_equal(failures, 0);
}

static bool expected_mentions(const char *exp, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = exp; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, name, n) == 0 && (l[n] == ' ' || l[n] == '\t'))
			return true;
	return false;
}

static void test_every_fixture_has_an_expectation(void **state)
{
	_cleanup_free_ char *exp = slurp_fixture("EXPECTED", NULL);
	_cleanup_(closedirp) DIR *d = opendir(data_dir);
	struct dirent *de;
	int missing = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *key = NULL;

		if (de->d_name[0] == '.')
			continue;
		p = data_path(de->d_name);
		if (is_dir(p))
			assert_true(asprintf(&key, "%s/", de->d_name) > 0);
		else if (strlen(de->d_name) > 4 &&
		         streq(de->d_name + strlen(de->d_name) - 4, ".txt"))
			key = strdup(de->d_name);
		else
			continue;
		if (!expected_mentions(exp, key)) {
			print_error("fixture %s has no line in EXPECTED\n", key);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* ------------------------------------------------------------ parsing */

static void test_badsec_oops_names_module_in_rip_trace_and_loading_hint(void **state)
{
	_cleanup_free_ char *t = slurp_fixture("6.1-badsec-init-null-oops.txt", NULL);
	struct pstore_evidence e = {};

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.headline,
	                    "BUG: kernel NULL pointer dereference, address: 0000000000000000");
	assert_string_equal(e.rip_line, "RIP: 0010:badsec_crash+0xb/0x20 [badsec]");
	assert_string_equal(e.rip_function, "badsec_crash+0xb/0x20");
	assert_string_equal(e.rip_module, "badsec");
	assert_string_equal(e.comm, "modprobe");
	assert_true(strncmp(e.comm_line, "CPU: 1 PID: 301 Comm: modprobe Tainted: G", 41) == 0);
	assert_string_equal(e.taint, "OE");
	assert_string_equal(e.loading_module, "badsec");
	assert_string_equal(e.modules_linked[0], "badsec");
	assert_string_equal(e.modules_linked[1], "efi_pstore");
	assert_string_equal(e.modules_linked[e.n_modules_linked - 1], "dm_mod");
	assert_null(e.modules_linked[e.n_modules_linked]);
	assert_null(e.panic_line);

	/* frames in printed order; "? " frames kept but marked; the
	 * user-mode registers after entry_SYSCALL are not frames */
	assert_int_equal(e.n_frames, 17);
	assert_string_equal(e.frames[0].function, "__die_body.cold+0x1a/0x1f");
	assert_false(e.frames[0].reliable);
	assert_null(e.frames[0].module);
	assert_string_equal(e.frames[4].function, "badsec_crash+0xb/0x20");
	assert_string_equal(e.frames[4].module, "badsec");
	assert_false(e.frames[4].reliable);
	assert_string_equal(e.frames[5].function, "badsec_init+0xc6/0x1000");
	assert_string_equal(e.frames[5].module, "badsec");
	assert_true(e.frames[5].reliable);
	assert_string_equal(e.frames[6].function, "0xffffffffc0a72000");
	assert_string_equal(e.frames[16].function, "entry_SYSCALL_64_after_hwframe+0x6e/0xd8");

	assert_int_equal(e.n_trace_lines, PSTORE_TRACE_LINES_MAX);
	assert_string_equal(e.trace_lines[0], "? __die_body.cold+0x1a/0x1f");
	assert_string_equal(e.trace_lines[5], "badsec_init+0xc6/0x1000 [badsec]");
	assert_null(e.trace_lines[e.n_trace_lines]);
	pstore_evidence_done(&e);
	assert_null(e.rip_line); /* done() leaves a zeroed struct */
}

static void test_badsec_panic_record_keeps_panic_line(void **state)
{
	_cleanup_free_ char *t = slurp_fixture("6.1-badsec-init-null-panic.txt", NULL);
	struct pstore_evidence e = {};

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.panic_line, "Kernel panic - not syncing: Fatal exception");
	assert_string_equal(e.panic_reason, "Fatal exception");
	assert_string_equal(e.rip_module, "badsec");
	pstore_evidence_done(&e);
}

static void test_falcon_oops_has_core_rip_and_comm_of_truncated_bpf_sensor(void **state)
{
	_cleanup_free_ char *t = slurp_fixture("5.14-rhel9-falcon-bpf-core-rip.txt", NULL);
	struct pstore_evidence e = {};

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.rip_function, "__bpf_ringbuf_reserve+0x74/0x140");
	assert_null(e.rip_module);
	assert_string_equal(e.comm, "falcon-sensor-b");
	assert_string_equal(e.taint, "");
	assert_null(e.loading_module);
	/* the eBPF agent has no module: its process name is the evidence */
	assert_true(pstore_comm_matches_binary(e.comm, "falcon-sensor-bpf"));
	assert_true(pstore_comm_matches_binary(e.comm, "/opt/CrowdStrike/falcon-sensor-bpf"));
	assert_false(pstore_comm_matches_binary(e.comm, "falcon-sensor"));
	assert_false(pstore_comm_matches_binary(e.comm, "falcond"));
	pstore_evidence_done(&e);
}

/* ------------------------------------------------------- crash signature */

/* An oops in the shape of Linux 6.1's, with the parts that differ between
 * boots (time stamps, offsets, addresses, the module's build id) and the
 * crash site as arguments. */
static char *oops_text(const char *stamp, const char *rip, const char *frame1, const char *frame2,
                       const char *modules)
{
	char *t = NULL;

	assert_true(
	    asprintf(&t,
	             "<1>[%s] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	             "<4>[%s] Oops: 0000 [#1] PREEMPT SMP NOPTI\n"
	             "<4>[%s] CPU: 1 PID: 301 Comm: modprobe Tainted: G           OE      "
	             "6.1.0-27-amd64 #1  Debian 6.1.115-1\n"
	             "<4>[%s] RIP: 0010:%s\n"
	             "<4>[%s] Call Trace:\n"
	             "<4>[%s]  <TASK>\n"
	             "<4>[%s]  ? __die_body.cold+0x1a/0x1f\n"
	             "<4>[%s]  %s\n"
	             "<4>[%s]  %s\n"
	             "<4>[%s]  do_one_initcall+0x56/0x220\n"
	             "<4>[%s]  </TASK>\n"
	             "<4>[%s] Modules linked in: %s\n"
	             "<0>[%s] Kernel panic - not syncing: Fatal exception\n",
	             stamp, stamp, stamp, stamp, rip, stamp, stamp, stamp, stamp, frame1, stamp,
	             frame2, stamp, stamp, stamp, modules, stamp) > 0);
	return t;
}

/* 0 (and what NULL) when the crash has no signature. */
static uint32_t signature_of(const char *text, const struct component_set *set, char **ret_what)
{
	struct pstore_evidence e = {};
	uint32_t sig = 0;
	char *what = NULL;
	int r;

	parse_text(text, &e);
	r = pstore_crash_signature(&e, set, &sig, &what);
	assert_true(r == 0 || r == 1);
	assert_true(r == 1 ? sig != 0 && what != NULL : sig == 0 && what == NULL);
	pstore_evidence_done(&e);
	if (ret_what)
		*ret_what = what;
	else
		free(what);
	return sig;
}

/* Components owning modules badsec, badsec2 and examplesec (and, when
 * zfs_owned, zfs); zfs and spl are protected (the root filesystem's). */
struct sig_components {
	char *badsec[2], *badsec2[2], *examplesec[2], *zfs[2];
	char *drivers[3], *why[3];
	struct protected_set prot;
	struct component items[4];
	struct component_set set;
};

static const struct component_set *sig_components(struct sig_components *c, bool zfs_owned)
{
	*c = (struct sig_components){
	    .badsec = {(char *)"badsec", NULL},
	    .badsec2 = {(char *)"badsec2", NULL},
	    .examplesec = {(char *)"examplesec", NULL},
	    .zfs = {(char *)"zfs", NULL},
	    .drivers = {(char *)"spl", (char *)"zfs", NULL},
	    .why = {(char *)"the root filesystem", (char *)"the root filesystem", NULL},
	};
	c->prot = (struct protected_set){.drivers = c->drivers, .driver_why = c->why};
	c->items[0] = (struct component){.id = (char *)"badsec", .modules = c->badsec};
	c->items[1] = (struct component){.id = (char *)"badsec2", .modules = c->badsec2};
	c->items[2] = (struct component){.id = (char *)"examplesec", .modules = c->examplesec};
	c->items[3] = (struct component){.id = (char *)"zfsvendor", .modules = c->zfs};
	c->set = (struct component_set){
	    .items = c->items, .n = zfs_owned ? 4 : 3, .protected = &c->prot};
	return &c->set;
}

/* The same bug on two boots: other time stamps, offsets, addresses, build
 * id. One signature. Another function or another module: another one. */
static void test_signature_ignores_offsets_and_tells_sites_apart(void **state)
{
	_cleanup_free_ char *a = oops_text("    7.956571", "badsec_crash+0xb/0x20 [badsec]",
	                                   "badsec_init+0xc6/0x1000 [badsec]", "0xffffffffc0a72000",
	                                   "badsec(OE+) ext4 virtio_net");
	_cleanup_free_ char *b = oops_text(
	    "   11.002113", "badsec_crash+0x1f/0x40 [badsec 0a1b2c3d4e5f60718293a4b5c6d7e8f9]",
	    "badsec_init+0xd3/0x1000 [badsec 0a1b2c3d4e5f60718293a4b5c6d7e8f9]",
	    "0xffffffffc0b10000", "badsec(OE+) ext4 virtio_net");
	_cleanup_free_ char *other_fn = oops_text(
	    "    7.956571", "badsec_scan+0xb/0x20 [badsec]", "badsec_init+0xc6/0x1000 [badsec]",
	    "0xffffffffc0a72000", "badsec(OE+) ext4 virtio_net");
	_cleanup_free_ char *other_mod = oops_text(
	    "    7.956571", "badsec_crash+0xb/0x20 [badsec2]", "badsec_init+0xc6/0x1000 [badsec2]",
	    "0xffffffffc0a72000", "badsec2(OE+) ext4 virtio_net");
	_cleanup_free_ char *what = NULL;
	struct sig_components c;
	const struct component_set *set = sig_components(&c, false);
	uint32_t sa, sb;

	(void)state;
	sa = signature_of(a, set, &what);
	sb = signature_of(b, set, NULL);
	assert_int_not_equal(sa, 0);
	assert_int_equal(sa, sb);
	assert_string_equal(what, "badsec_crash (module badsec)");
	assert_int_not_equal(signature_of(other_fn, set, NULL), sa);
	assert_int_not_equal(signature_of(other_fn, set, NULL), 0);
	assert_int_not_equal(signature_of(other_mod, set, NULL), sa);
	assert_int_not_equal(signature_of(other_mod, set, NULL), 0);
}

/* The kernel's own code crashing (ext4, a NIC driver, core kernel) has no
 * signature, even with an out-of-tree module loaded or in an unreliable
 * ("? ") frame; so has a RIP the kernel could not resolve. */
static void test_signature_is_zero_for_in_tree_crashes(void **state)
{
	_cleanup_free_ char *ext4 =
	    oops_text("    7.956571", "ext4_map_blocks+0x1a/0x5e0 [ext4]",
	              "? badsec_hook+0x4a/0x1a0 [badsec]", "ext4_writepages+0x2f0/0xd80 [ext4]",
	              "badsec(OE) ext4 e1000e");
	_cleanup_free_ char *nic =
	    oops_text("    7.956571", "e1000_clean_rx_irq+0x1c2/0x3d0 [e1000e]",
	              "e1000e_poll+0xc6/0x2f0 [e1000e]", "net_rx_action+0x145/0x3e0",
	              "badsec(OE) ext4 e1000e");
	_cleanup_free_ char *core = oops_text("    7.956571", "kmem_cache_alloc+0x8e/0x2b0",
	                                      "? badsec_hook+0x4a/0x1a0 [badsec]",
	                                      "do_sys_openat2+0x9f/0x160", "badsec(OE) ext4");
	_cleanup_free_ char *bare =
	    oops_text("    7.956571", "0xffffffffc0a3c000", "badsec_init+0xc6/0x1000 [badsec]",
	              "do_sys_openat2+0x9f/0x160", "badsec(OE) ext4");
	struct sig_components c;
	const struct component_set *set = sig_components(&c, false);

	(void)state;
	assert_int_equal(signature_of(ext4, set, NULL), 0);
	assert_int_equal(signature_of(nic, set, NULL), 0);
	assert_int_equal(signature_of(core, set, NULL), 0);
	assert_int_equal(signature_of(bare, set, NULL), 0);
}

/* Only a configured component's module has a signature, with or without
 * a taint flag: a module that is merely out of tree (O, E or P: a GPU
 * driver, DKMS zfs) and no component owns has none, nor has any module
 * when the component set is unknown (NULL: drop-ins failed to load). A
 * protected module (a driver the machine needs) never has one, even
 * when a component names it. */
static void test_signature_component_module_and_protected_driver(void **state)
{
	_cleanup_free_ char *t = oops_text("    7.956571", "esec_scan+0x10/0x80 [examplesec]",
	                                   "esec_work+0x20/0x90 [examplesec]",
	                                   "process_one_work+0x1e5/0x3b0", "examplesec ext4");
	_cleanup_free_ char *oot =
	    oops_text("    7.956571", "oot_crash+0x10/0x80 [oot]", "oot_init+0x20/0x90 [oot]",
	              "do_one_initcall+0x56/0x220", "oot(O) ext4");
	_cleanup_free_ char *bs = oops_text("    7.956571", "badsec_crash+0xb/0x20 [badsec]",
	                                    "badsec_init+0xc6/0x1000 [badsec]",
	                                    "do_one_initcall+0x56/0x220", "badsec(OE) ext4");
	_cleanup_free_ char *zfs = oops_text("    7.956571", "zio_execute+0x10/0x80 [zfs]",
	                                     "taskq_thread+0x2cd/0x4f0 [spl]", "kthread+0xe6/0x110",
	                                     "zfs(POE) spl(OE) ext4");
	_cleanup_free_ char *what = NULL;
	struct sig_components c;
	const struct component_set *set = sig_components(&c, false);

	(void)state;
	assert_int_not_equal(signature_of(t, set, &what), 0);
	assert_string_equal(what, "esec_scan (module examplesec)");
	assert_int_equal(signature_of(oot, set, NULL), 0);
	assert_int_equal(signature_of(zfs, set, NULL), 0);
	assert_int_not_equal(signature_of(bs, set, NULL), 0);
	assert_int_equal(signature_of(bs, NULL, NULL), 0);
	assert_int_equal(signature_of(t, NULL, NULL), 0);
	assert_int_equal(signature_of(oot, NULL, NULL), 0);
	assert_int_equal(signature_of(zfs, sig_components(&c, true), NULL), 0);
}

/* The RIP in the kernel, called from third-party code (a reliable frame
 * in a component's module, or an eBPF program): the frame and the RIP's
 * function; called from a module only out of tree: none. The RIP in an
 * eBPF program: the program's name (its tag when it has none), with or
 * without the component set. */
static void test_signature_of_core_rip_called_from_third_party_and_bpf(void **state)
{
	_cleanup_free_ char *kfree =
	    oops_text("    7.956571", "kfree+0x5b/0x140", "badsec_exit+0x1e/0x40 [badsec]",
	              "__do_sys_delete_module+0x1a0/0x2b0", "badsec(OE) ext4");
	_cleanup_free_ char *kfree2 =
	    oops_text("    7.956571", "kfree+0x5b/0x140", "badsec_cleanup+0x1e/0x40 [badsec]",
	              "__do_sys_delete_module+0x1a0/0x2b0", "badsec(OE) ext4");
	_cleanup_free_ char *kfree_oot =
	    oops_text("    7.956571", "kfree+0x5b/0x140", "oot_exit+0x1e/0x40 [oot]",
	              "__do_sys_delete_module+0x1a0/0x2b0", "oot(O) ext4");
	_cleanup_free_ char *bpf =
	    oops_text("    7.956571", "bpf_prog_3c9b5b0ab6cc8b6e_fs_read_enter+0x2fa/0x49c",
	              "bpf_trampoline_6442520384_0+0x47/0x1000", "vfs_read+0x139/0x1a0", "ext4");
	_cleanup_free_ char *bpf_other_tag =
	    oops_text("    7.956571", "bpf_prog_00112233aabbccdd_fs_read_enter+0x10/0x49c",
	              "bpf_trampoline_6442520384_0+0x47/0x1000", "vfs_read+0x139/0x1a0", "ext4");
	_cleanup_free_ char *bpf_noname =
	    oops_text("    7.956571", "bpf_prog_3c9b5b0ab6cc8b6e+0x2fa/0x49c",
	              "bpf_trampoline_6442520384_0+0x47/0x1000", "vfs_read+0x139/0x1a0", "ext4");
	_cleanup_free_ char *w1 = NULL, *w2 = NULL, *w3 = NULL;
	struct sig_components c;
	const struct component_set *set = sig_components(&c, false);
	uint32_t s1, s2;

	(void)state;
	s1 = signature_of(kfree, set, &w1);
	assert_string_equal(w1, "kfree called from badsec_exit (module badsec)");
	assert_int_not_equal(signature_of(kfree2, set, NULL), s1);
	assert_int_not_equal(signature_of(kfree2, set, NULL), 0);
	assert_int_equal(signature_of(kfree, NULL, NULL), 0);
	assert_int_equal(signature_of(kfree_oot, set, NULL), 0);
	s2 = signature_of(bpf, NULL, &w2);
	assert_string_equal(w2, "eBPF program fs_read_enter");
	assert_int_equal(signature_of(bpf, set, NULL), s2);
	assert_int_equal(signature_of(bpf_other_tag, NULL, NULL), s2);
	assert_int_not_equal(s1, s2);
	assert_int_not_equal(signature_of(bpf_noname, NULL, &w3), 0);
	assert_string_equal(w3, "eBPF program bpf_prog_3c9b5b0ab6cc8b6e");
}

/* ------------------------------------------- suspects: Comm is not evidence */

/* A component that owns the binary a task runs from. */
static void comm_component(struct component *c, const char *id, const char *binary)
{
	*c = (struct component){.id = strdup(id), .rollback_content = true};
	assert_non_null(c->id);
	assert_int_equal(strv_extend(&c->files, binary), 0);
}

/* Level 1 picks from the fixture saved as the only crash record of a
 * folder, with the Falcon and Tanium components configured. */
static void pick_from_fixture(const char *fixture, struct suspects *s)
{
	_cleanup_free_ char *dir = make_tmp(), *text = NULL, *path = NULL;
	struct component items[2];
	struct component_set set = {.items = items, .n = 2};
	size_t size;

	comm_component(&items[0], "crowdstrike-falcon", "/opt/CrowdStrike/falcon-sensor-bpf");
	comm_component(&items[1], "tanium", "/opt/Tanium/TaniumClient/TaniumClient");
	text = slurp_fixture(fixture, &size);
	path = path_join(dir, "crash.txt");
	assert_non_null(path);
	assert_int_equal(write_file_atomic(path, text, size, 0600), 0);
	assert_int_equal(suspects_pick(1, dir, &set, s), 0);
	component_done(&items[0]);
	component_done(&items[1]);
	rm_rf(dir);
}

/* The May 2024 Falcon-on-RHEL panic: the task is falcon-sensor-b, and the
 * trace runs through the sensor's eBPF program (bpf_prog_*), which no
 * user can put there: attributed to Falcon at level 1. */
static void test_comm_with_bpf_program_frame_names_the_component(void **state)
{
	struct suspects s = {0};

	(void)state;
	pick_from_fixture("5.14-rhel9-falcon-bpf-core-rip.txt", &s);
	assert_int_equal(strv_length(s.components), 1);
	assert_string_equal(s.components[0], "crowdstrike-falcon");
	assert_false(s.need_inventory);
	assert_non_null(strstr(s.reason, "eBPF program"));
	suspects_done(&s);
}

/* The same crash with Comm: TaniumClient and no eBPF frame: any user can
 * name a task TaniumClient (prctl(PR_SET_NAME)); nothing is attributed,
 * level 1 is left to the inventory diff. */
static void test_comm_alone_names_no_component(void **state)
{
	struct suspects s = {0};

	(void)state;
	pick_from_fixture("5.14-rhel9-core-rip-comm-taniumclient.txt", &s);
	assert_int_equal(strv_length(s.components), 0);
	assert_true(s.need_inventory);
	assert_non_null(s.evidence); /* the crash is still reported */
	suspects_done(&s);
}

static void test_comm_matches_binary_compares_first_15_bytes(void **state)
{
	(void)state;
	assert_true(pstore_comm_matches_binary("sshd", "sshd"));
	assert_false(pstore_comm_matches_binary("sshd", "sshd2"));
	assert_false(pstore_comm_matches_binary("sshd2", "sshd"));
	assert_true(pstore_comm_matches_binary("esec-scan", "/opt/examplesec/bin/esec-scan"));
	assert_true(pstore_comm_matches_binary("123456789012345", "123456789012345"));
	assert_true(pstore_comm_matches_binary("123456789012345", "1234567890123456789"));
	assert_false(pstore_comm_matches_binary("12345678901234", "1234567890123456789"));
	assert_false(pstore_comm_matches_binary("1234567890123456", "1234567890123456"));
	assert_false(pstore_comm_matches_binary("", "x"));
	assert_false(pstore_comm_matches_binary("x", ""));
	assert_false(pstore_comm_matches_binary("x", "/opt/bin/"));
	assert_false(pstore_comm_matches_binary(NULL, "x"));
	assert_false(pstore_comm_matches_binary("x", NULL));
}

static void test_old_format_rank_puts_rip_then_reliable_then_unreliable(void **state)
{
	_cleanup_free_ char *t = slurp_fixture("4.4-examplesec-net-softirq-oops.txt", NULL);
	struct pstore_evidence e = {};
	char **l = NULL;

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.rip_line,
	                    "IP: [<ffffffffc04a21f3>] esn_classify+0x43/0x120 [examplesec_net]");
	assert_string_equal(e.rip_function, "esn_classify+0x43/0x120");
	assert_string_equal(e.frames[0].function, "esn_hook_in+0x95/0x140");
	assert_true(e.frames[0].reliable);
	assert_string_equal(e.frames[2].module, "nf_conntrack_ipv4");
	assert_false(e.frames[2].reliable);
	assert_string_equal(e.trace_lines[0],
	                    "[<ffffffffc04a23b5>] esn_hook_in+0x95/0x140 [examplesec_net]");
	assert_string_equal(e.comm, "swapper/0");
	assert_int_equal(pstore_rank_modules(&e, &l), 4);
	assert_string_equal(l[0], "examplesec_net");
	assert_string_equal(l[1], "e1000e");
	assert_string_equal(l[2], "nf_conntrack_ipv4");
	assert_string_equal(l[3], "examplesec");
	assert_null(l[4]);
	pstore_strv_free(l);
	pstore_evidence_done(&e);
}

static void test_rhel7_comm_stops_before_kdump_and_module_list_continues(void **state)
{
	_cleanup_free_ char *t = slurp_fixture("3.10-rhel7-falco-kmod-old-rip-format.txt", NULL);
	struct pstore_evidence e = {};
	bool saw_ppdev = false;

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.comm, "java");
	assert_string_equal(e.taint, "OE");
	assert_string_equal(e.rip_module, "falco");
	/* the list wrapped onto a second line */
	for (size_t i = 0; i < e.n_modules_linked; i++)
		if (streq(e.modules_linked[i], "ppdev"))
			saw_ppdev = true;
	assert_true(saw_ppdev);
	assert_string_equal(e.modules_linked[e.n_modules_linked - 1], "dm_mod");
	assert_int_equal(e.n_frames, 7);
	pstore_evidence_done(&e);
}

static void test_hung_task_names_blocked_task_not_khungtaskd(void **state)
{
	_cleanup_free_ char *t = slurp_fixture("6.1-hung-task-panic.txt", NULL);
	struct pstore_evidence e = {};

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.comm, "esec-update");
	assert_null(e.rip_line); /* only user-mode RIP: 0033 in the trace */
	assert_string_equal(e.frames[4].module, "examplesec");
	assert_string_equal(e.panic_reason, "hung_task: blocked tasks");
	pstore_evidence_done(&e);
}

static void test_modules_linked_in_alone_is_no_evidence(void **state)
{
	const char *t = "[  5.1] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
	                "[  5.1] CPU: 0 PID: 1 Comm: systemd Tainted: P           OE     6.1.0 #1\n"
	                "[  5.1] RIP: 0010:kfree+0x4a/0x120\n"
	                "[  5.1] Modules linked in: vendorsec(POE) other(OE) ext4\n";
	struct pstore_evidence e = {};
	char **l = NULL;

	(void)state;
	parse_text(t, &e);
	assert_int_equal(e.n_modules_linked, 3);
	assert_null(e.loading_module);
	assert_string_equal(e.taint, "POE");
	assert_int_equal(pstore_rank_modules(&e, &l), 0);
	assert_non_null(l);
	assert_null(l[0]);
	pstore_strv_free(l);
	pstore_evidence_done(&e);
}

static void test_rank_normalises_dashes_dedups_and_drops_pseudo_modules(void **state)
{
	const char *t =
	    "Oops: 0000 [#1] PREEMPT SMP\n"
	    "CPU: 0 PID: 9 Comm: my agent Not tainted 6.1.0 #1\n"
	    "RIP: 0010:helper+0x1/0x2 [my-mod 0123456789abcdef0123456789abcdef01234567]\n"
	    "Call Trace:\n"
	    " <TASK>\n"
	    " ? stale+0x1/0x2 [old-mod]\n"
	    " bpf_prog_abc_x+0x1/0x2 [bpf]\n"
	    " tramp+0x1/0x2 [__builtin__ftrace]\n"
	    " caller+0x1/0x2 [my_mod]\n"
	    " caller2+0x1/0x2 [second]\n"
	    " </TASK>\n"
	    "Modules linked in: loading(OE+) second my_mod\n";
	struct pstore_evidence e = {};
	_cleanup_free_ char *got = NULL;

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.comm, "my agent"); /* task names may hold spaces */
	assert_string_equal(e.rip_module, "my-mod");
	got = rank_joined(&e);
	assert_string_equal(got, "my_mod,second,old_mod,loading");
	pstore_evidence_done(&e);
}

/* Level 3's module list: the per-module taint flags of "Modules linked
 * in" (kernel module_flags(): P proprietary, O out of tree, E unsigned;
 * T, C, F, + and - alone are not third-party), on the wrapped rest of a
 * long list too. */
static void test_modules_linked_in_flags_name_third_party_modules(void **state)
{
	const char *t =
	    "<1>[ 3.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	    "<4>[ 3.0] Modules linked in: nvidia_drm(POE) overlay(T) r8188eu(C) forced(F) "
	    "unsigned_only(E) ext4 gone(-) oot_loading(O+)\n"
	    "<4>[ 3.0]  falcon_lsm_serviceable(PE) crc16 mbcache\n"
	    "<4>[ 3.0] CPU: 0 PID: 1 Comm: modprobe Tainted: P           OE      6.1.0 #1\n"
	    "<4>[ 3.0] RIP: 0010:x+0x1/0x2\n";
	struct pstore_evidence e = {};
	_cleanup_free_ char *got = NULL;

	(void)state;
	parse_text(t, &e);
	got = strv_join(e.modules_third_party, ",");
	assert_string_equal(got, "nvidia_drm,unsigned_only,oot_loading,falcon_lsm_serviceable");
	assert_int_equal(e.n_modules_third_party, 4);
	assert_int_equal(e.n_modules_linked, 11);
	pstore_evidence_done(&e);
}

static void test_warning_before_oops_does_not_lend_its_rip_or_trace(void **state)
{
	const char *t =
	    "<4>[ 1.0] WARNING: CPU: 0 PID: 1 at drivers/gpu/x.c:12 x_probe+0x1/0x2 [gpu]\n"
	    "<4>[ 1.0] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0 #1\n"
	    "<4>[ 1.0] RIP: 0010:x_probe+0x1/0x2 [gpu]\n"
	    "<4>[ 1.0] Call Trace:\n"
	    "<4>[ 1.0]  <TASK>\n"
	    "<4>[ 1.0]  x_init+0x1/0x2 [gpu]\n"
	    "<4>[ 1.0]  </TASK>\n"
	    "<1>[ 9.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	    "<4>[ 9.0] CPU: 1 PID: 300 Comm: modprobe Tainted: G        W  OE      6.1.0 #1\n"
	    "<4>[ 9.0] RIP: 0010:badsec_crash+0xb/0x20 [badsec]\n"
	    "<4>[ 9.0] Call Trace:\n"
	    "<4>[ 9.0]  <TASK>\n"
	    "<4>[ 9.0]  badsec_init+0xc6/0x1000 [badsec]\n"
	    "<4>[ 9.0]  </TASK>\n";
	struct pstore_evidence e = {};
	_cleanup_free_ char *got = NULL;

	(void)state;
	parse_text(t, &e);
	assert_string_equal(e.rip_module, "badsec");
	assert_string_equal(e.comm, "modprobe");
	assert_string_equal(e.taint, "WOE");
	got = rank_joined(&e);
	assert_string_equal(got, "badsec");
	pstore_evidence_done(&e);
}

static void test_parse_accepts_journal_crlf_nul_and_no_final_newline(void **state)
{
	static const char t[] = "Nov 23 10:00:01 host kernel: BUG: unable to handle page fault\r\n"
	                        "Nov 23 10:00:01 host kernel: RIP: 0010:foo+0x1/0x2 [vendor]\r\n"
	                        "Nov 23 10:00:01 host kernel: Call Trace:\r\n"
	                        "Nov 23 10:00:01 host kernel:  bar+0x1/0x2 [other]\0junk\n"
	                        "Nov 23 10:00:01 host kernel: CPU: 0 PID: 5 Comm: x Not tainted";
	struct pstore_evidence e = {};
	_cleanup_free_ char *got = NULL;

	(void)state;
	assert_int_equal(pstore_parse(t, sizeof(t) - 1, &e), 0);
	assert_string_equal(e.rip_line, "RIP: 0010:foo+0x1/0x2 [vendor]");
	got = rank_joined(&e);
	assert_string_equal(got, "vendor,other");
	assert_string_equal(e.comm, "x");
	assert_string_equal(e.taint, "");
	pstore_evidence_done(&e);
}

static void test_parse_without_crash_evidence_is_enomsg(void **state)
{
	const char *boot = "<6>[    0.000000] Linux version 6.1.0-27-amd64\n"
	                   "<6>[    1.2] Modules linked in: nothing here\n"
	                   "<6>[    1.3] IP: routing cache hash table of 1024 buckets\n"
	                   "<6>[    1.4] pc : not a symbol\n"
	                   "<6>[    2.0] systemd[1]: Started Journal Service.\n";
	struct pstore_evidence e = {.comm = NULL};

	(void)state;
	assert_int_equal(pstore_parse(boot, strlen(boot), &e), -ENOMSG);
	assert_int_equal(pstore_parse("", 0, &e), -ENOMSG);
	assert_int_equal(pstore_parse(NULL, 0, &e), -ENOMSG);
	assert_null(e.comm);
}

static void test_parse_survives_garbage(void **state)
{
	size_t n = 256 * 1024;
	_cleanup_free_ char *g = malloc(n);
	struct pstore_evidence e = {};
	unsigned seed = 12345;

	(void)state;
	assert_non_null(g);
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			g[i] = (char)(seed >> 16);
		}
		if (round == 1) /* long lines of crash-looking tokens */
			for (size_t i = 0; i + 16 < n; i += 16)
				memcpy(g + i, i % 64 ? "[<ffffffff> ? x+" : "Call Trace: RIP ", 16);
		if (round == 2)
			memset(g, '[', n);
		if (round == 3)
			for (size_t i = 0; i + 20 < n; i += 20)
				memcpy(g + i, "Modules linked in: a", 20);
		if (pstore_parse(g, n, &e) == 0)
			pstore_evidence_done(&e);
	}
}

/* ---------------------------------------------------------- collecting */

static bool is_oops_part(const char *name)
{
	return strncmp(name, "dmesg-efi-", 10) == 0 && name[strlen(name) - 1] == '1';
}

static bool is_panic_part(const char *name)
{
	return strncmp(name, "dmesg-efi-", 10) == 0 && name[strlen(name) - 1] == '2';
}

static void assert_badsec_records(const struct pstore_log *log)
{
	_cleanup_free_ char *oops = slurp_fixture("6.1-badsec-init-null-oops.txt", NULL);
	_cleanup_free_ char *panic = slurp_fixture("6.1-badsec-init-null-panic.txt", NULL);

	assert_int_equal(log->n_records, 2);
	/* oldest first: the oops, then the panic it led to */
	assert_string_equal(log->records[0].reason, "Oops");
	assert_int_equal(log->records[0].event, 1);
	assert_int_equal(log->records[0].time, 1732371234);
	assert_string_equal(log->records[0].name, "efi-1732371234-oops-1");
	assert_int_equal(log->records[0].n_parts, 5);
	assert_false(log->records[0].incomplete);
	assert_string_equal(log->records[0].text, fixture_body(oops));
	assert_int_equal(log->records[0].size, strlen(fixture_body(oops)));

	/* parts 4..7 were written a second later: still one record */
	assert_string_equal(log->records[1].reason, "Panic");
	assert_int_equal(log->records[1].event, 2);
	assert_string_equal(log->records[1].name, "efi-1732371234-panic-2");
	assert_int_equal(log->records[1].n_parts, 7);
	assert_string_equal(log->records[1].text, fixture_body(panic));
}

static void test_collect_reassembles_efi_parts_newest_part_last(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;

	(void)state;
	assert_int_equal(copy_dir(src, tmp, NULL), 12);
	assert_int_equal(pstore_collect(tmp, NULL, false, &log), 2);
	assert_badsec_records(log);
	assert_int_equal(log->n_skipped, 0);
	assert_false(log->capped);
	assert_null(log->records[0].saved_path);
	assert_int_equal(count_entries(tmp), 12); /* nothing erased */
	rm_rf(tmp);
}

static void test_collect_saves_text_and_erases_sources_when_asked(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_free_ char *ps = NULL, *save = NULL, *saved = NULL, *want = NULL;
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	struct stat st;

	(void)state;
	ps = path_join(tmp, "pstore");
	save = path_join(tmp, "run/lifeline/pstore"); /* created */
	copy_dir(src, ps, NULL);
	assert_int_equal(pstore_collect(ps, save, true, &log), 2);
	assert_badsec_records(log);
	assert_int_equal(count_entries(ps), 0);
	assert_int_equal(log->records[0].n_erased, 5);
	assert_int_equal(log->records[1].n_erased, 7);
	assert_int_equal(log->records[0].save_error, 0);
	assert_int_equal(log->records[0].erase_error, 0);

	assert_int_equal(count_entries(save), 2);
	assert_non_null(log->records[0].saved_path);
	assert_true(
	    strstr(log->records[0].saved_path, "/run/lifeline/pstore/efi-1732371234-oops-1.txt"));
	saved = slurp(log->records[0].saved_path, NULL);
	assert_true(asprintf(&want, "Oops#1\n%s", log->records[0].text) > 0);
	assert_string_equal(saved, want);
	assert_int_equal(stat(log->records[0].saved_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(save, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	rm_rf(tmp);
}

static void test_collect_keeps_sources_without_erase(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_free_ char *ps = NULL, *save = NULL;
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;

	(void)state;
	ps = path_join(tmp, "pstore");
	save = path_join(tmp, "save");
	copy_dir(src, ps, NULL);
	assert_int_equal(pstore_collect(ps, save, false, &log), 2);
	assert_int_equal(count_entries(ps), 12);
	assert_int_equal(count_entries(save), 2);
	assert_int_equal(log->records[0].n_erased, 0);
	rm_rf(tmp);
}

static void test_collect_keeps_sources_when_saving_fails(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_free_ char *ps = NULL, *file = NULL, *save = NULL;
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;

	(void)state;
	ps = path_join(tmp, "pstore");
	file = path_join(tmp, "not-a-dir");
	save = path_join(file, "pstore");
	copy_dir(src, ps, NULL);
	write_text(file, "x");
	assert_int_equal(pstore_collect(ps, save, true, &log), 2);
	assert_int_equal(log->records[0].save_error, -ENOTDIR);
	assert_null(log->records[0].saved_path);
	assert_int_equal(log->records[0].n_erased, 0);
	assert_int_equal(count_entries(ps), 12); /* the only copy stays in NVRAM */
	assert_badsec_records(log);              /* and the text is still returned */
	rm_rf(tmp);
}

static void test_collect_erase_without_save_dir_erases_after_reading(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;

	(void)state;
	copy_dir(src, tmp, NULL);
	assert_int_equal(pstore_collect(tmp, NULL, true, &log), 2);
	assert_badsec_records(log);
	assert_int_equal(count_entries(tmp), 0);
	rm_rf(tmp);
}

/* systemd-pstore moves parts into /var/lib/systemd/pstore/<id>/, one
 * directory per timestamp: a record can span two directories. */
static void test_collect_reads_systemd_pstore_layout(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_free_ char *a = NULL, *b = NULL, *dmesg = NULL;
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	_cleanup_(closedirp) DIR *d = opendir(src);
	struct dirent *de;

	(void)state;
	a = path_join(tmp, "1732371234");
	b = path_join(tmp, "1732371235");
	assert_int_equal(mkdir_p(a, 0755), 0);
	assert_int_equal(mkdir_p(b, 0755), 0);
	while ((de = readdir(d))) {
		_cleanup_free_ char *s = NULL, *t = NULL;

		if (de->d_name[0] == '.')
			continue;
		s = path_join(src, de->d_name);
		t = path_join(strstr(de->d_name, "1732371235") ? b : a, de->d_name);
		copy_file(s, t);
	}
	/* systemd also leaves its own concatenation there: not a part */
	dmesg = path_join(a, "dmesg.txt");
	write_text(dmesg, "dmesg-efi-173237123401001:\nOops#1 Part1\nnot a record\n");

	assert_int_equal(pstore_collect(tmp, NULL, false, &log), 2);
	assert_badsec_records(log);
	rm_rf(tmp);
}

static void test_collect_reads_back_saved_records(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_free_ char *save = NULL;
	_cleanup_(pstore_log_freep) struct pstore_log *first = NULL, *again = NULL;

	(void)state;
	save = path_join(tmp, "save");
	assert_int_equal(pstore_collect(src, save, false, &first), 2);
	/* the agent re-reads /run/lifeline/pstore; saving into the same
	 * directory with erase must not delete what it just wrote */
	assert_int_equal(pstore_collect(save, save, true, &again), 2);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(again->records[i].name, first->records[i].name);
		assert_string_equal(again->records[i].reason, first->records[i].reason);
		assert_int_equal(again->records[i].event, first->records[i].event);
		assert_int_equal(again->records[i].time, first->records[i].time);
		assert_string_equal(again->records[i].text, first->records[i].text);
		assert_int_equal(again->records[i].n_parts, 1);
	}
	assert_int_equal(count_entries(save), 2);
	rm_rf(tmp);
}

static void test_collect_marks_record_with_missing_part_incomplete(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_free_ char *gone = NULL;
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	const struct pstore_record *oops;

	(void)state;
	copy_dir(src, tmp, is_oops_part);
	gone = path_join(tmp, "dmesg-efi-173237123403001");
	assert_int_equal(unlink(gone), 0);
	assert_int_equal(pstore_collect(tmp, NULL, false, &log), 1);
	oops = find_record(log, "Oops", 1);
	assert_non_null(oops);
	assert_int_equal(oops->n_parts, 4);
	assert_true(oops->incomplete);
	/* the newest end, where the oops is, is still there and in order */
	assert_true(strstr(oops->text, "RIP: 0010:badsec_crash+0xb/0x20 [badsec]\n"));
	assert_true(strstr(oops->text, "---[ end trace 0000000000000000 ]---\n"));
	rm_rf(tmp);
}

static void test_collect_separates_same_header_from_different_boots(void **state)
{
	_cleanup_free_ char *tmp = make_tmp();
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	static const struct {
		const char *name, *text;
	} files[] = {
	    /* boot A at 1700000000 and boot B at 1700000100, both "Oops#1" */
	    {"dmesg-efi-170000000001001", "Oops#1 Part1\nA new\n"},
	    {"dmesg-efi-170000000002001", "Oops#1 Part2\nA old\n"},
	    {"dmesg-efi-170000010001001", "Oops#1 Part1\nB new\n"},
	    {"dmesg-efi-170000010002001", "Oops#1 Part2\nB old\n"},
	    /* ramoops: one part, time from the file's mtime */
	    {"dmesg-ramoops-0", "Panic#1 Part1\nR\n"},
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *p = path_join(tmp, files[i].name);

		write_text(p, files[i].text);
	}
	assert_int_equal(pstore_collect(tmp, NULL, false, &log), 3);
	assert_string_equal(log->records[0].text, "A old\nA new\n");
	assert_string_equal(log->records[0].name, "efi-1700000000-oops-1");
	assert_string_equal(log->records[1].text, "B old\nB new\n");
	assert_string_equal(log->records[1].name, "efi-1700000100-oops-1");
	assert_string_equal(log->records[2].text, "R\n");
	assert_true(strncmp(log->records[2].name, "ramoops-", 8) == 0);
	assert_true(strstr(log->records[2].name, "-panic-1"));
	rm_rf(tmp);
}

static void test_collect_skips_symlinks_junk_huge_empty_and_odd_names(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *src = data_path("efi-6.1-badsec");
	_cleanup_free_ char *ps = NULL, *outside = NULL, *target = NULL;
	char p[PATH_MAX];
	_cleanup_free_ char *huge = NULL;
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	char junk[1000];
	unsigned seed = 7;
	int fd;

	(void)state;
	ps = path_join(tmp, "pstore");
	outside = path_join(tmp, "outside");
	copy_dir(src, ps, is_oops_part);
	copy_dir(src, outside, is_panic_part);

	/* a symlink to a real part elsewhere: never followed, never removed */
	target = path_join(outside, "dmesg-efi-173237123401002");
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-efi-173237123401002");
	assert_int_equal(symlink(target, p), 0);
	/* a directory symlink (systemd layout is searched one level down) */
	snprintf(p, sizeof(p), "%s/%s", ps, "1732371234");
	assert_int_equal(symlink(outside, p), 0);
	/* binary junk, like a record the kernel could not decompress */
	for (size_t i = 0; i < sizeof(junk); i++) {
		seed = seed * 1103515245u + 12345u;
		junk[i] = (char)(seed >> 16);
	}
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-efi-173237200001001");
	assert_int_equal(write_file_atomic(p, junk, sizeof(junk), 0644), 0);
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-efi-173237200001002.enc.z");
	assert_int_equal(write_file_atomic(p, junk, sizeof(junk), 0644), 0);
	/* too large */
	huge = malloc(PSTORE_FILE_SIZE_MAX + 2);
	memset(huge, 'a', PSTORE_FILE_SIZE_MAX + 1);
	huge[0] = '\n';
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-efi-173237300001001");
	assert_int_equal(write_file_atomic(p, huge, PSTORE_FILE_SIZE_MAX + 1, 0644), 0);
	/* empty, odd names, a fifo, a directory of the wrong name shape */
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-efi-173237400001001");
	assert_int_equal(write_file_atomic(p, "", 0, 0644), 0);
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-efi-1 2");
	write_text(p, "Oops#9 Part1\nodd\n");
	snprintf(p, sizeof(p), "%s/%s", ps, ".dmesg-efi-hidden");
	write_text(p, "Oops#9 Part1\nhidden\n");
	snprintf(p, sizeof(p), "%s/%s", ps, "console-ramoops-0");
	write_text(p, "console log, not a dump\n");
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-fifo-1");
	assert_int_equal(mkfifo(p, 0600), 0);
	snprintf(p, sizeof(p), "%s/%s", ps, "dmesg-efi-notanumber");
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd); /* empty as well */

	assert_int_equal(pstore_collect(ps, NULL, true, &log), 1);
	assert_string_equal(log->records[0].reason, "Oops");
	assert_int_equal(log->records[0].n_parts, 5);
	assert_int_equal(log->records[0].n_erased, 5);
	assert_true(log->n_skipped >= 8);
	/* what was not understood is left alone */
	assert_true(exists(ps, "dmesg-efi-173237123401002"));
	assert_true(exists(outside, "dmesg-efi-173237123401002"));
	assert_int_equal(count_entries(outside), 7);
	assert_true(exists(ps, "dmesg-efi-173237200001001"));
	assert_true(exists(ps, "dmesg-efi-173237300001001"));
	assert_true(exists(ps, "dmesg-fifo-1"));
	rm_rf(tmp);
}

static void test_collect_reads_at_most_256_files_newest_first(void **state)
{
	_cleanup_free_ char *tmp = make_tmp();
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;

	(void)state;
	for (unsigned i = 0; i < 300; i++) {
		_cleanup_free_ char *p = NULL, *text = NULL;

		/* 300 one-part records, one a minute */
		assert_true(asprintf(&p, "%s/dmesg-efi-%llu", tmp,
		                     ((1700000000ull + i * 60) * 100 + 1) * 1000 + 1) > 0);
		assert_true(asprintf(&text, "Panic#1 Part1\nrecord %u\n", i) > 0);
		write_text(p, text);
	}
	assert_int_equal(pstore_collect(tmp, NULL, false, &log), PSTORE_FILES_MAX);
	assert_true(log->capped);
	assert_int_equal(log->n_skipped, 300 - PSTORE_FILES_MAX);
	/* the oldest were dropped */
	assert_string_equal(log->records[0].text, "record 44\n");
	assert_string_equal(log->records[PSTORE_FILES_MAX - 1].text, "record 299\n");
	rm_rf(tmp);
}

static void test_collect_empty_dir_gives_zero_records(void **state)
{
	_cleanup_free_ char *tmp = make_tmp();
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;

	(void)state;
	assert_int_equal(pstore_collect(tmp, NULL, true, &log), 0);
	assert_non_null(log);
	assert_int_equal(log->n_records, 0);
	assert_int_equal(log->n_skipped, 0);
	rm_rf(tmp);
}

static void test_collect_missing_dir_is_enoent_and_leaves_ret_alone(void **state)
{
	_cleanup_free_ char *tmp = make_tmp(), *missing = NULL, *file = NULL;
	struct pstore_log *log = (struct pstore_log *)0x1;

	(void)state;
	missing = path_join(tmp, "no-such-dir");
	assert_int_equal(pstore_collect(missing, NULL, false, &log), -ENOENT);
	assert_ptr_equal(log, (struct pstore_log *)0x1);
	file = path_join(tmp, "file");
	write_text(file, "x");
	assert_int_equal(pstore_collect(file, NULL, false, &log), -ENOTDIR);
	assert_ptr_equal(log, (struct pstore_log *)0x1);
	rm_rf(tmp);
}

/* A degrade step is used only when the crash is in the product's kernel
 * half: a module of it at the RIP or in a reliable frame. Its eBPF
 * program, its task name, an unreliable "? " frame, the modules list or a
 * user-mode RIP name no kernel half. */
static void test_evidence_names_the_kernel_half_only_by_rip_or_reliable_frame(void **state)
{
	struct component c = {.id = (char *)"x"};
	char *mods[] = {(char *)"x_core", (char *)"x_lsm_*", NULL};
	char *rip[] = {(char *)"BUG: kernel NULL pointer dereference",
	               (char *)"RIP: 0010:x_hook+0x5/0x10 [x_core]", NULL};
	char *frame[] = {(char *)"RIP: 0010:__list_del_entry_valid+0x9/0x70",
	                 (char *)"x_lsm_pinned_17+0x9d/0x1000 [x_lsm_pinned_17]", NULL};
	char *dash[] = {(char *)"RIP: 0010:x_hook+0x5/0x10 [x-core]", NULL};
	char *old_rip[] = {(char *)"RIP: 0010:[<ffffffffa0123456>]  [<ffffffffa0123456>] "
	                           "x_hook+0x1/0x2 [x_core]",
	                   NULL};
	char *none[] = {(char *)"RIP: 0010:bpf_prog_6deef7357e7b4530_x_probe+0x3c/0x94",
	                (char *)"CPU: 0 PID: 312 Comm: xd Tainted: G OE 6.1.0-27-amd64",
	                (char *)"Modules linked in: x_core(OE) efi_pstore",
	                (char *)" ? x_hook+0x5/0x10 [x_core]",
	                (char *)"RIP: 0033:0x7f1c2a3b4c5d",
	                (char *)"other_fn+0x1/0x2 [other]",
	                NULL};

	(void)state;
	c.modules = mods;
	assert_true(suspects_evidence_names_kernel_half(&c, rip));
	assert_true(suspects_evidence_names_kernel_half(&c, frame));
	assert_true(suspects_evidence_names_kernel_half(&c, dash));
	assert_true(suspects_evidence_names_kernel_half(&c, old_rip));
	assert_false(suspects_evidence_names_kernel_half(&c, none));
	assert_false(suspects_evidence_names_kernel_half(&c, NULL));
}

static void test_free_functions_accept_null(void **state)
{
	(void)state;
	assert_null(pstore_log_free(NULL));
	assert_null(pstore_strv_free(NULL));
	pstore_evidence_done(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixtures_match_expectations),
	    cmocka_unit_test(test_every_fixture_has_an_expectation),
	    cmocka_unit_test(test_badsec_oops_names_module_in_rip_trace_and_loading_hint),
	    cmocka_unit_test(test_badsec_panic_record_keeps_panic_line),
	    cmocka_unit_test(test_falcon_oops_has_core_rip_and_comm_of_truncated_bpf_sensor),
	    cmocka_unit_test(test_comm_matches_binary_compares_first_15_bytes),
	    cmocka_unit_test(test_comm_with_bpf_program_frame_names_the_component),
	    cmocka_unit_test(test_signature_ignores_offsets_and_tells_sites_apart),
	    cmocka_unit_test(test_signature_is_zero_for_in_tree_crashes),
	    cmocka_unit_test(test_signature_component_module_and_protected_driver),
	    cmocka_unit_test(test_signature_of_core_rip_called_from_third_party_and_bpf),
	    cmocka_unit_test(test_comm_alone_names_no_component),
	    cmocka_unit_test(test_old_format_rank_puts_rip_then_reliable_then_unreliable),
	    cmocka_unit_test(test_rhel7_comm_stops_before_kdump_and_module_list_continues),
	    cmocka_unit_test(test_hung_task_names_blocked_task_not_khungtaskd),
	    cmocka_unit_test(test_modules_linked_in_alone_is_no_evidence),
	    cmocka_unit_test(test_modules_linked_in_flags_name_third_party_modules),
	    cmocka_unit_test(test_rank_normalises_dashes_dedups_and_drops_pseudo_modules),
	    cmocka_unit_test(test_warning_before_oops_does_not_lend_its_rip_or_trace),
	    cmocka_unit_test(test_parse_accepts_journal_crlf_nul_and_no_final_newline),
	    cmocka_unit_test(test_parse_without_crash_evidence_is_enomsg),
	    cmocka_unit_test(test_parse_survives_garbage),
	    cmocka_unit_test(test_collect_reassembles_efi_parts_newest_part_last),
	    cmocka_unit_test(test_collect_saves_text_and_erases_sources_when_asked),
	    cmocka_unit_test(test_collect_keeps_sources_without_erase),
	    cmocka_unit_test(test_collect_keeps_sources_when_saving_fails),
	    cmocka_unit_test(test_collect_erase_without_save_dir_erases_after_reading),
	    cmocka_unit_test(test_collect_reads_systemd_pstore_layout),
	    cmocka_unit_test(test_collect_reads_back_saved_records),
	    cmocka_unit_test(test_collect_marks_record_with_missing_part_incomplete),
	    cmocka_unit_test(test_collect_separates_same_header_from_different_boots),
	    cmocka_unit_test(test_collect_skips_symlinks_junk_huge_empty_and_odd_names),
	    cmocka_unit_test(test_collect_reads_at_most_256_files_newest_first),
	    cmocka_unit_test(test_collect_empty_dir_gives_zero_records),
	    cmocka_unit_test(test_collect_missing_dir_is_enoent_and_leaves_ret_alone),
	    cmocka_unit_test(test_free_functions_accept_null),
	    cmocka_unit_test(test_evidence_names_the_kernel_half_only_by_rip_or_reliable_frame),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
