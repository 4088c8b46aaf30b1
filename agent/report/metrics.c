/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Prometheus textfile of the last report (metrics.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "agent/report/metrics.h"

static int64_t get_int(json_object *o, const char *key, int64_t dflt)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Label values escape '\', '"' and newline (Prometheus exposition
 * format). */
static void put_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void put_header(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void put_modes(FILE *f, const char *name, const char *mode)
{
	static const char *const modes[] = {"normal", "safe", "given-up", "unreadable"};
	bool known = false;

	for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
		fprintf(f, "%s{mode=\"%s\"} %d\n", name, modes[i],
		        streq_ptr(mode, modes[i]) ? 1 : 0);
		known = known || streq_ptr(mode, modes[i]);
	}
	if (mode && !known) {
		fprintf(f, "%s{mode=\"", name);
		put_label_value(f, mode);
		fputs("\"} 1\n", f);
	}
}

static bool get_bool(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) &&
	       json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* NAME{component="ID"} 1 for each entry of the report's quarantined
 * array (q, may be NULL), or only for the degraded ones. */
static void put_components(FILE *f, const char *name, json_object *q, bool only_degraded)
{
	if (!q || !json_object_is_type(q, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(q); i++) {
		json_object *e = json_object_array_get_idx(q, i);
		const char *id = get_str(e, "component");

		if (!id || (only_degraded && !get_bool(e, "degraded")))
			continue;
		fprintf(f, "%s{component=\"", name);
		put_label_value(f, id);
		fputs("\"} 1\n", f);
	}
}

int metrics_format(struct json_object *report, unsigned spooled, const struct metrics_kept *kept,
                   char **ret)
{
	_cleanup_free_ char *buf = NULL;
	json_object *state = NULL, *q = NULL, *boot = NULL, *machine = NULL, *lg = NULL;
	const char *next, *now, *version;
	size_t size = 0;
	bool readable;
	FILE *f;

	(void)json_object_object_get_ex(report, "state", &state);
	(void)json_object_object_get_ex(report, "this_boot", &boot);
	(void)json_object_object_get_ex(report, "machine", &machine);
	readable = state && !get_str(state, "error");
	next = readable ? get_str(state, "mode") : "unreadable";
	/* this boot's mode as lifeline-early started it; when it did not
	 * count this boot, the record's is the best word there is */
	now = get_str(boot, "mode");
	if (!now || streq(now, "uncounted"))
		now = next;
	version = get_str(machine, "agent_version");

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	put_header(f, "lifeline_up", "The lifeline agent wrote this file.");
	fprintf(f, "lifeline_up 1\n");
	put_header(f, "lifeline_build_info", "The lifeline agent's version (always 1).");
	fputs("lifeline_build_info{version=\"", f);
	put_label_value(f, version ? version : LIFELINE_VERSION);
	fputs("\"} 1\n", f);
	put_header(f, "lifeline_state_readable", "1 when the boot-state record could be read.");
	fprintf(f, "lifeline_state_readable %d\n", readable ? 1 : 0);
	if (readable) {
		put_header(f, "lifeline_failures", "Consecutive boot attempts not yet blessed.");
		fprintf(f, "lifeline_failures %" PRId64 "\n", get_int(state, "failures", 0));
		put_header(f, "lifeline_level", "Recovery escalation level (0 normal .. 3).");
		fprintf(f, "lifeline_level %" PRId64 "\n", get_int(state, "level", 0));
		put_header(f, "lifeline_boot_seq", "Boot attempts counted by lifeline.");
		fprintf(f, "lifeline_boot_seq %" PRId64 "\n", get_int(state, "boot_seq", 0));
		(void)json_object_object_get_ex(state, "last_good", &lg);
		put_header(f, "lifeline_last_bless_timestamp_seconds",
		           "When a boot was last blessed (unix seconds; 0 never).");
		fprintf(f, "lifeline_last_bless_timestamp_seconds %" PRId64 "\n",
		        get_int(lg, "time", 0));
	}
	put_header(f, "lifeline_mode", "1 for the mode this boot runs in.");
	put_modes(f, "lifeline_mode", now);
	put_header(f, "lifeline_next_boot_mode", "1 for the mode the next boot starts in.");
	put_modes(f, "lifeline_next_boot_mode", next);
	put_header(f, "lifeline_reboot_required",
	           "1 when what was decided since this boot started needs a reboot.");
	fprintf(f, "lifeline_reboot_required %d\n", get_bool(boot, "reboot_required") ? 1 : 0);
	put_header(f, "lifeline_command_seq",
	           "Sequence number of the last fleet command accepted.");
	fprintf(f, "lifeline_command_seq %" PRIu64 "\n", kept->command_seq);
	put_header(f, "lifeline_command_rejected_timestamp_seconds",
	           "When a fleet command was last rejected (unix seconds; 0 never).");
	fprintf(f, "lifeline_command_rejected_timestamp_seconds %" PRId64 "\n",
	        kept->command_rejected_time);
	put_header(f, "lifeline_quarantined", "1 for each quarantined component.");
	(void)json_object_object_get_ex(report, "quarantined", &q);
	put_components(f, "lifeline_quarantined", q, false);
	put_header(f, "lifeline_degraded",
	           "1 for each degraded component: its kernel part off, running in user mode.");
	put_components(f, "lifeline_degraded", q, true);
	put_header(f, "lifeline_reports_spooled",
	           "Reports waiting to be delivered to the collector.");
	fprintf(f, "lifeline_reports_spooled %u\n", spooled);
	put_header(f, "lifeline_reports_dropped",
	           "Reports the collector refused for good (HTTP 4xx), deleted unsent.");
	fprintf(f, "lifeline_reports_dropped %" PRIu64 "\n", kept->reports_dropped);
	put_header(f, "lifeline_report_timestamp_seconds", "When lifeline last wrote this file.");
	fprintf(f, "lifeline_report_timestamp_seconds %" PRId64 "\n", get_int(report, "time", 0));
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

static char *metrics_path(const char *root, const char *dir)
{
	_cleanup_free_ char *d = path_under_root(root, dir ? dir : METRICS_DIR);

	return d ? path_join(d, METRICS_NAME) : NULL;
}

/* The seq of an accepted fleet command in report (its seq is used up,
 * whether its action ran or its condition was not met), or 0. */
static uint64_t report_command_seq(json_object *report)
{
	json_object *c = NULL;

	if (!json_object_object_get_ex(report, "command", &c) ||
	    !streq_ptr(get_str(c, "result"), "accepted"))
		return 0;
	return (uint64_t)get_int(c, "seq", 0);
}

/* The time of a rejected fleet command's report, or 0. */
static int64_t report_command_rejected_time(json_object *report)
{
	json_object *c = NULL;

	if (!json_object_object_get_ex(report, "command", &c) ||
	    !streq_ptr(get_str(c, "result"), "rejected"))
		return 0;
	return get_int(report, "time", 0);
}

/* The value of the unlabelled series name in text (the file written
 * before; "" when there was none), or 0. */
static uint64_t previous_value(const char *text, const char *name)
{
	_cleanup_free_ char *key = NULL;
	const char *at;

	if (asprintf(&key, "\n%s ", name) < 0 || !(at = strstr(text, key)))
		return 0;
	return strtoull(at + strlen(key), NULL, 10);
}

int metrics_write(const char *root, const char *dir, struct json_object *report, unsigned spooled)
{
	_cleanup_free_ char *path = metrics_path(root, dir), *text = NULL, *before = NULL;
	struct metrics_kept k;
	char *slash;
	int r;

	if (!path)
		return -ENOMEM;
	if (read_full_file(path, 1024 * 1024, &before, NULL) < 0 && !(before = strdup("")))
		return -ENOMEM;
	k = (struct metrics_kept){
	    .command_seq = report_command_seq(report),
	    .command_rejected_time = report_command_rejected_time(report),
	    .reports_dropped = previous_value(before, "lifeline_reports_dropped"),
	};
	if (k.command_seq == 0)
		k.command_seq = previous_value(before, "lifeline_command_seq");
	if (k.command_rejected_time == 0)
		k.command_rejected_time =
		    (int64_t)previous_value(before, "lifeline_command_rejected_timestamp_seconds");
	r = metrics_format(report, spooled, &k, &text);
	if (r < 0)
		return r;
	slash = strrchr(path, '/');
	*slash = 0;
	r = mkdir_p(path, 0755);
	*slash = '/';
	if (r < 0)
		return r;
	return write_file_atomic(path, text, strlen(text), 0644);
}

/* Replaces the value of the unlabelled series name in *text by value. */
static int replace_value(char **text, const char *name, uint64_t value)
{
	_cleanup_free_ char *key = NULL;
	char *at, *eol, *out;

	if (asprintf(&key, "\n%s ", name) < 0)
		return -ENOMEM;
	at = strstr(*text, key);
	if (!at)
		return -EBADMSG;
	at += strlen(key);
	eol = strchr(at, '\n');
	if (!eol)
		return -EBADMSG;
	if (asprintf(&out, "%.*s%" PRIu64 "%s", (int)(at - *text), *text, value, eol) < 0)
		return -ENOMEM;
	free(*text);
	*text = out;
	return 0;
}

int metrics_update_spooled(const char *root, const char *dir, unsigned spooled, unsigned dropped)
{
	_cleanup_free_ char *path = metrics_path(root, dir), *text = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 1024 * 1024, &text, NULL);
	if (r < 0)
		return r;
	r = replace_value(&text, "lifeline_reports_spooled", spooled);
	if (r >= 0 && dropped > 0)
		r = replace_value(&text, "lifeline_reports_dropped",
		                  previous_value(text, "lifeline_reports_dropped") + dropped);
	if (r < 0)
		return r;
	return write_file_atomic(path, text, strlen(text), 0644);
}
