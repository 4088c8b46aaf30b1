/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What one phase of the boot leaves for the next: /run/lifeline/state, a
 * small key=value file written by lifeline-early in the initramfs (where
 * /run is a tmpfs that is moved into the real root) and read by the
 * rootfs phase, the generator, lifelinectl and lifelined.
 *
 * And the durable list of quarantined components,
 * /var/lib/lifeline/quarantine/active: one "ID GENERATION LEVEL" line each
 * ("ID GENERATION LEVEL degrade" for a degraded component),
 * and of the modules level 3 blocks beyond the components' own,
 * /var/lib/lifeline/quarantine/modules: one module name a line. Both are
 * kept by the rootfs phase on the root, not in the state record, so a
 * decision made there needs no second variable write; every rootfs phase
 * writes /run/modprobe.d from them (boot.c).
 */
#pragma once

#include <stdbool.h>

#define RUNSTATE_DIR            "/run/lifeline"
#define RUNSTATE_FILE           "/run/lifeline/state"
#define RUNSTATE_MODE_FILE      "/run/lifeline/mode"
#define QUARANTINE_ACTIVE_FILE  "/var/lib/lifeline/quarantine/active"
#define QUARANTINE_MODULES_FILE "/var/lib/lifeline/quarantine/modules"
#define QUARANTINE_DECIDED_FILE "/var/lib/lifeline/quarantine/decided"
#define LIFELINE_STATE_DIR      "/var/lib/lifeline"

/* The mode and action as the code uses them; the file carries their
 * names (runstate_read() parses them at the file edge). */
enum runstate_mode {
	RUNSTATE_MODE_UNKNOWN, /* absent, or a name this version does not know */
	RUNSTATE_MODE_NORMAL,
	RUNSTATE_MODE_SAFE,
	RUNSTATE_MODE_GIVEN_UP,
	RUNSTATE_MODE_UNCOUNTED,
};

enum runstate_action {
	RUNSTATE_ACTION_NONE,
	RUNSTATE_ACTION_ESCALATE,
	RUNSTATE_ACTION_GIVE_UP,
	RUNSTATE_ACTION_OTHER, /* error, or a name this version does not know */
};

struct runstate {
	unsigned boot_seq;
	unsigned failures;
	unsigned level;
	unsigned generation;
	char *mode;        /* normal | safe | given-up | uncounted */
	char *store;       /* efi | file | none */
	char *action;      /* none | escalate | give-up | error */
	char **quarantine; /* components decided in this boot */
	/* of those, the ones the rootfs phase degrades rather than
	 * quarantines (docs/degrade.md); written by the rootfs phase */
	char **degrade;
	char **extra_modules; /* level 3: modules blocked beyond the components' own */
	char **blocked;       /* the state record's module list (what the initramfs blocked) */
	char *reason;
	char **evidence;
	/* What made the init phase escalate or give up (decide.h
	 * decide_trigger_to_string(): threshold | repeat-crash | max-level);
	 * NULL when it did neither, or an older writer. trigger_reason: the
	 * repeat-crash fast path's own sentence ("boots 2 and 3 both crashed
	 * in badsec_crash (module badsec); ..."), kept apart from reason,
	 * which a later pick on the root may rewrite. */
	char *trigger;
	char *trigger_reason;
	char *error; /* why the boot is uncounted, if it is */
	/* The initramfs image says lifeline is enabled (its BOOT_ENABLED_FLAG,
	 * written by the initramfs hooks from lifelined.service's enablement
	 * at build time): RUNSTATE_UNKNOWN when an older writer left it out.
	 * `lifelinectl check` compares it with systemctl is-enabled. */
	int image_enabled;
	unsigned watchdog; /* seconds the boot watchdog was armed with; 0: not armed */
	/* Why the init phase replaced a damaged or inconsistent state record
	 * with a fresh one (its bytes kept in RECORD_BAD_RUN_FILE); NULL when
	 * it did not. */
	char *record_replaced;
	/* parsed from mode and action by runstate_read() */
	enum runstate_mode mode_kind;
	enum runstate_action action_kind;
};

#define RUNSTATE_UNKNOWN (-1)

/* The bytes of a state record the init phase replaced, kept for
 * forensics in /run, then copied by the rootfs phase next to
 * RECORD_REPLACED_FILE as RECORD_BAD_FILE_FMT (the boot number). */
#define RECORD_BAD_RUN_FILE "/run/lifeline/record-bad.bin"
#define RECORD_BAD_FILE_FMT "/var/lib/lifeline/record-bad-boot-%u.bin"
/* Written by the rootfs phase when the record was replaced in this boot
 * (key=value lines: boot_seq, time, reason, bytes = the kept file);
 * stays until `lifelinectl reset` or the next replacement: status says
 * "the record was replaced" from it. */
#define RECORD_REPLACED_FILE "/var/lib/lifeline/record-replaced"
/* Written by lifeline-survived.service once the boot has been up
 * stable_after seconds: "boot_seq=N". */
#define RUNSTATE_SURVIVED_FILE "/run/lifeline/survived"
/* The active quarantine list as the rootfs phase left it (var-mount.h). */
#define RUNSTATE_ACTIVE_FILE "/run/lifeline/active"

void runstate_init(struct runstate *s);
void runstate_done(struct runstate *s);

/* Whether lifeline-early could not count the boot this runstate is from:
 * mode "uncounted", or an error recorded (a record write that failed). */
bool runstate_uncounted(const struct runstate *s);

/* Write atomically to path (creating its directory). */
int runstate_write(const char *path, const struct runstate *s);
/* -ENOENT when absent. Unknown keys are ignored (newer writers). */
int runstate_read(const char *path, struct runstate *ret);

/* The durable active-quarantine list under root. */
struct quarantine_entry {
	char id[65];
	unsigned generation;
	unsigned level;
	/* Degraded, not quarantined (docs/degrade.md): only its kernel half
	 * is off (modules blocked, kernel_units masked, kernel_content moved
	 * in this generation) and its degrade step is applied. The file
	 * carries it as a fourth word, "degrade"; a reader that knows only
	 * three words takes the entry for a whole quarantine, the safe
	 * side. */
	bool degraded;
};

int quarantine_active_read(const char *root, struct quarantine_entry **ret, unsigned *ret_n);
/* The same list from a file path (RUNSTATE_ACTIVE_FILE: the copy the
 * rootfs phase leaves in /run for the generator, which does not see a
 * separate /var). */
int quarantine_active_read_path(const char *path, struct quarantine_entry **ret, unsigned *ret_n);
int quarantine_active_write_path(const char *path, const struct quarantine_entry *e, unsigned n);
int quarantine_active_write(const char *root, const struct quarantine_entry *e, unsigned n);

/* The level-3 module list: names valid as module names only (a damaged
 * line is skipped); an empty list removes the file. */
int quarantine_modules_read(const char *root, char ***ret);
int quarantine_modules_write(const char *root, char **modules);

/* The quarantine generation whose decision the rootfs phase has made
 * durable on the root (active list and module list written): until it
 * reaches the record's generation, the record's module list still counts
 * for the real root (a power cut may have come first). 0 when absent. */
int quarantine_decided_read(const char *root, unsigned *ret);
int quarantine_decided_write(const char *root, unsigned generation);

/* Append id to the in-memory list unless it is there already: 1 added,
 * 0 already listed, -EINVAL not a component id, -ENOMEM. An id listed as
 * degraded under another generation is quarantined whole by this one
 * (docs/degrade.md: a later escalation, a rebuilt decision, a quarantine
 * asked for by name): it takes generation and level, and 1 is returned. */
int quarantine_active_add(struct quarantine_entry **list, unsigned *n, const char *id,
                          unsigned generation, unsigned level);
