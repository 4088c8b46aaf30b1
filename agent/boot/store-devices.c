/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file store's disk in the initramfs, before udev (store-devices.h):
 * the storage drivers loaded by their modaliases, then a bounded wait.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/boot/store-devices.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* One sysfs attribute, its first line, trailing space removed. */
static char *read_attr(const char *dir, const char *name)
{
	_cleanup_free_ char *p = NULL;
	char *text = NULL;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	if (read_full_file(p, 4096, &text, NULL) < 0)
		return NULL;
	text[strcspn(text, "\n")] = 0;
	for (size_t n = strlen(text); n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'); n--)
		text[n - 1] = 0;
	return text;
}

/* Whether a device's attribute says it is storage, by bus. */
static bool is_storage(const char *bus, const char *dev)
{
	_cleanup_free_ char *v = NULL;
	char *end;
	unsigned long n;

	if (streq(bus, "pci")) {
		/* "0x010802": base class 0x01, mass storage */
		v = read_attr(dev, "class");
		return v && strlen(v) == 8 && strncmp(v, "0x01", 4) == 0;
	}
	if (streq(bus, "virtio")) {
		v = read_attr(dev, "device");
		if (!v)
			return false;
		n = strtoul(v, &end, 0);
		return end != v && *end == 0 && n == 2; /* VIRTIO_ID_BLOCK */
	}
	/* scsi: "type" exists on devices (not hosts or targets); 0 disk,
	 * 0xe reduced-command disk (TYPE_DISK, TYPE_RBC) */
	v = read_attr(dev, "type");
	if (!v)
		return false;
	n = strtoul(v, &end, 10);
	return end != v && *end == 0 && (n == 0 || n == 14);
}

static int bus_aliases(const char *sysfs, const char *bus, char ***aliases)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int added = 0;

	if (asprintf(&dir, "%s/bus/%s/devices", sysfs, bus) < 0)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return 0; /* no such bus (yet) */
	while ((de = readdir(d))) {
		_cleanup_free_ char *dev = NULL, *alias = NULL;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&dev, "%s/%s", dir, de->d_name) < 0)
			return -ENOMEM;
		if (!is_storage(bus, dev))
			continue;
		alias = read_attr(dev, "modalias");
		if (!alias || !*alias || strv_contains(*aliases, alias))
			continue;
		if (strv_extend(aliases, alias) < 0)
			return -ENOMEM;
		added++;
	}
	return added;
}

int store_devices_aliases(const char *sysfs, char ***aliases)
{
	static const char *const buses[] = {"pci", "virtio", "scsi"};
	int added = 0;

	for (size_t i = 0; i < ELEMENTSOF(buses); i++) {
		int r = bus_aliases(sysfs, buses[i], aliases);

		if (r < 0)
			return r;
		added += r;
	}
	return added;
}

unsigned store_devices_count_block(const char *sysfs)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	unsigned n = 0;

	if (asprintf(&dir, "%s/class/block", sysfs) < 0)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	return n;
}

int store_devices_wait(const char *sysfs, const struct store_devices_ops *ops, unsigned poll_ms,
                       unsigned settle_ms, unsigned timeout_ms, unsigned *ret_loaded)
{
	_cleanup_strv_free_ char **loaded = NULL;
	unsigned long long start = ops->now_ms(ops->userdata), changed = start;
	unsigned blocks = store_devices_count_block(sysfs);
	int r = -ENODEV;

	for (;;) {
		_cleanup_strv_free_ char **fresh = NULL, **all = strv_copy(loaded);
		unsigned long long now;
		unsigned b;

		if (loaded && !all)
			return -ENOMEM;
		/* what is new since the last round: a controller's driver
		 * makes the disks on it appear, whose drivers come next */
		if (store_devices_aliases(sysfs, &all) < 0)
			return -ENOMEM;
		STRV_FOREACH (a, all)
			if (!strv_contains(loaded, *a) && strv_extend(&fresh, *a) < 0)
				return -ENOMEM;
		if (fresh) {
			ops->load(fresh, ops->userdata);
			if (strv_extend_strv(&loaded, fresh) < 0)
				return -ENOMEM;
		}
		r = ops->try_open(ops->userdata);
		if (r >= 0) {
			r = 0;
			break;
		}
		now = ops->now_ms(ops->userdata);
		b = store_devices_count_block(sysfs);
		if (b != blocks || fresh) {
			blocks = b;
			changed = now;
		}
		if (now - start >= timeout_ms || now - changed >= settle_ms)
			break;
		ops->sleep_ms(poll_ms, ops->userdata);
	}
	if (ret_loaded)
		*ret_loaded = (unsigned)strv_length(loaded);
	return r;
}

void store_devices_modprobe(char **aliases, void *userdata)
{
	_cleanup_free_ char **argv = NULL;
	size_t n = strv_length(aliases), i = 0;
	time_t deadline = time(NULL) + STORE_DEVICES_MODPROBE_WAIT_S;
	int status = 0;
	pid_t pid;

	(void)userdata;
	argv = calloc(n + 5, sizeof(char *));
	if (!argv)
		return;
	argv[i++] = (char *)"modprobe";
	argv[i++] = (char *)"-q";
	argv[i++] = (char *)"-b";
	argv[i++] = (char *)"-a";
	STRV_FOREACH (a, aliases)
		argv[i++] = *a;
	pid = fork();
	if (pid < 0) {
		log_warning_errno(errno, "Failed to start modprobe for the storage drivers: %m");
		return;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		execv("/sbin/modprobe", argv);
		execvp("modprobe", argv);
		_exit(127);
	}
	/* a driver's probe can take a while (a SCSI bus scan); never the
	 * whole boot */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (time(NULL) >= deadline) {
			log_warning("modprobe for the storage drivers still running after %d s: "
			            "left to finish on its own",
			            STORE_DEVICES_MODPROBE_WAIT_S);
			return;
		}
		struct timespec ts = {.tv_nsec = 20 * 1000 * 1000L};

		(void)nanosleep(&ts, NULL);
	}
}
