/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl report [--dry-run]: a report of this machine now, printed
 * (--dry-run) or sent to the journal, the metrics file and the collector.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "agent/conf/config.h"
#include "agent/ctl/ctl-internal.h"
#include "agent/ctl/ctl.h"
#include "agent/report/metrics.h"
#include "agent/report/report.h"
#include "agent/report/spool.h"
#include "common/log.h"
#include "common/macro.h"

static void config_donep(struct lifeline_config *c)
{
	config_done(c);
}

static const char *report_id(json_object *o)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, "id", &v) ? json_object_get_string(v) : "";
}

int ctl_report(const struct ctl_ctx *ctx)
{
	_cleanup_(config_donep) struct lifeline_config cfg;
	_cleanup_(json_object_putp) json_object *o = NULL;
	struct spool_backoff b = {0};
	bool dry_run = false;
	unsigned sent = 0, left = 0;
	int r;

	config_init_defaults(&cfg);
	/* A bad key is logged by the loader and keeps its default. */
	(void)config_load(ctx->root, &cfg);
	for (int i = 0; i < ctx->n_args; i++) {
		if (streq(ctx->args[i], "--dry-run") || streq(ctx->args[i], "-n"))
			dry_run = true;
		else if (!streq(ctx->args[i], "--")) {
			log_error("report: unknown argument '%s' (report [--dry-run])",
			          ctx->args[i]);
			return CTL_EXIT_USAGE;
		}
	}
	r = report_build_config(ctx->root, &cfg, REPORT_EVENT_MANUAL, &o);
	if (r < 0) {
		log_error_errno(r, "Failed to build the report: %m");
		return CTL_EXIT_FAILURE;
	}
	if (dry_run) {
		puts(json_object_to_json_string_ext(o, CTL_JSON_FLAGS));
		return CTL_EXIT_OK;
	}
	r = report_emit(ctx->root, &cfg, o);
	if (r < 0) {
		log_error_errno(r, "Failed to spool the report under %s: %m", SPOOL_DIR);
		return CTL_EXIT_FAILURE;
	}
	if (!cfg.report_url || !*cfg.report_url) {
		log_info("report %s written to the journal and %s ([report] url is not set)",
		         report_id(o), METRICS_FILE);
		return CTL_EXIT_OK;
	}
	r = report_flush(ctx->root, &cfg, &b, 0, true, NULL, NULL, &sent);
	(void)spool_count(ctx->root, &left, NULL);
	if (r == -EBUSY) {
		log_info("report %s spooled; lifelined is sending the spool right now",
		         report_id(o));
		return CTL_EXIT_OK;
	}
	if (r < 0) {
		log_error("report %s spooled but not sent: %s (%u report(s) wait in %s)",
		          report_id(o), *b.last_error ? b.last_error : strerror(-r), left,
		          SPOOL_DIR);
		return CTL_EXIT_FAILURE;
	}
	log_info("report %s sent (%u delivered)", report_id(o), sent);
	return CTL_EXIT_OK;
}
