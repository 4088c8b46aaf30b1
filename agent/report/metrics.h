/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Prometheus textfile-collector file (node_exporter
 * --collector.textfile.directory, Debian's default
 * /var/lib/prometheus/node-exporter): the counters of the last report.
 *
 *   lifeline_up 1                              the agent wrote this file
 *   lifeline_build_info{version="0.1.0"} 1     the agent's version
 *   lifeline_state_readable 1                  0: the record is unreadable
 *   lifeline_failures 0                        consecutive unblessed boots
 *   lifeline_level 0                           escalation level
 *   lifeline_boot_seq 42
 *   lifeline_mode{mode="safe"} 1               the mode THIS boot runs in, one
 *                                              series per mode, 0 or 1 (the
 *                                              record's when lifeline-early did
 *                                              not count this boot)
 *   lifeline_next_boot_mode{mode="normal"} 1   the mode the next boot gets (the
 *                                              record's), one series per mode
 *   lifeline_reboot_required 1                 1: what was decided since this
 *                                              boot started needs a reboot
 *   lifeline_last_bless_timestamp_seconds 1.7e9  when a boot was last blessed
 *                                              (0: never)
 *   lifeline_command_seq 7                     the seq of the last fleet command
 *                                              accepted (used up: applied, or
 *                                              its condition not met); kept
 *                                              from the previous file when
 *                                              this report is not one
 *   lifeline_command_rejected_timestamp_seconds 1.7e9  when a fleet command
 *                                              was last rejected (0: never);
 *                                              kept like the seq
 *   lifeline_quarantined{component="x"} 1      one per quarantined component
 *   lifeline_degraded{component="x"} 1         one per degraded one (also
 *                                              quarantined: its kernel part)
 *   lifeline_reports_spooled 0                 reports waiting for the collector
 *   lifeline_reports_dropped 0                 reports the collector refused for
 *                                              good (HTTP 4xx), deleted unsent;
 *                                              kept like the seq
 *   lifeline_report_timestamp_seconds 1.7e9    when the file was written
 *
 * Written atomically (node_exporter reads only *.prom, so the temp file is
 * never half-read).
 */
#pragma once

#include <stdint.h>

struct json_object;

#define METRICS_DIR  "/var/lib/prometheus/node-exporter"
#define METRICS_NAME "lifeline.prom"
#define METRICS_FILE METRICS_DIR "/" METRICS_NAME

/* The values a report does not carry, kept from one file to the next. */
struct metrics_kept {
	uint64_t command_seq;          /* the last accepted command's (0: none yet) */
	int64_t command_rejected_time; /* the last rejected command's (0: none yet) */
	uint64_t reports_dropped;      /* reports the collector refused for good */
};

/* The file's text for a report (agent/report.h), the spool count and the
 * kept values. */
int metrics_format(struct json_object *report, unsigned spooled, const struct metrics_kept *kept,
                   char **ret);
/* Writes <root>/<dir>/METRICS_NAME (dir NULL: METRICS_DIR), creating the
 * directory. The command seq comes from the report when it is an accepted
 * fleet command, the rejected time from the report when it is a rejected
 * one; each else from the file written before, like the dropped count. */
int metrics_write(const char *root, const char *dir, struct json_object *report, unsigned spooled);
/* Updates only lifeline_reports_spooled in an existing file, and adds
 * dropped to lifeline_reports_dropped (after a flush). -ENOENT when there
 * is no file yet. */
int metrics_update_spooled(const char *root, const char *dir, unsigned spooled, unsigned dropped);
