/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A degrade manifest (agent/quarantine/degrade-manifest.c), NUL-terminated
 * as dmanifest_load() hands it over; also with its end-line checksum made
 * right, so the line parser is reached. What parses must format and parse
 * back to the same text. */
#include <stdlib.h>
#include <string.h>

#include "agent/quarantine/degrade-internal.h"
#include "tests/fuzz/fuzz.h"

static void check(const char *text, size_t size)
{
	struct dmanifest m = {0}, again = {0};
	char *out = NULL, *out2 = NULL;
	size_t n = 0, n2 = 0;

	if (dmanifest_parse(text, size, &m) < 0)
		return;
	fuzz_assert(m.n <= DM_FILES_MAX);
	fuzz_assert(dmanifest_format(&m, &out, &n) == 0);
	fuzz_assert(dmanifest_parse(out, n, &again) == 0);
	fuzz_assert(dmanifest_format(&again, &out2, &n2) == 0);
	fuzz_assert(n == n2 && memcmp(out, out2, n) == 0);
	dmanifest_done(&again);
	dmanifest_done(&m);
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
