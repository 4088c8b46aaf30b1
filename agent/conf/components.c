/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

#define VALUE_SHOWN 80

/* ---------------------------------------------------------------------- */
/* Names */

static bool char_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool component_id_is_valid(const char *id)
{
	size_t n = strlen(id);

	/* The id names quarantine directories and manifests: "." and ".."
	 * would name something else. */
	if (n == 0 || n > COMPONENT_ID_MAX || streq(id, ".") || streq(id, ".."))
		return false;
	for (const char *p = id; *p; p++)
		if (!char_is_alnum(*p) && !strchr("_.-", *p))
			return false;
	return true;
}

bool module_name_is_valid(const char *name, bool allow_glob)
{
	size_t n = strlen(name);

	if (n == 0 || n > MODULE_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!char_is_alnum(*p) && *p != '_' && *p != '-' &&
		    !(allow_glob && (*p == '*' || *p == '?')))
			return false;
	return true;
}

char *module_name_normalize(char *name)
{
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	return name;
}

bool module_name_match(const char *pattern, const char *name)
{
	char p[MODULE_NAME_MAX + 1], n[MODULE_NAME_MAX + 1];

	if (strlen(pattern) > MODULE_NAME_MAX || strlen(name) > MODULE_NAME_MAX)
		return false;
	module_name_normalize(strcpy(p, pattern));
	module_name_normalize(strcpy(n, name));
	return fnmatch(p, n, 0) == 0;
}

bool unit_name_is_valid(const char *name)
{
	/* systemd.unit(5) unit types. */
	static const char *const suffixes[] = {
	    ".service",   ".socket", ".target", ".timer", ".path",   ".mount",
	    ".automount", ".swap",   ".slice",  ".scope", ".device",
	};
	size_t n = strlen(name);

	if (n == 0 || n > UNIT_NAME_MAX || name[0] == '@' || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if (!char_is_alnum(*p) && !strchr(":_.\\@-", *p))
			return false;
	if (strchr(name, '@') != strrchr(name, '@'))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		size_t k = strlen(suffixes[i]);

		if (n > k && streq(name + n - k, suffixes[i]))
			return true;
	}
	return false;
}

static bool has_glob_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	return false;
}

bool component_glob_is_valid(const char *glob)
{
	bool first = true;

	if (glob[0] != '/' || strlen(glob) >= PATH_MAX)
		return false;
	for (const char *p = glob; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	for (const char *c = glob; *c;) {
		size_t n;

		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (n == 0)
			break;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		/* "/ *" or "/ * /bin" would reach into every top-level
		 * directory: a quarantine must never sweep the whole root. */
		if (first && has_glob_chars(c, n))
			return false;
		first = false;
		c += n;
	}
	return !first;
}

/* ---------------------------------------------------------------------- */
/* Parsing one drop-in */

struct pending {
	struct component c;
	bool broken;
};

struct file_ctx {
	const char *file;
	struct pending *items;
	size_t n;
	struct pending *current; /* NULL: the current section was refused */
	bool file_broken;        /* keys outside a section */
	unsigned errors;
};

static int pending_add(struct file_ctx *ctx, const struct config_ini_item *it)
{
	struct pending *n;

	n = realloc(ctx->items, (ctx->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ctx->items = n;
	n = &ctx->items[ctx->n];
	*n = (struct pending){
	    .c =
	        {
	            .id = strdup(it->section),
	            .source_file = strdup(ctx->file),
	            .rollback_content = true,
	            .source_line = it->line,
	        },
	};
	ctx->n++;
	if (!n->c.id || !n->c.source_file)
		return -ENOMEM;
	ctx->current = n;
	return 0;
}

static int item_problem(struct file_ctx *ctx, const struct config_ini_item *it, const char *what,
                        const char *value)
{
	config_log_item_error(it, "\"%.*s\" is not %s; component left out", VALUE_SHOWN, value,
	                      what);
	ctx->current->broken = true;
	ctx->errors++;
	return -EINVAL;
}

enum list_kind { LIST_MODULES, LIST_UNITS, LIST_GLOBS };

static int parse_list(struct file_ctx *ctx, const struct config_ini_item *it, enum list_kind kind,
                      char ***list)
{
	_cleanup_strv_free_ char **words = NULL;
	int r;

	r = strv_split_ws(it->value, &words);
	if (r < 0)
		return r;
	STRV_FOREACH (w, words) {
		switch (kind) {
		case LIST_MODULES:
			if (!module_name_is_valid(*w, true))
				return item_problem(
				    ctx, it,
				    "a kernel module name ([A-Za-z0-9_-], '*' and '?' as "
				    "wildcards, at most 55 characters)",
				    *w);
			module_name_normalize(*w);
			break;
		case LIST_UNITS:
			if (!unit_name_is_valid(*w))
				return item_problem(
				    ctx, it, "a unit name (NAME.service, .socket, .timer, ...)",
				    *w);
			break;
		case LIST_GLOBS:
			if (!component_glob_is_valid(*w))
				return item_problem(
				    ctx, it,
				    "an absolute glob without \".\" or \"..\" and with a "
				    "literal first directory",
				    *w);
			break;
		}
	}
	if (!it->continuation)
		*list = strv_free(*list);
	STRV_FOREACH (w, words)
		if (!strv_contains(*list, *w)) {
			r = strv_extend(list, *w);
			if (r < 0)
				return r;
		}
	return 0;
}

static int file_handler(const struct config_ini_item *it, void *userdata)
{
	struct file_ctx *ctx = userdata;
	struct component *c;
	int r;

	if (!it->key) {
		ctx->current = NULL;
		if (!component_id_is_valid(it->section)) {
			config_log_item_error(
			    it,
			    "invalid component id (letters, digits, '_', '.', '-', at "
			    "most %d characters); component left out",
			    COMPONENT_ID_MAX);
			ctx->errors++;
			return -EINVAL;
		}
		for (size_t i = 0; i < ctx->n; i++)
			if (streq(ctx->items[i].c.id, it->section)) {
				config_log_item_error(
				    it, "already defined at line %u; ignoring this one",
				    ctx->items[i].c.source_line);
				ctx->errors++;
				return -EINVAL;
			}
		return pending_add(ctx, it);
	}

	if (!it->section) {
		if (!it->continuation) {
			config_log_item_error(it, "key outside of any [component] section");
			ctx->errors++;
		}
		ctx->file_broken = true;
		return -EINVAL;
	}
	if (!ctx->current)
		return 0; /* the section header was refused, and said so */
	c = &ctx->current->c;
	if (!it->value) {
		/* An unreadable line of a list (logged as a syntax error,
		 * which leaves the whole file out anyway). */
		ctx->current->broken = true;
		return 0;
	}

	if (streq(it->key, "modules"))
		return parse_list(ctx, it, LIST_MODULES, &c->modules);
	if (streq(it->key, "units"))
		return parse_list(ctx, it, LIST_UNITS, &c->units);
	if (streq(it->key, "files"))
		return parse_list(ctx, it, LIST_GLOBS, &c->files);
	if (streq(it->key, "content"))
		return parse_list(ctx, it, LIST_GLOBS, &c->content);

	if (streq(it->key, "vendor") || streq(it->key, "rollback_content")) {
		if (it->continuation) {
			config_log_item_error(it, "continuation lines are only allowed for lists; "
			                          "component left out");
			ctx->current->broken = true;
			ctx->errors++;
			return -EINVAL;
		}
		if (streq(it->key, "vendor")) {
			char *v = NULL;

			if (*it->value && !(v = strdup(it->value)))
				return -ENOMEM;
			free(c->vendor);
			c->vendor = v;
			return 0;
		}
		r = config_parse_boolean(it->value);
		if (r < 0)
			return item_problem(ctx, it, "a boolean (yes or no)", it->value);
		c->rollback_content = r;
		return 0;
	}

	if (!it->continuation)
		log_warning("%s:%u: [%s] %s: unknown key, ignoring it", it->file, it->line,
		            it->section, it->key);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The set */

void component_done(struct component *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->vendor);
	free(c->source_file);
	strv_free(c->modules);
	strv_free(c->units);
	strv_free(c->files);
	strv_free(c->content);
	*c = (struct component){0};
}

void components_done(struct component_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		component_done(&s->items[i]);
	free(s->items);
	*s = (struct component_set){0};
}

static void components_donep(struct component_set *s)
{
	components_done(s);
}

const struct component *components_find(const struct component_set *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->items[i].id, id))
			return &s->items[i];
	return NULL;
}

const struct component *components_find_module(const struct component_set *s, const char *module)
{
	for (size_t i = 0; i < s->n; i++)
		STRV_FOREACH (m, s->items[i].modules)
			if (module_name_match(*m, module))
				return &s->items[i];
	return NULL;
}

/* "x@y.service" is an instance of the template "x@.service". */
static bool unit_matches(const char *listed, const char *unit)
{
	const char *at = strchr(unit, '@'), *dot;
	size_t prefix;

	if (streq(listed, unit))
		return true;
	if (!at)
		return false;
	prefix = (size_t)(at - unit) + 1;
	dot = strrchr(unit, '.');
	if (!dot || dot < at)
		return false;
	return strncmp(listed, unit, prefix) == 0 && streq(listed + prefix, dot);
}

const struct component *components_find_unit(const struct component_set *s, const char *unit)
{
	for (size_t i = 0; i < s->n; i++)
		STRV_FOREACH (u, s->items[i].units)
			if (unit_matches(*u, unit))
				return &s->items[i];
	return NULL;
}

const struct component *components_find_path(const struct component_set *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++) {
		STRV_FOREACH (g, s->items[i].files)
			if (fnmatch(*g, path, FNM_PATHNAME | FNM_PERIOD) == 0)
				return &s->items[i];
		STRV_FOREACH (g, s->items[i].content)
			if (fnmatch(*g, path, FNM_PATHNAME | FNM_PERIOD) == 0)
				return &s->items[i];
	}
	return NULL;
}

static int set_append(struct component_set *s, struct component *c)
{
	struct component *n = realloc(s->items, (s->n + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	s->items = n;
	s->items[s->n++] = *c;
	*c = (struct component){0};
	return 0;
}

/* Takes the good components of one parsed file into the set. */
static int file_commit(struct file_ctx *ctx, unsigned syntax_errors, struct component_set *set)
{
	int r = 0;

	if ((syntax_errors > 0 || ctx->file_broken) && ctx->n > 0)
		log_error("%s: syntax errors, no component of this file is loaded", ctx->file);

	for (size_t i = 0; i < ctx->n; i++) {
		struct pending *p = &ctx->items[i];
		const struct component *dup;

		if (r < 0 || p->broken || syntax_errors > 0 || ctx->file_broken) {
			component_done(&p->c);
			continue;
		}
		dup = components_find(set, p->c.id);
		if (dup) {
			log_error("%s:%u: [%s]: already defined in %s:%u; ignoring this one",
			          ctx->file, p->c.source_line, p->c.id, dup->source_file,
			          dup->source_line);
			ctx->errors++;
			component_done(&p->c);
			continue;
		}
		if (!p->c.modules && !p->c.units && !p->c.files && !p->c.content)
			log_warning("%s:%u: [%s]: declares no modules, units, files or content",
			            ctx->file, p->c.source_line, p->c.id);
		r = set_append(set, &p->c);
		if (r < 0)
			component_done(&p->c);
	}
	free(ctx->items);
	ctx->items = NULL;
	ctx->n = 0;
	return r;
}

static int load_one(const char *path, struct component_set *set, unsigned *problems)
{
	_cleanup_free_ char *text = NULL;
	struct file_ctx ctx = {.file = path};
	unsigned syntax_errors = 0;
	size_t size;
	int r;

	r = read_full_file(path, CONFIG_FILE_MAX, &text, &size);
	if (r < 0) {
		if (r == -ENOMEM)
			return r;
		(*problems)++;
		if (r == -EFBIG)
			log_error("%s: larger than %d bytes, ignoring it", path, CONFIG_FILE_MAX);
		else
			log_error_errno(r, "Failed to read %s, ignoring it: %m", path);
		return 0;
	}

	r = config_parse_ini(path, text, size, file_handler, &ctx, &syntax_errors);
	if (r < 0) {
		for (size_t i = 0; i < ctx.n; i++)
			component_done(&ctx.items[i].c);
		free(ctx.items);
		return r;
	}
	r = file_commit(&ctx, syntax_errors, set);
	*problems += ctx.errors + syntax_errors;
	return r;
}

static void warn_overlap(const struct component *a, const struct component *b, const char *what,
                         const char *name)
{
	log_warning("%s:%u: [%s]: %s %s is also claimed by [%s] (%s:%u)", b->source_file,
	            b->source_line, b->id, what, name, a->id, a->source_file, a->source_line);
}

static void warn_overlaps(const struct component_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = i + 1; j < s->n; j++) {
			const struct component *a = &s->items[i], *b = &s->items[j];

			STRV_FOREACH (m, a->modules)
				if (strv_contains(b->modules, *m))
					warn_overlap(a, b, "module", *m);
			STRV_FOREACH (g, a->files)
				if (strv_contains(b->files, *g) || strv_contains(b->content, *g))
					warn_overlap(a, b, "path", *g);
			STRV_FOREACH (g, a->content)
				if (strv_contains(b->files, *g) || strv_contains(b->content, *g))
					warn_overlap(a, b, "path", *g);
		}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool dropin_name_ok(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && streq(name + n - 5, ".conf");
}

int components_load(const char *root, struct component_set *ret, unsigned *ret_problems)
{
	_cleanup_(components_donep) struct component_set set = {0};
	_cleanup_free_ char *dir = path_under_root(root, "/etc/lifeline/components.d");
	_cleanup_strv_free_ char **names = NULL;
	unsigned problems = 0;
	size_t n_names = 0, alloc = 0;
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) {
			log_debug("%s does not exist: no components", dir);
			goto done;
		}
		return log_error_errno(errno, "Failed to open %s: %m", dir);
	}
	while ((errno = 0, de = readdir(d))) {
		if (!dropin_name_ok(de->d_name))
			continue;
		if (n_names + 2 > alloc) {
			size_t na = alloc ? alloc * 2 : 16;
			char **nn = realloc(names, na * sizeof(char *));

			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
			alloc = na;
		}
		names[n_names] = strdup(de->d_name);
		names[n_names + 1] = NULL;
		if (!names[n_names]) {
			r = -ENOMEM;
			break;
		}
		n_names++;
	}
	if (r == 0 && errno != 0)
		r = negative_errno();
	if (r < 0) {
		closedir(d);
		return log_error_errno(r, "Failed to list %s: %m", dir);
	}
	closedir(d);

	if (n_names > 0)
		qsort(names, n_names, sizeof(char *), cmp_names);

	STRV_FOREACH (name, names) {
		_cleanup_free_ char *path = path_join(dir, *name);
		struct stat st;

		if (!path)
			return -ENOMEM;
		/* stat, not lstat: a symlink to a regular file is fine. */
		if (stat(path, &st) < 0) {
			log_warning("%s: %s, ignoring it", path, strerror(errno));
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			log_warning("%s: not a regular file, ignoring it", path);
			continue;
		}
		r = load_one(path, &set, &problems);
		if (r < 0)
			return r;
	}
	warn_overlaps(&set);

done:
	*ret = set;
	set = (struct component_set){0};
	if (ret_problems)
		*ret_problems = problems;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Globs on disk */

/*
 * Why not glob(3): it collects every match before returning (a content
 * directory with thousands of files costs thousands of lstat()s just to
 * learn "installed"), and it follows symlinks in directory components. The
 * walk below matches one path component at a time with fnmatch(3), the
 * same rules glob(3) applies by default (no leading-'.' matches, no brace
 * expansion), opens directories with O_NOFOLLOW unless asked otherwise,
 * and lets the caller stop at the first match.
 */
struct walk {
	char **parts;
	size_t nparts;
	bool follow_dirs;
	char path[PATH_MAX]; /* the match so far, without the root */
	size_t len;
	/* >0: stop the walk, <0: error, 0: go on */
	int (*fn)(struct walk *w, const struct stat *st);
	/* for expand */
	char **found;
	size_t n, alloc, max;
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
			r = w->fn(w, &st);
	} else {
		int fd =
		    openat(dfd, name,
		           O_RDONLY | O_DIRECTORY | O_CLOEXEC | (w->follow_dirs ? 0 : O_NOFOLLOW));

		/* Absent, not a directory, a symlink (ELOOP/ENOTDIR with
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

	if (!has_glob_chars(part, strlen(part)))
		return walk_entry(w, dfd, part, idx);

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
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

static int walk_glob(struct walk *w, const char *root, const char *glob)
{
	_cleanup_strv_free_ char **parts = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *copy = strdup(glob);
	char *save = NULL;
	int r;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		r = strv_extend(&parts, t);
		if (r < 0)
			return r;
	}
	if (!parts)
		return 0;

	fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_debug_errno(errno, "Failed to open root %s: %m",
		                       root && *root ? root : "/");

	w->parts = parts;
	w->nparts = strv_length(parts);
	w->len = 0;
	w->path[0] = 0;
	r = walk_dir(w, fd, 0);
	w->parts = NULL;
	return r;
}

static bool root_is_real(const char *root)
{
	return !root || !*root || streq(root, "/");
}

static int found_any(struct walk *w _unused_, const struct stat *st _unused_)
{
	return 1;
}

bool component_has_loaded_module(const struct component *c, const char *proc_modules)
{
	/* proc(5) /proc/modules: one module per line, its name first. */
	for (const char *l = proc_modules; l && *l;) {
		size_t n = strcspn(l, " \n");
		char name[MODULE_NAME_MAX + 1];

		if (n > 0 && n <= MODULE_NAME_MAX) {
			memcpy(name, l, n);
			name[n] = 0;
			STRV_FOREACH (m, c->modules)
				if (module_name_match(*m, name))
					return true;
		}
		l += strcspn(l, "\n");
		l += *l == '\n';
	}
	return false;
}

static bool module_loaded(const struct component *c)
{
	_cleanup_free_ char *text = NULL;
	int r;

	if (!c->modules)
		return false;
	r = read_full_file("/proc/modules", 16 * 1024 * 1024, &text, NULL);
	if (r < 0) {
		log_debug_errno(r, "Failed to read /proc/modules: %m");
		return false;
	}
	return component_has_loaded_module(c, text);
}

bool component_is_active(const struct component *c, const char *root)
{
	struct walk *w = calloc(1, sizeof(*w));
	char **lists[] = {c->files, c->content};
	bool active = false;

	if (!w)
		return false;
	w->follow_dirs = root_is_real(root); /* symlinks resolve right only on the real root */
	w->fn = found_any;
	for (size_t i = 0; i < ELEMENTSOF(lists) && !active; i++)
		STRV_FOREACH (g, lists[i])
			if (walk_glob(w, root, *g) > 0) {
				active = true;
				break;
			}
	free(w);
	if (!active && root_is_real(root))
		active = module_loaded(c);
	return active;
}

static int found_file(struct walk *w, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return 0;
	if (w->n >= w->max)
		return -E2BIG;
	if (w->n + 2 > w->alloc) {
		size_t na = w->alloc ? w->alloc * 2 : 64;
		char **n = realloc(w->found, na * sizeof(char *));

		if (!n)
			return -ENOMEM;
		w->found = n;
		w->alloc = na;
	}
	w->found[w->n] = strdup(w->path);
	if (!w->found[w->n])
		return -ENOMEM;
	w->found[++w->n] = NULL;
	return 0;
}

int component_expand_files_max(const struct component *c, const char *root, bool content_only,
                               size_t max, char ***ret_paths)
{
	_cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
	char **lists[] = {c->content, content_only ? NULL : c->files};
	int r = 0;

	if (!w)
		return -ENOMEM;
	w->fn = found_file;
	w->max = max;
	w->found = calloc(1, sizeof(char *));
	if (!w->found)
		return -ENOMEM;
	w->alloc = 1;
	for (size_t i = 0; i < ELEMENTSOF(lists) && r >= 0; i++)
		STRV_FOREACH (g, lists[i]) {
			r = walk_glob(w, root, *g);
			if (r < 0)
				break;
		}
	if (r < 0) {
		strv_free(w->found);
		return r;
	}
	/* Overlapping globs may have found a path twice; the bound above
	 * counts those twice, which only errs on the safe side. */
	strv_sort_uniq(w->found);
	*ret_paths = w->found;
	return 0;
}

int component_expand_files(const struct component *c, const char *root, bool content_only,
                           char ***ret_paths)
{
	return component_expand_files_max(c, root, content_only, COMPONENT_EXPAND_MAX, ret_paths);
}
