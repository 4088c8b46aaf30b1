/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the protected set comes from (protected.h): dpkg's database (the
 * essential and required packages' files), the installed kernels' module
 * indexes (in-tree names, dependencies), the configuration's keep_units;
 * and the building of the set from them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/conf/config.h"
#include "agent/conf/names.h"
#include "agent/conf/protected-internal.h"
#include "agent/conf/protected.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* A growing NULL-terminated list: the sources hold thousands of names,
 * where appending with strv_extend() (a length scan each time) and
 * deduplicating with strv_contains() would be quadratic. */
struct vec {
	char **v;
	size_t n, alloc;
};

static int vec_push(struct vec *x, char *s)
{
	if (!s)
		return -ENOMEM;
	if (x->n + 2 > x->alloc) {
		size_t na = x->alloc ? x->alloc * 2 : 256;
		char **n = realloc(x->v, na * sizeof(char *));

		if (!n) {
			free(s);
			return -ENOMEM;
		}
		x->v = n;
		x->alloc = na;
	}
	x->v[x->n++] = s;
	x->v[x->n] = NULL;
	return 0;
}

/* Hands the list over as a strv (sorted, without duplicates). */
static char **vec_take_sorted(struct vec *x)
{
	char **v = x->v;

	strv_sort_uniq(v);
	*x = (struct vec){0};
	return v;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool protected_sorted_contains(char **l, const char *s)
{
	size_t n = strv_length(l);

	return n > 0 && bsearch(&s, l, n, sizeof(char *), cmp_str) != NULL;
}

/* dpkg's status file: stanzas separated by empty lines; "Package:",
 * "Essential: yes", "Priority: required", "Status: install ok installed". */
static int dpkg_protected_packages(const char *text, char ***ret)
{
	char **pkgs = NULL;
	char name[256] = "";
	bool essential = false, installed = false;
	int r = 0;

	for (const char *l = text;; l += strcspn(l, "\n") + 1) {
		size_t n = strcspn(l, "\n");

		if (n == 0) {
			if (*name && essential && installed && !strv_contains(pkgs, name)) {
				r = strv_extend(&pkgs, name);
				if (r < 0)
					break;
			}
			name[0] = 0;
			essential = installed = false;
			if (!*l)
				break;
			continue;
		}
		if (n > 9 && strncmp(l, "Package: ", 9) == 0 && n - 9 < sizeof(name)) {
			memcpy(name, l + 9, n - 9);
			name[n - 9] = 0;
		} else if ((n == 14 && strncmp(l, "Essential: yes", 14) == 0) ||
		           (n == 18 && strncmp(l, "Priority: required", 18) == 0))
			essential = true;
		else if (n >= 8 && strncmp(l, "Status: ", 8) == 0)
			installed =
			    n >= 17 && strncmp(l + n - 9, "installed", 9) == 0 && l[n - 10] == ' ';
		if (!l[n])
			break;
	}
	/* the last stanza without a trailing empty line */
	if (r >= 0 && *name && essential && installed && !strv_contains(pkgs, name))
		r = strv_extend(&pkgs, name);
	if (r < 0) {
		strv_free(pkgs);
		return r;
	}
	*ret = pkgs;
	return 0;
}

static bool package_name_ok(const char *n)
{
	/* Debian policy: [a-z0-9+.-] */
	if (!*n || strlen(n) > 200)
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+.-", *p)))
			return false;
	return true;
}

static int add_list_file(const char *path, struct vec *files)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = read_full_file(path, 16 * 1024 * 1024, &text, NULL);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	for (char *l = text, *nl; l && *l; l = nl) {
		nl = strchr(l, '\n');
		if (nl)
			*nl++ = 0;
		if (l[0] != '/' || streq(l, "/."))
			continue;
		r = vec_push(files, strdup(l));
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_package_files(const char *root, struct vec *files)
{
	_cleanup_free_ char *status = path_under_root(root, "/var/lib/dpkg/status");
	_cleanup_free_ char *info = path_under_root(root, "/var/lib/dpkg/info");
	_cleanup_free_ char *text = NULL;
	_cleanup_strv_free_ char **pkgs = NULL;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!status || !info)
		return -ENOMEM;
	r = read_full_file(status, 256 * 1024 * 1024, &text, NULL);
	if (r < 0) {
		log_debug_errno(r, "No dpkg status at %s (%m): no package files protected", status);
		return r == -ENOMEM ? r : 0;
	}
	r = dpkg_protected_packages(text, &pkgs);
	if (r < 0)
		return r;
	/* <pkg>.list, or <pkg>:<arch>.list for a Multi-Arch: same package:
	 * one pass over the folder finds both */
	d = opendir(info);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_free_ char *pkg = NULL, *list = NULL;
		size_t n = strlen(de->d_name);

		if (n <= 5 || !streq(de->d_name + n - 5, ".list"))
			continue;
		pkg = strndup(de->d_name, MIN(n - 5, strcspn(de->d_name, ":")));
		if (!pkg || !package_name_ok(pkg) || !strv_contains(pkgs, pkg))
			continue;
		list = path_join(info, de->d_name);
		r = list ? add_list_file(list, files) : -ENOMEM;
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;
	return 0;
}

char *protected_module_name_of(const char *path)
{
	const char *base = strrchr(path, '/');
	char *name, *ko;

	name = strdup(base ? base + 1 : path);
	if (!name)
		return NULL;
	ko = strstr(name, ".ko");
	if (ko)
		*ko = 0;
	return module_name_normalize(name);
}

/* The installed kernels' names under <root>/lib/modules and /usr/lib/modules. */
static int kernels(const char *root, char ***ret)
{
	static const char *const bases[] = {"/lib/modules", "/usr/lib/modules"};
	char **k = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
		_cleanup_free_ char *dir = path_under_root(root, bases[i]);
		struct dirent *de;
		DIR *d;

		if (!dir) {
			strv_free(k);
			return -ENOMEM;
		}
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' && !strv_contains(k, de->d_name) &&
			    strv_extend(&k, de->d_name) < 0) {
				closedir(d);
				strv_free(k);
				return -ENOMEM;
			}
		closedir(d);
	}
	*ret = k;
	return 0;
}

/* Reads modules.dep (and modules.builtin) of every installed kernel:
 * in-tree names into *intree; every "module: deps" line into *deps as
 * "name dep1 dep2 ..." for the drivers' closure. */
static int load_module_indexes(const char *root, struct vec *intree, struct vec *deps)
{
	_cleanup_strv_free_ char **kv = NULL;
	int r;

	r = kernels(root, &kv);
	if (r < 0)
		return r;
	STRV_FOREACH (k, kv) {
		static const char *const files[] = {"modules.dep", "modules.builtin"};

		for (size_t f = 0; f < ELEMENTSOF(files); f++) {
			_cleanup_free_ char *path = NULL, *rel = NULL, *text = NULL;

			if (asprintf(&rel, "/lib/modules/%s/%s", *k, files[f]) < 0)
				return -ENOMEM;
			path = path_under_root(root, rel);
			if (!path)
				return -ENOMEM;
			r = read_full_file(path, 64 * 1024 * 1024, &text, NULL);
			if (r == -ENOENT) {
				free(path);
				path = NULL;
				if (asprintf(&path, "%s/usr%s", root && *root ? root : "", rel) < 0)
					return -ENOMEM;
				r = read_full_file(path, 64 * 1024 * 1024, &text, NULL);
			}
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				continue;
			for (char *l = text, *nl; l && *l; l = nl) {
				_cleanup_free_ char *name = NULL, *line = NULL;
				char *colon;

				nl = strchr(l, '\n');
				if (nl)
					*nl++ = 0;
				colon = strchr(l, ':');
				if (colon)
					*colon = 0;
				name = protected_module_name_of(l);
				if (!name)
					return -ENOMEM;
				if (!module_name_is_valid(name, false))
					continue;
				if (strncmp(l, "kernel/", 7) == 0) {
					r = vec_push(intree, strdup(name));
					if (r < 0)
						return r;
				}
				if (!colon || !deps)
					continue;
				line = strdup(name);
				for (char *d = colon + 1; line && *d;) {
					size_t n;
					_cleanup_free_ char *dp = NULL, *dn = NULL;
					char *nline = NULL;

					d += strspn(d, " \t");
					n = strcspn(d, " \t");
					if (n == 0)
						break;
					dp = strndup(d, n);
					dn = dp ? protected_module_name_of(dp) : NULL;
					if (!dn || asprintf(&nline, "%s %s", line, dn) < 0) {
						free(line);
						return -ENOMEM;
					}
					free(line);
					line = nline;
					d += n;
				}
				if (!line)
					return -ENOMEM;
				r = vec_push(deps, TAKE_PTR(line));
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

/* Adds each driver's dependencies (modules.dep), transitively. */
static int close_over_deps(char ***drivers, char ***why, char **deps)
{
	for (size_t i = 0; i < strv_length(*drivers); i++)
		STRV_FOREACH (d, deps) {
			size_t n = strcspn(*d, " ");
			const char *rest = *d + n;

			if (strlen((*drivers)[i]) != n || strncmp(*d, (*drivers)[i], n) != 0)
				continue;
			while (*rest) {
				char dep[MODULE_NAME_MAX + 1];
				size_t k;
				char *w = NULL;
				int r;

				rest += strspn(rest, " ");
				k = strcspn(rest, " ");
				if (k == 0)
					break;
				if (k <= MODULE_NAME_MAX) {
					memcpy(dep, rest, k);
					dep[k] = 0;
					if (!strv_contains(*drivers, dep)) {
						if (asprintf(&w, "needed by %s (%s)", (*drivers)[i],
						             (*why)[i]) < 0)
							return -ENOMEM;
						r = strv_extend(drivers, dep);
						if (r >= 0)
							r = strv_consume(why, w);
						else
							free(w);
						if (r < 0)
							return r;
					}
				}
				rest += k;
			}
		}
	return 0;
}

/* [safe-mode] keep_units of the configuration, read quietly. */
static int config_keep_units(const char *root, char ***ret)
{
	struct lifeline_config c;
	int level = log_get_max_level();

	config_init_defaults(&c);
	log_set_max_level(LOG_LVL_ERR - 1); /* its loader tells of its errors itself */
	(void)config_load(root, &c);
	log_set_max_level(level);
	*ret = TAKE_PTR(c.keep_units);
	config_done(&c);
	return 0;
}

unsigned long long protected_status_key(const char *root)
{
	_cleanup_free_ char *status = path_under_root(root, "/var/lib/dpkg/status");
	_cleanup_strv_free_ char **kv = NULL;
	struct stat st = {0};

	if (status)
		(void)stat(status, &st);
	(void)kernels(root, &kv);
	return (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
	       (unsigned long long)st.st_mtim.tv_nsec + (unsigned long long)st.st_size * 31 +
	       (unsigned long long)st.st_ino * 131 + strv_length(kv);
}

int protected_set_load(const char *root, char **keep_units, struct protected_set *ret)
{
	struct protected_set p = {0};
	struct vec files = {0}, intree = {0}, deps = {0};
	int r;

	if (root && *root && !streq(root, "/")) {
		p.root = strdup(root);
		if (!p.root)
			return -ENOMEM;
	}
	p.status_key = protected_status_key(root);
	r = load_package_files(root, &files);
	if (r >= 0)
		r = load_module_indexes(root, &intree, &deps);
	p.files = vec_take_sorted(&files);
	p.modules = vec_take_sorted(&intree);
	if (r >= 0)
		r = protected_machine_drivers(root, &p.drivers, &p.driver_why);
	if (r >= 0)
		r = close_over_deps(&p.drivers, &p.driver_why, deps.v);
	strv_free(deps.v);
	if (r >= 0)
		r = keep_units ? ((p.keep_units = strv_copy(keep_units)) ? 0 : -ENOMEM)
		               : config_keep_units(root, &p.keep_units);
	if (r < 0) {
		protected_set_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

void protected_set_done(struct protected_set *p)
{
	if (!p)
		return;
	free(p->root);
	strv_free(p->files);
	strv_free(p->modules);
	strv_free(p->drivers);
	strv_free(p->driver_why);
	strv_free(p->keep_units);
	*p = (struct protected_set){0};
}
