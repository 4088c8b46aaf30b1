/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The name rules of the configuration: component ids, kernel module names
 * (and their '*' / '?' patterns), systemd unit names, component globs.
 * lifeline.conf and components.d both check their values with these.
 */
#include <fnmatch.h>
#include <limits.h>
#include <string.h>

#include "agent/conf/names.h"
#include "common/macro.h"

/* ---------------------------------------------------------------------- */
/* Names */

static bool char_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool component_id_is_valid(const char *id)
{
	size_t n = strlen(id);

	/* The id names quarantine directories and manifests: "." and ".."
	 * would name something else. */
	if (n == 0 || n > COMPONENT_ID_MAX || streq(id, ".") || streq(id, ".."))
		return false;
	for (const char *p = id; *p; p++)
		if (!char_is_alnum(*p) && !strchr("_.-", *p))
			return false;
	return true;
}

bool module_name_is_valid(const char *name, bool allow_glob)
{
	size_t n = strlen(name);

	if (n == 0 || n > MODULE_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!char_is_alnum(*p) && *p != '_' && *p != '-' &&
		    !(allow_glob && (*p == '*' || *p == '?')))
			return false;
	return true;
}

char *module_name_normalize(char *name)
{
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	return name;
}

bool module_name_match(const char *pattern, const char *name)
{
	char p[MODULE_NAME_MAX + 1], n[MODULE_NAME_MAX + 1];

	if (strlen(pattern) > MODULE_NAME_MAX || strlen(name) > MODULE_NAME_MAX)
		return false;
	module_name_normalize(memcpy(p, pattern, strlen(pattern) + 1));
	module_name_normalize(memcpy(n, name, strlen(name) + 1));
	return fnmatch(p, n, 0) == 0;
}

bool unit_name_is_valid(const char *name)
{
	/* systemd.unit(5) unit types. */
	static const char *const suffixes[] = {
	    ".service",   ".socket", ".target", ".timer", ".path",   ".mount",
	    ".automount", ".swap",   ".slice",  ".scope", ".device",
	};
	size_t n = strlen(name);

	if (n == 0 || n > UNIT_NAME_MAX || name[0] == '@' || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if (!char_is_alnum(*p) && !strchr(":_.\\@-", *p))
			return false;
	if (strchr(name, '@') != strrchr(name, '@'))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		size_t k = strlen(suffixes[i]);

		if (n > k && streq(name + n - k, suffixes[i]))
			return true;
	}
	return false;
}

bool name_has_glob_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	return false;
}

bool component_glob_is_valid(const char *glob)
{
	bool first = true;

	if (glob[0] != '/' || strlen(glob) >= PATH_MAX)
		return false;
	for (const char *p = glob; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	for (const char *c = glob; *c;) {
		size_t n;

		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (n == 0)
			break;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		/* "/ *" or "/ * /bin" would reach into every top-level
		 * directory: a quarantine must never sweep the whole root. */
		if (first && name_has_glob_chars(c, n))
			return false;
		first = false;
		c += n;
	}
	return !first;
}
