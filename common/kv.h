/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one key=value codec for lifeline's small state files (the /run
 * hand-off between boot phases, the daemon's state, the command poller's
 * cache): one "key=value" pair a line, the value running to the end of
 * the line. Lines without '=' are skipped (a torn or hand-edited line is
 * no reason to lose the rest); a value never holds a newline (kv_append()
 * replaces CR and LF with spaces).
 */
#pragma once

#include <stdio.h>

/* Calls f(key, value, userdata) for each "key=value" line of text, which
 * is changed in place (the '=' and newlines become NULs). Stops at, and
 * returns, the first negative value f returns; else 0. */
int kv_parse(char *text, int (*f)(const char *key, char *value, void *userdata), void *userdata);

/* Writes "key=value\n" to f, CR and LF in value written as spaces.
 * Returns 0, or -EIO when f reports an error. */
int kv_append(FILE *f, const char *key, const char *value);
