/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Choosing suspects (suspects.h): which components, and at level 3 which
 * out-of-tree modules, a level quarantines, from the panic logs' evidence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/names.h"
#include "agent/conf/protected.h"
#include "agent/crash/pstore.h"
#include "agent/crash/suspects.h"

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

		STRV_FOREACH (f, c->files) {
			const char *base = strrchr(*f, '/');

			base = base ? base + 1 : *f;
			if (!strpbrk(base, "*?[") && pstore_comm_matches_binary(comm, base))
				return c;
		}
		STRV_FOREACH (u, c->units) {
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

static bool is_bpf_prog(const char *function)
{
	return function && strncmp(function, "bpf_prog_", 9) == 0;
}

static bool module_of(const struct component *c, const char *module)
{
	STRV_FOREACH (m, c->modules)
		if (module && module_name_match(*m, module))
			return true;
	return false;
}

/* A task name is chosen by whoever starts the task (prctl(PR_SET_NAME),
 * argv[0]): it names a component only when the trace corroborates it,
 * with code no user can put there: a JIT-ed eBPF program (an eBPF
 * agent's) at the RIP or in a reliable frame, or the RIP or a reliable
 * frame in one of that component's own modules. */
static const char *comm_corroborated(const struct pstore_evidence *e, const struct component *c)
{
	if (is_bpf_prog(e->rip_function))
		return "the RIP is in an eBPF program";
	if (module_of(c, e->rip_module))
		return "the RIP is in its module";
	for (size_t i = 0; i < e->n_frames; i++) {
		const struct pstore_frame *f = &e->frames[i];

		if (!f->reliable)
			continue;
		if (is_bpf_prog(f->function))
			return "the call trace runs through an eBPF program";
		if (module_of(c, f->module))
			return "the call trace runs through its module";
	}
	return NULL;
}

static void add_evidence(struct suspects *s, const char *line)
{
	if (line && !strv_contains(s->evidence, line))
		(void)strv_extend(&s->evidence, line);
}

/* Evidence from one crash text; returns 1 when a component was named. */
static int from_text(const char *text, size_t size, const struct component_set *set, unsigned level,
                     struct suspects *s)
{
	struct pstore_evidence e = {0};
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

	STRV_FOREACH (m, ranked) {
		const struct component *c = components_find_module(set, *m);

		if (c && !named) {
			named = c;
			module = *m;
			why = e.rip_module && streq(e.rip_module, *m)
			          ? "the crash's RIP is in module"
			      : (e.loading_module && streq(e.loading_module, *m))
			          ? "the crash happened while loading module"
			          : "the crash's call trace runs through module";
		}
	}
	/* level 3: third-party kernel code the panic log lists (suspects.h) */
	for (size_t i = 0; level >= 3 && i < e.n_modules_third_party; i++) {
		_cleanup_free_ char *m = strdup(e.modules_third_party[i]);

		if (!m)
			break;
		for (char *p = m; *p; p++)
			if (*p == '-')
				*p = '_';
		if (components_find_module(set, m) || strv_contains(s->extra_modules, m))
			continue;
		/* a driver this machine needs (zfs under its root, its NIC's
		 * r8168) or an in-tree one: never blocked (protected.h) */
		if (protected_module_reason(set->protected, m)) {
			log_info("Level 3 leaves module %s alone: %s", m,
			         protected_module_reason(set->protected, m));
			continue;
		}
		(void)strv_extend(&s->extra_modules, m);
	}
	if (!named && e.comm) {
		const struct component *c = component_by_comm(set, e.comm);
		const char *corroboration = c ? comm_corroborated(&e, c) : NULL;

		if (corroboration) {
			named = c;
			module = e.comm;
			why = corroboration;
		} else if (c)
			log_info("The crashing task %s matches component %s, but nothing in the "
			         "trace corroborates it (no eBPF program, none of its modules): "
			         "a task name alone is not evidence",
			         e.comm, c->id);
	}
	if (named && !strv_contains(s->components, named->id)) {
		(void)strv_extend(&s->components, named->id);
		if (!s->reason && module == e.comm &&
		    asprintf(&s->reason,
		             "panic log: the crashing task %s belongs to component %s, and %s",
		             module, named->id, why) < 0)
			s->reason = NULL;
		if (!s->reason &&
		    asprintf(&s->reason, "panic log: %s %s, which belongs to component %s", why,
		             module, named->id) < 0)
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
	struct suspects s = {0};
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
		s.reason = strdup(
		    level == 2 ? "level 1 did not end the crash loop: every configured component"
		               : "level 2 did not end the crash loop: every component and "
		                 "out-of-tree module");
	} else if (level >= 2) {
		char *r2 = NULL;
		if (asprintf(&r2, "level %u (earlier levels did not end the crash loop); %s", level,
		             s.reason) >= 0) {
			free(s.reason);
			s.reason = r2;
		}
	}
	*ret = s;
	return 0;
}

int suspects_oot_component(const char *kver, struct component *ret)
{
	static const char *const bases[] = {"/lib/modules", "/usr/lib/modules"};
	static const char *const dirs[] = {"updates", "extra"};
	static const char *const depth[] = {"*.ko*", "*/*.ko*", "*/*/*.ko*"};
	struct component c = {0};

	if (!kver || !*kver || strchr(kver, '/') || strpbrk(kver, "*?[") || streq(kver, "..") ||
	    streq(kver, "."))
		return -EINVAL;
	c.id = strdup(SUSPECTS_OOT_ID);
	c.vendor = strdup("out-of-tree kernel modules (lifeline level 3)");
	if (!c.id || !c.vendor)
		goto oom;
	for (size_t b = 0; b < ELEMENTSOF(bases); b++)
		for (size_t d = 0; d < ELEMENTSOF(dirs); d++)
			for (size_t k = 0; k < ELEMENTSOF(depth); k++) {
				char *g;

				if (asprintf(&g, "%s/%s/%s/%s", bases[b], kver, dirs[d], depth[k]) <
				        0 ||
				    strv_consume(&c.files, g) < 0)
					goto oom;
			}
	*ret = c;
	return 0;
oom:
	component_done(&c);
	return -ENOMEM;
}

int suspects_module_names_from_files(char **files, char ***modules)
{
	STRV_FOREACH (f, files) {
		const char *base = strrchr(*f, '/');
		_cleanup_free_ char *name = NULL;
		char *ko;

		name = strdup(base ? base + 1 : *f);
		if (!name)
			return -ENOMEM;
		ko = strstr(name, ".ko");
		if (!ko || (ko[3] && !streq(ko + 3, ".xz") && !streq(ko + 3, ".zst") &&
		            !streq(ko + 3, ".gz")))
			continue;
		*ko = 0;
		for (char *p = name; *p; p++)
			if (*p == '-')
				*p = '_';
		if (!module_name_is_valid(name, false) || strv_contains(*modules, name))
			continue;
		if (strv_extend(modules, name) < 0)
			return -ENOMEM;
	}
	return 0;
}

bool suspects_evidence_names_kernel_half(const struct component *c, char *const *evidence)
{
	for (char *const *l = evidence; l && *l; l++) {
		_cleanup_free_ char *m = NULL;

		if (pstore_line_module(*l, &m) <= 0)
			continue;
		for (char *p = m; *p; p++)
			if (*p == '-')
				*p = '_';
		STRV_FOREACH (pat, c->modules)
			if (module_name_match(*pat, m))
				return true;
	}
	return false;
}

bool suspects_degrade_instead(const struct component *c, char *const *evidence)
{
	return component_can_degrade(c) && suspects_evidence_names_kernel_half(c, evidence);
}
