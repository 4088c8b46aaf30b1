/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Lowercase hexadecimal (hex.h). */
#include <errno.h>
#include <string.h>

#include "common/hex.h"

void hex_encode(const uint8_t *data, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * n] = 0;
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hex_decode(const char *s, size_t len, uint8_t *out)
{
	if (len % 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2)
		if (hex_digit(s[i]) < 0 || hex_digit(s[i + 1]) < 0)
			return -EINVAL;
	for (size_t i = 0; i < len; i += 2)
		out[i / 2] = (uint8_t)(hex_digit(s[i]) << 4 | hex_digit(s[i + 1]));
	return 0;
}
