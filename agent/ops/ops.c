/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operations on request (ops.h): clear, quarantine, bless, reset, each
 * one read-change-save of the state record and the quarantine lists under
 * root, recorded in the decision history with the actor that asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/crash/suspects.h"
#include "agent/decision/decide.h"
#include "agent/decision/blocked-modules.h"
#include "agent/decision/history.h"
#include "agent/decision/runstate.h"
#include "agent/ops/ops.h"
#include "agent/quarantine/degrade.h"
#include "agent/quarantine/quarantine.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"

/* The module blocks of the running boot (lifeline-early writes them). */

static const char *const actor_names[_OPS_ACTOR_MAX] = {
    [OPS_ACTOR_ADMIN] = HISTORY_WHO_CTL,
    [OPS_ACTOR_COMMAND] = HISTORY_WHO_COMMAND,
    [OPS_ACTOR_DAEMON] = HISTORY_WHO_DAEMON,
    [OPS_ACTOR_BOOT] = HISTORY_WHO_BOOT,
};

const char *ops_actor_to_string(enum ops_actor a)
{
	return (unsigned)a < _OPS_ACTOR_MAX ? actor_names[a] : NULL;
}

struct ops_state {
	struct lifeline_config cfg;
	struct store *store;
	struct state_record rec;
	int load_error; /* 0, -ENOENT (no record yet) or why it is unreadable */
};

static void state_done(struct ops_state *st)
{
	store_free(st->store);
	st->store = NULL;
	config_done(&st->cfg);
}

/* Config + store + record. On failure nothing is left to free. */
static int state_open(const char *root, struct ops_state *st)
{
	_cleanup_free_ char *why = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	config_init_defaults(&st->cfg);
	(void)config_load(root, &st->cfg); /* errors are logged; defaults fill in */

	r = config_open_store(&st->cfg, &st->store, &why);
	if (r < 0) {
		log_error_errno(r, "No state store available%s%s (file store: %m)", why ? ": " : "",
		                strempty(why));
		config_done(&st->cfg);
		return r;
	}
	st->load_error = store_load(st->store, &st->rec);
	if (st->load_error == -ENOENT)
		state_record_init(&st->rec);
	return 0;
}

/* 0 when the record read (or there is none yet), else its error, logged
 * and noted in res. */
static int require_record(const struct ops_state *st, struct ops_result *res)
{
	if (st->load_error == 0 || st->load_error == -ENOENT)
		return 0;
	log_error("The state record is unreadable: %s. Nothing was changed; 'lifelinectl reset' "
	          "starts a new record.",
	          state_record_strerror(st->load_error));
	res->record_error = st->load_error;
	return st->load_error;
}

static int save(struct ops_state *st, struct ops_result *res)
{
	int r = store_save(st->store, &st->rec);

	if (r < 0)
		return log_error_errno(r, "Failed to write the state record (%s store)%s: %m",
		                       store_kind_to_string(st->store->kind),
		                       r == -ENOSPC ? ", NVRAM full" : "");
	res->boot_seq = st->rec.boot_seq;
	res->level = st->rec.level;
	res->mode = (int)st->rec.mode;
	return 0;
}

/* One decision into the durable history. A failure is logged and does not
 * undo the decision: the change itself is made and saved already. */
static void record(const char *root, enum ops_actor actor, const struct state_record *rec,
                   const char *action, const char *reason, char **components, char **modules,
                   char **files)
{
	_cleanup_free_ char *who = strdup(ops_actor_to_string(actor)), *act = strdup(action),
	                    *mode = strdup(state_mode_to_string(rec->mode)),
	                    *why = reason ? strdup(reason) : NULL;
	struct history_entry e = {
	    .boot_seq = rec->boot_seq,
	    .level = rec->level,
	    .who = who,
	    .action = act,
	    .mode = mode,
	    .reason = why,
	    /* history_append() only reads the lists */
	    .components = components,
	    .modules = modules,
	    .files = files,
	};
	int r = who && act && mode ? history_append(root, &e) : -ENOMEM;

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

/* The ids quarantined: the durable active list, plus what this boot's
 * hand-off (rs, may be NULL) decided and the root may not hold yet. */
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

/* Drop components from the active list; NULL ids = all. *ret_left gets
 * how many entries remain. */
static int drop_active(const char *root, char **ids, unsigned *ret_left)
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

/* The record's module list: what the quarantine blocks now, computed by
 * the one owner of that list (agent/decision/blocked-modules: the active
 * components' modules, patterns resolved, level 3's extra modules,
 * in-tree ones never), as the boot phases compute it. */
static void rebuild_modules(const char *root, struct state_record *rec)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	_cleanup_strv_free_ char **extra = NULL, **blocked = NULL;
	struct component_set set = {0};
	struct module_index idx = {0};
	unsigned n = 0, problems = 0;

	state_record_clear_modules(rec);
	(void)quarantine_modules_read(root, &extra);
	(void)quarantine_active_read(root, &active, &n);
	(void)components_load(root, &set, &problems);
	(void)module_index_load(root, NULL, &idx);
	if (blocked_modules(&set, active, n, extra, &idx, &blocked) >= 0)
		STRV_FOREACH (m, blocked)
			if (state_record_add_module(rec, *m) == -ENOSPC)
				break;
	module_index_done(&idx);
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
	/* busy: every restore below would wait as long again, for nothing */
	if (r == -EWOULDBLOCK)
		return log_error_errno(r, "Failed to restore quarantined files: %s",
		                       quarantine_strerror(r));
	if (r < 0)
		log_warning_errno(r, "Failed to finish an interrupted quarantine job: %s",
		                  quarantine_strerror(r));
	r = degrade_recover(root);
	if (r == -EWOULDBLOCK)
		return log_error_errno(r, "Failed to undo degrade steps: %s", degrade_strerror(r));
	if (r < 0)
		log_warning_errno(r, "Failed to finish an interrupted degrade job: %s",
		                  degrade_strerror(r));
	if (!ids) {
		_cleanup_strv_free_ char **degraded = NULL;

		all = quarantined_ids(root, NULL);
		if (quarantine_list(root, &on_disk) >= 0 && strv_extend_strv(&all, on_disk) < 0)
			return -ENOMEM;
		if (degrade_list(root, &degraded) >= 0 && strv_extend_strv(&all, degraded) < 0)
			return -ENOMEM;
		if (all)
			strv_sort_uniq(all);
		ids = all;
	}
	STRV_FOREACH (id, ids) {
		struct quarantine_result qr = {0};

		struct degrade_result dr = {0};

		if (!component_id_is_valid(*id))
			continue; /* nothing on disk can carry that name */
		/* a degraded component: the vendor's files back as they were
		 * first (docs/degrade.md), then its kernel content */
		r = degrade_undo(root, *id, &dr);
		STRV_FOREACH (l, dr.lines) {
			log_full_errno(dr.kept > 0 ? LOG_LVL_WARNING : LOG_LVL_INFO, 0, "%s", *l);
			(void)strv_extend(ret_lines, *l);
		}
		degrade_result_done(&dr);
		if (r < 0)
			return log_error_errno(r, "Failed to undo the degrade step of %s: %s", *id,
			                       degrade_strerror(r));
		r = quarantine_restore(root, *id, &qr);
		if (r < 0)
			return log_error_errno(r, "Failed to restore the files of %s: %s", *id,
			                       quarantine_strerror(r));
		STRV_FOREACH (l, qr.lines) {
			log_full_errno(qr.errors + qr.kept_vendor > 0 ? LOG_LVL_WARNING
			                                              : LOG_LVL_INFO,
			               0, "%s", *l);
			(void)strv_extend(ret_lines, *l);
		}
		(void)strv_extend(ret_done, *id);
		problems += (int)qr.errors;
		quarantine_result_done(&qr);
	}
	return problems;
}

/* A clear may name what is configured, what is quarantined (listed, or
 * with files in the quarantine though its drop-in is gone) and level 3's
 * out-of-tree pseudo component. The first other id goes to res. */
static int clear_ids_known(const char *root, char **ids, struct ops_result *res)
{
	_cleanup_strv_free_ char **listed = NULL, **on_disk = NULL;
	struct component_set set = {0};
	unsigned problems = 0;
	int ret = 0;

	listed = quarantined_ids(root, NULL);
	(void)quarantine_list(root, &on_disk);
	(void)components_load(root, &set, &problems);
	STRV_FOREACH (id, ids)
		if (!streq(*id, SUSPECTS_OOT_ID) && !components_find(&set, *id) &&
		    !strv_contains(listed, *id) && !strv_contains(on_disk, *id)) {
			log_error(
			    "no such component: %s (neither configured in "
			    "/etc/lifeline/components.d nor quarantined); nothing was cleared",
			    *id);
			res->unknown = *id;
			ret = -ESRCH;
			break;
		}
	components_done(&set);
	return ret;
}

int ops_clear(const char *root, char **ids, enum ops_actor actor, struct ops_result *res)
{
	_cleanup_free_ char *modprobe = path_under_root(root, BLOCKED_MODPROBE_FILE);
	_cleanup_strv_free_ char **done = NULL, **lines = NULL, **mods = NULL;
	_cleanup_free_ char *why = NULL;
	struct ops_result dummy;
	struct ops_state st;
	unsigned left = 0;
	int r, problems;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if (ids && !*ids)
		ids = NULL;
	if (ids) {
		r = clear_ids_known(root, ids, res);
		if (r < 0)
			return r;
	}
	r = state_open(root, &st);
	if (r < 0)
		return r;
	/* A corrupt record can still be cleared: it is replaced by a fresh,
	 * normal one, which is what clearing means. */
	if (st.load_error != 0 && st.load_error != -ENOENT) {
		log_warning("state record was unreadable (%s); writing a fresh one",
		            state_record_strerror(st.load_error));
		res->record_error = st.load_error;
	}

	/* files first: a cut here leaves the component listed, and a second
	 * clear finishes the restore */
	problems = restore_files(root, ids, &done, &lines);
	if (problems < 0) {
		r = problems;
		goto out;
	}
	r = drop_active(root, ids, &left);
	if (r < 0) {
		log_error_errno(r, "Failed to update %s: %m", QUARANTINE_ACTIVE_FILE);
		goto out;
	}
	/* level 3's module list goes with the whole quarantine, or with the
	 * out-of-tree pseudo component it belongs to */
	if (!ids || strv_contains(ids, SUSPECTS_OOT_ID)) {
		r = quarantine_modules_write(root, NULL);
		if (r < 0) {
			log_error_errno(r, "Failed to remove %s: %m", QUARANTINE_MODULES_FILE);
			goto out;
		}
	}
	if (left == 0) {
		decide_clear(&st.rec);
		/* this running boot no longer needs the module blocks */
		if (modprobe)
			(void)unlink(modprobe);
	} else
		rebuild_modules(root, &st.rec);
	r = save(&st, res);
	if (r < 0)
		goto out;
	res->left = left;
	if (left == 0)
		log_info("quarantine cleared: the next boot is a normal boot");
	else
		log_info("cleared; %u component(s) stay quarantined", left);
	mods = record_modules(&st.rec);
	if (asprintf(&why, "%s; %u component(s) stay quarantined%s",
	             ids ? "named components cleared" : "whole quarantine cleared", left,
	             problems > 0 ? "; some files could not be put back" : "") < 0)
		why = NULL;
	record(root, actor, &st.rec, "clear", why, ids ? ids : done, mods, lines);
	if (problems > 0) {
		log_warning("%d file(s) could not be put back (see above); a second clear retries",
		            problems);
		res->not_restored = (unsigned)problems;
		r = -EIO;
	}
out:
	state_done(&st);
	return r;
}

int ops_quarantine(const char *root, char **ids, enum ops_actor actor, struct ops_result *res)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	_cleanup_strv_free_ char **mods = NULL;
	struct component_set set = {0};
	struct ops_result dummy;
	struct ops_state st;
	unsigned n = 0, problems = 0;
	int r;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if (!ids || !*ids) {
		log_error("quarantine needs at least one component");
		return -EINVAL;
	}
	r = state_open(root, &st);
	if (r < 0)
		return r;
	r = require_record(&st, res);
	if (r < 0)
		goto out;
	(void)components_load(root, &set, &problems);
	STRV_FOREACH (id, ids)
		if (!components_find(&set, *id)) {
			log_error("no such component: %s (not configured in "
			          "/etc/lifeline/components.d)",
			          *id);
			res->unknown = *id;
			r = -ESRCH;
			goto out;
		}
	r = quarantine_recover(root);
	if (r < 0)
		log_warning_errno(r, "Failed to finish an interrupted quarantine job: %s",
		                  quarantine_strerror(r));
	r = quarantine_active_read(root, &active, &n);
	if (r < 0) {
		log_error_errno(r, "Failed to read %s: %m", QUARANTINE_ACTIVE_FILE);
		goto out;
	}
	st.rec.generation++;
	STRV_FOREACH (id, ids) {
		/* a degraded one is made a whole quarantine (its step is
		 * undone at the next boot, before its files move) */
		r = quarantine_active_add(&active, &n, *id, st.rec.generation, st.rec.level);
		if (r == -ENOMEM)
			goto out;
	}
	r = quarantine_active_write(root, active, n);
	if (r < 0) {
		log_error_errno(r, "Failed to write %s: %m", QUARANTINE_ACTIVE_FILE);
		goto out;
	}
	rebuild_modules(root, &st.rec);
	r = save(&st, res);
	if (r < 0)
		goto out;
	/* The files move at the next boot's rootfs phase, before any of the
	 * component's units start, with the unit masks and module blocks:
	 * not from under the running product.
	 * This generation's lists are complete (the active list above): a
	 * later clear of the component must not look like a decision a power
	 * cut kept off the root. */
	r = quarantine_decided_write(root, st.rec.generation);
	if (r < 0)
		log_warning_errno(r, "Failed to write %s: %m", QUARANTINE_DECIDED_FILE);
	r = 0;
	log_info("quarantined; takes effect at the next boot");
	mods = record_modules(&st.rec);
	record(root, actor, &st.rec, "quarantine",
	       "quarantined on request; files move at the next boot, safe mode is not entered", ids,
	       mods, NULL);
out:
	components_done(&set);
	state_done(&st);
	return r;
}

int ops_bless(const char *root, enum ops_actor actor, const char *reason, struct ops_result *res)
{
	struct ops_result dummy;
	struct ops_state st;
	int r;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	r = state_open(root, &st);
	if (r < 0)
		return r;
	if (actor == OPS_ACTOR_DAEMON && st.load_error == -ENOENT) {
		log_error("Cannot bless this boot: %s", state_record_strerror(st.load_error));
		r = -ENOENT;
		goto out;
	}
	r = require_record(&st, res);
	if (r < 0)
		goto out;
	decide_bless(&st.rec, (unsigned long long)time(NULL));
	r = save(&st, res);
	if (r < 0)
		goto out;
	log_info("boot #%u blessed (mode %s, level %u): failure counter reset", st.rec.boot_seq,
	         state_mode_to_string(st.rec.mode), st.rec.level);
	record(root, actor, &st.rec, "bless",
	       reason ? reason : "boot blessed: failure counter reset", NULL, NULL, NULL);
out:
	state_done(&st);
	return r;
}

int ops_reset(const char *root, enum ops_actor actor, bool force, struct ops_result *res)
{
	struct ops_result dummy;
	struct ops_state st;
	int r;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	r = state_open(root, &st);
	if (r < 0)
		return r;
	if (st.load_error == STATE_E_VERSION && !force) {
		log_error("the record was written by a newer lifeline; refusing to downgrade it "
		          "(use --all to overwrite anyway)");
		res->record_error = st.load_error;
		r = st.load_error;
		goto out;
	}
	state_record_init(&st.rec);
	st.store->have_last = false;
	r = save(&st, res);
	if (r < 0)
		goto out;
	log_info("new state record written");
	record(root, actor, &st.rec, "reset", "new state record: counters start over", NULL, NULL,
	       NULL);
out:
	state_done(&st);
	return r;
}
