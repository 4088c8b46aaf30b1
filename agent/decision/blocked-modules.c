/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one computation of the blocked-module list (blocked-modules.h) and
 * the kernel's module index it resolves patterns against.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "agent/decision/blocked-modules.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

void module_index_done(struct module_index *idx)
{
	strv_free(idx->names);
	strv_free(idx->in_tree);
	memset(idx, 0, sizeof(*idx));
}

/* "kernel/fs/ext4/ext4.ko.xz: ..." -> "ext4", and whether it is in-tree. */
static int add_path(struct module_index *idx, const char *path, size_t len, bool builtin)
{
	char name[MODULE_NAME_MAX + 1];
	const char *base = path, *dot;
	size_t n;

	for (const char *p = path; p < path + len; p++)
		if (*p == '/')
			base = p + 1;
	dot = memchr(base, '.', (size_t)(path + len - base));
	if (!dot || strncmp(dot, ".ko", 3) != 0)
		return 0;
	n = (size_t)(dot - base);
	if (n == 0 || n > MODULE_NAME_MAX)
		return 0;
	memcpy(name, base, n);
	name[n] = 0;
	module_name_normalize(name);
	if (!module_name_is_valid(name, false))
		return 0;
	if (!strv_contains(idx->names, name) && strv_extend(&idx->names, name) < 0)
		return -ENOMEM;
	if ((builtin || (len > 7 && strncmp(path, "kernel/", 7) == 0)) &&
	    !strv_contains(idx->in_tree, name) && strv_extend(&idx->in_tree, name) < 0)
		return -ENOMEM;
	return 0;
}

static int read_index(struct module_index *idx, const char *dir, const char *file, bool builtin)
{
	_cleanup_free_ char *p = path_join(dir, file), *text = NULL;
	char *line, *save = NULL;
	int r;

	if (!p)
		return -ENOMEM;
	r = read_full_file(p, 64 * 1024 * 1024, &text, NULL);
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = builtin ? strlen(line) : strcspn(line, ":");

		r = add_path(idx, line, len, builtin);
		if (r < 0)
			return r;
	}
	return 0;
}

int module_index_load(const char *root, const char *kver, struct module_index *ret)
{
	static const char *const bases[] = {"/lib/modules", "/usr/lib/modules"};
	struct module_index idx = {0};
	struct utsname u;
	int r = -ENOENT;

	if (!kver) {
		if (uname(&u) < 0)
			return -errno;
		kver = u.release;
	}
	for (size_t i = 0; i < ELEMENTSOF(bases) && r == -ENOENT; i++) {
		_cleanup_free_ char *rel = NULL, *dir = NULL;

		if (asprintf(&rel, "%s/%s", bases[i], kver) < 0)
			return -ENOMEM;
		dir = path_under_root(root, rel);
		if (!dir)
			return -ENOMEM;
		r = read_index(&idx, dir, "modules.dep", false);
		if (r >= 0) {
			int b = read_index(&idx, dir, "modules.builtin", true);
			if (b == -ENOMEM)
				r = b;
		}
	}
	if (r == -ENOMEM) {
		module_index_done(&idx);
		return r;
	}
	idx.loaded = r >= 0;
	*ret = idx;
	return 0;
}

bool module_index_in_tree(const struct module_index *idx, const char *name)
{
	char n[MODULE_NAME_MAX + 1];
	size_t len = strlen(name);

	if (!idx || len > MODULE_NAME_MAX)
		return false;
	memcpy(n, name, len + 1); /* len <= MODULE_NAME_MAX: fits */
	module_name_normalize(n);
	return strv_contains(idx->in_tree, n);
}

static int add_one(char ***l, const char *name, const struct module_index *idx, const char *why)
{
	char n[MODULE_NAME_MAX + 1];
	size_t len = strlen(name);

	if (len > MODULE_NAME_MAX || !module_name_is_valid(name, false))
		return 0;
	memcpy(n, name, len + 1); /* len <= MODULE_NAME_MAX: fits */
	module_name_normalize(n);
	if (module_index_in_tree(idx, n)) {
		log_warning("module %s (%s) is part of the kernel's own tree: never blocked", n,
		            why);
		return 0;
	}
	if (strv_contains(*l, n))
		return 0;
	return strv_extend(l, n);
}

int blocked_modules_add_component(const struct component *c, const struct module_index *idx,
                                  char ***l)
{
	int r;

	STRV_FOREACH (m, c->modules) {
		if (!strpbrk(*m, "*?[")) {
			r = add_one(l, *m, idx, c->id);
			if (r < 0)
				return r;
			continue;
		}
		STRV_FOREACH (k, idx ? idx->names : NULL)
			if (module_name_match(*m, *k) && !module_index_in_tree(idx, *k) &&
			    !strv_contains(*l, *k) && strv_extend(l, *k) < 0)
				return -ENOMEM;
	}
	return 0;
}

int blocked_modules(const struct component_set *set, const struct quarantine_entry *active,
                    unsigned n_active, char **extra, const struct module_index *idx, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	int r;

	for (unsigned i = 0; i < n_active; i++) {
		const struct component *c = set ? components_find(set, active[i].id) : NULL;

		if (c && (r = blocked_modules_add_component(c, idx, &l)) < 0)
			return r;
	}
	STRV_FOREACH (m, extra)
		if ((r = add_one(&l, *m, idx, "level 3")) < 0)
			return r;
	*ret = TAKE_PTR(l);
	return 0;
}
