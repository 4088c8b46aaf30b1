/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File backend: the same 256-byte record in <partition>/lifeline/state.bin
 * for machines whose EFI variables are missing or not writable. The
 * partition is PARTLABEL=lifeline-state, else the ESP (found by its GPT
 * partition-type GUID). If it is not mounted, it is mounted under
 * /run/lifeline/state-mnt for the life of the store handle.
 */
#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "store.h"

#define ESP_TYPE_GUID "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
#define STATE_MNT     "/run/lifeline/state-mnt"

DEFINE_TRIVIAL_CLEANUP_FUNC(blkid_probe, blkid_free_probe)

/* Probe one partition device for its type GUID and filesystem type. */
static int probe_partition(const char *dev, char **ret_type_guid, char **ret_fstype)
{
	_cleanup_(blkid_free_probep) blkid_probe pr = NULL;
	const char *v = NULL;

	pr = blkid_new_probe_from_filename(dev);
	if (!pr)
		return errno > 0 ? -errno : -EIO;
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) != 0)
		return -ENXIO;
	if (blkid_probe_lookup_value(pr, "PART_ENTRY_TYPE", &v, NULL) == 0 && ret_type_guid)
		*ret_type_guid = strdup(v);
	if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 && ret_fstype)
		*ret_fstype = strdup(v);
	return 0;
}

/* Find the ESP among the block devices that are partitions. */
static int find_esp(char **ret_dev)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	d = opendir("/sys/class/block");
	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		_cleanup_free_ char *part = NULL, *dev = NULL, *type = NULL;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&part, "/sys/class/block/%s/partition", de->d_name) < 0)
			return -ENOMEM;
		if (stat(part, &st) < 0)
			continue;
		if (asprintf(&dev, "/dev/%s", de->d_name) < 0)
			return -ENOMEM;
		if (probe_partition(dev, &type, NULL) < 0 || !type)
			continue;
		if (strcasecmp(type, ESP_TYPE_GUID) == 0) {
			*ret_dev = TAKE_PTR(dev);
			return 0;
		}
	}
	return -ENOENT;
}

/* Mount point of dev in /proc/self/mountinfo, if mounted at its root. */
static int find_mount(const char *dev, char **ret_dir)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t n = 0;
	struct stat st;

	if (stat(dev, &st) < 0)
		return negative_errno();
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return negative_errno();
	while (getline(&line, &n, f) > 0) {
		unsigned maj, min;
		char root[4096], dir[4096];

		if (sscanf(line, "%*d %*d %u:%u %4095s %4095s", &maj, &min, root, dir) != 4)
			continue;
		if (makedev(maj, min) == st.st_rdev && streq(root, "/")) {
			*ret_dir = strdup(dir);
			return *ret_dir ? 0 : -ENOMEM;
		}
	}
	return -ENOENT;
}

int store_file_locate(char **ret_path, char **ret_mounted_dir)
{
	_cleanup_free_ char *dev = NULL, *dir = NULL, *fstype = NULL;
	blkid_cache cache = NULL;
	char *p;
	int r;

	/* PARTLABEL lookups go through /dev/disk/by-partlabel when udev has
	 * made it, else libblkid scans. */
	dev = blkid_evaluate_tag("PARTLABEL", "lifeline-state", &cache);
	blkid_put_cache(cache);
	if (!dev) {
		r = find_esp(&dev);
		if (r < 0)
			return r == -ENOENT ? -ENODEV : r;
	}

	r = find_mount(dev, &dir);
	if (r == -ENOENT) {
		(void)probe_partition(dev, NULL, &fstype);
		r = mkdir_p(STATE_MNT, 0700);
		if (r < 0)
			return r;
		if (mount(dev, STATE_MNT, fstype ? fstype : "vfat",
		          MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return negative_errno();
		dir = strdup(STATE_MNT);
		if (!dir)
			return -ENOMEM;
		*ret_mounted_dir = strdup(STATE_MNT);
	} else if (r < 0)
		return r;

	p = path_join(dir, STORE_FILE_RELPATH);
	if (!p)
		return -ENOMEM;
	*ret_path = p;
	return 0;
}

int store_file_read(const char *path, uint8_t **ret_data, size_t *ret_size)
{
	char *data = NULL;
	size_t size = 0;
	int r;

	r = read_full_file(path, 4096, &data, &size);
	if (r == -EFBIG)
		return STATE_E_SIZE;
	if (r < 0)
		return r;
	*ret_data = (uint8_t *)data;
	*ret_size = size;
	return 0;
}

int store_file_write(const char *path, const uint8_t *data, size_t size)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;
	int r;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		r = mkdir_p(dir, 0700);
		if (r < 0)
			return r;
	}
	return write_file_atomic(path, data, size, 0600);
}
