/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one logger: level-filtered lines on stderr (the journal adds the
 * rest under systemd), log_*_errno() returning the -errno it was given so
 * a caller can log and return in one statement.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_LVL_INFO;
static enum log_target target = LOG_TARGET_STDERR;
static const char *prefix = NULL;
static int kmsg_fd = -1;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_target(enum log_target t)
{
	target = t;
}

void log_set_prefix(const char *p)
{
	prefix = p;
}

static void write_kmsg(int level, const char *msg)
{
	char buf[1024];
	int n;

	if (kmsg_fd < 0)
		kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (kmsg_fd < 0) {
		fprintf(stderr, "%s%s\n", prefix ? prefix : "", msg);
		return;
	}
	/* "<N>" sets the record's priority (Documentation/ABI/testing/dev-kmsg). */
	n = snprintf(buf, sizeof(buf), "<%d>lifeline: %s\n", level, msg);
	if (n > 0)
		(void)!write(kmsg_fd, buf, MIN((size_t)n, sizeof(buf) - 1));
}

int log_internal(int level, int error, const char *fmt, ...)
{
	char msg[1024];
	int saved = errno;
	va_list ap;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return error > 0 ? -error : -EIO;

	/* %m means the given error, not whatever errno holds right now. */
	errno = error;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (target == LOG_TARGET_KMSG)
		write_kmsg(level, msg);
	else
		fprintf(stderr, "%s%s\n", prefix ? prefix : "", msg);

	errno = saved;
	return error > 0 ? -error : -EIO;
}
