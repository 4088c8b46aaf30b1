/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spool's names and files (spool.h): the one place that knows how a
 * spooled report is named, lists the spool and writes a new file. libc
 * only: lifeline-early spools its decision report with it (spool.c, with
 * libcurl and json-c, stays out of the initramfs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

/* A temp file of write_file_atomic() that a crash left behind is removed
 * when its writer's PID no longer runs, or once it is this old (the PID
 * may have been reused after a reboot). */
#define SPOOL_STALE_TMP_SECONDS 3600

void spool_random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = getrandom(p, n, GRND_NONBLOCK);

		if (k <= 0) {
			/* Entropy pool not ready this early (getrandom(2)):
			 * ids and jitter need to be unlikely to collide, not
			 * secret. */
			struct timespec ts;
			static unsigned counter;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
			             (uint64_t)getpid() ^ ((uint64_t)++counter << 48);
			for (; n > 0; n--, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
				*p++ = (uint8_t)(x >> 56);
			return;
		}
		p += k;
		n -= (size_t)k;
	}
}

bool spool_name_is_valid(const char *name)
{
	if (strlen(name) != SPOOL_NAME_LEN || !streq(name + SPOOL_NAME_LEN - 5, ".json") ||
	    name[SPOOL_TIME_DIGITS] != '-')
		return false;
	for (int i = 0; i < SPOOL_TIME_DIGITS; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	for (int i = SPOOL_TIME_DIGITS + 1; i < SPOOL_TIME_DIGITS + 1 + SPOOL_ID_DIGITS; i++)
		if (!strchr("0123456789abcdef", name[i]) || !name[i])
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the spool; also removes temp files a crash left behind. */
int spool_list(const char *root, char ***ret_names)
{
	_cleanup_free_ char *dir = path_under_root(root, SPOOL_DIR);
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_strv_free_ char **names = NULL;
	struct dirent *de;
	int r;

	if (!dir)
		return -ENOMEM;
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			return negative_errno();
		names = calloc(1, sizeof(char *));
		if (!names)
			return -ENOMEM;
		*ret_names = TAKE_PTR(names);
		return 0;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (spool_name_is_valid(de->d_name)) {
			r = strv_extend(&names, de->d_name);
			if (r < 0)
				return r;
		} else if (strstr(de->d_name, ".json.tmp-")) {
			struct stat st;

			/* its writer is gone (a power cut, a killed agent),
			 * or it is old enough that its PID was reused */
			if (temp_file_is_stale(de->d_name) ||
			    (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
			     st.st_mtime + SPOOL_STALE_TMP_SECONDS < time(NULL)))
				(void)unlinkat(dirfd(d), de->d_name, 0);
		}
		errno = 0;
	}
	if (errno != 0)
		return negative_errno();
	if (!names) {
		names = calloc(1, sizeof(char *));
		if (!names)
			return -ENOMEM;
	}
	qsort(names, strv_length(names), sizeof(char *), cmp_str);
	*ret_names = TAKE_PTR(names);
	return 0;
}

void spool_id_new(char ret[SPOOL_ID_DIGITS + 1])
{
	uint8_t raw[SPOOL_ID_DIGITS / 2];

	spool_random_bytes(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(ret + 2 * i, 3, "%02x", raw[i]);
}

uint64_t spool_name_time(char *const *names, uint64_t now_us)
{
	size_t n = strv_length(names);

	/* Names sort in the order the reports were made, also when the
	 * realtime clock was set back (an NTP step, a wrong RTC, an
	 * initramfs before the clock is right): a new name is never below
	 * the newest one in the spool, or this report would be sent before
	 * older ones and dropped first when the spool is full. */
	if (n > 0) {
		unsigned long long newest = strtoull(names[n - 1], NULL, 10);

		if (newest >= now_us && newest < SPOOL_TIME_MAX)
			now_us = newest + 1;
	}
	return now_us;
}

int spool_write(const char *root, char *const *names, const char *id, const void *text, size_t size,
                char **ret_path)
{
	_cleanup_free_ char *dir = path_under_root(root, SPOOL_DIR), *path = NULL;
	struct timespec ts;
	uint64_t us;
	int r;

	if (!dir)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	us = spool_name_time(names,
	                     (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL);
	if (asprintf(&path, "%s/%0*llu-%s.json", dir, SPOOL_TIME_DIGITS, (unsigned long long)us,
	             id) < 0)
		return -ENOMEM;
	/* temp + fsync + rename + fsync(dir) */
	r = write_file_atomic(path, text, size, 0600);
	if (r < 0)
		return r;
	if (ret_path)
		*ret_path = TAKE_PTR(path);
	return 0;
}
