/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifeline.conf: defaults, every key, and each kind of bad input, on real
 * files in a temp dir. Messages are checked too: they are what the admin
 * sees, and each must name the file, the line and the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conf/config.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

static char tmp_root[1024];
static char conf_path[PATH_MAX];

static int make_root(void **state)
{
	const char *base = getenv("LIFELINE_TEST_TMP");
	char dir[2048];

	(void)state;
	snprintf(tmp_root, sizeof(tmp_root), "%s/test-config.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmp_root))
		return -1;
	snprintf(dir, sizeof(dir), "%s/etc/lifeline", tmp_root);
	if (mkdir_p(dir, 0755) < 0)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/lifeline.conf", dir);
	return 0;
}

static int remove_root(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_conf(const char *text, size_t n)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

#define WRITE_CONF(s) write_conf((s), sizeof(s) - 1)

/* stderr of one call, where the log goes by default. */
struct capture {
	int saved;
	char path[PATH_MAX];
};

static void capture_start(struct capture *c)
{
	int fd;

	fflush(stderr);
	snprintf(c->path, sizeof(c->path), "%s/stderr.XXXXXX", tmp_root);
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static char *capture_end(struct capture *c)
{
	char *text = NULL;

	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	assert_int_equal(read_full_file(c->path, 1 << 20, &text, NULL), 0);
	unlink(c->path);
	fputs(text, stderr); /* keep it in the test log */
	return text;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void assert_defaults(const struct lifeline_config *c)
{
	assert_int_equal(c->threshold, 3);
	assert_int_equal(c->escalate_after, 2);
	assert_int_equal(c->max_level, 3);
	assert_int_equal(c->stable_after, 120);
	assert_int_equal(c->boot_watchdog, 600);
	assert_int_equal(c->panic_reboot, 10);
	assert_int_equal(c->store, CONFIG_STORE_AUTO);
	assert_true(c->count_clean_reboots);
	assert_true(c->repeat_crash);
	assert_null(c->state_file);
	assert_int_equal(strv_length(c->keep_units), 1);
	assert_string_equal(c->keep_units[0], "ssh.service");
	assert_int_equal(strv_length(c->allowed_failed_units), 0);
	assert_null(c->report_url);
	assert_null(c->report_ca_file);
	assert_null(c->report_client_cert);
	assert_null(c->report_client_key);
	assert_int_equal(c->report_heartbeat, 3600);
	assert_int_equal(c->report_spool_max, 1024 * 1024);
	assert_null(c->report_metrics_dir);
	assert_null(c->commands_url);
	assert_string_equal(c->commands_public_key, "/etc/lifeline/fleet.pub");
	assert_int_equal(c->commands_poll_interval, 300);
	assert_int_equal(c->quarantine_cache_max, 16 * 1024 * 1024);
}

static void test_missing_file_gives_defaults_and_returns_0(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	unlink(conf_path);
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), 0);
	log = capture_end(&cap);
	assert_string_equal(log, ""); /* nothing to tell the admin */
	assert_defaults(&c);
	config_done(&c);
}

static void test_shipped_default_config_loads_clean_and_equals_defaults(void **state)
{
	struct lifeline_config c;

	(void)state;
	config_init_defaults(&c);
	assert_int_equal(config_load_file("config/lifeline.conf", &c), 0);
	assert_defaults(&c);
	config_done(&c);
}

static void test_every_key_is_parsed(void **state)
{
	struct lifeline_config c;

	(void)state;
	config_init_defaults(&c);
	assert_int_equal(config_load_file("tests/data/config/full.conf", &c), 0);
	assert_int_equal(c.threshold, 5);
	assert_int_equal(c.escalate_after, 4);
	assert_int_equal(c.max_level, 2);
	assert_int_equal(c.stable_after, 300);
	assert_int_equal(c.boot_watchdog, 0);
	assert_int_equal(c.panic_reboot, 30);
	assert_int_equal(c.store, CONFIG_STORE_FILE);
	assert_false(c.count_clean_reboots);
	assert_string_equal(c.state_file, "/var/lib/lifeline/state");
	assert_int_equal(strv_length(c.keep_units), 2);
	assert_string_equal(c.keep_units[0], "sshd.service");
	assert_string_equal(c.keep_units[1], "getty@tty1.service");
	assert_int_equal(strv_length(c.allowed_failed_units), 2);
	assert_string_equal(c.allowed_failed_units[0], "systemd-networkd-wait-online.service");
	assert_string_equal(c.allowed_failed_units[1], "apt-daily.timer");
	assert_string_equal(c.report_url, "https://fleet.example.com/lifeline/report?site=a&b=c");
	assert_true(c.report_allow_http);
	assert_string_equal(c.report_ca_file, "/etc/lifeline/ca.pem");
	assert_string_equal(c.report_client_cert, "/etc/lifeline/client.pem");
	assert_string_equal(c.report_client_key, "/etc/lifeline/client.key");
	assert_int_equal(c.report_heartbeat, 600);
	assert_int_equal(c.report_spool_max, 512 * 1024);
	assert_string_equal(c.commands_url, "http://127.0.0.1:8080/commands");
	assert_string_equal(c.commands_public_key, "/etc/lifeline/other.pub");
	assert_int_equal(c.commands_poll_interval, 60);
	assert_int_equal(c.quarantine_cache_max, UINT64_C(2) << 30);
	config_done(&c);
}

static void test_bad_number_keeps_default_reports_file_line_key_and_loads_the_rest(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	char want[PATH_MAX + 128];

	(void)state;
	WRITE_CONF("[boot]\n"
	           "escalate_after = 5\n"
	           "threshold = abc\n"
	           "stable_after = 99999999999999999999999\n"
	           "boot_watchdog = -1\n"
	           "panic_reboot = 0\n"
	           "[report]\n"
	           "spool_max = 2X\n"
	           "heartbeat = 0\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);

	/* The good keys, before and after the bad ones, are applied. */
	assert_int_equal(c.escalate_after, 5);
	assert_int_equal(c.panic_reboot, 0);
	/* Each bad one kept its default. */
	assert_int_equal(c.threshold, 3);
	assert_int_equal(c.stable_after, 120);
	assert_int_equal(c.boot_watchdog, 600);
	assert_int_equal(c.report_spool_max, 1024 * 1024);
	assert_int_equal(c.report_heartbeat, 3600);

	snprintf(want, sizeof(want), "%s:3: [boot] threshold: \"abc\" is not a number (1..1000)\n",
	         conf_path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:4: [boot] stable_after: ", conf_path);
	assert_non_null(strstr(log, want));
	assert_non_null(strstr(log, "is out of range (0..86400)"));
	snprintf(want, sizeof(want), "%s:5: [boot] boot_watchdog: \"-1\" is not a number",
	         conf_path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:8: [report] spool_max: \"2X\" is not a size", conf_path);
	assert_non_null(strstr(log, want));
	assert_non_null(strstr(log, "0..1G)"));
	snprintf(want, sizeof(want), "%s:9: [report] heartbeat: \"0\" is out of range (1..604800)",
	         conf_path);
	assert_non_null(strstr(log, want));
	assert_int_equal(count_lines(log), 5); /* one line per problem */
	config_done(&c);
}

static void test_bad_enum_bool_path_url_and_unit_keep_defaults(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[boot]\n"
	           "store = nvram\n"
	           "count_clean_reboots = maybe\n"
	           "state_file = relative/path\n"
	           "[safe-mode]\n"
	           "keep_units = sshd.service not/a.unit\n"
	           "allowed_failed_units = foo\n"
	           "[report]\n"
	           "url = ftp://example.com/\n"
	           "ca_file = /etc/../etc/ca.pem\n"
	           "[commands]\n"
	           "url = https://\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_defaults(&c);
	assert_non_null(strstr(log, ":2: [boot] store: \"nvram\" is not one of auto, efi, file"));
	assert_non_null(strstr(log, ":3: [boot] count_clean_reboots: \"maybe\" is not a boolean"));
	assert_non_null(
	    strstr(log, ":4: [boot] state_file: \"relative/path\" is not an absolute path"));
	assert_non_null(
	    strstr(log, ":6: [safe-mode] keep_units: \"not/a.unit\" is not a unit name"));
	assert_non_null(
	    strstr(log, ":7: [safe-mode] allowed_failed_units: \"foo\" is not a unit name"));
	assert_non_null(strstr(log, ":9: [report] url: \"ftp://example.com/\" is not an https://"));
	assert_non_null(strstr(log, ":10: [report] ca_file: "));
	assert_non_null(strstr(log, ":12: [commands] url: \"https://\" is not"));
	assert_int_equal(count_lines(log), 8);
	config_done(&c);
}

/* Plain http:// to a collector on another machine: refused at load with
 * the line and what to do (the sender would refuse it, and no report
 * would ever leave); to this machine (tests' collectors) or with
 * allow_http = yes (test rigs) it is kept. */
static void test_http_report_url_needs_loopback_or_allow_http(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[report]\n"
	           "heartbeat = 60\n"
	           "url = http://collector.example.com/report\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_null(c.report_url);
	assert_int_equal(c.report_heartbeat, 60); /* the rest still loads */
	assert_non_null(strstr(log, ":3: [report] url: \"http://collector.example.com/report\" is "
	                            "plain http:// to another machine"));
	assert_non_null(strstr(log, "allow_http = yes"));
	config_done(&c);

	/* the key may come after the url */
	WRITE_CONF("[report]\n"
	           "url = http://10.0.2.2:8443/report\n"
	           "allow_http = yes\n");
	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_string_equal(c.report_url, "http://10.0.2.2:8443/report");
	assert_true(c.report_allow_http);
	config_done(&c);

	WRITE_CONF("[report]\nurl = http://127.0.0.1:9/r\n");
	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_string_equal(c.report_url, "http://127.0.0.1:9/r");
	assert_false(c.report_allow_http);
	config_done(&c);

	assert_true(config_url_is_loopback("http://localhost:80/x"));
	assert_true(config_url_is_loopback("http://[::1]:99/"));
	assert_true(config_url_is_loopback("https://127.3.4.5/"));
	assert_false(config_url_is_loopback("http://127.0.0.1.example.com/"));
	assert_false(config_url_is_loopback("http://user@127.0.0.1/"));
	assert_false(config_url_is_loopback("http://10.0.0.1/"));
	assert_false(config_url_is_loopback("ftp://127.0.0.1/"));
}

/* max_level bounds escalation: 1..3; anything else keeps 3 and says so. */
/* [report] metrics_dir: an absolute path without "..", else the default. */
static void test_metrics_dir_is_an_absolute_path(void **state)
{
	struct lifeline_config c;

	(void)state;
	WRITE_CONF("[report]\nmetrics_dir = /run/prometheus/textfile\n");
	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_string_equal(c.report_metrics_dir, "/run/prometheus/textfile");
	config_done(&c);
	WRITE_CONF("[report]\nmetrics_dir = prometheus/../x\n");
	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	assert_null(c.report_metrics_dir);
	config_done(&c);
}

static void test_max_level_is_1_to_3(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[boot]\nmax_level = 1\n");
	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_int_equal(c.max_level, 1);
	config_done(&c);

	WRITE_CONF("[boot]\nmax_level = 4\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_int_equal(c.max_level, 3);
	assert_non_null(strstr(log, ":2: [boot] max_level: \"4\" is out of range (1..3)"));
	config_done(&c);
}

/* [boot] repeat_crash: a boolean, default yes; a bad value keeps yes. */
static void test_repeat_crash_is_a_boolean_default_yes(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[boot]\nrepeat_crash = no\n");
	config_init_defaults(&c);
	assert_true(c.repeat_crash);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_false(c.repeat_crash);
	config_done(&c);

	WRITE_CONF("[boot]\nrepeat_crash = sometimes\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_true(c.repeat_crash);
	assert_non_null(strstr(log, ":2: [boot] repeat_crash: \"sometimes\" is not a boolean"));
	config_done(&c);
}

static void test_unknown_key_and_section_warn_but_load(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[boot]\n"
	           "threshhold = 9\n"
	           "threshold = 7\n"
	           "[future]\n"
	           "anything = at all\n"
	           "more = keys\n"
	           "[report]\n"
	           "heartbeat = 120\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), 0);
	log = capture_end(&cap);
	assert_int_equal(c.threshold, 7);
	assert_int_equal(c.report_heartbeat, 120);
	assert_non_null(strstr(log, ":2: [boot] threshhold: unknown key, ignoring it"));
	assert_non_null(strstr(log, ":4: unknown section [future], ignoring it"));
	assert_int_equal(count_lines(log), 2); /* not one per key of [future] */
	config_done(&c);
}

static void test_syntax_errors_are_reported_by_line_and_the_rest_loads(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[boot]\n"
	           "threshold = 4\n"
	           "this line is not a key\n"
	           "[report\n"
	           "heartbeat = 5\n" /* under a broken header: skipped, */
	           "    6\n"         /* with its continuation line */
	           "[commands]\n"
	           "poll_interval = 42\n"
	           "bad key = 1\n"
	           "[]\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_int_equal(c.threshold, 4);
	assert_int_equal(c.report_heartbeat, 3600);
	assert_int_equal(c.commands_poll_interval, 42);
	assert_non_null(strstr(log, "lifeline.conf:3: expected \"[section]\""));
	assert_non_null(strstr(log, "lifeline.conf:4: section header without ']'"));
	assert_non_null(strstr(log, "lifeline.conf:9: invalid key name"));
	assert_non_null(strstr(log, "lifeline.conf:10: empty section name"));
	assert_int_equal(count_lines(log), 4);
	config_done(&c);
}

/* Debian's inih 55 cuts lines at 200 bytes: a list
 * this long must arrive whole, not cut and half-parsed. */
static void test_300_byte_line_is_parsed_whole(void **state)
{
	struct lifeline_config c;
	_cleanup_strv_free_ char **want = NULL;
	char text[1024], *p = text;

	(void)state;
	p += sprintf(p, "[safe-mode]\nkeep_units =");
	for (int i = 0; i < 20; i++) {
		char unit[32];

		snprintf(unit, sizeof(unit), "keep-unit-%02d.service", i);
		p += sprintf(p, " %s", unit);
		assert_int_equal(strv_extend(&want, unit), 0);
	}
	p += sprintf(p, "\n[boot]\nthreshold = 8\n");
	assert_true(strchr(text + 12, '\n') - (text + 12) > 300); /* "[safe-mode]\n" is 12 */
	write_conf(text, (size_t)(p - text));

	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_int_equal(strv_length(c.keep_units), 20);
	for (size_t i = 0; i < 20; i++)
		assert_string_equal(c.keep_units[i], want[i]);
	assert_int_equal(c.threshold, 8);
	config_done(&c);
}

static void test_overlong_line_is_reported_not_misparsed(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL, *text = malloc(CONFIG_LINE_MAX + 200);
	char *p = text;

	(void)state;
	assert_non_null(text);
	p += sprintf(p, "[boot]\nthreshold = 6\nstate_file = /");
	memset(p, 'a', CONFIG_LINE_MAX);
	p += CONFIG_LINE_MAX;
	p += sprintf(p, "\n  /continuation/of/the/long/line\nescalate_after = 9\n");
	write_conf(text, (size_t)(p - text));

	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_int_equal(c.threshold, 6);
	assert_null(c.state_file);
	assert_int_equal(c.escalate_after, 9);
	assert_non_null(strstr(log, "lifeline.conf:3: line is too long ("));
	assert_int_equal(count_lines(log), 1); /* its continuation line goes with it */
	config_done(&c);
}

static void test_non_utf8_line_is_reported_with_its_line(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("; commentaire accentu\xc3\xa9, valid UTF-8\n"
	           "[boot]\n"
	           "threshold = 4\xff\n" /* stray byte */
	           "escalate_after = 3\n"
	           "stable_after = \xc0\xaf\n"     /* overlong '/' */
	           "panic_reboot = \xed\xa0\x80\n" /* UTF-16 surrogate */
	           "boot_watchdog = 60\n"
	           "store = fi\0le\n" /* NUL byte */
	           "count_clean_reboots = no\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_int_equal(c.threshold, 3);
	assert_int_equal(c.escalate_after, 3);
	assert_int_equal(c.stable_after, 120);
	assert_int_equal(c.panic_reboot, 10);
	assert_int_equal(c.boot_watchdog, 60);
	assert_int_equal(c.store, CONFIG_STORE_AUTO);
	assert_false(c.count_clean_reboots);
	assert_non_null(strstr(log, "lifeline.conf:3: line is not valid UTF-8"));
	assert_non_null(strstr(log, "lifeline.conf:5: line is not valid UTF-8"));
	assert_non_null(strstr(log, "lifeline.conf:6: line is not valid UTF-8"));
	assert_non_null(strstr(log, "lifeline.conf:8: line contains a NUL byte"));
	assert_int_equal(count_lines(log), 4);
	config_done(&c);
}

/* A list whose continuation line cannot be read is not half-applied. */
static void test_unreadable_continuation_line_keeps_the_whole_list_default(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[safe-mode]\n"
	           "keep_units = a.service\n"
	           "   b\xff.service\n"
	           "   c.service\n"
	           "allowed_failed_units = d.service\n"
	           "[boot]\n"
	           "threshold = 9\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_int_equal(strv_length(c.keep_units), 1);
	assert_string_equal(c.keep_units[0], "ssh.service");
	assert_int_equal(strv_length(c.allowed_failed_units), 1);
	assert_int_equal(c.threshold, 9);
	assert_non_null(strstr(log, "lifeline.conf:3: line is not valid UTF-8"));
	assert_int_equal(count_lines(log), 1);
	config_done(&c);
}

static void test_bom_crlf_and_comments_are_accepted(void **state)
{
	struct lifeline_config c;

	(void)state;
	WRITE_CONF("\xef\xbb\xbf[boot]\r\n"
	           "; a comment\r\n"
	           "# another\r\n"
	           "   \r\n"
	           "threshold=11 ; why\r\n"
	           "  store   =   efi   # indented key line, not a continuation\r\n"
	           "[report]\r\n"
	           "url = https://h.example/p;x\r\n"); /* ';' inside a word is not a comment */
	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_int_equal(c.threshold, 11);
	assert_int_equal(c.store, CONFIG_STORE_EFI);
	assert_string_equal(c.report_url, "https://h.example/p;x");
	config_done(&c);
}

static void test_list_continuation_appends_and_a_bad_line_restores_the_default(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;

	(void)state;
	WRITE_CONF("[safe-mode]\n"
	           "allowed_failed_units = a.service\n"
	           "    b.service a.service\n"
	           "\tc.timer\n"
	           "keep_units = x.service\n"
	           "    bad/unit.service\n"
	           "    y.service\n"
	           "[boot]\n"
	           "threshold = 4\n"
	           "    5\n");
	config_init_defaults(&c);
	capture_start(&cap);
	assert_int_equal(config_load(tmp_root, &c), -EINVAL);
	log = capture_end(&cap);
	assert_int_equal(strv_length(c.allowed_failed_units), 3);
	assert_string_equal(c.allowed_failed_units[0], "a.service");
	assert_string_equal(c.allowed_failed_units[1], "b.service");
	assert_string_equal(c.allowed_failed_units[2], "c.timer");
	/* keep_units as a whole went back to its default */
	assert_int_equal(strv_length(c.keep_units), 1);
	assert_string_equal(c.keep_units[0], "ssh.service");
	assert_int_equal(c.threshold, 4);
	assert_non_null(
	    strstr(log, ":6: [safe-mode] keep_units: \"bad/unit.service\" is not a unit name"));
	assert_non_null(
	    strstr(log, ":10: [boot] threshold: continuation lines are only allowed for lists"));
	assert_int_equal(count_lines(log), 2);
	config_done(&c);
}

static void test_empty_list_clears_the_default_and_empty_string_unsets(void **state)
{
	struct lifeline_config c;

	(void)state;
	WRITE_CONF("[safe-mode]\nkeep_units =\n[commands]\npublic_key =\n");
	config_init_defaults(&c);
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_non_null(c.keep_units);
	assert_int_equal(strv_length(c.keep_units), 0);
	assert_null(c.commands_public_key);
	config_done(&c);
}

static void test_sizes_take_k_m_g_suffixes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(config_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_size("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(config_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("1M", &v), 0);
	assert_int_equal(v, 1 << 20);
	assert_int_equal(config_parse_size("16m", &v), 0);
	assert_int_equal(v, 16 << 20);
	assert_int_equal(config_parse_size("3G", &v), 0);
	assert_int_equal(v, UINT64_C(3) << 30);
	assert_int_equal(config_parse_size("2MiB", &v), 0);
	assert_int_equal(v, 2 << 20);
	assert_int_equal(config_parse_size("2KB", &v), 0);
	assert_int_equal(v, 2048);
	assert_int_equal(config_parse_size("", &v), -EINVAL);
	assert_int_equal(config_parse_size("M", &v), -EINVAL);
	assert_int_equal(config_parse_size("1.5M", &v), -EINVAL);
	assert_int_equal(config_parse_size("-1", &v), -EINVAL);
	assert_int_equal(config_parse_size("1 M", &v), -EINVAL);
	assert_int_equal(config_parse_size("1MB2", &v), -EINVAL);
	assert_int_equal(config_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(config_parse_size("17179869184G", &v), -ERANGE);
}

static void test_booleans_and_store_names(void **state)
{
	(void)state;
	assert_int_equal(config_parse_boolean("yes"), 1);
	assert_int_equal(config_parse_boolean("TRUE"), 1);
	assert_int_equal(config_parse_boolean("on"), 1);
	assert_int_equal(config_parse_boolean("1"), 1);
	assert_int_equal(config_parse_boolean("No"), 0);
	assert_int_equal(config_parse_boolean("off"), 0);
	assert_int_equal(config_parse_boolean("0"), 0);
	assert_int_equal(config_parse_boolean(""), -EINVAL);
	assert_int_equal(config_parse_boolean("yess"), -EINVAL);
	for (int s = 0; s < _CONFIG_STORE_MAX; s++)
		assert_int_equal(
		    config_store_from_string(config_store_to_string((enum config_store)s)), s);
	assert_int_equal(config_store_from_string("EFI"), -EINVAL);
}

static void test_unreadable_file_is_an_error_other_than_einval_and_keeps_defaults(void **state)
{
	struct lifeline_config c;
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	int r;

	(void)state;
	unlink(conf_path);
	assert_int_equal(mkdir(conf_path, 0755), 0); /* a directory where the file should be */
	config_init_defaults(&c);
	capture_start(&cap);
	r = config_load(tmp_root, &c);
	log = capture_end(&cap);
	rmdir(conf_path);
	assert_true(r < 0);
	assert_int_not_equal(r, -EINVAL);
	assert_non_null(strstr(log, conf_path));
	assert_defaults(&c);
	config_done(&c);
}

static void test_second_load_replaces_values_without_leaking(void **state)
{
	struct lifeline_config c;

	(void)state;
	config_init_defaults(&c);
	WRITE_CONF("[report]\nurl = https://a.example/\n[safe-mode]\nkeep_units = a.service\n");
	assert_int_equal(config_load(tmp_root, &c), 0);
	WRITE_CONF("[report]\nurl = https://b.example/\nurl = https://c.example/\n");
	assert_int_equal(config_load(tmp_root, &c), 0);
	assert_string_equal(c.report_url, "https://c.example/");
	assert_string_equal(c.keep_units[0], "a.service");
	config_done(&c);
	config_done(&c); /* idempotent */
	config_done(NULL);
}

/* The list helpers the config lists are built with (common/strv). */
static void test_strv_split_join_extend_and_free(void **state)
{
	_cleanup_strv_free_ char **l = NULL, **copy = NULL, **empty = NULL;
	_cleanup_free_ char *joined = NULL, *joined_empty = NULL;

	(void)state;
	assert_int_equal(strv_split_ws("  a\tbb \n ccc  ", &l), 0);
	assert_int_equal(strv_length(l), 3);
	assert_string_equal(l[0], "a");
	assert_string_equal(l[2], "ccc");
	assert_true(strv_contains(l, "bb"));
	assert_false(strv_contains(l, "b"));
	assert_false(strv_contains(NULL, "b"));
	assert_int_equal(strv_extend(&l, "dd"), 0);
	assert_int_equal(strv_extend(&l, "a"), 0);
	joined = strv_join(l, ", ");
	assert_string_equal(joined, "a, bb, ccc, dd, a");
	strv_sort_uniq(l);
	assert_int_equal(strv_length(l), 4);
	copy = strv_copy(l);
	assert_int_equal(strv_extend_strv(&copy, l), 0);
	assert_int_equal(strv_length(copy), 8);

	assert_int_equal(strv_split_ws(" \t ", &empty), 0);
	assert_non_null(empty);
	assert_int_equal(strv_length(empty), 0);
	joined_empty = strv_join(NULL, NULL);
	assert_string_equal(joined_empty, "");
	assert_null(strv_free(NULL));
	assert_int_equal(strv_length(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_file_gives_defaults_and_returns_0),
	    cmocka_unit_test(test_http_report_url_needs_loopback_or_allow_http),
	    cmocka_unit_test(test_metrics_dir_is_an_absolute_path),
	    cmocka_unit_test(test_max_level_is_1_to_3),
	    cmocka_unit_test(test_repeat_crash_is_a_boolean_default_yes),
	    cmocka_unit_test(test_shipped_default_config_loads_clean_and_equals_defaults),
	    cmocka_unit_test(test_every_key_is_parsed),
	    cmocka_unit_test(
	        test_bad_number_keeps_default_reports_file_line_key_and_loads_the_rest),
	    cmocka_unit_test(test_bad_enum_bool_path_url_and_unit_keep_defaults),
	    cmocka_unit_test(test_unknown_key_and_section_warn_but_load),
	    cmocka_unit_test(test_syntax_errors_are_reported_by_line_and_the_rest_loads),
	    cmocka_unit_test(test_300_byte_line_is_parsed_whole),
	    cmocka_unit_test(test_overlong_line_is_reported_not_misparsed),
	    cmocka_unit_test(test_non_utf8_line_is_reported_with_its_line),
	    cmocka_unit_test(test_unreadable_continuation_line_keeps_the_whole_list_default),
	    cmocka_unit_test(test_bom_crlf_and_comments_are_accepted),
	    cmocka_unit_test(test_list_continuation_appends_and_a_bad_line_restores_the_default),
	    cmocka_unit_test(test_empty_list_clears_the_default_and_empty_string_unsets),
	    cmocka_unit_test(test_sizes_take_k_m_g_suffixes),
	    cmocka_unit_test(test_booleans_and_store_names),
	    cmocka_unit_test(test_unreadable_file_is_an_error_other_than_einval_and_keeps_defaults),
	    cmocka_unit_test(test_second_load_replaces_values_without_leaking),
	    cmocka_unit_test(test_strv_split_join_extend_and_free),
	};

	return cmocka_run_group_tests(tests, make_root, remove_root);
}
