/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* UTF-8 validation (RFC 3629): one validator for every caller. */
#pragma once

#include <stddef.h>

/* The length (1-4) of the well-formed UTF-8 sequence at p, reading at most
 * n bytes (n >= 1), or 0 when p does not start one: a stray continuation
 * byte, a truncated sequence, an overlong form, a UTF-16 surrogate, a code
 * point past U+10FFFF. A NUL byte is a sequence of 1. */
size_t utf8_sequence_len(const char *p, size_t n);
