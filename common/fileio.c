/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File helpers every layer uses: bounded whole-file reads, crash-safe
 * writes (temp + fsync + rename + fsync of the directory, stale temps
 * removed), mkdir -p, and paths joined under a --root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

ssize_t fd_read_retry(int fd, void *buf, size_t size)
{
	for (;;) {
		ssize_t n = read(fd, buf, size);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, alloc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();

	for (;;) {
		ssize_t n;

		if (size + 1 >= alloc) {
			size_t na = alloc ? alloc * 2 : 4096;
			char *nb;

			if (na > max + 1)
				na = max + 1;
			if (na <= size + 1)
				return -EFBIG;
			nb = realloc(buf, na);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			alloc = na;
		}
		n = fd_read_retry(fd, buf + size, alloc - 1 - size);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > max)
			return -EFBIG;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[size] = 0;
	*ret = TAKE_PTR(buf);
	if (ret_size)
		*ret_size = size;
	return 0;
}

int fd_write_all(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

int fsync_path(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return negative_errno();
	return RET_NERRNO(fsync(fd));
}

int fsync_parent(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash)
		return fsync_path(".");
	if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	return fsync_path(dir);
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	/* first: a cut anywhere below leaves at most this write's own temp,
	 * which the next write of path removes in turn */
	remove_stale_temp_files(path);

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();
	r = fd_write_all(fd, data, size);
	if (r >= 0 && fchmod(fd, mode) < 0)
		r = negative_errno();
	if (r >= 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	close(TAKE_FD(fd));
	fault_point("write-atomic-rename");
	if (rename(tmp, path) < 0) {
		r = negative_errno();
		unlink(tmp);
		return r;
	}
	return fsync_parent(path);
}

bool temp_file_is_stale(const char *name)
{
	const char *t = strstr(name, ".tmp-");
	char *end = NULL;
	long pid;

	if (!t)
		return false;
	while (strstr(t + 1, ".tmp-"))
		t = strstr(t + 1, ".tmp-");
	errno = 0;
	pid = strtol(t + 5, &end, 10);
	if (errno != 0 || !end || *end || end == t + 5 || pid <= 0 || pid > INT_MAX)
		return false;
	if (pid == getpid())
		return false;
	/* kill(pid, 0): ESRCH when no such process (kill(2)); EPERM means
	 * one runs. A reused PID keeps a stale temp until it is free. */
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

void remove_stale_temp_files(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	_cleanup_(closedirp) DIR *d = NULL;
	const char *base;
	struct dirent *de;
	char *slash;
	size_t len;
	bool removed = false;

	if (!dir)
		return;
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	base = path + (slash - dir) + 1;
	if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	len = strlen(base);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, base, len) != 0 ||
		    strncmp(de->d_name + len, ".tmp-", 5) != 0)
			continue;
		if (temp_file_is_stale(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) >= 0)
			removed = true;
	}
	if (removed)
		(void)fsync(dirfd(d));
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	char *s;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return negative_errno();
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

char *path_join(const char *a, const char *b)
{
	char *r;
	size_t la = strlen(a);

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (asprintf(&r, "%.*s/%s", (int)la, a, b) < 0)
		return NULL;
	return r;
}

char *path_under_root(const char *root, const char *path)
{
	if (!root || !*root || streq(root, "/"))
		return strdup(path);
	return path_join(root, path);
}

void fault_point(const char *name)
{
	static int hits = 0;
	const char *f = getenv("LIFELINE_FAULT");
	const char *colon;
	size_t len;
	long want = 1;

	if (!f || !*f)
		return;
	colon = strchr(f, ':');
	len = colon ? (size_t)(colon - f) : strlen(f);
	if (strlen(name) != len || strncmp(f, name, len) != 0)
		return;
	if (colon)
		want = strtol(colon + 1, NULL, 10);
	if (++hits >= want) {
		fprintf(stderr, "lifeline: fault injected at %s (hit %d)\n", name, hits);
		_exit(99);
	}
}
