/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Walking down from a base directory descriptor without ever following a
 * symlink: the one path rule and the one folder walker the inventory and
 * the quarantine share. Every folder is opened from its parent's
 * descriptor with O_DIRECTORY | O_NOFOLLOW, so a symlink swapped in
 * anywhere below the base makes the open fail (ELOOP) instead of leading
 * out of the root.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* An absolute path "/a/b/c": no empty, "." or ".." component, each at
 * most NAME_MAX bytes, the whole shorter than PATH_MAX. */
bool rooted_path_is_valid(const char *path);

/* What a folder is to be made with. */
struct rooted_dir_meta {
	mode_t mode; /* permission bits, 07777 */
	uid_t uid;
	gid_t gid;
};

/* How rooted_open_dir() creates the folders it does not find. */
struct rooted_mkdir {
	mode_t mode; /* for a new folder, unless meta_of() gives one */
	/* The owner and mode a missing folder gets: dir is the path up to
	 * and including it, relative to the base ("a/b"). Returns false for
	 * mk->mode and the creator's owner. What it gives is set exactly
	 * (the folder is made 0700, then fchown, then fchmod: the umask does
	 * not narrow the mode, nobody else can open it in between, and the
	 * chown does not clear a setgid bit); may be NULL. */
	bool (*meta_of)(const char *dir, void *userdata, struct rooted_dir_meta *ret);
	void *userdata;
	/* After each mkdir the parent is fsync'd (the new entry must outlive
	 * a power cut as much as what goes below it); strict: a failed fsync
	 * fails the open. */
	bool strict;
	const char *fault; /* fault_point() name hit before each mkdir; NULL: none */
};

/* Opens dir ('/'-separated, relative to base_fd; leading or doubled '/'
 * are skipped; "" is base_fd itself) one component at a time. mk NULL:
 * nothing is created. Returns a new descriptor (O_CLOEXEC), or -ELOOP (a
 * component is a symlink), -ENOTDIR (not a folder), -ENOENT, another
 * -errno. */
int rooted_open_dir(int base_fd, const char *dir, const struct rooted_mkdir *mk);
