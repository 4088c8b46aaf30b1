/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lifelinectl's fleet command verbs (exit codes CTL_EXIT_* of ctl.h):
 *   keygen PRIVATE PUBLIC
 *   sign-command --key PRIVATE --action A [--component ID...] --target T
 *                --expires UNIX|+SECONDS [--seq N] [--issued UNIX]
 *   apply-command FILE */
#pragma once

struct ctl_ctx;

int command_verb_keygen(const struct ctl_ctx *ctx);
int command_verb_sign(const struct ctl_ctx *ctx);
int command_verb_apply(const struct ctl_ctx *ctx);
