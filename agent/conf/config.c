/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifeline.conf: the table of its keys, their parsers and defaults. The
 * INI syntax itself is ini.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/conf/config.h"
#include "agent/conf/names.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

#define WHITESPACE " \t\r\n\v\f"
/* How much of a bad value an error message quotes. */
#define VALUE_SHOWN 80

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

	r = ini_parse_u64(it->value, &v, &end);
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

/* Empty = not set. Syntax only: whether an http:// [report] url may be
 * used is decided once the whole file is read (check_report_url()). */
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
    ITEM("boot", "max_level", parse_unsigned, max_level, 1, 3, false),
    ITEM("boot", "stable_after", parse_unsigned, stable_after, 0, 86400, false),
    ITEM("boot", "boot_watchdog", parse_unsigned, boot_watchdog, 0, 3600, false),
    ITEM("boot", "panic_reboot", parse_unsigned, panic_reboot, 0, 3600, false),
    ITEM("boot", "store", parse_store, store, 0, 0, false),
    ITEM("boot", "count_clean_reboots", parse_bool, count_clean_reboots, 0, 0, false),
    ITEM("boot", "repeat_crash", parse_bool, repeat_crash, 0, 0, false),
    ITEM("boot", "state_file", parse_path, state_file, 0, 0, false),
    ITEM("boot", "initramfs_watchdog", parse_watchdog_modules, initramfs_watchdog, 0, 0, false),
    ITEM("safe-mode", "keep_units", parse_units, keep_units, 0, 0, true),
    ITEM("safe-mode", "allowed_failed_units", parse_units, allowed_failed_units, 0, 0, true),
    ITEM("report", "url", parse_url, report_url, 0, 0, false),
    ITEM("report", "allow_http", parse_bool, report_allow_http, 0, 0, false),
    ITEM("report", "ca_file", parse_path, report_ca_file, 0, 0, false),
    ITEM("report", "client_cert", parse_path, report_client_cert, 0, 0, false),
    ITEM("report", "client_key", parse_path, report_client_key, 0, 0, false),
    ITEM("report", "heartbeat", parse_unsigned, report_heartbeat, 1, 604800, false),
    ITEM("report", "spool_max", parse_size, report_spool_max, 0, UINT64_C(1) << 30, false),
    ITEM("report", "metrics_dir", parse_path, report_metrics_dir, 0, 0, false),
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
	unsigned report_url_line; /* where [report] url was last set */
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
	if (field == (void *)&ctx->config->report_url)
		ctx->report_url_line = it->line;
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
	    .max_level = 3,
	    .stable_after = 120,
	    .boot_watchdog = 600,
	    .panic_reboot = 10,
	    .store = CONFIG_STORE_AUTO,
	    .count_clean_reboots = true,
	    .repeat_crash = true,
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
	free(c->report_metrics_dir);
	free(c->commands_url);
	free(c->commands_public_key);
	*c = (struct lifeline_config){0};
}

bool config_url_is_loopback(const char *url)
{
	const char *h;
	size_t n;

	if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		h = url + 8;
	else
		return false;
	n = strcspn(h, "/?#");
	if (memchr(h, '@', n))
		return false; /* userinfo: keep it simple, not loopback */
	if (n >= 5 && strncmp(h, "[::1]", 5) == 0 && (n == 5 || h[5] == ':'))
		return true;
	n = strcspn(h, ":/?#");
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return true;
	if (n < 9 || strncmp(h, "127.", 4) != 0)
		return false;
	for (size_t i = 4; i < n; i++)
		if (!strchr("0123456789.", h[i]))
			return false;
	return true;
}

/* A report sent over plain http:// to another machine can be read and
 * forged on the way; the sender refuses it, so accepting it here meant
 * no report ever left, silently. Refused unless the host is this
 * machine or [report] allow_http = yes (test rigs). */
static int check_report_url(const char *path, struct load_ctx *ctx)
{
	struct lifeline_config *c = ctx->config;

	if (!c->report_url || strncmp(c->report_url, "http://", 7) != 0 || c->report_allow_http ||
	    config_url_is_loopback(c->report_url))
		return 0;
	log_error("%s:%u: [report] url: \"%.*s\" is plain http:// to another machine: reports "
	          "would travel unencrypted; use https://, or set \"allow_http = yes\" in "
	          "[report] (test rigs only); no reports are sent",
	          path, ctx->report_url_line, VALUE_SHOWN, c->report_url);
	free(c->report_url);
	c->report_url = NULL;
	ctx->errors++;
	return -EINVAL;
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
	(void)check_report_url(path, &ctx);
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
