/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The component registry (components.h): the components.d drop-ins
 * parsed into components, the lookups by id, module, unit and path, and
 * what a component's globs find on disk (through glob-walk.c).
 */
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
#include "agent/conf/glob-walk.h"
#include "agent/conf/ini.h"
#include "agent/conf/protected.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/strv.h"

#define VALUE_SHOWN 80

/* ---------------------------------------------------------------------- */
/* Parsing one drop-in */

struct pending {
	struct component c;
	bool broken;
};

struct file_ctx {
	const char *file;
	const char *root; /* for the degrade paths' symlink check */
	const struct protected_set *protected;
	struct component_set *set; /* for its refusals */
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

static int refusal_add(struct file_ctx *ctx, const struct config_ini_item *it, const char *what,
                       const char *reason)
{
	struct component_set *s = ctx->set;
	struct component_refusal *n = realloc(s->refused, (s->n_refused + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	s->refused = n;
	n = &s->refused[s->n_refused];
	*n = (struct component_refusal){
	    .id = strdup(it->section),
	    .file = strdup(it->file),
	    .line = it->line,
	    .what = strdup(what),
	    .reason = strdup(reason),
	};
	s->n_refused++;
	return n->id && n->file && n->what && n->reason ? 0 : -ENOMEM;
}

/* A module, unit or glob in the protected set: the component is left out
 * (lifeline then does nothing for it, which never harms the machine). */
static int protected_problem(struct file_ctx *ctx, const struct config_ini_item *it,
                             const char *what, const char *reason)
{
	int r;

	config_log_item_error(it, "\"%.*s\" is protected (%s); component left out", VALUE_SHOWN,
	                      what, reason);
	ctx->current->broken = true;
	ctx->errors++;
	r = refusal_add(ctx, it, what, reason);
	return r < 0 ? r : -EPERM;
}

static const char *protected_reason(const struct file_ctx *ctx, enum list_kind kind, const char *w)
{
	const struct protected_set *p = ctx->protected;

	switch (kind) {
	case LIST_MODULES:
		return protected_module_reason(p, w);
	case LIST_UNITS:
		return protected_unit_reason(p, w);
	case LIST_GLOBS:
		return protected_glob_reason(p, w);
	}
	return NULL;
}

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
		{
			const char *why = protected_reason(ctx, kind, *w);

			if (why)
				return protected_problem(ctx, it, *w, why);
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

/* ---------------------------------------------------------------------- */
/* Degrade steps */

static int strv_merge(char ***a, char **b);

bool component_can_degrade(const struct component *c)
{
	return c && c->n_degrade > 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && streq(s + n - m, suffix);
}

int component_kernel_half(const struct component *c, struct component *ret)
{
	struct component k = {
	    .id = strdup(c->id),
	    .vendor = c->vendor ? strdup(c->vendor) : NULL,
	    .source_file = c->source_file ? strdup(c->source_file) : NULL,
	    .rollback_content = false,
	    .source_line = c->source_line,
	};
	int r = 0;

	if (!k.id || (c->vendor && !k.vendor) || (c->source_file && !k.source_file))
		r = -ENOMEM;
	if (r >= 0)
		r = strv_merge(&k.modules, c->modules);
	if (r >= 0)
		r = strv_merge(&k.units, c->kernel_units);
	if (r >= 0)
		r = strv_merge(&k.content, c->kernel_content);
	if (r >= 0)
		r = strv_merge(&k.kernel_units, c->kernel_units);
	if (r >= 0)
		r = strv_merge(&k.kernel_content, c->kernel_content);
	if (r < 0) {
		component_done(&k);
		return r;
	}
	*ret = k;
	return 0;
}

enum degrade_format degrade_format_of(const char *path)
{
	return ends_with(path, ".yaml") || ends_with(path, ".yml") ? DEGRADE_FORMAT_YAML
	                                                           : DEGRADE_FORMAT_KEYVALUE;
}

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-';
}

bool degrade_key_is_valid(enum degrade_format f, const char *key)
{
	unsigned names = 0;

	if (!key || strlen(key) > 255)
		return false;
	for (const char *p = key;;) {
		size_t n = 0;

		while (name_char(p[n]))
			n++;
		if (n == 0)
			return false;
		names++;
		if (!p[n])
			break;
		if (p[n] != '.')
			return false;
		p += n + 1;
	}
	return f == DEGRADE_FORMAT_YAML || names <= 2;
}

bool degrade_value_is_valid(const char *value)
{
	size_t n = value ? strlen(value) : 0;

	if (n == 0 || n > 255)
		return false;
	for (const char *p = value; *p; p++)
		if (!name_char(*p) && !strchr(".:/+@", *p))
			return false;
	return true;
}

/* An absolute path without ".", "..", empty names, glob or control
 * characters. */
static bool degrade_path_is_valid(const char *path)
{
	if (!rooted_path_is_valid(path) || name_has_glob_chars(path, strlen(path)))
		return false;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	return true;
}

/* What path under root is not, or NULL: without symlinks (a symlink or
 * something that is not a folder among its folders, or a symlink at the
 * path itself), a regular file. A missing path is fine here; the
 * step is checked again when it is applied. */
static const char *degrade_path_problem(const char *root, const char *path)
{
	_cleanup_close_ int root_fd = -1, dir_fd = -1;
	_cleanup_free_ char *dir = strdup(path + 1);
	char *slash;
	struct stat st;

	if (!dir)
		return NULL;
	root_fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return NULL;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		dir[0] = 0;
	dir_fd = rooted_open_dir(root_fd, dir, NULL);
	if (dir_fd == -ELOOP || dir_fd == -ENOTDIR)
		return "a path without symlinks (a symlink or a non-folder is on the way to it)";
	if (dir_fd < 0)
		return NULL;
	if (fstatat(dir_fd, strrchr(path, '/') + 1, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return NULL;
	if (S_ISLNK(st.st_mode))
		return "a path without symlinks (it is a symlink)";
	if (!S_ISREG(st.st_mode))
		return "a regular file";
	return NULL;
}

/* The degrade_file SOURCE: a plain name in the drop-in's folder, a
 * regular file (no symlink) of at most DEGRADE_SOURCE_MAX bytes. */
static int read_degrade_source(const char *dropin, const char *name, char **ret, size_t *ret_size,
                               const char **ret_why)
{
	_cleanup_free_ char *dir = strdup(dropin), *buf = NULL;
	_cleanup_close_ int dir_fd = -1, fd = -1;
	char *slash;
	struct stat st;
	size_t got = 0;

	if (!dir)
		return -ENOMEM;
	*ret_why = "a plain file name (no '/', not starting with '.', not ending in \".conf\") "
	           "in the drop-in's folder";
	if (strchr(name, '/') || name[0] == '.' || ends_with(name, ".conf") ||
	    strlen(name) > NAME_MAX)
		return -EINVAL;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	dir_fd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -EINVAL;
	*ret_why = "a readable regular file (not a symlink) in the drop-in's folder";
	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -EINVAL;
	*ret_why = "a file of at most 64 KiB";
	if (st.st_size > DEGRADE_SOURCE_MAX)
		return -EINVAL;
	buf = malloc(DEGRADE_SOURCE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = fd_read_retry(fd, buf + got, DEGRADE_SOURCE_MAX + 1 - got);

		if (n < 0) {
			*ret_why =
			    "a readable regular file (not a symlink) in the drop-in's folder";
			return -EINVAL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > DEGRADE_SOURCE_MAX)
			return -EINVAL;
	}
	buf[got] = 0;
	*ret = TAKE_PTR(buf);
	*ret_size = got;
	return 0;
}

static void degrade_edit_done(struct degrade_edit *e)
{
	free(e->path);
	free(e->key);
	free(e->value);
	free(e->data);
	*e = (struct degrade_edit){0};
}

/* One degrade_file (PATH SOURCE) or degrade_set (PATH KEY VALUE) line:
 * one edit. The key may be repeated and continued: each line is an edit. */
static int parse_degrade(struct file_ctx *ctx, const struct config_ini_item *it,
                         struct component *c)
{
	bool install = streq(it->key, "degrade_file");
	_cleanup_strv_free_ char **words = NULL;
	struct degrade_edit e = {.kind = install ? DEGRADE_INSTALL : DEGRADE_SET, .line = it->line};
	struct degrade_edit *n;
	const char *why;
	int r;

	r = strv_split_ws(it->value, &words);
	if (r < 0)
		return r;
	if (strv_length(words) != (install ? 2 : 3))
		return item_problem(ctx, it,
		                    install ? "\"PATH SOURCE\" (two words)"
		                            : "\"PATH KEY VALUE\" (three words)",
		                    it->value);
	if (!degrade_path_is_valid(words[0]))
		return item_problem(ctx, it,
		                    "an absolute, normalised path (no \".\", \"..\", \"//\", glob "
		                    "or control characters)",
		                    words[0]);
	why = protected_path_reason(ctx->protected, words[0]);
	if (why)
		return protected_problem(ctx, it, words[0], why);
	why = degrade_path_problem(ctx->root, words[0]);
	if (why)
		return item_problem(ctx, it, why, words[0]);
	for (size_t i = 0; i < c->n_degrade; i++)
		if (streq(c->degrade[i].path, words[0]) &&
		    (install || c->degrade[i].kind == DEGRADE_INSTALL))
			return item_problem(
			    ctx, it,
			    "a path of its own (a path is installed once, or edited, "
			    "not both)",
			    words[0]);
	if (c->n_degrade >= DEGRADE_EDITS_MAX)
		return item_problem(ctx, it, "within the limit of 32 degrade edits", words[0]);
	if (install) {
		r = read_degrade_source(ctx->file, words[1], &e.data, &e.size, &why);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return item_problem(ctx, it, why, words[1]);
	} else {
		e.format = degrade_format_of(words[0]);
		if (!degrade_key_is_valid(e.format, words[1]))
			return item_problem(
			    ctx, it,
			    e.format == DEGRADE_FORMAT_YAML
			        ? "a YAML key (names of [A-Za-z0-9_-] joined by '.')"
			        : "a key ([A-Za-z0-9_-], or SECTION.KEY)",
			    words[1]);
		if (!degrade_value_is_valid(words[2]))
			return item_problem(ctx, it, "a plain value ([A-Za-z0-9_.:/+@-], one word)",
			                    words[2]);
		e.key = strdup(words[1]);
		e.value = strdup(words[2]);
		if (!e.key || !e.value) {
			degrade_edit_done(&e);
			return -ENOMEM;
		}
	}
	e.path = strdup(words[0]);
	if (!e.path) {
		degrade_edit_done(&e);
		return -ENOMEM;
	}
	n = realloc(c->degrade, (c->n_degrade + 1) * sizeof(*n));
	if (!n) {
		degrade_edit_done(&e);
		return -ENOMEM;
	}
	c->degrade = n;
	c->degrade[c->n_degrade++] = e;
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

	if (streq(it->key, "kernel_units"))
		return parse_list(ctx, it, LIST_UNITS, &c->kernel_units);
	if (streq(it->key, "degrade_units"))
		return parse_list(ctx, it, LIST_UNITS, &c->degrade_units);
	if (streq(it->key, "kernel_content"))
		return parse_list(ctx, it, LIST_GLOBS, &c->kernel_content);
	if (streq(it->key, "degrade_file") || streq(it->key, "degrade_set"))
		return parse_degrade(ctx, it, c);

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
	strv_free(c->kernel_units);
	strv_free(c->kernel_content);
	strv_free(c->degrade_units);
	for (size_t i = 0; i < c->n_degrade; i++)
		degrade_edit_done(&c->degrade[i]);
	free(c->degrade);
	*c = (struct component){0};
}

void components_done(struct component_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		component_done(&s->items[i]);
	free(s->items);
	for (size_t i = 0; i < s->n_refused; i++) {
		free(s->refused[i].id);
		free(s->refused[i].file);
		free(s->refused[i].what);
		free(s->refused[i].reason);
	}
	free(s->refused);
	protected_set_unref(s->protected);
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

/* Adds the words of b that a does not hold yet. */
static int strv_merge(char ***a, char **b)
{
	STRV_FOREACH (w, b)
		if (!strv_contains(*a, *w)) {
			int r = strv_extend(a, *w);

			if (r < 0)
				return r;
		}
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
		/* the kernel half is part of the component: its units and
		 * content are the component's too */
		r = strv_merge(&p->c.units, p->c.kernel_units);
		if (r >= 0)
			r = strv_merge(&p->c.units, p->c.degrade_units);
		if (r >= 0)
			r = strv_merge(&p->c.content, p->c.kernel_content);
		if (r < 0) {
			component_done(&p->c);
			continue;
		}
		if (p->c.degrade_units && p->c.n_degrade == 0)
			log_warning("%s:%u: [%s]: degrade_units without a degrade step "
			            "(degrade_file, degrade_set): never started",
			            ctx->file, p->c.source_line, p->c.id);
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

static int load_one(const char *root, const char *path, struct component_set *set,
                    unsigned *problems)
{
	_cleanup_free_ char *text = NULL;
	struct file_ctx ctx = {.file = path, .root = root, .protected = set->protected, .set = set};
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

static bool dropin_name_ok(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && streq(name + n - 5, ".conf");
}

/* The drop-in folders, the one that wins first: the administrator's
 * /etc overrides or masks the vendor's /usr/lib (systemd's convention). */
static const char *const dropin_dirs[] = {
    "/etc/lifeline/components.d",
    "/usr/lib/lifeline/components.d",
};

/* Adds the drop-in names of dir not in *names yet. A missing folder adds
 * nothing. */
static int list_dropins(const char *dir, char ***names)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) {
			log_debug("%s does not exist", dir);
			return 0;
		}
		return log_error_errno(errno, "Failed to open %s: %m", dir);
	}
	while ((errno = 0, de = readdir(d))) {
		if (!dropin_name_ok(de->d_name) || strv_contains(*names, de->d_name))
			continue;
		r = strv_extend(names, de->d_name);
		if (r < 0)
			break;
	}
	if (r == 0 && errno != 0)
		r = log_error_errno(errno, "Failed to list %s: %m", dir);
	closedir(d);
	return r;
}

/* An empty file or a symlink to /dev/null: the name is masked. */
static bool dropin_masks(const char *path, const struct stat *lst)
{
	char target[16];
	ssize_t n;

	if (S_ISREG(lst->st_mode))
		return lst->st_size == 0;
	if (!S_ISLNK(lst->st_mode))
		return false;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = 0;
	return streq(target, "/dev/null");
}

/* The file that holds name: the first folder that has it wins; an empty
 * or /dev/null one there masks the name (NULL, 0). */
static int dropin_path(char *const *dirs, const char *name, char **ret)
{
	for (size_t i = 0; i < ELEMENTSOF(dropin_dirs); i++) {
		_cleanup_free_ char *path = path_join(dirs[i], name);
		struct stat lst;

		if (!path)
			return -ENOMEM;
		if (lstat(path, &lst) < 0)
			continue;
		if (dropin_masks(path, &lst)) {
			log_debug("%s masks the drop-in %s", path, name);
			*ret = NULL;
			return 0;
		}
		*ret = TAKE_PTR(path);
		return 0;
	}
	*ret = NULL;
	return 0;
}

int components_load(const char *root, struct component_set *ret, unsigned *ret_problems)
{
	_cleanup_(components_donep) struct component_set set = {0};
	_cleanup_strv_free_ char **dirs = NULL, **names = NULL;
	unsigned problems = 0;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(dropin_dirs); i++) {
		r = strv_consume(&dirs, path_under_root(root, dropin_dirs[i]));
		if (r < 0)
			return r;
	}
	STRV_FOREACH (dir, dirs) {
		r = list_dropins(*dir, &names);
		if (r < 0)
			return r;
	}
	/* every set carries the protected set: level 3 and the quarantine
	 * check against it even when no drop-in is installed */
	set.protected = protected_set_get(root);
	if (!set.protected)
		return -ENOMEM;
	if (!names)
		goto done;
	strv_sort_uniq(names);

	STRV_FOREACH (name, names) {
		_cleanup_free_ char *path = NULL;
		struct stat st;

		r = dropin_path(dirs, *name, &path);
		if (r < 0)
			return r;
		if (!path)
			continue; /* masked */
		/* stat, not lstat: a symlink to a regular file is fine. */
		if (stat(path, &st) < 0) {
			log_warning("%s: %s, ignoring it", path, strerror(errno));
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			log_warning("%s: not a regular file, ignoring it", path);
			continue;
		}
		r = load_one(root, path, &set, &problems);
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
/* Globs on disk (glob-walk.h) */

static int open_root(const char *root)
{
	int fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return log_debug_errno(errno, "Failed to open root %s: %m",
		                       root && *root ? root : "/");
	return fd;
}

static bool root_is_real(const char *root)
{
	return !root || !*root || streq(root, "/");
}

static int found_any(const char *path _unused_, const struct stat *st _unused_,
                     void *userdata _unused_)
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
	/* symlinks resolve right only on the real root */
	unsigned flags = root_is_real(root) ? GLOB_WALK_FOLLOW_DIRS : 0;
	char **lists[] = {c->files, c->content};
	_cleanup_close_ int fd = -1;
	bool active = false;

	if (c->files || c->content)
		fd = open_root(root);
	for (size_t i = 0; fd >= 0 && i < ELEMENTSOF(lists) && !active; i++)
		STRV_FOREACH (g, lists[i])
			if (glob_walk(fd, *g, flags, found_any, NULL) > 0) {
				active = true;
				break;
			}
	if (!active && root_is_real(root))
		active = module_loaded(c);
	return active;
}

struct expand {
	char **found;
	size_t n, alloc, max;
};

static int found_file(const char *path, const struct stat *st, void *userdata)
{
	struct expand *w = userdata;

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
	w->found[w->n] = strdup(path);
	if (!w->found[w->n])
		return -ENOMEM;
	w->found[++w->n] = NULL;
	return 0;
}

int component_expand_files_max(const struct component *c, const char *root, bool content_only,
                               size_t max, char ***ret_paths)
{
	struct expand w = {.max = max};
	char **lists[] = {c->content, content_only ? NULL : c->files};
	_cleanup_close_ int fd = -1;
	int r = 0;

	w.found = calloc(1, sizeof(char *));
	if (!w.found)
		return -ENOMEM;
	w.alloc = 1;
	if (lists[0] || lists[1]) {
		fd = open_root(root);
		r = fd < 0 ? fd : 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(lists) && r >= 0; i++)
		STRV_FOREACH (g, lists[i]) {
			r = glob_walk(fd, *g, 0, found_file, &w);
			if (r < 0)
				break;
		}
	if (r < 0) {
		strv_free(w.found);
		return r;
	}
	/* Overlapping globs may have found a path twice; the bound above
	 * counts those twice, which only errs on the safe side. */
	strv_sort_uniq(w.found);
	*ret_paths = w.found;
	return 0;
}

int component_expand_files(const struct component *c, const char *root, bool content_only,
                           char ***ret_paths)
{
	return component_expand_files_max(c, root, content_only, COMPONENT_EXPAND_MAX, ret_paths);
}
