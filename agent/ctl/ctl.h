/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lifelinectl's commands, in the agent library so tests call them. */
#pragma once

#include <stdbool.h>

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
	/* who the decision history names (HISTORY_WHO_*); NULL: "lifelinectl"
	 * inside ctl_dispatch() except for apply-command, "signed-command"
	 * outside it (the agent applying a polled command) */
	const char *who;
};

int ctl_dispatch(const char *verb, const struct ctl_ctx *ctx);

int ctl_status(const struct ctl_ctx *ctx);
int ctl_components(const struct ctl_ctx *ctx);
int ctl_bless(const struct ctl_ctx *ctx);
int ctl_clear(const struct ctl_ctx *ctx);
int ctl_quarantine(const struct ctl_ctx *ctx);
int ctl_reset(const struct ctl_ctx *ctx);
int ctl_history(const struct ctl_ctx *ctx);
