/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The decision history: a durable, append-only log of every recovery
 * decision with its reason and evidence (docs/design.md: "every decision is
 * recorded with its reason and evidence"), read by `lifelinectl history`.
 *
 *   /var/lib/lifeline/history     newest entries, appended
 *   /var/lib/lifeline/history.1   the previous file, after one rotation
 *
 * One entry per line: "<crc32 of the JSON, 8 hex digits> <JSON object>\n".
 * JSON escapes newlines, so a line is an entry. An append is one write()
 * of the whole line followed by fsync(); a power cut in the middle leaves
 * a torn last line, which fails its checksum (or has no newline) and is
 * skipped on read. The next append first ends such a line with '\n', so
 * the torn bytes stay a damaged line of their own and never swallow a good
 * entry. A damaged line in the middle (bit rot, a hand edit) is skipped,
 * and every entry before and after it still reads.
 *
 * Bounds: an entry is at most HISTORY_ENTRY_MAX bytes (evidence is cut
 * to fit, item by item, with a note); when an append would take the file
 * past HISTORY_FILE_MAX it is renamed to history.1 (replacing the older
 * one) and a new file starts. So the history keeps the newest
 * 256-512 KiB, several hundred decisions: a crash loop makes one decision
 * per escalation, so this is years of a machine's life.
 *
 * The files are on disk and read as hostile input: sizes are capped, each
 * line is parsed on its own, strings are bounded and control characters
 * are replaced before they reach a terminal.
 *
 * Library code: logs at debug level only; returns >= 0 or -errno.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "efi/state-record.h"

#define HISTORY_FILE       "/var/lib/lifeline/history"
#define HISTORY_FILE_OLD   "/var/lib/lifeline/history.1"
#define HISTORY_FILE_MAX   (256u * 1024u)
#define HISTORY_ENTRY_MAX  (16u * 1024u)
#define HISTORY_STRING_MAX 1024u /* longer strings are cut */
#define HISTORY_LIST_MAX   64u   /* items kept per list */

/* who made a decision */
#define HISTORY_WHO_BOOT    "boot"           /* lifeline-early, rootfs phase */
#define HISTORY_WHO_CTL     "lifelinectl"    /* an administrator, by hand */
#define HISTORY_WHO_COMMAND "signed-command" /* a signed fleet command */
#define HISTORY_WHO_DAEMON  "lifelined"      /* the daemon (blessing) */

struct history_entry {
	uint64_t time;     /* unix seconds; 0 on append: now */
	unsigned boot_seq; /* boot attempt the decision belongs to */
	unsigned level;    /* escalation level after the decision */
	char *who;         /* HISTORY_WHO_* */
	char *action; /* escalate | give-up | recover | quarantine | clear | restore | bless | reset
	               */
	char *mode;   /* normal | safe | given-up, after the decision */
	char *reason; /* one sentence */
	/* what brought an escalation or give-up about: "threshold" (the
	 * failure count), "repeat-crash" (the fast path, decide.h),
	 * "max-level" (a give-up max_level brought forward); NULL otherwise
	 * and in entries older than the field */
	char *trigger;
	char **evidence;   /* pstore lines, inventory diff lines */
	char **components; /* components quarantined / restored by this decision */
	char **modules;    /* modules blocked by it */
	char **files;      /* what happened to files: quarantine / restore summary lines */
};

struct history {
	struct history_entry *entries; /* oldest first */
	size_t n;
	unsigned n_damaged; /* lines skipped: torn, bad checksum, not an entry */
};

/* Frees the members and zeroes *e. */
void history_entry_done(struct history_entry *e);
/* Frees the entries and zeroes *h. */
void history_done(struct history *h);

/* Append one entry under root (NULL or "/": the real root), creating the
 * directory and file (0600) as needed, rotating at HISTORY_FILE_MAX.
 * Durable when it returns 0. Concurrent appenders are serialised with
 * flock() on the directory. */
int history_append(const char *root, const struct history_entry *e);

/* The short form for a decision with no lists (a blessing, a reset):
 * boot number, level and mode from the state record after the decision.
 * lifelined records a blessing with
 *   (void)history_record(root, HISTORY_WHO_DAEMON, "bless", &rec, "...");
 * Returns as history_append(). */
int history_record(const char *root, const char *who, const char *action,
                   const struct state_record *rec, const char *reason);

/* Parse history text (one file's content, or any part of it) and append
 * its good entries to *h; damaged lines are counted in h->n_damaged. Only
 * -ENOMEM is an error. */
int history_parse(const char *data, size_t size, struct history *h);

/* Read history.1 then history under root. A missing file is an empty
 * history. Returns 0 and fills *ret, or -errno when a file exists but
 * cannot be read (then *ret is untouched). */
int history_read(const char *root, struct history *ret);

/* Encode one entry as its line ("<crc> <json>\n"), cut to fit
 * HISTORY_ENTRY_MAX. For tests and the fuzzer's seeds. */
int history_format_line(const struct history_entry *e, char **ret_line, size_t *ret_len);
