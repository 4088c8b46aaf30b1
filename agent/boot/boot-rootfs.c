/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rootfs phase (boot.h boot_phase_rootfs()): the real root mounted,
 * before systemd. Applies and records a quarantine on the root, keeps a
 * replaced record's bytes, writes /run/modprobe.d and the generator's copy
 * of the active list.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/boot/boot.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/decision/decide.h"
#include "efi/store.h"
#include "agent/decision/history.h"
#include "agent/inventory/inventory.h"
#include "agent/crash/pstore.h"
#include "agent/quarantine/degrade.h"
#include "agent/quarantine/quarantine.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/crash/suspects.h"
#include "agent/boot/var-mount.h"
#include "agent/boot/watchdog.h"
#include "agent/decision/blocked-modules.h"

#include "agent/boot/boot-internal.h"

/* Save the crash texts collected in the initramfs on the root, so reports
 * and `lifelinectl history` still have them after /run is gone. */
static void save_crashes(const struct boot_opts *o, unsigned boot_seq)
{
	_cleanup_free_ char *src = boot_run_path(o, "pstore"), *dst = NULL, *sub = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	if (!src)
		return;
	d = opendir(src);
	if (!d)
		return;
	if (asprintf(&sub, LIFELINE_STATE_DIR "/crashes/boot-%u", boot_seq) < 0)
		return;
	dst = path_under_root(o->root, sub);
	if (!dst || mkdir_p(dst, 0700) < 0)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *from = NULL, *to = NULL, *text = NULL;
		size_t size;

		if (de->d_name[0] == '.')
			continue;
		from = path_join(src, de->d_name);
		to = path_join(dst, de->d_name);
		if (!from || !to || read_full_file(from, 1024 * 1024, &text, &size) < 0)
			continue;
		if (write_file_atomic(to, text, size, 0600) < 0)
			log_warning("Failed to save crash record %s", to);
	}
}

static bool root_looks_mounted(const char *root)
{
	_cleanup_free_ char *etc = path_under_root(root, "/etc");
	struct stat st;

	return etc && lstat(etc, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool root_is_read_only(const char *root)
{
	struct statvfs sv;

	return statvfs(root, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

/* Whether an active component has no quarantine on disk yet: `lifelinectl
 * quarantine` only records it, its files move here at the next boot,
 * before any of its units start (not from under a running product, whose
 * self-protection may fight back). */
static bool quarantine_unapplied(const char *root, const struct quarantine_entry *active,
                                 unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (quarantine_exists(root, active[i].id, active[i].generation) == 0)
			return true;
	return false;
}
/* The component an active-list id stands for: from components.d, or the
 * level-3 pseudo component of out-of-tree module files. */
static int active_component(const struct boot_opts *o, const struct component_set *set,
                            const char *id, struct component *tmp, const struct component **ret)
{
	const struct component *c = components_find(set, id);

	memset(tmp, 0, sizeof(*tmp));
	if (!c && streq(id, SUSPECTS_OOT_ID)) {
		_cleanup_free_ char *kver = boot_kernel_release(o);
		int r = suspects_oot_component(kver, tmp);

		if (r < 0)
			return r;
		c = tmp;
	}
	*ret = c;
	return 0;
}

/* A degraded entry (docs/degrade.md): the degrade step applied, then the
 * kernel half's content moved as a quarantine of the entry's generation
 * (its modules are blocked and its kernel_units masked from the lists,
 * as for any entry). Both are idempotent, so a power cut anywhere is
 * finished by the next boot (quarantine_unapplied()). Returns 0, or the
 * degrade step's failure: the caller quarantines the whole component
 * instead. */
static int degrade_entry(const struct boot_opts *o, const struct component *c, unsigned generation,
                         char ***lines)
{
	struct degrade_result dr = {0};
	struct quarantine_result qr = {0};
	struct component k = {0};
	int r;

	r = degrade_apply(o->root, c, &dr);
	STRV_FOREACH (l, dr.lines) {
		log_full_errno(r < 0 ? LOG_LVL_WARNING : LOG_LVL_NOTICE, 0, "%s", *l);
		(void)strv_extend(lines, *l);
	}
	degrade_result_done(&dr);
	if (r < 0) {
		char *why = NULL;

		log_warning("%s: its degrade step cannot apply (%s): quarantining it instead",
		            c->id, degrade_strerror(r));
		if (asprintf(&why, "%s: degrade step not applied (%s): quarantined instead", c->id,
		             degrade_strerror(r)) >= 0)
			(void)strv_consume(lines, why);
		return r;
	}
	log_notice("degraded %s: its kernel part is off, it runs in user mode", c->id);
	r = component_kernel_half(c, &k);
	if (r >= 0)
		r = quarantine_apply(o->root, &k, generation, &qr);
	component_done(&k);
	if (r < 0)
		/* the step is in force and the modules are blocked: only the
		 * kernel content stays in place until a later boot moves it */
		log_error_errno(r, "Failed to move the kernel content of %s: %s", c->id,
		                quarantine_strerror(r));
	STRV_FOREACH (l, qr.lines)
		(void)strv_extend(lines, *l);
	quarantine_result_done(&qr);
	return 0;
}

/* The reason of this boot's decision says which components it degraded
 * rather than quarantined (those whose step applied), for the status, the
 * history and the agent's report. */
static void say_degraded(const char *state_path, struct runstate *rs,
                         const struct quarantine_entry *active, unsigned n)
{
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_free_ char *list = NULL;
	char *why = NULL;
	int r;

	for (unsigned i = 0; i < n; i++)
		if (active[i].degraded && active[i].generation == rs->generation)
			(void)strv_extend(&ids, active[i].id);
	if (!ids || !(list = strv_join(ids, ", ")))
		return;
	if (asprintf(&why,
	             "%s; degraded, not quarantined: %s (kernel part off, running in user mode)",
	             rs->reason ? rs->reason : "safe mode", list) < 0)
		return;
	free(rs->reason);
	rs->reason = why;
	r = runstate_write(state_path, rs);
	if (r < 0)
		log_error_errno(r, "Failed to update %s: %m", state_path);
}

/* Moves the files of every active component whose quarantine is not on
 * disk yet; what happened goes into *lines (for the history). A degraded
 * entry whose step cannot apply becomes a whole quarantine: *changed is
 * set and the caller writes the active list again. */
static void quarantine_apply_active(const struct boot_opts *o, const struct component_set *set,
                                    struct quarantine_entry *active, unsigned n, char ***lines,
                                    bool *changed)
{
	for (unsigned i = 0; i < n; i++) {
		const struct component *c = NULL;
		struct component none = {0}, tmp;
		struct quarantine_result res = {0};
		int k;

		if (quarantine_exists(o->root, active[i].id, active[i].generation) != 0)
			continue;
		k = active_component(o, set, active[i].id, &tmp, &c);
		if (k >= 0 && c && active[i].degraded) {
			if (degrade_entry(o, c, active[i].generation, lines) >= 0) {
				component_done(&tmp);
				continue;
			}
			active[i].degraded = false;
			*changed = true;
		}
		if (k >= 0 && c && !active[i].degraded && degrade_exists(o->root, c->id) != 0) {
			/* a degraded component quarantined by a later escalation:
			 * its files back as the vendor had them first, so the
			 * quarantine moves those and a clear restores them */
			struct degrade_result dr = {0};
			int u = degrade_undo(o->root, c->id, &dr);

			if (u < 0)
				log_error_errno(u, "Failed to undo the degrade step of %s: %s",
				                c->id, degrade_strerror(u));
			STRV_FOREACH (l, dr.lines)
				(void)strv_extend(lines, *l);
			degrade_result_done(&dr);
		}
		if (k >= 0 && !c) {
			/* an empty quarantine is recorded, so later boots do
			 * not look for its files again */
			log_warning(
			    "quarantined component %s is not in components.d: no files to move",
			    active[i].id);
			none.id = strdup(active[i].id);
			c = &none;
			k = none.id ? 0 : -ENOMEM;
		}
		if (k >= 0)
			k = quarantine_apply(o->root, c, active[i].generation, &res);
		if (k < 0) {
			log_error_errno(k, "Failed to quarantine the files of %s: %s", active[i].id,
			                quarantine_strerror(k));
			(void)strv_extend(lines, "files of a component could not be quarantined");
		}
		free(none.id);
		component_done(&tmp);
		STRV_FOREACH (l, res.lines) {
			log_full_errno(res.errors > 0 ? LOG_LVL_WARNING : LOG_LVL_NOTICE, 0, "%s",
			               *l);
			(void)strv_extend(lines, *l);
		}
		quarantine_result_done(&res);
	}
}

/* The real root's module blocks (blocked-modules.h): the modules of every
 * active component, patterns resolved against the real root's module
 * index, plus the durable level-3 list. */
static char **root_blocked_modules(const struct boot_opts *o, const struct component_set *set,
                                   const struct quarantine_entry *active, unsigned n, char **extra)
{
	struct module_index idx = {0};
	char **l = NULL;

	if (module_index_load(o->root, o->kernel_release, &idx) < 0)
		log_warning("Failed to read the kernel's module index under %s", o->root);
	if (blocked_modules(set, active, n, extra, &idx, &l) < 0)
		log_error("Out of memory computing the blocked modules");
	module_index_done(&idx);
	return l;
}

static void record_history(const struct boot_opts *o, const struct runstate *rs, const char *action,
                           const char *reason, char **modules, char **files)
{
	_cleanup_free_ char *who = strdup(HISTORY_WHO_BOOT), *act = strdup(action),
	                    *why = reason ? strdup(reason) : NULL;
	struct history_entry e = {
	    .boot_seq = rs->boot_seq,
	    .level = rs->level,
	    .who = who,
	    .action = act,
	    .mode = rs->mode,
	    .reason = why,
	    .trigger = streq(action, "escalate") || streq(action, "give-up") ? rs->trigger : NULL,
	    .evidence = rs->evidence,
	    .components = streq(action, "escalate") || streq(action, "recover-decision")
	                      ? rs->quarantine
	                      : NULL,
	    .modules = modules,
	    .files = files,
	};
	int r = who && act ? history_append(o->root, &e) : -ENOMEM;

	if (r < 0)
		log_error_errno(r, "Failed to record the decision in %s: %m", HISTORY_FILE);
}

/* The crash-loop guard (README): the decision goes into the report spool
 * on the root before any file moves, so the fleet hears of a quarantine
 * first thing once the network is up, even if what it quarantines was
 * what reported. Best effort: a report that cannot be spooled never stops
 * the quarantine (the boot loop would go on). */
static void spool_decision_report(const struct boot_opts *o, const struct runstate *rs)
{
	struct lifeline_config cfg;
	int r;

	config_init_defaults(&cfg);
	r = config_load(o->config_root ? o->config_root : o->root, &cfg);
	if (r < 0)
		log_warning("configuration has errors; using defaults for the bad keys");
	r = report_spool_decision(o->root, &cfg, rs, NULL);
	if (r < 0)
		log_error_errno(r, "Failed to spool the report of this decision: %m; "
		                   "it is reported once the agent runs");
	config_done(&cfg);
}

/* The init phase replaced a damaged or inconsistent record: keep its bytes
 * on the root, leave the marker `lifelinectl status` reads, say so in the
 * history and tell the fleet (RECORD_REPLACED_FILE in runstate.h). */
static void keep_replaced_record(const struct boot_opts *o, const struct runstate *rs)
{
	_cleanup_free_ char *src = boot_run_path(o, "record-bad.bin"), *rel = NULL, *dst = NULL,
	                    *marker = path_under_root(o->root, RECORD_REPLACED_FILE), *raw = NULL,
	                    *text = NULL, *why = NULL;
	struct runstate copy = *rs;
	size_t size = 0;
	int n, r;

	if (!src || !marker || asprintf(&rel, RECORD_BAD_FILE_FMT, rs->boot_seq) < 0 ||
	    !(dst = path_under_root(o->root, rel)))
		return;
	{
		_cleanup_free_ char *dir = strdup(dst);

		if (dir) {
			*strrchr(dir, '/') = 0;
			(void)mkdir_p(dir, 0755);
		}
	}
	if (read_full_file(src, 64 * 1024, &raw, &size) >= 0 &&
	    (r = write_file_atomic(dst, raw, size, 0600)) < 0)
		log_warning_errno(r, "Failed to keep the replaced record in %s: %m", dst);
	n = asprintf(&text, "boot_seq=%u\ntime=%lld\nreason=%s\nbytes=%s\n", rs->boot_seq,
	             (long long)time(NULL), rs->record_replaced, raw ? rel : "");
	if (n < 0 || (r = write_file_atomic(marker, text, (size_t)n, 0644)) < 0)
		log_error("Failed to write %s", marker);
	if (asprintf(&why,
	             "state record damaged or inconsistent (%s): replaced by a fresh record "
	             "counting from boot %u; its bytes kept in %s",
	             rs->record_replaced, rs->boot_seq, raw ? rel : "(unreadable)") < 0)
		return;
	record_history(o, rs, "record-replaced", why, NULL, NULL);
	/* the fleet hears of it: protection was off for this machine until now */
	copy.action = (char *)"record-replaced";
	copy.error = why;
	spool_decision_report(o, &copy);
}

static int rootfs_phase(const struct boot_opts *o)
{
	_cleanup_free_ char *state_path = boot_run_path(o, "state"),
	                    *modprobe = boot_run_path(o, "../modprobe.d/lifeline.conf"),
	                    *active_path = boot_run_path(o, "active");
	_cleanup_free_ struct quarantine_entry *active = NULL;
	_cleanup_strv_free_ char **extra = NULL, **blocked = NULL, **files = NULL, **degrade = NULL;
	struct component_set set = {0};
	struct runstate rs;
	unsigned n_active = 0, n_new = 0;
	bool remounted = false, escalate, give_up, lists_ok = true, durable_ok = true, mark_decided,
	     kinds_changed = false;
	bool lost, decide; /* an earlier boot's decision to finish; a decision to make durable */
	unsigned decided = 0;
	int r, pending, dpending, recovered = 0;

	if (!state_path || !modprobe)
		return log_error_errno(ENOMEM, "Out of memory");
	r = runstate_read(state_path, &rs);
	if (r < 0) {
		if (r != -ENOENT)
			log_error_errno(r, "Failed to read %s: %m", state_path);
		return 0;
	}
	escalate = rs.action_kind == RUNSTATE_ACTION_ESCALATE;
	give_up = rs.action_kind == RUNSTATE_ACTION_GIVE_UP;
	r = quarantine_active_read(o->root, &active, &n_active);
	if (r < 0) {
		log_warning_errno(r, "Failed to read the active quarantine list: %m");
		lists_ok = false;
	}
	r = quarantine_modules_read(o->root, &extra);
	if (r < 0) {
		log_warning_errno(r, "Failed to read %s: %m", QUARANTINE_MODULES_FILE);
		lists_ok = false;
	}
	if (!root_looks_mounted(o->root)) {
		/* Never create a tree where the root should be: the modules
		 * stay blocked (init phase), the files wait for a later boot. */
		if (escalate || n_active > 0)
			log_error("real root not mounted at %s: quarantine recorded in the state "
			          "record only",
			          o->root);
		runstate_done(&rs);
		return 0;
	}
	/* A quarantine a power cut interrupted is finished at any boot. */
	pending = quarantine_needs_recovery(o->root);
	dpending = degrade_needs_recovery(o->root);
	lost = boot_decision_lost(&rs, active, n_active, lists_ok, o->root);
	decide = escalate || lost;
	if (!decide && !give_up && pending <= 0 && dpending <= 0 && n_active == 0 && !extra &&
	    !rs.record_replaced && access(modprobe, F_OK) < 0) {
		runstate_done(&rs); /* a normal boot: nothing to do */
		return 0;
	}
	r = components_load(o->config_root ? o->config_root : o->root, &set, NULL);
	if (r < 0) {
		log_error_errno(r, "Failed to load components: %m");
		lists_ok = false;
	}
	if (!decide && !give_up && pending <= 0 && dpending <= 0 && !rs.record_replaced &&
	    !quarantine_unapplied(o->root, active, n_active))
		goto modprobe; /* nothing to change on the root */
	if (lost && !lists_ok)
		lost = decide = false; /* components.d unreadable: wait for a boot that reads it */

	if (o->remount && root_is_read_only(o->root)) {
		/* initramfs-tools mounts the root read-only; the changes are
		 * made here, before systemd and any third-party unit start,
		 * then the root goes back to read-only so systemd-fsck-root
		 * and the rest of the boot see what they expect. */
		if (mount(NULL, o->root, NULL, MS_REMOUNT, NULL) < 0)
			log_error_errno(errno,
			                "Failed to remount %s read-write: %m; "
			                "modules stay blocked, files are not moved",
			                o->root);
		else
			remounted = true;
	}
	if (pending > 0) {
		recovered = quarantine_recover(o->root);
		if (recovered < 0)
			log_error_errno(recovered,
			                "Failed to finish an interrupted quarantine or restore: %s",
			                quarantine_strerror(recovered));
		else if (recovered > 0)
			log_notice("finished %d quarantine job(s) a power cut interrupted",
			           recovered);
	}
	if (dpending > 0) {
		r = degrade_recover(o->root);
		if (r < 0)
			log_error_errno(
			    r, "Failed to finish an interrupted degrade step or its undo: %s",
			    degrade_strerror(r));
		else if (r > 0) {
			log_notice("finished %d degrade job(s) a power cut interrupted", r);
			recovered += r;
		}
	}

	if (rs.record_replaced)
		keep_replaced_record(o, &rs);
	if (lost) {
		log_warning(
		    "safe mode level %u: the quarantine of generation %u was decided at an earlier "
		    "boot and never recorded on the root; finishing it now",
		    rs.level, rs.generation);
		boot_rebuild_decision(o, &set, &rs, &files);
	}
	/* Level 1 without a panic-log suspect: what changed since the last
	 * good boot, else what changed most recently (boot-internal.h). */
	if (escalate && rs.level == 1 && strv_length(rs.quarantine) == 0)
		boot_pick_by_inventory(o, &set, &rs, &files);
	if (escalate && rs.level >= 3)
		boot_pick_out_of_tree(o, &rs);
	/* Level 1, and the crash names the kernel half of a component with a
	 * degrade step: degrade it instead of quarantining it (docs/degrade.md).
	 * Only on the crash's evidence: a pick by what changed names no half. */
	if (escalate && rs.level == 1)
		STRV_FOREACH (id, rs.quarantine) {
			const struct component *c = components_find(&set, *id);

			if (c && suspects_degrade_instead(c, rs.evidence))
				(void)strv_extend(&degrade, *id);
		}
	if (degrade) {
		/* said in the decision report spooled below, before any change */
		strv_free(rs.degrade);
		rs.degrade = strv_copy(degrade);
	}
	if (escalate) {
		r = runstate_write(state_path, &rs);
		if (r < 0)
			log_error_errno(r, "Failed to update %s: %m", state_path);
	}

	/* The module list first, the active list second, "decided" last: a
	 * cut leaves a prefix of these, and the next boot can tell which
	 * (an active entry of this generation means the module list is
	 * written too). */
	if (decide && rs.extra_modules) {
		size_t before = strv_length(extra);

		STRV_FOREACH (m, rs.extra_modules)
			if (module_name_is_valid(*m, false) && !strv_contains(extra, *m))
				(void)strv_extend(&extra, *m);
		if (strv_length(extra) > before &&
		    (r = quarantine_modules_write(o->root, extra)) < 0) {
			log_error_errno(r, "Failed to record the blocked modules in %s: %m",
			                QUARANTINE_MODULES_FILE);
			durable_ok = false;
		}
	}
	STRV_FOREACH (id, decide && durable_ok ? rs.quarantine : NULL) {
		r = quarantine_active_add(&active, &n_active, *id, rs.generation, rs.level);
		if (r == -ENOMEM)
			break;
		/* a degraded entry of an earlier generation became a whole
		 * quarantine in the add (its step is undone when it applies) */
		if (r > 0 && strv_contains(degrade, *id))
			for (unsigned i = 0; i < n_active; i++)
				if (streq(active[i].id, *id))
					active[i].degraded = true;
		if (r > 0)
			n_new++;
	}
	if (n_new > 0) {
		r = quarantine_active_write(o->root, active, n_active);
		if (r < 0) {
			log_error_errno(r, "Failed to record the quarantine in %s: %m",
			                QUARANTINE_ACTIVE_FILE);
			durable_ok = false;
		}
	}
	/* last: from now on the lists above are this decision's whole truth;
	 * a later boot finishes what a cut here left undone */
	mark_decided = decide && durable_ok;
	if (!decide && lists_ok && quarantine_decided_read(o->root, &decided) >= 0 &&
	    decided < rs.generation)
		for (unsigned i = 0; i < n_active; i++)
			if (active[i].generation == rs.generation)
				mark_decided = true;
	if (mark_decided && (r = quarantine_decided_write(o->root, rs.generation)) < 0)
		log_error_errno(r, "Failed to write %s: %m", QUARANTINE_DECIDED_FILE);
	if (decide)
		spool_decision_report(o, &rs);
	/* after the active list is durable: a cut before the files move
	 * leaves them for the next boot (quarantine_unapplied()) */
	quarantine_apply_active(o, &set, active, n_active, &files, &kinds_changed);
	if (kinds_changed && (r = quarantine_active_write(o->root, active, n_active)) < 0)
		log_error_errno(r, "Failed to record the quarantine in %s: %m",
		                QUARANTINE_ACTIVE_FILE);
	if (escalate && degrade)
		say_degraded(state_path, &rs, active, n_active);
	if (decide || give_up)
		save_crashes(o, rs.boot_seq);

	blocked = root_blocked_modules(o, &set, active, n_active, extra);
	if (escalate)
		record_history(o, &rs, "escalate", rs.reason, blocked, files);
	else if (lost)
		record_history(o, &rs, "recover-decision", rs.reason, blocked, files);
	else if (give_up)
		record_history(o, &rs, "give-up",
		               rs.reason ? rs.reason
		                         : "still failing after every recovery level: nothing more "
		                           "is changed",
		               NULL, NULL);
	else if (recovered > 0)
		record_history(o, &rs, "recover",
		               "finished a quarantine or restore a power cut interrupted", NULL,
		               files);
	else if (files)
		record_history(o, &rs, "apply",
		               "moved the files of a quarantine decided before this boot "
		               "(lifelinectl quarantine or a signed command)",
		               blocked, files);
	sync();

	if (remounted && mount(NULL, o->root, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		log_warning_errno(errno, "Failed to remount %s read-only again: %m", o->root);

modprobe:
	/* /run/modprobe.d, the real root's block list (/run moves into the
	 * real root), from the durable lists on the root: the init phase
	 * wrote it from the state record, which at level 1 without a panic
	 * log holds every component's modules (boot_phase_init()). Only from
	 * lists that read well: a damaged list never lifts a block, and
	 * neither does one a power cut left incomplete. */
	if (lists_ok) {
		if (!blocked)
			blocked = root_blocked_modules(o, &set, active, n_active, extra);
		/* A decision whose lists a power cut kept off the root: the
		 * record's blocks stay until a rootfs phase makes it durable. */
		if (quarantine_decided_read(o->root, &decided) < 0 || decided < rs.generation)
			STRV_FOREACH (m, rs.blocked)
				if (!strv_contains(blocked, *m))
					(void)strv_extend(&blocked, *m);
		r = boot_write_modprobe_conf(modprobe, blocked);
		if (r < 0)
			log_error_errno(r, "Failed to write the module quarantine into %s: %m",
			                modprobe);
		/* the generator's copy: it does not see a separate /var */
		r = active_path ? quarantine_active_write_path(active_path, active, n_active)
		                : -ENOMEM;
		if (r < 0)
			log_error_errno(r,
			                "Failed to leave the active quarantine list in /run: %m");
	}
	components_done(&set);
	runstate_done(&rs);
	return 0;
}

int boot_phase_rootfs(const struct boot_opts *o)
{
	int mounted = 0, r;

	/* a separate /var holds the quarantine, history and spool (var-mount.h) */
	if (o->real_system && root_looks_mounted(o->root))
		mounted = boot_var_mount(o->root);
	r = rootfs_phase(o);
	if (mounted > 0)
		boot_var_unmount(o->root);
	return r;
}
