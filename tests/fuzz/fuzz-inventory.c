/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stored inventory (last-good), NUL-terminated as inventory_load()
 * hands it over; also with its end-line checksum made right, so the body
 * parser is reached. What parses must format and parse back to the same
 * text, and diff against itself. */
#include <stdlib.h>
#include <string.h>

#include "agent/inventory/inventory.h"
#include "common/strv.h"
#include "tests/fuzz/fuzz.h"

static void check(const char *text, size_t size)
{
	struct inventory *inv = NULL, *again = NULL;
	struct inventory_diff *d = NULL;
	char *out = NULL, *out2 = NULL, **lines = NULL;
	size_t n = 0, n2 = 0;

	if (inventory_parse(text, size, &inv) < 0)
		return;
	fuzz_assert(inventory_format(inv, &out, &n) == 0);
	fuzz_assert(inventory_parse(out, n, &again) == 0);
	fuzz_assert(inventory_format(again, &out2, &n2) == 0);
	fuzz_assert(n == n2 && memcmp(out, out2, n) == 0);
	fuzz_assert(inventory_diff(inv, again, &d) == 0);
	if (inventory_diff_lines(d, 3, &lines) == 0)
		strv_free(lines);
	inventory_diff_free(d);
	inventory_free(again);
	inventory_free(inv);
	free(out);
	free(out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size), *fixed;
	size_t fixed_size;

	fuzz_setup();
	check(text, size);
	fixed = fuzz_fix_sha256_trailer(text, size, &fixed_size);
	if (fixed)
		check(fixed, fixed_size);
	free(fixed);
	free(text);
	return 0;
}
