/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /etc/lifeline/lifeline.conf: its keys, their
 * defaults and the loader. The INI syntax is ini.h's.
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

#include "agent/conf/ini.h"

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
	unsigned max_level;    /* the highest quarantine level escalation may reach; 1..3,
	                        * default 3 (give-up follows it); config only, the state
	                        * record cannot raise it */
	unsigned stable_after; /* seconds up and healthy before blessing; 0..86400, default 120 */
	unsigned
	    boot_watchdog; /* hardware watchdog seconds for a boot; 0 = off; 0..3600, default 600 */
	unsigned panic_reboot;    /* kernel.panic seconds; 0 = leave the kernel's setting; 0..3600,
	                             default 10 */
	enum config_store store;  /* default auto */
	bool count_clean_reboots; /* default true */
	bool repeat_crash;        /* repeat-crash fast path: level 1 after two identical third-party
	                           * panics in a row, before threshold; default true */
	char *state_file;         /* file store path (absolute); NULL = find the partition */
	/* watchdog drivers the initramfs hooks put in the image: NULL = "auto"
	 * (this machine's), { "none" }, or module names */
	char **initramfs_watchdog;

	/* [safe-mode] */
	char **keep_units;           /* default { "ssh.service" } */
	char **allowed_failed_units; /* may be failed when blessing; default empty */

	/* [report] NULL = not set */
	char *report_url;       /* https://, or http:// to a loopback host (a collector on this
	                         * machine) or with report_allow_http; NULL: journal + metrics
	                         * only */
	bool report_allow_http; /* [report] allow_http: plain http:// to another host, for test
	                         * rigs only (reports then travel unencrypted); default no */
	char *report_ca_file;   /* absolute paths */
	char *report_client_cert;
	char *report_client_key;
	unsigned report_heartbeat; /* seconds; 1..604800, default 3600 */
	uint64_t report_spool_max; /* bytes; 0..1G, default 1M */
	char *report_metrics_dir;  /* textfile directory; NULL: METRICS_DIR */

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

/* Whether url's host is this machine (localhost, 127.x.y.z, [::1]). */
bool config_url_is_loopback(const char *url);

/* Frees what c owns and resets it to zeros. Accepts NULL. */
void config_done(struct lifeline_config *c);

const char *config_store_to_string(enum config_store s);
/* Returns the store or -EINVAL. */
int config_store_from_string(const char *s);

struct store;

/* Open the state store the configuration asks for ([boot] store and
 * state_file): the one place that maps config_store to efi/'s store_pref.
 * Arguments and results as store_open(). */
int config_open_store(const struct lifeline_config *c, struct store **ret, char **ret_reason);
