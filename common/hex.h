/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lowercase hexadecimal, the one encoder and decoder of the on-disk
 * formats that carry hashes and bytes as hex (inventory, quarantine
 * manifest, content cache names).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* n bytes of data as 2n lowercase hex digits and a NUL into out. */
void hex_encode(const uint8_t *data, size_t n, char *out);

/* The value of one lowercase hex digit, or -1. */
int hex_digit(char c);

/* len lowercase hex digits at s into len/2 bytes at out (written only
 * when all of s is good): 0, or -EINVAL (odd length, another character). */
int hex_decode(const char *s, size_t len, uint8_t *out);
