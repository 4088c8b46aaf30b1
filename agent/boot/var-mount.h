/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A separate /var (the CIS layout) in the rootfs phase.
 *
 * lifeline's durable state (the quarantine and its lists, the history, the
 * report spool) lives in /var/lib/lifeline, where every program looks for
 * it. The rootfs phase runs in the initramfs with only the root mounted:
 * when the root's fstab gives /var a filesystem of its own, the phase
 * mounts it (read-write, at ${rootmnt}/var) for its work and unmounts it
 * before systemd starts, so the quarantine, history and spool land where
 * the running system sees them. Chosen over moving the state onto the root
 * filesystem (every reader and the package layout would change, and a
 * read-only or small root would have to hold quarantined files) and over
 * a /run-only hand-off (the phase must also read the durable lists and
 * move files into the quarantine). When /var cannot be mounted the phase
 * moves no files (as with a root it cannot remount), the init phase's
 * module blocks stay, and a later boot finishes the work.
 *
 * The generator sees only / and /run: the rootfs phase leaves a copy of
 * the active list in /run (RUNSTATE_ACTIVE_FILE in runstate.h).
 */
#pragma once

struct fstab_entry {
	char *spec;    /* UUID=..., PARTUUID=..., LABEL=..., /dev/... */
	char *fstype;  /* "auto" allowed */
	char *options; /* as written */
};

void fstab_entry_done(struct fstab_entry *e);

/* The entry of <root>/etc/fstab mounted at dir: 0 and *ret filled, -ENOENT
 * when there is none (or it is "noauto"), other -errno on failure. */
int boot_fstab_find(const char *root, const char *dir, struct fstab_entry *ret);

/* Mount <root>/var from the root's fstab when it is a separate filesystem
 * not mounted yet. 1 mounted (call boot_var_unmount() after), 0 nothing to
 * do, -errno could not (logged). */
int boot_var_mount(const char *root);
void boot_var_unmount(const char *root);
