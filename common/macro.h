/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cleanup attributes and small macros used everywhere (libc only).
 * Destructors accept NULL; TAKE_PTR/TAKE_FD hand ownership over.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(x)  (sizeof(x) / sizeof((x)[0]))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))
#define _pure_         __attribute__((pure))
#define _cleanup_(f)   __attribute__((cleanup(f)))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Define func##p() that calls func(*p) when *p is non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
	static inline void func##p(type *p)     \
	{                                       \
		if (*p)                         \
			func(*p);               \
	}

#define TAKE_PTR(p)                       \
	({                                \
		__typeof__(p) _tp_ = (p); \
		(p) = NULL;               \
		_tp_;                     \
	})

#define TAKE_FD(fd)              \
	({                       \
		int _tf_ = (fd); \
		(fd) = -1;       \
		_tf_;            \
	})

/* Convert a libc "-1 + errno" result into "-errno". */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#define RET_NERRNO(expr)                               \
	({                                             \
		long _r_ = (long)(expr);               \
		_r_ < 0 ? negative_errno() : (int)_r_; \
	})

static inline const char *strempty(const char *s)
{
	return s ? s : "";
}

static inline int streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return __builtin_strcmp(a, b) == 0;
}

#define streq(a, b) (__builtin_strcmp((a), (b)) == 0)

#include <dirent.h>
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
