/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operations that change lifeline's state on request: clear, quarantine,
 * bless, reset. One implementation for every caller: an administrator
 * (lifelinectl), a signed fleet command, lifelined (blessing) and the boot.
 * The caller says who it is (enum ops_actor): that is the "who" of the
 * decision history entry each successful operation appends.
 *
 * Each operation reads the configuration and the state record under root
 * itself, makes its change, saves the record and records the decision.
 * Failures are logged once with their context (the file, the cause), so a
 * caller only maps the result to its own words (an exit code, a report).
 *
 * Returns 0, or a negative errno:
 *   -EINVAL   nothing to act on (quarantine without a component)
 *   -ESRCH    a named component is not configured; res->unknown names it,
 *             nothing was changed and nothing recorded
 *   STATE_E_* the state record is unreadable (res->record_error says the
 *             same); nothing was changed
 *   -EIO      clear: the quarantine was ended and recorded, but
 *             res->not_restored files could not be put back (a second
 *             clear retries)
 *   other     the store or a file under /var/lib/lifeline could not be
 *             read or written
 */
#pragma once

#include <stdbool.h>

enum ops_actor {
	OPS_ACTOR_ADMIN,   /* an administrator with lifelinectl */
	OPS_ACTOR_COMMAND, /* a signed fleet command */
	OPS_ACTOR_DAEMON,  /* lifelined */
	OPS_ACTOR_BOOT,    /* lifeline-early */
	_OPS_ACTOR_MAX,
};

/* What an operation found, for the caller's words. Every field is set by
 * every operation (zero when it does not apply). */
struct ops_result {
	int record_error;      /* the record's load error (STATE_E_*) when it was
	                        * unreadable, else 0; clear replaces such a record */
	const char *unknown;   /* -ESRCH: the id (from ids) no component has */
	unsigned left;         /* clear: components still quarantined after it */
	unsigned not_restored; /* clear: files that could not be put back */
	/* the state record after the operation (when it was saved) */
	unsigned boot_seq;
	unsigned level;
	int mode; /* enum state_mode */
};

/* The history's name of an actor (HISTORY_WHO_*). */
const char *ops_actor_to_string(enum ops_actor a);

/* Ends the quarantine of ids (NULL or empty: all of it): puts the files
 * back (after finishing a job a power cut interrupted), drops the ids
 * from the active list, rebuilds the record's blocked modules; when
 * nothing stays quarantined the next boot is a normal one. An unreadable
 * record does not stop a clear: a fresh, normal record replaces it. */
int ops_clear(const char *root, char **ids, enum ops_actor actor, struct ops_result *res);

/* Quarantines ids (at least one, each a configured component) by hand:
 * they join the active list at a new generation, their modules are
 * blocked from the next boot on, when their files move too. Safe mode is
 * not entered. */
int ops_quarantine(const char *root, char **ids, enum ops_actor actor, struct ops_result *res);

/* Marks this boot good: the failure counter starts over. reason (NULL: a
 * default) goes into the history. With OPS_ACTOR_DAEMON a missing record
 * is an error (-ENOENT): lifelined blesses only a boot lifeline-early
 * counted; the other actors start a new record. */
int ops_bless(const char *root, enum ops_actor actor, const char *reason, struct ops_result *res);

/* Starts a new state record (after a corrupt one). A record written by a
 * newer lifeline is kept (STATE_E_VERSION) unless force. */
int ops_reset(const char *root, enum ops_actor actor, bool force, struct ops_result *res);

struct runstate;
struct state_record;

/* Whether what was decided since this boot started needs a reboot to take
 * effect: the record (what the next boot applies) no longer matches what
 * this boot was started with (rs, the /run hand-off): another mode,
 * another quarantine generation (a quarantine decided since), other
 * module blocks (a component cleared). A boot lifeline-early did not
 * count (rs NULL, or mode "uncounted") tells nothing: false. *ret_why
 * (may be NULL) gets one sentence. (ops-pending.c) */
bool ops_reboot_required(const struct state_record *rec, const struct runstate *rs,
                         const char **ret_why);
