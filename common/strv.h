/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NULL-terminated string vectors ("strv"), as the config lists
 * (keep_units, a component's modules/units/globs) hold them.
 * An empty list may be NULL or { NULL }: every function accepts both.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Split s at runs of whitespace (space, tab, CR, LF, VT, FF). Leading and
 * trailing whitespace is ignored; an empty or all-blank s gives { NULL }.
 * Returns 0 or -ENOMEM; *ret is assigned only on success. */
int strv_split_ws(const char *s, char ***ret);

/* Frees every string and the vector. Accepts NULL; returns NULL. */
char **strv_free(char **l);

size_t strv_length(char *const *l);
bool strv_contains(char *const *l, const char *s);

/* Appends a copy of s, allocating the vector when *l is NULL. 0 or
 * -ENOMEM (then *l is unchanged). */
int strv_extend(char ***l, const char *s);

/* Appends s itself (ownership passes to the vector). On -ENOMEM s is freed,
 * so "strv_consume(&l, strdup(x))" needs no extra check for the strdup. */
int strv_consume(char ***l, char *s);

/* Appends the formatted string; returns it (owned by the vector), or
 * NULL on ENOMEM (*l unchanged). */
const char *strv_extendv(char ***l, const char *fmt, va_list ap);

/* Appends copies of every string of b. 0 or -ENOMEM (*a unchanged). */
int strv_extend_strv(char ***a, char *const *b);

/* A deep copy; NULL on ENOMEM. A NULL l gives { NULL }. */
char **strv_copy(char *const *l);

/* The strings joined with sep (NULL sep: " "); "" for an empty list.
 * NULL on ENOMEM. */
char *strv_join(char *const *l, const char *sep);

/* Sorts with strcmp and drops duplicates, in place. */
void strv_sort_uniq(char **l);

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)
