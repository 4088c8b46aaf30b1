/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one walker of the components' globs on disk, for the registry
 * (installed? which files?) and the inventory (every file with its
 * stat).
 *
 * Why not glob(3): it collects every match before returning (a content
 * folder with thousands of files costs thousands of lstat()s just to
 * learn "installed"), and it follows symlinks in folder components. This
 * walk matches one path component at a time with fnmatch(3), the rules
 * glob(3) applies by default (no leading-'.' matches, no brace
 * expansion), hands each match to a callback with its lstat result, and
 * lets the callback stop the walk.
 *
 * Symlinks. The symlinks directly under the root are the root's own
 * layout: merged /usr makes /bin, /sbin, /lib and /lib64 links to
 * usr/..., and "/lib/firmware/acme/ *.bin" must find
 * /usr/lib/firmware/acme/x.bin. glob_resolve_prefix() follows such a
 * link when the glob's literal leading folders meet it, inside the root:
 * an absolute target starts again at the root, ".." stops at it, so
 * nothing outside the root is reached. Matches are reported by their
 * resolved path (the one a quarantine can move). Any other symlink on the
 * way (a vendor's /opt/x/lib -> /srv/y: someone else's files) is not
 * followed: every folder is opened with O_NOFOLLOW, unless
 * GLOB_WALK_FOLLOW_DIRS asks otherwise.
 */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

/* Called for every path the glob matches (folders included), path
 * without the root, st from fstatat(AT_SYMLINK_NOFOLLOW). Returns 0 to
 * go on, > 0 to stop the walk (glob_walk() returns it), < 0 an error
 * (returned). */
typedef int (*glob_walk_fn)(const char *path, const struct stat *st, void *userdata);

enum {
	/* open every folder following symlinks: only meaningful on the
	 * real root, where they resolve as the system sees them */
	GLOB_WALK_FOLLOW_DIRS = 1 << 0,
};

/* Walks glob (absolute) under root_fd. Returns 0 when the walk ended, the
 * callback's value when it stopped it, or -errno. */
int glob_walk(int root_fd, const char *glob, unsigned flags, glob_walk_fn fn, void *userdata);

/* glob with its literal leading folders (those before the first
 * component with '*', '?' or '[', never the last component) resolved
 * through the symlinks directly under the root, inside the root. A folder that does not
 * exist ends the resolution (the rest is kept as written). Returns 0 and
 * *ret (free()), -ELOOP after 40 links, -ENOMEM. */
int glob_resolve_prefix(int root_fd, const char *glob, char **ret);
