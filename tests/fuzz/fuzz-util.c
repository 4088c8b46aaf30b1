/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"

static char tmpdir[4096];

void fuzz_fail(const char *file, int line, const char *expr)
{
	/* fd 2 itself: the stdio stream may point at /dev/null (fuzz_setup) */
	dprintf(STDERR_FILENO, "%s:%d: fuzz property failed: %s\n", file, line, expr);
	abort();
}

void fuzz_setup(void)
{
	static bool done;
	const char *v = getenv("FUZZ_VERBOSE");

	if (done)
		return;
	done = true;
	log_set_max_level(LOG_LVL_DEBUG);
	if (!v || strcmp(v, "1") != 0) {
		/* common/log.c writes to the stdio stream stderr; libFuzzer
		 * and the sanitizers keep writing to fd 2. */
		FILE *null = fopen("/dev/null", "we");

		if (null)
			stderr = null;
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		(void)remove(path);
	return 0;
}

void fuzz_empty_dir(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_tmpdir(void)
{
	if (tmpdir[0]) {
		fuzz_empty_dir(tmpdir);
		(void)rmdir(tmpdir);
	}
}

const char *fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0])
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/lifeline-fuzz.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		abort();
	}
	atexit(remove_tmpdir);
	return tmpdir;
}

char *fuzz_path(const char *name)
{
	char *p = path_join(fuzz_tmpdir(), name);

	if (!p)
		abort();
	return p;
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
	char *dir = strdup(path), *slash;
	const char *p = data;
	int fd;

	if (!dir)
		abort();
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir_p(dir, 0755) < 0)
			abort();
	}
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		perror(path);
		abort();
	}
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort();
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = 0;
	return s;
}

char *fuzz_fix_sha256_trailer(const char *text, size_t size, size_t *ret_size)
{
	const char *last, *field;
	uint8_t md[32];
	unsigned len = 0;
	size_t keep;
	char *out;

	if (size < 2 || text[size - 1] != '\n')
		return NULL;
	last = text + size - 1;
	while (last > text && last[-1] != '\n')
		last--;
	field = memrchr(last, ' ', (size_t)(text + size - 1 - last));
	if (!field)
		return NULL;
	field++;
	if ((size_t)(text + size - field) > 7 && memcmp(field, "sha256=", 7) == 0)
		field += 7;
	if (EVP_Digest(text, (size_t)(last - text), md, &len, EVP_sha256(), NULL) != 1)
		abort();
	keep = (size_t)(field - text);
	out = malloc(keep + 2 * sizeof(md) + 2);
	if (!out)
		abort();
	memcpy(out, text, keep);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + keep + 2 * i, 3, "%02x", md[i]);
	out[keep + 2 * sizeof(md)] = '\n';
	out[keep + 2 * sizeof(md) + 1] = 0;
	*ret_size = keep + 2 * sizeof(md) + 1;
	return out;
}
