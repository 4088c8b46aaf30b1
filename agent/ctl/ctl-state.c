/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl bless, clear, quarantine, reset: the state operations of
 * agent/ops, with the command line's arguments and exit codes.
 */
#include <errno.h>
#include <stdlib.h>

#include "agent/ctl/ctl.h"
#include "agent/ops/ops.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* The verb's arguments as a NULL-terminated list (NULL when none). */
static int args_strv(const struct ctl_ctx *ctx, char ***ret)
{
	char **l = NULL;

	for (int i = 0; i < ctx->n_args; i++)
		if (strv_extend(&l, ctx->args[i]) < 0) {
			strv_free(l);
			log_error("Out of memory.");
			return -ENOMEM;
		}
	*ret = l;
	return 0;
}

int ctl_bless(const struct ctl_ctx *ctx)
{
	struct ops_result res;
	int r = ops_bless(ctx->root, ctl_actor(ctx), NULL, &res);

	return ctl_exit_from_ops(r, &res);
}

int ctl_clear(const struct ctl_ctx *ctx)
{
	_cleanup_strv_free_ char **ids = NULL;
	struct ops_result res;
	int r;

	if (!ctx->all && args_strv(ctx, &ids) < 0)
		return CTL_EXIT_FAILURE;
	r = ops_clear(ctx->root, ids, ctl_actor(ctx), &res);
	return ctl_exit_from_ops(r, &res);
}

int ctl_quarantine(const struct ctl_ctx *ctx)
{
	_cleanup_strv_free_ char **ids = NULL;
	struct ops_result res;
	int r;

	if (ctx->n_args == 0) {
		log_error("quarantine needs at least one COMPONENT (see 'lifelinectl components')");
		return CTL_EXIT_USAGE;
	}
	if (args_strv(ctx, &ids) < 0)
		return CTL_EXIT_FAILURE;
	r = ops_quarantine(ctx->root, ids, ctl_actor(ctx), &res);
	return ctl_exit_from_ops(r, &res);
}

int ctl_reset(const struct ctl_ctx *ctx)
{
	struct ops_result res;
	int r = ops_reset(ctx->root, ctl_actor(ctx), ctx->all, &res);

	return ctl_exit_from_ops(r, &res);
}
