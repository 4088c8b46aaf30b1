/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl plan: what recovery levels 1, 2 and 3 would quarantine on
 * this machine now, by the same choice the boot makes (agent/crash
 * suspects_pick(): level 1 the components the newest panic log names,
 * else those changed since the last good boot, else, with no panic log
 * and no last good inventory, those changed most recently
 * (agent/inventory/recency.h); level 2 every configured component, level
 * 3 those and the out-of-tree modules), with each component's files as
 * they exist now, its units and modules. Read only.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/crash/suspects.h"
#include "agent/ctl/ctl-internal.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/runstate.h"
#include "agent/inventory/inventory.h"
#include "agent/inventory/recency.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* files listed per component in the text form */
#define PLAN_TEXT_FILES 8

static json_object *strv_json(char **l)
{
	json_object *a = json_object_new_array();

	STRV_FOREACH (s, l)
		json_object_array_add(a, json_object_new_string(*s));
	return a;
}

static void print_list(const char *label, char **l, size_t max)
{
	size_t n = strv_length(l);

	if (n == 0)
		return;
	printf("      %-9s", label);
	for (size_t i = 0; i < n && i < max; i++)
		printf("%s%s", i ? "\n              " : "", l[i]);
	if (n > max)
		printf("\n              ... and %zu more", n - max);
	printf("\n");
}

/* One component's part of the plan. */
/* A degrade step's edits, one line each: "set PATH KEY = VALUE", "install PATH". */
static char **degrade_lines(const struct component *c)
{
	char **l = NULL;

	for (size_t i = 0; i < c->n_degrade; i++) {
		const struct degrade_edit *e = &c->degrade[i];
		char *t = NULL;

		if ((e->kind == DEGRADE_SET
		         ? asprintf(&t, "set %s %s = %s", e->path, e->key, e->value)
		         : asprintf(&t, "install %s (%zu bytes)", e->path, e->size)) < 0 ||
		    strv_consume(&l, t) < 0)
			break;
	}
	return l;
}

/* degrade: level 1 degrades c rather than quarantining it (the panic log
 * names its kernel half, and it has a degrade step): only its kernel half
 * is listed, with the step. */
static int plan_component(const char *root, const struct component *c, bool degrade, bool json,
                          json_object *arr)
{
	_cleanup_strv_free_ char **files = NULL, **edits = NULL;
	struct component k = {0};
	int r;

	if (degrade) {
		if (component_kernel_half(c, &k) < 0)
			return -ENOMEM;
		edits = degrade_lines(c);
	}
	r = component_expand_files(degrade ? &k : c, root, false, &files);

	if (r < 0)
		log_warning_errno(r, "Failed to list the files of %s: %m", c->id);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "component", json_object_new_string(c->id));
		json_object_object_add(o, "degrade", json_object_new_boolean(degrade));
		json_object_object_add(o, "files", strv_json(files));
		json_object_object_add(o, "units", strv_json(degrade ? c->kernel_units : c->units));
		json_object_object_add(o, "modules", strv_json(c->modules));
		if (degrade) {
			json_object_object_add(o, "degrade_edits", strv_json(edits));
			json_object_object_add(o, "degrade_units", strv_json(c->degrade_units));
		}
		json_object_array_add(arr, o);
	} else {
		printf("    %s%s%s%s\n", c->id, c->vendor ? " - " : "", strempty(c->vendor),
		       degrade ? ": DEGRADED, not quarantined: its kernel part off, it runs in "
		                 "user mode"
		               : "");
		print_list("files:", files, PLAN_TEXT_FILES);
		print_list("units:", degrade ? c->kernel_units : c->units, SIZE_MAX);
		print_list("modules:", c->modules, SIZE_MAX);
		if (degrade) {
			print_list("sets:", edits, SIZE_MAX);
			print_list("starts:", c->degrade_units, SIZE_MAX);
		}
		if (!degrade && !strv_length(files) && !strv_length(c->units) &&
		    !strv_length(c->modules))
			printf("      nothing of it is on this machine\n");
	}
	component_done(&k);
	return 0;
}

static char *pstore_dir(const char *root)
{
	_cleanup_free_ char *run = path_under_root(root, RUNSTATE_DIR "/pstore");

	/* this boot's copy (lifeline-early moved the records there), else
	 * what pstore holds now */
	if (run && access(run, F_OK) == 0)
		return TAKE_PTR(run);
	return path_under_root(root, "/sys/fs/pstore");
}

/* Level 1 with no panic-log suspect, as the rootfs phase would choose
 * now: the components changed since the last good inventory (content the
 * cache can roll back may spare one at boot), or, with no panic log at
 * all and no last good inventory, the recency pick. Fills *ids and
 * replaces s->reason; *how says which ("inventory diff", "recency" or
 * "nothing"). */
static void plan_level1_on_root(const char *root, const struct component_set *set,
                                struct suspects *s, char ***ids, const char **how)
{
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_recency_free_ struct recency *rec = NULL;
	_cleanup_free_ char *what = NULL, *why = NULL, *changed = NULL;
	_cleanup_strv_free_ char **lines = NULL;
	struct utsname u;
	int r;

	*how = "nothing";
	if (inventory_load(root, &lg) >= 0) {
		r = inventory_take(root, set, lg, &now);
		if (r >= 0)
			r = inventory_diff(lg, now, &d);
		if (r >= 0)
			r = inventory_diff_suspects(d, ids);
		if (r < 0) {
			log_warning_errno(r, "Failed to compare with the last good inventory: %m");
			return;
		}
		(void)inventory_diff_lines(d, 20, &lines);
		changed = strv_join(*ids, " ");
		if (asprintf(&why, "%s; changed since the last good boot: %s", strempty(s->reason),
		             changed && *changed ? changed : "nothing") < 0)
			return;
		*how = strv_length(*ids) > 0 ? "inventory diff" : "nothing";
	} else if (!s->evidence) {
		r = recency_scan(root, set, uname(&u) >= 0 ? u.release : NULL, recency_clock_ns(),
		                 &rec);
		if (r >= 0)
			r = recency_pick(rec, RECENCY_WINDOW_NS, ids);
		if (r >= 0)
			r = recency_explain(rec, *ids, &what, &lines);
		if (r < 0) {
			log_warning_errno(r,
			                  "Failed to rank the components by their last change: %m");
			return;
		}
		if (asprintf(&why, "no panic log and no last good boot: %s", what) < 0)
			return;
		*how = strv_length(*ids) > 0 ? "recency" : "nothing";
	} else
		return;
	free(s->reason);
	s->reason = TAKE_PTR(why);
	STRV_FOREACH (l, lines)
		(void)strv_extend(&s->evidence, *l);
}

int ctl_plan(const struct ctl_ctx *ctx)
{
	_cleanup_(json_object_putp) json_object *top = NULL;
	json_object *levels = NULL;
	_cleanup_free_ char *pstore = pstore_dir(ctx->root);
	struct lifeline_config cfg;
	struct component_set set = {0};
	struct component oot = {0};
	struct utsname u;
	unsigned problems = 0;
	bool have_oot;
	int r;

	if (!pstore)
		return CTL_EXIT_FAILURE;
	config_init_defaults(&cfg);
	(void)config_load(ctx->root, &cfg);
	r = components_load(ctx->root, &set, &problems);
	if (r < 0) {
		log_error_errno(r, "Failed to load /etc/lifeline/components.d: %m");
		config_done(&cfg);
		return CTL_EXIT_FAILURE;
	}
	have_oot = uname(&u) >= 0 && suspects_oot_component(u.release, &oot) >= 0;
	if (ctx->json) {
		top = json_object_new_object();
		levels = json_object_new_array();
		json_object_object_add(top, "version", json_object_new_int(1));
		json_object_object_add(top, "levels", levels);
	} else
		printf(
		    "What each recovery level would quarantine here now (nothing is changed):\n");

	for (unsigned level = 1; level <= 3; level++) {
		_cleanup_strv_free_ char **ids = NULL;
		struct suspects s = {0};
		unsigned after = cfg.threshold + 1 + (level - 1) * cfg.escalate_after;
		json_object *lv = NULL, *comps = NULL;
		const char *how = "panic log";
		/* past max_level the boot gives up instead (decide.h) */
		bool used = level <= cfg.max_level || cfg.max_level == 0;
		/* the repeat-crash fast path can start level 1 at failure 3 */
		bool fast = level == 1 && cfg.repeat_crash && after > 3;

		if (!used) {
			if (ctx->json) {
				lv = json_object_new_object();
				json_object_object_add(lv, "level",
				                       json_object_new_int((int)level));
				json_object_object_add(lv, "used", json_object_new_boolean(false));
				json_object_object_add(lv, "max_level",
				                       json_object_new_int((int)cfg.max_level));
				json_object_array_add(levels, lv);
			} else
				printf("\nLevel %u: not used (max_level=%u): the boot gives up "
				       "instead, quarantining nothing more\n",
				       level, cfg.max_level);
			continue;
		}

		r = suspects_pick(level, pstore, &set, &s);
		if (r < 0)
			log_warning_errno(r, "Failed to choose the suspects of level %u: %m",
			                  level);
		if (level == 1 && s.need_inventory)
			plan_level1_on_root(ctx->root, &set, &s, &ids, &how);
		else
			ids = strv_copy(s.components);
		/* as the boot does: level 2 and 3 take every component */
		if (level >= 2)
			for (size_t i = 0; i < set.n; i++)
				if (!strv_contains(ids, set.items[i].id))
					(void)strv_extend(&ids, set.items[i].id);
		if (ctx->json) {
			lv = json_object_new_object();
			comps = json_object_new_array();
			json_object_object_add(lv, "level", json_object_new_int((int)level));
			json_object_object_add(lv, "after_failed_boots",
			                       json_object_new_int64(after));
			json_object_object_add(lv, "used", json_object_new_boolean(true));
			if (level == 1)
				json_object_object_add(lv, "repeat_crash_after_failed_boots",
				                       fast ? json_object_new_int64(3) : NULL);
			json_object_object_add(lv, "reason",
			                       s.reason ? json_object_new_string(s.reason) : NULL);
			json_object_object_add(lv, "evidence", strv_json(s.evidence));
			json_object_object_add(lv, "chosen_at_boot",
			                       json_object_new_boolean(s.need_inventory));
			if (level == 1)
				json_object_object_add(lv, "chosen_by",
				                       json_object_new_string(how));
		} else {
			printf("\nLevel %u (after %u consecutive failed boots%s): %s\n", level,
			       after,
			       fast ? ", or at failure 3 when the two boots before both "
			              "crashed at the same place in third-party code "
			              "(repeat_crash=yes)"
			            : "",
			       strempty(s.reason));
			if (level == 1 && streq(how, "inventory diff"))
				printf("    chosen at boot from what changed since the last good "
				       "boot (the inventory diff), as it stands now; a changed "
				       "content file with a cached last-good copy is rolled back "
				       "instead\n");
			else if (level == 1 && streq(how, "recency"))
				printf(
				    "    chosen at boot by recency: no panic log and no last good "
				    "boot, so the component(s) changed most recently (within "
				    "%d minutes of the newest); the others are left alone\n",
				    RECENCY_WINDOW_SEC / 60);
			else if (level == 1 && s.need_inventory)
				printf("    nothing to pick: every component's modules are blocked "
				       "in the initramfs only, and level 2 follows if the loop "
				       "goes on\n");
			if (level == 1 && s.need_inventory)
				print_list("why:", s.evidence, 20);
		}
		STRV_FOREACH (id, ids) {
			const struct component *c = components_find(&set, *id);

			/* as the rootfs phase decides (docs/degrade.md) */
			if (c)
				(void)plan_component(ctx->root, c,
				                     level == 1 && !s.need_inventory &&
				                         suspects_degrade_instead(c, s.evidence),
				                     ctx->json, comps);
		}
		if (level == 3 && have_oot)
			(void)plan_component(ctx->root, &oot, false, ctx->json, comps);
		if (level == 3 && s.extra_modules) {
			if (ctx->json)
				json_object_object_add(lv, "extra_modules",
				                       strv_json(s.extra_modules));
			else
				print_list("blocked:", s.extra_modules, SIZE_MAX);
		}
		if (ctx->json) {
			json_object_object_add(lv, "components", comps);
			json_object_array_add(levels, lv);
		} else if (!ids && !(level == 3 && have_oot))
			printf("    nothing\n");
		suspects_done(&s);
	}
	if (ctx->json)
		puts(json_object_to_json_string_ext(top, CTL_JSON_FLAGS));
	if (have_oot)
		component_done(&oot);
	components_done(&set);
	config_done(&cfg);
	/* a broken drop-in was logged; the plan shows the others */
	return CTL_EXIT_OK;
}
