/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The recency pick (recency.h): each component's newest change on the
 * machine, the ranking, and the sentence that explains it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/conf/glob-walk.h"
#include "agent/conf/names.h"
#include "agent/conf/protected.h"
#include "agent/inventory/recency.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/strv.h"

/* modules.dep of a distribution kernel is well under 1 MiB */
#define MODULES_DEP_MAX (16u * 1024 * 1024)

static const char *const unit_dirs[] = {
    "/etc/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
};

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

__attribute__((weak)) int64_t recency_clock_ns(void)
{
	struct timespec now;

	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return 0;
	return ts_ns(&now);
}

struct recency *recency_free(struct recency *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_components; i++) {
		free(r->components[i].id);
		free(r->components[i].newest_path);
	}
	free(r->components);
	free(r);
	return NULL;
}

/* The newer of ctime and an mtime not after the clock (recency.h). */
static int64_t change_ns(const struct stat *st, int64_t now_ns)
{
	int64_t m = ts_ns(&st->st_mtim), c = ts_ns(&st->st_ctim);

	if (m > now_ns)
		m = 0;
	return MAX(MAX(m, c), 0);
}

struct scan {
	struct recency_component *rc;
	int64_t now_ns;
	char **seen; /* unit and module files already counted (a path met twice
	              * through /lib and /usr/lib) */
	bool dedup;
};

static int found(const char *path, const struct stat *st, void *userdata)
{
	struct scan *s = userdata;
	struct recency_component *rc = s->rc;
	int64_t t;

	if (S_ISDIR(st->st_mode))
		return 0;
	if (s->dedup) {
		if (strv_contains(s->seen, path))
			return 0;
		if (strv_extend(&s->seen, path) < 0)
			return -ENOMEM;
	}
	t = change_ns(st, s->now_ns);
	rc->n_files++;
	/* equal times: the first path in strcmp order, whatever the walk's */
	if (!rc->newest_path || t > rc->newest_ns ||
	    (t == rc->newest_ns && strcmp(path, rc->newest_path) < 0)) {
		char *p = strdup(path);

		if (!p)
			return -ENOMEM;
		free(rc->newest_path);
		rc->newest_path = p;
		rc->newest_ns = t;
	}
	/* enough to know it is here and roughly when; the inventory's bound */
	return rc->n_files >= COMPONENT_EXPAND_MAX ? 1 : 0;
}

/* glob_walk() that leaves a glob it cannot walk (a folder it may not
 * read) to the others. */
static int walk(int root_fd, const char *glob, struct scan *s)
{
	int r = glob_walk(root_fd, glob, 0, found, s);

	if (r < 0 && r != -ENOMEM)
		log_debug_errno(r, "Failed to walk %s: %m", glob);
	return r == -ENOMEM ? r : 0;
}

/* A file under the root, reached as glob_walk() reaches it (the root's
 * top-level symlinks resolved inside it, nothing else followed). */
static int read_rooted(int root_fd, const char *path, size_t max, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *resolved = NULL, *buf = NULL;
	_cleanup_close_ int dfd = -1, fd = -1;
	struct stat st;
	size_t size = 0;
	char *slash;
	int r;

	r = glob_resolve_prefix(root_fd, path, &resolved);
	if (r < 0)
		return r;
	slash = strrchr(resolved, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	*slash = 0;
	dfd = rooted_open_dir(root_fd, resolved, NULL);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, slash + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (size < (size_t)st.st_size) {
		ssize_t n = fd_read_retry(fd, buf + size, (size_t)st.st_size - size);

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		size += (size_t)n;
	}
	buf[size] = 0;
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

/* The module files the kernel's index lists outside its own tree, as
 * pairs: names[i] (normalised) lives at paths[i] (absolute, without the
 * root). */
struct module_files {
	char **names;
	char **paths;
};

static void module_files_done(struct module_files *m)
{
	strv_free(m->names);
	strv_free(m->paths);
	m->names = m->paths = NULL;
}

/* "updates/dkms/badsec-net.ko.xz" -> "badsec_net" into *ret; *ret NULL
 * when it is no module file name. 0 or -ENOMEM. */
static int module_name_of(const char *rel, char **ret)
{
	const char *base = strrchr(rel, '/');
	_cleanup_free_ char *name = strdup(base ? base + 1 : rel);
	char *ko;

	*ret = NULL;
	if (!name)
		return -ENOMEM;
	ko = strstr(name, ".ko");
	if (!ko ||
	    (ko[3] && !streq(ko + 3, ".xz") && !streq(ko + 3, ".zst") && !streq(ko + 3, ".gz")))
		return 0;
	*ko = 0;
	module_name_normalize(name);
	if (module_name_is_valid(name, false))
		*ret = TAKE_PTR(name);
	return 0;
}

static int load_module_files(int root_fd, const char *kver, struct module_files *ret)
{
	static const char *const bases[] = {"/lib/modules", "/usr/lib/modules"};
	_cleanup_free_ char *text = NULL, *base = NULL;
	struct module_files m = {0};
	size_t size = 0;
	char *save = NULL;
	int r = -ENOENT;

	for (size_t i = 0; i < ELEMENTSOF(bases) && r < 0 && r != -ENOMEM; i++) {
		_cleanup_free_ char *dep = NULL;

		free(base);
		if (asprintf(&base, "%s/%s", bases[i], kver) < 0) {
			base = NULL;
			return -ENOMEM;
		}
		if (asprintf(&dep, "%s/modules.dep", base) < 0)
			return -ENOMEM;
		r = read_rooted(root_fd, dep, MODULES_DEP_MAX, &text, &size);
	}
	if (r < 0)
		return r;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':'), *name = NULL, *path = NULL;

		if (!colon)
			continue;
		*colon = 0;
		/* the kernel's own tree never is a component's; a path that
		 * would read as a pattern or climb out is not looked at */
		if (strncmp(line, "kernel/", 7) == 0 || line[0] == '/' || strstr(line, "..") ||
		    strpbrk(line, "*?[\\"))
			continue;
		if (module_name_of(line, &name) < 0) {
			module_files_done(&m);
			return -ENOMEM;
		}
		if (!name)
			continue;
		if (strv_consume(&m.names, name) < 0 || asprintf(&path, "%s/%s", base, line) < 0 ||
		    strv_consume(&m.paths, path) < 0) {
			module_files_done(&m);
			return -ENOMEM;
		}
	}
	*ret = m;
	return 0;
}

static int scan_component(int root_fd, const struct component *c, const struct module_files *mf,
                          const struct protected_set *protected, struct scan *s)
{
	char **lists[] = {c->files, c->content};
	int r;

	s->dedup = false;
	for (size_t l = 0; l < ELEMENTSOF(lists); l++)
		STRV_FOREACH (g, lists[l]) {
			r = walk(root_fd, *g, s);
			if (r < 0)
				return r;
		}
	s->dedup = true;
	STRV_FOREACH (u, c->units) {
		if (!unit_name_is_valid(*u))
			continue;
		for (size_t d = 0; d < ELEMENTSOF(unit_dirs); d++) {
			_cleanup_free_ char *p = NULL;

			if (asprintf(&p, "%s/%s", unit_dirs[d], *u) < 0)
				return -ENOMEM;
			r = walk(root_fd, p, s);
			if (r < 0)
				return r;
		}
	}
	for (size_t i = 0; mf && i < strv_length(mf->names); i++) {
		bool mine = false;

		STRV_FOREACH (m, c->modules)
			if (module_name_match(*m, mf->names[i]))
				mine = true;
		if (!mine || (protected && protected_module_reason(protected, mf->names[i])))
			continue;
		r = walk(root_fd, mf->paths[i], s);
		if (r < 0)
			return r;
	}
	return 0;
}

int recency_scan(const char *root, const struct component_set *set, const char *kver,
                 int64_t now_ns, struct recency **ret)
{
	_cleanup_recency_free_ struct recency *rec = calloc(1, sizeof(*rec));
	_cleanup_close_ int root_fd = -1;
	struct module_files mf = {0};
	struct utsname u;
	bool have_modules = false;
	int r = 0;

	if (!rec)
		return -ENOMEM;
	root_fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return log_debug_errno(errno, "Failed to open root %s: %m", root ? root : "/");
	if (!kver && uname(&u) >= 0)
		kver = u.release;
	if (kver && *kver && !strchr(kver, '/') && !streq(kver, ".") && !streq(kver, "..")) {
		r = load_module_files(root_fd, kver, &mf);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			log_debug_errno(r, "No module index of %s: %m", kver);
		have_modules = r >= 0;
	}
	if (set && set->n > 0) {
		rec->components = calloc(set->n, sizeof(rec->components[0]));
		if (!rec->components) {
			module_files_done(&mf);
			return -ENOMEM;
		}
	}
	r = 0;
	for (size_t i = 0; set && i < set->n && r >= 0; i++) {
		struct scan s = {.rc = &rec->components[i], .now_ns = now_ns};

		rec->n_components = i + 1;
		s.rc->id = strdup(set->items[i].id);
		r = s.rc->id ? scan_component(root_fd, &set->items[i], have_modules ? &mf : NULL,
		                              set->protected, &s)
		             : -ENOMEM;
		strv_free(s.seen);
	}
	module_files_done(&mf);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(rec);
	return 0;
}

/* Newest first, then by id; components with no file last. */
static int rank_cmp(const void *a, const void *b)
{
	const struct recency_component *x = *(const struct recency_component *const *)a,
	                               *y = *(const struct recency_component *const *)b;

	if ((x->n_files > 0) != (y->n_files > 0))
		return x->n_files > 0 ? -1 : 1;
	if (x->newest_ns != y->newest_ns)
		return x->newest_ns > y->newest_ns ? -1 : 1;
	return strcmp(x->id, y->id);
}

static const struct recency_component **ranked(const struct recency *r)
{
	const struct recency_component **v =
	    calloc(r->n_components + 1, sizeof(const struct recency_component *));

	if (!v)
		return NULL;
	for (size_t i = 0; i < r->n_components; i++)
		v[i] = &r->components[i];
	if (r->n_components > 1)
		qsort(v, r->n_components, sizeof(const struct recency_component *), rank_cmp);
	return v;
}

int recency_pick(const struct recency *r, int64_t window_ns, char ***ret_ids)
{
	_cleanup_free_ const struct recency_component **v = NULL;
	char **ids = NULL;

	*ret_ids = NULL;
	if (!r || r->n_components == 0)
		return 0;
	v = ranked(r);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_components && v[i]->n_files > 0; i++) {
		/* times are >= 0 (change_ns()): no overflow */
		if (i > 0 && v[0]->newest_ns - v[i]->newest_ns > window_ns)
			break;
		if (strv_extend(&ids, v[i]->id) < 0) {
			strv_free(ids);
			return -ENOMEM;
		}
	}
	*ret_ids = ids;
	return 0;
}

/* "2026-12-07 06:01:02 UTC", or "time unknown". */
static void format_time(int64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns <= 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "time unknown");
}

int recency_explain(const struct recency *r, char **picked, char **ret_reason, char ***ret_lines)
{
	_cleanup_free_ const struct recency_component **v = NULL;
	_cleanup_free_ char *reason = NULL;
	_cleanup_strv_free_ char **lines = NULL;
	size_t n = r ? r->n_components : 0;

	if (n > 0) {
		v = ranked(r);
		if (!v)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct recency_component *c = v[i];
		bool is_picked = strv_contains(picked, c->id);
		char when[64], *l = NULL;
		int k;

		format_time(c->newest_ns, when, sizeof(when));
		if (c->n_files == 0)
			k = asprintf(&l, "recency: %s: no file of it on this machine", c->id);
		else
			k = asprintf(&l, "recency: %s: newest change %s (%s), %s", c->id, when,
			             c->newest_path, is_picked ? "picked" : "older: left alone");
		if (k < 0 || strv_consume(&lines, l) < 0)
			return -ENOMEM;
		if (!is_picked || c->n_files == 0)
			continue;
		{
			char *s = NULL;

			if (!reason)
				k = asprintf(&s, "%s changed most recently (%s, %s)", c->id,
				             c->newest_path, when);
			else
				k = asprintf(&s, "%s, and %s within %d minutes of it (%s, %s)",
				             reason, c->id, RECENCY_WINDOW_SEC / 60, c->newest_path,
				             when);
			if (k < 0)
				return -ENOMEM;
			free(reason);
			reason = s;
		}
	}
	if (!reason) {
		reason = strdup("no component has a file on this machine");
		if (!reason)
			return -ENOMEM;
	}
	*ret_reason = TAKE_PTR(reason);
	if (ret_lines)
		*ret_lines = TAKE_PTR(lines);
	return 0;
}
