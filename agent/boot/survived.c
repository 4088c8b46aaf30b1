/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The survived step (boot.h boot_phase_survived()): a boot that stayed up
 * stable_after seconds is not part of a boot loop.
 *
 * Why a unit of its own and not lifelined: the mark must not depend on the
 * daemon's health, its libraries (libcurl, json-c) or its verdict. A
 * degraded system, a failing check.d script or a lifelined that cannot
 * start all still end the count by staying up. Health only decides
 * whether lifelined also blesses the boot as the new last good.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/boot/boot.h"
#include "agent/boot/watchdog.h"
#include "agent/conf/config.h"
#include "agent/decision/decide.h"
#include "agent/decision/history.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "efi/store.h"

static double uptime_seconds(void)
{
	_cleanup_free_ char *text = NULL;

	if (read_full_file("/proc/uptime", 256, &text, NULL) < 0)
		return -1;
	return strtod(text, NULL);
}

static void write_marker(const struct boot_opts *o, unsigned boot_seq)
{
	_cleanup_free_ char *p = NULL;
	char line[64];
	int n;

	p = o->run_dir ? path_join(o->run_dir, "survived")
	               : path_under_root(o->root, RUNSTATE_SURVIVED_FILE);
	if (!p)
		return;
	n = snprintf(line, sizeof(line), "boot_seq=%u\n", boot_seq);
	if (write_file_atomic(p, line, (size_t)n, 0644) < 0)
		log_warning("Failed to write %s", p);
}

int boot_phase_survived(const struct boot_opts *o)
{
	const char *config_root = o->config_root ? o->config_root : o->root;
	struct lifeline_config cfg;
	struct store *store = NULL;
	struct state_record rec;
	unsigned before = 0;
	double up;
	int r;

	config_init_defaults(&cfg);
	if (config_load(config_root, &cfg) < 0)
		log_warning("configuration has errors; using defaults for the bad keys");
	/* the timer fires at stable_after; a manual run before it is no proof */
	if (o->real_system && (up = uptime_seconds()) >= 0 && up + 1 < cfg.stable_after) {
		log_warning("up %.0f s of the %u s a boot must stay up: not survived yet", up,
		            cfg.stable_after);
		config_done(&cfg);
		return 0;
	}

	r = config_open_store(&cfg, &store, NULL);
	if (r < 0)
		log_error_errno(r, "No state store: the survival of this boot is not recorded: %m");
	else if ((r = store_load(store, &rec)) < 0)
		log_error("state record unusable (%s): the next boot replaces it",
		          r == -ENOENT ? "none yet" : state_record_strerror(r));
	else {
		before = rec.failures;
		if (decide_survived(&rec)) {
			r = store_save(store, &rec);
			if (r < 0)
				log_error_errno(r, "Failed to write the state record: %m");
		}
		if (r >= 0) {
			log_info("boot %u survived %u s: failure count %u -> 0", rec.boot_seq,
			         cfg.stable_after, before);
			write_marker(o, rec.boot_seq);
			/* a run of failed boots ended: worth a line in the history */
			if (before > 1 &&
			    history_record(o->root, HISTORY_WHO_BOOT, "survived", &rec,
			                   "up stable_after seconds: the run of failed boots is "
			                   "over") < 0)
				log_warning("Failed to record the survival in the history");
		}
	}
	store_free(store);

	/* Whatever happened to the record: the watchdog goes back to the
	 * administrator's setting, never left waiting for anything. */
	(void)boot_watchdog_hand_back(o->root, o->real_system);
	config_done(&cfg);
	return 0;
}
