/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by protected.c (queries, cache) and protected-sources.c (building
 * the set); not for other modules: protected.h is the interface.
 */
#pragma once

#include <stdbool.h>

/* Whether the sorted NULL-terminated list l holds s. */
bool protected_sorted_contains(char **l, const char *s);
/* "kernel/fs/ext4/ext4.ko.xz" -> "ext4" ('_' form); NULL on ENOMEM. */
char *protected_module_name_of(const char *path);
/* Changes when root's dpkg status file or its list of kernels does. */
unsigned long long protected_status_key(const char *root);
