/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The components' glob walker (glob-walk.h): symlinked prefix folders
 * resolved inside the root, then one path component at a time.
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

#include "agent/conf/glob-walk.h"
#include "agent/conf/names.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/strv.h"

/* The kernel's own bound on links in one lookup (MAXSYMLINKS). */
#define LINKS_MAX 40

static int split_path(const char *p, char ***ret)
{
	_cleanup_free_ char *copy = strdup(p);
	char **parts = NULL, *save = NULL;
	int r;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		r = strv_extend(&parts, t);
		if (r < 0) {
			strv_free(parts);
			return r;
		}
	}
	*ret = parts;
	return 0;
}

/* Appends "/name" to the resolved path (len bytes in buf). */
static int push(char *buf, size_t *len, const char *name, size_t n)
{
	if (*len + 1 + n >= PATH_MAX)
		return -ENAMETOOLONG;
	buf[(*len)++] = '/';
	memcpy(buf + *len, name, n);
	*len += n;
	buf[*len] = 0;
	return 0;
}

static void pop(char *buf, size_t *len)
{
	char *slash = strrchr(buf, '/');

	*len = slash ? (size_t)(slash - buf) : 0;
	buf[*len] = 0;
}

/* The link name in the folder buf (under root_fd) points to, or NULL
 * when it is not a symlink (or cannot be read: the walk then finds
 * nothing there). */
static char *read_link(int root_fd, const char *buf, const char *name, int *ret_error)
{
	_cleanup_close_ int dfd = -1;
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	*ret_error = 0;
	dfd = rooted_open_dir(root_fd, buf, NULL);
	if (dfd < 0)
		return NULL;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
		return NULL;
	n = readlinkat(dfd, name, target, sizeof(target) - 1);
	if (n <= 0)
		return NULL;
	target[n] = 0;
	/* A target with glob characters would be read as a pattern: not
	 * followed (the walk then meets the link and finds nothing). */
	if (name_has_glob_chars(target, (size_t)n) || strchr(target, '\\'))
		return NULL;
	{
		char *t = strdup(target);

		if (!t)
			*ret_error = -ENOMEM;
		return t;
	}
}

int glob_resolve_prefix(int root_fd, const char *glob, char **ret)
{
	_cleanup_strv_free_ char **parts = NULL;
	_cleanup_free_ char *queue = NULL;
	char buf[PATH_MAX] = "";
	size_t len = 0, n, lit;
	unsigned links = 0;
	char *out = NULL;
	int r;

	r = split_path(glob, &parts);
	if (r < 0)
		return r;
	if (!parts) {
		/* "/" or "": nothing to resolve */
		out = strdup(glob);
		if (!out)
			return -ENOMEM;
		*ret = out;
		return 0;
	}
	n = strv_length(parts);
	for (lit = 0; lit + 1 < n && !name_has_glob_chars(parts[lit], strlen(parts[lit])); lit++)
		;
	/* the literal folders, as a queue of components that links splice
	 * their targets into */
	queue = strdup("");
	for (size_t i = 0; queue && i < lit; i++) {
		char *q = NULL;

		if (asprintf(&q, "%s/%s", queue, parts[i]) < 0)
			q = NULL;
		free(queue);
		queue = q;
	}
	if (!queue)
		return -ENOMEM;

	for (const char *c = queue; *c;) {
		_cleanup_free_ char *target = NULL;
		size_t k;
		char name[NAME_MAX + 1];

		c += strspn(c, "/");
		k = strcspn(c, "/");
		if (k == 0)
			break;
		if (k > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, c, k);
		name[k] = 0;
		c += k;
		if (streq(name, "."))
			continue;
		if (streq(name, "..")) {
			pop(buf, &len); /* never above the root */
			continue;
		}
		/* only the root's own entries: merged /usr's /bin, /sbin,
		 * /lib, /lib64 (a link deeper down is a vendor's, and may
		 * point at someone else's files) */
		r = 0;
		if (len == 0)
			target = read_link(root_fd, buf, name, &r);
		if (r < 0)
			return r;
		if (!target) {
			r = push(buf, &len, name, k);
			if (r < 0)
				return r;
			continue;
		}
		if (++links > LINKS_MAX)
			return -ELOOP;
		if (target[0] == '/') {
			len = 0; /* absolute: from the root, not the host's / */
			buf[0] = 0;
		}
		{
			char *q = NULL;

			if (asprintf(&q, "%s/%s", target, c) < 0)
				return -ENOMEM;
			free(queue);
			queue = q;
			c = queue;
		}
	}

	out = strdup(len ? buf : "");
	for (size_t i = lit; out && i < n; i++) {
		char *o = NULL;

		if (asprintf(&o, "%s/%s", out, parts[i]) < 0)
			o = NULL;
		free(out);
		out = o;
	}
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The walk */

struct walk {
	char **parts;
	size_t nparts;
	unsigned flags;
	glob_walk_fn fn;
	void *userdata;
	char path[PATH_MAX]; /* the match so far, without the root */
	size_t len;
};

static int walk_dir(struct walk *w, int dfd, size_t idx);

static int walk_entry(struct walk *w, int dfd, const char *name, size_t idx)
{
	size_t saved = w->len, nl = strlen(name);
	int r = 0;

	if (w->len + 1 + nl >= sizeof(w->path))
		return 0;
	w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, nl + 1);
	w->len += nl;

	if (idx + 1 == w->nparts) {
		struct stat st;

		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			r = w->fn(w->path, &st, w->userdata);
	} else {
		int fd = openat(dfd, name,
		                O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		                    (w->flags & GLOB_WALK_FOLLOW_DIRS ? 0 : O_NOFOLLOW));

		/* Absent, not a folder, a symlink (ELOOP/ENOTDIR with
		 * O_NOFOLLOW) or unreadable: no match below it. */
		if (fd >= 0) {
			r = walk_dir(w, fd, idx + 1);
			close(fd);
		}
	}
	w->len = saved;
	w->path[saved] = 0;
	return r;
}

static int walk_dir(struct walk *w, int dfd, size_t idx)
{
	const char *part = w->parts[idx];
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (!name_has_glob_chars(part, strlen(part)))
		return walk_entry(w, dfd, part, idx);

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		r = errno == ENOMEM ? -ENOMEM : 0;
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fnmatch(part, de->d_name, FNM_PERIOD) != 0)
			continue;
		r = walk_entry(w, dirfd(d), de->d_name, idx);
		if (r != 0)
			break;
	}
	closedir(d);
	return r;
}

int glob_walk(int root_fd, const char *glob, unsigned flags, glob_walk_fn fn, void *userdata)
{
	_cleanup_strv_free_ char **parts = NULL;
	_cleanup_free_ char *resolved = NULL;
	_cleanup_free_ struct walk *w = NULL;
	int r;

	r = glob_resolve_prefix(root_fd, glob, &resolved);
	if (r < 0)
		return r;
	r = split_path(resolved, &parts);
	if (r < 0)
		return r;
	if (!parts)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct walk){
	    .parts = parts,
	    .nparts = strv_length(parts),
	    .flags = flags,
	    .fn = fn,
	    .userdata = userdata,
	};
	return walk_dir(w, root_fd, 0);
}
