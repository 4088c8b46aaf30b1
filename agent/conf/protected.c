/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The protected set (protected.h): the static lists, the queries, and the
 * per-process cache. The set is built from its sources in
 * protected-sources.c; the machine's own boot and reach drivers are found
 * in protected-drivers.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf/config.h"
#include "agent/conf/glob-walk.h"
#include "agent/conf/names.h"
#include "agent/conf/protected-internal.h"
#include "agent/conf/protected.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* Paths: a pattern, and whether everything below it is protected too. */
struct ppath {
	const char *pattern;
	bool tree;
	const char *why;
};

#define OWN    "lifeline's own files"
#define IDENT  "the OS identity and access"
#define KERNEL "the kernel's own modules"

static const struct ppath static_paths[] = {
    {"/etc/lifeline", true, OWN},
    {"/usr/lib/lifeline", true, OWN},
    {"/var/lib/lifeline", true, OWN},
    {"/usr/sbin/lifeline*", false, OWN},
    {"/usr/bin/lifeline*", false, OWN},
    {"/usr/local/sbin/lifeline*", false, OWN},
    {"/usr/local/bin/lifeline*", false, OWN},
    {"/usr/lib/systemd/system-generators/lifeline*", false, OWN},
    {"/usr/share/initramfs-tools/hooks/lifeline*", false, OWN},
    {"/usr/share/initramfs-tools/scripts/*/lifeline*", false, OWN},
    {"/etc/initramfs-tools/hooks/lifeline*", false, OWN},
    {"/etc/initramfs-tools/scripts/*/lifeline*", false, OWN},
    {"/etc/passwd", false, IDENT},
    {"/etc/shadow", false, IDENT},
    {"/etc/group", false, IDENT},
    {"/etc/gshadow", false, IDENT},
    {"/etc/machine-id", false, IDENT},
    {"/etc/fstab", false, IDENT},
    {"/etc/crypttab", false, IDENT},
    {"/etc/hostname", false, IDENT},
    {"/etc/hosts", false, IDENT},
    {"/etc/os-release", false, IDENT},
    {"/usr/lib/os-release", false, IDENT},
    {"/etc/nsswitch.conf", false, IDENT},
    {"/etc/resolv.conf", false, IDENT},
    {"/etc/sudoers", false, IDENT},
    {"/etc/ssh", true, IDENT},
    {"/etc/pam.d", true, IDENT},
    {"/etc/network", true, IDENT},
    {"/etc/NetworkManager", true, IDENT},
    {"/etc/systemd/network", true, IDENT},
    {"/boot", true, IDENT},
    {"/efi", true, IDENT},
    {"/usr/lib/modules/*/kernel", true, KERNEL},
    {"/usr/lib/modules/*/modules.*", false, KERNEL},
};

/* Units that keep the machine booting, reachable and manageable. */
static const char *const static_units[] = {
    /* systemd's own (systemd.special(7)); not every target: vendors
     * ship their own (falco.target) */
    "systemd-*",
    "init.scope",
    "-.slice",
    "system.slice",
    "user*.slice",
    "machine.slice",
    "*.device",
    "*.swap",
    "-.mount",
    "boot*.mount",
    "efi.mount",
    "usr.mount",
    "var.mount",
    "basic.target",
    "default.target",
    "emergency.target",
    "rescue.target",
    "multi-user.target",
    "graphical.target",
    "sysinit.target",
    "local-fs*.target",
    "remote-fs*.target",
    "network*.target",
    "nss-*.target",
    "sockets.target",
    "timers.target",
    "paths.target",
    "slices.target",
    "swap.target",
    "getty*.target",
    "shutdown.target",
    "reboot.target",
    "poweroff.target",
    "halt.target",
    "kexec.target",
    "final.target",
    "umount.target",
    "initrd*.target",
    "cryptsetup*.target",
    "time-*.target",
    "ctrl-alt-del.target",
    "system-update*.target",
    "getty@.service",
    "serial-getty@.service",
    "user@.service",
    /* the message bus, networking, remote access */
    "dbus*",
    "networking.service",
    "ifup@.service",
    "ifupdown*",
    "NetworkManager*",
    "ssh.service",
    "ssh@.service",
    "ssh.socket",
    "sshd.service",
    "sshd@.service",
    "sshd.socket",
    /* lifeline itself */
    "lifeline*",
};

/* Where unit files live: a protected unit's files are protected paths. */
static const char *const unit_dirs[] = {
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
};

/* ---------------------------------------------------------------------- */
/* Patterns */

/* One token of a pattern: a literal byte, '?', '[...]' (any byte, an
 * over-approximation: the set could only make them intersect less) or
 * '*'. Returns its length; *any for '?' and classes. */
static size_t token(const char *p, bool *any)
{
	*any = false;
	if (*p == '?') {
		*any = true;
		return 1;
	}
	if (*p == '[') {
		const char *q = p + 1;

		if (*q == '!' || *q == '^')
			q++;
		if (*q == ']')
			q++;
		q = strchr(q, ']');
		if (q) {
			*any = true;
			return (size_t)(q - p) + 1;
		}
	}
	return 1;
}

static bool isect(const char *a, const char *b, unsigned *budget)
{
	bool any_a, any_b;
	size_t ta, tb;

	if ((*budget)-- == 0)
		return true; /* too costly to decide: say they may meet */
	if (*a == '*')
		return isect(a + 1, b, budget) || (*b && isect(a, b + token(b, &any_b), budget));
	if (*b == '*')
		return isect(a, b + 1, budget) || (*a && isect(a + token(a, &any_a), b, budget));
	if (!*a || !*b)
		return !*a && !*b;
	ta = token(a, &any_a);
	tb = token(b, &any_b);
	if (!any_a && !any_b && *a != *b)
		return false;
	return isect(a + ta, b + tb, budget);
}

bool protected_patterns_intersect(const char *a, const char *b)
{
	unsigned budget = 100000;

	return isect(a, b, &budget);
}

static size_t split_components(const char *p, char parts[][NAME_MAX + 1], size_t max)
{
	size_t n = 0;

	for (const char *c = p;;) {
		size_t k;

		c += strspn(c, "/");
		k = strcspn(c, "/");
		if (k == 0)
			return n;
		if (n == max || k > NAME_MAX)
			return SIZE_MAX;
		memcpy(parts[n], c, k);
		parts[n][k] = 0;
		n++;
		c += k;
	}
}

#define COMPONENTS_MAX 64

/* Whether glob could name a file that entry protects. */
static bool glob_meets(const char *glob, const char *pattern, bool tree)
{
	static char g[COMPONENTS_MAX][NAME_MAX + 1], e[COMPONENTS_MAX][NAME_MAX + 1];
	size_t ng = split_components(glob, g, COMPONENTS_MAX);
	size_t ne = split_components(pattern, e, COMPONENTS_MAX);

	if (ng == SIZE_MAX || ne == SIZE_MAX)
		return true; /* past any sane path: refuse */
	for (size_t i = 0; i < ng && i < ne; i++) {
		/* "**" reads as "anything below" (shells' globstar): the walk
		 * takes it as "*", but its writer meant more, and it is judged
		 * by what it was meant to reach */
		if (strstr(g[i], "**"))
			return true;
		if (!protected_patterns_intersect(g[i], e[i]))
			return false;
	}
	/* longer: below the entry, protected only for a tree; shorter: a
	 * folder above it, never a file it protects */
	if (ng > ne)
		return tree;
	return ng == ne;
}

static bool path_meets(const char *path, const char *pattern, bool tree)
{
	size_t m;
	const char *c = path;

	if (!tree)
		return fnmatch(pattern, path, FNM_PATHNAME) == 0;
	/* the pattern's number of components, then that prefix of path */
	m = 0;
	for (const char *q = pattern; *q;) {
		q += strspn(q, "/");
		if (!*q)
			break;
		m++;
		q += strcspn(q, "/");
	}
	for (size_t i = 0; i < m; i++) {
		c += strspn(c, "/");
		if (!*c)
			return false;
		c += strcspn(c, "/");
	}
	{
		char prefix[PATH_MAX];
		size_t len = (size_t)(c - path);

		if (len >= sizeof(prefix))
			return false;
		memcpy(prefix, path, len);
		prefix[len] = 0;
		return fnmatch(pattern, prefix, FNM_PATHNAME) == 0;
	}
}

/* ---------------------------------------------------------------------- */
/* Sources */

static struct protected_set *cache;

struct protected_set *protected_set_unref(struct protected_set *p)
{
	if (p && --p->refs == 0) {
		protected_set_done(p);
		free(p);
	}
	return NULL;
}

struct protected_set *protected_set_get(const char *root)
{
	const char *r = root && *root && !streq(root, "/") ? root : NULL;
	struct protected_set *n;

	if (cache && ((!r && !cache->root) || (r && cache->root && streq(r, cache->root))) &&
	    cache->status_key == protected_status_key(root)) {
		cache->refs++;
		return cache;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	if (protected_set_load(root, NULL, n) < 0) {
		free(n);
		return NULL;
	}
	n->refs = 2; /* the cache's and the caller's */
	cache = protected_set_unref(cache);
	cache = n;
	return n;
}

/* ---------------------------------------------------------------------- */
/* Queries */

/* Merged /usr: dpkg lists "/bin/ls" where the file is /usr/bin/ls, and
 * the other way round. The other spelling of path into alias, or false. */
static bool usr_alias(const char *path, char alias[PATH_MAX])
{
	static const char *const tops[] = {"/bin/",   "/sbin/",  "/lib/",
	                                   "/lib32/", "/lib64/", "/libx32/"};

	for (size_t i = 0; i < ELEMENTSOF(tops); i++) {
		size_t n = strlen(tops[i]);

		if (strncmp(path, "/usr", 4) == 0 && strncmp(path + 4, tops[i], n) == 0) {
			snprintf(alias, PATH_MAX, "%s", path + 4);
			return true;
		}
		if (strncmp(path, tops[i], n) == 0)
			return (size_t)snprintf(alias, PATH_MAX, "/usr%s", path) < PATH_MAX;
	}
	return false;
}

static const char *module_file_reason(const struct protected_set *p, const char *path)
{
	static char why[128];
	_cleanup_free_ char *name = NULL;
	const char *r;

	if (fnmatch("/lib/modules/*", path, 0) != 0 && fnmatch("/usr/lib/modules/*", path, 0) != 0)
		return NULL;
	if (!strstr(path, ".ko"))
		return NULL;
	name = protected_module_name_of(path);
	if (!name || !module_name_is_valid(name, false))
		return NULL;
	r = protected_module_reason(p, name);
	if (!r)
		return NULL;
	snprintf(why, sizeof(why), "the file of module %s: %s", name, r);
	return why;
}

const char *protected_path_reason(const struct protected_set *p, const char *path)
{
	static char why[64 + PATH_MAX];

	for (size_t i = 0; i < ELEMENTSOF(static_paths); i++) {
		/* /lib/modules/... under merged /usr is /usr/lib/modules */
		const char *pat = static_paths[i].pattern;

		if (path_meets(path, pat, static_paths[i].tree) ||
		    (strncmp(pat, "/usr/lib/", 9) == 0 &&
		     path_meets(path, pat + 4, static_paths[i].tree)))
			return static_paths[i].why;
	}
	for (size_t d = 0; d < ELEMENTSOF(unit_dirs); d++)
		for (int usr = 0; usr < 2; usr++) {
			const char *dir = unit_dirs[d];
			size_t n;

			if (usr && strncmp(dir, "/usr/lib/", 9) != 0)
				continue;
			if (usr)
				dir += 4; /* /lib/systemd/system */
			n = strlen(dir);
			if (strncmp(path, dir, n) == 0 && path[n] == '/' &&
			    !strchr(path + n + 1, '/') && protected_unit_reason(p, path + n + 1)) {
				snprintf(why, sizeof(why), "the unit file of %s, a protected unit",
				         path + n + 1);
				return why;
			}
		}
	if (p) {
		char alias[PATH_MAX];

		if (protected_sorted_contains(p->files, path) ||
		    (usr_alias(path, alias) && protected_sorted_contains(p->files, alias)))
			return "a file of an essential or required package";
	}
	return p ? module_file_reason(p, path) : NULL;
}

/* The glob's literal leading folders ("/usr/bin/falcon*" -> "/usr/bin/"). */
static size_t literal_prefix(const char *glob)
{
	size_t k = strcspn(glob, "*?[");
	const char *slash;

	while (k > 0 && glob[k - 1] != '/')
		k--;
	slash = glob + k;
	return (size_t)(slash - glob);
}

static const char *glob_reason_one(const struct protected_set *p, const char *glob)
{
	static char why[96 + PATH_MAX];
	size_t n = p ? strv_length(p->files) : 0, lo = 0, hi = n, k = literal_prefix(glob);

	for (size_t i = 0; i < ELEMENTSOF(static_paths); i++) {
		const char *pat = static_paths[i].pattern;

		if (glob_meets(glob, pat, static_paths[i].tree) ||
		    (strncmp(pat, "/usr/lib/", 9) == 0 &&
		     glob_meets(glob, pat + 4, static_paths[i].tree))) {
			snprintf(why, sizeof(why), "could match %s%s, %s", pat,
			         static_paths[i].tree ? "/..." : "", static_paths[i].why);
			return why;
		}
	}
	for (size_t d = 0; d < ELEMENTSOF(unit_dirs); d++)
		for (size_t u = 0; u < ELEMENTSOF(static_units); u++) {
			char pat[PATH_MAX];

			snprintf(pat, sizeof(pat), "%s/%s", unit_dirs[d], static_units[u]);
			if (glob_meets(glob, pat, false) || (strncmp(pat, "/usr/lib/", 9) == 0 &&
			                                     glob_meets(glob, pat + 4, false))) {
				snprintf(why, sizeof(why),
				         "could match a unit file of %s, a protected unit",
				         static_units[u]);
				return why;
			}
		}
	/* the package files under the glob's literal prefix */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strncmp(p->files[mid], glob, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < n && strncmp(p->files[i], glob, k) == 0; i++)
		if (fnmatch(glob, p->files[i], FNM_PATHNAME | FNM_PERIOD) == 0) {
			snprintf(why, sizeof(why),
			         "matches %s, a file of an essential or required package",
			         p->files[i]);
			return why;
		}
	if (fnmatch("/lib/modules/*/*", glob, 0) == 0 ||
	    fnmatch("/usr/lib/modules/*/*", glob, 0) == 0)
		return module_file_reason(p, glob);
	return NULL;
}

const char *protected_glob_reason(const struct protected_set *p, const char *glob)
{
	_cleanup_free_ char *resolved = NULL;
	const char *why = glob_reason_one(p, glob);
	char alias[PATH_MAX];
	int fd;

	if (!why && usr_alias(glob, alias))
		why = glob_reason_one(p, alias);
	if (why)
		return why;
	/* the same glob at its path through the root's own symlinks */
	fd = p ? open(p->root ? p->root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		if (glob_resolve_prefix(fd, glob, &resolved) >= 0 && !streq(resolved, glob))
			why = glob_reason_one(p, resolved);
		close(fd);
	}
	return why;
}

const char *protected_unit_reason(const struct protected_set *p, const char *unit)
{
	for (size_t i = 0; i < ELEMENTSOF(static_units); i++)
		if (protected_patterns_intersect(static_units[i], unit))
			return streq(static_units[i], "lifeline*")
			           ? "lifeline's own unit"
			           : "a unit that keeps the machine booting and reachable";
	if (p)
		STRV_FOREACH (k, p->keep_units)
			if (protected_patterns_intersect(*k, unit))
				return "a unit [safe-mode] keep_units keeps running";
	return NULL;
}

const char *protected_module_reason(const struct protected_set *p, const char *module)
{
	static char why[256];
	char m[MODULE_NAME_MAX + 1];

	if (!p || strlen(module) > MODULE_NAME_MAX)
		return NULL;
	module_name_normalize(memcpy(m, module, strlen(module) + 1));
	for (size_t i = 0; i < strv_length(p->drivers); i++)
		if (protected_patterns_intersect(m, p->drivers[i])) {
			snprintf(why, sizeof(why), "%s is a driver this machine needs: %s",
			         p->drivers[i], p->driver_why[i]);
			return why;
		}
	if (!strpbrk(m, "*?["))
		return protected_sorted_contains(p->modules, m)
		           ? "an in-tree module (shipped with the kernel)"
		           : NULL;
	STRV_FOREACH (n, p->modules)
		if (protected_patterns_intersect(m, *n)) {
			snprintf(why, sizeof(why), "could match %s, an in-tree module", *n);
			return why;
		}
	return NULL;
}
