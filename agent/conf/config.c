/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifeline.conf loader and the INI line parser shared with components.d.
 *
 * Why not inih itself: Debian's inih 55 (PLATFORM-NOTES.md) cuts every
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
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

#define WHITESPACE " \t\r\n\v\f"
/* How much of a bad value an error message quotes. */
#define VALUE_SHOWN 80

/* ---------------------------------------------------------------------- */
/* INI lines */

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_is_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t need;
		unsigned char lo = 0x80, hi = 0xBF;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else
			return false;
		if (n - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		i += need + 1;
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

		if (len > CONFIG_LINE_MAX || memchr(p, 0, len) ||
		    !utf8_is_valid((const unsigned char *)p, len)) {
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

static int parse_u64(const char *s, uint64_t *ret, const char **ret_end)
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

	r = parse_u64(s, &v, &end);
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

static const char *const store_names[_CONFIG_STORE_MAX] = {
    [CONFIG_STORE_AUTO] = "auto",
    [CONFIG_STORE_EFI] = "efi",
    [CONFIG_STORE_FILE] = "file",
};

const char *config_store_to_string(enum config_store s)
{
	return (unsigned)s < _CONFIG_STORE_MAX ? store_names[s] : NULL;
}

int config_store_from_string(const char *s)
{
	for (int i = 0; i < _CONFIG_STORE_MAX; i++)
		if (streq(s, store_names[i]))
			return i;
	return -EINVAL;
}

/* ---------------------------------------------------------------------- */
/* The table */

struct config_item;
typedef int (*config_parser_t)(const struct config_item *ci, const struct config_ini_item *it,
                               void *field);

struct config_item {
	const char *section;
	const char *key;
	config_parser_t parse;
	size_t offset;
	uint64_t min, max;
	bool list; /* takes continuation lines */
};

static void format_size(char *buf, size_t n, uint64_t v)
{
	static const char suffix[] = "KMGT";

	for (int i = 4; i >= 1; i--) {
		uint64_t unit = UINT64_C(1) << (10 * i);

		if (v >= unit && v % unit == 0) {
			snprintf(buf, n, "%" PRIu64 "%c", v / unit, suffix[i - 1]);
			return;
		}
	}
	snprintf(buf, n, "%" PRIu64, v);
}

static int parse_unsigned(const struct config_item *ci, const struct config_ini_item *it,
                          void *field)
{
	uint64_t v;
	const char *end;
	int r;

	r = parse_u64(it->value, &v, &end);
	if (r == 0 && *end)
		r = -EINVAL;
	if (r == -EINVAL) {
		config_log_item_error(it, "\"%.*s\" is not a number (%" PRIu64 "..%" PRIu64 ")",
		                      VALUE_SHOWN, it->value, ci->min, ci->max);
		return r;
	}
	if (r < 0 || v < ci->min || v > ci->max) {
		config_log_item_error(it, "\"%.*s\" is out of range (%" PRIu64 "..%" PRIu64 ")",
		                      VALUE_SHOWN, it->value, ci->min, ci->max);
		return -ERANGE;
	}
	*(unsigned *)field = (unsigned)v;
	return 0;
}

static int parse_size(const struct config_item *ci, const struct config_ini_item *it, void *field)
{
	char lo[32], hi[32];
	uint64_t v;
	int r;

	format_size(lo, sizeof(lo), ci->min);
	format_size(hi, sizeof(hi), ci->max);
	r = config_parse_size(it->value, &v);
	if (r == -EINVAL) {
		config_log_item_error(
		    it,
		    "\"%.*s\" is not a size (a number with an optional K, M or G suffix; %s..%s)",
		    VALUE_SHOWN, it->value, lo, hi);
		return r;
	}
	if (r < 0 || v < ci->min || v > ci->max) {
		config_log_item_error(it, "\"%.*s\" is out of range (%s..%s)", VALUE_SHOWN,
		                      it->value, lo, hi);
		return -ERANGE;
	}
	*(uint64_t *)field = v;
	return 0;
}

static int parse_bool(const struct config_item *ci _unused_, const struct config_ini_item *it,
                      void *field)
{
	int r = config_parse_boolean(it->value);

	if (r < 0) {
		config_log_item_error(it, "\"%.*s\" is not a boolean (yes or no)", VALUE_SHOWN,
		                      it->value);
		return r;
	}
	*(bool *)field = r;
	return 0;
}

static int parse_store(const struct config_item *ci _unused_, const struct config_ini_item *it,
                       void *field)
{
	int r = config_store_from_string(it->value);

	if (r < 0) {
		config_log_item_error(it, "\"%.*s\" is not one of auto, efi, file", VALUE_SHOWN,
		                      it->value);
		return r;
	}
	*(enum config_store *)field = (enum config_store)r;
	return 0;
}

static int set_string(char **field, const char *value)
{
	char *s = NULL;

	if (*value) {
		s = strdup(value);
		if (!s)
			return -ENOMEM;
	}
	free(*field);
	*field = s;
	return 0;
}

static bool path_is_clean_absolute(const char *p)
{
	if (p[0] != '/' || strlen(p) >= 4096 || strpbrk(p, WHITESPACE))
		return false;
	for (const char *c = p; *c;) {
		size_t n;

		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return false;
		c += n;
	}
	return true;
}

/* Empty = not set (NULL). */
static int parse_path(const struct config_item *ci _unused_, const struct config_ini_item *it,
                      void *field)
{
	if (*it->value && !path_is_clean_absolute(it->value)) {
		config_log_item_error(it, "\"%.*s\" is not an absolute path without \"..\"",
		                      VALUE_SHOWN, it->value);
		return -EINVAL;
	}
	return set_string(field, it->value);
}

/* Empty = not set. http:// is accepted for test rigs (DESIGN.md). */
static int parse_url(const struct config_item *ci _unused_, const struct config_ini_item *it,
                     void *field)
{
	const char *v = it->value, *host = NULL;

	if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	if (*v && (!host || !*host || *host == '/' || strpbrk(v, WHITESPACE))) {
		config_log_item_error(it, "\"%.*s\" is not an https:// or http:// URL", VALUE_SHOWN,
		                      v);
		return -EINVAL;
	}
	return set_string(field, v);
}

/* Unit lists: whitespace-separated, every name valid, or nothing is taken. */
static int parse_units(const struct config_item *ci _unused_, const struct config_ini_item *it,
                       void *field)
{
	_cleanup_strv_free_ char **words = NULL;
	char ***list = field;
	int r;

	r = strv_split_ws(it->value, &words);
	if (r < 0)
		return r;
	STRV_FOREACH (w, words)
		if (!unit_name_is_valid(*w)) {
			config_log_item_error(
			    it, "\"%.*s\" is not a unit name (NAME.service, .socket, .target, ...)",
			    VALUE_SHOWN, *w);
			return -EINVAL;
		}

	if (!it->continuation)
		*list = strv_free(*list);
	STRV_FOREACH (w, words)
		if (!strv_contains(*list, *w)) {
			r = strv_extend(list, *w);
			if (r < 0)
				return r;
		}
	if (!*list) {
		/* "keep_units =" sets an empty list, not "unset". */
		*list = calloc(1, sizeof(char *));
		if (!*list)
			return -ENOMEM;
	}
	return 0;
}

/* initramfs_watchdog: "auto" (NULL), "none", or kernel module names. */
static int parse_watchdog_modules(const struct config_item *ci _unused_,
                                  const struct config_ini_item *it, void *field)
{
	_cleanup_strv_free_ char **words = NULL;
	char ***list = field;
	int r;

	r = strv_split_ws(it->value, &words);
	if (r < 0)
		return r;
	STRV_FOREACH (w, words)
		if ((streq(*w, "auto") || streq(*w, "none")) ? strv_length(words) != 1
		                                             : !module_name_is_valid(*w, false)) {
			config_log_item_error(it, "\"%.*s\": expected auto, none or module names",
			                      VALUE_SHOWN, it->value);
			return -EINVAL;
		}
	*list = strv_free(*list);
	if (words && words[0] && !streq(words[0], "auto"))
		*list = TAKE_PTR(words);
	return 0;
}

#define ITEM(sec, k, fn, field, lo, hi, islist)                                     \
	{                                                                           \
		sec, k, fn, offsetof(struct lifeline_config, field), lo, hi, islist \
	}

static const struct config_item config_items[] = {
    ITEM("boot", "threshold", parse_unsigned, threshold, 1, 1000, false),
    ITEM("boot", "escalate_after", parse_unsigned, escalate_after, 1, 1000, false),
    ITEM("boot", "stable_after", parse_unsigned, stable_after, 0, 86400, false),
    ITEM("boot", "boot_watchdog", parse_unsigned, boot_watchdog, 0, 3600, false),
    ITEM("boot", "panic_reboot", parse_unsigned, panic_reboot, 0, 3600, false),
    ITEM("boot", "store", parse_store, store, 0, 0, false),
    ITEM("boot", "count_clean_reboots", parse_bool, count_clean_reboots, 0, 0, false),
    ITEM("boot", "state_file", parse_path, state_file, 0, 0, false),
    ITEM("boot", "initramfs_watchdog", parse_watchdog_modules, initramfs_watchdog, 0, 0, false),
    ITEM("safe-mode", "keep_units", parse_units, keep_units, 0, 0, true),
    ITEM("safe-mode", "allowed_failed_units", parse_units, allowed_failed_units, 0, 0, true),
    ITEM("report", "url", parse_url, report_url, 0, 0, false),
    ITEM("report", "ca_file", parse_path, report_ca_file, 0, 0, false),
    ITEM("report", "client_cert", parse_path, report_client_cert, 0, 0, false),
    ITEM("report", "client_key", parse_path, report_client_key, 0, 0, false),
    ITEM("report", "heartbeat", parse_unsigned, report_heartbeat, 1, 604800, false),
    ITEM("report", "spool_max", parse_size, report_spool_max, 0, UINT64_C(1) << 30, false),
    ITEM("commands", "url", parse_url, commands_url, 0, 0, false),
    ITEM("commands", "public_key", parse_path, commands_public_key, 0, 0, false),
    ITEM("commands", "poll_interval", parse_unsigned, commands_poll_interval, 1, 604800, false),
    ITEM("quarantine", "cache_max", parse_size, quarantine_cache_max, 0, UINT64_C(64) << 30, false),
};

static bool section_is_known(const char *section)
{
	for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
		if (streq(config_items[i].section, section))
			return true;
	return false;
}

static const struct config_item *item_find(const char *section, const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
		if (streq(config_items[i].section, section) && streq(config_items[i].key, key))
			return &config_items[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Loading */

struct load_ctx {
	struct lifeline_config *config;
	unsigned errors;
	bool section_known;
	/* the last key line, for its continuation lines */
	const struct config_item *item; /* NULL: unknown key, continuations ignored */
	bool item_failed;               /* a line of it was bad: the value went back */
	char **list_before;             /* list value before this key, to go back to */
};

static void load_ctx_end_key(struct load_ctx *ctx)
{
	ctx->list_before = strv_free(ctx->list_before);
	ctx->item = NULL;
	ctx->item_failed = false;
}

static int load_handler(const struct config_ini_item *it, void *userdata)
{
	struct load_ctx *ctx = userdata;
	const struct config_item *ci;
	void *field;
	int r;

	if (!it->key) {
		load_ctx_end_key(ctx);
		ctx->section_known = section_is_known(it->section);
		if (!ctx->section_known)
			log_warning("%s:%u: unknown section [%s], ignoring it", it->file, it->line,
			            it->section);
		return 0;
	}

	if (it->continuation) {
		ci = ctx->item;
		if (!ci)
			return 0; /* continues an unknown key: already warned about */
		field = (char *)ctx->config + ci->offset;
		if (!it->value) {
			/* A line of this list could not be read (and was
			 * reported): the key keeps its previous value. */
			if (ci->list && !ctx->item_failed) {
				strv_free(*(char ***)field);
				*(char ***)field = TAKE_PTR(ctx->list_before);
			}
			ctx->item_failed = true;
			return 0;
		}
		if (!ci->list) {
			config_log_item_error(it, "continuation lines are only allowed for lists");
			ctx->errors++;
			return -EINVAL;
		}
		if (ctx->item_failed) {
			/* Still report this line's own problems; apply nothing. */
			_cleanup_strv_free_ char **scratch = NULL;

			r = ci->parse(ci, it, &scratch);
			if (r < 0 && r != -ENOMEM)
				ctx->errors++;
			return r;
		}
		r = ci->parse(ci, it, field);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			ctx->errors++;
			/* The whole key goes back to its previous value. */
			strv_free(*(char ***)field);
			*(char ***)field = TAKE_PTR(ctx->list_before);
			ctx->item_failed = true;
		}
		return r;
	}

	load_ctx_end_key(ctx);
	if (!it->section) {
		log_warning("%s:%u: %s: key outside of any section, ignoring it", it->file,
		            it->line, it->key);
		return 0;
	}
	if (!ctx->section_known)
		return 0; /* warned about at the header */
	ci = item_find(it->section, it->key);
	if (!ci) {
		log_warning("%s:%u: [%s] %s: unknown key, ignoring it", it->file, it->line,
		            it->section, it->key);
		return 0;
	}
	field = (char *)ctx->config + ci->offset;
	ctx->item = ci;
	if (ci->list) {
		ctx->list_before = strv_copy(*(char ***)field);
		if (!ctx->list_before)
			return -ENOMEM;
	}
	r = ci->parse(ci, it, field);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		ctx->errors++;
		ctx->item_failed = true;
	}
	return r;
}

void config_init_defaults(struct lifeline_config *c)
{
	*c = (struct lifeline_config){
	    .threshold = 3,
	    .escalate_after = 2,
	    .stable_after = 120,
	    .boot_watchdog = 600,
	    .panic_reboot = 10,
	    .store = CONFIG_STORE_AUTO,
	    .count_clean_reboots = true,
	    .report_heartbeat = 3600,
	    .report_spool_max = UINT64_C(1) << 20,
	    .commands_poll_interval = 300,
	    .quarantine_cache_max = UINT64_C(16) << 20,
	};
	if (strv_extend(&c->keep_units, "ssh.service") < 0)
		log_debug("Out of memory for the keep_units default");
	c->commands_public_key = strdup("/etc/lifeline/fleet.pub");
}

void config_done(struct lifeline_config *c)
{
	if (!c)
		return;
	free(c->state_file);
	strv_free(c->initramfs_watchdog);
	strv_free(c->keep_units);
	strv_free(c->allowed_failed_units);
	free(c->report_url);
	free(c->report_ca_file);
	free(c->report_client_cert);
	free(c->report_client_key);
	free(c->commands_url);
	free(c->commands_public_key);
	*c = (struct lifeline_config){0};
}

int config_load_file(const char *path, struct lifeline_config *c)
{
	_cleanup_free_ char *text = NULL;
	struct load_ctx ctx = {.config = c};
	unsigned syntax_errors = 0;
	size_t size;
	int r;

	r = read_full_file(path, CONFIG_FILE_MAX, &text, &size);
	if (r == -ENOENT) {
		log_debug("%s does not exist, using the defaults", path);
		return 0;
	}
	if (r == -EFBIG)
		return log_error_errno(
		    r, "%s: larger than %d bytes, ignoring it and using the defaults", path,
		    CONFIG_FILE_MAX);
	if (r < 0)
		return log_error_errno(r, "Failed to read %s, using the defaults: %m", path);

	r = config_parse_ini(path, text, size, load_handler, &ctx, &syntax_errors);
	load_ctx_end_key(&ctx);
	if (r < 0)
		return log_error_errno(r, "Failed to parse %s: %m", path);
	if (ctx.errors + syntax_errors > 0) {
		log_debug("%s: %u problems; their keys keep the defaults", path,
		          ctx.errors + syntax_errors);
		return -EINVAL;
	}
	return 0;
}

int config_load(const char *root, struct lifeline_config *c)
{
	_cleanup_free_ char *path = path_under_root(root, "/etc/lifeline/lifeline.conf");

	if (!path)
		return -ENOMEM;
	return config_load_file(path, c);
}
