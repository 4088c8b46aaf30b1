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
#include "agent/ops/ops.h"
#include "agent/crash/suspects.h"
#include "agent/decision/runstate.h"
#include "agent/quarantine/quarantine.h"
#include "agent/report/report.h"
#include "efi/store.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/strv.h"

/* ---- the replay guard ---- */

#define ZERO_SHA "0000000000000000000000000000000000000000000000000000000000000000"

/* "SEQ SHA" at *p, then '\n'; advances *p past the newline. */
static int parse_seq_sha(const char **p, uint64_t *ret_seq, char ret_sha[65])
{
	unsigned long long seq;
	char sha[65];
	int n = 0;

	if (**p < '0' || **p > '9' || sscanf(*p, "%llu %64[0-9a-f]%n", &seq, sha, &n) != 2 ||
	    strlen(sha) != 64 || (*p)[n] != '\n' || seq > COMMAND_SEQ_MAX)
		return -EUCLEAN;
	*ret_seq = seq;
	memcpy(ret_sha, sha, sizeof(sha));
	*p += n + 1;
	return 0;
}

int command_seqs_read(const char *root, struct command_seqs *ret)
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_SEQ_FILE), *text = NULL;
	struct command_seqs s = {};
	const char *p;
	int r;

	if (!path)
		return -ENOMEM;
	for (int i = 0; i < _COMMAND_SOURCE_MAX; i++)
		memcpy(s.sha[i], ZERO_SHA, sizeof(s.sha[i]));
	r = read_full_file(path, 512, &text, NULL);
	if (r == -ENOENT) {
		*ret = s;
		return 0;
	}
	if (r < 0)
		return r == -EFBIG ? -EUCLEAN : r;
	p = text;
	if (*p >= '0' && *p <= '9') {
		/* the single counter of older versions: the floor of both */
		r = parse_seq_sha(&p, &s.seq[0], s.sha[0]);
		if (r < 0 || *p)
			return -EUCLEAN;
		for (int i = 1; i < _COMMAND_SOURCE_MAX; i++) {
			s.seq[i] = s.seq[0];
			memcpy(s.sha[i], s.sha[0], sizeof(s.sha[i]));
		}
		*ret = s;
		return 0;
	}
	for (int i = 0; i < _COMMAND_SOURCE_MAX; i++) {
		const char *name = command_source_to_string((enum command_source)i);
		size_t len = strlen(name);

		if (strncmp(p, name, len) != 0 || p[len] != ' ')
			return -EUCLEAN;
		p += len + 1;
		r = parse_seq_sha(&p, &s.seq[i], s.sha[i]);
		if (r < 0)
			return r;
	}
	if (*p)
		return -EUCLEAN;
	*ret = s;
	return 0;
}

int command_seqs_write(const char *root, const struct command_seqs *s)
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_SEQ_FILE), *dir = NULL;
	char buf[2 * (16 + 24 + 66)];
	size_t n = 0;
	int r;

	if (!path || !(dir = path_under_root(root, LIFELINE_STATE_DIR)))
		return -ENOMEM;
	for (int i = 0; i < _COMMAND_SOURCE_MAX; i++) {
		const char *sha = strlen(s->sha[i]) == 64 ? s->sha[i] : ZERO_SHA;

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %" PRIu64 " %s\n",
		                      command_source_to_string((enum command_source)i), s->seq[i],
		                      sha);
	}
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	return write_file_atomic(path, buf, n, 0644);
}

int command_seq_read(const char *root, uint64_t *ret_seq, char ret_sha[65])
{
	struct command_seqs s;
	int r, best = 0;

	r = command_seqs_read(root, &s);
	if (r < 0)
		return r;
	for (int i = 1; i < _COMMAND_SOURCE_MAX; i++)
		if (s.seq[i] > s.seq[best])
			best = i;
	*ret_seq = s.seq[best];
	if (ret_sha) {
		if (s.seq[best] == 0)
			ret_sha[0] = 0;
		else
			memcpy(ret_sha, s.sha[best], 65);
	}
	return 0;
}

int command_seq_write(const char *root, uint64_t seq, const char *sha)
{
	struct command_seqs s;

	for (int i = 0; i < _COMMAND_SOURCE_MAX; i++) {
		s.seq[i] = seq;
		snprintf(s.sha[i], sizeof(s.sha[i]), "%s", sha);
	}
	return command_seqs_write(root, &s);
}

/* ---- the conditions ---- */

/* Something of ids (NULL: anything) quarantined: listed as active, files
 * held in the quarantine, or level 3's module list. */
static bool has_quarantined(const char *root, char *const *ids, char **ret_what)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	_cleanup_strv_free_ char **on_disk = NULL, **modules = NULL;
	unsigned n = 0;

	if (quarantine_active_read(root, &active, &n) >= 0)
		for (unsigned i = 0; i < n; i++)
			if (!ids || strv_contains(ids, active[i].id))
				return (*ret_what = strdup(active[i].id)), true;
	if (quarantine_list(root, &on_disk) >= 0)
		STRV_FOREACH (id, on_disk)
			if (!ids || strv_contains(ids, *id))
				return (*ret_what = strdup(*id)), true;
	if ((!ids || strv_contains(ids, SUSPECTS_OOT_ID)) &&
	    quarantine_modules_read(root, &modules) >= 0 && modules && modules[0])
		return (*ret_what = strdup(SUSPECTS_OOT_ID)), true;
	return false;
}

/* This boot runs in safe mode (or lifeline gave up): the early hook's word
 * for this boot in RUNSTATE_FILE, else the state record's mode. */
static bool in_safe_mode(const char *root, const struct lifeline_config *cfg, char **ret_mode)
{
	_cleanup_free_ char *rs_path = path_under_root(root, RUNSTATE_FILE);
	struct runstate rs;
	struct store *store = NULL;
	struct state_record rec;
	bool safe = false, known = false;

	runstate_init(&rs);
	if (rs_path && runstate_read(rs_path, &rs) >= 0 && rs.mode) {
		known = true;
		safe = streq(rs.mode, "safe") || streq(rs.mode, "given-up");
		*ret_mode = strdup(rs.mode);
	}
	runstate_done(&rs);
	if (!known && config_open_store(cfg, &store, NULL) >= 0) {
		if (store_load(store, &rec) >= 0) {
			safe = rec.mode != STATE_MODE_NORMAL;
			*ret_mode = strdup(strempty(state_mode_to_string(rec.mode)));
		}
		store_free(store);
	}
	return safe;
}

bool command_condition_met(const char *root, const struct lifeline_config *cfg,
                           const struct command *c, char *why, size_t why_size)
{
	_cleanup_free_ char *what = NULL, *mode = NULL;
	bool q = false, safe;

	switch (c->action) {
	case COMMAND_ACTION_CLEAR_AND_REBOOT_IF_QUARANTINED:
		q = has_quarantined(root, c->components[0] ? c->components : NULL, &what);
		__attribute__((fallthrough));
	case COMMAND_ACTION_REBOOT_IF_SAFE_MODE:
		safe = in_safe_mode(root, cfg, &mode);
		if (q)
			snprintf(why, why_size, "%s is quarantined", strempty(what));
		else if (safe)
			snprintf(why, why_size, "this boot runs in %s mode", strempty(mode));
		else
			snprintf(why, why_size, "%s, mode %s",
			         c->action == COMMAND_ACTION_REBOOT_IF_SAFE_MODE
			             ? "not in safe mode"
			             : "nothing quarantined and not in safe mode",
			         mode ? mode : "unknown");
		return q || safe;
	default:
		snprintf(why, why_size, "unconditional");
		return true;
	}
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
		return COMMAND_APPLY_FAILED;
	if (pid == 0) {
		execlp("systemctl", "systemctl", "reboot", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return COMMAND_APPLY_FAILED;
	return COMMAND_APPLY_OK;
}

/* The default applier: the core operations (agent/ops/), with the
 * signed command as the actor the history names. */
static int apply_with_ops(const char *root, const struct command *c, void *userdata)
{
	int r = 0;

	(void)userdata;
	switch (c->action) {
	case COMMAND_ACTION_CLEAR:
		/* no components: the whole quarantine */
		r = ops_clear(root, c->components, OPS_ACTOR_COMMAND, NULL);
		break;
	case COMMAND_ACTION_QUARANTINE:
		r = ops_quarantine(root, c->components, OPS_ACTOR_COMMAND, NULL);
		break;
	case COMMAND_ACTION_BLESS:
		r = ops_bless(root, OPS_ACTOR_COMMAND, NULL, NULL);
		break;
	case COMMAND_ACTION_CLEAR_AND_REBOOT_IF_QUARANTINED:
		r = ops_clear(root, c->components, OPS_ACTOR_COMMAND, NULL);
		if (r < 0)
			return COMMAND_APPLY_FAILED; /* not rebooting into a half-cleared state */
		__attribute__((fallthrough));
	case COMMAND_ACTION_REBOOT:
	case COMMAND_ACTION_REBOOT_IF_SAFE_MODE:
		if (!root_is_real(root)) {
			log_info("reboot command accepted; not rebooting for --root=%s", root);
			return COMMAND_APPLY_OK;
		}
		return run_reboot();
	default:
		return COMMAND_APPLY_FAILED;
	}
	return r < 0 ? COMMAND_APPLY_FAILED : COMMAND_APPLY_OK;
}

static void emit_report(const char *root, const struct lifeline_config *cfg,
                        const struct command_check *chk, const char *result, const char *source,
                        int exit_code, const char *condition)
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
	if (chk->key_id[0])
		json_object_object_add(c, "key_id", json_object_new_string(chk->key_id));
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
		                       json_object_new_boolean(exit_code == COMMAND_APPLY_OK &&
		                                               !streq_ptr(condition, "not-met")));
	if (condition)
		json_object_object_add(c, "condition", json_object_new_string(condition));
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
	static const struct command_applier default_applier = {.apply = apply_with_ops};
	struct command_keyring keys = {};
	_cleanup_close_ int lock = -1;
	struct command_check chk;
	struct command_seqs seqs;
	struct command_trust t = {};
	const char *condition = NULL;
	char mid[33];
	int r, code = COMMAND_APPLY_FAILED;

	if (!applier)
		applier = &default_applier;
	r = command_keyring_load(root, cfg, &keys);
	if (r < 0)
		return r;
	t.keys = keys.keys;
	t.n_keys = keys.n;
	t.machine_id = machine_id_read(root, mid) >= 0 ? mid : NULL;
	lock = lock_judging(root);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	r = command_seqs_read(root, &seqs);
	if (r < 0)
		goto out;
	memcpy(t.last_seq, seqs.seq, sizeof(t.last_seq));

	r = command_verify_trust(doc, size, &t, now, &chk);
	if (r < 0)
		goto out;
	if (chk.verdict == COMMAND_ACCEPTED) {
		enum command_source src = command_source_of(&chk.cmd);
		char why[160];

		/* The seq first, durably: a power cut from here on loses this
		 * command rather than ever applying it twice. */
		seqs.seq[src] = chk.cmd.seq;
		memcpy(seqs.sha[src], chk.sha256, sizeof(seqs.sha[src]));
		r = command_seqs_write(root, &seqs);
		if (r < 0) {
			snprintf(chk.detail, sizeof(chk.detail),
			         "not applied: cannot record seq: %s", strerror(-r));
			emit_report(root, cfg, &chk, "error", source, COMMAND_APPLY_FAILED, NULL);
			command_check_done(&chk);
			goto out;
		}
		fault_point("command-seq-written");
		if (command_condition_met(root, cfg, &chk.cmd, why, sizeof(why))) {
			code = applier->apply(root, &chk.cmd, applier->userdata);
			if (chk.cmd.action == COMMAND_ACTION_CLEAR_AND_REBOOT_IF_QUARANTINED ||
			    chk.cmd.action == COMMAND_ACTION_REBOOT_IF_SAFE_MODE)
				condition = "met";
		} else {
			code = COMMAND_APPLY_OK;
			condition = "not-met";
		}
		if (condition) {
			size_t n = strlen(chk.detail);
			snprintf(chk.detail + n, sizeof(chk.detail) - n, "; condition %s: %s",
			         condition, why);
		}
		emit_report(root, cfg, &chk, "accepted", source, code, condition);
	} else
		emit_report(root, cfg, &chk, "rejected", source, code, NULL);
	*ret_check = chk;
	if (ret_exit)
		*ret_exit = code;
	r = 0;
out:
	command_keyring_done(&keys);
	return r;
}
