/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "components.h"
#include "config.h"
#include "command.h"
#include "ctl.h"
#include "decide.h"
#include "efi/store.h"
#include "quarantine.h"
#include "report.h"
#include "runstate.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

struct ctl_state {
	struct lifeline_config cfg;
	struct store *store;
	struct state_record rec;
	int load_error; /* 0, -ENOENT (no record yet) or why it is unreadable */
};

static void state_done(struct ctl_state *st)
{
	store_free(st->store);
	config_done(&st->cfg);
}

/* Config + store + record. Returns an exit code (CTL_EXIT_*). */
static int state_open(const struct ctl_ctx *ctx, struct ctl_state *st)
{
	_cleanup_free_ char *why = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	config_init_defaults(&st->cfg);
	(void)config_load(ctx->root, &st->cfg); /* errors are logged; defaults fill in */

	r = config_open_store(&st->cfg, &st->store, &why);
	if (r < 0) {
		log_error_errno(r, "No state store available%s%s (file store: %m)", why ? ": " : "",
				strempty(why));
		return CTL_EXIT_FAILURE;
	}
	st->load_error = store_load(st->store, &st->rec);
	if (st->load_error == -ENOENT)
		state_record_init(&st->rec);
	return CTL_EXIT_OK;
}

static int require_record(const struct ctl_state *st)
{
	if (st->load_error == 0 || st->load_error == -ENOENT)
		return CTL_EXIT_OK;
	log_error("The state record is unreadable: %s. Nothing was changed; 'lifelinectl reset' starts a new record.",
		  state_record_strerror(st->load_error));
	return CTL_EXIT_STATE;
}

static int save(struct ctl_state *st)
{
	int r = store_save(st->store, &st->rec);

	if (r < 0) {
		log_error_errno(r, "Failed to write the state record (%s store)%s: %m",
				store_kind_to_string(st->store->kind), r == -ENOSPC ? ", NVRAM full" : "");
		return CTL_EXIT_FAILURE;
	}
	return CTL_EXIT_OK;
}

static char **quarantined_ids(const char *root, const struct runstate *rs)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	char **ids = NULL;
	unsigned n = 0;

	if (quarantine_active_read(root, &active, &n) >= 0)
		for (unsigned i = 0; i < n; i++)
			(void)strv_extend(&ids, active[i].id);
	if (rs)
		STRV_FOREACH(id, rs->quarantine)
			if (!strv_contains(ids, *id))
				(void)strv_extend(&ids, *id);
	return ids;
}

int ctl_status(const struct ctl_ctx *ctx)
{
	_cleanup_free_ char *rs_path = path_under_root(ctx->root, RUNSTATE_FILE);
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_(json_object_putp) json_object *o = NULL;
	struct ctl_state st;
	struct runstate rs;
	bool have_rs;
	int ret;

	ret = state_open(ctx, &st);
	if (ret != CTL_EXIT_OK)
		return ret;
	runstate_init(&rs);
	have_rs = rs_path && runstate_read(rs_path, &rs) >= 0;
	ids = quarantined_ids(ctx->root, have_rs ? &rs : NULL);

	if (st.load_error != 0 && st.load_error != -ENOENT) {
		if (ctx->json) {
			o = json_object_new_object();
			json_object_object_add(o, "error", json_object_new_string(state_record_strerror(st.load_error)));
			json_object_object_add(o, "store", json_object_new_string(store_kind_to_string(st.store->kind)));
			puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		}
		ret = require_record(&st);
		goto out;
	}

	if (ctx->json) {
		json_object *q = json_object_new_array(), *m = json_object_new_array();

		o = json_object_new_object();
		json_object_object_add(o, "boot_seq", json_object_new_int64(st.rec.boot_seq));
		json_object_object_add(o, "failures", json_object_new_int64(st.rec.failures));
		json_object_object_add(o, "threshold", json_object_new_int64(st.cfg.threshold));
		json_object_object_add(o, "escalate_after", json_object_new_int64(st.cfg.escalate_after));
		json_object_object_add(o, "mode", json_object_new_string(state_mode_to_string(st.rec.mode)));
		json_object_object_add(o, "level", json_object_new_int64(st.rec.level));
		json_object_object_add(o, "generation", json_object_new_int64(st.rec.generation));
		json_object_object_add(o, "store", json_object_new_string(store_kind_to_string(st.store->kind)));
		json_object_object_add(o, "record", json_object_new_boolean(st.load_error == 0));
		STRV_FOREACH(id, ids)
			json_object_array_add(q, json_object_new_string(*id));
		json_object_object_add(o, "quarantined", q);
		for (unsigned i = 0; i < st.rec.n_modules; i++)
			json_object_array_add(m, json_object_new_string(st.rec.modules[i]));
		json_object_object_add(o, "modules_blocked", m);
		if (st.rec.last_blessed_seq > 0) {
			json_object *lg = json_object_new_object();
			json_object_object_add(lg, "boot_seq", json_object_new_int64(st.rec.last_blessed_seq));
			json_object_object_add(lg, "time", json_object_new_int64((int64_t)st.rec.last_blessed_time));
			json_object_object_add(o, "last_good", lg);
		} else
			json_object_object_add(o, "last_good", NULL);
		if (have_rs) {
			json_object *b = json_object_new_object(), *ev = json_object_new_array();
			json_object_object_add(b, "action", json_object_new_string(strempty(rs.action)));
			if (rs.reason)
				json_object_object_add(b, "reason", json_object_new_string(rs.reason));
			STRV_FOREACH(e, rs.evidence)
				json_object_array_add(ev, json_object_new_string(*e));
			json_object_object_add(b, "evidence", ev);
			if (rs.error)
				json_object_object_add(b, "error", json_object_new_string(rs.error));
			json_object_object_add(o, "this_boot", b);
		}
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		_cleanup_free_ char *q = strv_join(ids, " ");

		printf("Mode:         %s%s\n", state_mode_to_string(st.rec.mode),
		       st.load_error == -ENOENT ? " (no state record yet)" : "");
		printf("Level:        %u\n", st.rec.level);
		printf("Failures:     %u consecutive unblessed boot(s), threshold %u\n", st.rec.failures,
		       st.cfg.threshold);
		printf("Boot:         #%u\n", st.rec.boot_seq);
		if (st.rec.last_blessed_seq > 0) {
			time_t t = (time_t)st.rec.last_blessed_time;
			struct tm tm;
			char buf[64];

			/* The record's time is any 64-bit value: gmtime_r()
			 * fails past year 2^31 (EOVERFLOW). */
			if (!gmtime_r(&t, &tm) ||
			    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
				snprintf(buf, sizeof(buf), "unix time %" PRIu64, st.rec.last_blessed_time);
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
	state_done(&st);
	return ret;
}

int ctl_components(const struct ctl_ctx *ctx)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;
	_cleanup_strv_free_ char **ids = quarantined_ids(ctx->root, NULL);
	struct component_set set = { 0 };
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
			json_object_object_add(o, "vendor", c->vendor ? json_object_new_string(c->vendor) : NULL);
			json_object_object_add(o, "active", json_object_new_boolean(active));
			json_object_object_add(o, "quarantined", json_object_new_boolean(q));
			STRV_FOREACH(m, c->modules)
				json_object_array_add(mods, json_object_new_string(*m));
			STRV_FOREACH(u, c->units)
				json_object_array_add(units, json_object_new_string(*u));
			json_object_object_add(o, "modules", mods);
			json_object_object_add(o, "units", units);
			json_object_object_add(o, "source", json_object_new_string(strempty(c->source_file)));
			json_object_array_add(arr, o);
		} else
			printf("%-22s %-8s %-11s %s\n", c->id, active ? "yes" : "no", q ? "yes" : "no",
			       strempty(c->vendor));
	}
	if (ctx->json)
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	components_done(&set);
	return problems > 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

int ctl_bless(const struct ctl_ctx *ctx)
{
	struct ctl_state st;
	int ret;

	ret = state_open(ctx, &st);
	if (ret == CTL_EXIT_OK)
		ret = require_record(&st);
	if (ret == CTL_EXIT_OK) {
		decide_bless(&st.rec, (unsigned long long)time(NULL));
		ret = save(&st);
		if (ret == CTL_EXIT_OK)
			log_info("boot #%u blessed: failure counter reset", st.rec.boot_seq);
	}
	state_done(&st);
	return ret;
}

/* Drop components from the active list; NULL ids = all. Returns how many
 * entries remain. */
static int drop_active(const char *root, char *const *ids, unsigned *ret_left)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	unsigned n = 0, k = 0;
	int r;

	r = quarantine_active_read(root, &active, &n);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		if (ids && !strv_contains(ids, active[i].id))
			active[k++] = active[i];
	r = quarantine_active_write(root, active, k);
	if (r < 0)
		return r;
	*ret_left = k;
	return 0;
}

/* The record's module list = modules of the components still quarantined. */
static void rebuild_modules(const char *root, struct state_record *rec)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	struct component_set set = { 0 };
	unsigned n = 0, problems = 0;

	state_record_clear_modules(rec);
	if (quarantine_active_read(root, &active, &n) < 0 || n == 0)
		return;
	(void)components_load(root, &set, &problems);
	for (unsigned i = 0; i < n; i++) {
		const struct component *c = components_find(&set, active[i].id);
		if (!c)
			continue;
		STRV_FOREACH(m, c->modules)
			if (!strpbrk(*m, "*?["))
				(void)state_record_add_module(rec, *m);
	}
	components_done(&set);
}

/* Puts back the files of ids (NULL: every component quarantined, listed
 * or found on disk), after finishing any job a power cut interrupted.
 * Returns how many files could not be put back, or -errno. */
static int restore_files(const char *root, char **ids)
{
	_cleanup_strv_free_ char **all = NULL, **on_disk = NULL;
	int r, problems = 0;

	r = quarantine_recover(root);
	if (r < 0)
		log_warning_errno(r, "Failed to finish an interrupted quarantine job: %m");
	if (!ids) {
		all = quarantined_ids(root, NULL);
		if (quarantine_list(root, &on_disk) >= 0 && strv_extend_strv(&all, on_disk) < 0)
			return -ENOMEM;
		if (all)
			strv_sort_uniq(all);
		ids = all;
	}
	STRV_FOREACH(id, ids) {
		struct quarantine_result res = { 0 };

		if (!component_id_is_valid(*id))
			continue; /* nothing on disk can carry that name */
		r = quarantine_restore(root, *id, &res);
		if (r < 0)
			return log_error_errno(r, "Failed to restore the files of %s: %m", *id);
		STRV_FOREACH(l, res.lines)
			log_full_errno(res.errors + res.kept_vendor > 0 ? LOG_LVL_WARNING : LOG_LVL_INFO, 0,
				       "%s", *l);
		problems += (int)res.errors;
		quarantine_result_done(&res);
	}
	return problems;
}

int ctl_clear(const struct ctl_ctx *ctx)
{
	_cleanup_free_ char *modprobe = path_under_root(ctx->root, "/run/modprobe.d/lifeline.conf");
	char **ids = ctx->all || ctx->n_args == 0 ? NULL : ctx->args;
	struct ctl_state st;
	unsigned left = 0;
	int ret, r, problems;

	ret = state_open(ctx, &st);
	if (ret != CTL_EXIT_OK)
		return ret;
	/* A corrupt record can still be cleared: it is replaced by a fresh,
	 * normal one, which is what clearing means. */
	if (st.load_error != 0 && st.load_error != -ENOENT)
		log_warning("state record was unreadable (%s); writing a fresh one",
			    state_record_strerror(st.load_error));

	/* files first: a cut here leaves the component listed, and a second
	 * clear finishes the restore */
	problems = restore_files(ctx->root, ids);
	if (problems < 0) {
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	r = drop_active(ctx->root, ids, &left);
	if (r < 0) {
		log_error_errno(r, "Failed to update %s: %m", QUARANTINE_ACTIVE_FILE);
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	if (left == 0) {
		decide_clear(&st.rec);
		/* this running boot no longer needs the module blocks */
		if (modprobe)
			(void)unlink(modprobe);
	} else
		rebuild_modules(ctx->root, &st.rec);
	ret = save(&st);
	if (ret == CTL_EXIT_OK) {
		if (left == 0)
			log_info("quarantine cleared: the next boot is a normal boot");
		else
			log_info("cleared; %u component(s) stay quarantined", left);
	}
	if (ret == CTL_EXIT_OK && problems > 0) {
		log_warning("%d file(s) could not be put back (see above); 'lifelinectl clear' again retries",
			    problems);
		ret = CTL_EXIT_FAILURE;
	}
out:
	state_done(&st);
	return ret;
}

int ctl_quarantine(const struct ctl_ctx *ctx)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	struct component_set set = { 0 };
	struct ctl_state st;
	unsigned n = 0, problems = 0;
	int ret, r;

	if (ctx->n_args == 0) {
		log_error("quarantine needs at least one COMPONENT (see 'lifelinectl components')");
		return CTL_EXIT_USAGE;
	}
	ret = state_open(ctx, &st);
	if (ret == CTL_EXIT_OK)
		ret = require_record(&st);
	if (ret != CTL_EXIT_OK)
		goto out;
	(void)components_load(ctx->root, &set, &problems);
	for (int i = 0; i < ctx->n_args; i++)
		if (!components_find(&set, ctx->args[i])) {
			log_error("no such component: %s (see 'lifelinectl components')", ctx->args[i]);
			ret = CTL_EXIT_USAGE;
			goto out;
		}
	r = quarantine_recover(ctx->root);
	if (r < 0)
		log_warning_errno(r, "Failed to finish an interrupted quarantine job: %m");
	r = quarantine_active_read(ctx->root, &active, &n);
	if (r < 0) {
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	st.rec.generation++;
	for (int i = 0; i < ctx->n_args; i++)
		if (quarantine_active_add(&active, &n, ctx->args[i], st.rec.generation, st.rec.level) == -ENOMEM) {
			ret = CTL_EXIT_FAILURE;
			goto out;
		}
	r = quarantine_active_write(ctx->root, active, n);
	if (r < 0) {
		log_error_errno(r, "Failed to write %s: %m", QUARANTINE_ACTIVE_FILE);
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	rebuild_modules(ctx->root, &st.rec);
	ret = save(&st);
	/* The files move at the next boot's rootfs phase, before any of the
	 * component's units start (boot.c), with the unit masks and module
	 * blocks: not from under the running product. */
	if (ret == CTL_EXIT_OK)
		log_info("quarantined; takes effect at the next boot");
out:
	components_done(&set);
	state_done(&st);
	return ret;
}

int ctl_reset(const struct ctl_ctx *ctx)
{
	struct ctl_state st;
	int ret;

	ret = state_open(ctx, &st);
	if (ret != CTL_EXIT_OK)
		return ret;
	if (st.load_error == STATE_E_VERSION && !ctx->all) {
		log_error("the record was written by a newer lifeline; refusing to downgrade it "
			  "(use --all to overwrite anyway)");
		state_done(&st);
		return CTL_EXIT_STATE;
	}
	state_record_init(&st.rec);
	st.store->have_last = false;
	ret = save(&st);
	if (ret == CTL_EXIT_OK)
		log_info("new state record written");
	state_done(&st);
	return ret;
}

int ctl_dispatch(const char *verb, const struct ctl_ctx *ctx)
{
	static const struct {
		const char *verb;
		int (*run)(const struct ctl_ctx *ctx);
		int max_args;
	} verbs[] = {
		{ "status", ctl_status, 0 },
		{ "components", ctl_components, 0 },
		{ "bless", ctl_bless, 0 },
		{ "clear", ctl_clear, 1000 },
		{ "quarantine", ctl_quarantine, 1000 },
		{ "reset", ctl_reset, 0 },
		/* reporting and signed commands: agent/report.c, agent/command.c */
		{ "report", report_verb, 2 },
		{ "keygen", command_verb_keygen, 2 },
		{ "sign-command", command_verb_sign, 1000 },
		{ "apply-command", command_verb_apply, 2 },
	};

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		if (!streq(verb, verbs[i].verb))
			continue;
		if (ctx->n_args > verbs[i].max_args) {
			log_error("'%s' takes no argument '%s'. Try 'lifelinectl --help'.", verb, ctx->args[0]);
			return CTL_EXIT_USAGE;
		}
		return verbs[i].run(ctx);
	}
	log_error("unknown command '%s'. Try 'lifelinectl --help'.", verb);
	return CTL_EXIT_USAGE;
}
