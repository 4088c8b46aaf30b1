/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file part of a quarantine, crash-safe: a component's files are moved aside under
 *
 *   <root>/var/lib/lifeline/quarantine/<generation>/<component>/files/<path>
 *
 * with a journal, <...>/<component>/manifest, written and made durable
 * before anything moves. The manifest records what each file was (mode,
 * owner, mtime, size, SHA-256, extended attributes) so a restore puts it
 * back exactly, and the state of the whole job (applying, applied,
 * restoring, restored) so an interrupted job is finished by the next run.
 *
 * Where a file is, in place or in the quarantine, is the truth; a file's
 * state in the manifest is a durable progress record that may lag behind
 * it by up to one flush interval, and every step is idempotent: a re-run
 * after a power cut at any point looks at both places and completes the
 * job (quarantine-manifest.c has the format, quarantine.c the rules).
 *
 * Component files are reached only through directory descriptors opened
 * one path component at a time with O_NOFOLLOW from the root, so a
 * symlink anywhere in a path is refused, never followed.
 *
 * Library code: logs at debug level only; problems with single files go
 * into the result's lines for the caller to log or report.
 */
#pragma once

#include "agent/conf/components.h"

#define QUARANTINE_DIR "/var/lib/lifeline/quarantine"

/* A job holds an exclusive flock(2) on its state directory (this one, or
 * the degrade's) from start to end, so lifelined and lifelinectl never
 * move the same files at once. A job that finds the lock held tries
 * again every QUARANTINE_LOCK_RETRY_MS for at most
 * QUARANTINE_LOCK_TIMEOUT_MS, then fails with -EWOULDBLOCK: a hung
 * lifelinectl must not hang the boot phase. */
#define QUARANTINE_LOCK_TIMEOUT_MS 30000
#define QUARANTINE_LOCK_RETRY_MS   100

struct quarantine_result {
	unsigned moved;       /* apply: files now in the quarantine */
	unsigned restored;    /* restore: files put back in place */
	unsigned kept_vendor; /* restore: the vendor put a different file at the original path;
	                       * that one is kept, the quarantined copy stays where it is */
	unsigned errors;      /* files that could not be moved, restored or found */
	char **lines;         /* one human-readable line per problem and a summary (strv) */
};

void quarantine_result_done(struct quarantine_result *r);

/* Moves every regular file the component's files and content globs match
 * under root into the quarantine of generation. A file that cannot be
 * moved (EPERM, immutable, EROFS, a symlink in its path) is counted in
 * errors and reported; the others still move. Idempotent: running it again
 * moves only what is still (or again) in place, and finishes an
 * interrupted run of the same generation.
 * Returns 0 and fills *ret (when not NULL) when the job ran to its end,
 * even with per-file errors; -errno when it could not run or not be
 * journalled (nothing moves before the journal is durable), then *ret is
 * untouched; -EWOULDBLOCK when another lifeline process held the
 * quarantine directory for longer than QUARANTINE_LOCK_TIMEOUT_MS. */
int quarantine_apply(const char *root, const struct component *c, unsigned generation,
                     struct quarantine_result *ret);

/* Puts back every file of component_id from every generation that holds
 * it, newest generation first, with its recorded mode, owner, extended
 * attributes and mtime, after checking the copy's SHA-256. A different
 * file at the original path (the vendor's update) is kept and reported,
 * never overwritten. The component's quarantine directory is removed once
 * nothing is left in it. Idempotent and crash-safe like apply. A component
 * with nothing in the quarantine is success with zero counts.
 * Returns as quarantine_apply(). */
int quarantine_restore(const char *root, const char *component_id, struct quarantine_result *ret);

/* Finishes every apply or restore that a crash or power cut interrupted
 * (manifests in state applying / restoring) and removes directories left
 * by a cut before any manifest was written. Returns the number of jobs
 * finished, or the first -errno after trying all of them (-EWOULDBLOCK:
 * the directory was held by another lifeline process, nothing tried). */
int quarantine_recover(const char *root);

/* The number of interrupted jobs quarantine_recover() would finish
 * (without writing anything, so it works on a read-only root), or -errno. */
int quarantine_needs_recovery(const char *root);

/* 1 when component_id is quarantined in generation (its apply ran, maybe
 * interrupted, and no restore finished), 0 when not, or -errno. */
int quarantine_exists(const char *root, const char *component_id, unsigned generation);

/* The ids of components with files (or an unfinished job) in the
 * quarantine, sorted, without duplicates. */
int quarantine_list(const char *root, char ***ret_ids);

/* How many files are moved (or put back) between two durable manifest
 * updates; 1 rewrites the manifest after every file. Each update costs
 * four fsync()s (milliseconds on real disks: 1,000 files would take
 * seconds at 1) and rewrites the whole manifest, so the default, 0, is
 * every max(QUARANTINE_FLUSH_MIN, n/4) files of a job of n: the manifest
 * is written a bounded number of times, whatever the size. Correctness
 * does not depend on it: where a file is decides, the state only records
 * progress (see the top of this file). Returns the previous value. */
#define QUARANTINE_FLUSH_MIN 1024
unsigned quarantine_set_flush_interval(unsigned files);

/* How long a job waits for the lock of its state directory, in ms
 * (QUARANTINE_LOCK_TIMEOUT_MS unless set; 0: one try). For tests.
 * Returns the previous value. */
unsigned quarantine_set_lock_timeout(unsigned ms);

/* The reason of a failure r of the functions above, for a log line:
 * for -EWOULDBLOCK "/var/lib/lifeline/quarantine: held by another
 * lifeline process ...", else strerror(). */
const char *quarantine_strerror(int r);
