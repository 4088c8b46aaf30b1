/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The machine's identity as systemd keeps it (machine-id(5)): what signed
 * commands target and what reports carry. Its own file, free of libcrypto
 * and json-c, so lifeline-early's decision report can use it too.
 */
#pragma once

#include <stdbool.h>

/* 32 lowercase hex digits. */
bool machine_id_is_valid(const char *s);

/* <root>/etc/machine-id, validated. Returns 0, -EINVAL (not a machine-id),
 * -EFBIG (longer than one), -ENOMEM or the read's -errno. */
int machine_id_read(const char *root, char ret[33]);
