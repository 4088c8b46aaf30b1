/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The symlink-proof folder walk and the path rule of rooted-walk.h: one
 * copy for the inventory and the quarantine.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/rooted-walk.h"

bool rooted_path_is_valid(const char *path)
{
	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX)
		return false;
	for (const char *c = path + 1;;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || n > NAME_MAX)
			return false;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!c[n])
			return true;
		c += n + 1;
	}
}

#define OPEN_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* One step down: parent's child name, created when missing and mk allows.
 * prefix is the path up to and including name, for mk->mode_of(). */
static int open_step(int parent, const char *name, const char *prefix,
                     const struct rooted_mkdir *mk)
{
	struct rooted_dir_meta meta;
	mode_t mode;
	bool exact = false;
	int fd;

	fd = openat(parent, name, OPEN_DIR_FLAGS);
	if (fd >= 0 || errno != ENOENT || !mk)
		return fd >= 0 ? fd : negative_errno();
	mode = mk->mode;
	if (mk->meta_of && mk->meta_of(prefix, mk->userdata, &meta)) {
		mode = meta.mode & 07777;
		exact = true;
	}
	if (mk->fault)
		fault_point(mk->fault);
	if (mkdirat(parent, name, exact ? 0700 : mode) < 0) {
		if (errno != EEXIST)
			return negative_errno();
		exact = false; /* someone else's folder: leave it as it is */
	}
	if (fsync(parent) < 0 && mk->strict)
		return negative_errno();
	fd = openat(parent, name, OPEN_DIR_FLAGS);
	if (fd < 0)
		return negative_errno();
	/* Made 0700 first, so nothing can be opened in it before it has
	 * its own mode. */
	if (exact &&
	    ((fchown(fd, meta.uid, meta.gid) < 0 && errno != EPERM) || fchmod(fd, mode) < 0)) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	return fd;
}

int rooted_open_dir(int base_fd, const char *dir, const struct rooted_mkdir *mk)
{
	_cleanup_free_ char *prefix = strdup(dir);
	int fd;

	if (!prefix)
		return -ENOMEM;
	fd = fcntl(base_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return negative_errno();
	for (const char *c = dir;;) {
		char name[NAME_MAX + 1];
		size_t n;
		int next;

		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (n == 0)
			break;
		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(name, c, n);
		name[n] = 0;
		c += n;
		prefix[c - dir] = 0;
		next = open_step(fd, name, prefix + strspn(prefix, "/"), mk);
		/* restore the prefix buffer for the next component */
		memcpy(prefix, dir, strlen(dir) + 1);
		close(fd);
		if (next < 0)
			return next;
		fd = next;
	}
	return fd;
}
