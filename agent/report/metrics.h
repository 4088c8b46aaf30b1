/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Prometheus textfile-collector file (node_exporter
 * --collector.textfile.directory, Debian's default
 * /var/lib/prometheus/node-exporter): the counters of the last report.
 *
 *   lifeline_up 1                              the agent wrote this file
 *   lifeline_state_readable 1                  0: the record is unreadable
 *   lifeline_failures 0                        consecutive unblessed boots
 *   lifeline_level 0                           escalation level
 *   lifeline_boot_seq 42
 *   lifeline_mode{mode="normal"} 1             one series per mode, 0 or 1
 *   lifeline_quarantined{component="x"} 1      one per quarantined component
 *   lifeline_reports_spooled 0                 reports waiting for the collector
 *   lifeline_report_timestamp_seconds 1.7e9    when the file was written
 *
 * Written atomically (node_exporter reads only *.prom, so the temp file is
 * never half-read).
 */
#pragma once

struct json_object;

#define METRICS_FILE "/var/lib/prometheus/node-exporter/lifeline.prom"

/* The file's text for a report (agent/report.h) and the spool count. */
int metrics_format(struct json_object *report, unsigned spooled, char **ret);
/* Writes <root>/METRICS_FILE (creating its directory). */
int metrics_write(const char *root, struct json_object *report, unsigned spooled);
/* Updates only lifeline_reports_spooled in an existing file (after a
 * flush). -ENOENT when there is no file yet. */
int metrics_update_spooled(const char *root, unsigned spooled);
