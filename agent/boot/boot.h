/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two early-boot phases of lifeline-early (docs/design.md "Boot flow" 1-2).
 * In a library so that tests and benchmarks run them in-process on a fake
 * root and an EFIVARFS_PATH directory.
 *
 * Neither phase ever fails the boot: every error is logged and the phase
 * carries on with the safest choice (usually: boot normally, uncounted).
 */
#pragma once

#include <stdbool.h>

struct boot_opts {
	const char *root;    /* "/" in the initramfs (init phase) or ${rootmnt} (rootfs phase) */
	const char *run_dir; /* where /run/lifeline lives; default "/run/lifeline" */
	const char *config_root;    /* where etc/lifeline is read; default: root */
	bool real_system;           /* mount efivarfs/pstore, arm the watchdog, write /proc/sys */
	bool remount;               /* rootfs phase: remount root rw for the changes */
	const char *kernel_release; /* the kernel whose module index (in-tree, patterns)
	                             * and out-of-tree modules count; NULL: the running one */
	const char *watchdog_dev;   /* init phase: the device to arm; NULL: /dev/watchdog0
	                             * on a real system, none in tests */
};

/* Initramfs, before udev loads modules: collect pstore, count the boot (one
 * variable write), decide, enforce module quarantine, arm the watchdog. */
int boot_phase_init(const struct boot_opts *o);

/* Real root mounted at o->root: apply a pending quarantine to the root's
 * files and record it durably (active list, module list, decision
 * history), save the crash texts, and write /run/modprobe.d from the
 * durable lists. Never writes the state record: the init phase's write is
 * the only variable write of a boot attempt. */
int boot_phase_rootfs(const struct boot_opts *o);

/* lifeline-survived.service, once the boot has been up [boot] stable_after
 * seconds (whatever its health; never in emergency or rescue mode): the
 * run of failed boots is over, the failure counter goes to 0 (one
 * variable write, none when it is 0 already), and the boot watchdog is
 * handed back (watchdog.h). Needs nothing but libc and the state store:
 * a machine whose lifelined is broken still ends its count by staying up.
 * Leaves RUNSTATE_SURVIVED_FILE. */
int boot_phase_survived(const struct boot_opts *o);

/* The modprobe configuration that blocks a module both ways: "blacklist"
 * stops alias (udev) loading, "install ... /bin/false" stops modprobe by
 * name (docs/platform.md "Kernel panics and module loading"). */
int boot_write_modprobe_conf(const char *path, char **modules);
