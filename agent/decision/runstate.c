/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The /run/lifeline/state hand-off between the boot phases, read through
 * common/kv into typed fields, and the durable quarantine lists on the
 * root (active, modules, decided): their only reader and writer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/kv.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/components.h"
#include "agent/decision/runstate.h"

void runstate_init(struct runstate *s)
{
	memset(s, 0, sizeof(*s));
	s->image_enabled = RUNSTATE_UNKNOWN;
}

void runstate_done(struct runstate *s)
{
	free(s->mode);
	free(s->store);
	free(s->action);
	strv_free(s->quarantine);
	strv_free(s->degrade);
	strv_free(s->extra_modules);
	strv_free(s->blocked);
	free(s->reason);
	strv_free(s->evidence);
	free(s->trigger);
	free(s->trigger_reason);
	free(s->error);
	free(s->record_replaced);
	runstate_init(s);
}

/* Values are one line each: newlines in evidence become spaces. */
static void put_line(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s=", key);
	for (const char *p = value; *p; p++)
		fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
	fputc('\n', f);
}

static int mkdir_parent(const char *path)
{
	_cleanup_free_ char *d = strdup(path);
	char *slash;

	if (!d)
		return -ENOMEM;
	slash = strrchr(d, '/');
	if (!slash || slash == d)
		return 0;
	*slash = 0;
	return mkdir_p(d, 0755);
}

int runstate_write(const char *path, const struct runstate *s)
{
	_cleanup_free_ char *buf = NULL, *q = NULL, *m = NULL, *b = NULL;
	size_t size = 0;
	FILE *f;
	int r;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "boot_seq=%u\nfailures=%u\nlevel=%u\ngeneration=%u\n", s->boot_seq, s->failures,
	        s->level, s->generation);
	put_line(f, "mode", strempty(s->mode));
	put_line(f, "store", strempty(s->store));
	put_line(f, "action", strempty(s->action));
	q = strv_join(s->quarantine, " ");
	put_line(f, "quarantine", strempty(q));
	if (s->degrade) {
		_cleanup_free_ char *d = strv_join(s->degrade, " ");

		put_line(f, "degrade", strempty(d));
	}
	if (s->blocked) {
		b = strv_join(s->blocked, " ");
		put_line(f, "blocked", strempty(b));
	}
	if (s->extra_modules) {
		m = strv_join(s->extra_modules, " ");
		put_line(f, "modules", strempty(m));
	}
	if (s->reason)
		put_line(f, "reason", s->reason);
	STRV_FOREACH (e, s->evidence)
		put_line(f, "evidence", *e);
	if (s->trigger)
		put_line(f, "trigger", s->trigger);
	if (s->trigger_reason)
		put_line(f, "trigger_reason", s->trigger_reason);
	if (s->error)
		put_line(f, "error", s->error);
	if (s->image_enabled != RUNSTATE_UNKNOWN)
		put_line(f, "enabled", s->image_enabled ? "yes" : "no");
	fprintf(f, "watchdog=%u\n", s->watchdog);
	if (s->record_replaced)
		put_line(f, "record_replaced", s->record_replaced);
	if (fclose(f) != 0)
		return -ENOMEM;

	r = mkdir_parent(path);
	if (r < 0)
		return r;
	return write_file_atomic(path, buf, size, 0644);
}

/* A key given twice (a damaged file): the last one wins, as for numbers. */
static int set_value(char **field, const char *v)
{
	char *c = strdup(v);

	if (!c)
		return -ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

/* One key of the hand-off (kv_parse() callback); unknown keys are
 * skipped, so an older reader takes a newer file. */
static int runstate_key(const char *k, char *v, void *userdata)
{
	struct runstate *s = userdata;
	int r = 0;

	if (streq(k, "boot_seq"))
		s->boot_seq = (unsigned)strtoul(v, NULL, 10);
	else if (streq(k, "failures"))
		s->failures = (unsigned)strtoul(v, NULL, 10);
	else if (streq(k, "level"))
		s->level = (unsigned)strtoul(v, NULL, 10);
	else if (streq(k, "generation"))
		s->generation = (unsigned)strtoul(v, NULL, 10);
	else if (streq(k, "mode"))
		r = set_value(&s->mode, v);
	else if (streq(k, "store"))
		r = set_value(&s->store, v);
	else if (streq(k, "action"))
		r = set_value(&s->action, v);
	else if (streq(k, "reason"))
		r = set_value(&s->reason, v);
	else if (streq(k, "trigger"))
		r = set_value(&s->trigger, v);
	else if (streq(k, "trigger_reason"))
		r = set_value(&s->trigger_reason, v);
	else if (streq(k, "error"))
		r = set_value(&s->error, v);
	else if (streq(k, "record_replaced"))
		r = set_value(&s->record_replaced, v);
	else if (streq(k, "watchdog"))
		s->watchdog = (unsigned)strtoul(v, NULL, 10);
	else if (streq(k, "enabled"))
		s->image_enabled = streq(v, "yes") ? 1 : streq(v, "no") ? 0 : RUNSTATE_UNKNOWN;
	else if (streq(k, "quarantine")) {
		strv_free(s->quarantine);
		s->quarantine = NULL;
		r = strv_split_ws(v, &s->quarantine);
	} else if (streq(k, "degrade")) {
		strv_free(s->degrade);
		s->degrade = NULL;
		r = strv_split_ws(v, &s->degrade);
	} else if (streq(k, "blocked")) {
		strv_free(s->blocked);
		s->blocked = NULL;
		r = strv_split_ws(v, &s->blocked);
	} else if (streq(k, "modules")) {
		strv_free(s->extra_modules);
		s->extra_modules = NULL;
		r = strv_split_ws(v, &s->extra_modules);
	} else if (streq(k, "evidence"))
		r = strv_extend(&s->evidence, v);
	return r;
}

bool runstate_uncounted(const struct runstate *s)
{
	return streq_ptr(s->mode, "uncounted") || s->error;
}

int runstate_read(const char *path, struct runstate *ret)
{
	_cleanup_free_ char *text = NULL;
	struct runstate s;
	int r;

	r = read_full_file(path, 256 * 1024, &text, NULL);
	if (r < 0)
		return r;
	runstate_init(&s);
	r = kv_parse(text, runstate_key, &s);
	if (r < 0) {
		runstate_done(&s);
		return r;
	}
	s.mode_kind = !s.mode                      ? RUNSTATE_MODE_UNKNOWN
	              : streq(s.mode, "normal")    ? RUNSTATE_MODE_NORMAL
	              : streq(s.mode, "safe")      ? RUNSTATE_MODE_SAFE
	              : streq(s.mode, "given-up")  ? RUNSTATE_MODE_GIVEN_UP
	              : streq(s.mode, "uncounted") ? RUNSTATE_MODE_UNCOUNTED
	                                           : RUNSTATE_MODE_UNKNOWN;
	s.action_kind = !s.action || streq(s.action, "none") ? RUNSTATE_ACTION_NONE
	                : streq(s.action, "escalate")        ? RUNSTATE_ACTION_ESCALATE
	                : streq(s.action, "give-up")         ? RUNSTATE_ACTION_GIVE_UP
	                                                     : RUNSTATE_ACTION_OTHER;
	*ret = s;
	return 0;
}

int quarantine_active_read(const char *root, struct quarantine_entry **ret, unsigned *ret_n)
{
	_cleanup_free_ char *path = path_under_root(root, QUARANTINE_ACTIVE_FILE);

	if (!path)
		return -ENOMEM;
	return quarantine_active_read_path(path, ret, ret_n);
}

int quarantine_active_read_path(const char *path, struct quarantine_entry **ret, unsigned *ret_n)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct quarantine_entry *list = NULL;
	char *line, *save = NULL;
	unsigned n = 0;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 1024 * 1024, &text, NULL);
	if (r == -ENOENT) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct quarantine_entry e = {0}, *nl;
		char id[128], kind[16] = "";

		if (sscanf(line, "%127s %u %u %15s", id, &e.generation, &e.level, kind) < 3 ||
		    !component_id_is_valid(id))
			continue; /* a damaged line is skipped, never trusted */
		/* any other fourth word: a whole quarantine, the safe side */
		e.degraded = streq(kind, "degrade");
		memcpy(e.id, id, strlen(id) + 1); /* valid ids are <= 64 chars */
		nl = realloc(list, (n + 1) * sizeof(*list));
		if (!nl)
			return -ENOMEM;
		list = nl;
		list[n++] = e;
	}
	*ret = TAKE_PTR(list);
	*ret_n = n;
	return 0;
}

int quarantine_active_write(const char *root, const struct quarantine_entry *e, unsigned n)
{
	_cleanup_free_ char *path = path_under_root(root, QUARANTINE_ACTIVE_FILE);

	if (!path)
		return -ENOMEM;
	return quarantine_active_write_path(path, e, n);
}

int quarantine_active_write_path(const char *path, const struct quarantine_entry *e, unsigned n)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	FILE *f;
	int r;

	if (!path)
		return -ENOMEM;
	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s %u %u%s\n", e[i].id, e[i].generation, e[i].level,
		        e[i].degraded ? " degrade" : "");
	if (fclose(f) != 0)
		return -ENOMEM;
	r = mkdir_parent(path);
	if (r < 0)
		return r;
	if (n == 0)
		return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
	return write_file_atomic(path, buf, size, 0644);
}

int quarantine_modules_read(const char *root, char ***ret)
{
	_cleanup_free_ char *path = path_under_root(root, QUARANTINE_MODULES_FILE), *text = NULL;
	_cleanup_strv_free_ char **l = NULL;
	char *line, *save = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 256 * 1024, &text, NULL);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!module_name_is_valid(line, false) || strv_contains(l, line))
			continue;
		if (strv_extend(&l, line) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

int quarantine_modules_write(const char *root, char **modules)
{
	_cleanup_free_ char *path = path_under_root(root, QUARANTINE_MODULES_FILE), *buf = NULL;
	size_t size = 0;
	FILE *f;
	int r;

	if (!path)
		return -ENOMEM;
	if (strv_length(modules) == 0)
		return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	STRV_FOREACH (m, modules)
		fprintf(f, "%s\n", *m);
	if (fclose(f) != 0)
		return -ENOMEM;
	r = mkdir_parent(path);
	if (r < 0)
		return r;
	return write_file_atomic(path, buf, size, 0644);
}

int quarantine_decided_read(const char *root, unsigned *ret)
{
	_cleanup_free_ char *path = path_under_root(root, QUARANTINE_DECIDED_FILE), *text = NULL;
	unsigned long v;
	char *end;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 64, &text, NULL);
	if (r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return r;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n') || v > UINT32_MAX || text[0] == '-')
		return -EBADMSG;
	*ret = (unsigned)v;
	return 0;
}

int quarantine_decided_write(const char *root, unsigned generation)
{
	_cleanup_free_ char *path = path_under_root(root, QUARANTINE_DECIDED_FILE);
	char buf[32];
	int n, r;

	if (!path)
		return -ENOMEM;
	r = mkdir_parent(path);
	if (r < 0)
		return r;
	n = snprintf(buf, sizeof(buf), "%u\n", generation);
	return write_file_atomic(path, buf, (size_t)n, 0644);
}

int quarantine_active_add(struct quarantine_entry **list, unsigned *n, const char *id,
                          unsigned generation, unsigned level)
{
	struct quarantine_entry *nl;

	if (!component_id_is_valid(id))
		return -EINVAL;
	for (unsigned i = 0; i < *n; i++) {
		struct quarantine_entry *e = &(*list)[i];

		if (!streq(e->id, id))
			continue;
		if (!e->degraded || e->generation == generation)
			return 0;
		e->degraded = false;
		e->generation = generation;
		e->level = level;
		return 1;
	}
	nl = realloc(*list, (*n + 1) * sizeof(**list));
	if (!nl)
		return -ENOMEM;
	memset(&nl[*n], 0, sizeof(*nl));
	memcpy(nl[*n].id, id, strlen(id) + 1); /* valid ids are <= 64 chars */
	nl[*n].generation = generation;
	nl[*n].level = level;
	*list = nl;
	(*n)++;
	return 1;
}
