/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A separate /var in the rootfs phase (var-mount.h): fstab lookup, device
 * resolution with libblkid (no udev symlinks needed), mount and unmount.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/boot/var-mount.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"

void fstab_entry_done(struct fstab_entry *e)
{
	free(e->spec);
	free(e->fstype);
	free(e->options);
	e->spec = e->fstype = e->options = NULL;
}

static bool has_option(const char *options, const char *opt)
{
	size_t l = strlen(opt);

	for (const char *p = options; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == l && strncmp(p, opt, l) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

int boot_fstab_find(const char *root, const char *dir, struct fstab_entry *ret)
{
	_cleanup_free_ char *path = path_under_root(root, "/etc/fstab"), *text = NULL;
	char *line, *save = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 1024 * 1024, &text, NULL);
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char spec[1024], mnt[1024], type[64], opts[1024] = "defaults";
		size_t ml;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' ||
		    sscanf(line, "%1023s %1023s %63s %1023s", spec, mnt, type, opts) < 3)
			continue;
		ml = strlen(mnt);
		while (ml > 1 && mnt[ml - 1] == '/')
			mnt[--ml] = 0;
		if (!streq(mnt, dir))
			continue;
		if (has_option(opts, "noauto"))
			return -ENOENT;
		ret->spec = strdup(spec);
		ret->fstype = strdup(type);
		ret->options = strdup(opts);
		if (!ret->spec || !ret->fstype || !ret->options) {
			fstab_entry_done(ret);
			return -ENOMEM;
		}
		return 0;
	}
	return -ENOENT;
}

static bool is_mount_point(const char *root, const char *dir)
{
	struct stat a, b;

	return stat(root, &a) == 0 && stat(dir, &b) == 0 && a.st_dev != b.st_dev;
}

static char *resolve(const char *spec)
{
	char *eq = strchr(spec, '=');

	if (spec[0] == '/')
		return strdup(spec);
	if (!eq)
		return NULL;
	{
		_cleanup_free_ char *tag = strndup(spec, (size_t)(eq - spec));
		const char *val = eq + 1;
		size_t vl = strlen(val);
		_cleanup_free_ char *unq = NULL;

		if (!tag)
			return NULL;
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
			unq = strndup(val + 1, vl - 2);
			val = unq;
		}
		return val ? blkid_evaluate_tag(tag, val, NULL) : NULL;
	}
}

int boot_var_mount(const char *root)
{
	_cleanup_free_ char *target = path_under_root(root, "/var"), *dev = NULL, *probed = NULL;
	struct fstab_entry e = {0};
	const char *type;
	int r;

	if (!target)
		return -ENOMEM;
	r = boot_fstab_find(root, "/var", &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return log_warning_errno(r, "Failed to read %s/etc/fstab: %m", root);
	if (is_mount_point(root, target)) {
		fstab_entry_done(&e);
		return 0;
	}
	dev = resolve(e.spec);
	if (!dev) {
		log_error("separate /var: device %s not found; the quarantine waits for a boot "
		          "that can mount it",
		          e.spec);
		fstab_entry_done(&e);
		return -ENODEV;
	}
	type = e.fstype;
	if (streq(type, "auto")) {
		probed = blkid_get_tag_value(NULL, "TYPE", dev);
		type = probed ? probed : "ext4";
	}
	if (mount(dev, target, type, MS_NOSUID | MS_NODEV, NULL) < 0) {
		r = -errno;
		log_error_errno(r, "separate /var: failed to mount %s (%s) at %s: %m", dev, type,
		                target);
		fstab_entry_done(&e);
		return r;
	}
	log_info("separate /var: mounted %s at %s for the rootfs phase", dev, target);
	fstab_entry_done(&e);
	return 1;
}

void boot_var_unmount(const char *root)
{
	_cleanup_free_ char *target = path_under_root(root, "/var");

	if (!target)
		return;
	sync();
	if (umount2(target, 0) < 0) {
		log_warning_errno(errno, "Failed to unmount %s: %m; detaching it", target);
		(void)umount2(target, MNT_DETACH);
	}
}
