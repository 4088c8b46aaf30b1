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

#include "agent/conf/components.h"
#include "agent/quarantine/quarantine.h"
#include "common/macro.h"
#include "common/rooted-walk.h"

#define QM_MAGIC     "lifeline-quarantine-manifest"
#define QM_VERSION   1
#define QM_NAME      "manifest"
#define QM_TMP_NAME  "manifest.tmp"
#define QM_FILES_DIR "files"
#define QM_MAX_SIZE  (512U * 1024 * 1024)
#define SHA256_SIZE  32

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

/* A folder on the way to a quarantined file, as it was at the apply:
 * a restore that must make it again makes it like this. */
struct qdirmeta {
	char *path; /* absolute, without the root */
	struct rooted_dir_meta meta;
};

struct qmanifest {
	char *component;
	unsigned generation;
	enum qm_state state;
	struct qentry *entries; /* sorted by path */
	size_t n, alloc;
	struct qdirmeta *dirs; /* "dir" lines, in the order noted */
	size_t n_dirs;
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
/* Only among the first n entries (the sorted part before appends). */
struct qentry *qmanifest_find_in(const struct qmanifest *m, size_t n, const char *path);
void sha256_to_hex(const uint8_t sha[SHA256_SIZE], char hex[2 * SHA256_SIZE + 1]);
/* Notes the owner and mode of dir ("a/b", relative to root_fd) and of
 * every folder above it that m does not know yet. */
int qmanifest_note_dirs(struct qmanifest *m, int root_fd, const char *dir);
/* The folder path ("/a/b") as noted, or NULL. */
const struct qdirmeta *qmanifest_find_dir(const struct qmanifest *m, const char *path);
/* For qdir.meta_of: userdata is the manifest, dir relative ("a/b"). */
bool qmanifest_dir_meta(const char *dir, void *userdata, struct rooted_dir_meta *ret);

/* quarantine-fs.c */

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
	/* the owner and mode of a folder to create (rooted-walk.h); NULL: mode */
	bool (*meta_of)(const char *dir, void *userdata, struct rooted_dir_meta *ret);
	void *mode_userdata;
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
/* Opens the regular file name in dir_fd for reading, never through a
 * symlink (O_NOFOLLOW) and never hanging on a FIFO (O_NONBLOCK); its
 * fstat() in *ret_st when not NULL. The descriptor, or -ELOOP (a
 * symlink), -EBADF (not a regular file), another -errno. */
int qfile_open(int dir_fd, const char *name, struct stat *ret_st);
/* SHA-256 of the regular file name in dir_fd. */
int qfile_hash(int dir_fd, const char *name, uint8_t sha[SHA256_SIZE]);
/* SHA-256 of what fd reads from its offset to its end. */
int qfile_hash_fd(int fd, uint8_t sha[SHA256_SIZE]);
/* 1 regular file, 0 absent, -ELOOP a symlink, -EISDIR / -EBADF another type. */
int qfile_kind(int dir_fd, const char *name);
/* Sets owner, mode, xattrs and mtime of the regular file name in dir_fd to
 * e's where they differ. Returns 0 or the first -errno (every item is
 * still tried). */
int qmeta_apply_at(int dir_fd, const char *name, const struct qentry *e);
/* The same on an open regular file (fchown, fchmod, fsetxattr, futimens):
 * for a file the caller created or checked through fd, so the metadata
 * goes on that file and not on whatever its name holds by then. */
int qmeta_apply_fd(int fd, const struct qentry *e);
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

/* quarantine-job.c */

/* One component in one generation: its directories, manifest and result. */
struct qjob {
	int root_fd;  /* borrowed from the caller */
	int base_fd;  /* <root>/var/lib/lifeline/quarantine, borrowed, locked */
	int gen_fd;   /* .../<generation> */
	int comp_fd;  /* .../<generation>/<component> */
	int files_fd; /* .../<generation>/<component>/files */
	struct qdir orig;
	struct qdir quar;
	struct qmanifest m;
	struct quarantine_result res;
	unsigned since_flush;
	unsigned generation;
	struct protected_set *protected; /* apply: never moved (a reference) */
	bool removed;                    /* the restore finished and removed the directory */
	bool rerun;                      /* continues an interrupted run: look for its temp files */
	char id[COMPONENT_ID_MAX + 1];
};

struct qslot {
	unsigned generation;
	char id[COMPONENT_ID_MAX + 1];
};

void qresult_line(struct quarantine_result *r, const char *fmt, ...) _printf_(2, 3);
/* Adds from's counts and lines to to, and empties from. */
void qresult_add(struct quarantine_result *to, struct quarantine_result *from);
/* The root and <root>/var/lib/lifeline/quarantine (created when create),
 * the latter locked with flock(LOCK_EX) for the caller's whole job. */
int qbase_open(const char *root, int *ret_root_fd, int *ret_base_fd, bool create);
/* The same for another of lifeline's state directories under root (dir:
 * an absolute path such as QUARANTINE_DIR or DEGRADE_DIR), mode 0700 when
 * created, locked with flock(2) for the whole job. A lock held by another
 * process is waited for at most quarantine_set_lock_timeout()'s time
 * (QUARANTINE_LOCK_TIMEOUT_MS), then -EWOULDBLOCK. */
int qstate_dir_open(const char *root, const char *dir, bool create, int *ret_root_fd,
                    int *ret_base_fd);
/* What quarantine_strerror() and degrade_strerror() say after their
 * directory's name for -EWOULDBLOCK. */
#define QSTATE_BUSY_TEXT                                                                        \
	": held by another lifeline process (lifelined or lifelinectl); nothing was done, try " \
	"again"
/* The same directory, unlocked, for read-only questions. */
int qbase_open_ro(const char *root, int *ret_base_fd);
void qjob_init(struct qjob *j);
void qjob_done(struct qjob *j);
/* Opens (create: makes, durably) <generation>/<id>/files under base_fd. */
int qjob_open(struct qjob *j, int root_fd, int base_fd, const char *id, unsigned generation,
              bool create);
/* fsync of the directories changed so far, then the manifest. */
int qjob_flush(struct qjob *j);
/* One file done: flushes every flush-interval files. */
int qjob_progress(struct qjob *j);
void qjob_entry_error(struct qjob *j, struct qentry *e, enum qe_state state, int error,
                      const char *what);
unsigned qmanifest_count(const struct qmanifest *m, enum qe_state s);
/* Removes the job's directory once nothing is left in it (and the
 * generation's if empty); -ENOTEMPTY when something unexpected is. */
int qjob_remove(struct qjob *j);
/* Every <generation>/<component> directory (only_id's, when not NULL),
 * newest generation first. */
int qslots_scan(int base_fd, const char *only_id, struct qslot **ret, size_t *ret_n);
/* The job state from the manifest header, unverified (read-only checks). */
int qslot_peek_state(int base_fd, const struct qslot *s, enum qm_state *ret);

/* quarantine-restore.c: restores the job's files, removes its directory
 * when nothing is left. */
int qjob_restore(struct qjob *j);

/* quarantine.c: finishes a slot's interrupted job (restore: restores an
 * applied one too). 1 when something was done, 0 nothing to do, <0 error. */
int qslot_run(int root_fd, int base_fd, const struct qslot *s, bool restore,
              struct quarantine_result *res);
