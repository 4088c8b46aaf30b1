/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The boot watchdog (watchdog.h): arming in the initramfs, the hand-over
 * to PID 1 and the hand-back after stable_after.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/boot/watchdog.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

bool boot_enabled_in_image(const char *root)
{
	_cleanup_free_ char *p = path_under_root(root, BOOT_ENABLED_FLAG);

	return p && access(p, F_OK) == 0;
}

int boot_watchdog_arm(const char *dev, unsigned timeout)
{
	_cleanup_close_ int fd = -1;
	int t = (int)timeout;

	fd = open(dev, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, WDIOC_SETTIMEOUT, &t) < 0)
		log_warning_errno(errno, "Failed to set the watchdog timeout to %u s: %m", timeout);
	(void)ioctl(fd, WDIOC_KEEPALIVE, 0);
	/* closed without the magic 'V': it keeps running (the kernel logs
	 * "watchdog did not stop!"), until PID 1 opens it */
	return 0;
}

int boot_watchdog_write_dropin(const char *root, unsigned timeout)
{
	_cleanup_free_ char *p = path_under_root(root, BOOT_WATCHDOG_DROPIN), *dir = NULL,
	                    *text = NULL;
	int n, r;

	if (!p || !(dir = strdup(p)))
		return -ENOMEM;
	*strrchr(dir, '/') = 0;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	n = asprintf(&text,
	             "# Written by lifeline-early in the initramfs: PID 1 pings the boot\n"
	             "# watchdog while the boot makes progress. Removed, and the watchdog\n"
	             "# handed back to system.conf's setting, once the boot has been up\n"
	             "# [boot] stable_after seconds (lifeline-survived.service).\n"
	             "[Manager]\nRuntimeWatchdogSec=%us\n",
	             timeout);
	if (n < 0)
		return -ENOMEM;
	return write_file_atomic(p, text, (size_t)n, 0644);
}

int boot_parse_timespan_usec(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t usec;
	} units[] = {
	    {"usec", 1ULL},           {"us", 1ULL},
	    {"msec", 1000ULL},        {"ms", 1000ULL},
	    {"seconds", 1000000ULL},  {"second", 1000000ULL},
	    {"sec", 1000000ULL},      {"s", 1000000ULL},
	    {"minutes", 60000000ULL}, {"minute", 60000000ULL},
	    {"min", 60000000ULL},     {"m", 60000000ULL},
	    {"hours", 3600000000ULL}, {"hour", 3600000000ULL},
	    {"hr", 3600000000ULL},    {"h", 3600000000ULL},
	    {"days", 86400000000ULL}, {"day", 86400000000ULL},
	    {"d", 86400000000ULL},
	};
	uint64_t total = 0;
	const char *p = s;
	bool any = false;

	while (*p == ' ' || *p == '\t')
		p++;
	if (streq(p, "off") || streq(p, "no") || streq(p, "false")) {
		*ret = 0;
		return 0;
	}
	if (streq(p, "default") || streq(p, "infinity")) {
		*ret = BOOT_WATCHDOG_INFINITY;
		return 0;
	}
	while (*p) {
		char *end;
		unsigned long long v;
		uint64_t mult = 1000000ULL;
		size_t i;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0)
			return -EINVAL;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
		for (i = 0; i < ELEMENTSOF(units); i++) {
			size_t l = strlen(units[i].suffix);

			if (strncmp(p, units[i].suffix, l) == 0 &&
			    (p[l] == 0 || p[l] == ' ' || p[l] == '\t' ||
			     (p[l] >= '0' && p[l] <= '9'))) {
				mult = units[i].usec;
				p += l;
				break;
			}
		}
		if (i == ELEMENTSOF(units) && *p && !(*p >= '0' && *p <= '9'))
			return -EINVAL;
		if (v > (UINT64_MAX - 1 - total) / mult)
			return -ERANGE;
		total += v * mult;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret = total;
	return 0;
}

/* The last RuntimeWatchdogSec= of one file's [Manager] section. */
static int scan_file(const char *path, uint64_t *val, bool *found)
{
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	bool manager = false;
	int r;

	r = read_full_file(path, 256 * 1024, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v;
		uint64_t u;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '[') {
			manager = strncmp(line, "[Manager]", 9) == 0;
			continue;
		}
		if (!manager || strncmp(line, "RuntimeWatchdogSec", 18) != 0)
			continue;
		v = line + 18;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=')
			continue;
		v++;
		for (char *e = v + strlen(v);
		     e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r');)
			*--e = 0;
		if (*v == 0) {
			*found = false; /* an empty assignment resets to the default (off) */
			continue;
		}
		if (boot_parse_timespan_usec(v, &u) < 0) {
			log_warning("%s: RuntimeWatchdogSec=%s not understood, ignored", path, v);
			continue;
		}
		*val = u;
		*found = true;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const char *x = strrchr(*(char *const *)a, '/'), *y = strrchr(*(char *const *)b, '/');

	return strcmp(x, y);
}

int boot_watchdog_admin_usec(const char *root, uint64_t *ret)
{
	/* lowest precedence first: for one file name the later directory
	 * here is the one systemd takes */
	static const char *const dirs[] = {
	    "/usr/lib/systemd/system.conf.d",
	    "/usr/local/lib/systemd/system.conf.d",
	    "/run/systemd/system.conf.d",
	    "/etc/systemd/system.conf.d",
	};
	_cleanup_strv_free_ char **files = NULL;
	_cleanup_free_ char *main_conf = path_under_root(root, "/etc/systemd/system.conf");
	const char *ours = strrchr(BOOT_WATCHDOG_DROPIN, '/') + 1;
	uint64_t val = 0;
	bool found = false;
	size_t n;
	int r;

	if (!main_conf)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *d = path_under_root(root, dirs[i]);
		_cleanup_(closedirp) DIR *dir = NULL;
		struct dirent *de;

		if (!d)
			return -ENOMEM;
		dir = opendir(d);
		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name);
			char *p;

			if (de->d_name[0] == '.' || l < 6 || !streq(de->d_name + l - 5, ".conf") ||
			    streq(de->d_name, ours))
				continue;
			p = path_join(d, de->d_name);
			if (!p)
				return -ENOMEM;
			/* same name in a directory that wins: replace */
			for (char **f = files; f && *f; f++)
				if (streq(strrchr(*f, '/'), strrchr(p, '/'))) {
					free(*f);
					*f = p;
					p = NULL;
					break;
				}
			if (p && strv_consume(&files, p) < 0)
				return -ENOMEM;
		}
	}
	n = strv_length(files);
	if (n > 1)
		qsort(files, n, sizeof(char *), by_name);
	r = scan_file(main_conf, &val, &found);
	if (r < 0)
		log_debug_errno(r, "Failed to read %s: %m", main_conf);
	STRV_FOREACH (f, files) {
		r = scan_file(*f, &val, &found);
		if (r < 0)
			log_debug_errno(r, "Failed to read %s: %m", *f);
	}
	if (!found)
		return 0;
	*ret = val;
	return 1;
}

/* PID 1 re-executes itself and reads system.conf(.d) again, without our
 * drop-in: the administrator's RuntimeWatchdogSec= (or none) is in force
 * from then on. Before it re-executes, PID 1 closes and disarms the
 * device (so the new instance is not reset while it starts), and the new
 * instance opens it only when a RuntimeWatchdogSec= is configured.
 * Measured on systemd 252: its writable D-Bus property
 * RuntimeWatchdogUSec accepted 0 (and 60 s, then 0) and left the watchdog
 * running, so it is not used. systemctl talks to PID 1 on its private
 * socket: no D-Bus daemon needed. A few tries, two seconds apart. */
static int reexec_pid1(void)
{
	int r = -EIO;

	for (int i = 0; i < 5; i++) {
		pid_t pid;
		int status;

		if (i > 0)
			sleep(2);
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid == 0) {
			execl("/usr/bin/systemctl", "systemctl", "daemon-reexec", (char *)NULL);
			execl("/bin/systemctl", "systemctl", "daemon-reexec", (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			return -errno;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 0;
	}
	return r;
}

int boot_watchdog_hand_back(const char *root, bool call_pid1)
{
	_cleanup_free_ char *p = path_under_root(root, BOOT_WATCHDOG_DROPIN);
	uint64_t usec = 0;
	int r, admin;

	if (!p)
		return -ENOMEM;
	if (unlink(p) < 0) {
		if (errno == ENOENT)
			return 0;
		return log_error_errno(errno, "Failed to remove %s: %m", p);
	}
	admin = boot_watchdog_admin_usec(root, &usec);
	if (admin < 0)
		admin = 0;
	if (admin)
		log_info("boot watchdog handed back to the administrator's RuntimeWatchdogSec "
		         "(%llu us)",
		         (unsigned long long)usec);
	else
		log_info("boot watchdog stood down: the boot has been up stable_after seconds");
	if (!call_pid1)
		return 1;
	r = reexec_pid1();
	if (r < 0)
		return log_error_errno(r, "Failed to have PID 1 read its watchdog setting again "
		                          "(systemctl daemon-reexec): %m");
	return 1;
}
