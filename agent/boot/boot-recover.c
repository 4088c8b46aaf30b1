/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The picks the rootfs phase makes on the root (inventory diff or recency
 * at level 1, out-of-tree modules at level 3), and finishing a decision an
 * earlier boot made but a power cut kept off the root.
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
#include "agent/inventory/recency.h"
#include "agent/crash/pstore.h"
#include "agent/quarantine/quarantine.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/crash/suspects.h"
#include "agent/boot/var-mount.h"
#include "agent/boot/watchdog.h"
#include "agent/decision/blocked-modules.h"

#include "agent/boot/boot-internal.h"

char *boot_kernel_release(const struct boot_opts *o)
{
	struct utsname u;

	if (o->kernel_release)
		return strdup(o->kernel_release);
	return uname(&u) >= 0 ? strdup(u.release) : NULL;
}

/* Level 1 with no panic log at all and no last good inventory (a product
 * that hangs the machine from its first boot after install): the
 * component(s) changed most recently (recency.h), so the level
 * quarantines something; any other component is left alone (its modules
 * unblocked on the real root, its units not masked, its files where they
 * are). */
bool boot_pick_by_recency(const struct boot_opts *o, const struct component_set *set,
                          struct runstate *rs)
{
	_cleanup_free_ char *kver = boot_kernel_release(o), *what = NULL, *why = NULL, *list = NULL;
	_cleanup_recency_free_ struct recency *rec = NULL;
	_cleanup_strv_free_ char **ids = NULL, **lines = NULL;
	int r;

	r = recency_scan(o->root, set, kver, recency_clock_ns(), &rec);
	if (r >= 0)
		r = recency_pick(rec, RECENCY_WINDOW_NS, &ids);
	if (r >= 0)
		r = recency_explain(rec, ids, &what, &lines);
	if (r < 0) {
		log_error_errno(r, "Failed to rank the components by their last change: %m; "
		                   "nothing picked at level 1");
		return false;
	}
	STRV_FOREACH (l, lines)
		(void)strv_extend(&rs->evidence, *l);
	if (!ids) {
		log_warning("no panic log, no last good boot, and no file of any component on "
		            "this machine: nothing to pick at level 1");
		return false;
	}
	if (asprintf(&why, "no panic log and no last good boot: %s", what) < 0)
		return false;
	list = strv_join(ids, " ");
	log_warning("safe mode level 1: quarantining %s: %s", strempty(list), why);
	strv_free(rs->quarantine);
	rs->quarantine = TAKE_PTR(ids);
	free(rs->reason);
	rs->reason = TAKE_PTR(why);
	return true;
}

/* Level 1 with no panic-log suspect (docs/design.md): the components whose
 * files differ from the last good inventory, most recently changed first.
 * A changed content file is rolled back to its cached last-good copy; a
 * component whose only changes were rolled back is whole again and is not
 * quarantined. The chosen ids go into rs->quarantine and from there into
 * the active list on the root; their modules reach /run/modprobe.d
 * through it before the real root's udev runs. The state record is not
 * written again: the init phase already blocked every component's modules
 * for the initramfs (boot_phase_init()). With no last good inventory: the
 * recency pick when there was no panic log at all (rs->evidence empty),
 * else nothing (a panic log that names no component points away from
 * them all; level 2 follows if the loop goes on). A last good inventory
 * with nothing changed since picks nothing either. */
void boot_pick_by_inventory(const struct boot_opts *o, const struct component_set *set,
                            struct runstate *rs, char ***files)
{
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_strv_free_ char **ids = NULL, **lines = NULL;
	int r;

	r = inventory_load(o->root, &lg);
	if (r < 0 && strv_length(rs->evidence) == 0) {
		if (r != -ENOENT)
			log_warning("last-good inventory unusable (%s): treated as none",
			            strerror(-r));
		(void)boot_pick_by_recency(o, set, rs);
		return;
	}
	if (r < 0) {
		/* a panic log that names no component points away from them
		 * all: no recency pick (suspects.h) */
		log_warning("the panic log names no configured component and there is no "
		            "last-good inventory (%s): nothing to pick at level 1",
		            r == -ENOENT ? "never blessed" : strerror(-r));
		return;
	}
	if (inventory_take(o->root, set, lg, &now) < 0 || inventory_diff(lg, now, &d) < 0 ||
	    inventory_diff_suspects(d, &ids) < 0)
		return;
	(void)inventory_diff_lines(d, 20, &lines);
	STRV_FOREACH (l, lines)
		(void)strv_extend(&rs->evidence, *l);

	STRV_FOREACH (id, ids) {
		const struct component *c = components_find(set, *id);
		const struct inventory_component_diff *cd = inventory_diff_find(d, *id);
		struct rollback_result rr = {0};

		if (!c)
			continue;
		(void)content_cache_rollback(o->root, c, lg, now, &rr);
		if (rr.restored + rr.already > 0) {
			_cleanup_free_ char *l = NULL;

			log_notice("%s: %u content file(s) rolled back to their last-good copy",
			           *id, rr.restored + rr.already);
			if (asprintf(&l,
			             "%s: %u content file(s) rolled back to their last-good copy",
			             *id, rr.restored + rr.already) >= 0)
				(void)strv_extend(files, l);
		}
		if (rr.uncovered == 0 && rr.errors == 0 && cd && cd->n_non_content == 0) {
			rollback_result_done(&rr);
			continue;
		}
		rollback_result_done(&rr);
		(void)strv_extend(&rs->quarantine, *id);
	}
	free(rs->reason);
	rs->reason = NULL;
	{
		_cleanup_free_ char *q = strv_join(rs->quarantine, " "),
		                    *changed = strv_join(ids, " ");

		/* the repeat-crash fast path's sentence stays in front: it is why
		 * this boot escalated before the threshold */
		if (asprintf(
		        &rs->reason,
		        "%s%s%sno panic log named a component; changed since the last good boot: "
		        "%s; quarantined: %s",
		        rs->trigger_reason ? "repeat crash: " : "", strempty(rs->trigger_reason),
		        rs->trigger_reason ? "; " : "", changed && *changed ? changed : "nothing",
		        q && *q ? q : "nothing (changed content rolled back)") < 0)
			rs->reason = NULL;
	}
}

/* Level 3 on the root: the out-of-tree module files join the quarantine
 * as SUSPECTS_OOT_ID, and their names join the module list. */
void boot_pick_out_of_tree(const struct boot_opts *o, struct runstate *rs)
{
	_cleanup_strv_free_ char **files = NULL;
	_cleanup_free_ char *kver = boot_kernel_release(o);
	struct component c;

	if (suspects_oot_component(kver, &c) < 0)
		return;
	if (component_expand_files(&c, o->root, false, &files) >= 0)
		(void)suspects_module_names_from_files(files, &rs->extra_modules);
	component_done(&c);
	if (!strv_contains(rs->quarantine, SUSPECTS_OOT_ID))
		(void)strv_extend(&rs->quarantine, SUSPECTS_OOT_ID);
}

/* Whether this boot must finish the decision of an earlier escalating
 * boot whose rootfs phase never made it durable: a power cut after the
 * init phase wrote the state record, a read-only root, a crash in
 * between. The decision travels to the rootfs phase only through /run;
 * what survives is the record (level, generation, the modules it blocks)
 * and the root's "decided" generation below the record's, with no active
 * entry of that generation (which would mean the lists are written and
 * only "decided" is missing). Safe mode only: after give-up nothing more
 * is changed, and a cleared record is at level 0. */
bool boot_decision_lost(const struct runstate *rs, const struct quarantine_entry *active,
                        unsigned n_active, bool lists_ok, const char *root)
{
	unsigned decided = 0;

	if (!lists_ok || rs->level < 1 || rs->generation == 0 ||
	    rs->mode_kind != RUNSTATE_MODE_SAFE || rs->action_kind == RUNSTATE_ACTION_ESCALATE ||
	    rs->action_kind == RUNSTATE_ACTION_GIVE_UP)
		return false;
	if (quarantine_decided_read(root, &decided) < 0 || decided >= rs->generation)
		return false;
	for (unsigned i = 0; i < n_active; i++)
		if (active[i].generation == rs->generation)
			return false;
	return true;
}

/* Whether one of c's modules, name or pattern, matches a name in l. */
static bool component_has_module_in(const struct component *c, char **l)
{
	STRV_FOREACH (m, c->modules)
		STRV_FOREACH (n, l)
			if (module_name_match(*m, *n))
				return true;
	return false;
}

/* The lost decision again, from what the record kept: the components
 * whose modules it blocks (level 1 with a panic-log suspect), every
 * component (level 2 and up), and at level 3 the out-of-tree pseudo
 * component and the modules no component owns. Level 1 whose record
 * blocks none, or the modules of more than one component, was the
 * inventory pick (boot_phase_init() blocks every component's modules
 * then; a panic pick names one component): it is made again here, as
 * the escalating boot would have. */
void boot_rebuild_decision(const struct boot_opts *o, const struct component_set *set,
                           struct runstate *rs, char ***files)
{
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_free_ char *why = NULL;
	unsigned with_modules = 0;

	strv_free(rs->quarantine);
	rs->quarantine = NULL;
	STRV_FOREACH (m, rs->blocked) {
		const struct component *c = components_find_module(set, *m);

		if (c && !strv_contains(ids, c->id))
			(void)strv_extend(&ids, c->id);
		else if (!c && rs->level >= 3 && !strv_contains(rs->extra_modules, *m))
			(void)strv_extend(&rs->extra_modules, *m);
	}
	/* the components with a module in the record, by the same match
	 * as components_find_module() (a `badsec*` pattern counts, resolved
	 * to names by the initramfs's module index when it was written): the
	 * root's own index is not needed */
	for (size_t i = 0; i < set->n; i++)
		if (component_has_module_in(&set->items[i], rs->blocked))
			with_modules++;

	if (rs->level >= 2)
		boot_all_component_ids(set, &rs->quarantine);
	else if (strv_length(ids) == 0 || (with_modules > 1 && strv_length(ids) == with_modules))
		boot_pick_by_inventory(o, set, rs, files);
	else
		rs->quarantine = TAKE_PTR(ids);
	if (rs->level >= 3)
		boot_pick_out_of_tree(o, rs);

	if (asprintf(
	        &why,
	        "the level-%u decision of an earlier boot (generation %u) never reached the root "
	        "(power cut, read-only root or crash before its rootfs phase): finished now%s%s",
	        rs->level, rs->generation, rs->reason ? "; " : "", strempty(rs->reason)) >= 0) {
		free(rs->reason);
		rs->reason = TAKE_PTR(why);
	}
}
