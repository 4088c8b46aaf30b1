/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The machine's name in a report (report.h, report_hostname()): one rule
 * for the daemon's reports (report.c) and the early decision report
 * (report-decision.c). libc only: lifeline-early links it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/report/report.h"
#include "common/fileio.h"
#include "common/macro.h"

char *report_hostname(const char *root)
{
	_cleanup_free_ char *p = NULL;
	char host[HOST_NAME_MAX + 1] = "", *t = NULL;

	/* the kernel's name, unless none was set yet (the initramfs) */
	if (gethostname(host, sizeof(host) - 1) >= 0 && *host && !streq(host, "(none)"))
		return strdup(host);
	p = path_under_root(root, "/etc/hostname");
	if (!p || read_full_file(p, 4096, &t, NULL) < 0)
		return NULL;
	t[strcspn(t, "\n")] = 0;
	if (!*t) {
		free(t);
		return NULL;
	}
	return t;
}
