/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelined — the agent daemon. Decides that a boot is healthy and blesses
 * it as the new last good (inventory, content cache), keeps systemd's
 * service watchdog fed, and has reports and fleet commands sent.
 *
 * It holds nothing a boot depends on: the failure counter is reset and the
 * boot watchdog handed back by lifeline-survived.service once the boot has
 * been up [boot] stable_after seconds (agent/boot/survived.c), whether or
 * not lifelined runs; a boot that is up but not healthy is reported and
 * shown, never reset.
 *
 * It waits, it does not poll (goal: no wake-ups but the watchdog ping
 * and the heartbeat). One sd-event loop:
 *   - a timer to the moment the boot has been up [boot] stable_after;
 *   - systemd's signals (StartupFinished, JobRemoved, a unit's
 *     PropertiesChanged) while the boot is not blessed: the system state
 *     is judged again 1 s after the last of a burst, never on a clock;
 *   - the heartbeat timer, the command poll timer ([commands] url only:
 *     the first poll at a random time within one poll_interval, each next
 *     one when the last poll's worker says, daemon_poll_next_at()),
 *     the spool's retry timer (only while reports wait, at the back-off);
 *   - rtnetlink route/address events and SIGUSR1: "the network may be up",
 *     the spool is sent at once (safe mode: report <= 5 s after
 *     network-online) without After=network-online.target delaying the
 *     blessing;
 *   - sd_event_set_watchdog(): WATCHDOG=1 at half of WatchdogSec=, and only
 *     while the loop runs.
 *
 * It maps only libc and libsystemd (goal: idle RSS <= 4 MiB, tests/bench/README.md): whatever
 * needs libcurl, OpenSSL, json-c, libefivar or libblkid runs in
 * lifelined-worker (agent/lifelined-worker.c), started when a job is due;
 * the loop (and the watchdog) keep running while it works.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <dirent.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "agent/boot/bless.h"
#include "agent/boot/survived.h"
#include "agent/command/command.h"
#include "agent/conf/config.h"
#include "agent/lifelined/daemon-state.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

#define USEC_PER_SEC 1000000ULL
/* A burst of unit changes or network events is acted on once, this long
 * after its last event. */
#define SETTLE_USEC (1 * USEC_PER_SEC)
/* A worker job is killed after this (a flush is at most a few 30 s
 * requests; check.d scripts 60 s each). */
#define WORKER_TIMEOUT_USEC (600 * USEC_PER_SEC)
/* A failed check is tried again after 60 s, doubling up to an hour. */
#define BLESS_RETRY_MIN 60u
#define BLESS_RETRY_MAX 3600u

enum job {
	JOB_BLESS = 1 << 0,
	JOB_START = 1 << 1,
	JOB_HEARTBEAT = 1 << 2,
	JOB_POLL = 1 << 3,
	JOB_FLUSH = 1 << 4,
	JOB_FORCE = 1 << 5,
};

struct daemon {
	const char *root;
	char *worker_path;
	struct lifeline_config cfg;
	sd_event *event;
	sd_bus *bus;
	sd_bus_slot *match_slots[3];
	sd_event_source *judge_timer, *bless_retry_timer, *heartbeat_timer, *poll_timer,
	    *flush_timer, *net_timer, *worker_timer;
	sd_event_source *worker_source;
	pid_t worker_pid;
	unsigned worker_jobs; /* what the running worker does */
	unsigned pending;     /* what is due once it is done */
	bool blessed;
	unsigned bless_retries;
	uint64_t bless_not_before; /* after a failed bless job: not before this (usec) */
	unsigned net_retries;      /* quick retries left after the network came up */
	char *last_why;
	char *stop_state; /* systemd's SystemState when SIGTERM came */
};

static double uptime_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static char *system_state(sd_bus *bus)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	char *s = NULL;

	if (sd_bus_get_property_string(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
	                               "org.freedesktop.systemd1.Manager", "SystemState", &err,
	                               &s) < 0)
		log_debug("Failed to read SystemState: %s", err.message);
	sd_bus_error_free(&err);
	return s;
}

static char **failed_units(sd_bus *bus)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	char **units = NULL;
	const char *name;
	int r;

	r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
	                       "org.freedesktop.systemd1.Manager", "ListUnitsFiltered", &err,
	                       &reply, "as", 1, "failed");
	sd_bus_error_free(&err);
	if (r < 0 || sd_bus_message_enter_container(reply, 'a', "(ssssssouso)") < 0)
		return NULL;
	while (sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, NULL, NULL, NULL, NULL,
	                           NULL, NULL, NULL) > 0)
		(void)strv_extend(&units, name);
	return units;
}

static unsigned long kernel_taint(void)
{
	_cleanup_free_ char *t = NULL;

	if (read_full_file("/proc/sys/kernel/tainted", 64, &t, NULL) < 0)
		return 0;
	return strtoul(t, NULL, 10);
}

/* lifelined-worker: beside lifelined (the build tree), else in
 * ../lib/lifeline (make install: sbin/ and lib/lifeline/ of one PREFIX). */
static char *find_worker(void)
{
	char self[PATH_MAX], *slash;
	char *p = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return strdup("/usr/lib/lifeline/lifelined-worker");
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	if (asprintf(&p, "%s/lifelined-worker", self) < 0)
		return NULL;
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	if (asprintf(&p, "%s/../lib/lifeline/lifelined-worker", self) < 0)
		return NULL;
	return p;
}

/* Whether reports wait in the spool (one readdir; the spool's own names
 * end in .json). */
static bool spool_has_reports(const char *root)
{
	_cleanup_free_ char *dir = path_under_root(root, SPOOL_DIR);
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (!dir || !(d = opendir(dir)))
		return false;
	while (!found && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		found = de->d_name[0] != '.' && l > 5 && streq(de->d_name + l - 5, ".json");
	}
	closedir(d);
	return found;
}

static int run_pending(struct daemon *d);
static void judge(struct daemon *d);

static void arm(sd_event_source *s, uint64_t when_usec)
{
	if (!s)
		return;
	(void)sd_event_source_set_time(s, when_usec);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void disarm(sd_event_source *s)
{
	if (s)
		(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

static void set_status_why(struct daemon *d, const char *why)
{
	if (!why || streq_ptr(why, d->last_why))
		return;
	log_info("not blessed yet: %s", why);
	sd_notifyf(0, "STATUS=not blessed yet: %s", why);
	free(d->last_why);
	d->last_why = strdup(why);
}

static void unsubscribe(struct daemon *d)
{
	for (size_t i = 0; i < ELEMENTSOF(d->match_slots); i++)
		d->match_slots[i] = sd_bus_slot_unref(d->match_slots[i]);
	if (d->bus)
		(void)sd_bus_call_method(
		    d->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		    "org.freedesktop.systemd1.Manager", "Unsubscribe", NULL, NULL, NULL);
}

static void on_worker_done(struct daemon *d, int status)
{
	struct daemon_state ds;
	unsigned jobs = d->worker_jobs;
	int r;

	d->worker_pid = 0;
	d->worker_jobs = 0;
	d->worker_source = sd_event_source_unref(d->worker_source);
	disarm(d->worker_timer);
	r = daemon_state_read(d->root, &ds);
	if (r < 0) {
		log_debug_errno(r, "Failed to read %s: %m", DAEMON_STATE_FILE);
		memset(&ds, 0, sizeof(ds));
	}
	if (jobs & JOB_BLESS) {
		if (status == 0 && ds.blessed) {
			d->blessed = true;
			sd_notify(0, "STATUS=boot blessed");
			disarm(d->judge_timer);
			disarm(d->bless_retry_timer);
			/* from now on only the watchdog and the heartbeat */
			unsubscribe(d);
		} else {
			unsigned delay = BLESS_RETRY_MIN << MIN(d->bless_retries, 6u);

			delay = MIN(delay, BLESS_RETRY_MAX);
			d->bless_retries++;
			set_status_why(d, *ds.why ? ds.why : "the bless job failed");
			d->bless_not_before = now_usec() + delay * USEC_PER_SEC;
			arm(d->bless_retry_timer, d->bless_not_before);
		}
	}
	/* The network just came up but the flush failed (DNS or the route
	 * not quite there yet): try again in 2 s, a few times, before the
	 * back-off takes over. */
	if ((jobs & JOB_FORCE) && ds.spooled > 0 && d->net_retries > 0) {
		d->net_retries--;
		arm(d->net_timer, now_usec() + 2 * USEC_PER_SEC);
	}
	/* Fleet commands: the next poll when the poller says (jitter after a
	 * poll, back-off and Retry-After after a failed one). A poll that
	 * came due while this worker ran waits for that time too. */
	if (jobs & JOB_POLL) {
		uint64_t at =
		    daemon_poll_next_at(d->cfg.commands_poll_interval, now_usec() / 1000, &ds);

		arm(d->poll_timer, at * 1000);
		d->pending &= ~(unsigned)JOB_POLL;
	}
	/* Reports left in the spool: try again when the back-off says. */
	if (d->cfg.report_url && *d->cfg.report_url && ds.spooled > 0) {
		uint64_t at = ds.backoff.next_attempt * USEC_PER_SEC,
		         min = now_usec() + USEC_PER_SEC;

		arm(d->flush_timer, at > min ? at : min);
	} else
		disarm(d->flush_timer);
	(void)run_pending(d);
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct daemon *d = userdata;
	int status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;

	(void)s;
	if (status != 0)
		log_debug("lifelined-worker exited %d", status);
	on_worker_done(d, status);
	return 0;
}

static int on_worker_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	(void)usec;
	if (d->worker_pid > 0) {
		log_warning("lifelined-worker ran too long, killed");
		(void)kill(d->worker_pid, SIGKILL);
	}
	return 0;
}

/* Starts lifelined-worker with jobs; returns its pid. */
static pid_t spawn_worker(const struct daemon *d, unsigned jobs)
{
	static const struct {
		unsigned job;
		const char *name;
	} names[] = {
	    {JOB_BLESS, "bless"}, {JOB_START, "start"}, {JOB_HEARTBEAT, "heartbeat"},
	    {JOB_POLL, "poll"},   {JOB_FLUSH, "flush"}, {JOB_FORCE, "force"},
	};
	_cleanup_free_ char *root_arg = NULL;
	char *argv[16];
	size_t n = 0;
	pid_t pid;

	if (asprintf(&root_arg, "--root=%s", d->root) < 0)
		return -ENOMEM;
	argv[n++] = d->worker_path;
	argv[n++] = root_arg;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (jobs & names[i].job)
			argv[n++] = (char *)(uintptr_t)names[i].name;
	if (jobs == 0)
		argv[n++] = (char *)(uintptr_t) "clean-shutdown";
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;

		/* the blocked signals of sd-event must not reach the worker
		 * (nor the check.d scripts it runs) */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		fprintf(stderr, "lifelined: Failed to start %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static int run_pending(struct daemon *d)
{
	unsigned jobs = d->pending;
	pid_t pid;
	int r;

	if (d->worker_pid > 0 || jobs == 0)
		return 0;
	d->pending = 0;
	pid = spawn_worker(d, jobs);
	if (pid < 0) {
		log_error_errno((int)pid, "Failed to start %s: %m", d->worker_path);
		return (int)pid;
	}
	d->worker_pid = pid;
	d->worker_jobs = jobs;
	r = sd_event_add_child(d->event, &d->worker_source, pid, WEXITED, on_worker_exit, d);
	if (r < 0) {
		/* cannot watch it: wait here rather than lose it */
		int status = 0;

		log_warning_errno(r, "Failed to watch lifelined-worker: %m");
		(void)waitpid(pid, &status, 0);
		on_worker_done(d, WIFEXITED(status) ? WEXITSTATUS(status) : 1);
		return 0;
	}
	arm(d->worker_timer, now_usec() + WORKER_TIMEOUT_USEC);
	return 0;
}

static void want(struct daemon *d, unsigned jobs)
{
	d->pending |= jobs;
	(void)run_pending(d);
}

/* Is the boot good now? Asks systemd once; when it is, has the worker run
 * check.d and bless; when only time is missing, sets the timer for it. */
static void judge(struct daemon *d)
{
	_cleanup_free_ char *st = NULL;
	_cleanup_strv_free_ char **failed = NULL;
	struct bless_verdict v = {0};
	double up = uptime_seconds();

	if (d->blessed || ((d->worker_jobs | d->pending) & JOB_BLESS))
		return;
	st = d->bus ? system_state(d->bus) : NULL;
	failed = d->bus && streq_ptr(st, "degraded") ? failed_units(d->bus) : NULL;
	if (bless_judge(&d->cfg, st, failed, up, kernel_taint(), &v) < 0)
		return;
	/* A failed check is retried on its timer, not at every unit change. */
	if (v.ok && now_usec() >= d->bless_not_before)
		want(d, JOB_BLESS);
	else
		set_status_why(d, v.why);
	/* The one timer before the blessing: the moment the boot is stable.
	 * Anything else that must change first comes as a bus signal. */
	if (!v.ok && up < d->cfg.stable_after)
		arm(d->bless_retry_timer, (uint64_t)d->cfg.stable_after * USEC_PER_SEC + 1000);
	bless_verdict_done(&v);
}

static int on_judge_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	judge(userdata);
	return 0;
}

/* A systemd signal: judge again once the burst has settled. */
static int on_systemd_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct daemon *d = userdata;

	(void)m;
	(void)ret_error;
	if (!d->blessed)
		arm(d->judge_timer, now_usec() + SETTLE_USEC);
	return 0;
}

static void subscribe(struct daemon *d)
{
	static const char *const rules[] = {
	    "type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',"
	    "interface='org.freedesktop.systemd1.Manager',member='StartupFinished'",
	    "type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',"
	    "interface='org.freedesktop.systemd1.Manager',member='JobRemoved'",
	    /* a unit failing or recovering outside a job (a crash, a
	     * reset-failed): its ActiveState changes */
	    "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus."
	    "Properties',"
	    "member='PropertiesChanged',arg0='org.freedesktop.systemd1.Unit'",
	};
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		r = sd_bus_add_match(d->bus, &d->match_slots[i], rules[i], on_systemd_signal, d);
		if (r < 0)
			log_debug_errno(r, "Failed to add bus match: %m");
	}
	/* systemd sends its unit and job signals only while a client is
	 * subscribed (org.freedesktop.systemd1(5), Subscribe()). */
	r = sd_bus_call_method(d->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
	                       "org.freedesktop.systemd1.Manager", "Subscribe", &err, NULL, NULL);
	if (r < 0)
		log_debug("Failed to subscribe to systemd's signals: %s", err.message);
	sd_bus_error_free(&err);
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	arm(s, usec + (uint64_t)d->cfg.report_heartbeat * USEC_PER_SEC);
	want(d, JOB_HEARTBEAT | JOB_FLUSH);
	return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	/* Set again when the worker is done, from what the poll said; this
	 * one only keeps polling alive should no worker ever report. */
	arm(s, usec + command_poll_delay(d->cfg.commands_poll_interval, 0, -1) * 1000);
	want(d, JOB_POLL | JOB_FLUSH);
	return 0;
}

static int on_flush(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	want(userdata, JOB_FLUSH);
	return 0;
}

/* The network may have come up: send what waits now, back-off or not. */
static int on_net_settled(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	(void)usec;
	if (d->cfg.report_url && *d->cfg.report_url && spool_has_reports(d->root)) {
		log_debug("network changed and reports wait: sending them now");
		want(d, JOB_FLUSH | JOB_FORCE);
	}
	return 0;
}

static int on_netlink(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;
	char buf[8192];
	bool up = false;
	ssize_t n;

	(void)s;
	(void)revents;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n))
			if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_NEWADDR)
				up = true;
	if (up) {
		d->net_retries = 3;
		arm(d->net_timer, now_usec() + SETTLE_USEC);
	}
	return 0;
}

/* Stop. systemd's state is asked now: once the loop has exited the bus is
 * closed (sd_bus_attach_event() closes it on the loop's exit), and
 * record_clean_shutdown() needs to know whether the system is stopping. */
static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	(void)si;
	if (!d->stop_state && d->bus)
		d->stop_state = system_state(d->bus);
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	(void)si;
	d->net_retries = 3;
	arm(d->net_timer, now_usec());
	return 0;
}

/* rtnetlink (rtnetlink(7)): a new route or address is the cheapest sign
 * that the network came up; the kernel tells us, nothing polls. */
static void watch_network(struct daemon *d)
{
	struct sockaddr_nl sa = {
	    .nl_family = AF_NETLINK,
	    .nl_groups =
	        RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    sd_event_add_io(d->event, NULL, fd, EPOLLIN, on_netlink, d) < 0) {
		log_debug_errno(
		    -errno,
		    "Failed to watch the network (rtnetlink), reports wait for their timer: %m");
		if (fd >= 0)
			close(fd);
		return;
	}
	/* the event loop owns it now; it lives as long as the process */
}

static int add_timer(struct daemon *d, sd_event_source **ret, sd_event_time_handler_t cb)
{
	int r = sd_event_add_time(d->event, ret, CLOCK_BOOTTIME, UINT64_MAX, 0, cb, d);

	if (r >= 0)
		(void)sd_event_source_set_enabled(*ret, SD_EVENT_OFF);
	return r;
}

/* At shutdown: with count_clean_reboots=no, a clean shutdown is recorded,
 * and a survival whose write was lost (agent/boot/survived.h) is written
 * (by the worker: it needs the state store). Synchronous: we are stopping.
 * It runs boot_phase_shutdown() (agent/boot/survived.h), which a unit of
 * its own can run without lifelined. */
static void record_clean_shutdown(struct daemon *d)
{
	_cleanup_free_ char *pending = path_under_root(d->root, SURVIVED_PENDING_FILE);
	pid_t pid;

	if (d->cfg.count_clean_reboots && !(pending && access(pending, F_OK) == 0))
		return;
	if (!streq_ptr(d->stop_state, "stopping"))
		return;
	pid = spawn_worker(d, 0);
	if (pid > 0)
		(void)waitpid(pid, NULL, 0);
}

static void help(void)
{
	printf("Usage: lifelined [--once] [--root=DIR]\n"
	       "\n"
	       "The lifeline agent (run by lifelined.service). Blesses a boot that is\n"
	       "healthy and has been up [boot] stable_after seconds as the new last good;\n"
	       "sends reports and polls fleet commands. (The failure count and the boot\n"
	       "watchdog are lifeline-survived.service's, not lifelined's.)\n"
	       "SIGUSR1: the network is up, send waiting reports now.\n"
	       "\n"
	       "  --once       judge and bless once if healthy, then exit (0 blessed,\n"
	       "               1 not healthy yet)\n"
	       "  --root=DIR   configuration and state under DIR\n"
	       "  -h, --help   this text\n");
}

static int run_once(struct daemon *d)
{
	_cleanup_free_ char *st = d->bus ? system_state(d->bus) : NULL;
	_cleanup_strv_free_ char **failed = d->bus ? failed_units(d->bus) : NULL;
	struct bless_verdict v = {0};
	int status = 1;
	pid_t pid;

	if (bless_judge(&d->cfg, st, failed, uptime_seconds(), kernel_taint(), &v) < 0)
		return 1;
	if (!v.ok) {
		log_info("not blessed yet: %s", v.why);
		bless_verdict_done(&v);
		return 1;
	}
	pid = spawn_worker(d, JOB_BLESS);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return 1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"once", no_argument, NULL, 'o'},
	    {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct daemon d = {.root = "/"};
	bool once = false;
	sigset_t mask;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'o':
			once = true;
			break;
		case 'r':
			d.root = optarg;
			break;
		case 'h':
			help();
			return 0;
		default:
			return 2;
		}
	}
	log_set_prefix("lifelined: ");
	config_init_defaults(&d.cfg);
	(void)config_load(d.root, &d.cfg);
	d.worker_path = find_worker();
	if (!d.worker_path)
		return log_error_errno(-ENOMEM, "Out of memory"), 1;

	r = sd_bus_open_system(&d.bus);
	if (r < 0)
		log_warning_errno(r, "Failed to connect to the system bus: %m");
	if (once) {
		r = run_once(&d);
		goto out;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r = sd_event_default(&d.event);
	if (r < 0) {
		log_error_errno(r, "Failed to start the event loop: %m");
		goto out;
	}
	(void)sd_event_add_signal(d.event, NULL, SIGTERM, on_sigterm, &d);
	(void)sd_event_add_signal(d.event, NULL, SIGINT, on_sigterm, &d);
	(void)sd_event_add_signal(d.event, NULL, SIGUSR1, on_sigusr1, &d);
	/* WATCHDOG=1 from the loop itself, at half of WatchdogSec= */
	(void)sd_event_set_watchdog(d.event, true);
	if (add_timer(&d, &d.judge_timer, on_judge_timer) < 0 ||
	    add_timer(&d, &d.bless_retry_timer, on_judge_timer) < 0 ||
	    add_timer(&d, &d.heartbeat_timer, on_heartbeat) < 0 ||
	    add_timer(&d, &d.poll_timer, on_poll) < 0 ||
	    add_timer(&d, &d.flush_timer, on_flush) < 0 ||
	    add_timer(&d, &d.net_timer, on_net_settled) < 0 ||
	    add_timer(&d, &d.worker_timer, on_worker_timeout) < 0) {
		log_error("Failed to set up the timers");
		r = -ENOMEM;
		goto out;
	}
	if (d.bus) {
		r = sd_bus_attach_event(d.bus, d.event, SD_EVENT_PRIORITY_NORMAL);
		if (r < 0)
			log_warning_errno(r, "Failed to attach the bus to the event loop: %m");
		subscribe(&d);
	}
	watch_network(&d);
	sd_notify(0, "READY=1\nSTATUS=waiting for a healthy, stable boot");

	/* Reports: a mode change or a start in safe mode now, and the spool
	 * sent at once; then heartbeats and command polls on their timers. */
	arm(d.heartbeat_timer, now_usec() + (uint64_t)d.cfg.report_heartbeat * USEC_PER_SEC);
	if (d.cfg.commands_url && *d.cfg.commands_url) {
		struct daemon_state ds;

		/* at a random time within the first interval: a fleet that
		 * powers on together does not poll together */
		if (daemon_state_read(d.root, &ds) < 0)
			memset(&ds, 0, sizeof(ds));
		arm(d.poll_timer,
		    daemon_poll_first_at(d.cfg.commands_poll_interval, now_usec() / 1000, &ds) *
		        1000);
	}
	d.pending |= JOB_START;
	judge(&d);
	(void)run_pending(&d);

	r = sd_event_loop(d.event);
	if (r < 0)
		log_error_errno(r, "Event loop failed: %m");
	if (d.worker_pid > 0) {
		(void)kill(d.worker_pid, SIGTERM);
		(void)waitpid(d.worker_pid, NULL, 0);
	}
	record_clean_shutdown(&d);
	r = 0;
out:
	unsubscribe(&d);
	sd_event_source_unref(d.judge_timer);
	sd_event_source_unref(d.bless_retry_timer);
	sd_event_source_unref(d.heartbeat_timer);
	sd_event_source_unref(d.poll_timer);
	sd_event_source_unref(d.flush_timer);
	sd_event_source_unref(d.net_timer);
	sd_event_source_unref(d.worker_timer);
	sd_event_source_unref(d.worker_source);
	sd_bus_flush_close_unref(d.bus);
	sd_event_unref(d.event);
	free(d.last_why);
	free(d.stop_state);
	free(d.worker_path);
	config_done(&d.cfg);
	return r < 0 ? 1 : r;
}
