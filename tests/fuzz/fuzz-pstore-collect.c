/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pstore directory as the kernel leaves it: the input, cut at form
 * feeds into up to 8 parts, becomes dmesg-efi-<id> files of parts 1, 2...
 * They are collected (reassembled, saved, erased); every record must read
 * back from the save directory as the same record, and must parse. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "agent/crash/pstore.h"
#include "tests/fuzz/fuzz.h"

#define PARTS_MAX 8
#define SECONDS   UINT64_C(1732371234)

static void write_parts(const char *dir, const uint8_t *data, size_t size)
{
	for (unsigned part = 1; part <= PARTS_MAX; part++) {
		const uint8_t *ff = part < PARTS_MAX ? memchr(data, '\f', size) : NULL;
		size_t n = ff ? (size_t)(ff - data) : size;
		char name[PATH_MAX];

		snprintf(name, sizeof(name), "%s/dmesg-efi-%" PRIu64, dir,
		         (SECONDS * 100 + part) * 1000 + 1);
		fuzz_write_file(name, data, n);
		if (!ff)
			return;
		data += n + 1;
		size -= n + 1;
	}
}

static const struct pstore_record *find(const struct pstore_log *log, const char *name)
{
	for (size_t i = 0; i < log->n_records; i++)
		if (streq(log->records[i].name, name))
			return &log->records[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *dir, *save;
	struct pstore_log *log = NULL, *back = NULL;

	fuzz_setup();
	if (!dir) {
		dir = fuzz_path("pstore");
		save = fuzz_path("saved");
	}
	fuzz_empty_dir(dir);
	fuzz_empty_dir(save);
	write_parts(dir, data, size);
	if (pstore_collect(dir, save, true, &log) < 0)
		return 0;
	fuzz_assert(pstore_collect(save, NULL, false, &back) >= 0);
	for (size_t i = 0; i < log->n_records; i++) {
		const struct pstore_record *a = &log->records[i], *b = find(back, a->name);
		struct pstore_evidence e;

		fuzz_assert(a->saved_path && b);
		fuzz_assert(streq(a->reason, b->reason) && a->event == b->event);
		fuzz_assert(a->size == b->size && memcmp(a->text, b->text, a->size) == 0);
		if (pstore_parse(a->text, a->size, &e) == 0)
			pstore_evidence_done(&e);
	}
	fuzz_assert(back->n_records == log->n_records);
	pstore_log_free(back);
	pstore_log_free(log);
	return 0;
}
