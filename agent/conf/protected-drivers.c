/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The drivers this machine needs to boot and be reached (protected.h):
 * the root file system's type and the storage stack under it, the
 * default route's network interface and the stack under it, read from
 * <root>/proc and <root>/sys. In-tree or not: DKMS zfs and r8168 are
 * found the same way, through each device's driver/module link.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf/names.h"
#include "agent/conf/protected.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

#define DEPTH_MAX 8

struct found {
	const char *root;
	char **modules;
	char **why;
};

static int add(struct found *f, const char *module, const char *why)
{
	char name[MODULE_NAME_MAX + 1];
	int r;

	if (!module || strlen(module) > MODULE_NAME_MAX)
		return 0;
	module_name_normalize(memcpy(name, module, strlen(module) + 1));
	if (!module_name_is_valid(name, false) || strv_contains(f->modules, name))
		return 0;
	r = strv_extend(&f->modules, name);
	if (r >= 0)
		r = strv_extend(&f->why, why);
	return r;
}

/* realpath() of <root>/<rel>, or NULL; never a path outside <root>/sys. */
static char *sys_realpath(const struct found *f, const char *rel)
{
	_cleanup_free_ char *p = path_under_root(f->root, rel);
	_cleanup_free_ char *sys = path_under_root(f->root, "/sys");
	_cleanup_free_ char *sysr = NULL;
	char *r;

	if (!p || !sys)
		return NULL;
	sysr = realpath(sys, NULL);
	r = realpath(p, NULL);
	if (!r || !sysr || strncmp(r, sysr, strlen(sysr)) != 0 || r[strlen(sysr)] != '/') {
		free(r);
		return NULL;
	}
	return r;
}

/* The module behind dir/driver (dir absolute), or NULL. */
static char *driver_module(const char *dir)
{
	_cleanup_free_ char *link = NULL, *mod = NULL;
	char *rp, *base;

	if (asprintf(&link, "%s/driver/module", dir) < 0)
		return NULL;
	rp = realpath(link, NULL);
	if (!rp)
		return NULL;
	base = strrchr(rp, '/');
	mod = strdup(base ? base + 1 : rp);
	free(rp);
	return TAKE_PTR(mod);
}

/* Every driver from dev (a realpath under /sys/devices) up to the root
 * of the device tree. */
static int walk_up(struct found *f, char *dev, const char *why)
{
	_cleanup_free_ char *top = NULL;
	size_t top_len;
	int r;

	top = path_under_root(f->root, "/sys/devices");
	if (!top)
		return -ENOMEM;
	{
		char *t = realpath(top, NULL);

		if (!t)
			return 0;
		free(top);
		top = t;
	}
	top_len = strlen(top);
	while (strlen(dev) > top_len && strncmp(dev, top, top_len) == 0) {
		_cleanup_free_ char *m = driver_module(dev);
		char *slash;

		if (m) {
			r = add(f, m, why);
			if (r < 0)
				return r;
		}
		slash = strrchr(dev, '/');
		if (!slash)
			break;
		*slash = 0;
	}
	return 0;
}

static int block_device(struct found *f, const char *name, unsigned depth);

/* A block device (its /sys/class/block/NAME realpath): its drivers, the
 * device mapper or md layer it is, and the devices under it (slaves). */
static int block_dir(struct found *f, char *dir, unsigned depth)
{
	const char *base = strrchr(dir, '/');
	_cleanup_free_ char *slaves = NULL, *uuid_path = NULL, *uuid = NULL, *level = NULL,
	                    *level_path = NULL;
	DIR *d;
	int r;

	base = base ? base + 1 : dir;
	if (strncmp(base, "dm-", 3) == 0) {
		r = add(f, "dm_mod", "the root file system's device mapper");
		if (r < 0)
			return r;
		if (asprintf(&uuid_path, "%s/dm/uuid", dir) < 0)
			return -ENOMEM;
		if (read_full_file(uuid_path, 4096, &uuid, NULL) >= 0 &&
		    strncmp(uuid, "CRYPT-", 6) == 0) {
			r = add(f, "dm_crypt", "the root file system's encryption");
			if (r < 0)
				return r;
		}
	}
	if (strncmp(base, "md", 2) == 0) {
		r = add(f, "md_mod", "the root file system's software RAID");
		if (r < 0)
			return r;
		if (asprintf(&level_path, "%s/md/level", dir) < 0)
			return -ENOMEM;
		if (read_full_file(level_path, 4096, &level, NULL) >= 0) {
			const char *m = level;

			level[strcspn(level, "\n")] = 0;
			/* raid4, raid5 and raid6 are one module */
			if (streq(level, "raid4") || streq(level, "raid5") || streq(level, "raid6"))
				m = "raid456";
			r = add(f, m, "the root file system's software RAID");
			if (r < 0)
				return r;
		}
	}
	if (asprintf(&slaves, "%s/slaves", dir) < 0)
		return -ENOMEM;
	d = opendir(slaves);
	if (d) {
		struct dirent *de;

		r = 0;
		while (r >= 0 && (de = readdir(d)))
			if (de->d_name[0] != '.')
				r = block_device(f, de->d_name, depth + 1);
		closedir(d);
		if (r < 0)
			return r;
	}
	return walk_up(f, dir, "the root file system's storage");
}

static int block_device(struct found *f, const char *name, unsigned depth)
{
	_cleanup_free_ char *rel = NULL, *dir = NULL;

	if (depth > DEPTH_MAX || strchr(name, '/') || streq(name, "..") || streq(name, "."))
		return 0;
	if (asprintf(&rel, "/sys/class/block/%s", name) < 0)
		return -ENOMEM;
	dir = sys_realpath(f, rel);
	return dir ? block_dir(f, dir, depth) : 0;
}

/* /dev/mapper/NAME: the dm-N whose dm/name is NAME. */
static int mapper_device(struct found *f, const char *mapname)
{
	_cleanup_free_ char *cls = path_under_root(f->root, "/sys/class/block");
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!cls)
		return -ENOMEM;
	d = opendir(cls);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *text = NULL;

		if (strncmp(de->d_name, "dm-", 3) != 0)
			continue;
		if (asprintf(&p, "%s/%s/dm/name", cls, de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (read_full_file(p, 4096, &text, NULL) < 0)
			continue;
		text[strcspn(text, "\n")] = 0;
		if (streq(text, mapname)) {
			r = block_device(f, de->d_name, 0);
			break;
		}
	}
	closedir(d);
	return r;
}

/* In the initramfs the real root is not mounted yet ("/" is the
 * initramfs' own rootfs or tmpfs): the kernel command line says what it
 * will be. root=ZFS=pool/ds (zfs-initramfs), rootfstype=TYPE, and
 * root=/dev/NAME, UUID=, PARTUUID=, LABEL= through udev's /dev/disk links
 * (present once udev has seen the device; before that the in-tree rule
 * still covers the storage drivers). */
static int root_from_cmdline(struct found *f)
{
	_cleanup_free_ char *path = path_under_root(f->root, "/proc/cmdline");
	_cleanup_free_ char *text = NULL;
	static const struct {
		const char *prefix, *dir;
	} by[] = {
	    {"UUID=", "/dev/disk/by-uuid/"},
	    {"PARTUUID=", "/dev/disk/by-partuuid/"},
	    {"LABEL=", "/dev/disk/by-label/"},
	};
	int r = 0;

	if (!path)
		return -ENOMEM;
	if (read_full_file(path, 64 * 1024, &text, NULL) < 0)
		return 0;
	for (char *save = NULL, *w = strtok_r(text, " \t\n", &save); w && r >= 0;
	     w = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(w, "rootfstype=", 11) == 0) {
			r = add(f, w + 11, "the root file system's type");
			continue;
		}
		if (strncmp(w, "root=", 5) != 0)
			continue;
		w += 5;
		if (strncmp(w, "ZFS=", 4) == 0) {
			r = add(f, "zfs", "the root file system's type");
			if (r >= 0)
				r = add(f, "spl", "the root file system's type (zfs)");
			continue;
		}
		for (size_t i = 0; i < ELEMENTSOF(by); i++) {
			size_t n = strlen(by[i].prefix);
			_cleanup_free_ char *rel = NULL, *link = NULL, *dev = NULL;

			if (strncmp(w, by[i].prefix, n) != 0 || strchr(w + n, '/'))
				continue;
			if (asprintf(&rel, "%s%s", by[i].dir, w + n) < 0)
				return -ENOMEM;
			link = path_under_root(f->root, rel);
			dev = link ? realpath(link, NULL) : NULL;
			if (dev && strrchr(dev, '/'))
				r = block_device(f, strrchr(dev, '/') + 1, 0);
		}
		if (strncmp(w, "/dev/mapper/", 12) == 0)
			r = mapper_device(f, w + 12);
		else if (strncmp(w, "/dev/", 5) == 0 && !strchr(w + 5, '/'))
			r = block_device(f, w + 5, 0);
	}
	return r;
}

/* mountinfo (proc(5)): "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS] - FSTYPE SOURCE SUPER".
 * The last mount on "/" is the one in effect. */
static int root_storage(struct found *f)
{
	_cleanup_free_ char *path = path_under_root(f->root, "/proc/self/mountinfo");
	_cleanup_free_ char *text = NULL;
	char devno[32] = "", fstype[64] = "", source[256] = "";
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 4 * 1024 * 1024, &text, NULL);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	for (char *l = text, *nl; l && *l; l = nl) {
		char d[32], mp[PATH_MAX], fs[64], src[256];
		const char *dash;

		nl = strchr(l, '\n');
		if (nl)
			*nl++ = 0;
		dash = strstr(l, " - ");
		if (!dash || sscanf(l, "%*s %*s %31s %*s %4095s", d, mp) != 2 || !streq(mp, "/") ||
		    sscanf(dash + 3, "%63s %255s", fs, src) != 2)
			continue;
		snprintf(devno, sizeof(devno), "%s", d);
		snprintf(fstype, sizeof(fstype), "%s", fs);
		snprintf(source, sizeof(source), "%s", src);
	}
	if (!*fstype || streq(fstype, "rootfs") || streq(fstype, "tmpfs") || streq(fstype, "ramfs"))
		return root_from_cmdline(f);
	r = add(f, fstype, "the root file system's type");
	if (r < 0)
		return r;
	if (streq(fstype, "zfs")) {
		r = add(f, "spl", "the root file system's type (zfs)");
		if (r < 0)
			return r;
	}
	if (strncmp(devno, "0:", 2) != 0) {
		_cleanup_free_ char *rel = NULL, *dir = NULL;

		if (asprintf(&rel, "/sys/dev/block/%s", devno) < 0)
			return -ENOMEM;
		dir = sys_realpath(f, rel);
		if (dir)
			return block_dir(f, dir, 0);
	}
	if (strncmp(source, "/dev/mapper/", 12) == 0)
		return mapper_device(f, source + 12);
	if (strncmp(source, "/dev/", 5) == 0)
		return block_device(f, source + 5, 0);
	return 0;
}

static int net_device(struct found *f, const char *ifname, unsigned depth);

static int net_lowers(struct found *f, const char *ifname, unsigned depth)
{
	_cleanup_free_ char *rel = NULL, *dir = NULL, *brif = NULL;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (asprintf(&rel, "/sys/class/net/%s", ifname) < 0)
		return -ENOMEM;
	dir = sys_realpath(f, rel);
	if (!dir)
		return 0;
	d = opendir(dir);
	if (d) {
		while (r >= 0 && (de = readdir(d)))
			if (strncmp(de->d_name, "lower_", 6) == 0)
				r = net_device(f, de->d_name + 6, depth + 1);
			else if (streq(de->d_name, "bridge"))
				r = add(f, "bridge", "the default route's network bridge");
			else if (streq(de->d_name, "bonding"))
				r = add(f, "bonding", "the default route's network bond");
		closedir(d);
	}
	if (r < 0)
		return r;
	if (asprintf(&brif, "%s/brif", dir) < 0)
		return -ENOMEM;
	d = opendir(brif);
	if (d) {
		while (r >= 0 && (de = readdir(d)))
			if (de->d_name[0] != '.')
				r = net_device(f, de->d_name, depth + 1);
		closedir(d);
	}
	return r;
}

static int net_device(struct found *f, const char *ifname, unsigned depth)
{
	_cleanup_free_ char *rel = NULL, *dev = NULL, *vlan = NULL, *why = NULL;
	struct stat st;
	int r;

	if (depth > DEPTH_MAX || !*ifname || strchr(ifname, '/') || ifname[0] == '.')
		return 0;
	if (asprintf(&why, "the default route's network interface (%s)", ifname) < 0)
		return -ENOMEM;
	if (asprintf(&rel, "/sys/class/net/%s/device", ifname) < 0)
		return -ENOMEM;
	dev = sys_realpath(f, rel);
	if (dev) {
		r = walk_up(f, dev, why);
		if (r < 0)
			return r;
	}
	vlan = path_under_root(f->root, "/proc/net/vlan");
	if (!vlan)
		return -ENOMEM;
	{
		_cleanup_free_ char *v = path_join(vlan, ifname);

		if (!v)
			return -ENOMEM;
		if (stat(v, &st) == 0) {
			r = add(f, "8021q", why);
			if (r < 0)
				return r;
		}
	}
	return net_lowers(f, ifname, depth);
}

static int default_route(struct found *f)
{
	_cleanup_free_ char *p4 = path_under_root(f->root, "/proc/net/route");
	_cleanup_free_ char *p6 = path_under_root(f->root, "/proc/net/ipv6_route");
	_cleanup_free_ char *t4 = NULL, *t6 = NULL;
	_cleanup_strv_free_ char **ifs = NULL;
	int r;

	if (!p4 || !p6)
		return -ENOMEM;
	/* route: "Iface Destination Gateway Flags RefCnt Use Metric Mask ..." */
	if (read_full_file(p4, 1024 * 1024, &t4, NULL) >= 0)
		for (char *l = t4, *nl; l && *l; l = nl) {
			char ifname[64], dest[16], mask[16];

			nl = strchr(l, '\n');
			if (nl)
				*nl++ = 0;
			if (sscanf(l, "%63s %15s %*s %*s %*s %*s %*s %15s", ifname, dest, mask) ==
			        3 &&
			    streq(dest, "00000000") && streq(mask, "00000000") &&
			    !strv_contains(ifs, ifname) && strv_extend(&ifs, ifname) < 0)
				return -ENOMEM;
		}
	/* ipv6_route: "DEST PLEN SRC SPLEN NEXTHOP METRIC REF USE FLAGS IFACE" */
	if (read_full_file(p6, 1024 * 1024, &t6, NULL) >= 0)
		for (char *l = t6, *nl; l && *l; l = nl) {
			char dest[40], plen[4], ifname[64];

			nl = strchr(l, '\n');
			if (nl)
				*nl++ = 0;
			if (sscanf(l, "%39s %3s %*s %*s %*s %*s %*s %*s %*s %63s", dest, plen,
			           ifname) == 3 &&
			    strspn(dest, "0") == 32 && streq(plen, "00") && !streq(ifname, "lo") &&
			    !strv_contains(ifs, ifname) && strv_extend(&ifs, ifname) < 0)
				return -ENOMEM;
		}
	STRV_FOREACH (i, ifs) {
		r = net_device(f, *i, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

int protected_machine_drivers(const char *root, char ***ret_modules, char ***ret_why)
{
	struct found f = {.root = root};
	int r;

	r = root_storage(&f);
	if (r >= 0)
		r = default_route(&f);
	if (r < 0) {
		strv_free(f.modules);
		strv_free(f.why);
		return r;
	}
	STRV_FOREACH (m, f.modules)
		log_debug("Protected driver: %s", *m);
	*ret_modules = f.modules;
	*ret_why = f.why;
	return 0;
}
