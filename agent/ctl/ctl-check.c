/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl check: is lifeline installed so that it can work here? Each
 * check says ok or the problem, in words an administrator acts on:
 *
 *   config      lifeline.conf parses (absent is fine: defaults)
 *   components  every drop-in of components.d loads
 *   protected   no component was refused for naming a protected module,
 *               unit or path (one problem per refusal, with FILE:LINE)
 *   initramfs   every installed kernel (/boot/vmlinuz-VER) has an image
 *               (/boot/initrd.img-VER) that carries lifeline-early
 *   watchdog    a watchdog device (/dev/watchdog*, /sys/class/watchdog)
 *   store       the state store opens, its record reads (or there is none
 *               yet) and it is writable
 *   lifelined   lifelined.service is enabled (multi-user.target.wants)
 *
 * Everything is read under --root; nothing is changed. An image's cpio is
 * read here when it is not compressed; a compressed one is listed with
 * lsinitramfs (initramfs-tools) or lsinitrd (dracut).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/ctl/ctl-internal.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"

/* Where the initramfs hooks put lifeline-early in an image. */
#define EARLY_IN_IMAGE "usr/lib/lifeline/lifeline-early"
#define UNIT_WANTS     "/etc/systemd/system/multi-user.target.wants/lifelined.service"

struct check {
	char *name;
	bool ok;
	char *detail;
};

struct checks {
	struct check *items;
	size_t n;
	unsigned problems;
};

static void checks_done(struct checks *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].name);
		free(c->items[i].detail);
	}
	free(c->items);
}

_printf_(4, 5) static void add(struct checks *c, const char *name, bool ok, const char *fmt, ...)
{
	struct check *n = reallocarray(c->items, c->n + 1, sizeof(*c->items));
	va_list ap;
	char *d = NULL;

	if (!n)
		return;
	c->items = n;
	va_start(ap, fmt);
	if (vasprintf(&d, fmt, ap) < 0)
		d = NULL;
	va_end(ap);
	c->items[c->n++] = (struct check){.name = strdup(name), .ok = ok, .detail = d};
	if (!ok)
		c->problems++;
}

static void check_config(const char *root, struct checks *c, struct lifeline_config *cfg)
{
	int r = config_load(root, cfg);

	if (r == 0)
		add(c, "config", true, "/etc/lifeline/lifeline.conf (or its defaults)");
	else if (r == -EINVAL)
		add(c, "config", false,
		    "/etc/lifeline/lifeline.conf has bad values or syntax errors (logged above); "
		    "each bad key keeps its default");
	else
		add(c, "config", false, "/etc/lifeline/lifeline.conf cannot be read: %s",
		    strerror(-r));
}

static void check_components(const char *root, struct checks *c)
{
	struct component_set set = {0};
	unsigned problems = 0, conflicts = 0;
	int r = components_load(root, &set, &problems);

	if (r < 0) {
		add(c, "components", false, "/etc/lifeline/components.d cannot be listed: %s",
		    strerror(-r));
		return;
	}
	if (problems > 0)
		add(c, "components", false,
		    "%u problem(s) in /etc/lifeline/components.d (logged above): those "
		    "components are left out and never quarantined",
		    problems);
	else
		add(c, "components", true, "%zu component(s) configured", set.n);
	for (size_t i = 0; i < set.n_refused; i++) {
		const struct component_refusal *f = &set.refused[i];

		add(c, "protected", false,
		    "%s:%u: component %s is left out: it names \"%s\", which is protected (%s)",
		    f->file, f->line, f->id, f->what, f->reason);
		conflicts++;
	}
	if (conflicts == 0)
		add(c, "protected", true, "no component names a protected module, unit or path");
	components_done(&set);
}

static uint32_t hex8(const char *p)
{
	char b[9];

	memcpy(b, p, 8);
	b[8] = 0;
	return (uint32_t)strtoul(b, NULL, 16);
}

/* Looks for EARLY_IN_IMAGE in the uncompressed newc cpio archives at the
 * start of f (an early microcode archive often comes first). 1 found,
 * 0 not found and nothing else follows, -EMEDIUMTYPE a part that is not
 * an uncompressed cpio follows (compressed), or -errno. */
static int cpio_find(FILE *f)
{
	char h[110], name[4096];

	for (;;) {
		uint32_t namesize, filesize;
		long pad;
		int ch;

		/* archives are padded with zeros between them */
		while ((ch = fgetc(f)) == 0)
			;
		if (ch == EOF)
			return 0;
		h[0] = (char)ch;
		if (fread(h + 1, 1, sizeof(h) - 1, f) != sizeof(h) - 1)
			return h[0] == '0' ? -EBADMSG : -EMEDIUMTYPE;
		if (memcmp(h, "070701", 6) != 0 && memcmp(h, "070702", 6) != 0)
			return -EMEDIUMTYPE;
		filesize = hex8(h + 6 + 6 * 8);
		namesize = hex8(h + 6 + 11 * 8);
		if (namesize == 0 || namesize > sizeof(name))
			return -EBADMSG;
		if (fread(name, 1, namesize, f) != namesize)
			return -EBADMSG;
		name[namesize - 1] = 0;
		pad = (long)((4 - (110 + namesize) % 4) % 4);
		if (fseek(f, pad, SEEK_CUR) < 0)
			return -errno;
		if (streq(name, EARLY_IN_IMAGE) || streq(name, "/" EARLY_IN_IMAGE) ||
		    streq(name, "./" EARLY_IN_IMAGE))
			return 1;
		if (fseek(f, (long)filesize + (long)((4 - filesize % 4) % 4), SEEK_CUR) < 0)
			return -errno;
	}
}

/* Lists image with tool (lsinitramfs, lsinitrd) and looks for
 * EARLY_IN_IMAGE: 1 found, 0 not, -ENOENT no such tool, -errno. */
static int list_find(const char *tool, const char *image)
{
	int p[2], st, found = 0;
	char line[4096];
	pid_t pid;
	FILE *f;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(126);
		if (null >= 0)
			(void)dup2(null, STDERR_FILENO);
		execlp(tool, tool, image, (char *)NULL);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f) {
		close(p[0]);
		(void)waitpid(pid, &st, 0);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *n = line;

		line[strcspn(line, "\n")] = 0;
		n += strspn(n, "./");
		if (streq(n, EARLY_IN_IMAGE) || strstr(line, " " EARLY_IN_IMAGE) ||
		    strstr(line, " ./" EARLY_IN_IMAGE))
			found = 1;
	}
	fclose(f);
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -ENOENT;
	if (!found && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		return -EIO;
	return found;
}

/* 1 when image carries lifeline-early, 0 not, -errno cannot tell. */
static int image_has_early(const char *image)
{
	FILE *f = fopen(image, "re");
	int r;

	if (!f)
		return -errno;
	r = cpio_find(f);
	fclose(f);
	if (r != -EMEDIUMTYPE)
		return r;
	r = list_find("lsinitramfs", image);
	if (r == -ENOENT)
		r = list_find("lsinitrd", image);
	return r == -ENOENT ? -ENOPKG : r;
}

static void check_initramfs(const char *root, struct checks *c)
{
	_cleanup_free_ char *boot = path_under_root(root, "/boot");
	_cleanup_strv_free_ char **kernels = NULL;
	unsigned bad = 0;
	DIR *d;
	struct dirent *de;

	if (!boot)
		return;
	d = opendir(boot);
	if (d) {
		while ((de = readdir(d)))
			if (strncmp(de->d_name, "vmlinuz-", 8) == 0 && de->d_name[8])
				(void)strv_extend(&kernels, de->d_name + 8);
		closedir(d);
	}
	if (!kernels) {
		add(c, "initramfs", false, "no installed kernel found (/boot/vmlinuz-*)");
		return;
	}
	strv_sort_uniq(kernels);
	STRV_FOREACH (k, kernels) {
		_cleanup_free_ char *image = NULL;
		int r;

		if (asprintf(&image, "%s/initrd.img-%s", boot, *k) < 0)
			return;
		if (access(image, F_OK) < 0) {
			add(c, "initramfs", false,
			    "kernel %s has no initramfs /boot/initrd.img-%s: the next boot of it "
			    "is "
			    "not counted (update-initramfs -c -k %s)",
			    *k, *k, *k);
			bad++;
			continue;
		}
		r = image_has_early(image);
		if (r == 0) {
			add(c, "initramfs", false,
			    "/boot/initrd.img-%s does not carry lifeline-early: boots of kernel %s "
			    "are not counted and arm no watchdog (update-initramfs -u -k %s)",
			    *k, *k, *k);
			bad++;
		} else if (r < 0) {
			add(c, "initramfs", false, "/boot/initrd.img-%s cannot be inspected: %s",
			    *k,
			    r == -ENOPKG ? "compressed, and neither lsinitramfs nor lsinitrd is "
			                   "installed"
			                 : strerror(-r));
			bad++;
		}
	}
	if (bad == 0)
		add(c, "initramfs", true, "%zu kernel(s), every initramfs carries lifeline-early",
		    strv_length(kernels));
}

static void check_watchdog(const char *root, struct checks *c)
{
	static const char *const devs[] = {"/dev/watchdog", "/dev/watchdog0"};
	_cleanup_free_ char *cls = path_under_root(root, "/sys/class/watchdog");
	DIR *d;
	struct dirent *de;

	for (size_t i = 0; i < ELEMENTSOF(devs); i++) {
		_cleanup_free_ char *p = path_under_root(root, devs[i]);

		if (p && access(p, F_OK) == 0) {
			add(c, "watchdog", true, "%s", devs[i]);
			return;
		}
	}
	d = cls ? opendir(cls) : NULL;
	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.') {
				add(c, "watchdog", true, "/sys/class/watchdog/%s", de->d_name);
				closedir(d);
				return;
			}
		closedir(d);
	}
	add(c, "watchdog", false,
	    "no watchdog device (/dev/watchdog, /sys/class/watchdog): a hung boot is never "
	    "counted as failed; load a watchdog driver (softdog at least)");
}

static void check_store(struct checks *c, const struct lifeline_config *cfg)
{
	_cleanup_free_ char *why = NULL, *dir = NULL;
	struct store *store = NULL;
	struct state_record rec;
	const char *efivars;
	int r;

	r = config_open_store(cfg, &store, &why);
	if (r < 0) {
		add(c, "store", false, "no state store: %s%s%s", why ? why : "",
		    why ? "; file store: " : "", strerror(-r));
		return;
	}
	r = store_load(store, &rec);
	if (r < 0 && r != -ENOENT) {
		add(c, "store", false,
		    "%s store: the record is unreadable: %s ('lifelinectl reset')",
		    store_kind_to_string(store->kind), state_record_strerror(r));
		goto out;
	}
	if (store->kind == STORE_KIND_FILE) {
		dir = strdup(store->file_path);
		if (dir && strrchr(dir, '/'))
			*strrchr(dir, '/') = 0;
	} else {
		efivars = getenv("EFIVARFS_PATH");
		dir = strdup(efivars && *efivars ? efivars : "/sys/firmware/efi/efivars");
	}
	if (dir && access(*dir ? dir : "/", W_OK) < 0)
		add(c, "store", false, "%s store: %s is not writable: %s",
		    store_kind_to_string(store->kind), dir, strerror(errno));
	else
		add(c, "store", true, "%s store%s, writable", store_kind_to_string(store->kind),
		    r == -ENOENT ? " (no record yet)" : "");
out:
	store_free(store);
}

/* Whether lifeline-early counted this boot (its runstate, /run/lifeline/
 * state). The store the running system reaches says nothing about that:
 * on a machine without EFI variables the file store is on a disk the
 * initramfs may not see when lifeline-early runs, and every boot then
 * goes uncounted while the store checks fine from here. */
static void check_counting(const char *root, struct checks *c)
{
	_cleanup_free_ char *p = path_under_root(root, RUNSTATE_FILE);
	struct runstate rs;
	int r;

	if (!p) {
		add(c, "counting", false, "out of memory");
		return;
	}
	runstate_init(&rs);
	r = runstate_read(p, &rs);
	if (r == -ENOENT)
		add(c, "counting", true,
		    "not known for this boot: lifeline-early did not run in it (no %s; installed "
		    "since, or an initramfs without it); the initramfs check above is for the "
		    "next boot",
		    RUNSTATE_FILE);
	else if (r < 0)
		add(c, "counting", false, "%s cannot be read: %s", RUNSTATE_FILE, strerror(-r));
	else if (runstate_uncounted(&rs))
		add(c, "counting", false,
		    "this boot was NOT counted by lifeline-early: %s; a crash loop is not noticed "
		    "while this lasts%s",
		    rs.error ? rs.error : "no reason recorded",
		    streq_ptr(rs.store, "file") || !rs.store
		        ? " (without EFI variables the record is in the file store, which "
		          "lifeline-early must find from the initramfs: lifeline.conf(5), "
		          "state_file)"
		        : "");
	else
		add(c, "counting", true,
		    "this boot was counted by lifeline-early (boot #%u, %s store)", rs.boot_seq,
		    strempty(rs.store));
	runstate_done(&rs);
}

static void check_enabled(const char *root, struct checks *c)
{
	_cleanup_free_ char *p = path_under_root(root, UNIT_WANTS);
	struct stat st;

	if (p && lstat(p, &st) == 0)
		add(c, "lifelined", true, "lifelined.service is enabled");
	else
		add(c, "lifelined", false,
		    "lifelined.service is not enabled: no boot is ever blessed, so every boot "
		    "counts as failed (systemctl enable lifelined.service)");
}

int ctl_check(const struct ctl_ctx *ctx)
{
	struct lifeline_config cfg;
	struct checks c = {0};
	unsigned problems;

	config_init_defaults(&cfg);
	check_config(ctx->root, &c, &cfg);
	check_components(ctx->root, &c);
	check_initramfs(ctx->root, &c);
	check_watchdog(ctx->root, &c);
	check_store(&c, &cfg);
	check_counting(ctx->root, &c);
	check_enabled(ctx->root, &c);

	if (ctx->json) {
		_cleanup_(json_object_putp) json_object *o = json_object_new_object();
		json_object *a = json_object_new_array();

		json_object_object_add(o, "version", json_object_new_int(1));
		json_object_object_add(o, "ok", json_object_new_boolean(c.problems == 0));
		json_object_object_add(o, "problems", json_object_new_int((int)c.problems));
		for (size_t i = 0; i < c.n; i++) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "check", json_object_new_string(c.items[i].name));
			json_object_object_add(e, "ok", json_object_new_boolean(c.items[i].ok));
			json_object_object_add(e, "detail",
			                       json_object_new_string(strempty(c.items[i].detail)));
			json_object_array_add(a, e);
		}
		json_object_object_add(o, "checks", a);
		puts(json_object_to_json_string_ext(o, CTL_JSON_FLAGS));
	} else {
		for (size_t i = 0; i < c.n; i++)
			printf("%-11s %-8s %s\n", c.items[i].name, c.items[i].ok ? "ok" : "PROBLEM",
			       strempty(c.items[i].detail));
		if (c.problems > 0)
			printf("\n%u problem(s): lifeline may not protect this machine.\n",
			       c.problems);
		else
			printf("\nEverything lifeline needs is in place.\n");
	}
	problems = c.problems;
	checks_done(&c);
	config_done(&cfg);
	return problems > 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}
