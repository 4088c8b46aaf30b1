/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/boot/boot.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/command/command.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/decide.h"
#include "efi/store.h"
#include "agent/decision/history.h"
#include "agent/quarantine/quarantine.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/crash/suspects.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* Set by ctl_dispatch() for the verb it runs; NULL when a verb function is
 * called from elsewhere, which in the product is the agent applying a
 * polled signed command (agent/command.c). */
static const char *ctl_dispatch_who;

static const char *ctl_who(const struct ctl_ctx *ctx)
{
	if (ctx->who)
		return ctx->who;
	return ctl_dispatch_who ? ctl_dispatch_who : HISTORY_WHO_COMMAND;
}

/* One decision into the durable history. A failure is logged and does not
 * undo the decision: the change itself is made and recorded elsewhere. */
static void ctl_record(const struct ctl_ctx *ctx, const struct state_record *rec,
                       const char *action, const char *reason, char **components, char **modules,
                       char **files)
{
	_cleanup_free_ char *who = strdup(ctl_who(ctx)), *act = strdup(action),
	                    *mode = strdup(state_mode_to_string(rec->mode)),
	                    *why = reason ? strdup(reason) : NULL;
	struct history_entry e = {
	    .boot_seq = rec->boot_seq,
	    .level = rec->level,
	    .who = who,
	    .action = act,
	    .mode = mode,
	    .reason = why,
	    .components = components,
	    .modules = modules,
	    .files = files,
	};
	int r = who && act && mode ? history_append(ctx->root, &e) : -ENOMEM;

	if (r < 0)
		log_warning_errno(r, "Failed to record the decision in %s: %m", HISTORY_FILE);
}

static char **record_modules(const struct state_record *rec)
{
	char **l = NULL;

	for (unsigned i = 0; i < rec->n_modules; i++)
		(void)strv_extend(&l, rec->modules[i]);
	return l;
}

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
		config_done(&st->cfg); /* callers free nothing when this fails */
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
	log_error("The state record is unreadable: %s. Nothing was changed; 'lifelinectl reset' "
	          "starts a new record.",
	          state_record_strerror(st->load_error));
	return CTL_EXIT_STATE;
}

static int save(struct ctl_state *st)
{
	int r = store_save(st->store, &st->rec);

	if (r < 0) {
		log_error_errno(r, "Failed to write the state record (%s store)%s: %m",
		                store_kind_to_string(st->store->kind),
		                r == -ENOSPC ? ", NVRAM full" : "");
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
		STRV_FOREACH (id, rs->quarantine)
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
			json_object_object_add(
			    o, "error",
			    json_object_new_string(state_record_strerror(st.load_error)));
			json_object_object_add(
			    o, "store",
			    json_object_new_string(store_kind_to_string(st.store->kind)));
			puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
			                                           JSON_C_TO_STRING_NOSLASHESCAPE));
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
			time_t t = (time_t)st.rec.last_blessed_time;
			struct tm tm;
			char buf[64];

			/* The record's time is any 64-bit value: gmtime_r()
			 * fails past year 2^31 (EOVERFLOW). */
			if (!gmtime_r(&t, &tm) ||
			    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
				snprintf(buf, sizeof(buf), "unix time %" PRIu64,
				         st.rec.last_blessed_time);
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
		if (ret == CTL_EXIT_OK) {
			log_info("boot #%u blessed: failure counter reset", st.rec.boot_seq);
			ctl_record(ctx, &st.rec, "bless", "boot blessed: failure counter reset",
			           NULL, NULL, NULL);
		}
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
	struct component_set set = {0};
	_cleanup_strv_free_ char **extra = NULL;
	unsigned n = 0, problems = 0;

	state_record_clear_modules(rec);
	/* level 3's modules beyond the components' own (boot.c) */
	if (quarantine_modules_read(root, &extra) >= 0)
		STRV_FOREACH (m, extra)
			if (state_record_add_module(rec, *m) == -ENOSPC)
				break;
	if (quarantine_active_read(root, &active, &n) < 0 || n == 0)
		return;
	(void)components_load(root, &set, &problems);
	for (unsigned i = 0; i < n; i++) {
		const struct component *c = components_find(&set, active[i].id);
		if (!c)
			continue;
		STRV_FOREACH (m, c->modules)
			if (!strpbrk(*m, "*?["))
				(void)state_record_add_module(rec, *m);
	}
	components_done(&set);
}

/* Puts back the files of ids (NULL: every component quarantined, listed
 * or found on disk), after finishing any job a power cut interrupted.
 * Returns how many files could not be put back, or -errno. */
static int restore_files(const char *root, char **ids, char ***ret_done, char ***ret_lines)
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
	STRV_FOREACH (id, ids) {
		struct quarantine_result res = {0};

		if (!component_id_is_valid(*id))
			continue; /* nothing on disk can carry that name */
		r = quarantine_restore(root, *id, &res);
		if (r < 0)
			return log_error_errno(r, "Failed to restore the files of %s: %m", *id);
		STRV_FOREACH (l, res.lines) {
			log_full_errno(res.errors + res.kept_vendor > 0 ? LOG_LVL_WARNING
			                                                : LOG_LVL_INFO,
			               0, "%s", *l);
			(void)strv_extend(ret_lines, *l);
		}
		(void)strv_extend(ret_done, *id);
		problems += (int)res.errors;
		quarantine_result_done(&res);
	}
	return problems;
}

int ctl_clear(const struct ctl_ctx *ctx)
{
	_cleanup_free_ char *modprobe = path_under_root(ctx->root, "/run/modprobe.d/lifeline.conf");
	char **ids = ctx->all || ctx->n_args == 0 ? NULL : ctx->args;
	_cleanup_strv_free_ char **done = NULL, **lines = NULL, **mods = NULL;
	_cleanup_free_ char *why = NULL;
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
	problems = restore_files(ctx->root, ids, &done, &lines);
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
	/* level 3's module list goes with the whole quarantine, or with the
	 * out-of-tree pseudo component it belongs to */
	if (!ids || strv_contains(ids, SUSPECTS_OOT_ID)) {
		r = quarantine_modules_write(ctx->root, NULL);
		if (r < 0) {
			log_error_errno(r, "Failed to remove %s: %m", QUARANTINE_MODULES_FILE);
			ret = CTL_EXIT_FAILURE;
			goto out;
		}
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
		mods = record_modules(&st.rec);
		if (asprintf(&why, "%s; %u component(s) stay quarantined%s",
		             ids ? "named components cleared" : "whole quarantine cleared", left,
		             problems > 0 ? "; some files could not be put back" : "") < 0)
			why = NULL;
		ctl_record(ctx, &st.rec, "clear", why, ids ? ids : done, mods, lines);
	}
	if (ret == CTL_EXIT_OK && problems > 0) {
		log_warning("%d file(s) could not be put back (see above); 'lifelinectl clear' "
		            "again retries",
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
	struct component_set set = {0};
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
			log_error("no such component: %s (see 'lifelinectl components')",
			          ctx->args[i]);
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
		if (quarantine_active_add(&active, &n, ctx->args[i], st.rec.generation,
		                          st.rec.level) == -ENOMEM) {
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
	if (ret == CTL_EXIT_OK) {
		_cleanup_strv_free_ char **mods = record_modules(&st.rec);

		/* This generation's lists are complete (the active list above):
		 * a later clear of the component must not look like a decision
		 * a power cut kept off the root (boot.c, decision_lost()). */
		r = quarantine_decided_write(ctx->root, st.rec.generation);
		if (r < 0)
			log_warning_errno(r, "Failed to write %s: %m", QUARANTINE_DECIDED_FILE);
		log_info("quarantined; takes effect at the next boot");
		ctl_record(
		    ctx, &st.rec, "quarantine",
		    "quarantined on request; files move at the next boot, safe mode is not entered",
		    ctx->args, mods, NULL);
	}
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
	if (ret == CTL_EXIT_OK) {
		log_info("new state record written");
		ctl_record(ctx, &st.rec, "reset", "new state record: counters start over", NULL,
		           NULL, NULL);
	}
	state_done(&st);
	return ret;
}

/* "--opt N" or "--opt=N" at args[*i]: 1 matched (value in *ret), 0 not
 * this option, -EINVAL bad or missing number. */
static int opt_uint(const struct ctl_ctx *ctx, int *i, const char *opt, unsigned *ret)
{
	const char *a = ctx->args[*i], *v;
	size_t n = strlen(opt);
	char *end;
	unsigned long u;

	if (strncmp(a, opt, n) != 0 || (a[n] != 0 && a[n] != '='))
		return 0;
	if (a[n] == '=')
		v = a + n + 1;
	else if (*i + 1 < ctx->n_args)
		v = ctx->args[++*i];
	else
		return -EINVAL;
	errno = 0;
	u = strtoul(v, &end, 10);
	if (!*v || *end || errno || u > UINT32_MAX || *v == '-')
		return -EINVAL;
	*ret = (unsigned)u;
	return 1;
}

static json_object *strv_to_json(char **l)
{
	json_object *a = json_object_new_array();

	STRV_FOREACH (s, l)
		json_object_array_add(a, json_object_new_string(*s));
	return a;
}

static void print_list(const char *label, char **l)
{
	if (strv_length(l) == 0)
		return;
	printf("    %-11s %s\n", label, l[0]);
	for (size_t i = 1; l[i]; i++)
		printf("    %-11s %s\n", "", l[i]);
}

int ctl_history(const struct ctl_ctx *ctx)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;
	struct history h;
	unsigned limit = 0, boot = 0;
	bool by_boot = false;
	size_t first = 0, shown = 0;
	int r;

	for (int i = 0; i < ctx->n_args; i++) {
		unsigned v;

		if ((r = opt_uint(ctx, &i, "--limit", &v)) != 0) {
			if (r < 0 || v == 0) {
				log_error("--limit needs a number above 0. Try 'lifelinectl "
				          "history --help'.");
				return CTL_EXIT_USAGE;
			}
			limit = v;
		} else if ((r = opt_uint(ctx, &i, "--boot", &v)) != 0) {
			if (r < 0) {
				log_error("--boot needs a boot number. Try 'lifelinectl history "
				          "--help'.");
				return CTL_EXIT_USAGE;
			}
			boot = v;
			by_boot = true;
		} else {
			log_error(
			    "history takes no argument '%s'. Try 'lifelinectl history --help'.",
			    ctx->args[i]);
			return CTL_EXIT_USAGE;
		}
	}

	r = history_read(ctx->root, &h);
	if (r < 0) {
		log_error_errno(r, "Failed to read the decision history %s: %m", HISTORY_FILE);
		return CTL_EXIT_FAILURE;
	}
	if (h.n_damaged > 0)
		log_warning("%u damaged entr%s in %s skipped (torn by a power cut, or altered)",
		            h.n_damaged, h.n_damaged == 1 ? "y" : "ies", HISTORY_FILE);

	/* --limit: the newest N of those that match */
	if (limit > 0) {
		size_t match = 0;

		for (size_t i = h.n; i > 0; i--) {
			if (by_boot && h.entries[i - 1].boot_seq != boot)
				continue;
			first = i - 1;
			if (++match == limit)
				break;
		}
	}
	if (ctx->json)
		arr = json_object_new_array();
	for (size_t i = first; i < h.n; i++) {
		const struct history_entry *e = &h.entries[i];

		if (by_boot && e->boot_seq != boot)
			continue;
		shown++;
		if (ctx->json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "time", json_object_new_int64((int64_t)e->time));
			json_object_object_add(o, "boot_seq", json_object_new_int64(e->boot_seq));
			json_object_object_add(o, "who", json_object_new_string(e->who));
			json_object_object_add(o, "action", json_object_new_string(e->action));
			json_object_object_add(o, "level", json_object_new_int64(e->level));
			json_object_object_add(o, "mode",
			                       e->mode ? json_object_new_string(e->mode) : NULL);
			json_object_object_add(
			    o, "reason", e->reason ? json_object_new_string(e->reason) : NULL);
			json_object_object_add(o, "evidence", strv_to_json(e->evidence));
			json_object_object_add(o, "components", strv_to_json(e->components));
			json_object_object_add(o, "modules", strv_to_json(e->modules));
			json_object_object_add(o, "files", strv_to_json(e->files));
			json_object_array_add(arr, o);
		} else {
			time_t t = (time_t)e->time;
			struct tm tm;
			char buf[64];

			if (!gmtime_r(&t, &tm) ||
			    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
				snprintf(buf, sizeof(buf), "unix time %" PRIu64, e->time);
			printf("%s  boot #%u  %s by %s: level %u, mode %s\n", buf, e->boot_seq,
			       e->action, e->who, e->level, e->mode ? e->mode : "-");
			if (e->reason)
				printf("    %-11s %s\n", "reason:", e->reason);
			print_list("components:", e->components);
			print_list("modules:", e->modules);
			print_list("files:", e->files);
			print_list("evidence:", e->evidence);
		}
	}
	if (ctx->json)
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
		                                             JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (shown == 0)
		printf(by_boot ? "No decision recorded for boot #%u.\n" : "No decision recorded.\n",
		       boot);
	history_done(&h);
	return CTL_EXIT_OK;
}

int ctl_dispatch(const char *verb, const struct ctl_ctx *ctx)
{
	static const struct {
		const char *verb;
		int (*run)(const struct ctl_ctx *ctx);
		int max_args;
	} verbs[] = {
	    {"status", ctl_status, 0},
	    {"components", ctl_components, 0},
	    {"bless", ctl_bless, 0},
	    {"clear", ctl_clear, 1000},
	    {"quarantine", ctl_quarantine, 1000},
	    {"reset", ctl_reset, 0},
	    {"history", ctl_history, 4},
	    /* reporting and signed commands: agent/report.c, agent/command.c */
	    {"report", report_verb, 2},
	    {"keygen", command_verb_keygen, 2},
	    {"sign-command", command_verb_sign, 1000},
	    {"apply-command", command_verb_apply, 2},
	};

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		if (!streq(verb, verbs[i].verb))
			continue;
		int ret;

		if (ctx->n_args > verbs[i].max_args) {
			log_error("'%s' takes no argument '%s'. Try 'lifelinectl --help'.", verb,
			          ctx->args[0]);
			return CTL_EXIT_USAGE;
		}
		/* the decision history names who decided: a signed command
		 * applied through lifelinectl is the fleet's decision */
		ctl_dispatch_who =
		    streq(verb, "apply-command") ? HISTORY_WHO_COMMAND : HISTORY_WHO_CTL;
		ret = verbs[i].run(ctx);
		ctl_dispatch_who = NULL;
		return ret;
	}
	log_error("unknown command '%s'. Try 'lifelinectl --help'.", verb);
	return CTL_EXIT_USAGE;
}
