/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File operations of the quarantine that never follow a symlink below the
 * root: every directory is opened from its parent's descriptor with
 * O_NOFOLLOW | O_DIRECTORY (open(2): "If the trailing component ... is a
 * symbolic link, then the open fails, with the error ELOOP"), every file
 * is looked at with fstatat(AT_SYMLINK_NOFOLLOW) and opened with
 * O_NOFOLLOW, and metadata is read and set through that descriptor
 * (flistxattr/fgetxattr are llistxattr/lgetxattr without the path race).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/quarantine/quarantine-internal.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/sha256.h"

#define COPY_CHUNK (256 * 1024)
#define TMP_PREFIX ".lifeline-tmp-"

int qpath_split(const char *path, char **ret_buf, const char **ret_dir, const char **ret_name)
{
	char *buf, *slash;

	if (!rooted_path_is_valid(path))
		return -EINVAL;
	buf = strdup(path + 1);
	if (!buf)
		return -ENOMEM;
	slash = strrchr(buf, '/');
	if (slash) {
		*slash = 0;
		*ret_dir = buf;
		*ret_name = slash + 1;
	} else {
		*ret_dir = buf + strlen(buf); /* "" */
		*ret_name = buf;
	}
	*ret_buf = buf;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Directories */

void qdir_init(struct qdir *d, int base_fd, bool create, mode_t mode)
{
	*d = (struct qdir){.base_fd = base_fd, .create = create, .mode = mode, .fd = -1};
}

int qdir_sync(struct qdir *d)
{
	if (d->fd < 0 || !d->dirty)
		return 0;
	fault_point("quarantine-dir-fsync");
	if (fsync(d->fd) < 0)
		return negative_errno();
	d->dirty = false;
	return 0;
}

void qdir_done(struct qdir *d)
{
	(void)qdir_sync(d);
	if (d->fd >= 0)
		close(d->fd);
	free(d->path);
	d->path = NULL;
	d->fd = -1;
}

int qdir_get(struct qdir *d, const char *dir, int *ret_fd)
{
	const struct rooted_mkdir mk = {
	    .mode = d->mode,
	    .meta_of = d->meta_of,
	    .userdata = d->mode_userdata,
	    .strict = true,
	    .fault = "quarantine-mkdir",
	};
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (d->fd >= 0 && streq(d->path, dir)) {
		*ret_fd = d->fd;
		return 0;
	}
	r = qdir_sync(d);
	if (r < 0)
		return r;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	free(d->path);
	d->path = NULL;

	path = strdup(dir);
	if (!path)
		return -ENOMEM;
	fd = rooted_open_dir(d->base_fd, dir, d->create ? &mk : NULL);
	/* ELOOP: a symlink; ENOTDIR: not a directory. Both refused. */
	if (fd < 0)
		return fd == -ENOTDIR ? -ELOOP : fd;
	d->fd = TAKE_FD(fd);
	d->path = TAKE_PTR(path);
	*ret_fd = d->fd;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Files */

int qfile_kind(int dir_fd, const char *name)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (S_ISREG(st.st_mode))
		return 1;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	return S_ISDIR(st.st_mode) ? -EISDIR : -EBADF;
}

/* O_NOFOLLOW: never a symlink; O_NONBLOCK: never hang on a FIFO that
 * replaced the file; the fstat() check then refuses anything else. A
 * readable descriptor, not O_PATH: fchown(2), fchmod(2) and fsetxattr(2)
 * on an O_PATH descriptor fail with EBADF (open(2), "O_PATH"). */
int qfile_open(int dir_fd, const char *name, struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	if (ret_st)
		*ret_st = st;
	return TAKE_FD(fd);
}

/* Reads fd to its end into the digest, and into out_fd when >= 0. */
static int hash_stream(int fd, int out_fd, const char *fault, uint8_t sha[SHA256_SIZE],
                       uint64_t *ret_size)
{
	_cleanup_free_ char *buf = malloc(COPY_CHUNK);
	struct sha256_ctx ctx;
	uint64_t total = 0;

	if (!buf)
		return -ENOMEM;
	sha256_init(&ctx);
	for (;;) {
		ssize_t n = read(fd, buf, COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		sha256_update(&ctx, buf, (size_t)n);
		total += (uint64_t)n;
		for (ssize_t done = 0; out_fd >= 0 && done < n;) {
			ssize_t w = write(out_fd, buf + done, (size_t)(n - done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return negative_errno();
			done += w;
		}
		if (fault)
			fault_point(fault);
	}
	sha256_final(&ctx, sha);
	if (ret_size)
		*ret_size = total;
	return 0;
}

int qfile_hash(int dir_fd, const char *name, uint8_t sha[SHA256_SIZE])
{
	_cleanup_close_ int fd = qfile_open(dir_fd, name, NULL);

	if (fd < 0)
		return fd;
	return qfile_hash_fd(fd, sha);
}

int qfile_hash_fd(int fd, uint8_t sha[SHA256_SIZE])
{
	return hash_stream(fd, -1, NULL, sha, NULL);
}

static int read_xattrs(int fd, struct qentry *e)
{
	_cleanup_free_ char *names = NULL;
	ssize_t n;

	for (;;) {
		n = flistxattr(fd, NULL, 0);
		if (n < 0)
			return errno == ENOTSUP ? 0 : negative_errno();
		if (n == 0)
			return 0;
		free(names);
		names = malloc((size_t)n);
		if (!names)
			return -ENOMEM;
		n = flistxattr(fd, names, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE) /* ERANGE: one was added meanwhile */
			return negative_errno();
	}
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		struct qxattr x = {0}, *nx;
		ssize_t size;

		size = fgetxattr(fd, p, NULL, 0);
		if (size < 0) {
			if (errno == ENODATA)
				continue;
			return negative_errno();
		}
		x.value = malloc((size_t)size + 1);
		x.name = strdup(p);
		if (!x.value || !x.name) {
			free(x.value);
			free(x.name);
			return -ENOMEM;
		}
		size = fgetxattr(fd, p, x.value, (size_t)size);
		nx = size < 0 ? NULL : realloc(e->xattrs, (e->n_xattrs + 1) * sizeof(*nx));
		if (!nx) {
			int r = size < 0 ? negative_errno() : -ENOMEM;

			free(x.value);
			free(x.name);
			return r;
		}
		x.size = (size_t)size;
		e->xattrs = nx;
		e->xattrs[e->n_xattrs++] = x;
	}
	return 0;
}

int qentry_read(int dir_fd, const char *name, struct qentry *e)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	r = qfile_kind(dir_fd, name);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	fd = qfile_open(dir_fd, name, &st);
	if (fd < 0)
		return fd;
	e->mode = st.st_mode & 07777;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->mtime_sec = st.st_mtim.tv_sec;
	e->mtime_nsec = st.st_mtim.tv_nsec;
	r = hash_stream(fd, -1, NULL, e->sha256, &e->size);
	if (r < 0)
		return r;
	return read_xattrs(fd, e);
}

/* ---------------------------------------------------------------------- */
/* Metadata */

/* Owner first (chown(2) clears set-user-ID bits and security.capability),
 * then mode, then xattrs, then the mtime (which the others leave alone,
 * but last is the order that cannot go wrong). */
static int meta_apply_fd(int fd, const struct qentry *e, bool strict)
{
	struct stat st;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return negative_errno();
	if ((st.st_uid != e->uid || st.st_gid != e->gid) && fchown(fd, e->uid, e->gid) < 0)
		r = negative_errno();
	if ((st.st_mode & 07777) != e->mode || st.st_uid != e->uid || st.st_gid != e->gid)
		if (fchmod(fd, e->mode) < 0 && r == 0)
			r = negative_errno();
	for (size_t i = 0; i < e->n_xattrs; i++) {
		const struct qxattr *x = &e->xattrs[i];
		_cleanup_free_ uint8_t *cur = malloc(x->size + 1);
		ssize_t n = cur ? fgetxattr(fd, x->name, cur, x->size + 1) : -1;

		if (n >= 0 && (size_t)n == x->size && memcmp(cur, x->value, x->size) == 0)
			continue;
		if (fsetxattr(fd, x->name, x->value, x->size, 0) < 0) {
			log_debug_errno(errno, "Failed to set xattr %s: %m", x->name);
			if (strict && r == 0)
				r = negative_errno();
		}
	}
	if (st.st_mtim.tv_sec != e->mtime_sec || st.st_mtim.tv_nsec != e->mtime_nsec) {
		struct timespec ts[2] = {
		    {.tv_nsec = UTIME_OMIT},
		    {.tv_sec = (time_t)e->mtime_sec, .tv_nsec = e->mtime_nsec},
		};

		if (futimens(fd, ts) < 0 && r == 0)
			r = negative_errno();
	}
	return r;
}

int qmeta_apply_at(int dir_fd, const char *name, const struct qentry *e)
{
	_cleanup_close_ int fd = qfile_open(dir_fd, name, NULL);

	if (fd < 0)
		return fd;
	return qmeta_apply_fd(fd, e);
}

int qmeta_apply_fd(int fd, const struct qentry *e)
{
	return meta_apply_fd(fd, e, true);
}

void qtmp_name(const char *path, char name[64])
{
	uint8_t sha[SHA256_SIZE];
	char hex[2 * SHA256_SIZE + 1];

	/* Derived from the path, so a re-run after a cut finds (and
	 * replaces) its own leftover temp file. */
	sha256_buffer(path, strlen(path), sha);
	sha256_to_hex(sha, hex);
	snprintf(name, 64, TMP_PREFIX "%.16s", hex);
}

int qcopy_file(int src_dir, int dst_dir, const char *name, const char *tmp, const struct qentry *e,
               bool strict, const char *fault_prefix, uint8_t ret_sha[SHA256_SIZE])
{
	_cleanup_close_ int src = -1, dst = -1;
	uint8_t sha[SHA256_SIZE];
	char fault[96];
	int r;

	src = qfile_open(src_dir, name, NULL);
	if (src < 0)
		return src;
	if (unlinkat(dst_dir, tmp, 0) < 0 && errno != ENOENT)
		return negative_errno();
	dst = openat(dst_dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0)
		return negative_errno();
	snprintf(fault, sizeof(fault), "%s-write", fault_prefix);
	r = hash_stream(src, dst, fault, sha, NULL);
	if (r >= 0)
		r = meta_apply_fd(dst, e, strict);
	if (r >= 0) {
		snprintf(fault, sizeof(fault), "%s-fsync", fault_prefix);
		fault_point(fault);
		if (fsync(dst) < 0)
			r = negative_errno();
	}
	if (r >= 0) {
		snprintf(fault, sizeof(fault), "%s-rename", fault_prefix);
		fault_point(fault);
		if (renameat2(dst_dir, tmp, dst_dir, name, RENAME_NOREPLACE) < 0)
			r = negative_errno();
	}
	if (r < 0) {
		(void)unlinkat(dst_dir, tmp, 0);
		return r;
	}
	/* The copy must be durable before the caller unlinks the source:
	 * the two are on different filesystems, so nothing orders them. */
	snprintf(fault, sizeof(fault), "%s-fsync-dir", fault_prefix);
	fault_point(fault);
	if (fsync(dst_dir) < 0)
		return negative_errno();
	memcpy(ret_sha, sha, SHA256_SIZE);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* lifeline's own directories */

int qmkdir_durable(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		char saved = *s;

		if (saved != '/' && saved != 0)
			continue;
		*s = 0;
		if (mkdir(p, mode) == 0) {
			int r = fsync_parent(p);

			if (r < 0)
				return r;
		} else if (errno != EEXIST)
			return negative_errno();
		*s = saved;
		if (!saved)
			return 0;
	}
}

int qrmtree_empty(int dir_fd, const char *name)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int fd, r = 0;

	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return negative_errno();
		if (S_ISDIR(st.st_mode)) {
			int k = qrmtree_empty(dirfd(d), de->d_name);

			if (k < 0 && r == 0)
				r = k;
		} else if (S_ISREG(st.st_mode) &&
		           strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			if (unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0)
				r = negative_errno();
		} else if (r == 0)
			r = -ENOTEMPTY;
	}
	if (r < 0)
		return r;
	fault_point("quarantine-rmdir");
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
		return negative_errno();
	return 0;
}
