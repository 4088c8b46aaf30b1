/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Degrade steps (agent/quarantine/degrade.h, the degrade keys of
 * components.d): the drop-in keys and their refusals, the YAML and
 * key = value edit, the manifest, apply and undo byte for byte with
 * mode, owner and mtime, and power cuts at every step of an apply and of
 * an undo (LIFELINE_FAULT=NAME:N in a child, then recovery here).
 *
 * This program defines openat() itself (as tests/test-power.c does: an
 * executable's definition comes first) to swap a name for a hard link
 * to another file right before the engine opens it, the race a writable
 * vendor folder allows; it forwards to the next definition (libc, or
 * ASan's interceptor).
 */
#undef _FORTIFY_SOURCE /* this file defines openat() itself */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conf/components.h"
#include "agent/quarantine/degrade-internal.h"
#include "agent/quarantine/degrade.h"
#include "agent/quarantine/quarantine.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "tests/util/testutil.h"

static char base[1024];
static char root[1200];
static unsigned root_seq;

static int make_base(void **state)
{
	(void)state;
	return tu_mkdtemp(base, sizeof(base), "test-degrade.");
}

static int remove_base(void **state)
{
	(void)state;
	return tu_rm_rf(base);
}

static int new_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/root%u", base, root_seq++);
	return mkdir_p(root, 0755);
}

static char *rooted(const char *rel)
{
	char *p = path_join(root, rel);

	assert_non_null(p);
	return p;
}

/* ---------------------------------------------------------------------- */
/* A name swapped under the engine */

/* Armed (prefix set): the nth open without O_CREAT of a name starting
 * with prefix (in any folder) is preceded by renaming a hard link to
 * victim over that name. Code that sets metadata through a name it
 * opens again then sets it on the victim. */
static struct {
	const char *prefix;
	unsigned nth, seen;
	char victim[1300];
	bool swapped;
} swap;

static void swap_arm(const char *prefix, unsigned nth, const char *victim_rel)
{
	_cleanup_free_ char *v = rooted(victim_rel);

	snprintf(swap.victim, sizeof(swap.victim), "%s", v);
	swap.nth = nth;
	swap.seen = 0;
	swap.swapped = false;
	swap.prefix = prefix;
}

static void swap_disarm(void)
{
	swap.prefix = NULL;
}

static void swap_before_open(int dfd, const char *path, int flags)
{
	if (!swap.prefix || (flags & O_CREAT) || strchr(path, '/') ||
	    strncmp(path, swap.prefix, strlen(swap.prefix)) != 0)
		return;
	if (++swap.seen != swap.nth)
		return;
	(void)unlinkat(dfd, "swap.link", 0);
	if (linkat(AT_FDCWD, swap.victim, dfd, "swap.link", 0) < 0 ||
	    renameat(dfd, "swap.link", dfd, path) < 0)
		return;
	swap.swapped = true;
}

#define REAL(name)                            \
	static __typeof__(name) *real_##name; \
	if (!real_##name)                     \
	real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int openat(int dfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(openat);

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	swap_before_open(dfd, path, flags);
	return real_openat(dfd, path, flags, mode);
}

int openat64(int dfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(openat64);

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	swap_before_open(dfd, path, flags);
	return real_openat64(dfd, path, flags, mode);
}

/* ---------------------------------------------------------------------- */
/* stderr capture, for the loader's messages */

struct capture {
	int saved;
	char path[1300];
};

static void capture_start(struct capture *c)
{
	int fd;

	fflush(stderr);
	snprintf(c->path, sizeof(c->path), "%s/stderr.XXXXXX", base);
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

/* Loads the drop-in text as x.conf under root; the log in *ret_log. */
static void load(const char *text, struct component_set *s, unsigned *problems, char **ret_log)
{
	struct capture cap;

	tu_put(root, "/etc/lifeline/components.d/x.conf", text, 0644);
	capture_start(&cap);
	assert_int_equal(components_load(root, s, problems), 0);
	*ret_log = capture_end(&cap);
}

/* ---------------------------------------------------------------------- */
/* The drop-in keys */

static void test_keys_are_parsed_and_the_kernel_half_joins_the_component(void **state)
{
	struct component_set s;
	const struct component *c;
	unsigned problems = 99;
	_cleanup_free_ char *log = NULL;

	(void)state;
	tu_put(root, "/etc/lifeline/components.d/x-user.yaml", "engine:\n  kind: modern_ebpf\n",
	       0644);
	load("[x]\n"
	     "modules = xk\n"
	     "units = x.service\n"
	     "kernel_units = x-kmod.service\n"
	     "kernel_content = /var/lib/x/kmod/*\n"
	     "content = /var/lib/x/rules/*\n"
	     "degrade_set = /etc/x/x.yaml engine.kind modern_ebpf\n"
	     "\t/etc/x/x.ini General.SafeMode yes\n"
	     "degrade_file = /etc/x/config.d/user.yaml x-user.yaml\n",
	     &s, &problems, &log);
	assert_int_equal(problems, 0);
	assert_string_equal(log, "");
	c = components_find(&s, "x");
	assert_non_null(c);
	assert_true(component_can_degrade(c));
	assert_int_equal(c->n_degrade, 3);
	assert_int_equal(c->degrade[0].kind, DEGRADE_SET);
	assert_int_equal(c->degrade[0].format, DEGRADE_FORMAT_YAML);
	assert_string_equal(c->degrade[0].path, "/etc/x/x.yaml");
	assert_string_equal(c->degrade[0].key, "engine.kind");
	assert_string_equal(c->degrade[0].value, "modern_ebpf");
	assert_int_equal(c->degrade[0].line, 7);
	assert_int_equal(c->degrade[1].format, DEGRADE_FORMAT_KEYVALUE);
	assert_string_equal(c->degrade[1].key, "General.SafeMode");
	assert_int_equal(c->degrade[2].kind, DEGRADE_INSTALL);
	assert_string_equal(c->degrade[2].path, "/etc/x/config.d/user.yaml");
	assert_int_equal(c->degrade[2].size, strlen("engine:\n  kind: modern_ebpf\n"));
	assert_memory_equal(c->degrade[2].data, "engine:\n  kind: modern_ebpf\n",
	                    c->degrade[2].size);
	/* the kernel half is the component's too */
	assert_true(strv_contains(c->kernel_units, "x-kmod.service"));
	assert_ptr_equal(components_find_unit(&s, "x-kmod.service"), c);
	assert_ptr_equal(components_find_unit(&s, "x.service"), c);
	assert_ptr_equal(components_find_path(&s, "/var/lib/x/kmod/x.ko"), c);
	assert_ptr_equal(components_find_path(&s, "/var/lib/x/rules/r.yaml"), c);
	components_done(&s);
}

static void test_a_component_without_degrade_keys_has_no_step(void **state)
{
	struct component_set s;
	unsigned problems = 99;
	_cleanup_free_ char *log = NULL;

	(void)state;
	load("[x]\nmodules = xk\n", &s, &problems, &log);
	assert_int_equal(problems, 0);
	assert_false(component_can_degrade(components_find(&s, "x")));
	assert_null(components_find(&s, "x")->kernel_units);
	components_done(&s);
}

static void test_kernel_half_is_a_component_of_its_own(void **state)
{
	struct component_set s;
	struct component k;
	unsigned problems = 99;
	_cleanup_free_ char *log = NULL;

	(void)state;
	load("[x]\nvendor = X\nmodules = xk xk_net\nunits = x.service\n"
	     "files = /opt/x/bin/*\ncontent = /opt/x/rules/*\n"
	     "kernel_units = x-kmod.service\nkernel_content = /opt/x/kmod/*\n"
	     "degrade_units = x-user.service\ndegrade_set = /etc/x.ini a v\n",
	     &s, &problems, &log);
	assert_int_equal(problems, 0);
	assert_int_equal(component_kernel_half(components_find(&s, "x"), &k), 0);
	assert_string_equal(k.id, "x");
	assert_string_equal(k.vendor, "X");
	assert_int_equal(strv_length(k.modules), 2);
	assert_int_equal(strv_length(k.units), 1);
	assert_string_equal(k.units[0], "x-kmod.service");
	assert_int_equal(strv_length(k.content), 1);
	assert_string_equal(k.content[0], "/opt/x/kmod/*");
	assert_null(k.files);
	assert_false(k.rollback_content);
	assert_false(component_can_degrade(&k));
	assert_null(k.degrade_units);
	component_done(&k);
	components_done(&s);
}

struct bad_case {
	const char *line;
	const char *message; /* in the log */
};

static void test_bad_degrade_values_leave_the_component_out_with_the_key_named(void **state)
{
	static const struct bad_case cases[] = {
	    {"degrade_set = etc/x/x.yaml engine.kind modern_ebpf", "degrade_set: \"etc/x/x.yaml\""},
	    {"degrade_set = /etc/x/../x.yaml a b", "degrade_set: \"/etc/x/../x.yaml\""},
	    {"degrade_set = /etc//x.yaml a b", "absolute, normalised"},
	    {"degrade_set = /etc/x/*.yaml a b", "absolute, normalised"},
	    {"degrade_set = /etc/x/x.yaml engine.kind", "three words"},
	    {"degrade_set = /etc/x/x.yaml engine..kind v", "a YAML key"},
	    {"degrade_set = /etc/x/x.ini a.b.c v", "SECTION.KEY"},
	    {"degrade_set = /etc/x/x.yaml engine.kind \"v\"", "a plain value"},
	    {"degrade_file = /etc/x/x.yaml", "two words"},
	    {"degrade_file = /etc/x/x.yaml ../src", "a plain file name"},
	    {"degrade_file = /etc/x/x.yaml other.conf", "a plain file name"},
	    {"degrade_file = /etc/x/x.yaml missing", "a readable regular file"},
	    {"degrade_file = /etc/x/a src\ndegrade_file = /etc/x/a src", "a path of its own"},
	    {"degrade_file = /etc/x/a src\ndegrade_set = /etc/x/a k v", "a path of its own"},
	};

	(void)state;
	tu_put(root, "/etc/lifeline/components.d/src", "x\n", 0644);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct component_set s;
		unsigned problems = 0;
		_cleanup_free_ char *log = NULL;
		char text[512];

		snprintf(text, sizeof(text), "[x]\nmodules = xk\n%s\n[y]\nmodules = yk\n",
		         cases[i].line);
		load(text, &s, &problems, &log);
		if (!strstr(log, cases[i].message) || !strstr(log, "x.conf:"))
			fail_msg("case %zu: \"%s\" not in log: %s", i, cases[i].message, log);
		assert_null(components_find(&s, "x"));
		assert_non_null(components_find(&s, "y"));
		assert_int_equal(problems, 1);
		components_done(&s);
	}
}

static void test_a_source_over_64k_is_refused(void **state)
{
	struct component_set s;
	unsigned problems = 0;
	_cleanup_free_ char *log = NULL, *big = malloc(DEGRADE_SOURCE_MAX + 2);

	(void)state;
	assert_non_null(big);
	memset(big, 'a', DEGRADE_SOURCE_MAX + 1);
	big[DEGRADE_SOURCE_MAX + 1] = 0;
	tu_put(root, "/etc/lifeline/components.d/big", big, 0644);
	load("[x]\nmodules = xk\ndegrade_file = /etc/x/x big\n", &s, &problems, &log);
	assert_non_null(strstr(log, "64 KiB"));
	assert_null(components_find(&s, "x"));
	components_done(&s);
}

static void test_protected_paths_are_refused_naming_dropin_key_and_file(void **state)
{
	static const char *const paths[] = {"/etc/passwd", "/etc/lifeline/lifeline.conf",
	                                    "/etc/ssh/sshd_config", "/boot/grub/grub.cfg"};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		struct component_set s;
		unsigned problems = 0;
		_cleanup_free_ char *log = NULL;
		char text[512], want[300];

		snprintf(text, sizeof(text), "[x]\nmodules = xk\ndegrade_set = %s Key v\n",
		         paths[i]);
		load(text, &s, &problems, &log);
		snprintf(want, sizeof(want), "x.conf:3: [x] degrade_set: \"%s\" is protected (",
		         paths[i]);
		if (!strstr(log, want))
			fail_msg("\"%s\" not in log: %s", want, log);
		assert_null(components_find(&s, "x"));
		assert_int_equal(s.n_refused, 1);
		assert_string_equal(s.refused[0].id, "x");
		assert_string_equal(s.refused[0].what, paths[i]);
		assert_int_equal(s.refused[0].line, 3);
		assert_non_null(strstr(s.refused[0].file, "x.conf"));
		components_done(&s);
	}
}

static void test_protected_kernel_units_and_content_are_refused(void **state)
{
	struct component_set s;
	unsigned problems = 0;
	_cleanup_free_ char *log = NULL, *log2 = NULL;

	(void)state;
	load("[x]\nmodules = xk\nkernel_units = sshd.service\n", &s, &problems, &log);
	assert_non_null(strstr(log, "kernel_units: \"sshd.service\" is protected"));
	assert_null(components_find(&s, "x"));
	components_done(&s);
	load("[x]\nmodules = xk\nkernel_content = /etc/lifeline/*\n", &s, &problems, &log2);
	assert_non_null(strstr(log2, "kernel_content: \"/etc/lifeline/*\" is protected"));
	assert_null(components_find(&s, "x"));
	components_done(&s);
}

static void test_symlinks_on_the_way_are_refused_at_load(void **state)
{
	_cleanup_free_ char *real = rooted("/srv/real"), *link = rooted("/etc/x"),
	                    *flink = rooted("/etc/y/y.yaml"), *slink = NULL;
	struct component_set s;
	unsigned problems = 0;
	_cleanup_free_ char *log = NULL, *log2 = NULL, *log3 = NULL;

	(void)state;
	tu_put(root, "/srv/real/x.yaml", "a: b\n", 0644);
	tu_put(root, "/etc/y/other.yaml", "a: b\n", 0644);
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(symlink("other.yaml", flink), 0);
	load("[x]\nmodules = xk\ndegrade_set = /etc/x/x.yaml a c\n", &s, &problems, &log);
	assert_non_null(strstr(log, "degrade_set: \"/etc/x/x.yaml\" is not a path without "
	                            "symlinks (a symlink or a non-folder is on the way to it)"));
	assert_null(components_find(&s, "x"));
	components_done(&s);
	load("[x]\nmodules = xk\ndegrade_set = /etc/y/y.yaml a c\n", &s, &problems, &log2);
	assert_non_null(strstr(log2, "is not a path without symlinks (it is a symlink)"));
	assert_null(components_find(&s, "x"));
	components_done(&s);
	/* the source may not be a symlink either */
	slink = rooted("/etc/lifeline/components.d/src");
	assert_int_equal(symlink(real, slink), 0);
	load("[x]\nmodules = xk\ndegrade_file = /etc/y/z.yaml src\n", &s, &problems, &log3);
	assert_non_null(strstr(log3, "\"src\" is not a readable regular file (not a symlink)"));
	assert_null(components_find(&s, "x"));
	components_done(&s);
}

static void test_degrade_units_join_the_units_and_need_a_step(void **state)
{
	struct component_set s;
	unsigned problems = 0;
	_cleanup_free_ char *log = NULL, *log2 = NULL;
	const struct component *c;

	(void)state;
	load("[x]\nmodules = xk\nkernel_units = x-kmod.service\ndegrade_units = x-user.service\n"
	     "degrade_set = /etc/x.ini a v\n",
	     &s, &problems, &log);
	assert_string_equal(log, "");
	c = components_find(&s, "x");
	assert_non_null(c);
	assert_true(strv_contains(c->degrade_units, "x-user.service"));
	assert_ptr_equal(components_find_unit(&s, "x-user.service"), c);
	components_done(&s);
	load("[x]\nmodules = xk\ndegrade_units = x-user.service\n", &s, &problems, &log2);
	assert_non_null(strstr(log2, "degrade_units without a degrade step"));
	assert_non_null(components_find(&s, "x"));
	components_done(&s);
}

/* ---------------------------------------------------------------------- */
/* The text edit */

static void expect_edit(enum degrade_format f, const char *in, const char *key, const char *value,
                        const char *want)
{
	_cleanup_free_ char *out = NULL;
	const char *why = NULL;
	size_t size = 0;
	int r;

	r = degrade_edit_text(f, in, strlen(in), key, value, &out, &size, &why);
	if (r < 0)
		fail_msg("%s: %s (%s)", key, strerror(-r), why);
	assert_int_equal(size, strlen(want));
	assert_string_equal(out, want);
}

static void expect_refusal(enum degrade_format f, const char *in, const char *key, int err,
                           const char *why_part)
{
	char *out = NULL;
	const char *why = NULL;
	size_t size = 0;
	int r;

	r = degrade_edit_text(f, in, strlen(in), key, "v", &out, &size, &why);
	if (r != err)
		fail_msg("%s in <<%s>>: got %d, want %d", key, in, r, err);
	assert_null(out);
	assert_non_null(why);
	if (!strstr(why, why_part))
		fail_msg("\"%s\" not in \"%s\"", why_part, why);
}

#define FALCO_YAML                                     \
	"# Falco configuration\n"                      \
	"rules_files:\n"                               \
	"  - /etc/falco/falco_rules.yaml\n"            \
	"\n"                                           \
	"engine:\n"                                    \
	"  # the driver\n"                             \
	"  kind: kmod   # kmod, ebpf or modern_ebpf\n" \
	"  kmod:\n"                                    \
	"    buf_size_preset: 4\n"                     \
	"    kind: not-this-one\n"                     \
	"  ebpf:\n"                                    \
	"    probe: ${HOME}/.falco/falco-bpf.o\n"      \
	"  modern_ebpf:\n"                             \
	"    cpus_for_each_buffer: 2\n"                \
	"\n"                                           \
	"kind: top-level\n"

static void test_yaml_edit_sets_exactly_the_nested_key(void **state)
{
	(void)state;
	expect_edit(DEGRADE_FORMAT_YAML, FALCO_YAML, "engine.kind", "modern_ebpf",
	            "# Falco configuration\n"
	            "rules_files:\n"
	            "  - /etc/falco/falco_rules.yaml\n"
	            "\n"
	            "engine:\n"
	            "  # the driver\n"
	            "  kind: modern_ebpf   # kmod, ebpf or modern_ebpf\n"
	            "  kmod:\n"
	            "    buf_size_preset: 4\n"
	            "    kind: not-this-one\n"
	            "  ebpf:\n"
	            "    probe: ${HOME}/.falco/falco-bpf.o\n"
	            "  modern_ebpf:\n"
	            "    cpus_for_each_buffer: 2\n"
	            "\n"
	            "kind: top-level\n");
	expect_edit(DEGRADE_FORMAT_YAML, FALCO_YAML, "engine.kmod.kind", "x",
	            "# Falco configuration\n"
	            "rules_files:\n"
	            "  - /etc/falco/falco_rules.yaml\n"
	            "\n"
	            "engine:\n"
	            "  # the driver\n"
	            "  kind: kmod   # kmod, ebpf or modern_ebpf\n"
	            "  kmod:\n"
	            "    buf_size_preset: 4\n"
	            "    kind: x\n"
	            "  ebpf:\n"
	            "    probe: ${HOME}/.falco/falco-bpf.o\n"
	            "  modern_ebpf:\n"
	            "    cpus_for_each_buffer: 2\n"
	            "\n"
	            "kind: top-level\n");
	expect_edit(DEGRADE_FORMAT_YAML, FALCO_YAML, "kind", "t",
	            "# Falco configuration\n"
	            "rules_files:\n"
	            "  - /etc/falco/falco_rules.yaml\n"
	            "\n"
	            "engine:\n"
	            "  # the driver\n"
	            "  kind: kmod   # kmod, ebpf or modern_ebpf\n"
	            "  kmod:\n"
	            "    buf_size_preset: 4\n"
	            "    kind: not-this-one\n"
	            "  ebpf:\n"
	            "    probe: ${HOME}/.falco/falco-bpf.o\n"
	            "  modern_ebpf:\n"
	            "    cpus_for_each_buffer: 2\n"
	            "\n"
	            "kind: t\n");
	/* CRLF kept, quoted value replaced, no newline at the end */
	expect_edit(DEGRADE_FORMAT_YAML, "---\r\nengine:\r\n  kind: \"kmod\"\r\n", "engine.kind",
	            "modern_ebpf", "---\r\nengine:\r\n  kind: modern_ebpf\r\n");
	expect_edit(DEGRADE_FORMAT_YAML, "engine:\n    kind: kmod", "engine.kind", "m",
	            "engine:\n    kind: m");
}

static void test_yaml_edit_refuses_what_it_cannot_be_sure_of(void **state)
{
	(void)state;
	expect_refusal(DEGRADE_FORMAT_YAML, FALCO_YAML, "engine.driver", -ENOENT, "not in");
	expect_refusal(DEGRADE_FORMAT_YAML, FALCO_YAML, "nothing.kind", -ENOENT, "not in");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: a\n  kind: b\n", "engine.kind",
	               -ENOTUNIQ, "more than once");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: a\nengine:\n  kind: b\n",
	               "engine.kind", -ENOTUNIQ, "more than once");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine: {kind: kmod}\n", "engine.kind", -EMEDIUMTYPE,
	               "not a block mapping");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: [a, b]\n", "engine.kind",
	               -EMEDIUMTYPE, "not a one-line");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: |\n    kmod\n", "engine.kind",
	               -EMEDIUMTYPE, "not a one-line");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind:\n    - kmod\n", "engine.kind",
	               -EMEDIUMTYPE, "no value on its line");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: kmod\n    more\n", "engine.kind",
	               -EMEDIUMTYPE, "goes on below");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n\tkind: kmod\n", "engine.kind", -EMEDIUMTYPE,
	               "tabs");
	expect_refusal(DEGRADE_FORMAT_YAML, "a: 1\n---\nengine:\n  kind: kmod\n", "engine.kind",
	               -EMEDIUMTYPE, "several YAML documents");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: \"km\\\"od\"\n", "engine.kind",
	               -EMEDIUMTYPE, "escapes");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: a: b\n", "engine.kind", -EMEDIUMTYPE,
	               "\": \"");
	expect_refusal(DEGRADE_FORMAT_YAML, "engine:\n  kind: &anchor kmod\n", "engine.kind",
	               -EMEDIUMTYPE, "not a one-line");
	{
		char text[] = "engine:\n  kind: kmod\n";
		char *out = NULL;
		const char *why = NULL;
		size_t size;

		text[3] = 0; /* a NUL byte */
		assert_int_equal(degrade_edit_text(DEGRADE_FORMAT_YAML, text, sizeof(text) - 1,
		                                   "engine.kind", "v", &out, &size, &why),
		                 -EMEDIUMTYPE);
	}
}

#define KESL_INI             \
	"Top=1\n"            \
	"[General]\n"        \
	"; safe mode\n"      \
	"SafeMode = no\n"    \
	"PanicTracehold=3\n" \
	"[Other]\n"          \
	"SafeMode=no\n"

static void test_keyvalue_edit_sets_the_key_in_its_section_only(void **state)
{
	(void)state;
	expect_edit(DEGRADE_FORMAT_KEYVALUE, KESL_INI, "General.SafeMode", "yes",
	            "Top=1\n[General]\n; safe mode\nSafeMode = yes\nPanicTracehold=3\n[Other]\n"
	            "SafeMode=no\n");
	expect_edit(DEGRADE_FORMAT_KEYVALUE, KESL_INI, "Other.SafeMode", "yes",
	            "Top=1\n[General]\n; safe mode\nSafeMode = no\nPanicTracehold=3\n[Other]\n"
	            "SafeMode=yes\n");
	expect_edit(DEGRADE_FORMAT_KEYVALUE, KESL_INI, "Top", "2",
	            "Top=2\n[General]\n; safe mode\nSafeMode = no\nPanicTracehold=3\n[Other]\n"
	            "SafeMode=no\n");
	expect_edit(DEGRADE_FORMAT_KEYVALUE, "[ General ]\r\nSafeMode=no  \r\n", "General.SafeMode",
	            "yes", "[ General ]\r\nSafeMode=yes  \r\n");
	expect_refusal(DEGRADE_FORMAT_KEYVALUE, KESL_INI, "SafeMode", -ENOENT, "not in");
	expect_refusal(DEGRADE_FORMAT_KEYVALUE, KESL_INI, "General.Missing", -ENOENT, "not in");
	expect_refusal(DEGRADE_FORMAT_KEYVALUE, "[General]\nSafeMode=no\n[General]\nSafeMode=no\n",
	               "General.SafeMode", -ENOTUNIQ, "more than once");
	expect_refusal(DEGRADE_FORMAT_KEYVALUE, "[General\nSafeMode=no\n", "General.SafeMode",
	               -EMEDIUMTYPE, "without ']'");
}

/* ---------------------------------------------------------------------- */
/* The manifest */

static void test_manifest_round_trips_and_refuses_damage(void **state)
{
	struct dmanifest m = {.id = strdup("falco"), .state = DM_APPLIED}, back = {0};
	struct dentry e1 = {.idx = 0,
	                    .path = strdup("/etc/falco/falco.yaml"),
	                    .existed = true,
	                    .mode = 04640,
	                    .uid = 12,
	                    .gid = 34,
	                    .mtime_sec = 1700000000,
	                    .mtime_nsec = 5};
	struct dentry e2 = {.idx = 1, .path = strdup("/etc/x/new.yaml"), .mode = 0644};
	_cleanup_free_ char *text = NULL, *again = NULL;
	size_t size, size2;

	(void)state;
	uint8_t was[SHA256_DIGEST_SIZE];

	memset(was, 0xab, sizeof(was));
	memcpy(e1.was, was, sizeof(was));
	memset(e1.becomes, 0xcd, sizeof(e1.becomes));
	memset(e2.becomes, 0x01, sizeof(e2.becomes));
	assert_int_equal(dmanifest_add(&m, &e1), 0);
	assert_int_equal(dmanifest_add(&m, &e2), 0);
	assert_int_equal(dmanifest_format(&m, &text, &size), 0);
	assert_int_equal(dmanifest_parse(text, size, &back), 0);
	assert_string_equal(back.id, "falco");
	assert_int_equal(back.state, DM_APPLIED);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.e[0].path, "/etc/falco/falco.yaml");
	assert_true(back.e[0].existed);
	assert_int_equal(back.e[0].mode, 04640);
	assert_int_equal(back.e[0].uid, 12);
	assert_int_equal(back.e[0].gid, 34);
	assert_int_equal(back.e[0].mtime_sec, 1700000000);
	assert_int_equal(back.e[0].mtime_nsec, 5);
	assert_memory_equal(back.e[0].was, was, sizeof(was));
	assert_false(back.e[1].existed);
	assert_int_equal(back.e[1].idx, 1);
	assert_int_equal(dmanifest_format(&back, &again, &size2), 0);
	assert_int_equal(size2, size);
	assert_memory_equal(again, text, size);
	dmanifest_done(&back);

	/* every flipped byte is caught */
	for (size_t i = 0; i < size; i++) {
		text[i] ^= 0x20;
		assert_true(dmanifest_parse(text, size, &back) < 0);
		text[i] ^= 0x20;
	}
	/* and every truncation */
	for (size_t i = 0; i < size; i++)
		assert_true(dmanifest_parse(text, i, &back) < 0);
	dmanifest_done(&m);
}

static void test_manifest_of_a_newer_version_is_refused(void **state)
{
	struct dmanifest m = {.id = strdup("x"), .state = DM_APPLYING}, back = {0};
	_cleanup_free_ char *text = NULL;
	char *p;
	size_t size;

	(void)state;
	assert_int_equal(dmanifest_format(&m, &text, &size), 0);
	/* version 2 with a valid checksum: rebuild the end line */
	p = strstr(text, " 1\n");
	assert_non_null(p);
	p[1] = '2';
	{
		uint8_t sha[SHA256_DIGEST_SIZE];
		char *end = strstr(text, "end sha256=");
		char hex[2 * SHA256_DIGEST_SIZE + 1];

		sha256_buffer(text, (size_t)(end - text), sha);
		for (size_t i = 0; i < sizeof(sha); i++)
			sprintf(hex + 2 * i, "%02x", sha[i]);
		memcpy(end + 11, hex, 64);
	}
	assert_int_equal(dmanifest_parse(text, size, &back), -EPROTONOSUPPORT);
	dmanifest_done(&m);
}

/* ---------------------------------------------------------------------- */
/* Apply and undo */

#define ORIG_YAML "engine:\n  kind: kmod\n  kmod:\n    buf_size_preset: 4\n"
#define USER_YAML "engine:\n  kind: modern_ebpf\n  kmod:\n    buf_size_preset: 4\n"
#define ORIG_INI  "[General]\nSafeMode=no\n"
#define USER_INI  "[General]\nSafeMode=yes\n"
#define NEW_FILE  "# installed by the degrade step\nmode: user\n"

struct meta {
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
};

static void put_file(const char *rel, const char *text, mode_t mode, uid_t uid, gid_t gid,
                     time_t mtime)
{
	_cleanup_free_ char *p = rooted(rel);
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = mtime, .tv_nsec = 123}};

	tu_put(root, rel, text, mode);
	assert_int_equal(chown(p, uid, gid), 0);
	assert_int_equal(chmod(p, mode), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static struct meta meta_of(const char *rel)
{
	_cleanup_free_ char *p = rooted(rel);
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	return (struct meta){st.st_mode & 07777, st.st_uid, st.st_gid, st.st_mtim};
}

/* Entries of root + rel besides "." and ".." (0 when it is missing). */
static int entries(const char *rel)
{
	_cleanup_free_ char *p = rooted(rel);
	int n = tu_count_files(p, "");

	return n >= 2 ? n - 2 : 0;
}

static void assert_file(const char *rel, const char *text)
{
	_cleanup_free_ char *got = tu_get(root, rel);

	if (!got)
		fail_msg("%s: missing", rel);
	if (!streq(got, text))
		fail_msg("%s: <<%s>>, want <<%s>>", rel, got, text);
}

/* The machine's files of the fixture, as they were before any degrade. */
static void setup_machine(void)
{
	put_file("/etc/falco/falco.yaml", ORIG_YAML, 0640, 1234, 5678, 1600000000);
	put_file("/etc/kesl/kesl.ini", ORIG_INI, 04600, 0, 42, 1600000100);
	tu_put(root, "/etc/falco/config.d/keep", "", 0644);
}

static void assert_machine_original(void)
{
	struct meta m;

	assert_file("/etc/falco/falco.yaml", ORIG_YAML);
	m = meta_of("/etc/falco/falco.yaml");
	assert_int_equal(m.mode, 0640);
	assert_int_equal(m.uid, 1234);
	assert_int_equal(m.gid, 5678);
	assert_int_equal(m.mtime.tv_sec, 1600000000);
	assert_int_equal(m.mtime.tv_nsec, 123);
	assert_file("/etc/kesl/kesl.ini", ORIG_INI);
	m = meta_of("/etc/kesl/kesl.ini");
	assert_int_equal(m.mode, 04600);
	assert_int_equal(m.uid, 0);
	assert_int_equal(m.gid, 42);
	assert_int_equal(m.mtime.tv_sec, 1600000100);
	assert_false(tu_exists(root, "/etc/falco/config.d/user.yaml"));
	assert_false(tu_exists(root, DEGRADE_DIR "/falco"));
	assert_int_equal(entries(DEGRADE_DIR), 0);
	/* no temp file left next to the machine's files */
	assert_int_equal(entries("/etc/falco"), 2);
	assert_int_equal(entries("/etc/falco/config.d"), 1);
	assert_int_equal(entries("/etc/kesl"), 1);
	assert_int_equal(degrade_exists(root, "falco"), 0);
}

static void assert_machine_degraded(void)
{
	struct meta m;

	assert_file("/etc/falco/falco.yaml", USER_YAML);
	m = meta_of("/etc/falco/falco.yaml");
	assert_int_equal(m.mode, 0640);
	assert_int_equal(m.uid, 1234);
	assert_int_equal(m.gid, 5678);
	assert_file("/etc/kesl/kesl.ini", USER_INI);
	m = meta_of("/etc/kesl/kesl.ini");
	assert_int_equal(m.mode, 04600);
	assert_int_equal(m.gid, 42);
	assert_file("/etc/falco/config.d/user.yaml", NEW_FILE);
	m = meta_of("/etc/falco/config.d/user.yaml");
	assert_int_equal(m.mode, 0644);
	assert_int_equal(m.uid, 0);
	assert_int_equal(entries("/etc/falco"), 2);
	assert_int_equal(entries("/etc/falco/config.d"), 2);
	assert_int_equal(entries("/etc/kesl"), 1);
	assert_int_equal(degrade_exists(root, "falco"), 1);
}

/* A component with three edits: a YAML key, an INI key, a new file. */
static struct component make_component(void)
{
	struct component c = {.id = strdup("falco"), .n_degrade = 3};

	c.degrade = calloc(3, sizeof(*c.degrade));
	assert_non_null(c.degrade);
	c.degrade[0] = (struct degrade_edit){.kind = DEGRADE_SET,
	                                     .format = DEGRADE_FORMAT_YAML,
	                                     .path = strdup("/etc/falco/falco.yaml"),
	                                     .key = strdup("engine.kind"),
	                                     .value = strdup("modern_ebpf")};
	c.degrade[1] = (struct degrade_edit){.kind = DEGRADE_SET,
	                                     .format = DEGRADE_FORMAT_KEYVALUE,
	                                     .path = strdup("/etc/kesl/kesl.ini"),
	                                     .key = strdup("General.SafeMode"),
	                                     .value = strdup("yes")};
	c.degrade[2] = (struct degrade_edit){.kind = DEGRADE_INSTALL,
	                                     .path = strdup("/etc/falco/config.d/user.yaml"),
	                                     .data = strdup(NEW_FILE),
	                                     .size = strlen(NEW_FILE)};
	return c;
}

static void test_apply_and_undo_are_exact_and_idempotent(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};
	_cleanup_strv_free_ char **ids = NULL;

	(void)state;
	setup_machine();
	assert_int_equal(degrade_apply(root, &c, &res), 0);
	assert_int_equal(res.changed, 3);
	degrade_result_done(&res);
	assert_machine_degraded();
	assert_int_equal(degrade_list(root, &ids), 0);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "falco");

	/* again: nothing changes */
	assert_int_equal(degrade_apply(root, &c, &res), 0);
	assert_int_equal(res.changed, 0);
	assert_non_null(strstr(res.lines[0], "already degraded"));
	degrade_result_done(&res);
	assert_machine_degraded();
	assert_int_equal(degrade_recover(root), 0);
	assert_machine_degraded();

	assert_int_equal(degrade_undo(root, "falco", &res), 0);
	assert_int_equal(res.restored, 3);
	assert_int_equal(res.kept, 0);
	degrade_result_done(&res);
	assert_machine_original();

	/* undo again, and of a component never degraded: nothing to do */
	assert_int_equal(degrade_undo(root, "falco", &res), 0);
	assert_int_equal(res.restored, 0);
	degrade_result_done(&res);
	assert_int_equal(degrade_undo(root, "other", NULL), 0);
	assert_machine_original();
	component_done(&c);
}

static void test_xattrs_are_kept_through_apply_and_undo(void **state)
{
	struct component c = make_component();
	_cleanup_free_ char *p = NULL;
	char buf[64];
	ssize_t n;

	(void)state;
	setup_machine();
	p = rooted("/etc/falco/falco.yaml");
	if (setxattr(p, "user.lifeline-test", "label", 5, 0) < 0) {
		component_done(&c);
		skip(); /* no user xattrs on this filesystem */
	}
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	assert_file("/etc/falco/falco.yaml", USER_YAML);
	n = getxattr(p, "user.lifeline-test", buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "label", 5);
	assert_int_equal(degrade_undo(root, "falco", NULL), 0);
	assert_machine_original();
	n = getxattr(p, "user.lifeline-test", buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "label", 5);
	component_done(&c);
}

static void test_a_step_that_cannot_apply_changes_nothing(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};

	(void)state;
	setup_machine();
	/* the second edit's key is missing: the first file is not touched */
	put_file("/etc/kesl/kesl.ini", "[General]\nOther=1\n", 04600, 0, 42, 1600000100);
	assert_int_equal(degrade_apply(root, &c, &res), -ENOENT);
	assert_non_null(strstr(res.lines[0], "/etc/kesl/kesl.ini: cannot set General.SafeMode"));
	degrade_result_done(&res);
	assert_file("/etc/falco/falco.yaml", ORIG_YAML);
	assert_int_equal(meta_of("/etc/falco/falco.yaml").mtime.tv_sec, 1600000000);
	assert_false(tu_exists(root, "/etc/falco/config.d/user.yaml"));
	assert_int_equal(degrade_exists(root, "falco"), 0);
	assert_false(tu_exists(root, DEGRADE_DIR "/falco"));
	component_done(&c);
}

static void test_symlinks_and_protected_paths_are_refused_at_apply(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};
	_cleanup_free_ char *dir = rooted("/etc/kesl"), *moved = rooted("/srv/kesl");

	(void)state;
	setup_machine();
	/* the folder became a symlink after the drop-in was loaded */
	tu_put(root, "/srv/keep", "", 0644);
	assert_int_equal(rename(dir, moved), 0);
	assert_int_equal(symlink(moved, dir), 0);
	assert_int_equal(degrade_apply(root, &c, &res), -ELOOP);
	assert_non_null(strstr(res.lines[0], "a symlink"));
	degrade_result_done(&res);
	assert_file("/etc/falco/falco.yaml", ORIG_YAML);
	assert_file("/srv/kesl/kesl.ini", ORIG_INI);
	assert_false(tu_exists(root, DEGRADE_DIR "/falco"));

	/* a path that became protected (here: named so by hand) */
	free(c.degrade[1].path);
	c.degrade[1].path = strdup("/etc/passwd");
	tu_put(root, "/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	assert_int_equal(degrade_apply(root, &c, &res), -EPERM);
	assert_non_null(strstr(res.lines[0], "/etc/passwd: protected"));
	degrade_result_done(&res);
	assert_file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	assert_file("/etc/falco/falco.yaml", ORIG_YAML);
	component_done(&c);
}

static void test_undo_keeps_a_file_changed_since_and_removes_a_new_file(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};

	(void)state;
	setup_machine();
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	/* the administrator edits the INI after the degrade */
	put_file("/etc/kesl/kesl.ini", "[General]\nSafeMode=yes\nMine=1\n", 0600, 0, 0, 1700000000);
	assert_int_equal(degrade_undo(root, "falco", &res), 0);
	assert_int_equal(res.kept, 1);
	assert_int_equal(res.restored, 2);
	degrade_result_done(&res);
	assert_file("/etc/kesl/kesl.ini", "[General]\nSafeMode=yes\nMine=1\n");
	assert_file("/etc/falco/falco.yaml", ORIG_YAML);
	assert_false(tu_exists(root, "/etc/falco/config.d/user.yaml"));
	assert_int_equal(degrade_exists(root, "falco"), 0);
	component_done(&c);
}

/* Whether one of r's lines holds both a and b. */
static bool has_line(const struct degrade_result *r, const char *a, const char *b)
{
	STRV_FOREACH (l, r->lines)
		if (strstr(*l, a) && strstr(*l, b))
			return true;
	return false;
}

static void remove_rooted(const char *rel)
{
	_cleanup_free_ char *p = rooted(rel);

	assert_int_equal(tu_rm_rf(p), 0);
}

/* The original falco.yaml with its metadata, and no degrade state. */
static void assert_falco_yaml_back_and_state_gone(void)
{
	struct meta m;

	assert_file("/etc/falco/falco.yaml", ORIG_YAML);
	m = meta_of("/etc/falco/falco.yaml");
	assert_int_equal(m.mode, 0640);
	assert_int_equal(m.uid, 1234);
	assert_int_equal(m.gid, 5678);
	assert_int_equal(m.mtime.tv_sec, 1600000000);
	assert_int_equal(m.mtime.tv_nsec, 123);
	assert_int_equal(degrade_exists(root, "falco"), 0);
	assert_false(tu_exists(root, DEGRADE_DIR "/falco"));
	assert_int_equal(entries(DEGRADE_DIR), 0);
}

static void test_undo_finishes_when_a_files_folder_was_removed(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};

	(void)state;
	setup_machine();
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	/* the vendor packages holding the INI and the new file are removed */
	remove_rooted("/etc/kesl");
	remove_rooted("/etc/falco/config.d");
	assert_int_equal(degrade_undo(root, "falco", &res), 0);
	assert_int_equal(res.restored, 1);
	assert_int_equal(res.kept, 2);
	assert_true(has_line(&res, "/etc/kesl/kesl.ini", "its folder no longer exists"));
	assert_true(has_line(&res, "/etc/falco/config.d/user.yaml", "its folder no longer exists"));
	degrade_result_done(&res);
	assert_falco_yaml_back_and_state_gone();
	/* nothing is made again where the folders were */
	assert_false(tu_exists(root, "/etc/kesl"));
	assert_false(tu_exists(root, "/etc/falco/config.d"));
	/* the undo is done: another finds nothing */
	assert_int_equal(degrade_undo(root, "falco", &res), 0);
	assert_int_equal(res.restored + res.kept, 0);
	degrade_result_done(&res);
	component_done(&c);
}

/* A file of the machine that the degrade has nothing to do with. */
#define VICTIM       "/srv/victim"
#define VICTIM_TEXT  "not lifeline's\n"
#define VICTIM_MTIME 1500000000

static void assert_victim_untouched(void)
{
	struct meta m;

	assert_file(VICTIM, VICTIM_TEXT);
	m = meta_of(VICTIM);
	assert_int_equal(m.mode, 0600);
	assert_int_equal(m.uid, 0);
	assert_int_equal(m.gid, 0);
	assert_int_equal(m.mtime.tv_sec, VICTIM_MTIME);
}

static void test_metadata_of_a_written_file_is_set_on_its_descriptor(void **state)
{
	struct component c = make_component();

	(void)state;
	setup_machine();
	put_file(VICTIM, VICTIM_TEXT, 0600, 0, 0, VICTIM_MTIME);
	/* the first temp file opened again by its name would be the victim */
	swap_arm(".lifeline-tmp-", 1, VICTIM);
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	swap_disarm();
	assert_victim_untouched();
	assert_int_equal(swap.seen, 0); /* no temp file is opened again by its name */
	assert_machine_degraded();

	swap_arm(".lifeline-tmp-", 1, VICTIM);
	assert_int_equal(degrade_undo(root, "falco", NULL), 0);
	swap_disarm();
	assert_victim_untouched();
	assert_int_equal(swap.seen, 0);
	assert_machine_original();
	component_done(&c);
}

static void test_undo_sets_the_metadata_on_the_file_it_checked(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};

	(void)state;
	setup_machine();
	put_file(VICTIM, VICTIM_TEXT, 0600, 0, 0, VICTIM_MTIME);
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	/* the original bytes are back by someone else's hand, with other
	 * metadata: the undo sets the recorded owner, mode and mtime */
	put_file("/etc/falco/falco.yaml", ORIG_YAML, 0600, 0, 0, 1700000000);
	/* a second open of the name, after it was checked, would be the victim */
	swap_arm("falco.yaml", 2, VICTIM);
	assert_int_equal(degrade_undo(root, "falco", &res), 0);
	swap_disarm();
	assert_victim_untouched();
	assert_false(swap.swapped); /* the name was opened once */
	assert_int_equal(res.restored, 3);
	degrade_result_done(&res);
	assert_machine_original();
	component_done(&c);
}

static void test_a_file_changed_during_the_apply_undoes_the_step(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};
	_cleanup_free_ char *state_dir = rooted(DEGRADE_DIR "/falco");
	int status;
	pid_t pid;

	(void)state;
	setup_machine();
	/* cut after the journal, change a file, then finish */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LIFELINE_FAULT", "degrade-manifest-fsync-dir", 1);
		_exit(degrade_apply(root, &c, NULL) < 0 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 99);
	put_file("/etc/kesl/kesl.ini", "[General]\nSafeMode=maybe\n", 04600, 0, 42, 1600000100);
	assert_int_equal(degrade_apply(root, &c, &res), -ESTALE);
	degrade_result_done(&res);
	/* the YAML (replaced before the INI) is back; the changed INI kept */
	assert_file("/etc/falco/falco.yaml", ORIG_YAML);
	assert_int_equal(meta_of("/etc/falco/falco.yaml").mtime.tv_sec, 1600000000);
	assert_file("/etc/kesl/kesl.ini", "[General]\nSafeMode=maybe\n");
	assert_false(tu_exists(root, "/etc/falco/config.d/user.yaml"));
	assert_int_equal(access(state_dir, F_OK), -1);
	component_done(&c);
}

/* ---------------------------------------------------------------------- */
/* Power cuts */

static const char *const apply_points[] = {
    "degrade-mkdir",
    "degrade-copy-rename",
    "degrade-copy-fsync-dir",
    "degrade-new-rename",
    "degrade-new-fsync-dir",
    "degrade-manifest-write",
    "degrade-manifest-fsync",
    "degrade-manifest-rename",
    "degrade-manifest-fsync-dir",
    "degrade-apply-rename",
    "degrade-apply-fsync-dir",
    "degrade-applied",
    NULL,
};

static const char *const undo_points[] = {
    "degrade-manifest-write",
    "degrade-manifest-fsync",
    "degrade-manifest-rename",
    "degrade-manifest-fsync-dir",
    "degrade-undo-rename",
    "degrade-undo-fsync-dir",
    "degrade-undo-unlink",
    "degrade-remove",
    "degrade-remove-manifest",
    "degrade-rmdir",
    NULL,
};

/* Every file of the fixture holds its original or its user-mode text,
 * never anything else. */
static void assert_each_file_whole(void)
{
	_cleanup_free_ char *y = tu_get(root, "/etc/falco/falco.yaml"),
	                    *i = tu_get(root, "/etc/kesl/kesl.ini"),
	                    *n = tu_get(root, "/etc/falco/config.d/user.yaml");

	assert_non_null(y);
	assert_non_null(i);
	assert_true(streq(y, ORIG_YAML) || streq(y, USER_YAML));
	assert_true(streq(i, ORIG_INI) || streq(i, USER_INI));
	assert_true(!n || streq(n, NEW_FILE));
}

/* op in a child cut at point:n: 99 cut, 0 done without reaching it. */
static int cut(bool undo, const struct component *c, const char *point, unsigned n)
{
	char spec[128];
	int status;
	pid_t pid;

	snprintf(spec, sizeof(spec), "%s:%u", point, n);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r;

		setenv("LIFELINE_FAULT", spec, 1);
		r = undo ? degrade_undo(root, "falco", NULL) : degrade_apply(root, c, NULL);
		_exit(r < 0 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) == 99 || WEXITSTATUS(status) == 0);
	return WEXITSTATUS(status);
}

static void test_power_cuts_during_apply_are_finished_by_recovery(void **state)
{
	struct component c = make_component();
	unsigned covered = 0;

	(void)state;
	for (const char *const *p = apply_points; *p; p++) {
		bool hit = false;

		for (unsigned n = 1;; n++) {
			int r, rec;

			assert_int_equal(new_root(NULL), 0);
			setup_machine();
			if (cut(false, &c, *p, n) == 0)
				break;
			hit = true;
			covered++;
			assert_each_file_whole();
			/* a cut in the recovery too, at the first hit of the same point */
			(void)cut(false, &c, *p, 1);
			assert_each_file_whole();
			rec = degrade_recover(root);
			assert_true(rec >= 0);
			/* a journalled apply is finished; one cut before its
			 * manifest left the machine as it was */
			r = degrade_exists(root, "falco");
			if (r == 1)
				assert_machine_degraded();
			else
				assert_machine_original();
			assert_int_equal(degrade_apply(root, &c, NULL), 0);
			assert_machine_degraded();
			assert_int_equal(degrade_undo(root, "falco", NULL), 0);
			assert_machine_original();
		}
		if (!hit)
			fail_msg("the apply never reached %s", *p);
	}
	assert_true(covered >= 14);
	component_done(&c);
}

static void test_power_cuts_during_undo_are_finished_by_recovery(void **state)
{
	struct component c = make_component();
	unsigned covered = 0;

	(void)state;
	for (const char *const *p = undo_points; *p; p++) {
		bool hit = false;

		for (unsigned n = 1;; n++) {
			assert_int_equal(new_root(NULL), 0);
			setup_machine();
			assert_int_equal(degrade_apply(root, &c, NULL), 0);
			if (cut(true, &c, *p, n) == 0)
				break;
			hit = true;
			covered++;
			assert_each_file_whole();
			(void)cut(true, &c, *p, 1);
			assert_each_file_whole();
			/* an undo whose "undoing" is durable is finished by the
			 * recovery; one cut before that is still applied, whole,
			 * and the clear runs again */
			assert_true(degrade_recover(root) >= 0);
			if (degrade_exists(root, "falco") == 1) {
				assert_true(streq(*p, "degrade-manifest-write") ||
				            streq(*p, "degrade-manifest-fsync") ||
				            streq(*p, "degrade-manifest-rename"));
				assert_machine_degraded();
				assert_int_equal(degrade_undo(root, "falco", NULL), 0);
			}
			assert_machine_original();
			/* and the undo is done: another finds nothing */
			assert_int_equal(degrade_undo(root, "falco", NULL), 0);
			assert_machine_original();
		}
		if (!hit)
			fail_msg("the undo never reached %s", *p);
	}
	assert_true(covered >= 12);
	component_done(&c);
}

static void test_an_apply_after_a_cut_undo_finishes_the_undo_first(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};

	(void)state;
	setup_machine();
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	assert_int_equal(cut(true, &c, "degrade-undo-rename", 2), 99);
	assert_int_equal(degrade_exists(root, "falco"), 0); /* undoing */
	assert_int_equal(degrade_apply(root, &c, &res), 0);
	assert_int_equal(res.changed, 3);
	degrade_result_done(&res);
	assert_machine_degraded();
	assert_int_equal(degrade_undo(root, "falco", NULL), 0);
	assert_machine_original();
	component_done(&c);
}

static void test_recovery_finishes_a_cut_undo_whose_files_folder_was_removed(void **state)
{
	struct component c = make_component();

	(void)state;
	setup_machine();
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	/* cut before the INI (the second file undone) is put back */
	assert_int_equal(cut(true, &c, "degrade-undo-rename", 1), 99);
	assert_file("/etc/kesl/kesl.ini", USER_INI);
	remove_rooted("/etc/kesl");
	assert_int_equal(degrade_recover(root), 1);
	assert_falco_yaml_back_and_state_gone();
	assert_false(tu_exists(root, "/etc/falco/config.d/user.yaml"));
	assert_false(tu_exists(root, "/etc/kesl"));
	component_done(&c);
}

static void test_a_held_degrade_directory_fails_busy_naming_it(void **state)
{
	struct component c = make_component();
	struct degrade_result res = {0};
	_cleanup_free_ char *dir = rooted(DEGRADE_DIR);
	unsigned old = quarantine_set_lock_timeout(300);
	struct timespec t0, t1;
	struct tu_flock h;
	long took;

	(void)state;
	setup_machine();
	assert_int_equal(degrade_apply(root, &c, NULL), 0);
	/* a hung lifelinectl holds the degrade directory */
	tu_flock_hold(&h, dir, 10000);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	assert_int_equal(degrade_undo(root, "falco", &res), -EWOULDBLOCK);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t1), 0);
	took = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(took >= 300 && took < 3000);
	assert_true(has_line(&res, "falco: " DEGRADE_DIR ": held by another lifeline process",
	                     "nothing was done"));
	degrade_result_done(&res);
	assert_non_null(strstr(degrade_strerror(-EWOULDBLOCK),
	                       DEGRADE_DIR ": held by another lifeline process"));
	assert_int_equal(degrade_apply(root, &c, NULL), -EWOULDBLOCK);
	assert_int_equal(degrade_recover(root), -EWOULDBLOCK);
	assert_machine_degraded();
	tu_flock_release(&h);

	quarantine_set_lock_timeout(old);
	assert_int_equal(degrade_undo(root, "falco", NULL), 0);
	assert_machine_original();
	component_done(&c);
}

/* Falco end to end: the shipped drop-in loaded, its step applied on a
 * falco.yaml laid out like the vendor's, then cleared. */
#define FALCO_CONF_KMOD                           \
	"# Falco's main configuration\n"          \
	"rules_files:\n"                          \
	"  - /etc/falco/falco_rules.yaml\n"       \
	"  - /etc/falco/rules.d\n"                \
	"\n"                                      \
	"engine:\n"                               \
	"  kind: kmod\n"                          \
	"  kmod:\n"                               \
	"    buf_size_preset: 4\n"                \
	"    drop_failed_exit: false\n"           \
	"  ebpf:\n"                               \
	"    probe: ${HOME}/.falco/falco-bpf.o\n" \
	"    buf_size_preset: 4\n"                \
	"  modern_ebpf:\n"                        \
	"    cpus_for_each_buffer: 2\n"           \
	"    buf_size_preset: 4\n"                \
	"\n"                                      \
	"load_plugins: []\n"

/* The same with the one value the step changes. */
#define FALCO_CONF_USER                           \
	"# Falco's main configuration\n"          \
	"rules_files:\n"                          \
	"  - /etc/falco/falco_rules.yaml\n"       \
	"  - /etc/falco/rules.d\n"                \
	"\n"                                      \
	"engine:\n"                               \
	"  kind: modern_ebpf\n"                   \
	"  kmod:\n"                               \
	"    buf_size_preset: 4\n"                \
	"    drop_failed_exit: false\n"           \
	"  ebpf:\n"                               \
	"    probe: ${HOME}/.falco/falco-bpf.o\n" \
	"    buf_size_preset: 4\n"                \
	"  modern_ebpf:\n"                        \
	"    cpus_for_each_buffer: 2\n"           \
	"    buf_size_preset: 4\n"                \
	"\n"                                      \
	"load_plugins: []\n"

static void test_falco_shipped_step_end_to_end(void **state)
{
	_cleanup_free_ char *shipped = realpath("config/components.d", NULL), *link = NULL;
	struct component_set s;
	struct degrade_result res = {0};
	unsigned problems = 99;
	struct meta m;

	(void)state;
	assert_non_null(shipped);
	tu_put(root, "/etc/lifeline/lifeline.conf", "", 0644);
	link = rooted("/etc/lifeline/components.d");
	assert_int_equal(symlink(shipped, link), 0);
	put_file("/etc/falco/falco.yaml", FALCO_CONF_KMOD, 0644, 0, 0, 1650000000);
	assert_int_equal(components_load(root, &s, &problems), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(degrade_apply(root, components_find(&s, "falco"), &res), 0);
	assert_int_equal(res.changed, 1);
	degrade_result_done(&res);
	assert_file("/etc/falco/falco.yaml", FALCO_CONF_USER);
	assert_int_equal(degrade_exists(root, "falco"), 1);
	/* KESL's step cannot apply here (no kesl.ini): refused, nothing made */
	assert_int_equal(degrade_apply(root, components_find(&s, "kesl"), &res), -ENOENT);
	degrade_result_done(&res);
	assert_int_equal(degrade_exists(root, "kesl"), 0);
	assert_false(tu_exists(root, "/var/opt/kaspersky"));

	assert_int_equal(degrade_undo(root, "falco", &res), 0);
	assert_int_equal(res.restored, 1);
	degrade_result_done(&res);
	assert_file("/etc/falco/falco.yaml", FALCO_CONF_KMOD);
	m = meta_of("/etc/falco/falco.yaml");
	assert_int_equal(m.mode, 0644);
	assert_int_equal(m.mtime.tv_sec, 1650000000);
	assert_int_equal(m.mtime.tv_nsec, 123);
	assert_int_equal(degrade_exists(root, "falco"), 0);
	components_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_keys_are_parsed_and_the_kernel_half_joins_the_component,
	                           new_root),
	    cmocka_unit_test_setup(test_a_component_without_degrade_keys_has_no_step, new_root),
	    cmocka_unit_test_setup(test_kernel_half_is_a_component_of_its_own, new_root),
	    cmocka_unit_test_setup(
	        test_bad_degrade_values_leave_the_component_out_with_the_key_named, new_root),
	    cmocka_unit_test_setup(test_a_source_over_64k_is_refused, new_root),
	    cmocka_unit_test_setup(test_protected_paths_are_refused_naming_dropin_key_and_file,
	                           new_root),
	    cmocka_unit_test_setup(test_protected_kernel_units_and_content_are_refused, new_root),
	    cmocka_unit_test_setup(test_symlinks_on_the_way_are_refused_at_load, new_root),
	    cmocka_unit_test_setup(test_degrade_units_join_the_units_and_need_a_step, new_root),
	    cmocka_unit_test(test_yaml_edit_sets_exactly_the_nested_key),
	    cmocka_unit_test(test_yaml_edit_refuses_what_it_cannot_be_sure_of),
	    cmocka_unit_test(test_keyvalue_edit_sets_the_key_in_its_section_only),
	    cmocka_unit_test(test_manifest_round_trips_and_refuses_damage),
	    cmocka_unit_test(test_manifest_of_a_newer_version_is_refused),
	    cmocka_unit_test_setup(test_apply_and_undo_are_exact_and_idempotent, new_root),
	    cmocka_unit_test_setup(test_xattrs_are_kept_through_apply_and_undo, new_root),
	    cmocka_unit_test_setup(test_a_step_that_cannot_apply_changes_nothing, new_root),
	    cmocka_unit_test_setup(test_symlinks_and_protected_paths_are_refused_at_apply,
	                           new_root),
	    cmocka_unit_test_setup(test_undo_keeps_a_file_changed_since_and_removes_a_new_file,
	                           new_root),
	    cmocka_unit_test_setup(test_undo_finishes_when_a_files_folder_was_removed, new_root),
	    cmocka_unit_test_setup(test_metadata_of_a_written_file_is_set_on_its_descriptor,
	                           new_root),
	    cmocka_unit_test_setup(test_undo_sets_the_metadata_on_the_file_it_checked, new_root),
	    cmocka_unit_test_setup(test_a_file_changed_during_the_apply_undoes_the_step, new_root),
	    cmocka_unit_test_setup(test_power_cuts_during_apply_are_finished_by_recovery, new_root),
	    cmocka_unit_test_setup(test_power_cuts_during_undo_are_finished_by_recovery, new_root),
	    cmocka_unit_test_setup(test_an_apply_after_a_cut_undo_finishes_the_undo_first,
	                           new_root),
	    cmocka_unit_test_setup(test_recovery_finishes_a_cut_undo_whose_files_folder_was_removed,
	                           new_root),
	    cmocka_unit_test_setup(test_a_held_degrade_directory_fails_busy_naming_it, new_root),
	    cmocka_unit_test_setup(test_falco_shipped_step_end_to_end, new_root),
	};

	return cmocka_run_group_tests(tests, make_base, remove_base);
}
