/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the fuzzers (tests/fuzz/fuzz-*.c). Each fuzzer is a
 * libFuzzer entry point, LLVMFuzzerTestOneInput(); built with clang
 * -fsanitize=fuzzer it is a fuzzer, linked with fuzz-replay.c (any
 * compiler) it replays saved inputs. See README.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once per process: the project's log goes to /dev/null at debug level
 * (every format string still runs; FUZZ_VERBOSE=1 keeps it on stderr). */
void fuzz_setup(void);

/* A private directory under $TMPDIR (or /tmp), made on first use and
 * removed at exit. */
const char *fuzz_tmpdir(void);

/* fuzz_tmpdir()/name, malloc'ed, never NULL (abort on ENOMEM). */
char *fuzz_path(const char *name);

/* Creates (or truncates) path with data; creates parent directories.
 * Aborts on failure: a harness that cannot set up is broken, not a find. */
void fuzz_write_file(const char *path, const void *data, size_t size);

/* Removes everything inside dir (dir stays). */
void fuzz_empty_dir(const char *dir);

/* A NUL-terminated copy of data (as the project's file readers hand
 * text to the parsers). Never NULL. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* A copy of text whose last line's last space-separated field (after an
 * optional "sha256=" prefix) is replaced by the hex SHA-256 of every byte
 * before the last line: the checksummed formats (inventory, quarantine
 * manifest) then get past their checksum and their body is fuzzed too.
 * NULL when text has no such last line. NUL-terminated; *ret_size. */
char *fuzz_fix_sha256_trailer(const char *text, size_t size, size_t *ret_size);

/* Aborts with a message (a property the harness checks failed). */
#define fuzz_assert(expr) ((expr) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #expr))
void fuzz_fail(const char *file, int line, const char *expr) __attribute__((noreturn));
