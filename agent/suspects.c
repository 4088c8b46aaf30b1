/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "pstore.h"
#include "suspects.h"

void suspects_done(struct suspects *s)
{
	strv_free(s->components);
	strv_free(s->extra_modules);
	free(s->reason);
	strv_free(s->evidence);
	memset(s, 0, sizeof(*s));
}

/* An eBPF agent's crash names its task, not a module: match the task name
 * (the kernel keeps 15 bytes of it) against the component's binaries and
 * unit names. */
static const struct component *component_by_comm(const struct component_set *set, const char *comm)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct component *c = &set->items[i];

		STRV_FOREACH(f, c->files) {
			const char *base = strrchr(*f, '/');

			base = base ? base + 1 : *f;
			if (!strpbrk(base, "*?[") && pstore_comm_matches_binary(comm, base))
				return c;
		}
		STRV_FOREACH(u, c->units) {
			_cleanup_free_ char *name = strdup(*u);
			char *dot = name ? strrchr(name, '.') : NULL;

			if (dot)
				*dot = 0;
			if (name && pstore_comm_matches_binary(comm, name))
				return c;
		}
	}
	return NULL;
}

static void add_evidence(struct suspects *s, const char *line)
{
	if (line && !strv_contains(s->evidence, line))
		(void)strv_extend(&s->evidence, line);
}

/* Evidence from one crash text; returns 1 when a component was named. */
static int from_text(const char *text, size_t size, const struct component_set *set,
		     unsigned level, struct suspects *s)
{
	struct pstore_evidence e = { 0 };
	_cleanup_strv_free_ char **ranked = NULL;
	const struct component *named = NULL;
	const char *why = NULL, *module = NULL;
	int r;

	r = pstore_parse(text, size, &e);
	if (r < 0)
		return r;
	r = pstore_rank_modules(&e, &ranked);
	if (r < 0)
		goto out;

	STRV_FOREACH(m, ranked) {
		const struct component *c = components_find_module(set, *m);

		if (c && !named) {
			named = c;
			module = *m;
			why = e.rip_module && streq(e.rip_module, *m) ? "the crash's RIP is in module"
				: (e.loading_module && streq(e.loading_module, *m)) ? "the crash happened while loading module"
				: "the crash's call trace runs through module";
		}
		if (!c && level >= 3 && !strv_contains(s->extra_modules, *m))
			(void)strv_extend(&s->extra_modules, *m);
	}
	if (!named && e.comm) {
		named = component_by_comm(set, e.comm);
		if (named) {
			module = e.comm;
			why = "the crashing task is";
		}
	}
	if (named && !strv_contains(s->components, named->id)) {
		(void)strv_extend(&s->components, named->id);
		if (!s->reason && asprintf(&s->reason, "panic log: %s %s, which belongs to component %s",
					   why, module, named->id) < 0)
			s->reason = NULL;
	}
	add_evidence(s, e.headline);
	add_evidence(s, e.rip_line);
	for (size_t i = 0; i < e.n_trace_lines && i < 3; i++)
		add_evidence(s, e.trace_lines[i]);
	add_evidence(s, e.comm_line);
	add_evidence(s, e.panic_line);
	r = named ? 1 : 0;
out:
	pstore_evidence_done(&e);
	return r;
}

int suspects_pick(unsigned level, const char *pstore_text_dir, const struct component_set *set,
		  struct suspects *ret)
{
	struct suspects s = { 0 };
	struct pstore_log *log = NULL;
	int r;

	r = pstore_collect(pstore_text_dir, NULL, false, &log);
	if (r < 0 && r != -ENOENT)
		log_debug_errno(r, "Failed to read crash texts in %s: %m", pstore_text_dir);

	/* Newest crash first: it is the one this loop is about. */
	for (size_t i = log ? log->n_records : 0; i > 0; i--) {
		const struct pstore_record *rec = &log->records[i - 1];

		if (from_text(rec->text, rec->size, set, level, &s) > 0 && level == 1)
			break;
	}
	pstore_log_free(log);

	if (level == 1 && strv_length(s.components) == 0) {
		s.need_inventory = true;
		if (!s.reason)
			s.reason = strdup(s.evidence ? "panic log names no configured component"
					  : "no panic log from the failed boots");
	} else if (level >= 2 && !s.reason) {
		s.reason = strdup(level == 2 ? "level 1 did not end the crash loop: every configured component"
			: "level 2 did not end the crash loop: every component and out-of-tree module");
	} else if (level >= 2) {
		char *r2 = NULL;
		if (asprintf(&r2, "level %u (earlier levels did not end the crash loop); %s", level, s.reason) >= 0) {
			free(s.reason);
			s.reason = r2;
		}
	}
	*ret = s;
	return 0;
}
