/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifeline-generator — a systemd generator (systemd.generator(7)).
 *
 * Runs first thing in systemd, before any unit. While a quarantine is
 * active it masks the quarantined components' units in the generator's
 * "early" directory (argv[2], which overrides /etc: nothing in /etc
 * changes). Safe mode at levels 1 and 2 is the machine's normal target
 * minus those units (every other component and first-party service keeps
 * running); at level 3 and after give-up it points default.target at the
 * minimal lifeline-safe.target (as systemd-system-update-generator
 * redirects the boot), with the configured keep_units wanted by it. It
 * also leaves a console (/run/issue.d) and login (/run/motd.d) banner.
 *
 * In every boot lifeline-early counted (/run/lifeline/state exists) it
 * writes lifeline-survived.timer ([boot] stable_after seconds after
 * sysinit.target) and wants it from timers.target: the step that ends the failure count when
 * the boot stays up (lifeline-survived.service), independent of lifelined.
 *
 * LIFELINE_ROOT (tests only) reads config and state under another root.
 * A generator must not fail the boot: it always exits 0 after logging.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/decision/runstate.h"
#include "agent/crash/suspects.h"
#include "agent/generator/unit-sandbox.h"

static const char *root = "/";

static int symlink_in(const char *dir, const char *name, const char *target)
{
	_cleanup_free_ char *p = path_join(dir, name), *parent = NULL;

	if (!p)
		return -ENOMEM;
	parent = strdup(p);
	if (!parent)
		return -ENOMEM;
	*strrchr(parent, '/') = 0;
	(void)mkdir_p(parent, 0755);
	if (symlink(target, p) < 0 && errno != EEXIST)
		return log_warning_errno(errno, "Failed to create %s: %m", p);
	return 0;
}

/* TARGET.wants/UNIT in dir. A .wants entry is taken by its name: the unit
 * may live in any unit directory, so the link points at UNITDIR. Returns
 * what symlink_in() does, or -ENOMEM. */
static int want_in(const char *dir, const char *target, const char *unit)
{
	_cleanup_free_ char *link = NULL, *dest = NULL;

	if (asprintf(&link, "%s.wants/%s", target, unit) < 0 ||
	    asprintf(&dest, LIFELINE_UNITDIR "/%s", unit) < 0)
		return -ENOMEM;
	return symlink_in(dir, link, dest);
}

static void write_run_file(const char *dir, const char *name, const char *text, size_t size)
{
	_cleanup_free_ char *d = path_under_root(root, dir), *p = NULL;

	if (!d || mkdir_p(d, 0755) < 0)
		return;
	p = path_join(d, name);
	if (p && write_file_atomic(p, text, size, 0644) < 0)
		log_warning("Failed to write %s", p);
}

/* lifeline-survived.timer into the normal directory (argv[1]): its
 * OnActiveSec= comes from the configuration, so it is generated rather than
 * shipped. It starts once sysinit.target is reached, so stable_after counts
 * from there: a slow early boot does not use the window up, and the
 * services that start after sysinit (most security agents load their
 * kernel modules from such a service) are inside it; a module that freezes
 * the machine then is still reset and counted. timers.target is part of
 * basic.target; emergency.target and rescue.target do not pull it in and
 * conflict with the timer. */
static void write_survived_timer(const char *dir, unsigned stable_after)
{
	_cleanup_free_ char *p = path_join(dir, "lifeline-survived.timer"), *text = NULL;
	int n;

	if (!p)
		return;
	n = asprintf(&text,
	             "# Written by lifeline-generator from [boot] stable_after.\n"
	             "[Unit]\n"
	             "Description=lifeline: the boot has been up stable_after seconds since "
	             "sysinit\n"
	             "Documentation=man:lifelinectl(8)\n"
	             "DefaultDependencies=no\n"
	             "Conflicts=emergency.target rescue.target shutdown.target\n"
	             "After=sysinit.target\n"
	             "Before=timers.target shutdown.target\n"
	             "\n"
	             "[Timer]\n"
	             "OnActiveSec=%us\n"
	             "AccuracySec=1s\n"
	             "Unit=lifeline-survived.service\n",
	             stable_after);
	if (n < 0)
		return;
	if (write_file_atomic(p, text, (size_t)n, 0644) < 0) {
		log_warning("Failed to write %s", p);
		return;
	}
	(void)symlink_in(dir, "timers.target.wants/lifeline-survived.timer", p);
}

/* The durable list when /var/lib/lifeline is there; else (a separate /var,
 * not mounted yet when generators run) the copy the rootfs phase left in
 * /run. */
static int read_active(struct quarantine_entry **ret, unsigned *ret_n)
{
	_cleanup_free_ char *dir = path_under_root(root, LIFELINE_STATE_DIR),
	                    *copy = path_under_root(root, RUNSTATE_ACTIVE_FILE);

	if (!dir || !copy)
		return -ENOMEM;
	if (access(dir, F_OK) < 0 && access(copy, F_OK) == 0)
		return quarantine_active_read_path(copy, ret, ret_n);
	return quarantine_active_read(root, ret, ret_n);
}

static void write_banner(const struct runstate *rs, char *const *quarantined, char *const *degraded)
{
	_cleanup_strv_free_ char **whole = NULL;
	_cleanup_free_ char *text = NULL, *q = NULL, *d = strv_join(degraded, ", ");
	int n;

	for (char *const *id = quarantined; id && *id; id++)
		if (!strv_contains(degraded, *id))
			(void)strv_extend(&whole, *id);
	q = strv_join(whole, ", ");
	n = asprintf(&text,
	             "\n*** lifeline SAFE MODE ***\n"
	             "This machine crash-looped (%u failed boots) and lifeline quarantined: %s\n"
	             "%s%s%s"
	             "Reason: %s\n"
	             "Status: lifelinectl status   Undo: lifelinectl clear  (then reboot)\n\n",
	             rs->failures, q && *q ? q : "(nothing)",
	             d && *d ? "Degraded (kernel part off, running in user mode): " : "",
	             d && *d ? d : "", d && *d ? "\n" : "",
	             rs->reason ? rs->reason : "see lifelinectl status");
	if (n < 0)
		return;
	/* agetty shows the .issue files in /run/issue.d; pam_motd shows /run/motd.d. */
	write_run_file("/run/issue.d", "50-lifeline.issue", text, (size_t)n);
	write_run_file("/run/motd.d", "50-lifeline", text, (size_t)n);
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *state_path = NULL;
	_cleanup_free_ struct quarantine_entry *active = NULL;
	_cleanup_strv_free_ char **quarantined = NULL, **degraded = NULL;
	struct lifeline_config cfg;
	struct component_set set = {0};
	struct runstate rs;
	unsigned n_active = 0, problems = 0;
	const char *early;
	bool safe, minimal, counted;
	int r;

	log_set_prefix("lifeline-generator: ");
	if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("Usage: lifeline-generator NORMAL-DIR [EARLY-DIR LATE-DIR]\n"
		       "\n"
		       "The systemd generator of lifeline (systemd.generator(7)); systemd runs it\n"
		       "at boot and at every daemon-reload. Writes lifelined's sandbox drop-in;\n"
		       "while a quarantine is active masks the quarantined units and, in safe\n"
		       "mode, points default.target at lifeline-safe.target. See\n"
		       "lifeline-generator(8).\n");
		return 0;
	}
	if (argc != 2 && argc != 4) {
		log_error("expects 1 or 3 directory arguments (systemd.generator(7))");
		return 0;
	}
	/* systemd passes absolute paths: anything else (an option, a typo) is
	 * a person at a shell, and must not become a directory. */
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '/') {
			log_error(
			    "'%s' is not an absolute directory; try 'lifeline-generator --help'",
			    argv[i]);
			return 2;
		}
	early = argc == 4 ? argv[2] : argv[1];
	if (getenv("LIFELINE_ROOT"))
		root = getenv("LIFELINE_ROOT");

	runstate_init(&rs);
	state_path = path_under_root(root, RUNSTATE_FILE);
	counted = state_path && runstate_read(state_path, &rs) >= 0;
	if (!counted)
		runstate_init(&rs);

	r = read_active(&active, &n_active);
	if (r < 0)
		log_warning_errno(r, "Failed to read the active quarantine: %m");
	for (unsigned i = 0; i < n_active; i++) {
		(void)strv_extend(&quarantined, active[i].id);
		if (active[i].degraded)
			(void)strv_extend(&degraded, active[i].id);
	}
	STRV_FOREACH (id, rs.quarantine)
		if (!strv_contains(quarantined, *id))
			(void)strv_extend(&quarantined, *id);

	/* Every boot: the directories lifelined (ProtectSystem=strict) may
	 * write, from the configured components (unit-sandbox.h). */
	r = unit_sandbox_write(root, argv[1]);
	if (r < 0)
		log_warning_errno(r, "Failed to write lifelined's %s: %m", UNIT_SANDBOX_DROPIN);

	config_init_defaults(&cfg);
	(void)config_load(root, &cfg);
	if (counted) {
		write_survived_timer(argv[1], cfg.stable_after);
		/* shipped, started at every counted boot: does its work when
		 * stopped at shutdown (a survival not yet written, a clean
		 * shutdown with count_clean_reboots = no); a .wants entry is
		 * taken by its name */
		(void)symlink_in(argv[1], "sysinit.target.wants/lifeline-shutdown.service",
		                 LIFELINE_UNITDIR "/lifeline-shutdown.service");
	}

	safe = rs.mode_kind == RUNSTATE_MODE_SAFE || rs.mode_kind == RUNSTATE_MODE_GIVEN_UP;
	/* the minimal target only at level 3 (and a give-up there); a machine
	 * that gave up below, under max_level 1 or 2, keeps its normal target
	 * minus what is quarantined: the administrator capped what lifeline
	 * may do, and the minimal target would stop every workload */
	minimal = safe && rs.level >= 3;
	if (!safe && strv_length(quarantined) == 0)
		goto out;

	(void)components_load(root, &set, &problems);

	/* Mask every unit of every quarantined component; of a degraded one
	 * (docs/degrade.md) only its kernel_units, and start its
	 * degrade_units with the normal target. */
	STRV_FOREACH (id, quarantined) {
		const struct component *c = components_find(&set, *id);

		if (!c) {
			/* level 3's module files: a pseudo component, no units */
			if (!streq(*id, SUSPECTS_OOT_ID))
				log_warning("quarantined component %s is no longer configured",
				            *id);
			continue;
		}
		if (strv_contains(degraded, *id)) {
			STRV_FOREACH (u, c->kernel_units)
				if (symlink_in(early, *u, "/dev/null") >= 0)
					log_info("masked %s (component %s degraded)", *u, *id);
			STRV_FOREACH (u, c->degrade_units)
				if (want_in(early, "multi-user.target", *u) >= 0)
					log_info("started %s with the normal target (component %s "
					         "degraded)",
					         *u, *id);
			continue;
		}
		STRV_FOREACH (u, c->units)
			if (symlink_in(early, *u, "/dev/null") >= 0)
				log_info("masked %s (component %s quarantined)", *u, *id);
	}

	if (minimal) {
		(void)symlink_in(early, "default.target", LIFELINE_UNITDIR "/lifeline-safe.target");
		STRV_FOREACH (u, cfg.keep_units)
			(void)want_in(early, "lifeline-safe.target", *u);
	}
	if (safe)
		write_banner(&rs, quarantined, degraded);
	components_done(&set);
out:
	config_done(&cfg);
	runstate_done(&rs);
	return 0;
}
