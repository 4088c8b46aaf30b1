/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelined — the agent daemon. Decides that a boot is good and blesses it
 * (resets the failure counter: the second and last variable write of a
 * good boot), then stands down the boot watchdog that lifeline-early armed,
 * and keeps systemd's service watchdog fed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "agent/bless.h"
#include "agent/config.h"
#include "agent/components.h"
#include "agent/decide.h"
#include "agent/inventory.h"
#include "agent/runstate.h"
#include "agent/report.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "efi/store.h"


static volatile sig_atomic_t stop;
static const char *arg_root = "/";
static bool arg_once;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static char *system_state(sd_bus *bus)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	char *s = NULL;

	if (sd_bus_get_property_string(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				       "org.freedesktop.systemd1.Manager", "SystemState", &err, &s) < 0)
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
			       "org.freedesktop.systemd1.Manager", "ListUnitsFiltered", &err, &reply, "as", 1,
			       "failed");
	sd_bus_error_free(&err);
	if (r < 0 || sd_bus_message_enter_container(reply, 'a', "(ssssssouso)") < 0)
		return NULL;
	while (sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
				   NULL, NULL) > 0)
		(void)strv_extend(&units, name);
	return units;
}

static double uptime_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Called during report uploads and command polls (each up to 30 s), so a
 * dead collector does not starve systemd's watchdog (WatchdogSec=60). */
static void keep_watchdog_fed(void *userdata)
{
	static double last;
	double now = uptime_seconds();

	if (*(uint64_t *)userdata && now - last >= 1.0) {
		sd_notify(0, "WATCHDOG=1");
		last = now;
	}
}

static unsigned long kernel_taint(void)
{
	_cleanup_free_ char *t = NULL;

	if (read_full_file("/proc/sys/kernel/tainted", 64, &t, NULL) < 0)
		return 0;
	return strtoul(t, NULL, 10);
}

/* The boot is blessed: the hardware watchdog lifeline-early armed has done
 * its job. Writing 'V' before close stops it (magic close). If systemd's
 * RuntimeWatchdogSec= owns the device, open fails with EBUSY: leave it. */
static void stand_down_boot_watchdog(void)
{
	_cleanup_close_ int fd = open("/dev/watchdog0", O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == EBUSY)
			log_info("hardware watchdog is held by another process (systemd RuntimeWatchdogSec=?): left to it");
		return;
	}
	if (write(fd, "V", 1) != 1)
		log_warning_errno(errno, "Failed to disarm the boot watchdog: %m");
	else
		log_info("boot watchdog disarmed");
}

/* A blessed normal boot with nothing quarantined is the new "last good":
 * snapshot every component's files (DESIGN.md boot flow 4) and keep
 * last-good copies of small content files for rollback. Not in safe mode:
 * quarantined files would be recorded as missing. */
static void take_last_good_inventory(const struct lifeline_config *cfg, int mode)
{
	_cleanup_inventory_free_ struct inventory *prev = NULL, *inv = NULL;
	_cleanup_free_ struct quarantine_entry *active = NULL;
	struct content_cache_result cr = { 0 };
	struct component_set set = { 0 };
	unsigned n_active = 0;
	int r;

	if (mode != STATE_MODE_NORMAL || quarantine_active_read(arg_root, &active, &n_active) < 0 ||
	    n_active > 0)
		return;
	(void)components_load(arg_root, &set, NULL);
	(void)inventory_load(arg_root, &prev); /* any error: no previous, hash all */
	r = inventory_take(arg_root, &set, prev, &inv);
	if (r >= 0)
		r = inventory_save(arg_root, inv);
	if (r >= 0)
		r = content_cache_update(arg_root, &set, inv, cfg->quarantine_cache_max, &cr);
	if (r < 0)
		log_warning_errno(r, "Failed to take the last-good inventory: %m");
	else
		log_info("last-good inventory taken");
	STRV_FOREACH(l, cr.lines)
		log_notice("%s", *l);
	content_cache_result_done(&cr);
	components_done(&set);
}

static int bless_now(const struct lifeline_config *cfg)
{
	struct store *store = NULL;
	struct state_record rec;
	int r;

	r = config_open_store(cfg, &store, NULL);
	if (r < 0)
		return log_error_errno(r, "No state store, cannot bless this boot: %m");
	r = store_load(store, &rec);
	if (r < 0) {
		log_error("Cannot bless this boot: %s", state_record_strerror(r));
		store_free(store);
		return r;
	}
	decide_bless(&rec, (unsigned long long)time(NULL));
	r = store_save(store, &rec);
	store_free(store);
	if (r < 0)
		return log_error_errno(r, "Failed to write the state record: %m");
	log_info("boot #%u blessed (mode %s, level %u)", rec.boot_seq, state_mode_to_string(rec.mode),
		 rec.level);
	take_last_good_inventory(cfg, rec.mode);
	return 0;
}

/* With count_clean_reboots=no, a clean shutdown is marked so that the next
 * boot does not count this one as failed. */
static void mark_clean_shutdown(const struct lifeline_config *cfg, sd_bus *bus)
{
	_cleanup_free_ char *st = bus ? system_state(bus) : NULL;
	struct store *store = NULL;
	struct state_record rec;

	if (cfg->count_clean_reboots || !streq_ptr(st, "stopping"))
		return;
	if (config_open_store(cfg, &store, NULL) < 0)
		return;
	if (store_load(store, &rec) >= 0) {
		rec.flags |= STATE_FLAG_CLEAN_SHUTDOWN;
		if (store_save(store, &rec) >= 0)
			log_info("clean shutdown recorded");
	}
	store_free(store);
}

static void help(void)
{
	printf("Usage: lifelined [--once] [--root=DIR]\n"
	       "\n"
	       "The lifeline agent (run by lifelined.service). Blesses a boot that is\n"
	       "healthy and has been up [boot] stable_after seconds, then disarms the boot\n"
	       "watchdog lifeline-early armed.\n"
	       "\n"
	       "  --once       judge and bless once if healthy, then exit (0 blessed,\n"
	       "               1 not healthy yet)\n"
	       "  --root=DIR   configuration under DIR\n"
	       "  -h, --help   this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	struct lifeline_config cfg;
	struct report_sched reports;
	uint64_t wd_usec = 0;
	int poll_error = 0;
	bool blessed = false;
	char *last_why = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'o':
			arg_once = true;
			break;
		case 'r':
			arg_root = optarg;
			break;
		case 'h':
			help();
			return 0;
		default:
			return 2;
		}
	}
	log_set_prefix("lifelined: ");
	config_init_defaults(&cfg);
	(void)config_load(arg_root, &cfg);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	r = sd_bus_open_system(&bus);
	if (r < 0)
		log_warning_errno(r, "Failed to connect to the system bus: %m");
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	sd_notify(0, "READY=1\nSTATUS=waiting for a healthy, stable boot");

	/* Reports (a mode change or a start in safe mode now, heartbeats,
	 * the spool with back-off) and fleet commands: agent/report.c. */
	report_sched_init(&reports);
	reports.keepalive = keep_watchdog_fed;
	reports.userdata = &wd_usec;
	if (!arg_once)
		(void)report_sched_start(&reports, arg_root, &cfg, (uint64_t)uptime_seconds());

	while (!stop) {
		if (!blessed) {
			_cleanup_free_ char *st = bus ? system_state(bus) : NULL;
			_cleanup_strv_free_ char **failed = bus ? failed_units(bus) : NULL;
			struct bless_verdict v = { 0 };

			if (bless_judge(&cfg, st, failed, uptime_seconds(), kernel_taint(), &v) >= 0 && v.ok) {
				_cleanup_free_ char *why = NULL;

				if (bless_run_checks(arg_root, 60, &why) == 0) {
					v.ok = false;
					v.why = TAKE_PTR(why);
				}
			}
			if (v.ok && bless_now(&cfg) >= 0) {
				blessed = true;
				stand_down_boot_watchdog();
				sd_notify(0, "STATUS=boot blessed");
			} else if (v.why && !streq_ptr(v.why, last_why)) {
				log_info("not blessed yet: %s", v.why);
				sd_notifyf(0, "STATUS=not blessed yet: %s", v.why);
				free(last_why);
				last_why = strdup(v.why);
			}
			bless_verdict_done(&v);
			if (arg_once)
				break;
		}
		if (!arg_once) {
			r = report_sched_tick(&reports, arg_root, &cfg, (uint64_t)uptime_seconds());
			if (r < 0 && r != -EAGAIN && r != -EBUSY)
				log_warning("reports not delivered to %s: %s; next try in %llu s", cfg.report_url,
					    reports.backoff.last_error[0] ? reports.backoff.last_error : strerror(-r),
					    (unsigned long long)reports.backoff.delay);
			if (reports.poll_error != poll_error && reports.poll_error < 0)
				log_warning_errno(reports.poll_error, "Fleet commands from %s not checked: %m",
						  cfg.commands_url);
			poll_error = reports.poll_error;
		}
		if (wd_usec)
			sd_notify(0, "WATCHDOG=1");
		/* Before the blessing: poll every few seconds. After it: only
		 * the watchdog ping wakes us (or once a minute without one). */
		{
			unsigned sleep_s = !blessed ? 5 : wd_usec ? (unsigned)(wd_usec / 2000000) : 60;
			sleep(sleep_s ? sleep_s : 1);
		}
	}
	if (!arg_once)
		mark_clean_shutdown(&cfg, bus);
	free(last_why);
	config_done(&cfg);
	return arg_once ? (blessed ? 0 : 1) : 0;
}
