/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Level 1's pick of last resort: the component(s) changed most recently
 * on this machine, when the failed boots left no panic log at all and
 * there is no last good inventory to diff against (a product that hangs
 * the machine from its first boot after install: never blessed, nothing
 * logged). Without it that level would quarantine nothing.
 *
 * A component's time is the newest change among its files on the
 * machine: the matches of its files and content globs, the module files
 * the kernel's modules.dep lists for its `modules =` names (not those in
 * the kernel's own tree, nor a protected one), and its unit files in
 * /etc/systemd/system, /usr/local/lib/systemd/system and
 * /usr/lib/systemd/system (or /lib/systemd/system). A file's change is
 * the newer of its ctime (when the inode last changed on this machine: a
 * package install, a content download) and its mtime (dpkg and tar set
 * the package's mtime, older than the install; a writer may set any), an
 * mtime later than the clock left out (a vendor's clock, not a change
 * here). dpkg's own install time (/var/lib/dpkg/info/PKG.list) adds
 * nothing: dpkg writes every file of a package anew, so their ctimes are
 * the install time already.
 *
 * Files are reached as the inventory reaches them (glob_walk(): the
 * root's own top-level symlinks such as merged /usr's /lib resolved
 * inside the root, no other symlink followed), so nothing outside the
 * root is looked at. Library code: logs at debug level only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agent/conf/components.h"
#include "common/macro.h"

/* Two components whose newest changes are at most this far apart are one
 * update (a package upgrade, an installer that drops both): both are
 * picked. */
#define RECENCY_WINDOW_SEC 600
#define RECENCY_WINDOW_NS  ((int64_t)RECENCY_WINDOW_SEC * 1000000000)

struct recency_component {
	char *id;
	size_t n_files;    /* files of it found on this machine; 0: never picked */
	int64_t newest_ns; /* its newest change (ns since the epoch); 0: unknown */
	char *newest_path; /* the file of that change, without the root */
};

struct recency {
	struct recency_component *components; /* in the component set's order */
	size_t n_components;
};

/* The clock recency_scan()'s callers pass (CLOCK_REALTIME, ns). Weak: a
 * test program links its own to play a machine whose files changed days
 * apart (ctime cannot be set from user space, so fixture files all have
 * "now" as their ctime). */
int64_t recency_clock_ns(void);

struct recency *recency_free(struct recency *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct recency *, recency_free)
#define _cleanup_recency_free_ _cleanup_(recency_freep)

/* Looks at every component of set under root (NULL or "/" = the real
 * root), with the module files of kernel kver (NULL: the running one's),
 * and now_ns the clock's time (mtimes after it are left out). A file that
 * cannot be looked at is skipped. Returns 0 and *ret, or -ENOMEM / -errno
 * when the root cannot be opened. */
int recency_scan(const char *root, const struct component_set *set, const char *kver,
                 int64_t now_ns, struct recency **ret);

/* The ids to quarantine: the component with the newest change, and every
 * other whose newest change is within window_ns of it; a component with
 * no file on the machine never. Ordered newest first, equal times by id
 * (strcmp), so the same machine always gives the same list. *ret is NULL
 * when no component has a file here. 0 or -ENOMEM. */
int recency_pick(const struct recency *r, int64_t window_ns, char ***ret_ids);

/* The reason for picked, e.g. "badsec changed most recently
 * (/opt/badsec/content/channel-291.bin, 2026-12-07 06:01:02 UTC)", with
 * ", and othersec in the same update (PATH, TIME)" per other pick; and
 * one evidence line per component (picked, left alone as older, or
 * nothing of it on this machine). 0 or -ENOMEM. */
int recency_explain(const struct recency *r, char **picked, char **ret_reason, char ***ret_lines);
