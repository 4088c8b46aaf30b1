/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The INI syntax of lifeline.conf and components.d: a lexer that hands
 * each section header, key line and continuation line to a handler with
 * its file and line, and the value helpers both files use. It knows no
 * key of either file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value helpers. */
/* yes/no, true/false, on/off, 1/0 (case-insensitive): 1, 0 or -EINVAL. */
int config_parse_boolean(const char *s);
/* Decimal digits (no sign, no suffix) up to the first non-digit, whose
 * position goes to *ret_end: 0, -EINVAL (no digit) or -ERANGE. */
int ini_parse_u64(const char *s, uint64_t *ret, const char **ret_end);
/* Decimal digits with an optional K, M, G or T suffix (powers of 1024,
 * optionally followed by "B" or "iB"): 0, -EINVAL or -ERANGE. */
int config_parse_size(const char *s, uint64_t *ret);

/*
 * The INI syntax both files use (the inih format, parsed
 * here without inih's line and name limits; see config.c): "[section]"
 * lines, "key = value" lines, whole-line comments starting with ';' or
 * '#', inline comments starting with ';' or '#' after whitespace, an
 * optional UTF-8 BOM, CRLF or LF line ends. An indented line that is not
 * itself "key = value" continues the previous key's value
 * (continuation = true), which lists use to span several lines.
 */
struct config_ini_item {
	const char *file;
	unsigned line;
	const char *section; /* NULL for keys before the first section */
	const char *key;     /* NULL: this item is the section header itself */
	const char *value;   /* NULL for a section header, and for a continuation
	                      * line that could not be read (over-long, not
	                      * UTF-8; already logged): key's value is not whole */
	bool continuation;
};

/* Return 0 when the item was fine, -ENOMEM to abort the parse, any other
 * negative errno after logging a problem with the item (the parse goes
 * on). */
typedef int (*config_ini_handler_t)(const struct config_ini_item *item, void *userdata);

/* Longest line accepted (bytes, without the newline). */
#define CONFIG_LINE_MAX 4096
/* Largest file read. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* Parses text (size bytes, which may contain stray NULs). Syntax errors,
 * over-long lines and lines that are not UTF-8 are logged as
 * "FILE:LINE: ..." and counted in *ret_syntax_errors (the line is skipped;
 * keys after a broken section header are skipped up to the next header).
 * Returns 0, or -ENOMEM (also when the handler returned it). */
int config_parse_ini(const char *file, const char *text, size_t size, config_ini_handler_t handler,
                     void *userdata, unsigned *ret_syntax_errors);

/* Logs "FILE:LINE: [section] key: <message>" at error level for an item. */
void config_log_item_error(const struct config_ini_item *item, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
