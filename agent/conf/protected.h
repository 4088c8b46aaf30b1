/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The protected set: what no drop-in, level or state record may make
 * lifeline touch, because losing it makes the machine worse than the
 * crash loop (unbootable, unreachable, or unable to hear the fleet's
 * `clear`):
 *
 *  - paths: lifeline's own files, configuration and keys (/etc/lifeline,
 *    /usr/lib/lifeline, /usr/sbin/lifeline*, its units, generator and
 *    initramfs hooks, /var/lib/lifeline); the OS identity (/etc/passwd,
 *    shadow, group, gshadow, machine-id, fstab, crypttab, hostname, hosts,
 *    os-release, /etc/ssh, /etc/pam.d, /boot, /efi); the unit files of the
 *    protected units; the kernel's own module files and indexes
 *    (/lib/modules/ * /kernel/..., modules.*); and every file of the
 *    packages dpkg marks "Essential: yes" or "Priority: required" (read
 *    from <root>/var/lib/dpkg/status and info/<pkg>.list);
 *  - units: systemd's own (systemd-*, every .target, .slice, .device,
 *    .swap, init.scope, -.mount, getty and user@ instances), dbus*,
 *    networking, ifup@, NetworkManager*, ssh/sshd (service, socket,
 *    templates), lifeline's own, and the configured keep_units;
 *  - modules: every in-tree module of an installed kernel (listed under
 *    kernel/ in <root>/lib/modules/<kver>/modules.dep, or in
 *    modules.builtin), and the drivers this machine needs to boot and be
 *    reached, in-tree or not (DKMS zfs, r8168): the root file system's
 *    type and its block device's storage stack (from
 *    <root>/proc/self/mountinfo and <root>/sys; in the initramfs, where
 *    the real root is not mounted yet, from root= and rootfstype= of
 *    <root>/proc/cmdline), the default route's
 *    network interface (<root>/proc/net/route, ipv6_route; bridges,
 *    bonds and VLANs down to their lower devices), each with the modules
 *    it depends on (modules.dep).
 *
 * Module names and patterns. A name is protected when it names a
 * protected module; a pattern ('*', '?') when it could match one
 * ("e1000*" matches e1000e: refused). A name no installed kernel knows
 * (a vendor module not installed yet) is not protected: the check is
 * made again with the set of the moment whenever something is blocked
 * or moved. Without any readable modules.dep nothing is known in-tree;
 * the drivers found through /sys are still protected.
 *
 * Globs. A component glob is refused when it could match a protected
 * path: compared component by component with the protected patterns
 * (two patterns conflict when some name matches both), and by fnmatch(3)
 * against the package files under its literal prefix; a glob through the
 * root's own symlinks (/lib -> usr/lib) is checked at its resolved path
 * too.
 *
 * Cost: the dpkg lists and modules.dep are read once per process and
 * root (the set is cached, and built again when the dpkg status file or
 * the kernel list changed); a few milliseconds on Debian 12.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct protected_set {
	char *root;                    /* as given; NULL = "/" */
	char **files;                  /* sorted: the essential/required packages' files */
	char **modules;                /* sorted: in-tree module names, '_' form */
	char **drivers;                /* this machine's boot and reach drivers, '_' form */
	char **driver_why;             /* parallel to drivers: what needs it */
	char **keep_units;             /* from the configuration */
	unsigned long long status_key; /* dpkg status identity, for the cache */
	unsigned refs;                 /* protected_set_get() / _unref() */
};

/* Builds the set for root (NULL or "/" = the real root). keep_units may
 * be NULL: then [safe-mode] keep_units of <root>/etc/lifeline/lifeline.conf
 * is read (quietly: its own loader reports its errors). Missing sources
 * (no dpkg, no /sys) leave their part empty. Returns 0 or -ENOMEM. */
int protected_set_load(const char *root, char **keep_units, struct protected_set *ret);
void protected_set_done(struct protected_set *p);

/* A reference to the set of root: built once and kept (one cached set
 * per process), built again when root differs or the dpkg status file or
 * the kernel list changed. Release with protected_set_unref(). NULL only
 * on ENOMEM. */
struct protected_set *protected_set_get(const char *root);
struct protected_set *protected_set_unref(struct protected_set *p);

/* Each returns NULL when the thing is not protected, or a short reason
 * ("lifeline's own files", "in-tree module of 6.1.0-13-amd64", ...),
 * valid while the set lives. */
const char *protected_path_reason(const struct protected_set *p, const char *path);
const char *protected_glob_reason(const struct protected_set *p, const char *glob);
const char *protected_unit_reason(const struct protected_set *p, const char *unit);
const char *protected_module_reason(const struct protected_set *p, const char *module);

/* The machine's boot and reach drivers found under root's /proc and /sys
 * (what protected_set_load() puts in drivers), with what needs each,
 * for the initramfs hooks at image build time. */
int protected_machine_drivers(const char *root, char ***ret_modules, char ***ret_why);

/* Whether two shell patterns ('*', '?', '[...]') can match one same
 * string (within one path component). */
bool protected_patterns_intersect(const char *a, const char *b);
