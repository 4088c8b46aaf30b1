/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl status and components: what lifeline's state is and what it
 * guards, read only.
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
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

int ctl_status(const struct ctl_ctx *ctx)
{
	_cleanup_free_ char *rs_path = path_under_root(ctx->root, RUNSTATE_FILE);
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_(json_object_putp) json_object *o = NULL;
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

	if (st.load_error != 0 && st.load_error != -ENOENT) {
		if (ctx->json) {
			o = json_object_new_object();
			json_object_object_add(
			    o, "error",
			    json_object_new_string(state_record_strerror(st.load_error)));
			json_object_object_add(
			    o, "store",
			    json_object_new_string(store_kind_to_string(st.store->kind)));
			puts(json_object_to_json_string_ext(o, CTL_JSON_FLAGS));
		}
		ret = ctl_require_record(&st);
		goto out;
	}

	if (ctx->json) {
		json_object *q = json_object_new_array(), *m = json_object_new_array();

		o = json_object_new_object();
		json_object_object_add(o, "boot_seq", json_object_new_int64(st.rec.boot_seq));
		json_object_object_add(o, "failures", json_object_new_int64(st.rec.failures));
		json_object_object_add(o, "threshold", json_object_new_int64(st.cfg.threshold));
		json_object_object_add(o, "escalate_after",
		                       json_object_new_int64(st.cfg.escalate_after));
		json_object_object_add(o, "mode",
		                       json_object_new_string(state_mode_to_string(st.rec.mode)));
		json_object_object_add(o, "level", json_object_new_int64(st.rec.level));
		json_object_object_add(o, "generation", json_object_new_int64(st.rec.generation));
		json_object_object_add(
		    o, "store", json_object_new_string(store_kind_to_string(st.store->kind)));
		json_object_object_add(o, "record", json_object_new_boolean(st.load_error == 0));
		STRV_FOREACH (id, ids)
			json_object_array_add(q, json_object_new_string(*id));
		json_object_object_add(o, "quarantined", q);
		for (unsigned i = 0; i < st.rec.n_modules; i++)
			json_object_array_add(m, json_object_new_string(st.rec.modules[i]));
		json_object_object_add(o, "modules_blocked", m);
		if (st.rec.last_blessed_seq > 0) {
			json_object *lg = json_object_new_object();
			json_object_object_add(lg, "boot_seq",
			                       json_object_new_int64(st.rec.last_blessed_seq));
			json_object_object_add(
			    lg, "time", json_object_new_int64((int64_t)st.rec.last_blessed_time));
			json_object_object_add(o, "last_good", lg);
		} else
			json_object_object_add(o, "last_good", NULL);
		if (have_rs) {
			json_object *b = json_object_new_object(), *ev = json_object_new_array();
			json_object_object_add(b, "action",
			                       json_object_new_string(strempty(rs.action)));
			if (rs.reason)
				json_object_object_add(b, "reason",
				                       json_object_new_string(rs.reason));
			STRV_FOREACH (e, rs.evidence)
				json_object_array_add(ev, json_object_new_string(*e));
			json_object_object_add(b, "evidence", ev);
			if (rs.error)
				json_object_object_add(b, "error",
				                       json_object_new_string(rs.error));
			json_object_object_add(o, "this_boot", b);
		}
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		_cleanup_free_ char *q = strv_join(ids, " ");

		printf("Mode:         %s%s\n", state_mode_to_string(st.rec.mode),
		       st.load_error == -ENOENT ? " (no state record yet)" : "");
		printf("Level:        %u\n", st.rec.level);
		printf("Failures:     %u consecutive unblessed boot(s), threshold %u\n",
		       st.rec.failures, st.cfg.threshold);
		printf("Boot:         #%u\n", st.rec.boot_seq);
		if (st.rec.last_blessed_seq > 0) {
			char buf[64];

			ctl_format_time(st.rec.last_blessed_time, buf, sizeof(buf));
			printf("Last good:    boot #%u at %s\n", st.rec.last_blessed_seq, buf);
		} else
			printf("Last good:    never blessed\n");
		printf("Quarantined:  %s\n", q && *q ? q : "nothing");
		if (st.rec.n_modules > 0) {
			printf("Blocked:     ");
			for (unsigned i = 0; i < st.rec.n_modules; i++)
				printf(" %s", st.rec.modules[i]);
			printf("\n");
		}
		if (have_rs && rs.reason)
			printf("Reason:       %s\n", rs.reason);
		printf("Store:        %s\n", store_kind_to_string(st.store->kind));
	}
	ret = CTL_EXIT_OK;
out:
	runstate_done(&rs);
	ctl_state_done(&st);
	return ret;
}

int ctl_components(const struct ctl_ctx *ctx)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;
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
	if (ctx->json)
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
		                                             JSON_C_TO_STRING_NOSLASHESCAPE));
	components_done(&set);
	return problems > 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}
