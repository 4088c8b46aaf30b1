/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The report spool against a real HTTP collector on loopback
 * (tests/collector.py, started and stopped by each test): bounded size,
 * oldest heartbeat dropped first, reports surviving a killed agent,
 * back-off on an unreachable collector, a 500 then a 200.
 */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conf/config.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "tests/util/testutil.h"

static char root[1024], recv_dir[2048];
static pid_t collector_pid = -1;
static int collector_port;

/* ---- collector ---- */

static void collector_start(const char *extra)
{
	char words[512];

	/* make_report()'s documents are spool fixtures, not reports */
	snprintf(words, sizeof(words), "--no-schema %s", extra ? extra : "");
	snprintf(recv_dir, sizeof(recv_dir), "%s/received", root);
	tu_collector_start(&collector_pid, &collector_port, recv_dir, 60, words);
}

static void collector_stop(void)
{
	tu_stop(&collector_pid);
}

/* The "id" of the n-th (1-based) report the collector stored. */
static char *received_id(int n)
{
	char p[8192];
	char *t, *id;
	json_object *o, *v;

	snprintf(p, sizeof(p), "%s/%04d.json", recv_dir, n);
	t = tu_slurp(p);
	if (!t)
		return NULL;
	o = json_tokener_parse(t);
	free(t);
	if (!o || !json_object_object_get_ex(o, "id", &v)) {
		json_object_put(o);
		return NULL;
	}
	id = strdup(json_object_get_string(v));
	json_object_put(o);
	return id;
}

/* ---- fixtures ---- */

static json_object *make_report(const char *event, const char *id, size_t pad)
{
	json_object *o = json_object_new_object();
	char *p = calloc(1, pad + 1);

	memset(p, 'x', pad);
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "pad", json_object_new_string(p));
	free(p);
	return o;
}

static void add(const char *event, const char *id, size_t pad, uint64_t max)
{
	json_object *o = make_report(event, id, pad);

	assert_int_equal(spool_add(root, max, o, NULL), 0);
	json_object_put(o);
	usleep(2000); /* distinct microsecond names, in order */
}

static char **listing(void)
{
	char **names = NULL;

	assert_int_equal(spool_list(root, &names), 0);
	return names;
}

static bool listing_has_id(char **names, const char *id)
{
	STRV_FOREACH (n, names)
		if (strstr(*n, id))
			return true;
	return false;
}

static void config_for(struct lifeline_config *c, int port)
{
	char url[256];

	config_init_defaults(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/report", port);
	c->report_url = strdup(url);
}

static int setup(void **state)
{

	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "spool-") < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[8192];

	(void)state;
	collector_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

#define ID(n) "0000000000000000000000000000000" #n

/* A port nobody listens on: bound, then closed. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* ---- tests ---- */

static void test_add_writes_time_id_json_files_oldest_first(void **state)
{
	char **names, p[8192], *t;

	(void)state;
	add("heartbeat", ID(1), 10, 1 << 20);
	add("mode-change", ID(2), 10, 1 << 20);
	names = listing();
	assert_int_equal(strv_length(names), 2);
	/* <16-digit microseconds>-<32 hex id>.json */
	assert_int_equal(strlen(names[0]), 16 + 1 + 32 + 5);
	assert_non_null(strstr(names[0], "-" ID(1) ".json"));
	assert_non_null(strstr(names[1], "-" ID(2) ".json"));
	snprintf(p, sizeof(p), "%s%s/%s", root, SPOOL_DIR, names[0]);
	t = tu_slurp(p);
	assert_non_null(t);
	assert_non_null(strstr(t, "\"event\":\"heartbeat\""));
	free(t);
	strv_free(names);
}

static void test_bounded_drops_oldest_heartbeat_keeps_mode_change(void **state)
{
	char **names;
	uint64_t bytes = 0;
	unsigned n = 0;
	/* each report is about 1100 bytes: room for four */
	const uint64_t max = 4700;

	(void)state;
	add("mode-change", ID(1), 1000, max);
	add("heartbeat", ID(2), 1000, max);
	add("heartbeat", ID(3), 1000, max);
	add("command", ID(4), 1000, max);
	assert_int_equal(spool_count(root, &n, &bytes), 0);
	assert_int_equal(n, 4);
	assert_true(bytes <= max);

	/* the fifth pushes out the oldest heartbeat, not the older mode change */
	add("heartbeat", ID(5), 1000, max);
	names = listing();
	assert_int_equal(strv_length(names), 4);
	assert_true(listing_has_id(names, ID(1)));
	assert_false(listing_has_id(names, ID(2)));
	assert_true(listing_has_id(names, ID(3)));
	strv_free(names);

	/* then the next oldest heartbeat, still not the mode change or the
	 * command report */
	add("mode-change", ID(6), 1000, max);
	names = listing();
	assert_true(listing_has_id(names, ID(1)));
	assert_false(listing_has_id(names, ID(3)));
	assert_true(listing_has_id(names, ID(4)));
	assert_true(listing_has_id(names, ID(5)));
	assert_true(listing_has_id(names, ID(6)));
	strv_free(names);
	assert_int_equal(spool_count(root, &n, &bytes), 0);
	assert_true(bytes <= max);

	/* a report larger than the whole spool is refused, nothing dropped */
	{
		json_object *o = make_report("heartbeat", ID(7), 6000);
		assert_int_equal(spool_add(root, max, o, NULL), -EFBIG);
		json_object_put(o);
	}
	assert_int_equal(spool_count(root, &n, NULL), 0);
	assert_int_equal(n, 4);
}

static void test_full_of_mode_changes_refuses_a_heartbeat(void **state)
{
	json_object *o;
	char **names;
	const uint64_t max = 3500;

	(void)state;
	add("mode-change", ID(1), 1000, max);
	add("mode-change", ID(2), 1000, max);
	add("command", ID(3), 1000, max);
	/* a heartbeat may not push out a command or a mode change */
	o = make_report("heartbeat", ID(4), 1000);
	assert_int_equal(spool_add(root, max, o, NULL), -ENOSPC);
	json_object_put(o);
	/* a command report may push out the older command report only */
	add("command", ID(5), 1000, max);
	names = listing();
	assert_int_equal(strv_length(names), 3);
	assert_true(listing_has_id(names, ID(1)));
	assert_true(listing_has_id(names, ID(2)));
	assert_false(listing_has_id(names, ID(3)));
	strv_free(names);
	/* a mode change pushes out the command report, then the oldest mode change */
	add("mode-change", ID(6), 1000, max);
	add("mode-change", ID(7), 1000, max);
	names = listing();
	assert_int_equal(strv_length(names), 3);
	assert_false(listing_has_id(names, ID(1)));
	assert_true(listing_has_id(names, ID(2)));
	assert_false(listing_has_id(names, ID(5)));
	assert_true(listing_has_id(names, ID(6)));
	assert_true(listing_has_id(names, ID(7)));
	strv_free(names);
}

static void test_reports_survive_killed_agent_and_next_flush_sends_them(void **state)
{
	struct lifeline_config cfg;
	struct spool_backoff b = {0};
	unsigned sent = 0;
	pid_t pid;
	int st;

	(void)state;
	/* The "agent" spools three reports and is killed before it sends. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		add("mode-change", ID(1), 100, 1 << 20);
		add("heartbeat", ID(2), 100, 1 << 20);
		add("command", ID(3), 100, 1 << 20);
		kill(getpid(), SIGKILL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	{
		char **names = listing();
		assert_int_equal(strv_length(names), 3);
		strv_free(names);
	}

	collector_start(NULL);
	config_for(&cfg, collector_port);

	/* A second agent is killed after the collector took the first report
	 * but before it deleted the file: nothing is lost, that one is sent
	 * again (at least once; the collector dedups by id). */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LIFELINE_FAULT", "spool-sent-before-unlink", 1);
		(void)spool_flush(root, &cfg, &b, 0, false, NULL, NULL, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 99);
	{
		char **names = listing();
		assert_int_equal(strv_length(names), 3);
		strv_free(names);
	}

	assert_int_equal(spool_flush(root, &cfg, &b, 0, false, NULL, NULL, &sent), 0);
	assert_int_equal(sent, 3);
	{
		char **names = listing();
		assert_int_equal(strv_length(names), 0);
		strv_free(names);
	}
	/* oldest first: 1 (interrupted), then 1, 2, 3 */
	assert_int_equal(tu_count_files(recv_dir, ".json"), 4);
	for (int i = 1; i <= 4; i++) {
		static const char *const want[] = {ID(1), ID(1), ID(2), ID(3)};
		char *id = received_id(i);
		assert_non_null(id);
		assert_string_equal(id, want[i - 1]);
		free(id);
	}
	assert_int_equal(b.failures, 0);
	config_done(&cfg);
}

static void test_unreachable_collector_backs_off_and_keeps_files(void **state)
{
	struct lifeline_config cfg;
	struct spool_backoff b = {0};
	uint64_t now = 1000, prev = 0;
	unsigned sent = 99;

	(void)state;
	add("heartbeat", ID(1), 10, 1 << 20);
	add("heartbeat", ID(2), 10, 1 << 20);
	config_for(&cfg, closed_port());

	assert_int_equal(spool_flush(root, &cfg, &b, now, false, NULL, NULL, &sent), -ECONNREFUSED);
	assert_int_equal(sent, 0);
	assert_int_equal(b.failures, 1);
	assert_true(b.delay >= 23 && b.delay <= 30);
	assert_int_equal(b.next_attempt, now + b.delay);
	assert_true(b.last_error[0] != 0);

	/* before the back-off ends nothing is tried */
	assert_int_equal(spool_flush(root, &cfg, &b, now + b.delay - 1, false, NULL, NULL, NULL),
	                 -EAGAIN);
	assert_int_equal(b.failures, 1);

	/* each failure at least doubles the wait (minus jitter), up to an hour */
	for (int i = 2; i <= 12; i++) {
		now = b.next_attempt;
		prev = b.delay;
		assert_int_equal(spool_flush(root, &cfg, &b, now, false, NULL, NULL, NULL),
		                 -ECONNREFUSED);
		assert_int_equal(b.failures, (unsigned)i);
		if (prev < 2700)
			assert_true(b.delay > prev);
		assert_true(b.delay <= SPOOL_BACKOFF_MAX);
		assert_true(b.delay >= SPOOL_BACKOFF_MAX * 3 / 4 || i < 8);
	}
	assert_int_equal(b.delay >= 2700 && b.delay <= 3600, 1);

	/* files kept through it all */
	{
		char **names = listing();
		assert_int_equal(strv_length(names), 2);
		strv_free(names);
	}
	/* force (lifelinectl report) ignores the back-off */
	assert_int_equal(spool_flush(root, &cfg, &b, now, true, NULL, NULL, NULL), -ECONNREFUSED);
	config_done(&cfg);
}

static void test_collector_500_then_200_sends_once_then_deletes(void **state)
{
	struct lifeline_config cfg;
	struct spool_backoff b = {0};
	char p[8192], *log;
	unsigned sent = 0;

	(void)state;
	add("mode-change", ID(1), 10, 1 << 20);
	add("heartbeat", ID(2), 10, 1 << 20);
	collector_start("--fail 1");
	config_for(&cfg, collector_port);

	assert_int_equal(spool_flush(root, &cfg, &b, 100, false, NULL, NULL, &sent), -EPROTO);
	assert_int_equal(sent, 0);
	assert_int_equal(b.last_status, 500);
	assert_non_null(strstr(b.last_error, "500"));
	assert_int_equal(tu_count_files(recv_dir, ".json"), 0);
	{
		char **names = listing();
		assert_int_equal(strv_length(names), 2);
		strv_free(names);
	}

	assert_int_equal(spool_flush(root, &cfg, &b, b.next_attempt, false, NULL, NULL, &sent), 0);
	assert_int_equal(sent, 2);
	assert_int_equal(b.failures, 0);
	{
		char **names = listing();
		assert_int_equal(strv_length(names), 0);
		strv_free(names);
	}
	/* each delivered exactly once, in order */
	assert_int_equal(tu_count_files(recv_dir, ".json"), 2);
	{
		char *id1 = received_id(1), *id2 = received_id(2);
		assert_string_equal(id1, ID(1));
		assert_string_equal(id2, ID(2));
		free(id1);
		free(id2);
	}
	/* the collector logs a request after answering it: the last line
	 * may come a moment after spool_flush() returned */
	snprintf(p, sizeof(p), "%s/requests.log", recv_dir);
	for (int i = 0;; i++) {
		size_t lines = 0;

		log = tu_slurp(p);
		assert_non_null(log);
		for (const char *c = log; *c; c++)
			lines += *c == '\n';
		if (lines >= 3 || i >= 100)
			break;
		free(log);
		usleep(50000);
	}
	assert_string_equal(log, "POST /report 500\nPOST /report 200\nPOST /report 200\n");
	free(log);

	/* an empty spool flushes to nothing */
	assert_int_equal(spool_flush(root, &cfg, &b, 0, false, NULL, NULL, &sent), 0);
	assert_int_equal(sent, 0);
	config_done(&cfg);
}

static void test_no_url_sends_nothing(void **state)
{
	struct lifeline_config cfg;
	struct spool_backoff b = {0};
	unsigned n = 0;

	(void)state;
	config_init_defaults(&cfg);
	add("heartbeat", ID(1), 10, 1 << 20);
	assert_int_equal(spool_flush(root, &cfg, &b, 0, false, NULL, NULL, NULL), 0);
	assert_int_equal(spool_count(root, &n, NULL), 0);
	assert_int_equal(n, 1);
	config_done(&cfg);
}

static void test_urls_plain_http_only_to_loopback(void **state)
{
	struct spool_http h = {0};
	long status = 0;

	(void)state;
	assert_true(spool_url_is_loopback("http://127.0.0.1:8080/x"));
	assert_true(spool_url_is_loopback("http://127.3.4.5/"));
	assert_true(spool_url_is_loopback("http://localhost/"));
	assert_true(spool_url_is_loopback("http://[::1]:99/"));
	assert_false(spool_url_is_loopback("http://127.0.0.1.example.com/"));
	assert_false(spool_url_is_loopback("http://10.0.0.1/"));
	assert_false(spool_url_is_loopback("http://user@127.0.0.1/"));
	assert_false(spool_url_is_loopback("ftp://127.0.0.1/"));
	/* refused before any connection is tried */
	assert_int_equal(spool_http_request(&h, "http://collector.invalid/r", "{}", 2, 0, &status,
	                                    NULL, NULL, NULL),
	                 -EPERM);
	assert_int_equal(
	    spool_http_request(&h, "ftp://127.0.0.1/r", "{}", 2, 0, &status, NULL, NULL, NULL),
	    -EPERM);
	assert_int_equal(
	    spool_http_request(&h, "file:///etc/passwd", NULL, 0, 100, &status, NULL, NULL, NULL),
	    -EPERM);
}

static void test_stale_temp_files_are_removed(void **state)
{
	char dir[4096], p[8192];
	struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	char **names;

	(void)state;
	snprintf(dir, sizeof(dir), "%s%s", root, SPOOL_DIR);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/0000000000000001-%s.json.tmp-4242", dir, ID(1));
	assert_int_equal(write_file_atomic(p, "{", 1, 0600), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	names = listing();
	assert_int_equal(strv_length(names), 0);
	strv_free(names);
	assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_writes_time_id_json_files_oldest_first, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_drops_oldest_heartbeat_keeps_mode_change,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_of_mode_changes_refuses_a_heartbeat, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reports_survive_killed_agent_and_next_flush_sends_them, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable_collector_backs_off_and_keeps_files,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_collector_500_then_200_sends_once_then_deletes,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_url_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_urls_plain_http_only_to_loopback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_temp_files_are_removed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
