/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /etc/lifeline/lifeline.conf (DESIGN.md "Interfaces"), and the INI line
 * parser it shares with components.d.
 *
 * Errors in the file are the user-facing message, so the loader logs them
 * itself (one line per problem, "FILE:LINE: [section] key: ..."); a bad
 * value keeps that key's default and the rest of the file still loads: the
 * early-boot program carries on with what was good.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_store {
	CONFIG_STORE_AUTO,
	CONFIG_STORE_EFI,
	CONFIG_STORE_FILE,
	_CONFIG_STORE_MAX,
};

struct lifeline_config {
	/* [boot] */
	unsigned threshold; /* consecutive failed boots before level 1; 1..1000, default 3 */
	unsigned
	    escalate_after;    /* further failed boots before each next level; 1..1000, default 2 */
	unsigned stable_after; /* seconds up and healthy before blessing; 0..86400, default 120 */
	unsigned
	    boot_watchdog; /* hardware watchdog seconds for a boot; 0 = off; 0..3600, default 600 */
	unsigned panic_reboot;    /* kernel.panic seconds; 0 = leave the kernel's setting; 0..3600,
	                             default 10 */
	enum config_store store;  /* default auto */
	bool count_clean_reboots; /* default true */
	char *state_file;         /* file store path (absolute); NULL = find the partition */
	/* watchdog drivers the initramfs hooks put in the image: NULL = "auto"
	 * (this machine's), { "none" }, or module names */
	char **initramfs_watchdog;

	/* [safe-mode] */
	char **keep_units;           /* default { "ssh.service" } */
	char **allowed_failed_units; /* may be failed when blessing; default empty */

	/* [report] NULL = not set */
	char *report_url;     /* http:// or https://; NULL: journal + metrics only */
	char *report_ca_file; /* absolute paths */
	char *report_client_cert;
	char *report_client_key;
	unsigned report_heartbeat; /* seconds; 1..604800, default 3600 */
	uint64_t report_spool_max; /* bytes; 0..1G, default 1M */

	/* [commands] */
	char *commands_url;              /* NULL = no fleet commands */
	char *commands_public_key;       /* default /etc/lifeline/fleet.pub; NULL: none set */
	unsigned commands_poll_interval; /* seconds; 1..604800, default 300 */

	/* [quarantine] */
	uint64_t quarantine_cache_max; /* bytes of last-good content copies; 0..64G, default 16M */
};

/* Fills c with the defaults. c is overwritten, not freed: call it once on
 * a fresh struct, and config_done() when finished. (Only allocation is the
 * keep_units default; on ENOMEM that list stays empty.) */
void config_init_defaults(struct lifeline_config *c);

/* Reads <root>/etc/lifeline/lifeline.conf (root NULL or "/" = the real
 * root) into c, which config_init_defaults() (or a previous load) set up:
 * the keys present in the file replace those values.
 * Returns 0 when the file was clean or is absent (defaults stay);
 * -EINVAL when it had bad values or syntax errors (each logged; every good
 * key was still applied, each bad one kept its previous value);
 * another -errno when it could not be read at all (logged; c unchanged).
 * -ENOMEM may leave c partly loaded but always valid for config_done(). */
int config_load(const char *root, struct lifeline_config *c);
int config_load_file(const char *path, struct lifeline_config *c);

/* Frees what c owns and resets it to zeros. Accepts NULL. */
void config_done(struct lifeline_config *c);

const char *config_store_to_string(enum config_store s);
/* Returns the store or -EINVAL. */
int config_store_from_string(const char *s);

/* Value helpers, also for the components.d parser. */
/* yes/no, true/false, on/off, 1/0 (case-insensitive): 1, 0 or -EINVAL. */
int config_parse_boolean(const char *s);
/* Decimal digits with an optional K, M, G or T suffix (powers of 1024,
 * optionally followed by "B" or "iB"): 0, -EINVAL or -ERANGE. */
int config_parse_size(const char *s, uint64_t *ret);

/*
 * The INI syntax both files use (the inih format of DESIGN.md, parsed
 * here without inih's line and name limits; see config.c): "[section]"
 * lines, "key = value" lines, whole-line comments starting with ';' or
 * '#', inline comments starting with ';' or '#' after whitespace, an
 * optional UTF-8 BOM, CRLF or LF line ends. An indented line that is not
 * itself "key = value" continues the previous key's value
 * (continuation = true), which lists use to span several lines.
 */
struct config_ini_item {
	const char *file;
	unsigned line;
	const char *section; /* NULL for keys before the first section */
	const char *key;     /* NULL: this item is the section header itself */
	const char *value;   /* NULL for a section header, and for a continuation
	                      * line that could not be read (over-long, not
	                      * UTF-8; already logged): key's value is not whole */
	bool continuation;
};

/* Return 0 when the item was fine, -ENOMEM to abort the parse, any other
 * negative errno after logging a problem with the item (the parse goes
 * on). */
typedef int (*config_ini_handler_t)(const struct config_ini_item *item, void *userdata);

/* Longest line accepted (bytes, without the newline). */
#define CONFIG_LINE_MAX 4096
/* Largest file read. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* Parses text (size bytes, which may contain stray NULs). Syntax errors,
 * over-long lines and lines that are not UTF-8 are logged as
 * "FILE:LINE: ..." and counted in *ret_syntax_errors (the line is skipped;
 * keys after a broken section header are skipped up to the next header).
 * Returns 0, or -ENOMEM (also when the handler returned it). */
int config_parse_ini(const char *file, const char *text, size_t size, config_ini_handler_t handler,
                     void *userdata, unsigned *ret_syntax_errors);

/* Logs "FILE:LINE: [section] key: <message>" at error level for an item. */
void config_log_item_error(const struct config_ini_item *item, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct store;

/* Open the state store the configuration asks for ([boot] store and
 * state_file): the one place that maps config_store to efi/'s store_pref.
 * Arguments and results as store_open(). */
int config_open_store(const struct lifeline_config *c, struct store **ret, char **ret_reason);
