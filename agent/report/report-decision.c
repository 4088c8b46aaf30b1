/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The report of a quarantine decision, spooled before the quarantine takes
 * effect (the crash-loop-as-attack guard, docs/attack-guard.md): lifeline-early's rootfs
 * phase writes it into <root>/var/lib/lifeline/spool, so that whatever the
 * quarantine then moves away, the collector hears first what was decided
 * and why, as soon as lifelined (or `lifelinectl report`) finds a network.
 *
 * This file runs in the initramfs: it must not pull libcurl or json-c into
 * lifeline-early (spool.c has both). So it writes the JSON with
 * common/json-writer and names the file with spool-name.c; the decision
 * drops only heartbeats to fit [report] spool_max.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json-writer.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/config.h"
#include "agent/conf/machine-id.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"

static void put_key_string(struct json_writer *w, const char *key, const char *s)
{
	json_writer_key(w, key);
	json_writer_string(w, s);
}

static void put_key_uint(struct json_writer *w, const char *key, uint64_t v)
{
	json_writer_key(w, key);
	json_writer_uint(w, v);
}

static void put_key_strv(struct json_writer *w, const char *key, char *const *l)
{
	json_writer_key(w, key);
	json_writer_strv(w, l, 0, 0);
}

int report_decision_format(const char *root, const struct runstate *rs, const char *id, int64_t now,
                           char **ret, size_t *ret_size)
{
	_cleanup_free_ char *host = report_hostname(root);
	char mid[33];
	bool have_mid = machine_id_read(root, mid) >= 0;
	struct json_writer w;
	char *buf = NULL;
	size_t size = 0;
	struct utsname u;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	json_writer_init(&w, f);
	json_writer_object_begin(&w);
	put_key_uint(&w, "version", REPORT_FORMAT_VERSION);
	put_key_string(&w, "id", id);
	json_writer_key(&w, "time");
	json_writer_int(&w, now);
	put_key_string(&w, "event", "mode-change");
	json_writer_key(&w, "machine");
	json_writer_object_begin(&w);
	put_key_string(&w, "machine_id", have_mid ? mid : NULL);
	put_key_string(&w, "hostname", host);
	put_key_string(&w, "kernel", uname(&u) >= 0 ? u.release : NULL);
	put_key_string(&w, "agent_version", LIFELINE_VERSION);
	json_writer_object_end(&w);
	/* What the state record says after this boot was counted. */
	json_writer_key(&w, "state");
	json_writer_object_begin(&w);
	put_key_string(&w, "store", rs->store);
	json_writer_key(&w, "record");
	json_writer_bool(&w, true);
	put_key_uint(&w, "boot_seq", rs->boot_seq);
	put_key_uint(&w, "failures", rs->failures);
	put_key_string(&w, "mode", rs->mode);
	put_key_uint(&w, "level", rs->level);
	put_key_uint(&w, "generation", rs->generation);
	json_writer_object_end(&w);
	json_writer_key(&w, "this_boot");
	json_writer_object_begin(&w);
	put_key_string(&w, "mode", rs->mode);
	put_key_string(&w, "action", rs->action);
	put_key_string(&w, "reason", rs->reason);
	put_key_strv(&w, "evidence", rs->evidence);
	put_key_strv(&w, "quarantine", rs->quarantine);
	put_key_string(&w, "error", rs->error);
	json_writer_object_end(&w);
	/* The report a collector can tell from the daemon's later ones: the
	 * quarantine was decided, its files not yet moved. */
	json_writer_key(&w, "decision");
	json_writer_object_begin(&w);
	put_key_string(&w, "phase", "before-quarantine");
	put_key_strv(&w, "quarantine", rs->quarantine);
	/* of those, the ones to be degraded rather than quarantined */
	if (rs->degrade)
		put_key_strv(&w, "degrade", rs->degrade);
	put_key_uint(&w, "level", rs->level);
	put_key_uint(&w, "generation", rs->generation);
	/* why now: the failure count, or the repeat-crash fast path with
	 * its own sentence (the reason above may be the root's later pick) */
	if (rs->trigger)
		put_key_string(&w, "trigger", rs->trigger);
	if (rs->trigger_reason)
		put_key_string(&w, "trigger_reason", rs->trigger_reason);
	json_writer_object_end(&w);
	json_writer_object_end(&w);
	fputc('\n', f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_size = size;
	return 0;
}

/* A heartbeat as spool_add() writes it (json-c, plain): the exact bytes
 * "event":"heartbeat" only occur as that key, never inside a string
 * (where the quotes would be escaped). */
static bool is_heartbeat(const char *path)
{
	_cleanup_free_ char *t = NULL;

	return read_full_file(path, SPOOL_FILE_MAX, &t, NULL) >= 0 &&
	       strstr(t, "\"event\":\"heartbeat\"");
}

/* Room for need bytes under max_bytes: drops the oldest heartbeats only
 * (spool.h: a report never pushes out one of a higher class, and this is
 * one of the highest). names: the spool, oldest first. */
static int decision_make_room(const char *dir, char **names, uint64_t need, uint64_t max_bytes)
{
	uint64_t total = 0;

	STRV_FOREACH (n, names) {
		_cleanup_free_ char *p = path_join(dir, *n);
		struct stat st;

		if (!p)
			return -ENOMEM;
		if (lstat(p, &st) >= 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	STRV_FOREACH (n, names) {
		_cleanup_free_ char *p = NULL;
		struct stat st;

		if (total + need <= max_bytes)
			break;
		p = path_join(dir, *n);
		if (!p)
			return -ENOMEM;
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode) || !is_heartbeat(p))
			continue;
		if (unlink(p) == 0)
			total -= (uint64_t)st.st_size;
	}
	return total + need <= max_bytes ? 0 : -ENOSPC;
}

int report_spool_decision(const char *root, const struct lifeline_config *cfg,
                          const struct runstate *rs, char **ret_path)
{
	_cleanup_free_ char *dir = NULL, *text = NULL;
	_cleanup_strv_free_ char **names = NULL;
	char id[SPOOL_ID_DIGITS + 1];
	size_t size = 0;
	int r;

	if (ret_path)
		*ret_path = NULL;
	if (!cfg->report_url || !*cfg->report_url)
		return 0;
	/* the id needs to be unique, not secret: early in the boot, when the
	 * entropy pool is not ready, spool_random_bytes() fills in */
	spool_id_new(id);
	r = report_decision_format(root, rs, id, (int64_t)time(NULL), &text, &size);
	if (r < 0)
		return r;
	if ((uint64_t)size > cfg->report_spool_max)
		return -EFBIG;
	dir = path_under_root(root, SPOOL_DIR);
	if (!dir)
		return -ENOMEM;
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	r = spool_list(root, &names);
	if (r < 0)
		return r;
	r = decision_make_room(dir, names, size, cfg->report_spool_max);
	if (r < 0)
		return r;
	/* spool.h's naming, with its "never below the newest name" rule: in
	 * the initramfs the clock is most often wrong */
	r = spool_write(root, names, id, text, size, ret_path);
	return r < 0 ? r : 1;
}
