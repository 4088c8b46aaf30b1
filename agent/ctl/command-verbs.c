/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lifelinectl's fleet command verbs: keygen, sign-command and
 * apply-command (the document format is in agent/command/command.h). */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/command/command.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/ctl/command-verbs.h"
#include "agent/ctl/ctl.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)

/* "--name VALUE" or "--name=VALUE" at args[*i]; NULL when args[*i] is not
 * that option. *missing is set when the value is absent. */
static const char *opt_value(const struct ctl_ctx *ctx, int *i, const char *name, bool *missing)
{
	const char *a = ctx->args[*i];
	size_t n = strlen(name);

	if (!a || strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != 0)
		return NULL;
	if (*i + 1 >= ctx->n_args) {
		*missing = true;
		return NULL;
	}
	return ctx->args[++*i];
}

static int split_list(const char *v, bool (*valid)(const char *), char ***l)
{
	_cleanup_free_ char *copy = strdup(v);
	char *tok, *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!valid(tok))
			return -EINVAL;
		if (!strv_contains(*l, tok) && strv_extend(l, tok) < 0)
			return -ENOMEM;
	}
	return 0;
}

int command_verb_keygen(const struct ctl_ctx *ctx)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	char id[COMMAND_KEY_ID_LEN + 1];
	int r;

	if (ctx->n_args != 2) {
		log_error("keygen PRIVATE PUBLIC: two file names needed");
		return CTL_EXIT_USAGE;
	}
	r = command_keygen(ctx->args[0], ctx->args[1]);
	if (r == -EEXIST) {
		log_error("%s exists; not overwriting a private key", ctx->args[0]);
		return CTL_EXIT_FAILURE;
	}
	if (r < 0) {
		log_error_errno(r, "Failed to write the key pair %s, %s: %m", ctx->args[0],
		                ctx->args[1]);
		return CTL_EXIT_FAILURE;
	}
	r = command_key_load_public(ctx->args[1], &key);
	if (r >= 0)
		r = command_key_id(key, id);
	if (r < 0) {
		log_error_errno(r, "Failed to read back %s: %m", ctx->args[1]);
		return CTL_EXIT_FAILURE;
	}
	log_info(
	    "Ed25519 key pair written: %s (private, keep it off the machines), %s (public, key "
	    "id %s: install it on the machines as " COMMAND_KEY_DIR "/%s.pub)",
	    ctx->args[0], ctx->args[1], id, id);
	return CTL_EXIT_OK;
}

int command_verb_sign(const struct ctl_ctx *ctx)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ char *body = NULL, *doc = NULL;
	const char *key_path = NULL, *action = NULL, *expires = NULL, *seq = NULL, *issued = NULL,
	           *v;
	struct command c = {};
	struct command_check chk;
	char *end;
	bool missing = false;
	int r, ret = CTL_EXIT_USAGE;

	for (int i = 0; i < ctx->n_args; i++) {
		if (streq(ctx->args[i], "--"))
			continue;
		if ((v = opt_value(ctx, &i, "--key", &missing)))
			key_path = v;
		else if ((v = opt_value(ctx, &i, "--action", &missing)))
			action = v;
		else if ((v = opt_value(ctx, &i, "--seq", &missing)))
			seq = v;
		else if ((v = opt_value(ctx, &i, "--expires", &missing)))
			expires = v;
		else if ((v = opt_value(ctx, &i, "--issued", &missing)))
			issued = v;
		else if ((v = opt_value(ctx, &i, "--component", &missing))) {
			if (split_list(v, component_id_is_valid, &c.components) < 0) {
				log_error("sign-command: bad component id in '%s'", v);
				goto out;
			}
		} else if ((v = opt_value(ctx, &i, "--target", &missing))) {
			if (split_list(v, command_target_is_valid, &c.targets) < 0) {
				log_error("sign-command: --target takes all or machine-ids (32 hex "
				          "digits), comma-separated");
				goto out;
			}
		} else {
			log_error("sign-command: %s '%s'",
			          missing ? "a value is needed after" : "unknown argument",
			          ctx->args[i]);
			goto out;
		}
		if (missing) {
			log_error("sign-command: a value is needed after '%s'", ctx->args[i]);
			goto out;
		}
	}
	if (!key_path || !action || !expires || !c.targets) {
		log_error("sign-command --key PRIVATE --action ACTION [--component ID...] "
		          "--target all|MACHINE-ID[,...] --expires UNIX|+SECONDS [--seq N]; "
		          "ACTION: clear, quarantine, bless, reboot, "
		          "clear-and-reboot-if-quarantined, reboot-if-safe-mode");
		goto out;
	}
	r = command_action_from_string(action);
	if (r < 0) {
		log_error("sign-command: unknown action '%s'", action);
		goto out;
	}
	c.action = (enum command_action)r;
	if (!c.components && !(c.components = calloc(1, sizeof(char *)))) {
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	if ((c.action == COMMAND_ACTION_QUARANTINE && !c.components[0]) ||
	    ((c.action == COMMAND_ACTION_BLESS || c.action == COMMAND_ACTION_REBOOT ||
	      c.action == COMMAND_ACTION_REBOOT_IF_SAFE_MODE) &&
	     c.components[0])) {
		log_error("sign-command: %s takes %s --component", action,
		          c.action == COMMAND_ACTION_QUARANTINE ? "at least one" : "no");
		goto out;
	}
	if (strv_contains(c.targets, "all") && c.targets[1]) {
		log_error("sign-command: --target all cannot be combined with machine-ids");
		goto out;
	}
	if (strv_length(c.targets) > COMMAND_TARGETS_MAX) {
		log_error("sign-command: %zu targets; an agent accepts at most %d machine-ids in "
		          "one document: sign several documents (one per <machine-id>.cmd is "
		          "enough), or use --target all",
		          strv_length(c.targets), COMMAND_TARGETS_MAX);
		goto out;
	}
	if (strv_length(c.components) > COMMAND_COMPONENTS_MAX) {
		log_error("sign-command: %zu components; an agent accepts at most %d",
		          strv_length(c.components), COMMAND_COMPONENTS_MAX);
		goto out;
	}
	c.seq = 1; /* derived below when not given */
	if (seq) {
		errno = 0;
		c.seq = strtoull(seq, &end, 10);
		if (errno || *end || !*seq || *seq == '-' || c.seq == 0 ||
		    c.seq > COMMAND_SEQ_MAX) {
			log_error("sign-command: --seq must be an integer 1..2^53-1");
			goto out;
		}
	}
	c.issued = (int64_t)time(NULL);
	if (issued) {
		errno = 0;
		c.issued = strtoll(issued, &end, 10);
		if (errno || *end || !*issued || c.issued < 0) {
			log_error("sign-command: --issued must be unix seconds");
			goto out;
		}
	}
	errno = 0;
	c.expires = strtoll(expires + (*expires == '+'), &end, 10);
	if (errno || *end || !expires[*expires == '+'] || c.expires < 0 ||
	    (*expires == '+' && c.expires > INT64_MAX - c.issued)) {
		log_error("sign-command: --expires must be unix seconds or +SECONDS");
		goto out;
	}
	if (*expires == '+')
		c.expires += c.issued;
	if (c.expires < c.issued) {
		log_error("sign-command: --expires is before --issued");
		goto out;
	}
	/* the agents' own schema and limits, before anything is signed */
	r = command_body_format(&c, &body);
	if (r < 0) {
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	r = command_body_check(body, strlen(body), &chk);
	if (r < 0) {
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	command_check_done(&chk);
	if (chk.verdict != COMMAND_ACCEPTED) {
		log_error("sign-command: an agent would refuse this document (%s): %s",
		          command_verdict_to_string(chk.verdict), chk.detail);
		goto out;
	}
	free(body);
	body = NULL;
	ret = CTL_EXIT_FAILURE;
	r = command_key_load_private(key_path, &key);
	if (r < 0) {
		log_error_errno(r, "Failed to load the Ed25519 private key %s: %m", key_path);
		goto out;
	}
	if (!seq) {
		_cleanup_free_ char *state = NULL;
		struct timespec ts;
		int state_error = 0;

		if (asprintf(&state, "%s.seq", key_path) < 0)
			goto out;
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		r = command_seq_derive(state, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
		                       &c.seq, &state_error);
		if (r < 0) {
			log_error_errno(r, "Failed to derive a seq (%s): %m", state);
			goto out;
		}
		if (state_error < 0)
			log_warning_errno(state_error,
			                  "Failed to record seq %" PRIu64
			                  " in %s (the next seq still follows the clock): %m",
			                  c.seq, state);
	}
	r = command_body_format(&c, &body);
	if (r >= 0)
		r = command_sign(key, body, strlen(body), &doc);
	if (r < 0) {
		log_error_errno(r, "Failed to sign: %m");
		goto out;
	}
	if (fputs(doc, stdout) < 0 || fflush(stdout) != 0) {
		log_error_errno(errno, "Failed to write the document: %m");
		goto out;
	}
	ret = CTL_EXIT_OK;
out:
	command_done(&c);
	return ret;
}

int command_verb_apply(const struct ctl_ctx *ctx)
{
	_cleanup_free_ char *doc = NULL;
	struct lifeline_config cfg;
	struct command_check chk;
	const char *file = NULL;
	size_t size = 0;
	int r, code = CTL_EXIT_FAILURE;

	for (int i = 0; i < ctx->n_args; i++) {
		if (streq(ctx->args[i], "--"))
			continue;
		if (file) {
			log_error("apply-command FILE: one file");
			return CTL_EXIT_USAGE;
		}
		file = ctx->args[i];
	}
	if (!file) {
		log_error("apply-command FILE: a command document is needed");
		return CTL_EXIT_USAGE;
	}
	if (geteuid() != 0) {
		log_error("apply-command changes the boot state: run it as root");
		return CTL_EXIT_FAILURE;
	}
	r = read_full_file(file, SPOOL_FILE_MAX, &doc, &size);
	if (r < 0) {
		log_error_errno(r, "Failed to read %s: %m", file);
		return CTL_EXIT_FAILURE;
	}
	config_init_defaults(&cfg);
	(void)config_load(ctx->root, &cfg);
	r = command_process(ctx->root, &cfg, doc, size, file, NULL, (int64_t)time(NULL), &chk,
	                    &code);
	if (r == -ENOKEY)
		log_error("No fleet public key ([commands] public_key = %s): cannot verify %s",
		          strempty(cfg.commands_public_key), file);
	else if (r == -EUCLEAN)
		log_error("%s is damaged: every command is refused until it is repaired",
		          COMMAND_SEQ_FILE);
	else if (r < 0)
		log_error_errno(r, "Failed to check %s: %m", file);
	else if (chk.verdict != COMMAND_ACCEPTED) {
		printf("rejected: %s: %s\n", command_verdict_to_string(chk.verdict), chk.detail);
		code = CTL_EXIT_FAILURE;
	} else
		printf("accepted: %s%s\n", chk.detail,
		       code == CTL_EXIT_OK ? "" : " (applying it failed)");
	if (r < 0)
		code = CTL_EXIT_FAILURE;
	else
		command_check_done(&chk);
	config_done(&cfg);
	return code;
}
