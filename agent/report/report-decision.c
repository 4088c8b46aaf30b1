/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The report of a quarantine decision, spooled before the quarantine takes
 * effect (issue 5, crash-loop-as-attack guard): lifeline-early's rootfs
 * phase writes it into <root>/var/lib/lifeline/spool, so that whatever the
 * quarantine then moves away, the collector hears first what was decided
 * and why, as soon as lifelined (or `lifelinectl report`) finds a network.
 *
 * This file runs in the initramfs: it must not pull libcurl or json-c into
 * lifeline-early (spool.c has both). So it writes the JSON itself and
 * follows spool.h's file naming and bound by hand.
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
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/config.h"
#include "agent/conf/machine-id.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"

#define DECISION_TIME_DIGITS 16
#define DECISION_ID_DIGITS   32
#define DECISION_NAME_LEN    (DECISION_TIME_DIGITS + 1 + DECISION_ID_DIGITS + 5)

/* A JSON string: quotes, backslash and control characters escaped, bytes
 * that are not UTF-8 (pstore lines may hold anything) as U+FFFD. */
static void put_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*p) {
		unsigned n = *p < 0x80             ? 0
		             : (*p & 0xe0) == 0xc0 ? 1
		             : (*p & 0xf0) == 0xe0 ? 2
		             : (*p & 0xf8) == 0xf0 ? 3
		                                   : 4;
		bool ok = n < 4 && !(n == 1 && *p < 0xc2);

		for (unsigned i = 1; ok && i <= n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (!ok) {
			fputs("\\ufffd", f);
			p++;
		} else if (n > 0) {
			fwrite(p, 1, n + 1, f);
			p += n + 1;
		} else {
			if (*p == '"' || *p == '\\')
				fprintf(f, "\\%c", *p);
			else if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
			p++;
		}
	}
	fputc('"', f);
}

static void put_strv(FILE *f, char *const *l)
{
	fputc('[', f);
	for (char *const *s = l; s && *s; s++) {
		if (s != l)
			fputc(',', f);
		put_string(f, *s);
	}
	fputc(']', f);
}

static void put_key(FILE *f, const char *key)
{
	fprintf(f, ",\"%s\":", key);
}

/* The first line of <root>/etc/<name>, or NULL. */
static char *etc_line(const char *root, const char *rel)
{
	_cleanup_free_ char *p = path_under_root(root, rel);
	char *t = NULL;

	if (!p || read_full_file(p, 4096, &t, NULL) < 0)
		return NULL;
	t[strcspn(t, "\n")] = 0;
	if (!*t) {
		free(t);
		return NULL;
	}
	return t;
}

int report_decision_format(const char *root, const struct runstate *rs, const char *id, int64_t now,
                           char **ret, size_t *ret_size)
{
	_cleanup_free_ char *host = etc_line(root, "/etc/hostname");
	char mid[33];
	bool have_mid = machine_id_read(root, mid) >= 0;
	char *buf = NULL;
	size_t size = 0;
	struct utsname u;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "{\"version\":%d,\"id\":", REPORT_FORMAT_VERSION);
	put_string(f, id);
	fprintf(f, ",\"time\":%" PRId64 ",\"event\":\"mode-change\"", now);
	fputs(",\"machine\":{\"machine_id\":", f);
	put_string(f, have_mid ? mid : NULL);
	put_key(f, "hostname");
	put_string(f, host);
	put_key(f, "kernel");
	put_string(f, uname(&u) >= 0 ? u.release : NULL);
	put_key(f, "agent_version");
	put_string(f, LIFELINE_VERSION);
	fputc('}', f);
	/* What the state record says after this boot was counted. */
	fprintf(f, ",\"state\":{\"store\":");
	put_string(f, rs->store);
	fprintf(f, ",\"record\":true,\"boot_seq\":%u,\"failures\":%u,\"mode\":", rs->boot_seq,
	        rs->failures);
	put_string(f, rs->mode);
	fprintf(f, ",\"level\":%u,\"generation\":%u}", rs->level, rs->generation);
	fputs(",\"this_boot\":{\"mode\":", f);
	put_string(f, rs->mode);
	put_key(f, "action");
	put_string(f, rs->action);
	put_key(f, "reason");
	put_string(f, rs->reason);
	put_key(f, "evidence");
	put_strv(f, rs->evidence);
	put_key(f, "quarantine");
	put_strv(f, rs->quarantine);
	put_key(f, "error");
	put_string(f, rs->error);
	fputc('}', f);
	/* The report a collector can tell from the daemon's later ones: the
	 * quarantine was decided, its files not yet moved. */
	fputs(",\"decision\":{\"phase\":\"before-quarantine\",\"quarantine\":", f);
	put_strv(f, rs->quarantine);
	fprintf(f, ",\"level\":%u,\"generation\":%u}}\n", rs->level, rs->generation);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_size = size;
	return 0;
}

static bool is_spool_name(const char *n)
{
	if (strlen(n) != DECISION_NAME_LEN || n[DECISION_TIME_DIGITS] != '-' ||
	    strcmp(n + DECISION_NAME_LEN - 5, ".json") != 0)
		return false;
	return strspn(n, "0123456789") == DECISION_TIME_DIGITS &&
	       strspn(n + DECISION_TIME_DIGITS + 1, "0123456789abcdef") == DECISION_ID_DIGITS;
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

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Room for need bytes under max_bytes: drops the oldest heartbeats only
 * (spool.h: a report never pushes out one of a higher class, and this is
 * one of the highest). */
static int decision_make_room(const char *dir, uint64_t need, uint64_t max_bytes)
{
	_cleanup_strv_free_ char **names = NULL;
	uint64_t total = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct stat st;

		if (!is_spool_name(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		total += (uint64_t)st.st_size;
		if (strv_extend(&names, de->d_name) < 0) {
			closedir(d);
			return -ENOMEM;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(char *), cmp_names);
	for (size_t i = 0; i < n && total + need > max_bytes; i++) {
		_cleanup_free_ char *p = path_join(dir, names[i]);
		struct stat st;

		if (!p)
			return -ENOMEM;
		if (stat(p, &st) < 0 || !is_heartbeat(p))
			continue;
		if (unlink(p) == 0)
			total -= (uint64_t)st.st_size;
	}
	return total + need <= max_bytes ? 0 : -ENOSPC;
}

int report_spool_decision(const char *root, const struct lifeline_config *cfg,
                          const struct runstate *rs, char **ret_path)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	uint8_t raw[DECISION_ID_DIGITS / 2] = {0};
	char id[DECISION_ID_DIGITS + 1];
	struct timespec ts;
	size_t size = 0;
	int r;

	if (ret_path)
		*ret_path = NULL;
	if (!cfg->report_url || !*cfg->report_url)
		return 0;
	/* GRND_NONBLOCK: early in the boot the pool may not be ready; the id
	 * needs to be unique, not secret, so the clock fills in. */
	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(raw, sizeof(raw), GRND_NONBLOCK) != (ssize_t)sizeof(raw)) {
		uint64_t t = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;

		memcpy(raw, &t, sizeof(t));
		raw[8] = (uint8_t)getpid();
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	r = report_decision_format(root, rs, id, (int64_t)ts.tv_sec, &text, &size);
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
	r = decision_make_room(dir, size, cfg->report_spool_max);
	if (r < 0)
		return r;
	if (asprintf(&path, "%s/%0*llu-%s.json", dir, DECISION_TIME_DIGITS,
	             (unsigned long long)ts.tv_sec * 1000000ULL +
	                 (unsigned long long)ts.tv_nsec / 1000ULL,
	             id) < 0)
		return -ENOMEM;
	/* temp + fsync + rename + fsync(dir): on disk before any file moves */
	r = write_file_atomic(path, text, size, 0600);
	if (r < 0)
		return r;
	if (ret_path)
		*ret_path = TAKE_PTR(path);
	return 1;
}
