/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers the unit tests share (tests/test-*.c link $(O)/tests/libtestutil.a):
 * files under a fake root, the state variable in the EFIVARFS_PATH
 * directory, and tests/collector.py on loopback. They fail the running
 * cmocka test on a setup error, so a broken fixture never passes quietly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "efi/state-record.h"

/* Makes a new directory $LIFELINE_TEST_TMP/<prefix>XXXXXX (/tmp without
 * LIFELINE_TEST_TMP) and puts its path in buf; 0, or -1 when it cannot
 * (a cmocka setup's value). */
int tu_mkdtemp(char *buf, size_t size, const char *prefix);

/* As root: this process in a mount namespace of its own whose mounts do
 * not propagate, so test mounts stay here; false when that cannot be had
 * (the tests that need it skip). */
bool tu_private_mounts(void);

/* Writes root + rel atomically with mode; the parents are created. */
void tu_put(const char *root, const char *rel, const char *text, mode_t mode);

/* The text of root + rel (up to 1 MiB; free it); NULL when it cannot be read. */
char *tu_get(const char *root, const char *rel);

/* The text of path (up to 1 MiB; free it); NULL when it cannot be read. */
char *tu_slurp(const char *path);

/* Whether root + rel exists (a dangling link does not). */
bool tu_exists(const char *root, const char *rel);

/* The state variable's file in the EFIVARFS_PATH directory (run-unit.sh
 * sets it, with its trailing '/'). */
void tu_var_path(char *buf, size_t size);

/* Removes the state variable at path: clears its immutable flag first
 * (efivarfs sets it; a plain directory may not support it), then unlinks.
 * Absent is fine. */
void tu_var_reset(const char *path);

/* Reads the state record from the EFI store (the EFIVARFS_PATH directory)
 * into *rec (initialised first); store_load()'s result. */
int tu_record_load(struct state_record *rec);

/* Writes rec to the EFI store; fails the test when it cannot. */
void tu_record_save(const struct state_record *rec);

/* rm -rf dir; 0 on success, -1 otherwise (a cmocka setup/teardown value). */
int tu_rm_rf(const char *dir);

/* How many entries of dir end in suffix (and are longer than it); 0 when
 * dir cannot be opened. */
int tu_count_files(const char *dir, const char *suffix);

/* Runs path with argv (argv[0] first, NULL last), its stdout a pipe, and
 * reads the first line it prints into line (newline dropped): how a
 * server says where it listens. *pid is set as soon as it runs. */
void tu_spawn_line(pid_t *pid, char *line, size_t size, const char *path, char *const argv[]);

/* Starts tests/collector.py on a loopback port it picks itself, storing
 * what it receives under dir and exiting after timeout seconds; extra
 * (may be NULL) is added to its command line as shell words. Every POSTed
 * report is checked against docs/report.schema.json (an invalid one is
 * answered 400 and named on stderr); extra "--no-schema" turns that off
 * for a test that sends documents that are not reports. *pid is set as
 * soon as it runs (so a teardown can stop it), *port once it listens. */
void tu_collector_start(pid_t *pid, int *port, const char *dir, unsigned timeout,
                        const char *extra);

/* SIGTERM to *pid and waits for it, when *pid > 0; *pid becomes -1. */
void tu_stop(pid_t *pid);

/* Another process holding an exclusive flock(2) on the directory dir
 * (made when missing): a forked child, which has the lock when
 * tu_flock_hold() returns and keeps it until tu_flock_release() or for
 * max_ms, whichever comes first. */
struct tu_flock {
	pid_t pid;
	int release; /* closing it lets the child go */
};
void tu_flock_hold(struct tu_flock *h, const char *dir, int max_ms);
/* Lets the child go and waits for it. */
void tu_flock_release(struct tu_flock *h);
