/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The survived step (boot.h boot_phase_survived()): a boot that stayed up
 * stable_after seconds is not part of a boot loop. And the shutdown step
 * (survived.h): a survival whose write was lost, and a clean shutdown
 * with count_clean_reboots = no, recorded at shutdown.
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
#include "agent/boot/survived.h"
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

/* A file of /run/lifeline: under o->run_dir when given, else o->root. */
static char *run_path(const struct boot_opts *o, const char *abs)
{
	return o->run_dir ? path_join(o->run_dir, strrchr(abs, '/') + 1)
	                  : path_under_root(o->root, abs);
}

static void write_marker(const struct boot_opts *o, const char *abs, unsigned boot_seq)
{
	_cleanup_free_ char *p = run_path(o, abs), *dir = NULL;
	char line[64];
	int n;

	if (!p)
		return;
	dir = strdup(p);
	if (dir && strrchr(dir, '/'))
		*strrchr(dir, '/') = 0;
	n = snprintf(line, sizeof(line), "boot_seq=%u\n", boot_seq);
	if ((dir && mkdir_p(dir, 0755) < 0) || write_file_atomic(p, line, (size_t)n, 0644) < 0)
		log_warning("Failed to write %s", p);
}

static void remove_marker(const struct boot_opts *o, const char *abs)
{
	_cleanup_free_ char *p = run_path(o, abs);

	if (p && unlink(p) < 0 && errno != ENOENT)
		log_warning_errno(-errno, "Failed to remove %s: %m", p);
}

static bool marker_exists(const struct boot_opts *o, const char *abs)
{
	_cleanup_free_ char *p = run_path(o, abs);

	return p && access(p, F_OK) == 0;
}

/* Worth another try: not a record that is absent or does not decode
 * (that stays so; the next boot replaces it). */
static bool transient(int r)
{
	return r != -ENOENT && r != STATE_E_MAGIC && r != STATE_E_VERSION && r != STATE_E_SIZE &&
	       r != STATE_E_CHECKSUM && r != STATE_E_FIELD && r != -EBADE;
}

static int update_once(const struct lifeline_config *cfg, unsigned what, unsigned *ret_before,
                       struct state_record *ret_rec)
{
	struct store *store = NULL;
	struct state_record rec;
	bool changed = false;
	int r;

	r = config_open_store(cfg, &store, NULL);
	if (r < 0)
		return r;
	r = store_load(store, &rec);
	if (r >= 0) {
		*ret_before = rec.failures;
		if (what & SURVIVED_RESET_FAILURES)
			changed = decide_survived(&rec);
		if ((what & SURVIVED_MARK_CLEAN) && !(rec.flags & STATE_FLAG_CLEAN_SHUTDOWN)) {
			rec.flags |= STATE_FLAG_CLEAN_SHUTDOWN;
			changed = true;
		}
		if (changed)
			r = store_save(store, &rec);
		if (r >= 0)
			*ret_rec = rec;
	}
	store_free(store);
	return r < 0 ? r : 0;
}

int survived_record_update(const struct lifeline_config *cfg, unsigned what,
                           const struct survived_retry *retry, unsigned *ret_before,
                           struct state_record *ret_rec)
{
	struct state_record rec;
	unsigned before = 0, tries = retry && retry->tries ? retry->tries : 1;
	uint64_t delay_ms = retry ? retry->first_delay_ms : 0;
	int r = 0;

	for (unsigned i = 0; i < tries; i++) {
		if (i > 0) {
			struct timespec ts = {.tv_sec = (time_t)(delay_ms / 1000),
			                      .tv_nsec = (long)(delay_ms % 1000) * 1000000L};

			log_warning_errno(r,
			                  "Failed to update the state record (try %u of %u), "
			                  "again in %llu ms: %m",
			                  i, tries, (unsigned long long)delay_ms);
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			delay_ms *= 2;
		}
		/* loaded afresh each time: what another writer (a clear, a
		 * blessing) wrote meanwhile stays */
		r = update_once(cfg, what, &before, &rec);
		if (r >= 0 || !transient(r))
			break;
	}
	if (r < 0)
		return r;
	if (ret_before)
		*ret_before = before;
	if (ret_rec)
		*ret_rec = rec;
	return 0;
}

int boot_phase_survived_retry(const struct boot_opts *o, const struct survived_retry *retry)
{
	const char *config_root = o->config_root ? o->config_root : o->root;
	struct lifeline_config cfg;
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

	/* The watchdog goes back to the administrator's setting first, never
	 * left waiting for the record (nor for its retries). */
	(void)boot_watchdog_hand_back(o->root, o->real_system);

	/* Should this step fail or be killed from here on, the shutdown step
	 * still knows that the boot survived. */
	write_marker(o, SURVIVED_PENDING_FILE, 0);
	r = survived_record_update(&cfg, SURVIVED_RESET_FAILURES, retry, &before, &rec);
	if (r == -ENOENT || (r < 0 && !transient(r))) {
		log_error("state record unusable (%s): the next boot replaces it",
		          r == -ENOENT ? "none yet" : state_record_strerror(r));
		remove_marker(o, SURVIVED_PENDING_FILE);
	} else if (r < 0)
		log_error_errno(
		    r, "Failed to write the state record: the failure count stays as it is "
		       "for now; tried again at shutdown and by a blessing: %m");
	else {
		log_info("boot %u survived %u s: failure count %u -> 0", rec.boot_seq,
		         cfg.stable_after, before);
		write_marker(o, RUNSTATE_SURVIVED_FILE, rec.boot_seq);
		remove_marker(o, SURVIVED_PENDING_FILE);
		/* a run of failed boots ended: worth a line in the history */
		if (before > 1 &&
		    history_record(o->root, HISTORY_WHO_BOOT, "survived", &rec,
		                   "up stable_after seconds: the run of failed boots is over") < 0)
			log_warning("Failed to record the survival in the history");
	}
	config_done(&cfg);
	return 0;
}

int boot_phase_survived(const struct boot_opts *o)
{
	struct survived_retry retry = SURVIVED_RETRY_STEP;

	return boot_phase_survived_retry(o, &retry);
}

int boot_phase_shutdown(const struct boot_opts *o, bool clean, const struct survived_retry *retry)
{
	const char *config_root = o->config_root ? o->config_root : o->root;
	struct lifeline_config cfg;
	struct state_record rec;
	unsigned what = 0, before = 0;
	int r = 0;

	config_init_defaults(&cfg);
	if (config_load(config_root, &cfg) < 0)
		log_warning("configuration has errors; using defaults for the bad keys");
	if (marker_exists(o, SURVIVED_PENDING_FILE))
		what |= SURVIVED_RESET_FAILURES;
	if (clean && !cfg.count_clean_reboots)
		what |= SURVIVED_MARK_CLEAN;
	if (what)
		r = survived_record_update(&cfg, what, retry, &before, &rec);
	if (r < 0)
		log_error_errno(r, "Failed to update the state record at shutdown: %m");
	else if (what) {
		if (what & SURVIVED_RESET_FAILURES) {
			log_info("boot %u survived (recorded at shutdown): failure count %u -> 0",
			         rec.boot_seq, before);
			write_marker(o, RUNSTATE_SURVIVED_FILE, rec.boot_seq);
			remove_marker(o, SURVIVED_PENDING_FILE);
		}
		if (what & SURVIVED_MARK_CLEAN)
			log_info("clean shutdown recorded");
	}
	config_done(&cfg);
	return r;
}
