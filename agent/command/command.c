/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fleet command application: the durable replay guard (the applied
 * sequence file), command_process() (verify, record, apply, report) and
 * the applier that runs the actions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/command/command-internal.h"
#include "agent/command/command.h"
#include "agent/conf/config.h"
#include "agent/conf/machine-id.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/runstate.h"
#include "agent/report/report.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/strv.h"

/* ---- the replay guard ---- */

int command_seq_read(const char *root, uint64_t *ret_seq, char ret_sha[65])
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_SEQ_FILE), *text = NULL;
	unsigned long long seq;
	char sha[65];
	int r, n = 0;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 256, &text, NULL);
	if (r == -ENOENT) {
		*ret_seq = 0;
		if (ret_sha)
			ret_sha[0] = 0;
		return 0;
	}
	if (r < 0)
		return r == -EFBIG ? -EUCLEAN : r;
	if (sscanf(text, "%llu %64[0-9a-f]%n", &seq, sha, &n) != 2 || strlen(sha) != 64 ||
	    !streq(text + n, "\n") || seq > COMMAND_SEQ_MAX || text[0] < '0' || text[0] > '9')
		return -EUCLEAN;
	*ret_seq = seq;
	if (ret_sha)
		memcpy(ret_sha, sha, sizeof(sha));
	return 0;
}

int command_seq_write(const char *root, uint64_t seq, const char *sha)
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_SEQ_FILE), *dir = NULL,
	                    *buf = NULL;
	int r;

	if (!path || !(dir = path_under_root(root, LIFELINE_STATE_DIR)))
		return -ENOMEM;
	if (asprintf(&buf, "%" PRIu64 " %s\n", seq, sha) < 0)
		return -ENOMEM;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	return write_file_atomic(path, buf, strlen(buf), 0644);
}

/* ---- apply ---- */

static bool root_is_real(const char *root)
{
	return !root || !*root || streq(root, "/");
}

static int run_reboot(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return CTL_EXIT_FAILURE;
	if (pid == 0) {
		execlp("systemctl", "systemctl", "reboot", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return CTL_EXIT_FAILURE;
	return CTL_EXIT_OK;
}

static int apply_with_ctl(const char *root, const struct command *c, void *userdata)
{
	struct ctl_ctx ctx = {
	    .root = root, .args = c->components, .n_args = (int)strv_length(c->components)};

	(void)userdata;
	switch (c->action) {
	case COMMAND_ACTION_CLEAR:
		ctx.all = ctx.n_args == 0;
		return ctl_clear(&ctx);
	case COMMAND_ACTION_QUARANTINE:
		return ctl_quarantine(&ctx);
	case COMMAND_ACTION_BLESS:
		return ctl_bless(&ctx);
	case COMMAND_ACTION_REBOOT:
		if (!root_is_real(root)) {
			log_info("reboot command accepted; not rebooting for --root=%s", root);
			return CTL_EXIT_OK;
		}
		return run_reboot();
	default:
		return CTL_EXIT_FAILURE;
	}
}

static void emit_report(const char *root, const struct lifeline_config *cfg,
                        const struct command_check *chk, const char *result, const char *source,
                        int exit_code)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	json_object *c;

	if (report_build_config(root, cfg, REPORT_EVENT_COMMAND, &o) < 0)
		return;
	c = json_object_new_object();
	json_object_object_add(c, "result", json_object_new_string(result));
	json_object_object_add(c, "reason",
	                       json_object_new_string(command_verdict_to_string(chk->verdict)));
	json_object_object_add(c, "detail", json_object_new_string(chk->detail));
	json_object_object_add(c, "source", source ? json_object_new_string(source) : NULL);
	json_object_object_add(c, "sha256", json_object_new_string(chk->sha256));
	if (chk->have_cmd) {
		json_object *a = json_object_new_array();

		json_object_object_add(
		    c, "action", json_object_new_string(command_action_to_string(chk->cmd.action)));
		json_object_object_add(c, "seq", json_object_new_int64((int64_t)chk->cmd.seq));
		STRV_FOREACH (x, chk->cmd.components)
			json_object_array_add(a, json_object_new_string(*x));
		json_object_object_add(c, "components", a);
	}
	if (streq(result, "accepted"))
		json_object_object_add(c, "applied",
		                       json_object_new_boolean(exit_code == CTL_EXIT_OK));
	json_object_object_add(o, "command", c);
	if (report_emit(root, cfg, o) < 0)
		log_debug("Failed to spool the command report");
}

/* One judge at a time (lifelined's poll and a lifelinectl apply-command):
 * otherwise both could pass the seq check with the same document. */
static int lock_judging(const char *root)
{
	_cleanup_free_ char *dir = path_under_root(root, LIFELINE_STATE_DIR), *p = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (!dir || !(p = path_join(dir, "command.lock")))
		return -ENOMEM;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return negative_errno();
	return TAKE_FD(fd);
}

int command_process(const char *root, const struct lifeline_config *cfg, const char *doc,
                    size_t size, const char *source, const struct command_applier *applier,
                    int64_t now, struct command_check *ret_check, int *ret_exit)
{
	static const struct command_applier default_applier = {.apply = apply_with_ctl};
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
	_cleanup_free_ char *key_path = NULL;
	_cleanup_close_ int lock = -1;
	struct command_check chk;
	char mid[33];
	bool have_mid;
	uint64_t last = 0;
	int r, code = CTL_EXIT_FAILURE;

	if (!applier)
		applier = &default_applier;
	if (!cfg->commands_public_key || !*cfg->commands_public_key)
		return -ENOKEY;
	key_path = path_under_root(root, cfg->commands_public_key);
	if (!key_path)
		return -ENOMEM;
	r = command_key_load_public(key_path, &pub);
	if (r < 0)
		return r == -ENOENT ? -ENOKEY : r;
	have_mid = machine_id_read(root, mid) >= 0;
	lock = lock_judging(root);
	if (lock < 0)
		return lock;
	r = command_seq_read(root, &last, NULL);
	if (r < 0)
		return r;

	r = command_verify(doc, size, pub, have_mid ? mid : NULL, last, now, &chk);
	if (r < 0)
		return r;
	if (chk.verdict == COMMAND_ACCEPTED) {
		/* The seq first, durably: a power cut from here on loses this
		 * command rather than ever applying it twice. */
		r = command_seq_write(root, chk.cmd.seq, chk.sha256);
		if (r < 0) {
			snprintf(chk.detail, sizeof(chk.detail),
			         "not applied: cannot record seq: %s", strerror(-r));
			emit_report(root, cfg, &chk, "error", source, CTL_EXIT_FAILURE);
			command_check_done(&chk);
			return r;
		}
		fault_point("command-seq-written");
		code = applier->apply(root, &chk.cmd, applier->userdata);
		emit_report(root, cfg, &chk, "accepted", source, code);
	} else
		emit_report(root, cfg, &chk, "rejected", source, code);
	*ret_check = chk;
	if (ret_exit)
		*ret_exit = code;
	return 0;
}
