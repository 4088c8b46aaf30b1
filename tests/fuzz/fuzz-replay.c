/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main() for a fuzzer built without libFuzzer (any compiler): runs every
 * file given, or every file in every directory given, through
 * LLVMFuzzerTestOneInput() once. make check-fuzz replays the saved corpora
 * with it, so they run where clang is missing too.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "tests/fuzz/fuzz.h"

/* Larger than any corpus file; what libFuzzer's -max_len would cut. */
#define REPLAY_FILE_MAX (16u * 1024 * 1024)

/* fuzz_setup() points stderr at /dev/null for the project's log. */
static FILE *out;

static int run_file(const char *path)
{
	char *data = NULL;
	size_t size = 0;
	int r;

	r = read_full_file(path, REPLAY_FILE_MAX, &data, &size);
	if (r < 0) {
		fprintf(out, "replay: %s: %s\n", path, strerror(-r));
		return -1;
	}
	fprintf(out, "replay: %s (%zu bytes)\n", path, size);
	(void)LLVMFuzzerTestOneInput((const uint8_t *)data, size);
	free(data);
	return 0;
}

static int run_dir(const char *dir, unsigned *n)
{
	struct dirent **list;
	int k, fails = 0;

	k = scandir(dir, &list, NULL, alphasort);
	if (k < 0) {
		fprintf(out, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < k; i++) {
		char *p = path_join(dir, list[i]->d_name);
		struct stat st;

		if (p && list[i]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			fails += run_file(p) < 0;
			(*n)++;
		}
		free(p);
		free(list[i]);
	}
	free(list);
	return fails ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int fails = 0;

	out = stderr;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(out, "replay: %s: %s\n", argv[i], strerror(errno));
			fails++;
		} else if (S_ISDIR(st.st_mode)) {
			fails += run_dir(argv[i], &n) < 0;
		} else {
			fails += run_file(argv[i]) < 0;
			n++;
		}
	}
	fprintf(out, "replay: %u inputs ran\n", n);
	return fails ? 1 : 0;
}
