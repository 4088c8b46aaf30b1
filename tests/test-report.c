/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Report documents on a fake root with the state record in the
 * EFIVARFS_PATH directory: the JSON shape, an unreadable record, the
 * journal fields, the Prometheus file, and the daemon's start/heartbeat
 * reports (mode changes noticed across restarts).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conf/config.h"
#include "agent/report/metrics.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/lifelined/daemon-state.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

#define MACHINE_ID "4f1c2a9be0d34c7a8f0e6b5d3c2a1f09"

static char root[1024], var_path[4096];

static void put(const char *rel, const char *text)
{
	tu_put(root, rel, text, 0644);
}

static void reset_var(void)
{
	tu_var_reset(var_path);
}

static void save_record(uint8_t mode, uint8_t level, uint32_t failures)
{
	struct state_record rec;

	state_record_init(&rec);
	rec.boot_seq = 17;
	rec.failures = failures;
	rec.mode = mode;
	rec.level = level;
	rec.generation = 2;
	rec.last_blessed_seq = 12;
	rec.last_blessed_time = 1700000000;
	if (level > 0)
		assert_true(state_record_add_module(&rec, "badsec_mod") >= 0);
	tu_record_save(&rec);
}

static void write_runstate(void)
{
	struct runstate rs;
	char p[4096];

	runstate_init(&rs);
	rs.boot_seq = 17;
	rs.failures = 5;
	rs.level = 1;
	rs.generation = 2;
	rs.mode = strdup("safe");
	rs.store = strdup("efi");
	rs.action = strdup("escalate");
	rs.reason = strdup("5 consecutive failed boots; the panic log names badsec");
	assert_int_equal(strv_extend(&rs.evidence, "RIP: badsec_mod+0x42"), 0);
	assert_int_equal(strv_extend(&rs.evidence, "Comm: badsecd"), 0);
	assert_int_equal(strv_extend(&rs.quarantine, "badsec"), 0);
	assert_int_equal(strv_extend(&rs.quarantine, "newsec"), 0);
	/* what the initramfs blocked: the record's list at boot */
	assert_int_equal(strv_extend(&rs.blocked, "badsec_mod"), 0);
	snprintf(p, sizeof(p), "%s%s", root, RUNSTATE_FILE);
	assert_int_equal(runstate_write(p, &rs), 0);
	runstate_done(&rs);
}

static int setup(void **state)
{
	struct quarantine_entry q = {.id = "badsec", .generation = 2, .level = 1};

	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "report-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	reset_var();
	put("/etc/machine-id", MACHINE_ID "\n");
	/* a closed loopback port: reports spool, nothing is sent */
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nstore = efi\nthreshold = 4\n"
	    "[report]\nurl = http://127.0.0.1:9/r\nheartbeat = 60\n");
	save_record(STATE_MODE_SAFE, 1, 5);
	write_runstate();
	assert_int_equal(quarantine_active_write(root, &q, 1), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[2048];

	(void)state;
	reset_var();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static json_object *get(json_object *o, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
		json_object *v;
		if (!o || !json_object_object_get_ex(o, k, &v))
			fail_msg("no key %s in %s", k, path);
		o = v;
	}
	return o;
}

static const char *get_s(json_object *o, const char *path)
{
	json_object *v = get(o, path);

	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static int64_t get_i(json_object *o, const char *path)
{
	json_object *v = get(o, path);

	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static void test_report_has_machine_state_this_boot_and_quarantine(void **state)
{
	json_object *o, *a;
	struct utsname u;
	char host[256] = "";

	(void)state;
	assert_int_equal(report_build(root, &o), 0);
	assert_int_equal(get_i(o, "version"), 1);
	assert_int_equal(strlen(get_s(o, "id")), 32);
	assert_int_equal(strspn(get_s(o, "id"), "0123456789abcdef"), 32);
	assert_true(get_i(o, "time") > 1700000000);

	assert_string_equal(get_s(o, "machine.machine_id"), MACHINE_ID);
	assert_int_equal(uname(&u), 0);
	assert_string_equal(get_s(o, "machine.kernel"), u.release);
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(get_s(o, "machine.hostname"), host);
	assert_string_equal(get_s(o, "machine.agent_version"), LIFELINE_VERSION);

	assert_string_equal(get_s(o, "state.store"), "efi");
	assert_true(json_object_get_boolean(get(o, "state.record")));
	assert_int_equal(get_i(o, "state.boot_seq"), 17);
	assert_int_equal(get_i(o, "state.failures"), 5);
	assert_int_equal(get_i(o, "state.threshold"), 4);
	assert_string_equal(get_s(o, "state.mode"), "safe");
	assert_int_equal(get_i(o, "state.level"), 1);
	assert_int_equal(get_i(o, "state.generation"), 2);
	a = get(o, "state.modules_blocked");
	assert_int_equal(json_object_array_length(a), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "badsec_mod");
	assert_int_equal(get_i(o, "state.last_good.boot_seq"), 12);
	assert_int_equal(get_i(o, "state.last_good.time"), 1700000000);

	assert_string_equal(get_s(o, "this_boot.action"), "escalate");
	assert_non_null(strstr(get_s(o, "this_boot.reason"), "badsec"));
	a = get(o, "this_boot.evidence");
	assert_int_equal(json_object_array_length(a), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)),
	                    "RIP: badsec_mod+0x42");

	/* the durable list, plus what this boot decided but did not record yet */
	a = get(o, "quarantined");
	assert_int_equal(json_object_array_length(a), 2);
	assert_string_equal(get_s(json_object_array_get_idx(a, 0), "component"), "badsec");
	assert_int_equal(get_i(json_object_array_get_idx(a, 0), "generation"), 2);
	assert_int_equal(get_i(json_object_array_get_idx(a, 0), "level"), 1);
	assert_string_equal(get_s(json_object_array_get_idx(a, 1), "component"), "newsec");
	assert_string_equal(report_mode(o), "safe");
	/* report_build() leaves the event to the caller */
	assert_false(json_object_object_get_ex(o, "event", NULL));
	json_object_put(o);

	/* once the rootfs phase made this boot's decision durable, the
	 * active list is the whole truth: newsec was cleared since */
	assert_int_equal(quarantine_decided_write(root, 2), 0);
	assert_int_equal(report_build(root, &o), 0);
	a = get(o, "quarantined");
	assert_int_equal(json_object_array_length(a), 1);
	assert_string_equal(get_s(json_object_array_get_idx(a, 0), "component"), "badsec");
	json_object_put(o);
}

/* A degraded component (docs/degrade.md) is in the report's quarantined
 * list with degraded true, and in the metrics as lifeline_degraded; the
 * active list keeps the kind through a write and a read, and an older
 * reader's three words or an unknown fourth word read as a quarantine. */
static void test_degraded_component_in_the_report_and_metrics(void **state)
{
	struct quarantine_entry q[2] = {
	    {.id = "falco", .generation = 3, .level = 1, .degraded = true},
	    {.id = "badsec", .generation = 2, .level = 1}};
	_cleanup_free_ struct quarantine_entry *back = NULL;
	json_object *o, *a;
	char p[4096], *t = NULL;
	unsigned n = 0;

	(void)state;
	assert_int_equal(quarantine_active_write(root, q, 2), 0);
	snprintf(p, sizeof(p), "%s%s", root, QUARANTINE_ACTIVE_FILE);
	assert_int_equal(read_full_file(p, 4096, &t, NULL), 0);
	assert_string_equal(t, "falco 3 1 degrade\nbadsec 2 1\n");
	free(t);
	assert_int_equal(quarantine_active_read(root, &back, &n), 0);
	assert_int_equal(n, 2);
	assert_true(back[0].degraded);
	assert_false(back[1].degraded);
	/* adding a degraded id again: the same generation leaves it as it is;
	 * a later one quarantines it whole */
	assert_int_equal(quarantine_active_add(&back, &n, "falco", 3, 1), 0);
	assert_true(back[0].degraded);
	assert_int_equal(quarantine_active_add(&back, &n, "falco", 4, 2), 1);
	assert_false(back[0].degraded);
	assert_int_equal(back[0].generation, 4);
	assert_int_equal(back[0].level, 2);
	assert_int_equal(quarantine_active_add(&back, &n, "badsec", 5, 2), 0);
	assert_int_equal(back[1].generation, 2);
	assert_int_equal(n, 2);
	free(back);
	back = NULL;
	put(QUARANTINE_ACTIVE_FILE, "falco 3 1 degrade\nbadsec 2 1 frobnicate\n");
	assert_int_equal(quarantine_active_read(root, &back, &n), 0);
	assert_int_equal(n, 2);
	assert_true(back[0].degraded);
	assert_false(back[1].degraded);

	assert_int_equal(quarantine_decided_write(root, 5), 0);
	assert_int_equal(report_build_event(root, REPORT_EVENT_MANUAL, &o), 0);
	a = get(o, "quarantined");
	assert_int_equal(json_object_array_length(a), 2);
	assert_string_equal(get_s(json_object_array_get_idx(a, 0), "component"), "falco");
	assert_true(json_object_get_boolean(get(json_object_array_get_idx(a, 0), "degraded")));
	assert_false(json_object_get_boolean(get(json_object_array_get_idx(a, 1), "degraded")));
	assert_int_equal(metrics_format(o, 0, &(struct metrics_kept){0}, &t), 0);
	assert_non_null(strstr(t, "\nlifeline_degraded{component=\"falco\"} 1\n"));
	assert_null(strstr(t, "lifeline_degraded{component=\"badsec\"}"));
	assert_non_null(strstr(t, "\nlifeline_quarantined{component=\"falco\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_quarantined{component=\"badsec\"} 1\n"));
	free(t);
	json_object_put(o);
}

static void test_report_ids_are_unique(void **state)
{
	json_object *a, *b;

	(void)state;
	assert_int_equal(report_build_event(root, REPORT_EVENT_HEARTBEAT, &a), 0);
	assert_int_equal(report_build_event(root, REPORT_EVENT_HEARTBEAT, &b), 0);
	assert_string_equal(get_s(a, "event"), "heartbeat");
	assert_string_not_equal(get_s(a, "id"), get_s(b, "id"));
	json_object_put(a);
	json_object_put(b);
}

static void test_unreadable_record_is_reported_not_an_error(void **state)
{
	json_object *o;
	int fd;

	(void)state;
	reset_var();
	fd = open(var_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x07\0\0\0LFLSjunkjunk", 16), 16);
	close(fd);
	assert_int_equal(report_build(root, &o), 0);
	assert_non_null(strstr(get_s(o, "state.error"), ""));
	assert_true(strlen(get_s(o, "state.error")) > 0);
	assert_false(json_object_object_get_ex(get(o, "state"), "mode", NULL));
	assert_string_equal(report_mode(o), "unreadable");
	/* the rest of the report is still there */
	assert_string_equal(get_s(o, "machine.machine_id"), MACHINE_ID);
	assert_int_equal(json_object_array_length(get(o, "quarantined")), 2);
	json_object_put(o);
}

static void test_fresh_machine_reports_a_new_record(void **state)
{
	json_object *o;
	char p[4096];

	(void)state;
	reset_var();
	snprintf(p, sizeof(p), "%s%s", root, RUNSTATE_FILE);
	unlink(p);
	snprintf(p, sizeof(p), "%s/etc/machine-id", root);
	unlink(p);
	assert_int_equal(report_build(root, &o), 0);
	assert_false(json_object_get_boolean(get(o, "state.record")));
	assert_string_equal(get_s(o, "state.mode"), "normal");
	assert_null(get(o, "state.last_good"));
	assert_null(get(o, "this_boot"));
	assert_null(get(o, "machine.machine_id"));
	json_object_put(o);
}

static bool has(char **l, const char *s)
{
	return strv_contains(l, s);
}

static void test_journal_fields_carry_the_fixed_message_id(void **state)
{
	json_object *o;
	char **f = NULL;

	(void)state;
	assert_int_equal(report_build_event(root, REPORT_EVENT_MODE_CHANGE, &o), 0);
	assert_int_equal(report_journal_fields(o, &f), 0);
	assert_true(has(f, "MESSAGE_ID=191d7f57a0ed413fb491d5f5aac3102b"));
	assert_true(has(f, "LIFELINE_EVENT=mode-change"));
	assert_true(has(f, "LIFELINE_MODE=safe"));
	assert_true(has(f, "LIFELINE_LEVEL=1"));
	assert_true(has(f, "LIFELINE_FAILURES=5"));
	assert_true(has(f, "LIFELINE_BOOT_SEQ=17"));
	assert_true(has(f, "LIFELINE_QUARANTINED=badsec newsec"));
	assert_true(has(f, "PRIORITY=4"));
	assert_true(strncmp(f[0], "MESSAGE=lifeline mode-change report: mode safe, level 1", 55) ==
	            0);
	strv_free(f);
	json_object_put(o);
}

/* A boot a check.d script holds back is reported with the check's words,
 * loudly, even in normal mode. */
static void test_unblessed_boot_is_reported_with_the_checks_output(void **state)
{
	struct lifeline_config cfg;
	char **names = NULL, p[4096], *t = NULL, **f = NULL;
	json_object *o;

	(void)state;
	save_record(STATE_MODE_NORMAL, 0, 1);
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);
	assert_int_equal(report_unblessed(root, &cfg, "check 10-net exited 3: no route"), 0);
	assert_int_equal(spool_list(root, &names), 0);
	assert_int_equal(strv_length(names), 1);
	snprintf(p, sizeof(p), "%s%s/%s", root, SPOOL_DIR, names[0]);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	o = json_tokener_parse(t);
	assert_non_null(o);
	assert_string_equal(get_s(o, "event"), "unblessed");
	assert_string_equal(get_s(o, "unblessed.reason"), "check 10-net exited 3: no route");
	assert_int_equal(report_journal_fields(o, &f), 0);
	assert_true(has(f, "MESSAGE=lifeline: boot not blessed: check 10-net exited 3: no route"));
	assert_true(has(f, "LIFELINE_UNBLESSED=check 10-net exited 3: no route"));
	assert_true(has(f, "LIFELINE_EVENT=unblessed"));
	assert_true(has(f, "PRIORITY=4"));
	strv_free(f);
	json_object_put(o);
	free(t);
	strv_free(names);
	config_done(&cfg);
}

static void test_metrics_file_has_the_counters(void **state)
{
	json_object *o;
	char p[4096], *t = NULL;
	struct stat st;

	(void)state;
	assert_int_equal(report_build_event(root, REPORT_EVENT_MANUAL, &o), 0);
	assert_int_equal(metrics_write(root, NULL, o, 3), 0);
	snprintf(p, sizeof(p), "%s%s", root, METRICS_FILE);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_non_null(strstr(t, "\nlifeline_failures 5\n"));
	assert_non_null(strstr(t, "\nlifeline_level 1\n"));
	assert_non_null(strstr(t, "\nlifeline_boot_seq 17\n"));
	assert_non_null(strstr(t, "\nlifeline_mode{mode=\"safe\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_mode{mode=\"normal\"} 0\n"));
	assert_non_null(strstr(t, "\nlifeline_quarantined{component=\"badsec\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_quarantined{component=\"newsec\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_reports_spooled 3\n"));
	assert_non_null(strstr(t, "# TYPE lifeline_failures gauge\n"));
	assert_non_null(strstr(t, "\nlifeline_build_info{version=\"" LIFELINE_VERSION "\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_next_boot_mode{mode=\"safe\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_reboot_required 0\n"));
	assert_non_null(strstr(t, "\nlifeline_last_bless_timestamp_seconds 1700000000\n"));
	assert_non_null(strstr(t, "\nlifeline_command_seq 0\n"));
	free(t);
	json_object_put(o);

	/* after a flush only the spool count changes */
	assert_int_equal(metrics_update_spooled(root, NULL, 0, 0), 0);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_reports_spooled 0\n"));
	assert_non_null(strstr(t, "\nlifeline_failures 5\n"));
	free(t);

	/* label values are escaped */
	o = json_tokener_parse("{\"state\":{\"mode\":\"normal\",\"failures\":0},\"quarantined\":"
	                       "[{\"component\":\"a\\\"b\\\\c\\nd\"}]}");
	assert_int_equal(metrics_format(o, 0, &(struct metrics_kept){0}, &t), 0);
	assert_non_null(strstr(t, "lifeline_quarantined{component=\"a\\\"b\\\\c\\nd\"} 1\n"));
	free(t);
	json_object_put(o);

	/* cleared while in safe mode: this boot stays safe, the next is
	 * normal, a reboot is required */
	save_record(STATE_MODE_NORMAL, 0, 0);
	assert_int_equal(report_build_event(root, REPORT_EVENT_MANUAL, &o), 0);
	assert_int_equal(metrics_write(root, NULL, o, 0), 0);
	json_object_put(o);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_mode{mode=\"safe\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_mode{mode=\"normal\"} 0\n"));
	assert_non_null(strstr(t, "\nlifeline_next_boot_mode{mode=\"normal\"} 1\n"));
	assert_non_null(strstr(t, "\nlifeline_next_boot_mode{mode=\"safe\"} 0\n"));
	assert_non_null(strstr(t, "\nlifeline_reboot_required 1\n"));
	free(t);

	/* an applied fleet command's seq, kept by the reports after it */
	o = json_tokener_parse("{\"state\":{\"mode\":\"normal\",\"failures\":0},\"command\":"
	                       "{\"result\":\"accepted\",\"seq\":7,\"applied\":true}}");
	assert_int_equal(metrics_write(root, NULL, o, 0), 0);
	json_object_put(o);
	assert_int_equal(report_build_event(root, REPORT_EVENT_HEARTBEAT, &o), 0);
	assert_int_equal(metrics_write(root, NULL, o, 0), 0);
	json_object_put(o);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_command_seq 7\n"));
	assert_non_null(strstr(t, "\nlifeline_command_rejected_timestamp_seconds 0\n"));
	free(t);

	/* a rejected command's time, kept by the reports after it (an
	 * accepted command's too), the seq left as it was */
	o = json_tokener_parse("{\"state\":{\"mode\":\"normal\",\"failures\":0},\"time\":1234,"
	                       "\"command\":{\"result\":\"rejected\",\"seq\":9}}");
	assert_int_equal(metrics_write(root, NULL, o, 0), 0);
	json_object_put(o);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_command_rejected_timestamp_seconds 1234\n"));
	assert_non_null(strstr(t, "\nlifeline_command_seq 7\n"));
	free(t);
	assert_int_equal(report_build_event(root, REPORT_EVENT_HEARTBEAT, &o), 0);
	assert_int_equal(metrics_write(root, NULL, o, 0), 0);
	json_object_put(o);
	o = json_tokener_parse("{\"state\":{\"mode\":\"normal\",\"failures\":0},\"time\":1300,"
	                       "\"command\":{\"result\":\"accepted\",\"seq\":8}}");
	assert_int_equal(metrics_write(root, NULL, o, 0), 0);
	json_object_put(o);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_command_rejected_timestamp_seconds 1234\n"));
	assert_non_null(strstr(t, "\nlifeline_command_seq 8\n"));
	free(t);

	/* another textfile directory */
	assert_int_equal(report_build_event(root, REPORT_EVENT_MANUAL, &o), 0);
	assert_int_equal(metrics_write(root, "/srv/metrics", o, 0), 0);
	json_object_put(o);
	snprintf(p, sizeof(p), "%s/srv/metrics/lifeline.prom", root);
	assert_int_equal(access(p, F_OK), 0);
}

static char **spooled_events(void)
{
	char **names = NULL, **events = NULL, p[4096], *t;

	assert_int_equal(spool_list(root, &names), 0);
	STRV_FOREACH (n, names) {
		json_object *o;

		snprintf(p, sizeof(p), "%s%s/%s", root, SPOOL_DIR, *n);
		assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
		o = json_tokener_parse(t);
		assert_non_null(o);
		assert_int_equal(strv_extend(&events, get_s(o, "event")), 0);
		json_object_put(o);
		free(t);
	}
	strv_free(names);
	if (!events)
		events = calloc(1, sizeof(char *));
	return events;
}

static void clear_spool(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s%s'", root, SPOOL_DIR);
	assert_int_equal(system(cmd), 0);
}

static void test_daemon_reports_mode_changes_and_safe_mode_starts(void **state)
{
	struct lifeline_config cfg;
	struct daemon_state ds = {0};
	char **ev;

	(void)state;
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);

	/* first start, in safe mode: a mode change (none reported before);
	 * the start's flush finds nobody on port 9 and backs off */
	assert_int_equal(daemon_reports(&ds, root, &cfg, DAEMON_JOB_START, 1000), -ECONNREFUSED);
	assert_int_equal(ds.backoff.failures, 1);
	ev = spooled_events();
	assert_int_equal(strv_length(ev), 1);
	assert_string_equal(ev[0], "mode-change");
	strv_free(ev);
	clear_spool();

	/* restarted, still safe: a start report, sent whatever the back-off */
	memset(&ds, 0, sizeof(ds));
	assert_int_equal(daemon_reports(&ds, root, &cfg, DAEMON_JOB_START, 1000), -ECONNREFUSED);
	ev = spooled_events();
	assert_int_equal(strv_length(ev), 1);
	assert_string_equal(ev[0], "start");
	strv_free(ev);
	clear_spool();

	/* a flush alone within the back-off: nothing tried, nothing spooled */
	assert_int_equal(daemon_reports(&ds, root, &cfg, 0, 1001), -EAGAIN);
	ev = spooled_events();
	assert_int_equal(strv_length(ev), 0);
	strv_free(ev);
	/* the heartbeat is spooled; its flush waits for the back-off */
	assert_int_equal(daemon_reports(&ds, root, &cfg, DAEMON_JOB_HEARTBEAT, 1002), -EAGAIN);
	ev = spooled_events();
	assert_int_equal(strv_length(ev), 1);
	assert_string_equal(ev[0], "heartbeat");
	strv_free(ev);
	/* forced (the network came up): tried at once, fails again */
	assert_int_equal(daemon_reports(&ds, root, &cfg, DAEMON_JOB_FORCE, 1003), -ECONNREFUSED);
	assert_int_equal(ds.backoff.failures, 2);
	clear_spool();

	/* the quarantine was cleared meanwhile: the next heartbeat is a mode change */
	save_record(STATE_MODE_NORMAL, 0, 0);
	(void)daemon_reports(&ds, root, &cfg, DAEMON_JOB_HEARTBEAT, 1120);
	ev = spooled_events();
	assert_int_equal(strv_length(ev), 1);
	assert_string_equal(ev[0], "mode-change");
	strv_free(ev);
	clear_spool();

	/* restarted in normal mode, no change: no start report */
	memset(&ds, 0, sizeof(ds));
	(void)daemon_reports(&ds, root, &cfg, DAEMON_JOB_START, 2000);
	ev = spooled_events();
	assert_int_equal(strv_length(ev), 0);
	strv_free(ev);

	/* the metrics file follows each report */
	{
		char p[4096], *t = NULL;
		snprintf(p, sizeof(p), "%s%s", root, METRICS_FILE);
		assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
		/* the record says normal; this boot (the hand-off) is still
		 * in safe mode until a reboot */
		assert_non_null(strstr(t, "lifeline_next_boot_mode{mode=\"normal\"} 1\n"));
		assert_non_null(strstr(t, "lifeline_mode{mode=\"safe\"} 1\n"));
		assert_non_null(strstr(t, "lifeline_reboot_required 1\n"));
		free(t);
	}
	config_done(&cfg);
}

/* A start in normal mode makes no report, yet the metrics file is
 * rewritten: it must not keep what the previous boot left. */
static void test_daemon_start_in_normal_mode_refreshes_the_metrics(void **state)
{
	struct lifeline_config cfg;
	struct daemon_state ds = {0};
	char p[4096], *t = NULL;
	char **ev;

	(void)state;
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);
	save_record(STATE_MODE_NORMAL, 0, 0);
	put(METRICS_FILE, "lifeline_up 1\nlifeline_failures 3\nlifeline_command_seq 6\n");
	(void)daemon_reports(&ds, root, &cfg, DAEMON_JOB_START, 1000);
	ev = spooled_events();
	assert_int_equal(strv_length(ev), 0);
	strv_free(ev);
	snprintf(p, sizeof(p), "%s%s", root, METRICS_FILE);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_failures 0\n"));
	assert_non_null(strstr(t, "\nlifeline_command_seq 6\n"));
	free(t);
	config_done(&cfg);
}

static void test_no_url_means_journal_and_metrics_only(void **state)
{
	struct lifeline_config cfg;
	json_object *o;
	unsigned n = 99;
	char p[4096];

	(void)state;
	config_init_defaults(&cfg);
	assert_int_equal(report_build_event(root, REPORT_EVENT_MANUAL, &o), 0);
	assert_int_equal(report_emit(root, &cfg, o), 0);
	assert_int_equal(spool_count(root, &n, NULL), 0);
	assert_int_equal(n, 0);
	snprintf(p, sizeof(p), "%s%s", root, METRICS_FILE);
	assert_int_equal(access(p, F_OK), 0);
	json_object_put(o);
	config_done(&cfg);
}

/* [report] metrics_dir: the metrics file lands there (under the root),
 * not in the default directory. */
static void test_metrics_land_in_the_configured_directory(void **state)
{
	struct lifeline_config cfg;
	json_object *o;
	char p[4096], *t = NULL;

	(void)state;
	put("/etc/lifeline/lifeline.conf", "[report]\nmetrics_dir = /srv/textfile\n");
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);
	assert_string_equal(cfg.report_metrics_dir, "/srv/textfile");
	assert_int_equal(report_build_event(root, REPORT_EVENT_MANUAL, &o), 0);
	assert_int_equal(report_emit(root, &cfg, o), 0);
	snprintf(p, sizeof(p), "%s/srv/textfile/%s", root, METRICS_NAME);
	assert_int_equal(read_full_file(p, 1 << 20, &t, NULL), 0);
	assert_non_null(strstr(t, "\nlifeline_failures 5\n"));
	free(t);
	snprintf(p, sizeof(p), "%s%s", root, METRICS_FILE);
	assert_int_equal(access(p, F_OK), -1);
	json_object_put(o);
	config_done(&cfg);
}

/* The crash-loop guard: the decision is on disk, in the spool's highest
 * class, before any file moves; it is valid JSON even with raw pstore
 * bytes in the evidence; it makes room by dropping heartbeats only. */
static void test_decision_is_spooled_before_quarantine(void **state)
{
	struct lifeline_config cfg;
	struct runstate rs;
	char *path = NULL, *t = NULL, **ev;
	json_object *o, *q;
	uint64_t bytes = 0;
	unsigned n = 0;

	(void)state;
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);
	runstate_init(&rs);
	rs.boot_seq = 18;
	rs.failures = 4;
	rs.level = 1;
	rs.generation = 3;
	rs.mode = strdup("safe");
	rs.store = strdup("efi");
	rs.action = strdup("escalate");
	rs.reason = strdup("4 consecutive \"failed\" boots");
	assert_int_equal(strv_extend(&rs.evidence, "RIP: badsec_mod+0x42 \xff\xfe\tend"), 0);
	assert_int_equal(strv_extend(&rs.quarantine, "badsec"), 0);

	assert_int_equal(report_spool_decision(root, &cfg, &rs, &path), 1);
	assert_non_null(path);
	assert_int_equal(read_full_file(path, 1 << 20, &t, NULL), 0);
	{
		json_tokener *tok = json_tokener_new();

		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		o = json_tokener_parse_ex(tok, t, (int)strlen(t));
		assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
		json_tokener_free(tok);
	}
	assert_non_null(o);
	assert_string_equal(get_s(o, "event"), "mode-change");
	assert_int_equal(spool_class_of(o), SPOOL_CLASS_MODE_CHANGE);
	assert_string_equal(get_s(o, "decision.phase"), "before-quarantine");
	q = get(o, "decision.quarantine");
	assert_int_equal(json_object_array_length(q), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(q, 0)), "badsec");
	assert_string_equal(get_s(o, "machine.machine_id"), MACHINE_ID);
	{
		/* the hostname found as report.c finds it */
		char host[256] = "";

		gethostname(host, sizeof(host) - 1);
		assert_string_equal(get_s(o, "machine.hostname"), host);
	}
	assert_string_equal(get_s(o, "this_boot.reason"), "4 consecutive \"failed\" boots");
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(get(o, "this_boot.evidence"), 0)),
	    "RIP: badsec_mod+0x42 \xef\xbf\xbd\xef\xbf\xbd\tend");
	assert_int_equal(get_i(o, "state.level"), 1);
	assert_int_equal(strlen(get_s(o, "id")), 32);
	assert_string_equal(report_mode(o), "safe");
	json_object_put(o);
	free(t);
	free(path);
	/* the spool (and so spool_flush) sees it as one of its own */
	assert_int_equal(spool_count(root, &n, NULL), 0);
	assert_int_equal(n, 1);
	clear_spool();

	/* a full spool: heartbeats make room, oldest first... */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(report_build_config(root, &cfg, REPORT_EVENT_HEARTBEAT, &o), 0);
		assert_int_equal(spool_add(root, cfg.report_spool_max, o, NULL), 0);
		json_object_put(o);
	}
	assert_int_equal(spool_count(root, &n, &bytes), 0);
	cfg.report_spool_max = bytes + 10; /* full: the decision needs room */
	assert_int_equal(report_spool_decision(root, &cfg, &rs, NULL), 1);
	ev = spooled_events();
	assert_true(strv_length(ev) >= 2 && strv_length(ev) < 4); /* the oldest heartbeat(s) went */
	assert_true(strv_contains(ev, "mode-change"));
	assert_true(strv_contains(ev, "heartbeat"));
	strv_free(ev);
	assert_int_equal(spool_count(root, &n, &bytes), 0);
	assert_true(bytes <= cfg.report_spool_max);
	cfg.report_spool_max = 1 << 20;
	/* ...but a spool of nothing but mode changes is not touched */
	clear_spool();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(report_build_config(root, &cfg, REPORT_EVENT_MODE_CHANGE, &o), 0);
		assert_int_equal(spool_add(root, cfg.report_spool_max, o, NULL), 0);
		json_object_put(o);
	}
	assert_int_equal(spool_count(root, &n, &bytes), 0);
	cfg.report_spool_max = bytes + 10;
	assert_int_equal(report_spool_decision(root, &cfg, &rs, NULL), -ENOSPC);
	assert_int_equal(spool_count(root, &n, NULL), 0);
	assert_int_equal(n, 3);
	clear_spool();

	/* no collector configured: nothing to spool */
	free(cfg.report_url);
	cfg.report_url = NULL;
	assert_int_equal(report_spool_decision(root, &cfg, &rs, &path), 0);
	assert_null(path);
	runstate_done(&rs);
	config_done(&cfg);
}

/* The decision report follows the spool's naming, with its "never below
 * the newest name" rule: with the clock set back (a report spooled
 * "later" than now is in the spool), it still sorts after every report
 * already there, so it is sent after them and dropped last. */
static void test_decision_report_sorts_after_the_newest_with_the_clock_set_back(void **state)
{
	struct lifeline_config cfg;
	struct runstate rs;
	char future[SPOOL_NAME_LEN + 1], p[8192], *path = NULL, **names = NULL;
	struct timespec ts;
	unsigned long long us;

	(void)state;
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);
	runstate_init(&rs);
	rs.mode = strdup("safe");
	rs.action = strdup("escalate");
	assert_int_equal(strv_extend(&rs.quarantine, "badsec"), 0);

	/* a report made a day "after" now: the clock went back since */
	clock_gettime(CLOCK_REALTIME, &ts);
	us = (unsigned long long)ts.tv_sec * 1000000ULL + 86400ULL * 1000000ULL;
	snprintf(future, sizeof(future), "%016llu-%s.json", us, "0123456789abcdef0123456789abcdef");
	snprintf(p, sizeof(p), "%s%s", root, SPOOL_DIR);
	assert_int_equal(mkdir_p(p, 0700), 0);
	snprintf(p, sizeof(p), "%s%s/%s", root, SPOOL_DIR, future);
	assert_int_equal(write_file_atomic(p, "{\"event\":\"start\"}\n", 19, 0600), 0);

	assert_int_equal(report_spool_decision(root, &cfg, &rs, &path), 1);
	assert_int_equal(spool_list(root, &names), 0);
	assert_int_equal(strv_length(names), 2);
	assert_string_equal(names[0], future);
	assert_true(strcmp(names[1], future) > 0);
	assert_non_null(strstr(path, names[1]));
	assert_int_equal(strtoull(names[1], NULL, 10), us + 1);
	strv_free(names);
	free(path);
	runstate_done(&rs);
	config_done(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_report_has_machine_state_this_boot_and_quarantine,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_ids_are_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_degraded_component_in_the_report_and_metrics,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_record_is_reported_not_an_error, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_fresh_machine_reports_a_new_record, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_journal_fields_carry_the_fixed_message_id, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_file_has_the_counters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_reports_mode_changes_and_safe_mode_starts,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_url_means_journal_and_metrics_only, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_decision_report_sorts_after_the_newest_with_the_clock_set_back, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_start_in_normal_mode_refreshes_the_metrics,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_land_in_the_configured_directory, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_decision_is_spooled_before_quarantine, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unblessed_boot_is_reported_with_the_checks_output,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
