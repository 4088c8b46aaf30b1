/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Report documents (docs/design.md "Remote control"): one JSON object with the
 * facts an administrator needs about one machine, sent to the collector
 * (agent/spool.c), logged to the journal with a fixed MESSAGE_ID and
 * summed up in the Prometheus textfile (agent/metrics.c).
 *
 *   {
 *     "version": 1,
 *     "id": "<32 hex>",            unique per report (the collector dedups on it)
 *     "time": <unix seconds>,
 *     "event": "heartbeat" | "start" | "mode-change" | "command" | "manual"
 *              | "unblessed",
 *     "machine": { "machine_id": "<32 hex>" | null, "hostname": "...",
 *                  "kernel": "<uname -r>", "agent_version": "0.1.0" },
 *     "state": { "store": "efi" | "file" | null, "record": true|false,
 *                "boot_seq", "failures", "mode", "level", "generation",
 *                "modules_blocked": [...], "last_good": {"boot_seq","time"} | null }
 *              or, when the record is unreadable,
 *              { "store": ..., "error": "<why>" },
 *     "this_boot": { "mode", "action", "reason", "evidence": [...],
 *                    "quarantine": [...], "error",
 *                    "reboot_required": true|false, "reboot_reason" } | null,
 *              ("mode" is the mode this boot runs in, state's "mode" the
 *              next boot's; reboot_required: ops_reboot_required())
 *     "quarantined": [ { "component", "generation", "level" }, ... ],
 *     "command": { "result": "accepted"|"rejected", "reason", "detail",
 *                  "source", "action", "seq", "applied" }   (event "command" only)
 *     "unblessed": { "reason": "check 10-net exited 3: <its first line>" }
 *                                                   (event "unblessed" only)
 *   }
 *
 * Decision reports spooled before a quarantine (report_spool_decision())
 * are "mode-change" reports with "decision": { "phase": "before-quarantine",
 * "quarantine": [...], "level", "generation" }.
 *
 * "record": false means there is no state record yet (a fresh machine): the
 * numbers are those of a new record.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent/report/spool.h"

struct json_object;
struct lifeline_config;

#define REPORT_FORMAT_VERSION 1
/* The journal MESSAGE_ID of every lifeline report (journalctl
 * MESSAGE_ID=191d7f57a0ed413fb491d5f5aac3102b). Fixed forever. */
#define REPORT_MESSAGE_ID "191d7f57a0ed413fb491d5f5aac3102b"
/* The mode the last report was made in, to notice mode changes across
 * restarts and reboots. */
#define REPORT_MODE_FILE "/var/lib/lifeline/report-mode"

enum report_event {
	REPORT_EVENT_HEARTBEAT,
	REPORT_EVENT_START,
	REPORT_EVENT_MODE_CHANGE,
	REPORT_EVENT_COMMAND,
	REPORT_EVENT_MANUAL,
	REPORT_EVENT_UNBLESSED,
	_REPORT_EVENT_MAX,
};

const char *report_event_to_string(enum report_event e);

/* Builds the report of the machine under root (see above), without an
 * "event". The state record is read through efi/store as
 * <root>/etc/lifeline/lifeline.conf says; an unreadable record is reported,
 * not an error. Returns 0 or -ENOMEM. */
int report_build(const char *root, struct json_object **ret);
/* The same with "event" set. */
int report_build_event(const char *root, enum report_event event, struct json_object **ret);
/* The same with a configuration already loaded (no second config_load()). */
int report_build_config(const char *root, const struct lifeline_config *cfg,
                        enum report_event event, struct json_object **ret);

/* The "hostname" of a report: the kernel's hostname, or, when none is set
 * yet ("(none)" in the initramfs), the first line of <root>/etc/hostname;
 * NULL when neither has one (or out of memory). */
char *report_hostname(const char *root);

/* The mode the report shows: "normal", "safe", "given-up" or "unreadable". */
const char *report_mode(struct json_object *report);

/* The journal entry of a report as "FIELD=value" strings (MESSAGE,
 * MESSAGE_ID, PRIORITY, LIFELINE_*). */
int report_journal_fields(struct json_object *report, char ***ret);
/* Sends it to the journal (sd_journal_sendv). */
int report_journal_send(struct json_object *report);

/* Everything a report goes to: the spool (when [report] url is set), the
 * journal, and the metrics file. Journal and metrics failures are ignored
 * (debug log); returns the spool's result. */
int report_emit(const char *root, const struct lifeline_config *cfg, struct json_object *report);

/* Rewrites only the metrics file from the machine's state now (no
 * report is made, spooled or journalled): after a bless, a clear or a
 * quarantine by hand, and at every lifelined start (which makes no report
 * in normal mode). Returns metrics_write()'s result. */
int report_metrics_refresh(const char *root, const struct lifeline_config *cfg);

/* Reports a mode change when the mode differs from the last one reported
 * (REPORT_MODE_FILE; no file yet: a mode other than normal is a change);
 * else a report of event fallback, unless fallback is _REPORT_EVENT_MAX or
 * (with only_outside_normal) the mode is normal. The mode file is written
 * after the report is spooled: a crash in between reports the change
 * twice, never not at all. Returns report_emit()'s result, or 0 when
 * nothing was reported. lifelined's start ("start" outside normal mode),
 * heartbeats ("heartbeat") and applied commands (no fallback) use it. */
int report_mode_change(const char *root, const struct lifeline_config *cfg,
                       enum report_event fallback, bool only_outside_normal);

/* spool_flush(), then the metrics file's spool count follows what was
 * sent. Arguments and result as spool_flush(). */
int report_flush(const char *root, const struct lifeline_config *cfg, struct spool_backoff *b,
                 uint64_t now, bool force, void (*keepalive)(void *userdata), void *userdata,
                 unsigned *ret_sent);

/* A boot that is healthy by systemd's word and stable but fails a check.d
 * script stays unblessed and is reported (event "unblessed") with the
 * check's words (bless_run_checks()'s why). Returns report_emit()'s result. */
int report_unblessed(const char *root, const struct lifeline_config *cfg, const char *why);

struct runstate;

/* The crash-loop-as-attack guard (README "Crash loops as an attack"): the
 * report of a quarantine decision, written into <root>/SPOOL_DIR before the
 * quarantine takes effect (lifeline-early's rootfs phase calls it after
 * remounting the root read-write and before moving any file), so the
 * collector hears what was decided and why first, even if the quarantine
 * then removes things. A "mode-change" report (the spool's highest class)
 * with "decision": {"phase": "before-quarantine", "quarantine": [...],
 * "level", "generation"}, this_boot and state taken from rs; written
 * durably (temp + fsync + rename + fsync(dir)); drops only the oldest
 * heartbeats to stay within [report] spool_max. Links neither json-c nor
 * libcurl (agent/report-decision.c), so the initramfs stays small.
 * Returns 1 written (*ret_path, may be NULL), 0 no [report] url configured
 * (nothing to send it to), -ENOSPC the spool holds only more important
 * reports, -EFBIG, -ENOMEM, or the write's -errno. */
int report_spool_decision(const char *root, const struct lifeline_config *cfg,
                          const struct runstate *rs, char **ret_path);
/* Its text, for tests: one JSON object and a newline. */
int report_decision_format(const char *root, const struct runstate *rs, const char *id, int64_t now,
                           char **ret, size_t *ret_size);
