/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The real lifelined and lifelined-worker on a fake root (the state record
 * in the EFIVARFS_PATH directory, reports to tests/collector.py on
 * loopback): the idle daemon maps no library but libc and libsystemd and
 * never wakes up by itself; the spool goes out at start and at once when
 * the network comes up (SIGUSR1, as an rtnetlink event), back-off or not;
 * the worker's bless job runs check.d and resets the failure counter; the
 * daemon state file survives odd text; fleet commands are polled at the
 * poller's times (random first poll, Retry-After honoured).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent/boot/survived.h"
#include "agent/lifelined/daemon-state.h"
#include "agent/decision/history.h"
#include "agent/report/spool.h"
#include "common/strv.h"
#include "agent/generator/unit-sandbox.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

static char root[1024], var_path[4096], recv_dir[2048], build[512];
static pid_t collector_pid = -1, daemon_pid = -1;
static int collector_port;

static void fake_bus_stop(void);

static void put(const char *rel, const char *text, mode_t mode)
{
	tu_put(root, rel, text, mode);
}

static void reset_var(void)
{
	tu_var_reset(var_path);
}

static void save_record(uint32_t failures)
{
	struct state_record rec;

	state_record_init(&rec);
	rec.boot_seq = 9;
	rec.failures = failures;
	tu_record_save(&rec);
}

static struct state_record load_record(void)
{
	struct state_record r;

	assert_int_equal(tu_record_load(&r), 0);
	return r;
}

static void collector_start(const char *extra)
{
	snprintf(recv_dir, sizeof(recv_dir), "%s/received", root);
	tu_collector_start(&collector_pid, &collector_port, recv_dir, 60, extra);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits up to timeout seconds for n reports at the collector; returns the
 * seconds it took, or -1. */
static double wait_received(int n, double timeout)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout) {
		if (tu_count_files(recv_dir, ".json") >= n)
			return now_s() - t0;
		usleep(50000);
	}
	return -1;
}

static void daemon_start(void)
{
	char prog[1024], root_arg[1100];

	snprintf(prog, sizeof(prog), "%s/bin/lifelined", build);
	snprintf(root_arg, sizeof(root_arg), "--root=%s", root);
	daemon_pid = fork();
	assert_true(daemon_pid >= 0);
	if (daemon_pid == 0) {
		/* outside systemd: no watchdog, no notify socket */
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		execl(prog, prog, root_arg, (char *)NULL);
		_exit(127);
	}
}

/* The daemon's start job is done when its worker wrote the state file. */
static void wait_state_file(void)
{
	char p[4096];
	double t0 = now_s();

	snprintf(p, sizeof(p), "%s%s", root, DAEMON_STATE_FILE);
	while (access(p, F_OK) < 0 && now_s() - t0 < 20)
		usleep(50000);
	assert_int_equal(access(p, F_OK), 0);
	usleep(300000); /* the worker exits, the daemon reaps it */
}

static long status_field(pid_t pid, const char *key)
{
	char p[64], *t = NULL, *at;
	long v;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	assert_int_equal(read_full_file(p, 1 << 16, &t, NULL), 0);
	at = strstr(t, key);
	assert_non_null(at);
	v = strtol(at + strlen(key), NULL, 10);
	free(t);
	return v;
}

static int worker(const char *jobs)
{
	char cmd[4096];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s/bin/lifelined-worker' --root='%s' %s 2>/dev/null", build,
	         root, jobs);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
	const char *b = getenv("LIFELINE_BUILD");

	(void)state;
	snprintf(build, sizeof(build), "%s", b ? b : "build");
	if (tu_mkdtemp(root, sizeof(root), "lifelined-") < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	reset_var();
	put("/etc/machine-id", "4f1c2a9be0d34c7a8f0e6b5d3c2a1f09\n", 0644);
	return 0;
}

static int teardown(void **state)
{
	char cmd[2048];

	(void)state;
	tu_stop(&daemon_pid);
	tu_stop(&collector_pid);
	fake_bus_stop();
	reset_var();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Issue 5: idle RSS <= 4 MiB comes from mapping only libc and libsystemd;
 * "no wake-ups but the watchdog ping and the heartbeat": outside systemd
 * and before stable_after, none at all. */
static void test_idle_daemon_maps_no_heavy_library_and_never_wakes(void **state)
{
	static const char *const heavy[] = {"libcurl",   "libcrypto", "libssl",   "libjson-c",
	                                    "libefivar", "libblkid",  "libgnutls"};
	char p[64], *maps = NULL;
	long before, after;

	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\nstable_after = 86400\n", 0644);
	save_record(2);
	daemon_start();
	wait_state_file();

	snprintf(p, sizeof(p), "/proc/%d/maps", (int)daemon_pid);
	assert_int_equal(read_full_file(p, 1 << 22, &maps, NULL), 0);
	assert_non_null(strstr(maps, "libsystemd"));
	for (size_t i = 0; i < ELEMENTSOF(heavy); i++)
		if (strstr(maps, heavy[i]))
			fail_msg("the idle lifelined maps %s", heavy[i]);
	free(maps);

	before = status_field(daemon_pid, "\nvoluntary_ctxt_switches:");
	sleep(6); /* the old loop woke every 5 s */
	after = status_field(daemon_pid, "\nvoluntary_ctxt_switches:");
	assert_int_equal(after - before, 0);
	/* not blessed: the failure counter is untouched */
	assert_int_equal(load_record().failures, 2);
}

/* Points [report] url at port (0: a closed port, nothing is sent). */
static void configure(int port)
{
	char conf[512];

	snprintf(
	    conf, sizeof(conf),
	    "[boot]\nstore = efi\nstable_after = 86400\n[report]\nurl = http://127.0.0.1:%d/r\n",
	    port ? port : 9);
	put("/etc/lifeline/lifeline.conf", conf, 0644);
}

/* A manual report left in the spool: nobody listens on port 9. */
static void spool_one(void)
{
	char cmd[4096];

	configure(0);
	snprintf(cmd, sizeof(cmd), "'%s/bin/lifelinectl' --root='%s' -q report >/dev/null 2>&1",
	         build, root);
	assert_int_equal(WEXITSTATUS(system(cmd)), 1);
	snprintf(cmd, sizeof(cmd), "%s/var/lib/lifeline/spool", root);
	assert_int_equal(tu_count_files(cmd, ".json"), 1);
}

/* A report waiting in the spool goes out at start; one whose flush failed
 * (the collector answered 500: back-off of 22-30 s) goes out at once when
 * the network comes up (SIGUSR1, what an rtnetlink route event does), and
 * when that first try fails too (DNS not ready yet), 2 s later again, not
 * after the back-off: the goal is <= 5 s after network-online. */
static void test_spool_goes_out_at_start_and_when_the_network_comes_up(void **state)
{
	struct daemon_state ds = {0};
	char p[4096];
	double took, t0;

	(void)state;
	save_record(0);
	collector_start(NULL);
	spool_one();
	configure(collector_port);
	daemon_start();
	took = wait_received(1, 10);
	assert_true(took >= 0);
	usleep(500000);
	assert_int_equal(tu_count_files(recv_dir, ".json"),
	                 1); /* normal mode, no change: nothing more */
	tu_stop(&daemon_pid);
	tu_stop(&collector_pid);

	snprintf(p, sizeof(p), "rm -rf '%s' '%s%s'", recv_dir, root, DAEMON_STATE_FILE);
	assert_int_equal(system(p), 0);
	collector_start("--fail 2"); /* the start flush and the first try after SIGUSR1 */
	spool_one();
	configure(collector_port);
	daemon_start();
	/* the start flush meets the 500 and backs off */
	t0 = now_s();
	while (now_s() - t0 < 10 && (daemon_state_read(root, &ds) < 0 || ds.backoff.failures < 1))
		usleep(50000);
	assert_int_equal(ds.backoff.failures, 1);
	assert_true(ds.spooled == 1);
	usleep(500000);
	assert_int_equal(tu_count_files(recv_dir, ".json"), 0);

	assert_int_equal(kill(daemon_pid, SIGUSR1), 0);
	took = wait_received(1, 10);
	assert_true(took >= 0);
	assert_true(took < 5.0);
	/* and the daemon is still there, idle */
	assert_int_equal(waitpid(daemon_pid, NULL, WNOHANG), 0);
}

/* The bless job (check.d, then the state record) in the worker: a failing
 * check leaves the boot unblessed with the check's words for the daemon's
 * STATUS=; a passing one resets the failure counter. */
static void test_worker_bless_runs_checks_then_resets_failures(void **state)
{
	struct daemon_state ds;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nstore = efi\n[report]\nurl = http://127.0.0.1:9/r\n", 0644);
	save_record(2);
	put("/etc/lifeline/check.d/10-net", "#!/bin/sh\necho gateway unreachable\nexit 3\n", 0755);
	assert_int_equal(worker("bless"), 1);
	assert_int_equal(daemon_state_read(root, &ds), 0);
	assert_false(ds.blessed);
	assert_non_null(strstr(ds.why, "10-net"));
	assert_non_null(strstr(ds.why, "gateway unreachable"));
	assert_int_equal(load_record().failures, 2);
	/* reported with the check's words, once per reason (not per retry) */
	{
		char dir[4096], **names = NULL, *t = NULL;

		assert_int_equal(worker("bless"), 1);
		snprintf(dir, sizeof(dir), "%s/var/lib/lifeline/spool", root);
		assert_int_equal(tu_count_files(dir, ".json"), 1);
		assert_int_equal(spool_list(root, &names), 0);
		snprintf(dir, sizeof(dir), "%s/var/lib/lifeline/spool/%s", root, names[0]);
		assert_int_equal(read_full_file(dir, 1 << 20, &t, NULL), 0);
		assert_non_null(strstr(t, "\"event\":\"unblessed\""));
		assert_non_null(strstr(t, "gateway unreachable"));
		free(t);
		strv_free(names);
	}

	put("/etc/lifeline/check.d/10-net", "#!/bin/sh\nexit 0\n", 0755);
	assert_int_equal(worker("bless"), 0);
	assert_int_equal(daemon_state_read(root, &ds), 0);
	assert_true(ds.blessed);
	assert_string_equal(ds.why, "");
	assert_int_equal(load_record().failures, 0);
	/* the blessing is in the decision history, by the daemon */
	{
		struct history h = {0};

		assert_int_equal(history_read(root, &h), 0);
		assert_int_equal(h.n, 1);
		assert_string_equal(h.entries[0].action, "bless");
		assert_string_equal(h.entries[0].who, HISTORY_WHO_DAEMON);
		assert_int_equal(h.entries[0].boot_seq, 9);
		history_done(&h);
	}
	assert_int_equal(worker("no-such-job"), 2);
}

/* count_clean_reboots = no: the shutdown job marks the record; and it
 * writes a survival the survived step could not. */
static void test_worker_records_a_clean_shutdown(void **state)
{
	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\ncount_clean_reboots = no\n", 0644);
	save_record(1);
	assert_int_equal(load_record().flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
	assert_int_equal(worker("clean-shutdown"), 0);
	assert_int_not_equal(load_record().flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
	assert_int_equal(load_record().failures, 1);

	/* a survival whose write was lost (the survived step's pending mark):
	 * written at shutdown, count_clean_reboots or not */
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\n", 0644);
	save_record(3);
	put(SURVIVED_PENDING_FILE, "boot_seq=0\n", 0644);
	assert_int_equal(worker("clean-shutdown"), 0);
	assert_int_equal(load_record().failures, 0);
	assert_int_equal(load_record().flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
	assert_false(tu_exists(root, SURVIVED_PENDING_FILE));
}

static void test_daemon_state_round_trip(void **state)
{
	struct daemon_state a = {.backoff = {.failures = 3,
	                                     .next_attempt = 12345,
	                                     .delay = 60,
	                                     .last_status = 503},
	                         .spooled = 2,
	                         .poll_error = -111,
	                         .poll_next_ms = 123456789012ULL,
	                         .blessed = true},
	                    b;
	char p[4096];

	(void)state;
	memset(a.poller.seen[0], 'a', 64);
	snprintf(a.why, sizeof(a.why), "check x exited 1:\nspoof=1\nfailures=99");
	assert_int_equal(daemon_state_write(root, &a), 0);
	assert_int_equal(daemon_state_read(root, &b), 0);
	assert_int_equal(b.backoff.failures, 3);
	assert_int_equal(b.backoff.next_attempt, 12345);
	assert_int_equal(b.backoff.delay, 60);
	assert_int_equal(b.backoff.last_status, 503);
	assert_int_equal(b.spooled, 2);
	assert_int_equal(b.poll_error, -111);
	assert_true(b.poll_next_ms == 123456789012ULL);
	assert_true(b.blessed);
	assert_memory_equal(b.poller.seen[0], a.poller.seen[0], 65);
	assert_string_equal(b.poller.seen[1], "");
	/* a check's output cannot forge keys */
	assert_string_equal(b.why, "check x exited 1: spoof=1 failures=99");
	/* absent: zeros */
	snprintf(p, sizeof(p), "%s%s", root, DAEMON_STATE_FILE);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(daemon_state_read(root, &b), 0);
	assert_int_equal(b.backoff.failures, 0);
	assert_false(b.blessed);
}

/* The poll timer's times, from the poller's schedule (command.h): the
 * first poll at a random time within one interval, never before a time a
 * previous lifelined of this boot was given; after a poll, the time its
 * worker left (a Retry-After of 120 s: not before 120 s), or one interval
 * with its jitter when the worker said nothing. */
static void test_poll_timer_follows_the_pollers_schedule(void **state)
{
	struct daemon_state ds = {0};
	const uint64_t now = 5000000, P = 300000;
	uint64_t at, lo = UINT64_MAX, hi = 0;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		at = daemon_poll_first_at(300, now, &ds);
		assert_true(at >= now && at < now + P);
		lo = MIN(lo, at);
		hi = MAX(hi, at);
	}
	/* spread over the interval, not one fixed delay */
	assert_true(lo < now + P / 10);
	assert_true(hi > now + P - P / 10);
	/* a back-off from before a restart still holds */
	ds.poll_next_ms = now + 7200000;
	assert_true(daemon_poll_first_at(300, now, &ds) == now + 7200000);
	ds.poll_next_ms = now - 1000; /* past: the random start */
	assert_true(daemon_poll_first_at(300, now, &ds) < now + P);

	/* after a poll: what the worker said */
	ds.poll_next_ms = now + 120000 + 345;
	assert_true(daemon_poll_next_at(300, now, &ds) == now + 120345);
	/* nothing said (stale, absent): one interval, 0.9 .. 1.1 of it */
	ds.poll_next_ms = now;
	for (int i = 0; i < 200; i++) {
		at = daemon_poll_next_at(300, now, &ds);
		assert_true(at >= now + P - P / 10 && at <= now + P + P / 10);
		at = daemon_poll_next_at(300, now, NULL);
		assert_true(at >= now + P - P / 10 && at <= now + P + P / 10);
	}
}

/* The GETs tests/collector.py logged so far (requests.log). */
static int gets_logged(void)
{
	char p[4096], *t = NULL;
	int n = 0;

	snprintf(p, sizeof(p), "%s/requests.log", recv_dir);
	if (read_full_file(p, 1 << 20, &t, NULL) < 0)
		return 0;
	for (char *l = t; (l = strstr(l, "GET ")); l += 4)
		n++;
	free(t);
	return n;
}

static void configure_commands(unsigned interval)
{
	char conf[512];

	snprintf(conf, sizeof(conf),
	         "[boot]\nstore = efi\nstable_after = 86400\n[commands]\n"
	         "url = http://127.0.0.1:%d/fleet\npoll_interval = %u\n",
	         collector_port, interval);
	put("/etc/lifeline/lifeline.conf", conf, 0644);
}

/* The worker's poll job leaves the poller's next time in the daemon state:
 * a 503 with Retry-After: 120 puts it at least 120 s after the poll (and
 * at most a tenth and a second more), a 404 ("nothing for you") one
 * interval later, 0.9 .. 1.1 of it. */
static void test_worker_poll_leaves_the_next_poll_time(void **state)
{
	struct daemon_state ds;
	uint64_t t0, t1;

	(void)state;
	collector_start("--get-status 503 --retry-after 120");
	configure_commands(60);
	t0 = daemon_now_ms();
	assert_int_equal(worker("poll"), 0);
	t1 = daemon_now_ms();
	assert_int_equal(gets_logged(), 2);
	assert_int_equal(daemon_state_read(root, &ds), 0);
	assert_int_not_equal(ds.poll_error, 0);
	assert_true(ds.poll_next_ms >= t0 + 120000);
	assert_true(ds.poll_next_ms <= t1 + 120000 + 12000 + 1000);
	/* and lifelined's timer is set to it */
	assert_true(daemon_poll_next_at(60, t1, &ds) == ds.poll_next_ms);
	tu_stop(&collector_pid);

	assert_int_equal(tu_rm_rf(recv_dir), 0);
	collector_start(NULL); /* serves nothing: 404 */
	configure_commands(60);
	t0 = daemon_now_ms();
	assert_int_equal(worker("poll"), 0);
	t1 = daemon_now_ms();
	assert_int_equal(gets_logged(), 2);
	assert_int_equal(daemon_state_read(root, &ds), 0);
	assert_int_equal(ds.poll_error, 0);
	assert_true(ds.poll_next_ms >= t0 + 54000);
	assert_true(ds.poll_next_ms <= t1 + 66000);
}

/* The real daemon, poll_interval = 2 s: the first poll comes within the
 * first interval, and after a 503 with Retry-After: 120 no other poll
 * comes (the fixed interval polled again every 2 s); against a server that
 * answers, the polls go on every 1.8 .. 2.2 s. */
static void test_daemon_polls_at_the_pollers_times(void **state)
{
	double t0;
	int n;

	(void)state;
	save_record(0);
	collector_start("--get-status 503 --retry-after 120");
	configure_commands(2);
	t0 = now_s();
	daemon_start();
	while (gets_logged() < 2 && now_s() - t0 < 5)
		usleep(20000);
	assert_int_equal(gets_logged(), 2);
	assert_true(now_s() - t0 < 3.0);
	sleep(5);
	n = gets_logged();
	if (n != 2)
		fail_msg("%d GETs: polled again before the server's Retry-After", n);
	tu_stop(&daemon_pid);
	tu_stop(&collector_pid);

	{
		char cmd[8192];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s%s' '%s/var/lib/lifeline/command-poll'",
		         recv_dir, root, DAEMON_STATE_FILE, root);
		assert_int_equal(system(cmd), 0);
	}
	collector_start(NULL);
	configure_commands(2);
	daemon_start();
	sleep(6);
	n = gets_logged();
	/* first in [0, 2), then every [1.8, 2.2]: 2 to 4 polls in 6 s */
	if (n < 4 || n > 8)
		fail_msg("%d GETs in 6 s at poll_interval = 2", n);
	assert_int_equal(n % 2, 0);
}

/* ProtectSystem=strict: the generator opens exactly the directories of
 * the configured components' globs (and the file store's), nested ones
 * folded into their parent, quoted for systemd. */
static void test_generator_opens_component_directories_to_lifelined(void **state)
{
	char cmd[4096], p[4096], *text = NULL;

	(void)state;
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nstore = file\nstate_file = /boot/efi/lifeline/state\n", 0644);
	put("/etc/lifeline/components.d/badsec.conf",
	    "[badsec]\nfiles = /opt/badsec/bin/agent /opt/badsec/lib/*.so "
	    "/usr/lib/modules/*/extra/badsec.ko\n"
	    "content = /var/opt/badsec/channel/*\n",
	    0644);
	put("/etc/lifeline/components.d/other.conf", "[other]\nfiles = /opt/badsec/*\n", 0644);
	snprintf(cmd, sizeof(cmd),
	         "LIFELINE_ROOT='%s' '%s/bin/lifeline-generator' '%s/gen' 2>/dev/null", root, build,
	         root);
	assert_int_equal(system(cmd), 0);
	snprintf(p, sizeof(p), "%s/gen/%s", root, UNIT_SANDBOX_DROPIN);
	assert_int_equal(read_full_file(p, 1 << 16, &text, NULL), 0);
	assert_non_null(strstr(text, "\n[Service]\n"));
	assert_non_null(strstr(text, "\nReadWritePaths=-\"/opt/badsec\"\n"));
	assert_null(strstr(text, "/opt/badsec/bin")); /* inside /opt/badsec */
	assert_null(strstr(text, "/opt/badsec/lib"));
	assert_non_null(strstr(text, "\nReadWritePaths=-\"/usr/lib/modules\"\n"));
	assert_non_null(strstr(text, "\nReadWritePaths=-\"/var/opt/badsec/channel\"\n"));
	assert_non_null(strstr(text, "\nReadWritePaths=-\"/boot/efi/lifeline\"\n"));
	assert_null(strstr(text, "ReadWritePaths=-\"/\"\n")); /* never the whole root */
	free(text);

	/* unit-level: specifiers doubled, quotes refused, nothing is "/" */
	{
		char *l[] = {"/opt/100%", "/opt/a\"b", "/srv/My Agent", NULL};

		assert_int_equal(unit_sandbox_format(l, &text), 0);
		assert_non_null(strstr(text, "ReadWritePaths=-\"/opt/100%%\"\n"));
		assert_non_null(strstr(text, "ReadWritePaths=-\"/srv/My Agent\"\n"));
		assert_null(strstr(text, "a\"b"));
		free(text);
	}
}

/* ---- a fake systemd on a private bus: org.freedesktop.systemd1's
 * SystemState, ListUnitsFiltered, Subscribe/Unsubscribe and the
 * StartupFinished signal, driven by lines on a pipe ("running",
 * "degraded UNIT") ---- */

static char fake_state[32] = "starting", fake_failed[128] = "";
static int fake_subscribed;
static pid_t dbus_pid = -1, fake_pid = -1;
static int fake_ctl = -1;
static char bus_address[1200];

static void fake_write_subscribed(void)
{
	char p[2048], t[16];

	snprintf(p, sizeof(p), "%s/fake-subscribed", root);
	snprintf(t, sizeof(t), "%d\n", fake_subscribed);
	(void)write_file_atomic(p, t, strlen(t), 0644);
}

static int fake_get_state(sd_bus *bus, const char *path, const char *interface,
                          const char *property, sd_bus_message *reply, void *userdata,
                          sd_bus_error *ret_error)
{
	(void)bus, (void)path, (void)interface, (void)property, (void)userdata, (void)ret_error;
	return sd_bus_message_append(reply, "s", fake_state);
}

static int fake_list(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	sd_bus_message *reply = NULL;
	int r;

	(void)userdata, (void)ret_error;
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(ssssssouso)");
	if (r >= 0 && *fake_failed)
		r = sd_bus_message_append(reply, "(ssssssouso)", fake_failed, "", "loaded",
		                          "failed", "failed", "", "/", 0u, "", "/");
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int fake_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	(void)userdata, (void)ret_error;
	fake_subscribed++;
	fake_write_subscribed();
	return sd_bus_reply_method_return(m, "");
}

static int fake_unsubscribe(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	(void)userdata, (void)ret_error;
	fake_subscribed--;
	fake_write_subscribed();
	return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable fake_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("SystemState", "s", fake_get_state, 0, 0),
    SD_BUS_METHOD("ListUnitsFiltered", "as", "a(ssssssouso)", fake_list, 0),
    SD_BUS_METHOD("Subscribe", "", "", fake_subscribe, 0),
    SD_BUS_METHOD("Unsubscribe", "", "", fake_unsubscribe, 0),
    SD_BUS_SIGNAL("StartupFinished", "tttttt", 0),
    SD_BUS_VTABLE_END,
};

static int fake_on_ctl(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	sd_bus *bus = userdata;
	char line[256];
	ssize_t n = read(fd, line, sizeof(line) - 1);

	(void)es, (void)revents;
	if (n <= 0)
		_exit(0);
	line[n] = 0;
	line[strcspn(line, "\n")] = 0;
	if (strncmp(line, "degraded ", 9) == 0) {
		snprintf(fake_state, sizeof(fake_state), "degraded");
		snprintf(fake_failed, sizeof(fake_failed), "%.127s", line + 9);
	} else {
		snprintf(fake_state, sizeof(fake_state), "%.31s", line);
		fake_failed[0] = 0;
	}
	(void)sd_bus_emit_signal(
	    bus, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartupFinished",
	    "tttttt", (uint64_t)0, (uint64_t)0, (uint64_t)0, (uint64_t)0, (uint64_t)0, (uint64_t)0);
	return 0;
}

static _noreturn_ void fake_systemd(int ctl, int ready)
{
	sd_event *e = NULL;
	sd_bus *bus = NULL;

	if (sd_event_new(&e) < 0 || sd_bus_new(&bus) < 0 ||
	    sd_bus_set_address(bus, bus_address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
	    sd_bus_start(bus) < 0 ||
	    sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1",
	                             "org.freedesktop.systemd1.Manager", fake_vtable, NULL) < 0 ||
	    sd_bus_request_name(bus, "org.freedesktop.systemd1", 0) < 0 ||
	    sd_bus_attach_event(bus, e, 0) < 0 ||
	    sd_event_add_io(e, NULL, ctl, EPOLLIN, fake_on_ctl, bus) < 0)
		_exit(1);
	fake_write_subscribed();
	(void)!write(ready, "ok\n", 3);
	close(ready);
	(void)sd_event_loop(e);
	_exit(0);
}

/* Returns false (the test is skipped) without dbus-daemon. */
static bool fake_bus_start(void)
{
	char conf[2048], cfg_path[2048], line[1200];
	char *dbus_argv[] = {"dbus-daemon", cfg_path, "--nofork", "--print-address=1", NULL};
	int ctl[2], ready[2];

	if (access("/usr/bin/dbus-daemon", X_OK) < 0)
		return false;
	snprintf(
	    conf, sizeof(conf),
	    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
	    "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	    "<busconfig><type>session</type><listen>unix:path=%s/bus</listen><auth>EXTERNAL</auth>"
	    "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
	    "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
	    root);
	put("/bus.conf", conf, 0644);
	snprintf(cfg_path, sizeof(cfg_path), "--config-file=%s/bus.conf", root);
	tu_spawn_line(&dbus_pid, line, sizeof(line), "/usr/bin/dbus-daemon", dbus_argv);
	snprintf(bus_address, sizeof(bus_address), "%s", line);

	assert_int_equal(pipe(ctl), 0);
	assert_int_equal(pipe(ready), 0);
	fake_pid = fork();
	assert_true(fake_pid >= 0);
	if (fake_pid == 0) {
		close(ctl[1]);
		close(ready[0]);
		fake_systemd(ctl[0], ready[1]);
	}
	close(ctl[0]);
	close(ready[1]);
	fake_ctl = ctl[1];
	assert_int_equal(read(ready[0], line, 3), 3);
	close(ready[0]);
	return true;
}

static void fake_bus_stop(void)
{
	if (fake_ctl >= 0)
		close(fake_ctl);
	fake_ctl = -1;
	tu_stop(&fake_pid);
	tu_stop(&dbus_pid);
}

static void fake_say(const char *line)
{
	assert_int_equal(write(fake_ctl, line, strlen(line)), (ssize_t)strlen(line));
}

static int fake_subscribers(void)
{
	char p[2048], *t = NULL;
	int n;

	snprintf(p, sizeof(p), "%s/fake-subscribed", root);
	assert_int_equal(read_full_file(p, 64, &t, NULL), 0);
	n = atoi(t);
	free(t);
	return n;
}

/* Issue 5: blessing waits for systemd's signals, not on a clock. Starting:
 * not blessed, and the daemon sleeps; degraded in a unit not allowed: not
 * blessed; running: blessed within a second or two of the signal, and the
 * daemon unsubscribes (only the watchdog and the heartbeat from then on). */
static void test_blessing_follows_systemd_signals(void **state)
{
	long before, after;
	double t0;

	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\nstable_after = 0\n", 0644);
	save_record(3);
	if (!fake_bus_start())
		skip();
	setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address, 1);
	daemon_start();
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	wait_state_file();
	t0 = now_s();
	while (fake_subscribers() != 1 && now_s() - t0 < 5)
		usleep(50000);
	assert_int_equal(fake_subscribers(), 1);
	assert_int_equal(load_record().failures, 3); /* "starting" */

	before = status_field(daemon_pid, "\nvoluntary_ctxt_switches:");
	sleep(2);
	after = status_field(daemon_pid, "\nvoluntary_ctxt_switches:");
	assert_int_equal(after - before, 0);

	fake_say("degraded bad.service\n");
	sleep(2);
	assert_int_equal(load_record().failures, 3);

	fake_say("running\n");
	t0 = now_s();
	while (load_record().failures != 0 && now_s() - t0 < 10)
		usleep(100000);
	assert_int_equal(load_record().failures, 0);
	assert_true(now_s() - t0 < 5);
	t0 = now_s();
	while (fake_subscribers() != 0 && now_s() - t0 < 5)
		usleep(50000);
	assert_int_equal(fake_subscribers(), 0);
	tu_stop(&daemon_pid);
	fake_bus_stop();
}

/* A boot that survived but whose survived step could not write the
 * record (its pending mark in /run/lifeline): lifelined, stopped while
 * systemd says "stopping", has its worker write failures = 0, with
 * count_clean_reboots = yes too (before, it ran a worker at shutdown only
 * for count_clean_reboots = no). Not stopping (a restart): nothing. And
 * with count_clean_reboots = no the clean shutdown is marked. */
static void test_daemon_writes_a_lost_survival_at_shutdown(void **state)
{
	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\nstable_after = 86400\n", 0644);
	save_record(3);
	put(SURVIVED_PENDING_FILE, "boot_seq=0\n", 0644);
	if (!fake_bus_start())
		skip();
	setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address, 1);
	daemon_start();
	wait_state_file();
	tu_stop(&daemon_pid); /* "starting": not a shutdown */
	assert_int_equal(load_record().failures, 3);
	assert_true(tu_exists(root, SURVIVED_PENDING_FILE));

	daemon_start();
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	usleep(500000);
	fake_say("stopping\n");
	usleep(300000);
	tu_stop(&daemon_pid);
	assert_int_equal(load_record().failures, 0);
	assert_int_equal(load_record().flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
	assert_false(tu_exists(root, SURVIVED_PENDING_FILE));

	/* count_clean_reboots = no, nothing pending: the clean shutdown is
	 * marked (the daemon asked systemd's state after its loop had closed
	 * the bus, and never marked it) */
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nstore = efi\nstable_after = 86400\ncount_clean_reboots = no\n", 0644);
	save_record(2);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address, 1);
	daemon_start();
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	usleep(500000);
	tu_stop(&daemon_pid); /* the fake systemd still says "stopping" */
	assert_int_not_equal(load_record().flags & STATE_FLAG_CLEAN_SHUTDOWN, 0);
	assert_int_equal(load_record().failures, 2);
	fake_bus_stop();
}

/* Under systemd: READY=1, then WATCHDOG=1 from the event loop at half of
 * WatchdogSec= (here WATCHDOG_USEC = 1 s: every ~0.5 s) and nothing else
 * wakes it. */
static void test_watchdog_is_fed_from_the_loop(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char prog[1024], root_arg[1100], usec[32], buf[512];
	int fd, ready = 0, pings = 0;
	double t0;

	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\nstable_after = 86400\n", 0644);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/lifelined-notify-%d", (int)getpid());
	(void)unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(prog, sizeof(prog), "%s/bin/lifelined", build);
	snprintf(root_arg, sizeof(root_arg), "--root=%s", root);
	daemon_pid = fork();
	assert_true(daemon_pid >= 0);
	if (daemon_pid == 0) {
		snprintf(usec, sizeof(usec), "%d", 1000000);
		setenv("NOTIFY_SOCKET", sa.sun_path, 1);
		setenv("WATCHDOG_USEC", usec, 1);
		unsetenv("WATCHDOG_PID");
		execl(prog, prog, root_arg, (char *)NULL);
		_exit(127);
	}
	t0 = now_s();
	while (now_s() - t0 < 3.0) {
		struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
		ssize_t n;

		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = 0;
		if (strstr(buf, "READY=1"))
			ready++;
		if (strstr(buf, "WATCHDOG=1"))
			pings++;
	}
	close(fd);
	(void)unlink(sa.sun_path);
	assert_int_equal(ready, 1);
	/* 3 s at one ping per 0.5-0.75 s */
	assert_true(pings >= 3);
	assert_true(pings <= 8);
}

/* The real trigger: in a private network namespace with the loopback
 * down, the start flush fails and backs off 30 s; "ip link set lo up" makes
 * the kernel announce an address and routes (rtnetlink), and the spool
 * reaches the collector within seconds, not at the back-off. Skipped
 * where network namespaces cannot be made (not root). */
static void test_rtnetlink_event_sends_the_spool(void **state)
{
	char script[8192], cmd[4096], p[4096], *out = NULL;
	double t0, t1;
	int files = -1;

	(void)state;
	if (system("unshare -n true >/dev/null 2>&1") != 0 ||
	    (access("/usr/sbin/ip", X_OK) < 0 && access("/sbin/ip", X_OK) < 0))
		skip();
	put("/etc/lifeline/lifeline.conf",
	    "[boot]\nstore = efi\nstable_after = 86400\n[report]\nurl = http://127.0.0.1:18777/r\n",
	    0644);
	snprintf(
	    script, sizeof(script),
	    "set -u\n"
	    "'%1$s/bin/lifelinectl' --root='%2$s' -q report >/dev/null 2>&1\n"
	    "'%1$s/bin/lifelined' --root='%2$s' 2>/dev/null & d=$!\n"
	    "i=0; until grep -q '^failures=1' '%2$s/run/lifeline/daemon-state' 2>/dev/null; do\n"
	    "  i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done\n"
	    "ip link set lo up\n"
	    "date +%%s.%%N\n"
	    "python3 tests/collector.py --port 18777 --dir '%2$s/recv' --timeout 15 >/dev/null & "
	    "c=$!\n"
	    "i=0; until ls '%2$s/recv/'*.json >/dev/null 2>&1; do\n"
	    "  i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done\n"
	    "date +%%s.%%N\n"
	    "ls '%2$s/recv/' | grep -c json\n"
	    "kill $d $c; wait\n",
	    build, root);
	put("/netns.sh", script, 0755);
	snprintf(cmd, sizeof(cmd), "unshare -n sh '%s/netns.sh' > '%s/netns.out'", root, root);
	assert_int_equal(system(cmd), 0);
	snprintf(p, sizeof(p), "%s/netns.out", root);
	assert_int_equal(read_full_file(p, 4096, &out, NULL), 0);
	assert_int_equal(sscanf(out, "%lf %lf %d", &t0, &t1, &files), 3);
	free(out);
	assert_int_equal(files, 1);
	assert_true(t1 - t0 < 5.0); /* goal: <= 5 s after the network is up */
}

/* A failing check.d script is reported and retried on its back-off timer
 * (60 s first), not at every unit change systemd signals. */
static void test_failed_check_is_not_rerun_per_signal(void **state)
{
	char p[4096], *t = NULL;
	double t0;

	(void)state;
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\nstable_after = 0\n", 0644);
	snprintf(p, sizeof(p), "#!/bin/sh\necho run >> '%s/check-runs'\necho disk full\nexit 1\n",
	         root);
	put("/etc/lifeline/check.d/50-disk", p, 0755);
	save_record(3);
	if (!fake_bus_start())
		skip();
	fake_say("running\n");
	setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address, 1);
	daemon_start();
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	snprintf(p, sizeof(p), "%s/check-runs", root);
	t0 = now_s();
	while (access(p, F_OK) < 0 && now_s() - t0 < 10)
		usleep(50000);
	usleep(500000);
	for (int i = 0; i < 3; i++) {
		fake_say("running\n");
		usleep(1500000);
	}
	assert_int_equal(read_full_file(p, 4096, &t, NULL), 0);
	assert_string_equal(t, "run\n");
	free(t);
	assert_int_equal(load_record().failures, 3);
	tu_stop(&daemon_pid);
	fake_bus_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_idle_daemon_maps_no_heavy_library_and_never_wakes,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_spool_goes_out_at_start_and_when_the_network_comes_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_bless_runs_checks_then_resets_failures,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_records_a_clean_shutdown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_state_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_poll_timer_follows_the_pollers_schedule, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_worker_poll_leaves_the_next_poll_time, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_polls_at_the_pollers_times, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_blessing_follows_systemd_signals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_check_is_not_rerun_per_signal, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_writes_a_lost_survival_at_shutdown, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_watchdog_is_fed_from_the_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rtnetlink_event_sends_the_spool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generator_opens_component_directories_to_lifelined,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
