/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decision history (/var/lib/lifeline/history, read by `lifelinectl
 * history`): the input as the file's text, through history_parse() and
 * through the file reader. Properties: what comes out is bounded and
 * clean (no control characters reach a terminal), and every entry read
 * writes back as a line that reads as the same entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/decision/history.h"
#include "common/strv.h"
#include "efi/state-record.h"
#include "tests/fuzz/fuzz.h"

static void check_string(const char *s)
{
	if (!s)
		return;
	fuzz_assert(strlen(s) <= HISTORY_STRING_MAX);
	for (const char *p = s; *p; p++)
		fuzz_assert((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void check_list(char **l)
{
	fuzz_assert(strv_length(l) <= HISTORY_LIST_MAX);
	STRV_FOREACH (s, l)
		check_string(*s);
}

static void check_entry(const struct history_entry *e)
{
	struct history again = {0};
	char *line = NULL;
	size_t len;

	fuzz_assert(e->action && e->who && *e->action);
	fuzz_assert(e->level <= 3);
	check_string(e->who);
	check_string(e->action);
	check_string(e->mode);
	check_string(e->reason);
	check_list(e->evidence);
	check_list(e->components);
	check_list(e->modules);
	check_list(e->files);

	/* time 0 would be "now" on append: compare the rest */
	fuzz_assert(history_format_line(e, &line, &len) == 0);
	fuzz_assert(len <= HISTORY_ENTRY_MAX && line[len - 1] == '\n');
	fuzz_assert(history_parse(line, len, &again) == 0);
	fuzz_assert(again.n == 1 && again.n_damaged == 0);
	fuzz_assert(again.entries[0].boot_seq == e->boot_seq && again.entries[0].level == e->level);
	fuzz_assert(e->time == 0 || again.entries[0].time == e->time);
	fuzz_assert(strcmp(again.entries[0].action, e->action) == 0);
	fuzz_assert(strcmp(again.entries[0].who, e->who) == 0);
	fuzz_assert(!e->reason == !again.entries[0].reason);
	fuzz_assert(!e->reason || strcmp(again.entries[0].reason, e->reason) == 0);
	fuzz_assert(strv_length(again.entries[0].components) == strv_length(e->components));
	history_done(&again);
	free(line);
}

/* A copy with every line's checksum made right, so the JSON behind it is
 * fuzzed too and not only the checksum gate. */
static char *fix_checksums(const uint8_t *data, size_t size)
{
	char *c = fuzz_strndup(data, size);
	char *line = c, *end = c + size;

	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
		char hex[9];

		if (len > 9 && line[8] == ' ') {
			snprintf(hex, sizeof(hex), "%08x", state_crc32(line + 9, len - 9));
			memcpy(line, hex, 8);
		}
		line += len + 1;
	}
	return c;
}

static void parse_and_check(const char *text, size_t size)
{
	struct history h = {0};

	fuzz_assert(history_parse(text, size, &h) == 0);
	for (size_t i = 0; i < h.n; i++)
		check_entry(&h.entries[i]);
	history_done(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *root, *file;
	struct history h = {0};

	fuzz_setup();
	if (!root) {
		root = fuzz_path("root");
		file = fuzz_path("root" HISTORY_FILE);
	}
	char *fixed;

	parse_and_check((const char *)data, size);
	fixed = fix_checksums(data, size);
	parse_and_check(fixed, size);
	free(fixed);

	fuzz_write_file(file, data, size);
	if (history_read(root, &h) == 0)
		history_done(&h);
	return 0;
}
