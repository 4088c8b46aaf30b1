/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File helpers: bounded reads, crash-safe writes, paths under a root. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Read a whole file of at most max bytes (-EFBIG past that). The buffer is
 * NUL-terminated (not counted in *ret_size). */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);

/* write(2) until all size bytes are written (EINTR retried): 0 or -errno. */
int fd_write_all(int fd, const void *data, size_t size);

/* read(2) that retries EINTR: the bytes read (0 at end of file) or -errno. */
ssize_t fd_read_retry(int fd, void *buf, size_t size);

/* Write path crash-safely: temp file in the same directory (PATH.tmp-PID),
 * fsync, rename, fsync of the directory. After power loss the file holds
 * the old or the new content, never a mix. It first removes the temp
 * files of earlier writes of path that a power cut or a killed writer
 * left behind (remove_stale_temp_files()). */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* True for a write_file_atomic() temp name (ANY.tmp-PID) whose writer no
 * longer runs (and is not this process). */
bool temp_file_is_stale(const char *name);

/* Removes path's stale temp files (PATH.tmp-PID, temp_file_is_stale()). */
void remove_stale_temp_files(const char *path);

/* fsync the directory that holds path (makes a rename/unlink durable). */
int fsync_parent(const char *path);
int fsync_path(const char *path);

/* mkdir -p; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode);

/* root + path ("/" or NULL root: path itself). Returns NULL on ENOMEM. */
char *path_under_root(const char *root, const char *path);

/* Join two path parts with one '/'. Returns NULL on ENOMEM. */
char *path_join(const char *a, const char *b);

/* Fault injection for power-cut tests: when LIFELINE_FAULT=NAME (or
 * NAME:N for the N-th hit, 1-based) is set, the process _exit()s with
 * code 99 at that point, as if power failed there. A no-op otherwise. */
void fault_point(const char *name);
