/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The inventory of every component's files (taken at each blessed boot;
 * level 1's evidence when the panic log names nobody), the diff against the last good boot's
 * inventory, and the cache of last-good copies of content files that lets
 * level 1 roll a changed content file back instead of only moving it aside.
 *
 *   <root>/var/lib/lifeline/inventory/last-good          the last good snapshot
 *   <root>/var/lib/lifeline/content-cache/<id>/<sha256>  last-good content copies
 *   <root>/var/lib/lifeline/content-cache/<id>/replaced/ files a rollback replaced
 *
 * Files are reached through directory descriptors opened one path
 * component at a time from the root with O_NOFOLLOW, looked at with
 * fstatat(AT_SYMLINK_NOFOLLOW) and opened with O_NOFOLLOW: a symlink is
 * recorded as what it is (its target's text is hashed, never what it
 * points to), and a symlink in a directory part of a path hides the files
 * below it (they count as removed).
 *
 * Library code: logs at debug level only; per-file problems go into the
 * results' lines for the caller to log or report.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/conf/components.h"
#include "common/macro.h"

#define INVENTORY_DIR            "/var/lib/lifeline/inventory"
#define INVENTORY_LAST_GOOD_FILE "/var/lib/lifeline/inventory/last-good"
#define CONTENT_CACHE_DIR        "/var/lib/lifeline/content-cache"
/* inventory_load() refuses larger files (100,000 files per component at
 * ~250 bytes a line is 25 MB; a few such components fit). */
#define INVENTORY_FILE_MAX (256u * 1024 * 1024)

#define INVENTORY_SHA256_SIZE 32

struct inventory_file {
	char *path;    /* absolute, without the root */
	uint32_t mode; /* st_mode, file type included (regular, symlink, other) */
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ino, dev;
	/* Regular file: SHA-256 of its bytes. Symlink: SHA-256 of its target
	 * text (readlink, never followed). Valid only when hashed is true (a
	 * file that could not be read, and any other file type, has none). */
	uint8_t sha256[INVENTORY_SHA256_SIZE];
	bool hashed;
	bool content; /* matched by one of the component's content globs */
};

struct inventory_component {
	char *id;
	char **modules; /* the component's module names (patterns) as configured */
	/* 0, or the -errno that stopped the expansion of its globs (-E2BIG:
	 * more than COMPONENT_EXPAND_MAX files); then files is empty. */
	int error;
	struct inventory_file *files; /* sorted by path (strcmp), no duplicates */
	size_t n_files;
};

struct inventory {
	/* CLOCK_REALTIME_COARSE (the clock the kernel stamps inodes with)
	 * when the walk started; a later inventory re-hashes a file whose
	 * ctime is not before it, since a change within the same clock tick
	 * would leave (size, mtime, ctime) unchanged. */
	int64_t taken_ns;
	struct inventory_component *components; /* in the component set's order */
	size_t n_components;
	/* What inventory_take() did (not stored): files read and hashed,
	 * hashes taken over from the previous inventory, bytes read. */
	size_t n_hashed;
	size_t n_reused;
	uint64_t bytes_hashed;
};

struct inventory *inventory_free(struct inventory *inv);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct inventory *, inventory_free)
#define _cleanup_inventory_free_ _cleanup_(inventory_freep)

/* Walks every component's files and content globs under root (NULL or "/"
 * for the real root), matching them as component_expand_files() does
 * (fnmatch per path component, no leading-'.' matches, nothing below a
 * symlinked directory), and records every non-directory they match:
 * path, size, mode, owner, mtime, ctime, inode, device, and the SHA-256
 * of a regular file's bytes or of a symlink's own text (never what it
 * points to). A file whose (type, size, mtime, ctime, inode, device)
 * equal previous's record of the same component and path, and whose ctime
 * is before previous->taken_ns, is not read again: its hash is taken over
 * (previous may be NULL: every file is read). A component whose globs
 * match more than COMPONENT_EXPAND_MAX files gets error -E2BIG and no
 * files; a file that vanishes during the walk is left out. Returns 0 and
 * *ret, or -ENOMEM / -errno when the root cannot be opened. */
int inventory_take(const char *root, const struct component_set *set,
                   const struct inventory *previous, struct inventory **ret);

/* The component of inv with this id, or NULL; a file by path (bsearch). */
const struct inventory_component *inventory_find_component(const struct inventory *inv,
                                                           const char *id);
const struct inventory_file *inventory_component_find_file(const struct inventory_component *c,
                                                           const char *path);

/* Writes inv to <root>/var/lib/lifeline/inventory/last-good atomically
 * (creating the directory). Fault points: "inventory-save" before the
 * write, then write_file_atomic()'s "write-atomic-rename". */
int inventory_save(const char *root, const struct inventory *inv);
/* Reads it back: -ENOENT when there is none, -EBADMSG when it is damaged
 * (checksum, syntax, order), -EPROTONOSUPPORT for an unknown version,
 * -EFBIG past INVENTORY_FILE_MAX. Every error means "no last good
 * inventory" to the caller. */
int inventory_load(const char *root, struct inventory **ret);
/* The text format both use (exposed for tests and fuzzers). */
int inventory_format(const struct inventory *inv, char **ret_text, size_t *ret_size);
int inventory_parse(const char *text, size_t size, struct inventory **ret);

/* ---------------------------------------------------------------------- */
/* Diff */

enum inventory_change_kind {
	INVENTORY_ADDED,
	INVENTORY_REMOVED,
	INVENTORY_CHANGED,
};

/* What differs in a changed file (bit set). */
enum {
	INVENTORY_CHANGED_CONTENT = 1 << 0, /* SHA-256 (or, unreadable, size/mtime) */
	INVENTORY_CHANGED_TYPE = 1 << 1,    /* regular file <-> symlink / other */
	INVENTORY_CHANGED_MODE = 1 << 2,    /* permission bits */
	INVENTORY_CHANGED_OWNER = 1 << 3,   /* uid or gid */
};

struct inventory_change {
	char *path;
	enum inventory_change_kind kind;
	unsigned what; /* INVENTORY_CHANGED_* for a change */
	bool content;  /* a content file (either side) */
	/* The records on each side, with path NULL (see above); zeroed
	 * for the missing side of an addition or a removal. */
	struct inventory_file before;
	struct inventory_file after;
};

struct inventory_component_diff {
	char *id;
	struct inventory_change *changes; /* sorted by path */
	size_t n_changes;
	size_t n_added, n_removed, n_changed;
	size_t n_non_content; /* changes to files that are not content files */
	int error;            /* the component's error in the new inventory, if any */
	/* The newest mtime among the new files of the changes (0 when only
	 * removals, whose time is unknown), and the newest of mtime and
	 * ctime: dpkg and tar give files the mtime of the package, ctime is
	 * when the inode changed on this machine, so suspects are ordered by
	 * this one. */
	int64_t newest_mtime_ns;
	int64_t newest_change_ns;
};

struct inventory_diff {
	/* Only components with changes (or an error in the new inventory),
	 * in the order of now's components. */
	struct inventory_component_diff *components;
	size_t n_components;
};

struct inventory_diff *inventory_diff_free(struct inventory_diff *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct inventory_diff *, inventory_diff_free)
#define _cleanup_inventory_diff_free_ _cleanup_(inventory_diff_freep)

/* Compares now with last_good, per component of now (a component only in
 * last_good is no longer configured and left out; one only in now is all
 * additions). Changed: content hash, file type, permission bits or owner;
 * inode, device and times alone are not a change. Returns 0 and *ret, or
 * -ENOMEM. */
int inventory_diff(const struct inventory *last_good, const struct inventory *now,
                   struct inventory_diff **ret);

/* The ids of the components that changed, most recently changed first
 * (newest_change_ns, then id). Components with no change are omitted; the
 * list may be empty ({ NULL }). 0 or -ENOMEM. */
int inventory_diff_suspects(const struct inventory_diff *d, char ***ret_component_ids);

const struct inventory_component_diff *inventory_diff_find(const struct inventory_diff *d,
                                                           const char *id);

/* One line per change for reports, e.g.
 *   examplesec: /opt/x/content/c-291.bin changed (sha256 ab12cd34… → cd34ef56…, mtime
 * 2024-07-19T04:09:12Z) at most max_per_component per component (0: no limit), then one
 * "examplesec: … and N more changes" line. 0 or -ENOMEM. */
int inventory_diff_lines(const struct inventory_diff *d, size_t max_per_component,
                         char ***ret_lines);

/* ---------------------------------------------------------------------- */
/* Content cache */

struct content_cache_result {
	unsigned cached;  /* copies made by this run */
	unsigned present; /* copies that were already there */
	unsigned skipped; /* content files left out: cache_max reached, or changed since inv */
	unsigned evicted; /* copies removed (no longer referenced) */
	uint64_t bytes;   /* bytes held by the cache after the run */
	char **lines;     /* one line per skipped file or problem (strv) */
};

void content_cache_result_done(struct content_cache_result *r);

/* Keeps a copy of every content file (not `files`) of inv's components
 * that have rollback_content=yes in set, as
 * <root>/var/lib/lifeline/content-cache/<id>/<sha256>, copied from the
 * live file only while it still is the file inv describes (same inode,
 * size, times and SHA-256), fsync'ed and renamed into place. Copies that
 * inv no longer references (and every copy of a component that is gone or
 * has rollback_content=no) are removed first; then the smallest files are
 * cached first while the total stays within cache_max bytes, the others
 * are skipped and reported. Call it after inventory_save() of inv (the
 * new last good): a power cut in between leaves copies of the older last
 * good, which a rollback ignores. Directories "replaced/" are left alone.
 * Fault points: "inventory-cache-evict" (after each removal),
 * "inventory-cache-copy" (copy written and synced, before its rename),
 * "inventory-cache-rename" (after the rename, before the directory
 * sync). Returns 0 and fills *ret (may be NULL) even when files were
 * skipped; -errno when the cache directory cannot be used. */
int content_cache_update(const char *root, const struct component_set *set,
                         const struct inventory *inv, uint64_t cache_max,
                         struct content_cache_result *ret);

struct rollback_result {
	unsigned restored;      /* files put back to their last-good bytes */
	unsigned already;       /* files that already held them (a re-run) */
	unsigned uncovered;     /* changed content files with no usable cached copy */
	unsigned errors;        /* files a rollback was tried for and failed */
	char **restored_paths;  /* paths (without root) */
	char **uncovered_paths; /* paths (without root): the caller quarantines these */
	char **kept_aside;      /* where each replaced file was kept (without root) */
	char **lines;           /* one line per file acted on or left, for reports */
};

void rollback_result_done(struct rollback_result *r);

/* For each content file of component c that differs between last_good
 * and now (content, type, mode or owner; or removed) and whose last-good
 * copy is cached and still has its SHA-256: writes the copy to a temp
 * file in the same directory with the last-good mode, owner and mtime,
 * fsyncs it, keeps the file in place aside as
 * <root>/var/lib/lifeline/content-cache/<id>/replaced/<unix-time>-<basename>
 * (a hard link, or a copy across filesystems; a symlink is kept as a
 * symlink, never read through), renames the temp over the path and
 * fsyncs the directory. A removed file is put back when its directory
 * still exists. The file in place is hashed first: one that already holds
 * the last-good bytes, mode and owner is left alone (counted in already),
 * so a second run, or a run after a power cut, is safe. Content files
 * added since last_good, and changed ones without a usable copy, are
 * listed in uncovered_paths. With rollback_content=no nothing is rolled
 * back and every changed content file is uncovered.
 * Fault points: "inventory-rollback-copy" (temp half written),
 * "inventory-rollback-tmp" (temp complete and synced), "inventory-rollback-keep"
 * (old file kept aside), "inventory-rollback-rename" (renamed over, before
 * the directory sync). Returns 0 and fills *ret (may be NULL) even with
 * per-file errors; -errno when it cannot run at all. */
int content_cache_rollback(const char *root, const struct component *c,
                           const struct inventory *last_good, const struct inventory *now,
                           struct rollback_result *ret);
