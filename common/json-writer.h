/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small JSON writer over a stdio stream, libc only: for the documents
 * that must not pull in json-c (lifeline-early writes the decision history
 * and the decision report in the initramfs). Compact output, no spaces.
 *
 * Strings, one rule for every caller:
 *   - '"' and '\\' are escaped with a backslash; control characters
 *     (U+0000..U+001F) and DEL (0x7f) as \u00XX;
 *   - well-formed UTF-8 is copied as it is;
 *   - every byte that does not start a well-formed UTF-8 sequence (a stray
 *     continuation byte, a truncated sequence, an overlong form, a UTF-16
 *     surrogate, a code point past U+10FFFF) becomes \ufffd, one per byte;
 *   - a string may be cut at max bytes of its input (0: no limit), never
 *     inside a character.
 * So the output is always valid JSON and valid UTF-8, whatever the bytes
 * (pstore lines, file names) were.
 *
 * Objects and arrays: the writer puts the commas. Inside an object, call
 * json_writer_key() before each value. Errors of the stream are the
 * caller's to check (fclose(), ferror()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_WRITER_DEPTH_MAX 32

struct json_writer {
	FILE *f;
	unsigned depth;
	bool after_key;                        /* the next value follows a key */
	bool first[JSON_WRITER_DEPTH_MAX + 1]; /* no item yet at this depth */
};

void json_writer_init(struct json_writer *w, FILE *f);

/* Writes s as a JSON string by the rule above (NULL: null), cut at max
 * bytes of s (0: whole). Usable without a writer. */
void json_write_string(FILE *f, const char *s, size_t max);

void json_writer_object_begin(struct json_writer *w);
void json_writer_object_end(struct json_writer *w);
void json_writer_array_begin(struct json_writer *w);
void json_writer_array_end(struct json_writer *w);
/* The key of the next value in an object (a plain string, escaped). */
void json_writer_key(struct json_writer *w, const char *key);

void json_writer_string(struct json_writer *w, const char *s); /* NULL: null */
void json_writer_string_cut(struct json_writer *w, const char *s, size_t max);
void json_writer_int(struct json_writer *w, int64_t v);
void json_writer_uint(struct json_writer *w, uint64_t v);
void json_writer_bool(struct json_writer *w, bool v);
void json_writer_null(struct json_writer *w);
/* An array of the strings of l (NULL: empty), at most max_items of them
 * (0: all), each cut at max_bytes (0: whole). */
void json_writer_strv(struct json_writer *w, char *const *l, size_t max_items, size_t max_bytes);
