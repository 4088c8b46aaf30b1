/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The name rules of the configuration: component ids, kernel module names
 * (and their '*' / '?' patterns), systemd unit names, component globs.
 * lifeline.conf and components.d both check their values with these.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Limits for names, as the kernel and systemd define them. */
#define COMPONENT_ID_MAX 64
#define MODULE_NAME_MAX  55  /* MODULE_NAME_LEN (64 - sizeof(unsigned long)) - 1 on 64-bit */
#define UNIT_NAME_MAX    255 /* systemd's UNIT_NAME_MAX */

/* Name rules. */
bool component_id_is_valid(const char *id);
/* [A-Za-z0-9_-], 1..MODULE_NAME_MAX; with allow_glob also '*' and '?'. */
bool module_name_is_valid(const char *name, bool allow_glob);
/* Replaces '-' with '_' in place, as the kernel does for module names. */
char *module_name_normalize(char *name);
/* pattern (possibly with '*' / '?') against a module name; '-' and '_'
 * compare equal. */
bool module_name_match(const char *pattern, const char *name);
/* [A-Za-z0-9:_.\\@-], no '/', at most UNIT_NAME_MAX, and a unit type
 * suffix (.service, .socket, .target, .timer, .path, .mount, ...). */
bool unit_name_is_valid(const char *name);
/* Absolute, no "." or ".." components, no NUL/newline, a literal (glob-free)
 * first component (so "/ *" cannot sweep the whole root), at most PATH_MAX. */
bool component_glob_is_valid(const char *glob);
/* Whether the n bytes at s hold '*', '?' or '['. */
bool name_has_glob_chars(const char *s, size_t n);
