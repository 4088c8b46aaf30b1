/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What changed between the last good inventory and the current one, per
 * component: the evidence of level 1 when the panic log names nobody.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/inventory/inventory-internal.h"
#include "agent/inventory/inventory.h"
#include "common/macro.h"
#include "common/strv.h"

static void component_diff_done(struct inventory_component_diff *cd)
{
	free(cd->id);
	for (size_t i = 0; i < cd->n_changes; i++)
		free(cd->changes[i].path);
	free(cd->changes);
	memset(cd, 0, sizeof(*cd));
}

struct inventory_diff *inventory_diff_free(struct inventory_diff *d)
{
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n_components; i++)
		component_diff_done(&d->components[i]);
	free(d->components);
	free(d);
	return NULL;
}

static int add_change(struct inventory_component_diff *cd, size_t *alloc,
                      enum inventory_change_kind kind, unsigned what,
                      const struct inventory_file *before, const struct inventory_file *after)
{
	struct inventory_change *ch;
	const struct inventory_file *named = after ? after : before;

	if (cd->n_changes == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 8;
		struct inventory_change *n = realloc(cd->changes, na * sizeof(*n));

		if (!n)
			return -ENOMEM;
		cd->changes = n;
		*alloc = na;
	}
	ch = &cd->changes[cd->n_changes];
	memset(ch, 0, sizeof(*ch));
	ch->path = strdup(named->path);
	if (!ch->path)
		return -ENOMEM;
	cd->n_changes++;
	ch->kind = kind;
	ch->what = what;
	if (before) {
		ch->before = *before;
		ch->before.path = NULL;
	}
	if (after) {
		ch->after = *after;
		ch->after.path = NULL;
	}
	ch->content = (before && before->content) || (after && after->content);
	if (!ch->content)
		cd->n_non_content++;
	switch (kind) {
	case INVENTORY_ADDED:
		cd->n_added++;
		break;
	case INVENTORY_REMOVED:
		cd->n_removed++;
		break;
	case INVENTORY_CHANGED:
		cd->n_changed++;
		break;
	}
	if (after) {
		/* A removal has no time of its own: the file is gone. */
		cd->newest_mtime_ns = MAX(cd->newest_mtime_ns, after->mtime_ns);
		cd->newest_change_ns =
		    MAX(cd->newest_change_ns, MAX(after->mtime_ns, after->ctime_ns));
	}
	return 0;
}

static int diff_component(const struct inventory_component *lg,
                          const struct inventory_component *now,
                          struct inventory_component_diff *cd)
{
	size_t i = 0, j = 0, alloc = 0, nl = lg ? lg->n_files : 0;
	int r;

	cd->id = strdup(now->id);
	if (!cd->id)
		return -ENOMEM;
	cd->error = now->error;
	/* Without a complete list on both sides a comparison would call every
	 * file added or removed: report the error instead. */
	if (now->error || (lg && lg->error))
		return 0;

	while (i < nl || j < now->n_files) {
		const struct inventory_file *a = i < nl ? &lg->files[i] : NULL;
		const struct inventory_file *b = j < now->n_files ? &now->files[j] : NULL;
		int c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);

		if (c < 0) {
			r = add_change(cd, &alloc, INVENTORY_REMOVED, 0, a, NULL);
			i++;
		} else if (c > 0) {
			r = add_change(cd, &alloc, INVENTORY_ADDED, 0, NULL, b);
			j++;
		} else {
			unsigned what = inv_file_compare(a, b);

			r = what ? add_change(cd, &alloc, INVENTORY_CHANGED, what, a, b) : 0;
			i++;
			j++;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int inventory_diff(const struct inventory *last_good, const struct inventory *now,
                   struct inventory_diff **ret)
{
	_cleanup_inventory_diff_free_ struct inventory_diff *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	if (now && now->n_components > 0) {
		d->components = calloc(now->n_components, sizeof(d->components[0]));
		if (!d->components)
			return -ENOMEM;
	}
	for (size_t i = 0; now && i < now->n_components; i++) {
		const struct inventory_component *nc = &now->components[i];
		struct inventory_component_diff *cd = &d->components[d->n_components];

		r = diff_component(inventory_find_component(last_good, nc->id), nc, cd);
		d->n_components++;
		if (r < 0)
			return r;
		if (cd->n_changes == 0 && cd->error == 0) {
			component_diff_done(cd);
			d->n_components--;
		}
	}
	*ret = TAKE_PTR(d);
	return 0;
}

const struct inventory_component_diff *inventory_diff_find(const struct inventory_diff *d,
                                                           const char *id)
{
	for (size_t i = 0; d && i < d->n_components; i++)
		if (streq(d->components[i].id, id))
			return &d->components[i];
	return NULL;
}

static int suspect_cmp(const void *x, const void *y)
{
	const struct inventory_component_diff *a =
	    *(const struct inventory_component_diff *const *)x;
	const struct inventory_component_diff *b =
	    *(const struct inventory_component_diff *const *)y;

	if (a->newest_change_ns != b->newest_change_ns)
		return a->newest_change_ns > b->newest_change_ns ? -1 : 1;
	return strcmp(a->id, b->id);
}

int inventory_diff_suspects(const struct inventory_diff *d, char ***ret_component_ids)
{
	_cleanup_free_ const struct inventory_component_diff **v = NULL;
	_cleanup_strv_free_ char **ids = calloc(1, sizeof(char *));
	size_t n = 0;
	int r;

	if (!ids)
		return -ENOMEM;
	if (d && d->n_components > 0) {
		v = calloc(d->n_components, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	/* A component that could not be inventoried is not known to have
	 * changed: it is in the report lines, not among the suspects. */
	for (size_t i = 0; d && i < d->n_components; i++)
		if (d->components[i].n_changes > 0)
			v[n++] = &d->components[i];
	if (n > 0)
		qsort(v, n, sizeof(*v), suspect_cmp);
	for (size_t i = 0; i < n; i++) {
		r = strv_extend(&ids, v[i]->id);
		if (r < 0)
			return r;
	}
	*ret_component_ids = TAKE_PTR(ids);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Lines for reports */

static void format_time(int64_t ns, char buf[32])
{
	time_t s = (time_t)(ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000);
	struct tm tm;

	if (!gmtime_r(&s, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "@%" PRIi64, ns / 1000000000);
}

static void short_hash(const struct inventory_file *f, char buf[16])
{
	char hex[2 * INVENTORY_SHA256_SIZE + 1];

	if (!f->hashed) {
		snprintf(buf, 16, "unknown");
		return;
	}
	inv_hex(f->sha256, hex);
	snprintf(buf, 16, "%.8s\u2026", hex);
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "regular file";
	case S_IFLNK:
		return "symlink";
	case S_IFDIR:
		return "directory";
	default:
		return "special file";
	}
}

static char *change_line(const char *id, const struct inventory_change *ch)
{
	char h1[16], h2[16], t[32], details[512] = "";
	size_t len = 0;
	char *line = NULL;

#define APPEND(...)                                                                              \
	do {                                                                                     \
		if (len < sizeof(details))                                                       \
			len +=                                                                   \
			    (size_t)snprintf(details + len, sizeof(details) - len, __VA_ARGS__); \
	} while (0)

	switch (ch->kind) {
	case INVENTORY_ADDED:
		short_hash(&ch->after, h2);
		format_time(ch->after.mtime_ns, t);
		if (S_ISREG(ch->after.mode))
			APPEND("sha256 %s, size %" PRIu64 ", mtime %s", h2, ch->after.size, t);
		else
			APPEND("%s, mtime %s", type_name(ch->after.mode), t);
		if (asprintf(&line, "%s: %s added (%s)", id, ch->path, details) < 0)
			return NULL;
		return line;
	case INVENTORY_REMOVED:
		short_hash(&ch->before, h1);
		if (asprintf(&line, "%s: %s removed (was sha256 %s)", id, ch->path, h1) < 0)
			return NULL;
		return line;
	case INVENTORY_CHANGED:
		break;
	}
	if (ch->what & INVENTORY_CHANGED_TYPE)
		APPEND("%s \u2192 %s, ", type_name(ch->before.mode), type_name(ch->after.mode));
	if (ch->what & INVENTORY_CHANGED_CONTENT) {
		short_hash(&ch->before, h1);
		short_hash(&ch->after, h2);
		APPEND("sha256 %s \u2192 %s, ", h1, h2);
	}
	if (ch->what & INVENTORY_CHANGED_MODE)
		APPEND("mode %04o \u2192 %04o, ", ch->before.mode & 07777, ch->after.mode & 07777);
	if (ch->what & INVENTORY_CHANGED_OWNER)
		APPEND("owner %" PRIu32 ":%" PRIu32 " \u2192 %" PRIu32 ":%" PRIu32 ", ",
		       ch->before.uid, ch->before.gid, ch->after.uid, ch->after.gid);
	format_time(ch->after.mtime_ns, t);
	APPEND("mtime %s", t);
#undef APPEND
	if (asprintf(&line, "%s: %s changed (%s)", id, ch->path, details) < 0)
		return NULL;
	return line;
}

int inventory_diff_lines(const struct inventory_diff *d, size_t max_per_component,
                         char ***ret_lines)
{
	_cleanup_strv_free_ char **lines = calloc(1, sizeof(char *));
	int r;

	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; d && i < d->n_components; i++) {
		const struct inventory_component_diff *cd = &d->components[i];
		size_t shown = cd->n_changes;

		if (cd->error) {
			char *l = NULL;

			if (asprintf(&l, "%s: files could not be inventoried (%s)", cd->id,
			             strerror(-cd->error)) < 0)
				return -ENOMEM;
			r = strv_consume(&lines, l);
			if (r < 0)
				return r;
		}
		if (max_per_component > 0 && shown > max_per_component)
			shown = max_per_component;
		for (size_t k = 0; k < shown; k++) {
			r = strv_consume(&lines, change_line(cd->id, &cd->changes[k]));
			if (r < 0)
				return r;
		}
		if (shown < cd->n_changes) {
			char *l = NULL;

			if (asprintf(&l, "%s: \u2026 and %zu more changes", cd->id,
			             cd->n_changes - shown) < 0)
				return -ENOMEM;
			r = strv_consume(&lines, l);
			if (r < 0)
				return r;
		}
	}
	*ret_lines = TAKE_PTR(lines);
	return 0;
}
