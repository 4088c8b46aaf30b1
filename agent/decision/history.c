/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decision history's writer: entries as checksummed JSON lines,
 * appended durably, rotated at HISTORY_FILE_MAX (history.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json-writer.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/state-record.h"
#include "agent/decision/history.h"

void history_entry_done(struct history_entry *e)
{
	free(e->who);
	free(e->action);
	free(e->mode);
	free(e->reason);
	free(e->trigger);
	strv_free(e->evidence);
	strv_free(e->components);
	strv_free(e->modules);
	strv_free(e->files);
	memset(e, 0, sizeof(*e));
}

void history_done(struct history *h)
{
	for (size_t i = 0; i < h->n; i++)
		history_entry_done(&h->entries[i]);
	free(h->entries);
	memset(h, 0, sizeof(*h));
}

/* -- writing --------------------------------------------------------------- */

/* The encoder is common/json-writer, not json-c: lifeline-early appends in
 * the initramfs and stays free of the JSON library (start-up time,
 * initramfs size); history-read.c parses with json-c. Strings are cut at
 * HISTORY_STRING_MAX bytes (never inside a character) and bytes that are
 * not UTF-8 become U+FFFD (json-writer.h's rule). */
static void put_list(struct json_writer *w, const char *key, char **l, size_t max)
{
	json_writer_key(w, key);
	json_writer_strv(w, l, max, HISTORY_STRING_MAX);
}

static void put_string(struct json_writer *w, const char *key, const char *s)
{
	json_writer_key(w, key);
	json_writer_string_cut(w, s, HISTORY_STRING_MAX);
}

static char *entry_json(const struct history_entry *e, size_t max_evidence, size_t *ret_len)
{
	size_t n_ev = strv_length(e->evidence), len = 0;
	struct json_writer w;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	json_writer_init(&w, f);
	json_writer_object_begin(&w);
	json_writer_key(&w, "time");
	json_writer_uint(&w, e->time ? e->time : (uint64_t)time(NULL));
	json_writer_key(&w, "boot");
	json_writer_uint(&w, e->boot_seq);
	put_string(&w, "who", e->who ? e->who : "unknown");
	put_string(&w, "action", e->action ? e->action : "unknown");
	json_writer_key(&w, "level");
	json_writer_uint(&w, e->level);
	if (e->mode)
		put_string(&w, "mode", e->mode);
	if (e->reason)
		put_string(&w, "reason", e->reason);
	if (e->trigger)
		put_string(&w, "trigger", e->trigger);
	/* max 0 would mean "all" to the writer */
	if (max_evidence > 0)
		put_list(&w, "evidence", e->evidence, max_evidence);
	else
		put_list(&w, "evidence", NULL, 0);
	if (n_ev > max_evidence) {
		json_writer_key(&w, "evidence_cut");
		json_writer_uint(&w, n_ev - max_evidence);
	}
	put_list(&w, "components", e->components, HISTORY_LIST_MAX);
	put_list(&w, "modules", e->modules, HISTORY_LIST_MAX);
	put_list(&w, "files", e->files, HISTORY_LIST_MAX);
	json_writer_object_end(&w);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*ret_len = len;
	return buf;
}

int history_format_line(const struct history_entry *e, char **ret_line, size_t *ret_len)
{
	/* Evidence is the only part that can be long: drop its tail until
	 * the line fits (the other lists are short by nature and capped). */
	for (size_t max_ev = HISTORY_LIST_MAX;; max_ev = max_ev > 8 ? max_ev / 2 : max_ev - 1) {
		_cleanup_free_ char *js = NULL;
		size_t len;
		char *line;

		js = entry_json(e, max_ev, &len);
		if (!js)
			return -ENOMEM;
		if (len + 10 > HISTORY_ENTRY_MAX && max_ev > 0)
			continue;
		if (len + 10 > HISTORY_ENTRY_MAX)
			return -E2BIG; /* cannot happen with the string and list caps */
		if (asprintf(&line, "%08x %s\n", state_crc32(js, len), js) < 0)
			return -ENOMEM;
		*ret_line = line;
		*ret_len = len + 10;
		return 0;
	}
}

static int open_append(const char *path, bool *ret_created)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	*ret_created = false;
	if (fd < 0 && errno == ENOENT) {
		fd =
		    open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		*ret_created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	}
	return fd < 0 ? -errno : fd;
}

int history_append(const char *root, const struct history_entry *e)
{
	_cleanup_free_ char *path = path_under_root(root, HISTORY_FILE),
	                    *old = path_under_root(root, HISTORY_FILE_OLD), *dir = NULL,
	                    *line = NULL;
	_cleanup_close_ int dfd = -1, fd = -1;
	struct stat st;
	bool created;
	size_t len;
	int r;

	if (!path || !old)
		return -ENOMEM;
	r = history_format_line(e, &line, &len);
	if (r < 0)
		return r;
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	*strrchr(dir, '/') = 0;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/* lifelined and lifelinectl may append at once; the lock also keeps
	 * a rotation from racing an append */
	if (flock(dfd, LOCK_EX) < 0)
		return -errno;

	fd = open_append(path, &created);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	if ((uint64_t)st.st_size + len + 1 > HISTORY_FILE_MAX) {
		/* rename is atomic: after a cut there is either the full old
		 * file or history.1 and no history (the next append makes it) */
		if (rename(path, old) < 0)
			return -errno;
		if (fsync(dfd) < 0)
			return -errno;
		close(fd);
		fd = open_append(path, &created);
		if (fd < 0)
			return fd;
		st.st_size = 0;
	}
	if (st.st_size > 0) {
		char last;

		/* a power cut during the previous append left a line without
		 * its newline: end it so it stays a damaged line of its own */
		if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
			r = fd_write_all(fd, "\n", 1);
			if (r < 0)
				return r;
		}
	}
	fault_point("history-append");
	r = fd_write_all(fd, line, len);
	if (r < 0)
		return r;
	if (fsync(fd) < 0)
		return -errno;
	if (created && fsync(dfd) < 0)
		return -errno;
	return 0;
}

int history_record(const char *root, const char *who, const char *action,
                   const struct state_record *rec, const char *reason)
{
	_cleanup_free_ char *w = strdup(who), *a = strdup(action),
	                    *m = strdup(state_mode_to_string(rec->mode)),
	                    *why = reason ? strdup(reason) : NULL;
	struct history_entry e = {
	    .boot_seq = rec->boot_seq,
	    .level = rec->level,
	    .who = w,
	    .action = a,
	    .mode = m,
	    .reason = why,
	};

	if (!w || !a || !m || (reason && !why))
		return -ENOMEM;
	return history_append(root, &e);
}
