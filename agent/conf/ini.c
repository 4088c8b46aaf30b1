/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The INI lexer lifeline.conf and the components.d drop-ins share, and
 * the value helpers (booleans, sizes) both use. It knows no key.
 *
 * Why not inih itself: Debian 12's inih 55 cuts every
 * line at 200 bytes and reports the rest as an error on a phantom line,
 * keeps only the first 49 bytes of a section name (MAX_SECTION 50 in
 * ini.c, so two long component ids could collide silently), returns only
 * the first error's line, and calls the handler without the line number
 * unless built with INI_HANDLER_LINENO, which the packaged library is not.
 * Every message here has to name its file and line, so the few lines of
 * INI syntax are parsed here, in inih's dialect (sections, "key = value",
 * ';' and '#' comments, indented continuation lines), with no length
 * limit below CONFIG_LINE_MAX and every over-long or non-UTF-8 line
 * reported instead of misparsed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/conf/ini.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/utf8.h"

#define WHITESPACE " \t\r\n\v\f"

/* ---------------------------------------------------------------------- */
/* INI lines */

/* RFC 3629 (common/utf8.h): no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static bool utf8_is_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_sequence_len(s + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

static char *strip(char *s)
{
	size_t n;

	s += strspn(s, WHITESPACE);
	n = strlen(s);
	while (n > 0 && strchr(WHITESPACE, s[n - 1]))
		s[--n] = 0;
	return s;
}

/* Cuts an inline comment: ';' or '#' at the start or after whitespace. */
static void strip_inline_comment(char *s)
{
	for (char *p = s; *p; p++)
		if ((*p == ';' || *p == '#') && (p == s || strchr(WHITESPACE, p[-1]))) {
			*p = 0;
			return;
		}
}

static bool ini_key_is_valid(const char *k, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isascii(k[i]) || !(isalnum(k[i]) || strchr("_.-", k[i])))
			return false;
	return true;
}

void config_log_item_error(const struct config_ini_item *item, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (item->section && item->key)
		log_error("%s:%u: [%s] %s: %s", item->file, item->line, item->section, item->key,
		          msg);
	else if (item->section)
		log_error("%s:%u: [%s]: %s", item->file, item->line, item->section, msg);
	else if (item->key)
		log_error("%s:%u: %s: %s", item->file, item->line, item->key, msg);
	else
		log_error("%s:%u: %s", item->file, item->line, msg);
}

struct ini_state {
	const char *file;
	config_ini_handler_t handler;
	void *userdata;
	unsigned errors;
	char *section;       /* current section, NULL before the first one */
	bool section_broken; /* header was bad: skip keys up to the next one */
	char *key;           /* last key line in this section, for continuations */
	bool skip_indented;  /* the last key-ish line was bad: its continuations go too */
};

_printf_(3, 4) static void ini_syntax_error(struct ini_state *st, unsigned line, const char *fmt,
                                            ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s:%u: %s", st->file, line, msg);
	st->errors++;
}

static int ini_call(struct ini_state *st, unsigned line, const char *key, const char *value,
                    bool continuation)
{
	struct config_ini_item item = {
	    .file = st->file,
	    .line = line,
	    .section = st->section,
	    .key = key,
	    .value = value,
	    .continuation = continuation,
	};
	int r = st->handler(&item, st->userdata);

	return r == -ENOMEM ? r : 0;
}

static int ini_section_line(struct ini_state *st, unsigned line, char *s)
{
	char *close = strchr(s, ']');
	char *name, *rest;

	free(st->section);
	st->section = NULL;
	free(st->key);
	st->key = NULL;
	st->section_broken = true;
	st->skip_indented = true;

	if (!close) {
		ini_syntax_error(st, line, "section header without ']'");
		return 0;
	}
	*close = 0;
	rest = strip(close + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		ini_syntax_error(st, line, "unexpected text after the section header");
		return 0;
	}
	name = strip(s + 1);
	if (!*name) {
		ini_syntax_error(st, line, "empty section name");
		return 0;
	}
	st->section = strdup(name);
	if (!st->section)
		return -ENOMEM;
	st->section_broken = false;
	st->skip_indented = false;
	return ini_call(st, line, NULL, NULL, false);
}

static int ini_line(struct ini_state *st, unsigned line, char *raw)
{
	char *s = strip(raw);
	bool indented = s != raw;
	char *eq;

	if (!*s || *s == ';' || *s == '#')
		return 0;
	if (*s == '[')
		return ini_section_line(st, line, s);

	eq = strchr(s, '=');
	if (eq) {
		size_t klen = (size_t)(eq - s);

		while (klen > 0 && strchr(WHITESPACE, s[klen - 1]))
			klen--;
		if (ini_key_is_valid(s, klen)) {
			char *value = eq + 1;

			s[klen] = 0;
			strip_inline_comment(value);
			value = strip(value);
			free(st->key);
			st->key = NULL;
			/* Under a broken header the key is skipped, and so are
			 * its continuation lines. */
			st->skip_indented = st->section_broken;
			if (st->section_broken)
				return 0;
			st->key = strdup(s);
			if (!st->key)
				return -ENOMEM;
			return ini_call(st, line, st->key, value, false);
		}
	}

	if (indented && st->skip_indented)
		return 0;
	if (indented && st->key) {
		strip_inline_comment(s);
		s = strip(s);
		if (!*s)
			return 0;
		return ini_call(st, line, st->key, s, true);
	}

	free(st->key);
	st->key = NULL;
	st->skip_indented = true;
	if (eq)
		ini_syntax_error(st, line,
		                 "invalid key name before '=' (letters, digits, '_', '.', '-')");
	else
		ini_syntax_error(st, line, "expected \"[section]\", \"key = value\" or a comment");
	return 0;
}

int config_parse_ini(const char *file, const char *text, size_t size, config_ini_handler_t handler,
                     void *userdata, unsigned *ret_syntax_errors)
{
	struct ini_state st = {
	    .file = file,
	    .handler = handler,
	    .userdata = userdata,
	};
	_cleanup_free_ char *buf = malloc(CONFIG_LINE_MAX + 1);
	const char *p = text, *end = text + size;
	unsigned line = 0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (size >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *next = nl ? nl + 1 : end;

		line++;
		if (len > 0 && p[len - 1] == '\r')
			len--;

		if (len > CONFIG_LINE_MAX || memchr(p, 0, len) || !utf8_is_valid(p, len)) {
			if (len > CONFIG_LINE_MAX)
				ini_syntax_error(
				    &st, line,
				    "line is too long (%zu bytes, at most %d), ignoring it", len,
				    CONFIG_LINE_MAX);
			else if (memchr(p, 0, len))
				ini_syntax_error(&st, line,
				                 "line contains a NUL byte, ignoring it");
			else
				ini_syntax_error(&st, line, "line is not valid UTF-8, ignoring it");
			/* An unreadable indented line may have been part of the
			 * last key's list: tell the handler that value is not
			 * whole. */
			if (len > 0 && (p[0] == ' ' || p[0] == '\t') && st.key &&
			    !st.skip_indented) {
				r = ini_call(&st, line, st.key, NULL, true);
				if (r < 0)
					break;
			}
			st.skip_indented = true;
		} else {
			memcpy(buf, p, len);
			buf[len] = 0;
			r = ini_line(&st, line, buf);
			if (r < 0)
				break;
		}
		p = next;
	}

	free(st.section);
	free(st.key);
	if (r < 0)
		return r;
	if (ret_syntax_errors)
		*ret_syntax_errors = st.errors;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Values */

int ini_parse_u64(const char *s, uint64_t *ret, const char **ret_end)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	*ret_end = p;
	return 0;
}

int config_parse_boolean(const char *s)
{
	static const char *const yes[] = {"yes", "true", "on", "1", "y"};
	static const char *const no[] = {"no", "false", "off", "0", "n"};

	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	return -EINVAL;
}

int config_parse_size(const char *s, uint64_t *ret)
{
	uint64_t v, mult = 1;
	const char *end;
	int r;

	r = ini_parse_u64(s, &v, &end);
	if (r < 0)
		return r;
	switch (*end) {
	case 'K':
	case 'k':
		mult = UINT64_C(1) << 10;
		break;
	case 'M':
	case 'm':
		mult = UINT64_C(1) << 20;
		break;
	case 'G':
	case 'g':
		mult = UINT64_C(1) << 30;
		break;
	case 'T':
	case 't':
		mult = UINT64_C(1) << 40;
		break;
	case 0:
		break;
	default:
		return -EINVAL;
	}
	if (mult > 1) {
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}
