/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by quarantine.c (the engine), quarantine-manifest.c (the journal
 * format) and quarantine-fs.c (symlink-proof file operations). Not for
 * other modules: quarantine.h is the interface.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define QM_MAGIC "lifeline-quarantine-manifest"
#define QM_VERSION 1
#define QM_NAME "manifest"
#define QM_TMP_NAME "manifest.tmp"
#define QM_FILES_DIR "files"
#define QM_MAX_SIZE (512U * 1024 * 1024)
#define SHA256_SIZE 32

enum qm_state {
	QM_APPLYING,  /* files are being moved into the quarantine */
	QM_APPLIED,   /* every file is moved or reported */
	QM_RESTORING, /* files are being put back */
	QM_RESTORED,  /* finished; only copies the vendor replaced remain */
	_QM_STATE_MAX,
};

enum qe_state {
	QE_PENDING,     /* recorded, not yet moved */
	QE_MOVED,       /* in the quarantine */
	QE_RESTORED,    /* back in place */
	QE_KEPT_VENDOR, /* a different file is in place; the copy stays quarantined */
	QE_FAILED,      /* could not be moved: still in place (error says why) */
	QE_MISSING,     /* in neither place */
	_QE_STATE_MAX,
};

struct qxattr {
	char *name;
	uint8_t *value;
	size_t size;
};

struct qentry {
	char *path; /* absolute, without the root */
	enum qe_state state;
	mode_t mode; /* permission bits only (07777) */
	uid_t uid;
	gid_t gid;
	uint64_t size;
	int64_t mtime_sec;
	long mtime_nsec;
	uint8_t sha256[SHA256_SIZE];
	struct qxattr *xattrs;
	size_t n_xattrs;
	int error; /* errno of the last failure, 0 if none */
};

struct qmanifest {
	char *component;
	unsigned generation;
	enum qm_state state;
	struct qentry *entries; /* sorted by path */
	size_t n, alloc;
};

/* quarantine-manifest.c */
const char *qm_state_to_string(enum qm_state s);
const char *qe_state_to_string(enum qe_state s);
void qentry_done(struct qentry *e);
void qmanifest_done(struct qmanifest *m);
/* Text form, ending with a checksummed "end" line. */
int qmanifest_format(const struct qmanifest *m, char **ret, size_t *ret_size);
/* -EBADMSG for a damaged or truncated manifest, -EPROTONOSUPPORT for a newer version. */
int qmanifest_parse(const char *text, size_t size, struct qmanifest *ret);
/* Reads / writes (tmp + fsync + rename + fsync(dir)) "manifest" in dir_fd. */
int qmanifest_load(int dir_fd, struct qmanifest *ret);
int qmanifest_save(int dir_fd, const struct qmanifest *m);
/* Appends e (taking its contents); then qmanifest_sort() before lookups. */
int qmanifest_add(struct qmanifest *m, struct qentry *e);
void qmanifest_sort(struct qmanifest *m);
struct qentry *qmanifest_find(const struct qmanifest *m, const char *path);
void sha256_to_hex(const uint8_t sha[SHA256_SIZE], char hex[2 * SHA256_SIZE + 1]);

/* quarantine-fs.c */

/* Absolute, no empty, "." or ".." components, each component < NAME_MAX. */
bool qpath_is_valid(const char *path);
/* Splits "/a/b/c" into "a/b" (maybe "") and "c" (both point into buf). */
int qpath_split(const char *path, char **ret_buf, const char **ret_dir, const char **ret_name);

/* One cached directory below base_fd, opened component by component with
 * O_NOFOLLOW (and created with mode when create). Files of one directory
 * come in a row, so one walk serves them all. dirty: something in it was
 * renamed or unlinked and needs an fsync before the manifest says so. */
struct qdir {
	int base_fd; /* not owned */
	bool create;
	mode_t mode;
	char *path;
	int fd;
	bool dirty;
};

void qdir_init(struct qdir *d, int base_fd, bool create, mode_t mode);
/* The fd of dir (relative to base, "" = base), valid until the next call.
 * -ELOOP / -ENOTDIR: a component is a symlink or not a directory. */
int qdir_get(struct qdir *d, const char *dir, int *ret_fd);
int qdir_sync(struct qdir *d);
void qdir_done(struct qdir *d);

/* The regular file name in dir_fd: metadata, SHA-256 and xattrs into e
 * (path and state are left alone). -ENOENT, -ELOOP (a symlink), -EBADF
 * (not a regular file) or another -errno. */
int qentry_read(int dir_fd, const char *name, struct qentry *e);
/* SHA-256 of the regular file name in dir_fd. */
int qfile_hash(int dir_fd, const char *name, uint8_t sha[SHA256_SIZE]);
/* 1 regular file, 0 absent, -ELOOP a symlink, -EISDIR / -EBADF another type. */
int qfile_kind(int dir_fd, const char *name);
/* Sets owner, mode, xattrs and mtime of the regular file name in dir_fd to
 * e's where they differ. Returns 0 or the first -errno (every item is
 * still tried). */
int qmeta_apply_at(int dir_fd, const char *name, const struct qentry *e);
/* The temp name a copy of path is written under before its rename. */
void qtmp_name(const char *path, char name[64]);
/* Copies name from src_dir to a temp file in dst_dir, applies e's
 * metadata (strict: an xattr that cannot be set is an error), fsyncs it,
 * renames it to name and fsyncs dst_dir. The SHA-256 of what was copied
 * is returned; e is not changed. fault_prefix names the fault points. */
int qcopy_file(int src_dir, int dst_dir, const char *name, const char *tmp, const struct qentry *e,
	       bool strict, const char *fault_prefix, uint8_t ret_sha[SHA256_SIZE]);
/* mkdir -p of an absolute path whose created directories are made
 * durable (fsync of each new one's parent). For lifeline's own state
 * directory, which may be reached through a symlink on the real root. */
int qmkdir_durable(const char *path, mode_t mode);
/* Removes the directory tree name in dir_fd if it holds only directories
 * and lifeline temp files; -ENOTEMPTY (and nothing more removed) otherwise. */
int qrmtree_empty(int dir_fd, const char *name);
