/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one reader of /etc/machine-id (machine-id.h) for commands, reports
 * and the early decision report.
 */
#include <errno.h>
#include <string.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "agent/conf/machine-id.h"

bool machine_id_is_valid(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

int machine_id_read(const char *root, char ret[33])
{
	_cleanup_free_ char *path = path_under_root(root, "/etc/machine-id"), *text = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 64, &text, NULL);
	if (r < 0)
		return r;
	text[strcspn(text, "\n")] = 0;
	if (!machine_id_is_valid(text))
		return -EINVAL;
	memcpy(ret, text, 33);
	return 0;
}
