/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lifelinectl program itself (built binary, real libefivar on the
 * EFIVARFS_PATH directory): JSON shape, exit codes, usage errors.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/boot/boot.h"
#include "common/fileio.h"
#include "efi/state-record.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

#define CONF_DEFAULT "[boot]\nthreshold = 5\nrepeat_crash = no\nstore = efi"

static char root[4096], prog[4096], var_path[4096];

static int run(const char *args, char **out)
{
	char cmd[16384];
	FILE *p;
	size_t n = 0, cap = 65536;
	int st;

	snprintf(cmd, sizeof(cmd), "%s --root=%s %s 2>/dev/null", prog, root, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	*out = calloc(1, cap);
	n = fread(*out, 1, cap - 1, p);
	(*out)[n] = 0;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
	const char *b = getenv("LIFELINE_BUILD");
	char p[8192];

	(void)state;
	snprintf(prog, sizeof(prog), "%s/bin/lifelinectl", b ? b : "build");
	if (tu_mkdtemp(root, sizeof(root), "ctl-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	tu_var_reset(var_path);
	snprintf(p, sizeof(p), "%s/etc/lifeline", root);
	mkdir_p(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/lifeline/lifeline.conf", root);
	/* the crash loops below count to the threshold: no repeat-crash fast path */
	write_file_atomic(p, CONF_DEFAULT, strlen(CONF_DEFAULT), 0644);
	return 0;
}

static void put_under_root(const char *rel, const char *text);

static void test_status_json_has_the_documented_keys(void **state)
{
	struct boot_opts o = {.root = root};
	json_object *j, *v;
	char *out;

	(void)state;
	assert_int_equal(boot_phase_init(&o), 0);
	assert_int_equal(boot_phase_init(&o), 0);
	assert_int_equal(run("status --json", &out), 0);
	j = json_tokener_parse(out);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "boot_seq", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(j, "failures", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(j, "threshold", &v));
	assert_int_equal(json_object_get_int(v), 5);
	assert_true(json_object_object_get_ex(j, "mode", &v));
	assert_string_equal(json_object_get_string(v), "normal");
	assert_true(json_object_object_get_ex(j, "level", &v));
	assert_int_equal(json_object_get_int(v), 0);
	assert_true(json_object_object_get_ex(j, "store", &v));
	assert_string_equal(json_object_get_string(v), "efi");
	assert_true(json_object_object_get_ex(j, "quarantined", &v));
	assert_true(json_object_is_type(v, json_type_array));
	assert_true(json_object_object_get_ex(j, "last_good", &v));
	assert_null(v);
	json_object_put(j);
	free(out);

	assert_int_equal(run("bless", &out), 0);
	free(out);
	assert_int_equal(run("status --json", &out), 0);
	j = json_tokener_parse(out);
	assert_true(json_object_object_get_ex(j, "last_good", &v));
	assert_non_null(v);
	assert_true(json_object_object_get_ex(v, "boot_seq", &v));
	assert_int_equal(json_object_get_int(v), 2);
	json_object_put(j);
	free(out);

	assert_int_equal(run("status", &out), 0);
	assert_non_null(strstr(out, "Mode:         normal"));
	assert_null(strstr(out, "Config:"));
	free(out);

	/* a config with errors is said, not only logged */
	put_under_root("/etc/lifeline/lifeline.conf", "[boot]\nthreshold = banana\nstore = efi\n");
	assert_int_equal(run("status", &out), 0);
	assert_non_null(strstr(out, "Config:       PROBLEM: lifeline.conf has errors"));
	free(out);
	assert_int_equal(run("status --json", &out), 0);
	j = json_tokener_parse(out);
	free(out);
	assert_true(json_object_object_get_ex(j, "config_ok", &v));
	assert_false(json_object_get_boolean(v));
	json_object_put(j);
}

static void test_usage_errors_exit_2(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(run("frobnicate", &out), 2);
	free(out);
	assert_int_equal(run("status extra", &out), 2);
	free(out);
	assert_int_equal(run("--bogus status", &out), 2);
	free(out);
	assert_int_equal(run("quarantine", &out), 2);
	free(out);
	assert_int_equal(run("quarantine nosuchcomponent", &out), 2);
	free(out);
	assert_int_equal(run("--help", &out), 0);
	assert_non_null(strstr(out, "Exit status"));
	/* the global help lists every verb */
	assert_non_null(strstr(out, "  history [--json] [--limit N] [--boot N]\n"));
	assert_non_null(strstr(out, "  apply-command FILE\n"));
	free(out);
}

/* VERB --help prints that verb's help, not the global one; an unknown
 * verb's --help is a usage error. */
static void test_verb_help_is_the_verbs_own(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(run("status --help", &out), 0);
	assert_non_null(strstr(out, "Usage: lifelinectl [--root=DIR] status [--json]\n"));
	assert_null(strstr(out, "Commands"));
	assert_null(strstr(out, "history"));
	free(out);
	assert_int_equal(run("clear -h", &out), 0);
	assert_non_null(
	    strstr(out, "Usage: lifelinectl [--root=DIR] clear [COMPONENT...|--all]\n"));
	assert_null(strstr(out, "Commands"));
	free(out);
	assert_int_equal(run("frobnicate --help", &out), 2);
	free(out);
}

/* Clearing a component that is neither configured nor quarantined is a
 * usage error naming it, and no decision is recorded; a configured one
 * clears (and is recorded). */
static void test_clear_of_an_unknown_component_is_refused(void **state)
{
	char cmd[16384], p[8192], *out;
	FILE *f;
	size_t n;
	int st;

	(void)state;
	put_under_root("/etc/lifeline/components.d/badsec.conf", "[badsec]\nmodules = badsec\n");
	snprintf(cmd, sizeof(cmd), "%s --root=%s clear nosuch 2>&1", prog, root);
	f = popen(cmd, "r");
	assert_non_null(f);
	out = calloc(1, 65536);
	n = fread(out, 1, 65535, f);
	out[n] = 0;
	st = pclose(f);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_non_null(strstr(out, "no such component: nosuch"));
	free(out);
	snprintf(p, sizeof(p), "%s/var/lib/lifeline/history", root);
	assert_int_equal(access(p, F_OK), -1);
	/* one unknown among known ones: still nothing done */
	assert_int_equal(run("clear badsec nosuch", &out), 2);
	free(out);
	assert_int_equal(access(p, F_OK), -1);

	assert_int_equal(run("clear badsec", &out), 0);
	free(out);
	assert_int_equal(access(p, F_OK), 0);
}

static void test_corrupt_record_exits_3(void **state)
{
	char *out;
	int fd;

	(void)state;
	fd = open(var_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x07\0\0\0LFLSjunkjunk", 16), 16);
	close(fd);
	assert_int_equal(run("status --json", &out), 3);
	assert_non_null(strstr(out, "\"error\""));
	free(out);
	assert_int_equal(run("bless", &out), 3);
	free(out);
	/* "ju" as the version: a newer lifeline's record is not downgraded
	 * unless asked to */
	assert_int_equal(run("reset", &out), 3);
	free(out);
	assert_int_equal(run("reset --all", &out), 0);
	free(out);
	assert_int_equal(run("status --json", &out), 0);
	free(out);
}

/* No efivarfs: store=auto falls back to the file store with one clear
 * line saying why, and counts; store=efi runs uncounted and says so. */
static void test_early_without_efivarfs_falls_back_or_runs_uncounted(void **state)
{
	const char *b = getenv("LIFELINE_BUILD");
	char cmd[16384], p[8192], *text = NULL, *log = NULL;
	size_t n;

	(void)state;
	snprintf(p, sizeof(p), "%s/etc/lifeline/lifeline.conf", root);
	snprintf(cmd, sizeof(cmd), "[boot]\nstore = auto\nstate_file = %s/state.bin\n", root);
	assert_int_equal(write_file_atomic(p, cmd, strlen(cmd), 0644), 0);
	snprintf(cmd, sizeof(cmd),
	         "EFIVARFS_PATH=/nonexistent-efivars/ %s/initramfs-hook/lifeline-early "
	         "--phase=init --test "
	         "--stderr --root=%s 2>%s/early.log",
	         b ? b : "build", root, root);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	snprintf(p, sizeof(p), "%s/early.log", root);
	assert_int_equal(read_full_file(p, 65536, &log, &n), 0);
	assert_non_null(strstr(log, "using the file store"));
	assert_non_null(strstr(log, "EFI variables are not available"));
	free(log);
	snprintf(p, sizeof(p), "%s/run/lifeline/state", root);
	assert_int_equal(read_full_file(p, 65536, &text, NULL), 0);
	assert_non_null(strstr(text, "store=file\n"));
	assert_non_null(strstr(text, "failures=2\n"));
	free(text);

	snprintf(p, sizeof(p), "%s/etc/lifeline/lifeline.conf", root);
	assert_int_equal(write_file_atomic(p, "[boot]\nstore = efi\n", 19, 0644), 0);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	snprintf(p, sizeof(p), "%s/run/lifeline/state", root);
	assert_int_equal(read_full_file(p, 65536, &text, NULL), 0);
	assert_non_null(strstr(text, "mode=uncounted\n"));
	free(text);
	snprintf(p, sizeof(p), "%s/early.log", root);
	assert_int_equal(read_full_file(p, 65536, &log, &n), 0);
	assert_non_null(strstr(log, "this boot is not counted"));
	free(log);
}

/* The record's last-good time is any 64-bit value (checksummed, but not
 * range-checked): status used to crash on one gmtime() cannot convert. */
/* bless rewrites the metrics file at once: lifeline_failures is 0 after
 * it, not at the next heartbeat. */
static void test_bless_refreshes_the_metrics_file(void **state)
{
	struct boot_opts o = {.root = root};
	char p[8192], *out, *t = NULL;

	(void)state;
	assert_int_equal(boot_phase_init(&o), 0);
	assert_int_equal(boot_phase_init(&o), 0);
	put_under_root("/var/lib/prometheus/node-exporter/lifeline.prom",
	               "lifeline_up 1\nlifeline_failures 2\nlifeline_command_seq 4\n");
	assert_int_equal(run("bless", &out), 0);
	free(out);
	snprintf(p, sizeof(p), "%s/var/lib/prometheus/node-exporter/lifeline.prom", root);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_failures 0\n"));
	assert_non_null(strstr(t, "\nlifeline_command_seq 4\n")); /* kept */
	free(t);
}

static void test_status_survives_a_last_good_time_past_year_2_31(void **state)
{
	struct state_record r;
	uint8_t buf[4 + STATE_RECORD_SIZE] = {0x07}; /* efivarfs: attributes first */
	char *out;
	int fd;

	(void)state;
	state_record_init(&r);
	r.boot_seq = 3;
	r.failures = 1;
	r.last_blessed_seq = 2;
	r.last_blessed_time = INT64_MAX;
	assert_int_equal(state_record_encode(&r, buf + 4), 0);
	fd = open(var_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	assert_int_equal(run("status", &out), 0);
	assert_non_null(strstr(out, "Last good:    boot #2 at unix time 9223372036854775807"));
	free(out);
	assert_int_equal(run("status --json", &out), 0);
	free(out);
}

static void put_under_root(const char *rel, const char *text)
{
	char p[8192];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	*strrchr(p, '/') = 0;
	assert_int_equal(mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s%s", root, rel);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

/* ---- lifelinectl check ---- */

/* A newc cpio archive holding member (NULL: nothing) as the image of
 * kernel kver, with the kernel itself. */
static void put_kernel(const char *kver, const char *member)
{
	char p[8192], *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	const char *names[] = {member, "TRAILER!!!"};

	assert_non_null(f);
	for (size_t i = 0; i < 2; i++) {
		size_t ns;

		if (!names[i])
			continue;
		ns = strlen(names[i]) + 1;
		fprintf(f, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08zx%08x",
		        (unsigned)i, i == 0 ? 0100755u : 0u, 0u, 0u, 1u, 0u, 0u, 0u, 0u, 0u, 0u, ns,
		        0u);
		fwrite(names[i], 1, ns, f);
		while ((110 + ns) % 4 != 0) {
			fputc(0, f);
			ns++;
		}
	}
	for (size_t i = 0; i < 512; i++)
		fputc(0, f);
	assert_int_equal(fclose(f), 0);
	snprintf(p, sizeof(p), "/boot/vmlinuz-%s", kver);
	put_under_root(p, "kernel\n");
	snprintf(p, sizeof(p), "%s/boot/initrd.img-%s", root, kver);
	assert_int_equal(write_file_atomic(p, buf, n, 0644), 0);
	free(buf);
}

/* Everything check looks for, in place. */
static void put_complete_install(void)
{
	char p[8192];

	put_under_root("/etc/lifeline/components.d/badsec.conf",
	               "[badsec]\nmodules = badsec\nunits = badsec.service\n");
	put_kernel("6.1.0-7-amd64", "usr/lib/lifeline/lifeline-early");
	put_kernel("6.1.0-9-amd64", "usr/lib/lifeline/lifeline-early");
	put_under_root("/dev/watchdog0", "");
	put_under_root("/etc/systemd/system/multi-user.target.wants/.keep", "");
	snprintf(p, sizeof(p), "%s/etc/systemd/system/multi-user.target.wants/lifelined.service",
	         root);
	assert_int_equal(symlink("/usr/lib/systemd/system/lifelined.service", p), 0);
}

/* Runs check --json: its exit code; *ret_detail gets the detail of the
 * first check named name that failed (NULL: none failed). */
static int check_json(const char *name, char **ret_detail)
{
	json_object *o, *a, *v;
	char *out;
	int code = run("check --json", &out);

	o = json_tokener_parse(out);
	free(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "version", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(o, "ok", &v));
	assert_int_equal(json_object_get_boolean(v), code == 0);
	assert_true(json_object_object_get_ex(o, "checks", &a));
	*ret_detail = NULL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i), *c, *ok, *d;

		assert_true(json_object_object_get_ex(e, "check", &c));
		assert_true(json_object_object_get_ex(e, "ok", &ok));
		assert_true(json_object_object_get_ex(e, "detail", &d));
		if (!json_object_get_boolean(ok) && strcmp(json_object_get_string(c), name) == 0 &&
		    !*ret_detail)
			*ret_detail = strdup(json_object_get_string(d));
	}
	json_object_put(o);
	return code;
}

static void test_check_passes_on_a_complete_install(void **state)
{
	char *out;

	(void)state;
	put_complete_install();
	assert_int_equal(run("check", &out), 0);
	assert_non_null(strstr(out, "initramfs   ok       2 kernel(s)"));
	assert_null(strstr(out, "PROBLEM"));
	free(out);
}

static void test_check_names_a_bad_config(void **state)
{
	char *d;

	(void)state;
	put_complete_install();
	put_under_root("/etc/lifeline/lifeline.conf", "[boot]\nthreshold = banana\nstore = efi\n");
	assert_int_equal(check_json("config", &d), 1);
	assert_non_null(d);
	assert_non_null(strstr(d, "lifeline.conf has bad values"));
	free(d);
}

static void test_check_names_a_kernel_without_the_hook(void **state)
{
	char *d, *out;

	(void)state;
	put_complete_install();
	put_kernel("6.1.0-9-amd64", "usr/lib/other-tool");
	assert_int_equal(check_json("initramfs", &d), 1);
	assert_non_null(d);
	assert_non_null(strstr(d, "/boot/initrd.img-6.1.0-9-amd64 does not carry lifeline-early"));
	free(d);
	/* a kernel with no image at all */
	put_under_root("/boot/vmlinuz-6.1.0-10-amd64", "kernel\n");
	assert_int_equal(run("check", &out), 1);
	assert_non_null(strstr(out, "kernel 6.1.0-10-amd64 has no initramfs"));
	assert_null(strstr(out, "initrd.img-6.1.0-7-amd64 does not"));
	free(out);
}

static void test_check_names_a_missing_watchdog(void **state)
{
	char p[8192], *d;

	(void)state;
	put_complete_install();
	snprintf(p, sizeof(p), "%s/dev/watchdog0", root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(check_json("watchdog", &d), 1);
	assert_non_null(d);
	assert_non_null(strstr(d, "no watchdog device"));
	free(d);
}

static void test_check_names_lifelined_not_enabled(void **state)
{
	char p[8192], *d;

	(void)state;
	put_complete_install();
	snprintf(p, sizeof(p), "%s/etc/systemd/system/multi-user.target.wants/lifelined.service",
	         root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(check_json("lifelined", &d), 1);
	assert_non_null(d);
	assert_non_null(strstr(d, "lifelined.service is not enabled"));
	free(d);
}

/* A machine without EFI variables whose file store lifeline-early could
 * not use from the initramfs (on SeaBIOS the disk is not there yet when it
 * runs; here the record's folder is a file at that time): the boot went
 * uncounted, and the store the running system reaches must not make
 * status and check look as if it were protected. */
/* status says which components are degraded rather than quarantined
 * (docs/degrade.md), in text and JSON. */
static void test_status_says_degraded(void **state)
{
	char *out;
	json_object *j, *v;

	(void)state;
	put_under_root("/var/lib/lifeline/quarantine/active", "falco 1 1 degrade\nbadsec 1 1\n");
	assert_int_equal(run("status", &out), 0);
	assert_non_null(strstr(out, "Quarantined:  falco badsec\n"));
	assert_non_null(
	    strstr(out, "Degraded:     falco: kernel part off, running in user mode\n"));
	assert_null(strstr(out, "Degraded:     badsec"));
	free(out);
	assert_int_equal(run("status --json", &out), 0);
	j = json_tokener_parse(out);
	free(out);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "degraded", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "falco");
	json_object_put(j);
}

static void test_status_and_check_say_an_uncounted_boot(void **state)
{
	struct boot_opts o = {.root = root};
	char conf[8192], dir[4200], *out, *d;
	json_object *j, *v;

	(void)state;
	put_complete_install();
	snprintf(dir, sizeof(dir), "%s/late-disk", root);
	snprintf(conf, sizeof(conf),
	         "[boot]\nthreshold = 5\nstore = file\nstate_file = %s/state.bin\n", dir);
	put_under_root("/etc/lifeline/lifeline.conf", conf);
	put_under_root("/late-disk", "not a folder yet\n");
	assert_int_equal(boot_phase_init(&o), 0); /* the boot goes on, uncounted */

	assert_int_equal(unlink(dir), 0); /* the disk is there once the system runs */
	mkdir_p(dir, 0755);
	assert_int_equal(run("status", &out), 0);
	assert_non_null(strstr(out, "Store:        file\n"));
	assert_non_null(strstr(out,
	                       "Counting:     OFF: this boot was NOT counted by lifeline-early "
	                       "(state record unreadable (Not a directory))"));
	free(out);
	assert_int_equal(run("status --json", &out), 0);
	j = json_tokener_parse(out);
	free(out);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "this_boot_counted", &v));
	assert_non_null(v);
	assert_false(json_object_get_boolean(v));
	json_object_put(j);

	assert_int_equal(check_json("counting", &d), 1);
	assert_non_null(d);
	assert_non_null(strstr(d, "this boot was NOT counted by lifeline-early: state record "
	                          "unreadable (Not a directory)"));
	assert_non_null(strstr(d, "state_file"));
	free(d);

	/* the next boot finds the store: counted, and both say so */
	assert_int_equal(boot_phase_init(&o), 0);
	assert_int_equal(run("status", &out), 0);
	assert_null(strstr(out, "Counting:"));
	free(out);
	assert_int_equal(check_json("counting", &d), 0);
	assert_null(d);
	assert_int_equal(run("check", &out), 0);
	assert_non_null(strstr(out, "counting    ok       this boot was counted by lifeline-early "
	                            "(boot #1, file store)"));
	free(out);
}

/* A drop-in naming a protected unit is refused by the loader:
 * `components` lists it with FILE:LINE and why, and exits 1; `check`
 * names it as a problem. */
static void test_components_and_check_show_refused_dropins(void **state)
{
	char *out, *d;
	json_object *o, *a, *e, *v;

	(void)state;
	put_complete_install();
	put_under_root("/etc/lifeline/components.d/bad.conf", "[ssh]\nunits = ssh.service\n");
	assert_int_equal(run("components", &out), 1);
	assert_non_null(strstr(out, "REFUSED"));
	assert_non_null(strstr(out, "bad.conf:2: \"ssh.service\" is protected ("));
	free(out);
	assert_int_equal(run("components --json", &out), 1);
	o = json_tokener_parse(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "components", &a));
	assert_true(json_object_object_get_ex(o, "refused", &a));
	assert_int_equal(json_object_array_length(a), 1);
	e = json_object_array_get_idx(a, 0);
	assert_true(json_object_object_get_ex(e, "id", &v));
	assert_string_equal(json_object_get_string(v), "ssh");
	assert_true(json_object_object_get_ex(e, "line", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(e, "what", &v));
	assert_string_equal(json_object_get_string(v), "ssh.service");
	assert_true(json_object_object_get_ex(e, "file", &v));
	assert_non_null(strstr(json_object_get_string(v), "components.d/bad.conf"));
	assert_true(json_object_object_get_ex(e, "reason", &v));
	assert_true(strlen(json_object_get_string(v)) > 0);
	json_object_put(o);
	free(out);
	assert_int_equal(check_json("protected", &d), 1);
	assert_non_null(d);
	assert_non_null(strstr(d, "bad.conf:2: component ssh is left out"));
	assert_non_null(strstr(d, "ssh.service"));
	free(d);
	/* without it: no refusal, exit 0 */
	put_under_root("/etc/lifeline/components.d/bad.conf", "[fine]\nmodules = fine\n");
	assert_int_equal(run("components --json", &out), 0);
	o = json_tokener_parse(out);
	assert_true(json_object_object_get_ex(o, "refused", &a));
	assert_int_equal(json_object_array_length(a), 0);
	json_object_put(o);
	free(out);
}

/* plan: level 1 takes the component the panic log names, levels 2 and 3
 * every component, with the files that exist; nothing is changed. */
static void test_plan_shows_each_level_and_changes_nothing(void **state)
{
	json_object *o, *levels, *v;
	char p[8192], *out;
	struct stat st;

	(void)state;
	put_under_root("/etc/lifeline/components.d/badsec.conf",
	               "[badsec]\nmodules = badsec\nunits = badsec.service\n"
	               "files = /opt/badsec/bin/*\n");
	put_under_root("/etc/lifeline/components.d/othersec.conf",
	               "[othersec]\nmodules = othersec\n");
	put_under_root("/opt/badsec/bin/badsecd", "x\n");
	put_under_root("/sys/fs/pstore/dmesg-efi-173237123410001",
	               "Oops#1 Part1\n"
	               "<1>[ 9.1] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	               "<4>[ 9.1] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
	               "<0>[ 9.1] Kernel panic - not syncing: Fatal exception\n");
	assert_int_equal(run("plan --json", &out), 0);
	o = json_tokener_parse(out);
	free(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "levels", &levels));
	assert_int_equal(json_object_array_length(levels), 3);
	for (size_t i = 0; i < 3; i++) {
		json_object *lv = json_object_array_get_idx(levels, i), *comps, *c0, *files;

		assert_true(json_object_object_get_ex(lv, "level", &v));
		assert_int_equal(json_object_get_int(v), (int)i + 1);
		assert_true(json_object_object_get_ex(lv, "components", &comps));
		/* level 1: the panic log's component only; 2 and 3: both (3 may add
		 * the out-of-tree modules of the running kernel) */
		if (i == 0)
			assert_int_equal(json_object_array_length(comps), 1);
		else
			assert_true(json_object_array_length(comps) >= 2);
		c0 = json_object_array_get_idx(comps, 0);
		assert_true(json_object_object_get_ex(c0, "component", &v));
		assert_string_equal(json_object_get_string(v), "badsec");
		assert_true(json_object_object_get_ex(c0, "files", &files));
		assert_int_equal(json_object_array_length(files), 1);
		assert_string_equal(json_object_get_string(json_object_array_get_idx(files, 0)),
		                    "/opt/badsec/bin/badsecd");
	}
	json_object_put(o);
	assert_int_equal(run("plan", &out), 0);
	assert_non_null(strstr(out, "Level 1 (after 6 consecutive failed boots)"));
	free(out);
	/* nothing moved, nothing recorded */
	snprintf(p, sizeof(p), "%s/opt/badsec/bin/badsecd", root);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/var/lib/lifeline", root);
	assert_int_equal(stat(p, &st), -1);
}

/* plan says when level 1 would degrade rather than quarantine: the panic
 * log's RIP in the component's module and a degrade step; only the kernel
 * half is listed, with the edit and the unit it starts. Level 2 takes it
 * whole. */
static void test_plan_shows_a_degrade(void **state)
{
	json_object *o, *levels, *c0, *v;
	char *out;

	(void)state;
	put_under_root("/etc/lifeline/components.d/badsec.conf",
	               "[badsec]\nmodules = badsec\nunits = badsec.service badsecd.service\n"
	               "files = /opt/badsec/bin/*\nkernel_units = badsec.service\n"
	               "degrade_units = badsecd.service\n"
	               "degrade_set = /etc/badsec/badsec.conf sensor.mode user\n");
	put_under_root("/etc/badsec/badsec.conf", "[sensor]\nmode = kernel\n");
	put_under_root("/opt/badsec/bin/badsecd", "x\n");
	put_under_root("/sys/fs/pstore/dmesg-efi-173237123410001",
	               "Oops#1 Part1\n"
	               "<1>[ 9.1] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	               "<4>[ 9.1] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
	               "<0>[ 9.1] Kernel panic - not syncing: Fatal exception\n");
	assert_int_equal(run("plan --json", &out), 0);
	o = json_tokener_parse(out);
	free(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "levels", &levels));
	c0 = json_object_array_get_idx(
	    json_object_object_get(json_object_array_get_idx(levels, 0), "components"), 0);
	assert_true(json_object_get_boolean(json_object_object_get(c0, "degrade")));
	assert_int_equal(json_object_array_length(json_object_object_get(c0, "files")), 0);
	v = json_object_object_get(c0, "degrade_edits");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
	                    "set /etc/badsec/badsec.conf sensor.mode = user");
	v = json_object_object_get(c0, "units");
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
	                    "badsec.service");
	c0 = json_object_array_get_idx(
	    json_object_object_get(json_object_array_get_idx(levels, 1), "components"), 0);
	assert_false(json_object_get_boolean(json_object_object_get(c0, "degrade")));
	assert_int_equal(json_object_array_length(json_object_object_get(c0, "files")), 1);
	json_object_put(o);
	assert_int_equal(run("plan", &out), 0);
	assert_non_null(strstr(
	    out, "badsec: DEGRADED, not quarantined: its kernel part off, it runs in user mode"));
	assert_non_null(strstr(out, "sets:    set /etc/badsec/badsec.conf sensor.mode = user"));
	free(out);
}

/* plan with the escalation bounds of lifeline.conf: repeat_crash says level
 * 1 may come at failure 3; a level above max_level is not used (the boot
 * gives up instead), in the text and in the JSON. */
static void test_plan_shows_repeat_crash_and_max_level(void **state)
{
	json_object *o, *levels, *lv, *v;
	char *out;

	(void)state;
	put_under_root("/etc/lifeline/lifeline.conf",
	               "[boot]\nthreshold = 5\nmax_level = 1\nstore = efi\n");
	put_under_root("/etc/lifeline/components.d/badsec.conf", "[badsec]\nmodules = badsec\n");
	assert_int_equal(run("plan", &out), 0);
	assert_non_null(strstr(out, "Level 1 (after 6 consecutive failed boots, or at failure 3 "
	                            "when the two boots before both crashed at the same place "
	                            "in third-party code (repeat_crash=yes))"));
	assert_non_null(strstr(out, "Level 2: not used (max_level=1): the boot gives up"));
	assert_non_null(strstr(out, "Level 3: not used (max_level=1)"));
	free(out);
	assert_int_equal(run("plan --json", &out), 0);
	o = json_tokener_parse(out);
	free(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "levels", &levels));
	assert_int_equal(json_object_array_length(levels), 3);
	lv = json_object_array_get_idx(levels, 0);
	assert_true(json_object_object_get_ex(lv, "used", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(lv, "repeat_crash_after_failed_boots", &v));
	assert_int_equal(json_object_get_int(v), 3);
	lv = json_object_array_get_idx(levels, 1);
	assert_true(json_object_object_get_ex(lv, "used", &v));
	assert_false(json_object_get_boolean(v));
	json_object_put(o);

	/* repeat_crash = no: level 1 at the threshold only */
	put_under_root("/etc/lifeline/lifeline.conf",
	               "[boot]\nthreshold = 5\nrepeat_crash = no\nstore = efi\n");
	assert_int_equal(run("plan", &out), 0);
	assert_non_null(strstr(out, "Level 1 (after 6 consecutive failed boots):"));
	assert_non_null(strstr(out, "Level 3 (after"));
	free(out);
}

/* status for the person woken at 3 am: after a crash loop the boot is in
 * safe mode with the decision and its evidence; after a clear, still in
 * safe mode, it says the next boot is normal and a reboot is required. */
static void test_status_says_this_and_next_mode_and_reboot_required(void **state)
{
	char run_dir[4200], *out;
	json_object *j, *v, *d;

	(void)state;
	put_under_root("/etc/lifeline/components.d/badsec.conf",
	               "[badsec]\nmodules = badsec\nfiles = /opt/badsec/bin/*\n");
	put_under_root("/opt/badsec/bin/badsecd", "x\n");
	snprintf(run_dir, sizeof(run_dir), "%s/run/lifeline", root);
	for (int boot = 1; boot <= 6; boot++) {
		struct boot_opts o = {.root = root};

		put_under_root("/sys/fs/pstore/dmesg-efi-173237123410001",
		               "Oops#1 Part1\n"
		               "<4>[ 9.1] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
		               "<0>[ 9.1] Kernel panic - not syncing: Fatal exception\n");
		assert_int_equal(boot_phase_init(&o), 0);
		o.run_dir = run_dir;
		assert_int_equal(boot_phase_rootfs(&o), 0);
	}
	assert_int_equal(run("status", &out), 0);
	assert_non_null(strstr(out, "Mode:         safe\n"));
	assert_null(strstr(out, "Reboot:"));
	assert_non_null(strstr(out, "boot #6, escalate by boot\n"));
	assert_non_null(strstr(out, "Evidence:     "));
	assert_non_null(strstr(out, "RIP: 0010:badsec_crash+0x5/0x10 [badsec]"));
	assert_non_null(strstr(out, "Next step:    find the cause"));
	free(out);

	assert_int_equal(run("clear", &out), 0);
	free(out);
	assert_int_equal(run("status", &out), 0);
	assert_non_null(strstr(out, "Mode:         safe now; normal from the next boot\n"));
	assert_non_null(strstr(out, "Reboot:       REQUIRED: the quarantine was cleared"));
	assert_non_null(strstr(out, "clear by lifelinectl\n"));
	assert_non_null(strstr(out, "Quarantined:  nothing\n"));
	assert_non_null(strstr(out, "Next step:    reboot"));
	free(out);

	assert_int_equal(run("status --json", &out), 0);
	j = json_tokener_parse(out);
	free(out);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "version", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(j, "this_boot_mode", &v));
	assert_string_equal(json_object_get_string(v), "safe");
	assert_true(json_object_object_get_ex(j, "next_boot_mode", &v));
	assert_string_equal(json_object_get_string(v), "normal");
	assert_true(json_object_object_get_ex(j, "reboot_required", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(j, "decision", &d));
	assert_true(json_object_object_get_ex(d, "action", &v));
	assert_string_equal(json_object_get_string(v), "clear");
	assert_true(json_object_object_get_ex(d, "time", &v));
	assert_true(json_object_get_int64(v) > 0);
	assert_true(json_object_object_get_ex(j, "next_step", &v));
	assert_non_null(strstr(json_object_get_string(v), "reboot"));
	json_object_put(j);
}

static json_object *history_json(const char *args, int want_exit)
{
	char cmd[256], *out;
	json_object *j;

	snprintf(cmd, sizeof(cmd), "history --json %s", args);
	assert_int_equal(run(cmd, &out), want_exit);
	j = json_tokener_parse(out);
	free(out);
	assert_non_null(j);
	assert_true(json_object_is_type(j, json_type_array));
	return j;
}

static const char *entry_str(json_object *arr, size_t i, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, i), key, &v));
	return json_object_get_string(v);
}

/* lifelinectl history on what the boot phases and lifelinectl itself
 * recorded: text and JSON, --boot, --limit, usage errors, a damaged
 * entry skipped, an unreadable history. */
static void test_history_shows_every_decision(void **state)
{
	char run_dir[4200], p[8192], *out;
	json_object *j;

	(void)state;
	put_under_root("/etc/lifeline/components.d/badsec.conf",
	               "[badsec]\nmodules = badsec\nfiles = /opt/badsec/bin/*\n");
	put_under_root("/etc/lifeline/components.d/othersec.conf",
	               "[othersec]\nmodules = othersec\n");
	put_under_root("/opt/badsec/bin/badsecd", "x\n");
	snprintf(run_dir, sizeof(run_dir), "%s/run/lifeline", root);
	assert_int_equal(run("history", &out), 0);
	assert_non_null(strstr(out, "No decision recorded."));
	free(out);
	for (int boot = 1; boot <= 7; boot++) {
		struct boot_opts o = {.root = root};

		put_under_root(
		    "/sys/fs/pstore/dmesg-efi-173237123410001",
		    "Oops#1 Part1\n"
		    "<1>[ 9.1] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
		    "<4>[ 9.1] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
		    "<0>[ 9.1] Kernel panic - not syncing: Fatal exception\n");
		assert_int_equal(boot_phase_init(&o), 0);
		o.run_dir = run_dir;
		assert_int_equal(boot_phase_rootfs(&o), 0);
	}
	assert_int_equal(run("quarantine othersec", &out), 0);
	free(out);

	assert_int_equal(run("history", &out), 0);
	assert_non_null(strstr(out, "boot #6  escalate by boot: level 1, mode safe\n"));
	assert_non_null(
	    strstr(out, "    reason:     panic log: the crash's RIP is in module badsec"));
	assert_non_null(strstr(out, "RIP: 0010:badsec_crash+0x5/0x10 [badsec]"));
	/* what made the boot escalate: the threshold (repeat_crash = no here) */
	assert_non_null(strstr(out, "    trigger:    threshold\n"));
	assert_non_null(strstr(out, "boot #7  quarantine by lifelinectl: level 1, mode safe\n"));
	free(out);

	j = history_json("", 0);
	assert_int_equal(json_object_array_length(j), 2);
	assert_string_equal(entry_str(j, 0, "action"), "escalate");
	assert_string_equal(entry_str(j, 0, "who"), "boot");
	assert_string_equal(entry_str(j, 0, "trigger"), "threshold");
	assert_string_equal(entry_str(j, 1, "action"), "quarantine");
	assert_string_equal(entry_str(j, 1, "who"), "lifelinectl");
	assert_string_equal(entry_str(j, 1, "boot_seq"), "7");
	json_object_put(j);
	j = history_json("--boot 6", 0);
	assert_int_equal(json_object_array_length(j), 1);
	assert_string_equal(entry_str(j, 0, "action"), "escalate");
	json_object_put(j);
	j = history_json("--limit=1", 0);
	assert_int_equal(json_object_array_length(j), 1);
	assert_string_equal(entry_str(j, 0, "action"), "quarantine");
	json_object_put(j);
	j = history_json("--boot=5", 0);
	assert_int_equal(json_object_array_length(j), 0);
	json_object_put(j);

	assert_int_equal(run("history --limit 0", &out), 2);
	free(out);
	assert_int_equal(run("history --boot", &out), 2);
	free(out);
	assert_int_equal(run("history --boot -1", &out), 2);
	free(out);
	assert_int_equal(run("history extra", &out), 2);
	free(out);
	assert_int_equal(run("history --help", &out), 0);
	assert_non_null(strstr(out, "Usage: lifelinectl [--root=DIR] history [--json]"));
	assert_non_null(strstr(out, "--limit N"));
	assert_non_null(strstr(out, "Exit status:"));
	free(out);

	/* a damaged line (power cut, an edit) is skipped, the rest shown */
	snprintf(p, sizeof(p), "%s/var/lib/lifeline/history", root);
	{
		int fd = open(p, O_WRONLY | O_APPEND);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "0badc0de {\"torn", 15), 15);
		close(fd);
	}
	j = history_json("", 0);
	assert_int_equal(json_object_array_length(j), 2);
	json_object_put(j);

	/* a history that cannot be read: exit 1 */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(run("history", &out), 1);
	free(out);
}

/* lifelinectl quarantine and clear rebuild the record's module list with
 * the boot phases' own computation (agent/decision/blocked-modules): a
 * pattern is resolved against the kernel's module index. (ops had its own
 * copy that dropped patterns.) */
static void test_quarantine_blocks_pattern_modules_like_the_boot(void **state)
{
	struct state_record rec;
	struct utsname u;
	struct boot_opts o = {.root = root};
	char rel[512], *out;
	bool core = false, net = false;

	(void)state;
	assert_int_equal(uname(&u), 0);
	snprintf(rel, sizeof(rel), "/lib/modules/%s/modules.dep", u.release);
	put_under_root(rel, "kernel/fs/ext4/ext4.ko.xz:\n"
	                    "extra/badsec_core.ko:\n"
	                    "updates/dkms/badsec-net.ko.xz: extra/badsec_core.ko\n");
	put_under_root("/etc/lifeline/components.d/badsec.conf",
	               "[badsec]\nmodules = badsec*\nfiles = /opt/badsec/bin/*\n");
	put_under_root("/opt/badsec/bin/badsecd", "#!/bin/sh\n");
	assert_int_equal(boot_phase_init(&o), 0);
	if (run("quarantine badsec", &out) != 0)
		fail_msg("quarantine badsec: %s", out);
	free(out);
	assert_int_equal(tu_record_load(&rec), 0);
	for (unsigned i = 0; i < rec.n_modules; i++) {
		core |= strcmp(rec.modules[i], "badsec_core") == 0;
		net |= strcmp(rec.modules[i], "badsec_net") == 0 ||
		       strcmp(rec.modules[i], "badsec-net") == 0;
	}
	assert_true(core);
	assert_true(net);
	assert_true(rec.n_modules == 2);
	assert_int_equal(run("clear badsec", &out), 0);
	free(out);
	assert_int_equal(tu_record_load(&rec), 0);
	assert_int_equal(rec.n_modules, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_status_json_has_the_documented_keys, setup),
	    cmocka_unit_test_setup(test_usage_errors_exit_2, setup),
	    cmocka_unit_test_setup(test_verb_help_is_the_verbs_own, setup),
	    cmocka_unit_test_setup(test_clear_of_an_unknown_component_is_refused, setup),
	    cmocka_unit_test_setup(test_corrupt_record_exits_3, setup),
	    cmocka_unit_test_setup(test_early_without_efivarfs_falls_back_or_runs_uncounted, setup),
	    cmocka_unit_test_setup(test_status_survives_a_last_good_time_past_year_2_31, setup),
	    cmocka_unit_test_setup(test_bless_refreshes_the_metrics_file, setup),
	    cmocka_unit_test_setup(test_history_shows_every_decision, setup),
	    cmocka_unit_test_setup(test_status_says_this_and_next_mode_and_reboot_required, setup),
	    cmocka_unit_test_setup(test_check_passes_on_a_complete_install, setup),
	    cmocka_unit_test_setup(test_plan_shows_each_level_and_changes_nothing, setup),
	    cmocka_unit_test_setup(test_plan_shows_repeat_crash_and_max_level, setup),
	    cmocka_unit_test_setup(test_check_names_a_bad_config, setup),
	    cmocka_unit_test_setup(test_check_names_a_kernel_without_the_hook, setup),
	    cmocka_unit_test_setup(test_check_names_a_missing_watchdog, setup),
	    cmocka_unit_test_setup(test_check_names_lifelined_not_enabled, setup),
	    cmocka_unit_test_setup(test_status_and_check_say_an_uncounted_boot, setup),
	    cmocka_unit_test_setup(test_status_says_degraded, setup),
	    cmocka_unit_test_setup(test_plan_shows_a_degrade, setup),
	    cmocka_unit_test_setup(test_components_and_check_show_refused_dropins, setup),
	    cmocka_unit_test_setup(test_quarantine_blocks_pattern_modules_like_the_boot, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
