/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The protected set (agent/conf/protected.h) on a made-up machine root:
 * dpkg's database, a kernel's module indexes, /proc and /sys for a ZFS
 * root on NVMe and an r8168 NIC on the default route; drop-ins that name
 * protected things are refused with FILE:LINE and the reason; the
 * quarantine and level 3 move none of it.
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

#include "agent/conf/components.h"
#include "agent/conf/protected.h"
#include "agent/crash/suspects.h"
#include "agent/quarantine/quarantine.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

#define KVER "6.1.0-99-amd64"

static char tmp_base[1024];
static char root[1100];
static unsigned root_seq;

static int make_base(void **state)
{
	const char *base = getenv("LIFELINE_TEST_TMP");

	(void)state;
	snprintf(tmp_base, sizeof(tmp_base), "%s/test-protected.XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmp_base) ? 0 : -1;
}

static int remove_base(void **state)
{
	char cmd[1200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_base);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *rel, const char *text)
{
	_cleanup_free_ char *path = path_join(root, rel);
	_cleanup_free_ char *dir = NULL;
	FILE *f;

	assert_non_null(path);
	dir = strdup(path);
	assert_non_null(dir);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void link_in_root(const char *target, const char *rel)
{
	_cleanup_free_ char *path = path_join(root, rel);
	_cleanup_free_ char *dir = NULL;

	assert_non_null(path);
	dir = strdup(path);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(symlink(target, path), 0);
}

static bool exists(const char *rel)
{
	_cleanup_free_ char *p = path_join(root, rel);
	struct stat st;

	return lstat(p, &st) == 0;
}

/* A sysfs device dir with a driver whose module is name. */
static void sys_driver(const char *devdir, const char *bus, const char *name)
{
	char rel[512], target[512];
	unsigned depth = 0;

	for (const char *p = devdir + strlen("/sys/"); *p; p++)
		depth += *p == '/';
	snprintf(rel, sizeof(rel), "/sys/bus/%s/drivers/%s/module", bus, name);
	snprintf(target, sizeof(target), "../../../../module/%s", name);
	if (!exists(rel))
		link_in_root(target, rel);
	snprintf(rel, sizeof(rel), "/sys/module/%s/refcnt", name);
	put(rel, "1\n");
	snprintf(rel, sizeof(rel), "%s/driver", devdir);
	target[0] = 0;
	for (unsigned i = 0; i <= depth; i++)
		strcat(target, "../");
	snprintf(target + strlen(target), sizeof(target) - strlen(target), "bus/%s/drivers/%s", bus,
	         name);
	link_in_root(target, rel);
}

/*
 * The machine: Debian with coreutils (Essential) and passwd (required)
 * installed, an essential package removed, a vendor package; a kernel
 * with in-tree ext4, e1000e, nvme (+ nvme_core) and DKMS zfs, spl,
 * r8168, badsec; the root is ZFS (rpool/ROOT/debian) and /boot ext4 on
 * nvme0n1p1; the default route goes through eth0, an r8168.
 */
static int new_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/root%u", tmp_base, root_seq++);
	if (mkdir_p(root, 0755) < 0)
		return -1;
	put("/var/lib/dpkg/status", "Package: coreutils\n"
	                            "Essential: yes\n"
	                            "Status: install ok installed\n"
	                            "Priority: required\n"
	                            "\n"
	                            "Package: passwd\n"
	                            "Status: install ok installed\n"
	                            "Priority: required\n"
	                            "\n"
	                            "Package: gonepkg\n"
	                            "Status: deinstall ok config-files\n"
	                            "Essential: yes\n"
	                            "\n"
	                            "Package: vendorpkg\n"
	                            "Status: install ok installed\n"
	                            "Priority: optional\n");
	put("/var/lib/dpkg/info/coreutils.list", "/.\n/bin\n/bin/ls\n/bin/cat\n/usr/bin/[\n");
	put("/var/lib/dpkg/info/passwd:amd64.list",
	    "/.\n/usr/sbin/useradd\n/etc/default/useradd\n");
	put("/var/lib/dpkg/info/gonepkg.list", "/usr/bin/gone\n");
	put("/var/lib/dpkg/info/vendorpkg.list", "/opt/vendor/bin/vendord\n");
	put("/lib/modules/" KVER "/modules.dep",
	    "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz\n"
	    "kernel/fs/jbd2/jbd2.ko.xz:\n"
	    "kernel/fs/mbcache.ko.xz:\n"
	    "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz:\n"
	    "kernel/drivers/nvme/host/nvme.ko.xz: kernel/drivers/nvme/host/nvme-core.ko.xz\n"
	    "kernel/drivers/nvme/host/nvme-core.ko.xz:\n"
	    "updates/dkms/zfs.ko: updates/dkms/spl.ko\n"
	    "updates/dkms/spl.ko:\n"
	    "updates/dkms/r8168.ko:\n"
	    "updates/dkms/badsec.ko:\n");
	put("/lib/modules/" KVER "/modules.builtin", "kernel/drivers/block/loop.ko\n");
	put("/lib/modules/" KVER "/updates/dkms/zfs.ko", "zfs\n");
	put("/lib/modules/" KVER "/updates/dkms/spl.ko", "spl\n");
	put("/lib/modules/" KVER "/updates/dkms/r8168.ko", "r8168\n");
	put("/lib/modules/" KVER "/updates/dkms/badsec.ko", "badsec\n");
	put("/proc/self/mountinfo",
	    "1 0 0:22 / / rw,relatime shared:1 - tmpfs rootfs rw\n"
	    "22 1 0:25 / / rw,relatime shared:2 - zfs rpool/ROOT/debian rw,xattr,posixacl\n"
	    "23 22 259:1 / /boot rw,relatime shared:3 - ext4 /dev/nvme0n1p1 rw\n");
	put("/proc/net/route",
	    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
	    "eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	    "eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
	put("/sys/devices/pci0000:00/0000:00:03.0/net/eth0/address", "00:11:22:33:44:55\n");
	link_in_root("../../../0000:00:03.0",
	             "/sys/devices/pci0000:00/0000:00:03.0/net/eth0/device");
	link_in_root("../../devices/pci0000:00/0000:00:03.0/net/eth0", "/sys/class/net/eth0");
	sys_driver("/sys/devices/pci0000:00/0000:00:03.0", "pci", "r8168");
	return 0;
}

/* The same machine with ext4 on NVMe as its root. */
static int new_root_nvme(void **state)
{
	if (new_root(state) < 0)
		return -1;
	put("/proc/self/mountinfo",
	    "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n");
	put("/sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2/partition", "2\n");
	link_in_root("../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2",
	             "/sys/dev/block/259:2");
	sys_driver("/sys/devices/pci0000:00/0000:00:04.0", "pci", "nvme");
	return 0;
}

struct capture {
	int saved;
	char path[1200];
};

static void capture_start(struct capture *c)
{
	int fd;

	fflush(stderr);
	snprintf(c->path, sizeof(c->path), "%s/stderr.XXXXXX", tmp_base);
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(STDERR_FILENO);
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
	fputs(text, stderr);
	return text;
}

/* ---------------------------------------------------------------------- */

static void test_patterns_intersect(void **state)
{
	(void)state;
	assert_true(protected_patterns_intersect("*", "passwd"));
	assert_true(protected_patterns_intersect("pass*", "*wd"));
	assert_true(protected_patterns_intersect("e1000*", "e1000e"));
	assert_true(protected_patterns_intersect("ssh?service", "ssh.service"));
	assert_true(protected_patterns_intersect("[ab]x", "bx"));
	assert_true(protected_patterns_intersect("systemd-*", "*networkd.service"));
	assert_false(protected_patterns_intersect("falcon*", "lifeline*"));
	assert_false(protected_patterns_intersect("*.target", "x.service"));
	assert_false(protected_patterns_intersect("badsec", "ext4"));
	assert_false(protected_patterns_intersect("a?", "a"));
}

static void test_paths_of_lifeline_identity_and_packages(void **state)
{
	struct protected_set p;
	char *keep[] = {"vendor-mgmt.service", NULL};

	(void)state;
	assert_int_equal(protected_set_load(root, keep, &p), 0);
	assert_non_null(protected_path_reason(&p, "/etc/lifeline/fleet.pub"));
	assert_non_null(protected_path_reason(&p, "/usr/lib/lifeline/components.d/x.conf"));
	assert_non_null(protected_path_reason(&p, "/usr/sbin/lifelined"));
	assert_non_null(protected_path_reason(&p, "/etc/passwd"));
	assert_non_null(protected_path_reason(&p, "/etc/machine-id"));
	assert_non_null(protected_path_reason(&p, "/etc/fstab"));
	assert_non_null(protected_path_reason(&p, "/boot/vmlinuz-" KVER));
	assert_non_null(protected_path_reason(&p, "/etc/ssh/ssh_host_ed25519_key"));
	/* package files, under either spelling of merged /usr */
	assert_non_null(protected_path_reason(&p, "/bin/ls"));
	assert_non_null(protected_path_reason(&p, "/usr/bin/ls"));
	assert_non_null(protected_path_reason(&p, "/usr/sbin/useradd"));
	assert_null(protected_path_reason(&p, "/usr/bin/gone"));           /* removed package */
	assert_null(protected_path_reason(&p, "/opt/vendor/bin/vendord")); /* optional */
	assert_null(protected_path_reason(&p, "/opt/CrowdStrike/falcond"));
	/* unit files of protected units */
	assert_non_null(protected_path_reason(&p, "/usr/lib/systemd/system/ssh.service"));
	assert_non_null(protected_path_reason(&p, "/lib/systemd/system/systemd-journald.service"));
	assert_non_null(protected_path_reason(&p, "/etc/systemd/system/vendor-mgmt.service"));
	assert_null(protected_path_reason(&p, "/usr/lib/systemd/system/falcon-sensor.service"));
	/* module files: in-tree, and this machine's drivers; not badsec */
	assert_non_null(
	    protected_path_reason(&p, "/lib/modules/" KVER "/kernel/fs/ext4/ext4.ko.xz"));
	assert_non_null(protected_path_reason(&p, "/lib/modules/" KVER "/updates/dkms/zfs.ko"));
	assert_non_null(
	    protected_path_reason(&p, "/usr/lib/modules/" KVER "/updates/dkms/r8168.ko"));
	assert_null(protected_path_reason(&p, "/lib/modules/" KVER "/updates/dkms/badsec.ko"));
	protected_set_done(&p);
}

static void test_globs_that_could_match_protected_paths(void **state)
{
	struct protected_set p;
	char *keep[] = {NULL};

	(void)state;
	assert_int_equal(protected_set_load(root, keep, &p), 0);
	assert_non_null(protected_glob_reason(&p, "/etc/*"));
	assert_non_null(protected_glob_reason(&p, "/usr/*/*"));
	assert_non_null(protected_glob_reason(&p, "/usr/**")); /* meant as recursive */
	assert_non_null(protected_glob_reason(&p, "/etc/**/x"));
	assert_null(protected_glob_reason(&p, "/opt/**"));
	assert_non_null(protected_glob_reason(&p, "/boot/*"));
	assert_non_null(protected_glob_reason(&p, "/etc/lifeline/*"));
	assert_non_null(protected_glob_reason(&p, "/etc/pass*"));
	assert_non_null(protected_glob_reason(&p, "/usr/bin/*")); /* /bin/ls, merged */
	assert_non_null(protected_glob_reason(&p, "/bin/c?t"));
	assert_non_null(protected_glob_reason(&p, "/usr/lib/systemd/system/*"));
	assert_non_null(protected_glob_reason(&p, "/lib/modules/*/kernel/*/*"));
	assert_null(protected_glob_reason(&p, "/opt/CrowdStrike/*"));
	assert_null(protected_glob_reason(&p, "/usr/bin/falcon*"));
	assert_null(protected_glob_reason(&p, "/usr/share/falco/*"));
	assert_null(protected_glob_reason(&p, "/etc/tetragon/tetragon.tp.d/*"));
	assert_null(protected_glob_reason(&p, "/usr/lib/systemd/system/falcon-sensor.service"));
	protected_set_done(&p);
}

static void test_units(void **state)
{
	struct protected_set p;
	char *keep[] = {"vendor-mgmt.service", NULL};

	(void)state;
	assert_int_equal(protected_set_load(root, keep, &p), 0);
	assert_non_null(protected_unit_reason(&p, "ssh.service"));
	assert_non_null(protected_unit_reason(&p, "sshd.service"));
	assert_non_null(protected_unit_reason(&p, "ssh@.service"));
	assert_non_null(protected_unit_reason(&p, "dbus.service"));
	assert_non_null(protected_unit_reason(&p, "dbus-broker.service"));
	assert_non_null(protected_unit_reason(&p, "systemd-networkd.service"));
	assert_non_null(protected_unit_reason(&p, "systemd-journald.service"));
	assert_non_null(protected_unit_reason(&p, "NetworkManager.service"));
	assert_non_null(protected_unit_reason(&p, "networking.service"));
	assert_non_null(protected_unit_reason(&p, "lifelined.service"));
	assert_non_null(protected_unit_reason(&p, "multi-user.target"));
	assert_non_null(protected_unit_reason(&p, "vendor-mgmt.service")); /* keep_units */
	assert_null(protected_unit_reason(&p, "falcon-sensor.service"));
	assert_null(protected_unit_reason(&p, "falco.target")); /* a vendor's own target */
	protected_set_done(&p);
}

static void test_modules_in_tree_and_this_machines_drivers(void **state)
{
	struct protected_set p;
	char *keep[] = {NULL};
	const char *why;

	(void)state;
	assert_int_equal(protected_set_load(root, keep, &p), 0);
	/* in-tree: names and patterns that could match one */
	assert_non_null(protected_module_reason(&p, "ext4"));
	assert_non_null(protected_module_reason(&p, "e1000e"));
	assert_non_null(protected_module_reason(&p, "nvme-core"));
	assert_non_null(protected_module_reason(&p, "loop")); /* built in */
	assert_non_null(protected_module_reason(&p, "e1000*"));
	assert_non_null(protected_module_reason(&p, "*"));
	/* out-of-tree drivers this machine needs: the ZFS root and its spl,
	 * the default route's NIC */
	why = protected_module_reason(&p, "zfs");
	assert_non_null(why);
	assert_non_null(strstr(why, "root file system"));
	assert_non_null(protected_module_reason(&p, "spl"));
	why = protected_module_reason(&p, "r8168");
	assert_non_null(why);
	assert_non_null(strstr(why, "eth0"));
	/* a third-party module, or one no kernel knows: not protected */
	assert_null(protected_module_reason(&p, "badsec"));
	assert_null(protected_module_reason(&p, "falcon_lsm_pinned_*"));
	assert_null(protected_module_reason(&p, "nosuch"));
	protected_set_done(&p);
}

static void test_root_on_nvme_protects_its_storage_stack(void **state)
{
	_cleanup_strv_free_ char **mods = NULL, **why = NULL;
	struct protected_set p;
	char *keep[] = {NULL};

	(void)state;
	assert_int_equal(protected_machine_drivers(root, &mods, &why), 0);
	assert_true(strv_contains(mods, "ext4"));
	assert_true(strv_contains(mods, "nvme"));
	assert_true(strv_contains(mods, "r8168"));
	assert_false(strv_contains(mods, "zfs"));
	assert_int_equal(protected_set_load(root, keep, &p), 0);
	/* nvme's dependency, through modules.dep */
	assert_non_null(strstr(protected_module_reason(&p, "nvme_core"), "needed by nvme"));
	assert_non_null(strstr(protected_module_reason(&p, "jbd2"), "needed by ext4"));
	protected_set_done(&p);
}

/* ext4 on LUKS on RAID 5 on NVMe: every layer's module is protected. */
static void test_root_on_luks_on_raid_protects_every_layer(void **state)
{
	_cleanup_strv_free_ char **mods = NULL, **why = NULL;

	(void)state;
	put("/proc/self/mountinfo", "22 1 253:0 / / rw,relatime - ext4 /dev/mapper/root rw\n");
	put("/sys/devices/virtual/block/dm-0/dm/uuid", "CRYPT-LUKS2-0123-root\n");
	put("/sys/devices/virtual/block/dm-0/dm/name", "root\n");
	put("/sys/devices/virtual/block/md0/md/level", "raid5\n");
	put("/sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2/partition", "2\n");
	link_in_root("../../devices/virtual/block/dm-0", "/sys/dev/block/253:0");
	link_in_root("../../devices/virtual/block/dm-0", "/sys/class/block/dm-0");
	link_in_root("../../devices/virtual/block/md0", "/sys/class/block/md0");
	link_in_root("../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2",
	             "/sys/class/block/nvme0n1p2");
	link_in_root("../../md0", "/sys/devices/virtual/block/dm-0/slaves/md0");
	link_in_root("../../../../pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2",
	             "/sys/devices/virtual/block/md0/slaves/nvme0n1p2");
	sys_driver("/sys/devices/pci0000:00/0000:00:04.0", "pci", "nvme");

	assert_int_equal(protected_machine_drivers(root, &mods, &why), 0);
	assert_true(strv_contains(mods, "ext4"));
	assert_true(strv_contains(mods, "dm_mod"));
	assert_true(strv_contains(mods, "dm_crypt"));
	assert_true(strv_contains(mods, "md_mod"));
	assert_true(strv_contains(mods, "raid456"));
	assert_true(strv_contains(mods, "nvme"));
	assert_true(strv_contains(mods, "r8168"));
}

/* In the initramfs "/" is its own rootfs: the real root comes from the
 * kernel command line (root=UUID= through udev's links, root=ZFS=). */
static void test_initramfs_finds_the_root_from_the_command_line(void **state)
{
	_cleanup_strv_free_ char **mods = NULL, **why = NULL, **zmods = NULL, **zwhy = NULL;

	(void)state;
	put("/proc/self/mountinfo", "1 0 0:1 / / rw - rootfs rootfs rw\n");
	put("/proc/cmdline", "BOOT_IMAGE=/vmlinuz-" KVER " root=UUID=1234-abcd ro quiet\n");
	put("/dev/nvme0n1p2", "");
	link_in_root("../../nvme0n1p2", "/dev/disk/by-uuid/1234-abcd");
	put("/sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2/partition", "2\n");
	link_in_root("../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2",
	             "/sys/class/block/nvme0n1p2");
	sys_driver("/sys/devices/pci0000:00/0000:00:04.0", "pci", "nvme");
	assert_int_equal(protected_machine_drivers(root, &mods, &why), 0);
	assert_true(strv_contains(mods, "nvme"));
	assert_false(strv_contains(mods, "rootfs"));

	put("/proc/cmdline", "root=ZFS=rpool/ROOT/debian rootfstype=zfs ro\n");
	assert_int_equal(protected_machine_drivers(root, &zmods, &zwhy), 0);
	assert_true(strv_contains(zmods, "zfs"));
	assert_true(strv_contains(zmods, "spl"));
}

/* Every bad drop-in of the issue: each is refused, naming its file, line
 * and reason; the good component next to them loads. */
static void test_dropins_naming_protected_things_are_refused(void **state)
{
	struct component_set s = {0};
	struct capture cap;
	_cleanup_free_ char *log = NULL;
	unsigned problems = 0;
	static const char *const expect[] = {
	    "bad.conf:2: [etc] files: \"/etc/*\" is protected (",
	    "bad.conf:4: [usr] files: \"/usr/**\" is protected (",
	    "bad.conf:6: [boot] files: \"/boot/*\" is protected (",
	    "bad.conf:8: [key] content: \"/etc/lifeline/*\" is protected (could match "
	    "/etc/lifeline/..., lifeline's own files)",
	    "bad.conf:10: [ssh] units: \"ssh.service\" is protected (",
	    "bad.conf:12: [daemons] units: \"dbus.service\" is protected (",
	    "bad.conf:14: [self] units: \"lifelined.service\" is protected (lifeline's own unit)",
	    "bad.conf:16: [ext4] modules: \"ext4\" is protected (an in-tree module",
	    "bad.conf:19: [nic] modules: \"e1000*\" is protected (could match e1000e",
	    "bad.conf:21: [zfs] modules: \"zfs\" is protected (zfs is a driver this machine needs",
	    "bad.conf:23: [ident] files: \"/etc/machine-id\" is protected (could match "
	    "/etc/machine-id, the OS identity",
	};

	(void)state;
	put("/etc/lifeline/components.d/bad.conf", "[etc]\n"
	                                           "files = /etc/*\n"
	                                           "[usr]\n"
	                                           "files = /usr/**\n"
	                                           "[boot]\n"
	                                           "files = /boot/*\n"
	                                           "[key]\n"
	                                           "content = /etc/lifeline/*\n"
	                                           "[ssh]\n"
	                                           "units = ssh.service\n"
	                                           "[daemons]\n"
	                                           "units = vendor.service dbus.service\n"
	                                           "[self]\n"
	                                           "units = lifelined.service\n"
	                                           "[ext4]\n"
	                                           "modules = ext4\n"
	                                           "[nic]\n"
	                                           "modules = vendor_mod\n"
	                                           "  e1000*\n"
	                                           "[zfs]\n"
	                                           "modules = zfs\n"
	                                           "[ident]\n"
	                                           "files = /opt/x/* /etc/machine-id\n"
	                                           "[good]\n"
	                                           "files = /opt/vendor/bin/*\n"
	                                           "units = vendor.service\n"
	                                           "modules = badsec\n");
	capture_start(&cap);
	assert_int_equal(components_load(root, &s, &problems), 0);
	log = capture_end(&cap);
	for (size_t i = 0; i < ELEMENTSOF(expect); i++)
		if (!strstr(log, expect[i]))
			fail_msg("missing from the log: %s", expect[i]);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.items[0].id, "good");
	assert_int_equal(s.n_refused, ELEMENTSOF(expect));
	assert_int_equal(problems, ELEMENTSOF(expect));
	assert_string_equal(s.refused[8].id, "nic");
	assert_int_equal(s.refused[8].line, 19);
	assert_string_equal(s.refused[8].what, "e1000*");
	assert_non_null(strstr(s.refused[8].file, "bad.conf"));
	assert_non_null(s.refused[8].reason);
	components_done(&s);
}

/* A component that slipped past the loader (a record, an older
 * configuration) still moves nothing protected; level 3's out-of-tree
 * sweep leaves the machine's own DKMS drivers in place. */
static void test_quarantine_and_level3_move_nothing_protected(void **state)
{
	struct component c = {0}, oot = {0};
	struct quarantine_result res = {0};
	bool said = false;

	(void)state;
	put("/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	put("/bin/ls", "ls\n");
	put("/opt/vendor/bin/vendord", "vendord\n");
	c.id = strdup("forged");
	assert_non_null(c.id);
	assert_int_equal(strv_split_ws("/etc/passwd /bin/ls /opt/vendor/bin/*", &c.files), 0);
	assert_int_equal(quarantine_apply(root, &c, 1, &res), 0);
	assert_int_equal(res.moved, 1);
	STRV_FOREACH (l, res.lines)
		said = said || (strstr(*l, "/etc/passwd: refused, protected") != NULL);
	assert_true(said);
	quarantine_result_done(&res);
	assert_true(exists("/etc/passwd"));
	assert_true(exists("/bin/ls"));
	assert_false(exists("/opt/vendor/bin/vendord"));

	assert_int_equal(suspects_oot_component(KVER, &oot), 0);
	assert_int_equal(quarantine_apply(root, &oot, 1, &res), 0);
	assert_int_equal(res.moved, 1); /* badsec.ko only */
	quarantine_result_done(&res);
	assert_true(exists("/lib/modules/" KVER "/updates/dkms/zfs.ko"));
	assert_true(exists("/lib/modules/" KVER "/updates/dkms/spl.ko"));
	assert_true(exists("/lib/modules/" KVER "/updates/dkms/r8168.ko"));
	assert_false(exists("/lib/modules/" KVER "/updates/dkms/badsec.ko"));
	component_done(&c);
	component_done(&oot);
}

/* The get/unref cache: one set per root, the same one while nothing
 * changed, a fresh one once dpkg's status changed. */
static void test_cache_follows_the_dpkg_status(void **state)
{
	struct protected_set *a, *b, *c;

	(void)state;
	a = protected_set_get(root);
	b = protected_set_get(root);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	put("/var/lib/dpkg/status", "Package: coreutils\nEssential: yes\n"
	                            "Status: install ok installed\n\n"
	                            "Package: vendorpkg\nPriority: required\n"
	                            "Status: install ok installed\n");
	c = protected_set_get(root);
	assert_non_null(c);
	assert_non_null(protected_path_reason(c, "/opt/vendor/bin/vendord"));
	assert_null(protected_path_reason(a, "/opt/vendor/bin/vendord")); /* still valid */
	protected_set_unref(a);
	protected_set_unref(b);
	protected_set_unref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patterns_intersect),
	    cmocka_unit_test_setup(test_paths_of_lifeline_identity_and_packages, new_root),
	    cmocka_unit_test_setup(test_globs_that_could_match_protected_paths, new_root),
	    cmocka_unit_test_setup(test_units, new_root),
	    cmocka_unit_test_setup(test_modules_in_tree_and_this_machines_drivers, new_root),
	    cmocka_unit_test_setup(test_root_on_nvme_protects_its_storage_stack, new_root_nvme),
	    cmocka_unit_test_setup(test_root_on_luks_on_raid_protects_every_layer, new_root),
	    cmocka_unit_test_setup(test_initramfs_finds_the_root_from_the_command_line, new_root),
	    cmocka_unit_test_setup(test_dropins_naming_protected_things_are_refused, new_root),
	    cmocka_unit_test_setup(test_quarantine_and_level3_move_nothing_protected, new_root),
	    cmocka_unit_test_setup(test_cache_follows_the_dpkg_status, new_root),
	};

	return cmocka_run_group_tests(tests, make_base, remove_base);
}
