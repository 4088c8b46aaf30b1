/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl status and components: what lifeline's state is and what it
 * guards, read only. status leads with what matters at 3 am: this boot's
 * mode and the next boot's, whether a reboot is required, the decision
 * (when, who, why, its evidence) and the next step.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/conf/components.h"
#include "agent/ctl/ctl-internal.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/history.h"
#include "agent/decision/runstate.h"
#include "agent/ops/ops.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* What the person woken at 3 am needs first: the mode this boot runs in
 * and the mode the next boot gets, whether a reboot is needed to apply
 * what was decided, the decision behind it and what to do now. */
struct status_view {
	const char *this_mode; /* this boot's, as lifeline-early started it; NULL unknown */
	const char *next_mode; /* the state record's */
	bool reboot;
	const char *reboot_why;
	const struct history_entry *decision; /* the last one that changed something */
	const char *evidence;                 /* its first evidence line, or this boot's */
	const char *next_step;
};

static void view_fill(const struct ctl_state *st, const struct runstate *rs, bool have_rs,
                      const struct history *h, struct status_view *v)
{
	memset(v, 0, sizeof(*v));
	v->next_mode = state_mode_to_string(st->rec.mode);
	if (have_rs && rs->mode && !streq(rs->mode, "uncounted"))
		v->this_mode = rs->mode;
	v->reboot = ops_reboot_required(&st->rec, have_rs ? rs : NULL, &v->reboot_why);
	for (size_t i = h ? h->n : 0; i > 0; i--)
		if (!streq_ptr(h->entries[i - 1].action, "bless")) {
			v->decision = &h->entries[i - 1];
			break;
		}
	if (v->decision && strv_length(v->decision->evidence) > 0)
		v->evidence = v->decision->evidence[0];
	else if (have_rs && strv_length(rs->evidence) > 0)
		v->evidence = rs->evidence[0];

	if (v->reboot)
		v->next_step = "reboot to apply it (systemctl reboot)";
	else if (st->rec.mode == STATE_MODE_GIVEN_UP)
		v->next_step =
		    "lifeline changes nothing more here: find the cause ('lifelinectl "
		    "history'), then 'lifelinectl clear' and reboot; 'lifelinectl reset' "
		    "starts counting afresh";
	else if (st->rec.mode == STATE_MODE_SAFE)
		v->next_step = "find the cause ('lifelinectl history'), update or remove the "
		               "quarantined component, then 'lifelinectl clear' and reboot";
	else if (st->rec.failures > 0)
		v->next_step = "none: lifelined blesses this boot once it is healthy and stable";
	else
		v->next_step = "none";
}

static json_object *strv_json(char **l)
{
	json_object *a = json_object_new_array();

	STRV_FOREACH (s, l)
		json_object_array_add(a, json_object_new_string(*s));
	return a;
}

static json_object *string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static void status_json(const struct ctl_state *st, const struct runstate *rs, bool have_rs,
                        char **ids, char **degraded, const struct status_view *v)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	json_object *m = json_object_new_array();

	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "boot_seq", json_object_new_int64(st->rec.boot_seq));
	json_object_object_add(o, "failures", json_object_new_int64(st->rec.failures));
	json_object_object_add(o, "threshold", json_object_new_int64(st->cfg.threshold));
	json_object_object_add(o, "escalate_after", json_object_new_int64(st->cfg.escalate_after));
	/* "mode" is the record's: the next boot's */
	json_object_object_add(o, "mode", json_object_new_string(v->next_mode));
	json_object_object_add(o, "this_boot_mode", string_or_null(v->this_mode));
	json_object_object_add(o, "next_boot_mode", json_object_new_string(v->next_mode));
	json_object_object_add(o, "reboot_required", json_object_new_boolean(v->reboot));
	json_object_object_add(o, "reboot_reason", string_or_null(v->reboot_why));
	json_object_object_add(o, "level", json_object_new_int64(st->rec.level));
	json_object_object_add(o, "generation", json_object_new_int64(st->rec.generation));
	json_object_object_add(o, "store",
	                       json_object_new_string(store_kind_to_string(st->store->kind)));
	json_object_object_add(o, "record", json_object_new_boolean(st->load_error == 0));
	/* null: not known (lifeline-early left no runstate in this boot) */
	json_object_object_add(o, "this_boot_counted",
	                       have_rs ? json_object_new_boolean(!runstate_uncounted(rs)) : NULL);
	json_object_object_add(o, "quarantined", strv_json(ids));
	json_object_object_add(o, "degraded", strv_json(degraded));
	for (unsigned i = 0; i < st->rec.n_modules; i++)
		json_object_array_add(m, json_object_new_string(st->rec.modules[i]));
	json_object_object_add(o, "modules_blocked", m);
	if (st->rec.last_blessed_seq > 0) {
		json_object *lg = json_object_new_object();

		json_object_object_add(lg, "boot_seq",
		                       json_object_new_int64(st->rec.last_blessed_seq));
		json_object_object_add(lg, "time",
		                       json_object_new_int64((int64_t)st->rec.last_blessed_time));
		json_object_object_add(o, "last_good", lg);
	} else
		json_object_object_add(o, "last_good", NULL);
	if (v->decision) {
		const struct history_entry *e = v->decision;
		json_object *d = json_object_new_object();

		json_object_object_add(d, "time", json_object_new_int64((int64_t)e->time));
		json_object_object_add(d, "boot_seq", json_object_new_int64(e->boot_seq));
		json_object_object_add(d, "who", string_or_null(e->who));
		json_object_object_add(d, "action", string_or_null(e->action));
		json_object_object_add(d, "reason", string_or_null(e->reason));
		json_object_object_add(d, "evidence", strv_json(e->evidence));
		json_object_object_add(o, "decision", d);
	} else
		json_object_object_add(o, "decision", NULL);
	json_object_object_add(o, "evidence", string_or_null(v->evidence));
	json_object_object_add(o, "next_step", json_object_new_string(v->next_step));
	json_object_object_add(o, "config_ok", json_object_new_boolean(st->config_error >= 0));
	if (have_rs) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "mode", string_or_null(rs->mode));
		json_object_object_add(b, "action", json_object_new_string(strempty(rs->action)));
		if (rs->reason)
			json_object_object_add(b, "reason", json_object_new_string(rs->reason));
		json_object_object_add(b, "evidence", strv_json(rs->evidence));
		if (rs->error)
			json_object_object_add(b, "error", json_object_new_string(rs->error));
		json_object_object_add(o, "this_boot", b);
	}
	puts(json_object_to_json_string_ext(o, CTL_JSON_FLAGS));
}

static void status_text(const struct ctl_state *st, const struct runstate *rs, bool have_rs,
                        char **ids, char **degraded, const struct status_view *v)
{
	_cleanup_free_ char *q = strv_join(ids, " ");
	char buf[64];

	if (!v->this_mode)
		printf("Mode:         %s%s\n", v->next_mode,
		       st->load_error == -ENOENT ? " (no state record yet)" : "");
	else if (streq(v->this_mode, v->next_mode))
		printf("Mode:         %s\n", v->next_mode);
	else
		printf("Mode:         %s now; %s from the next boot\n", v->this_mode, v->next_mode);
	if (v->reboot)
		printf("Reboot:       REQUIRED: %s\n", v->reboot_why);
	if (v->decision) {
		const struct history_entry *e = v->decision;

		ctl_format_time(e->time, buf, sizeof(buf));
		printf("Decided:      %s, boot #%u, %s by %s\n", buf, e->boot_seq,
		       strempty(e->action), strempty(e->who));
		if (e->reason)
			printf("Why:          %s\n", e->reason);
	} else if (have_rs && rs->reason)
		printf("Why:          %s\n", rs->reason);
	if (v->evidence)
		printf("Evidence:     %s\n", v->evidence);
	printf("Quarantined:  %s\n", q && *q ? q : "nothing");
	/* in Quarantined too: its kernel half is what is held back */
	STRV_FOREACH (id, degraded)
		printf("Degraded:     %s: kernel part off, running in user mode\n", *id);
	if (st->rec.n_modules > 0) {
		printf("Blocked:     ");
		for (unsigned i = 0; i < st->rec.n_modules; i++)
			printf(" %s", st->rec.modules[i]);
		printf("\n");
	}
	printf("Level:        %u\n", st->rec.level);
	printf("Failures:     %u consecutive unblessed boot(s), threshold %u\n", st->rec.failures,
	       st->cfg.threshold);
	printf("Boot:         #%u\n", st->rec.boot_seq);
	if (st->rec.last_blessed_seq > 0) {
		ctl_format_time(st->rec.last_blessed_time, buf, sizeof(buf));
		printf("Last good:    boot #%u at %s\n", st->rec.last_blessed_seq, buf);
	} else
		printf("Last good:    never blessed\n");
	if (have_rs && rs->reason && v->decision)
		printf("This boot:    %s\n", rs->reason);
	printf("Store:        %s\n", store_kind_to_string(st->store->kind));
	if (have_rs && runstate_uncounted(rs))
		printf(
		    "Counting:     OFF: this boot was NOT counted by lifeline-early (%s); a crash "
		    "loop is not noticed while this lasts: 'lifelinectl check'\n",
		    rs->error ? rs->error : "no reason recorded");
	if (st->config_error < 0)
		printf(
		    "Config:       PROBLEM: lifeline.conf has errors (logged above; bad keys keep "
		    "their defaults): 'lifelinectl check'\n");
	printf("Next step:    %s\n", v->next_step);
}

int ctl_status(const struct ctl_ctx *ctx)
{
	_cleanup_free_ char *rs_path = path_under_root(ctx->root, RUNSTATE_FILE);
	_cleanup_strv_free_ char **ids = NULL, **degraded = NULL;
	struct history h = {0};
	bool have_h;
	struct status_view v;
	struct ctl_state st;
	struct runstate rs;
	bool have_rs;
	int ret;

	ret = ctl_state_open(ctx->root, &st);
	if (ret != CTL_EXIT_OK)
		return ret;
	runstate_init(&rs);
	have_rs = rs_path && runstate_read(rs_path, &rs) >= 0;
	ids = ctl_quarantined_ids(ctx->root, have_rs ? &rs : NULL);
	degraded = ctl_degraded_ids(ctx->root);

	if (st.load_error != 0 && st.load_error != -ENOENT) {
		if (ctx->json) {
			_cleanup_(json_object_putp) json_object *o = json_object_new_object();

			json_object_object_add(o, "version", json_object_new_int(1));
			json_object_object_add(
			    o, "error",
			    json_object_new_string(state_record_strerror(st.load_error)));
			json_object_object_add(
			    o, "store",
			    json_object_new_string(store_kind_to_string(st.store->kind)));
			json_object_object_add(
			    o, "next_step",
			    json_object_new_string(
			        "'lifelinectl reset' starts a new state record"));
			puts(json_object_to_json_string_ext(o, CTL_JSON_FLAGS));
		}
		ret = ctl_require_record(&st);
		goto out;
	}
	/* the history only adds words: unreadable, it is left out */
	have_h = history_read(ctx->root, &h) >= 0;
	view_fill(&st, &rs, have_rs, have_h ? &h : NULL, &v);
	if (ctx->json)
		status_json(&st, &rs, have_rs, ids, degraded, &v);
	else
		status_text(&st, &rs, have_rs, ids, degraded, &v);
	if (have_h)
		history_done(&h);
	ret = CTL_EXIT_OK;
out:
	runstate_done(&rs);
	ctl_state_done(&st);
	return ret;
}

int ctl_components(const struct ctl_ctx *ctx)
{
	_cleanup_(json_object_putp) json_object *arr = NULL, *top = NULL;
	_cleanup_strv_free_ char **ids = ctl_quarantined_ids(ctx->root, NULL);
	struct component_set set = {0};
	unsigned problems = 0;
	int r;

	r = components_load(ctx->root, &set, &problems);
	if (r < 0) {
		log_error_errno(r, "Failed to load components: %m");
		return CTL_EXIT_FAILURE;
	}
	if (ctx->json)
		arr = json_object_new_array();
	else
		printf("%-22s %-8s %-11s %s\n", "COMPONENT", "ACTIVE", "QUARANTINE", "VENDOR");
	for (size_t i = 0; i < set.n; i++) {
		const struct component *c = &set.items[i];
		bool active = component_is_active(c, ctx->root), q = strv_contains(ids, c->id);

		if (ctx->json) {
			json_object *o = json_object_new_object(), *mods = json_object_new_array(),
			            *units = json_object_new_array();
			json_object_object_add(o, "id", json_object_new_string(c->id));
			json_object_object_add(
			    o, "vendor", c->vendor ? json_object_new_string(c->vendor) : NULL);
			json_object_object_add(o, "active", json_object_new_boolean(active));
			json_object_object_add(o, "quarantined", json_object_new_boolean(q));
			STRV_FOREACH (m, c->modules)
				json_object_array_add(mods, json_object_new_string(*m));
			STRV_FOREACH (u, c->units)
				json_object_array_add(units, json_object_new_string(*u));
			json_object_object_add(o, "modules", mods);
			json_object_object_add(o, "units", units);
			json_object_object_add(o, "source",
			                       json_object_new_string(strempty(c->source_file)));
			json_object_array_add(arr, o);
		} else
			printf("%-22s %-8s %-11s %s\n", c->id, active ? "yes" : "no",
			       q ? "yes" : "no", strempty(c->vendor));
	}
	if (ctx->json) {
		json_object *refused = json_object_new_array();

		for (size_t i = 0; i < set.n_refused; i++) {
			const struct component_refusal *f = &set.refused[i];
			json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(f->id));
			json_object_object_add(o, "file", json_object_new_string(f->file));
			json_object_object_add(o, "line", json_object_new_int64(f->line));
			json_object_object_add(o, "what", json_object_new_string(f->what));
			json_object_object_add(o, "reason", json_object_new_string(f->reason));
			json_object_array_add(refused, o);
		}
		top = json_object_new_object();
		json_object_object_add(top, "version", json_object_new_int(1));
		json_object_object_add(top, "components", json_object_get(arr));
		json_object_object_add(top, "refused", refused);
		puts(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
		                                             JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (set.n_refused > 0) {
		printf("\nREFUSED (left out: they name something protected)\n");
		for (size_t i = 0; i < set.n_refused; i++) {
			const struct component_refusal *f = &set.refused[i];

			printf("%-22s %s:%u: \"%s\" is protected (%s)\n", f->id, f->file, f->line,
			       f->what, f->reason);
		}
	}
	if (set.n_refused > 0)
		problems++;
	components_done(&set);
	return problems > 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}
