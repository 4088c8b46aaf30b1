/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key=value line codec (kv.h): the parser that walks the lines and the
 * writer that keeps a value on its line.
 */
#include <errno.h>
#include <string.h>

#include "common/kv.h"

int kv_parse(char *text, int (*f)(const char *key, char *value, void *userdata), void *userdata)
{
	char *line = text;

	while (line && *line) {
		char *nl = strchr(line, '\n'), *eq;
		int r;

		if (nl)
			*nl = 0;
		eq = strchr(line, '=');
		if (eq) {
			*eq = 0;
			r = f(line, eq + 1, userdata);
			if (r < 0)
				return r;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

int kv_append(FILE *f, const char *key, const char *value)
{
	fputs(key, f);
	fputc('=', f);
	for (const char *c = value ? value : ""; *c; c++)
		fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}
