/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl's verbs, in the programs library so tests call them: the
 * verb table (name, function, usage, one-line help, description), the
 * dispatcher, and each verb's function. The verbs that change state are
 * thin skins over agent/ops (ops.h): they map its -errno to an exit code.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "agent/ops/ops.h"

enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_STATE = 3, /* state record unreadable */
};

struct ctl_ctx {
	const char *root;
	bool json;
	bool all;
	char **args;
	int n_args;
	/* who the decision history names (HISTORY_WHO_*): ctl_dispatch()
	 * sets "lifelinectl"; NULL means a signed command (agent/command
	 * applying one through these functions) */
	const char *who;
};

struct ctl_verb {
	const char *name;
	int (*run)(const struct ctl_ctx *ctx);
	int max_args;
	const char *usage;       /* after "lifelinectl [OPTIONS] " */
	const char *help;        /* one line */
	const char *description; /* `lifelinectl VERB --help`; may be NULL */
};

/* The verb named name, or NULL. */
const struct ctl_verb *ctl_verb_find(const char *name);
/* The global help (every verb's usage and line), and one verb's help. */
void ctl_help(FILE *f);
void ctl_verb_help(const struct ctl_verb *v, FILE *f);

int ctl_dispatch(const char *verb, const struct ctl_ctx *ctx);

/* The exit code of an ops_*() result (ops.h): 0 ok, 2 an unknown
 * component or nothing named, 3 the state record unreadable, else 1. */
int ctl_exit_from_ops(int r, const struct ops_result *res);
/* The actor ctx->who names. */
enum ops_actor ctl_actor(const struct ctl_ctx *ctx);

int ctl_status(const struct ctl_ctx *ctx);
int ctl_components(const struct ctl_ctx *ctx);
int ctl_bless(const struct ctl_ctx *ctx);
int ctl_clear(const struct ctl_ctx *ctx);
int ctl_quarantine(const struct ctl_ctx *ctx);
int ctl_reset(const struct ctl_ctx *ctx);
int ctl_history(const struct ctl_ctx *ctx);
/* lifelinectl check [--json]: is everything lifeline needs in place
 * (ctl-check.c)? 0 yes, 1 a problem (each one named). */
int ctl_check(const struct ctl_ctx *ctx);
/* lifelinectl plan [--json]: what each level would quarantine here now
 * (ctl-plan.c); nothing is changed. */
int ctl_plan(const struct ctl_ctx *ctx);
/* lifelinectl report [--dry-run]: print the report (--dry-run), or emit it
 * and send the spool now. */
int ctl_report(const struct ctl_ctx *ctx);
