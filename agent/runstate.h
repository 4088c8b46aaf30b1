/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What one phase of the boot leaves for the next: /run/lifeline/state, a
 * small key=value file written by lifeline-early in the initramfs (where
 * /run is a tmpfs that is moved into the real root) and read by the
 * rootfs phase, the generator, lifelinectl and lifelined.
 *
 * And the durable list of quarantined components,
 * /var/lib/lifeline/quarantine/active: one "ID GENERATION LEVEL" line each.
 */
#pragma once

#include <stdbool.h>

#define RUNSTATE_DIR "/run/lifeline"
#define RUNSTATE_FILE "/run/lifeline/state"
#define RUNSTATE_MODE_FILE "/run/lifeline/mode"
#define QUARANTINE_ACTIVE_FILE "/var/lib/lifeline/quarantine/active"
#define LIFELINE_STATE_DIR "/var/lib/lifeline"

struct runstate {
	unsigned boot_seq;
	unsigned failures;
	unsigned level;
	unsigned generation;
	char *mode;	  /* normal | safe | given-up | uncounted */
	char *store;	  /* efi | file | none */
	char *action;	  /* none | escalate | give-up | error */
	char **quarantine; /* components decided in this boot */
	char *reason;
	char **evidence;
	char *error;	  /* why the boot is uncounted, if it is */
};

void runstate_init(struct runstate *s);
void runstate_done(struct runstate *s);

/* Write atomically to path (creating its directory). */
int runstate_write(const char *path, const struct runstate *s);
/* -ENOENT when absent. Unknown keys are ignored (newer writers). */
int runstate_read(const char *path, struct runstate *ret);

/* The durable active-quarantine list under root. */
struct quarantine_entry {
	char id[65];
	unsigned generation;
	unsigned level;
};

int quarantine_active_read(const char *root, struct quarantine_entry **ret, unsigned *ret_n);
int quarantine_active_write(const char *root, const struct quarantine_entry *e, unsigned n);

/* Append id to the in-memory list unless it is there already: 1 added,
 * 0 already listed, -EINVAL not a component id, -ENOMEM. */
int quarantine_active_add(struct quarantine_entry **list, unsigned *n, const char *id,
			  unsigned generation, unsigned level);
