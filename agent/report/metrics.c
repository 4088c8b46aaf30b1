/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

int metrics_format(struct json_object *report, unsigned spooled, char **ret)
{
	static const char *const modes[] = {"normal", "safe", "given-up", "unreadable"};
	_cleanup_free_ char *buf = NULL;
	json_object *state = NULL, *q = NULL;
	const char *mode;
	size_t size = 0;
	bool readable;
	FILE *f;

	(void)json_object_object_get_ex(report, "state", &state);
	readable = state && !get_str(state, "error");
	mode = readable ? get_str(state, "mode") : "unreadable";

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	put_header(f, "lifeline_up", "The lifeline agent wrote this file.");
	fprintf(f, "lifeline_up 1\n");
	put_header(f, "lifeline_state_readable", "1 when the boot-state record could be read.");
	fprintf(f, "lifeline_state_readable %d\n", readable ? 1 : 0);
	if (readable) {
		put_header(f, "lifeline_failures", "Consecutive boot attempts not yet blessed.");
		fprintf(f, "lifeline_failures %" PRId64 "\n", get_int(state, "failures", 0));
		put_header(f, "lifeline_level", "Recovery escalation level (0 normal .. 3).");
		fprintf(f, "lifeline_level %" PRId64 "\n", get_int(state, "level", 0));
		put_header(f, "lifeline_boot_seq", "Boot attempts counted by lifeline.");
		fprintf(f, "lifeline_boot_seq %" PRId64 "\n", get_int(state, "boot_seq", 0));
	}
	put_header(f, "lifeline_mode", "1 for the current boot mode.");
	for (size_t i = 0; i < ELEMENTSOF(modes); i++)
		fprintf(f, "lifeline_mode{mode=\"%s\"} %d\n", modes[i],
		        streq_ptr(mode, modes[i]) ? 1 : 0);
	if (mode && !streq(mode, "normal") && !streq(mode, "safe") && !streq(mode, "given-up") &&
	    !streq(mode, "unreadable")) {
		fputs("lifeline_mode{mode=\"", f);
		put_label_value(f, mode);
		fputs("\"} 1\n", f);
	}
	put_header(f, "lifeline_quarantined", "1 for each quarantined component.");
	if (json_object_object_get_ex(report, "quarantined", &q) &&
	    json_object_is_type(q, json_type_array))
		for (size_t i = 0; i < json_object_array_length(q); i++) {
			const char *id = get_str(json_object_array_get_idx(q, i), "component");

			if (!id)
				continue;
			fputs("lifeline_quarantined{component=\"", f);
			put_label_value(f, id);
			fputs("\"} 1\n", f);
		}
	put_header(f, "lifeline_reports_spooled",
	           "Reports waiting to be delivered to the collector.");
	fprintf(f, "lifeline_reports_spooled %u\n", spooled);
	put_header(f, "lifeline_report_timestamp_seconds", "When lifeline last wrote this file.");
	fprintf(f, "lifeline_report_timestamp_seconds %" PRId64 "\n", get_int(report, "time", 0));
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

int metrics_write(const char *root, struct json_object *report, unsigned spooled)
{
	_cleanup_free_ char *path = path_under_root(root, METRICS_FILE), *text = NULL;
	char *slash;
	int r;

	if (!path)
		return -ENOMEM;
	r = metrics_format(report, spooled, &text);
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

int metrics_update_spooled(const char *root, unsigned spooled)
{
	_cleanup_free_ char *path = path_under_root(root, METRICS_FILE), *text = NULL, *out = NULL;
	const char *key = "\nlifeline_reports_spooled ";
	char *at, *eol;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 1024 * 1024, &text, NULL);
	if (r < 0)
		return r;
	at = strstr(text, key);
	if (!at)
		return -EBADMSG;
	at += strlen(key);
	eol = strchr(at, '\n');
	if (!eol)
		return -EBADMSG;
	if (asprintf(&out, "%.*s%u%s", (int)(at - text), text, spooled, eol) < 0)
		return -ENOMEM;
	return write_file_atomic(path, out, strlen(out), 0644);
}
