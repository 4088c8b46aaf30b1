/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging. Library layers (common/, efi/, agent/ core) log only at debug
 * level; programs log once per error with its context. The target is
 * stderr by default, or the kernel log (/dev/kmsg, "lifeline: " prefix)
 * for the early-boot program, where stderr may go nowhere.
 */
#pragma once

#include <errno.h>

#include "macro.h"

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_KMSG, /* /dev/kmsg, falling back to stderr */
};

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(enum log_target t);
void log_set_prefix(const char *prefix);

/* Logs the message; returns -abs(error) (or -EIO when error is 0) so that
 * "return log_error_errno(r, ...)" reads naturally. %m prints error. */
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_error_errno(error, ...)       log_internal(LOG_LVL_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...)     log_internal(LOG_LVL_WARNING, (error), __VA_ARGS__)
#define log_debug_errno(error, ...)       log_internal(LOG_LVL_DEBUG, (error), __VA_ARGS__)
#define log_error(...)                    (void)log_internal(LOG_LVL_ERR, 0, __VA_ARGS__)
#define log_warning(...)                  (void)log_internal(LOG_LVL_WARNING, 0, __VA_ARGS__)
#define log_notice(...)                   (void)log_internal(LOG_LVL_NOTICE, 0, __VA_ARGS__)
#define log_info(...)                     (void)log_internal(LOG_LVL_INFO, 0, __VA_ARGS__)
#define log_debug(...)                    (void)log_internal(LOG_LVL_DEBUG, 0, __VA_ARGS__)
