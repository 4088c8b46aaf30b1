/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl's verb table and dispatcher, its help texts, and the helpers
 * the verb files share (ctl-internal.h). The verbs themselves:
 * ctl-status.c (status, components), ctl-state.c (bless, clear,
 * quarantine, reset), ctl-history.c, ctl-report.c, ctl-check.c,
 * ctl-plan.c, and the signed-command verbs (command-verbs.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/ctl/command-verbs.h"
#include "agent/ctl/ctl-internal.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/history.h"
#include "agent/quarantine/quarantine.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

int ctl_state_open(const char *root, struct ctl_state *st)
{
	_cleanup_free_ char *why = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	config_init_defaults(&st->cfg);
	/* errors are logged; defaults fill in */
	st->config_error = config_load(root, &st->cfg);

	r = config_open_store(&st->cfg, &st->store, &why);
	if (r < 0) {
		log_error_errno(r, "No state store available%s%s (file store: %m)", why ? ": " : "",
		                strempty(why));
		config_done(&st->cfg);
		return CTL_EXIT_FAILURE;
	}
	st->load_error = store_load(st->store, &st->rec);
	if (st->load_error == -ENOENT)
		state_record_init(&st->rec);
	return CTL_EXIT_OK;
}

void ctl_state_done(struct ctl_state *st)
{
	store_free(st->store);
	st->store = NULL;
	config_done(&st->cfg);
}

int ctl_require_record(const struct ctl_state *st)
{
	if (st->load_error == 0 || st->load_error == -ENOENT)
		return CTL_EXIT_OK;
	log_error("The state record is unreadable: %s. Nothing was changed; 'lifelinectl reset' "
	          "starts a new record.",
	          state_record_strerror(st->load_error));
	return CTL_EXIT_STATE;
}

char **ctl_quarantined_ids(const char *root, const struct runstate *rs)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	char **ids = NULL;
	unsigned n = 0;

	unsigned decided = 0;

	if (quarantine_active_read(root, &active, &n) >= 0)
		for (unsigned i = 0; i < n; i++)
			(void)strv_extend(&ids, active[i].id);
	/* Once the rootfs phase made this boot's decision durable, the active
	 * list is the whole truth (a clear since removed them from it). */
	if (rs && quarantine_decided_read(root, &decided) >= 0 && decided >= rs->generation)
		rs = NULL;
	if (rs)
		STRV_FOREACH (id, rs->quarantine)
			if (!strv_contains(ids, *id))
				(void)strv_extend(&ids, *id);
	return ids;
}

char **ctl_degraded_ids(const char *root)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	char **ids = NULL;
	unsigned n = 0;

	if (quarantine_active_read(root, &active, &n) >= 0)
		for (unsigned i = 0; i < n; i++)
			if (active[i].degraded)
				(void)strv_extend(&ids, active[i].id);
	return ids;
}

void ctl_format_time(uint64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	/* The record's time is any 64-bit value: gmtime_r() fails past year
	 * 2^31 (EOVERFLOW). */
	if ((uint64_t)tt != t || !gmtime_r(&tt, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "unix time %" PRIu64, t);
}

int ctl_exit_from_ops(int r, const struct ops_result *res)
{
	if (r >= 0)
		return CTL_EXIT_OK;
	if (r == -ESRCH || r == -EINVAL)
		return CTL_EXIT_USAGE;
	if (res && res->record_error != 0 && r == res->record_error)
		return CTL_EXIT_STATE;
	return CTL_EXIT_FAILURE;
}

enum ops_actor ctl_actor(const struct ctl_ctx *ctx)
{
	for (int a = 0; a < _OPS_ACTOR_MAX; a++)
		if (streq_ptr(ctx->who, ops_actor_to_string((enum ops_actor)a)))
			return (enum ops_actor)a;
	return OPS_ACTOR_COMMAND;
}

static const struct ctl_verb verbs[] = {
    {"status", ctl_status, 0, "status [--json]",
     "this boot's mode and the next's, reboot required, why, next step",
     "Leads with what matters first: the mode this boot runs in and the mode\n"
     "the next boot gets, whether a reboot is required to apply what was\n"
     "decided, the last decision (when, by whom, why) with its evidence line,\n"
     "and the next step. Then the state record (boot number, consecutive\n"
     "failed boots, level, last good boot), what is quarantined and which\n"
     "modules are blocked; \"Counting: OFF\" when lifeline-early could not\n"
     "count this boot, and why. --json prints one object, \"version\": 1, with\n"
     "this_boot_mode, next_boot_mode (also \"mode\"), reboot_required,\n"
     "reboot_reason, decision, evidence, next_step, this_boot_counted and the\n"
     "record's fields.\n"
     "Exit status: 0 ok, 1 no state store, 3 the state record is unreadable.\n"},
    {"components", ctl_components, 0, "components [--json]",
     "configured security components and whether active",
     "Lists the components of /etc/lifeline/components.d: whether each is\n"
     "installed and running here, and whether it is quarantined, then the\n"
     "components the loader refused because they name a protected module, unit\n"
     "or path (FILE:LINE, what, why). --json prints {\"version\": 1,\n"
     "\"components\": [...], \"refused\": [{\"id\", \"file\", \"line\", \"what\",\n"
     "\"reason\"}]}.\n"
     "Exit status: 0 ok, 1 a drop-in could not be read, is invalid or was refused.\n"},
    {"bless", ctl_bless, 0, "bless", "mark this boot good: reset the failure counter",
     "Marks this boot good as lifelined does once it is healthy: the counter of\n"
     "consecutive failed boots starts over. Recorded in the history.\n"
     "Exit status: 0 ok, 1 the record could not be written, 3 it is unreadable.\n"},
    {"clear", ctl_clear, 1000, "clear [COMPONENT...|--all]",
     "end the quarantine (all of it, or the named components)",
     "Puts the quarantined files back, unblocks modules and unmasks units of\n"
     "every quarantined component (no argument, or --all) or of the named\n"
     "ones; when nothing stays quarantined the next boot is a normal boot.\n"
     "A component neither configured nor quarantined is refused (exit 2).\n"
     "Exit status: 0 ok, 1 a file could not be put back or the state not\n"
     "written ('clear' again retries), 2 usage or unknown component.\n"},
    {"quarantine", ctl_quarantine, 1000, "quarantine COMPONENT...",
     "quarantine components by hand (from the next boot; no safe mode)",
     "Quarantines the named components: from the next boot on their modules are\n"
     "blocked, their units masked and their files moved aside. Safe mode is not\n"
     "entered. 'lifelinectl clear' ends it.\n"
     "Exit status: 0 ok, 1 operational error, 2 unknown component,\n"
     "3 the state record is unreadable.\n"},
    {"reset", ctl_reset, 0, "reset [--all]", "start a new state record (after a corrupt one)",
     "Writes a new state record: counters, mode and level start over. A record\n"
     "written by a newer lifeline is kept unless --all is given.\n"
     "Exit status: 0 ok, 1 the record could not be written, 3 a newer record.\n"},
    {"history", ctl_history, 4, "history [--json] [--limit N] [--boot N]",
     "every recovery decision with its reason and evidence",
     "Prints the decision history, oldest first: every escalation and give-up\n"
     "of the early boot, every quarantine, clear, bless and reset made with\n"
     "lifelinectl or a signed fleet command, and every blessing by lifelined.\n"
     "Each entry has its time (UTC), boot number, who decided (boot,\n"
     "lifelinectl, signed-command, lifelined), the action, the level and\n"
     "mode after it, the reason, and the evidence it rests on: the panic\n"
     "log lines (RIP, call trace, Comm, panic), the inventory diff against\n"
     "the last good boot, the components and modules quarantined and what\n"
     "happened to their files.\n"
     "\n"
     "Entries a power cut tore or that were altered are skipped with a\n"
     "warning; the others are shown.\n"
     "\n"
     "Options:\n"
     "  --json       a JSON array of entries: time, boot_seq, who, action,\n"
     "               level, mode, reason, evidence, components, modules, files\n"
     "  --limit N    only the newest N entries (after --boot)\n"
     "  --boot N     only the entries of boot attempt N\n"
     "\n"
     "Files: /var/lib/lifeline/history, /var/lib/lifeline/history.1: one entry\n"
     "per line; at 256 KiB the file becomes history.1 and the older history.1\n"
     "is dropped, so the newest 256-512 KiB are kept.\n"
     "\n"
     "Exit status: 0 ok (also with no history yet), 1 the history cannot be\n"
     "read, 2 usage error.\n"},
    {"check", ctl_check, 0, "check [--json]", "is everything lifeline needs in place here?",
     "Checks, under --root, that lifeline can work on this machine and names\n"
     "each problem: lifeline.conf and components.d parse; no component was\n"
     "refused for naming a protected module, unit or path; every installed kernel\n"
     "(/boot/vmlinuz-VER) has an initramfs (/boot/initrd.img-VER) carrying\n"
     "lifeline-early (read directly, or with lsinitramfs or lsinitrd when\n"
     "compressed); a watchdog device exists; the state store opens, its record\n"
     "reads and it is writable; lifeline-early counted this boot (from\n"
     "/run/lifeline/state: a problem when it could not; not known when it did\n"
     "not run in this boot); lifelined.service is enabled. Nothing is\n"
     "changed. --json prints {\"version\", \"ok\", \"problems\", \"checks\": [{\"check\",\n"
     "\"ok\", \"detail\"}]}.\n"
     "Exit status: 0 everything in place, 1 at least one problem.\n"},
    {"plan", ctl_plan, 0, "plan [--json]",
     "what each recovery level would quarantine here now (changes nothing)",
     "Shows what levels 1, 2 and 3 would quarantine on this machine now, from\n"
     "the configured components and the panic logs at hand: the components,\n"
     "their files (as they exist now), units and modules, and level 3's\n"
     "out-of-tree modules. Level 1 picks by the last panic log; without one it\n"
     "is chosen at boot from what changed since the last good boot. Nothing is\n"
     "changed.\n"
     "Exit status: 0 ok, 1 the components could not be read.\n"},
    {"report", ctl_report, 2, "report [--dry-run]",
     "send a report to the collector now (--dry-run: print it)",
     "Builds a report of this machine (event \"manual\"), sends it to the\n"
     "journal and the metrics file, spools it and sends the spool to the\n"
     "[report] url now. --dry-run prints the report and changes nothing.\n"
     "Exit status: 0 ok, 1 it could not be spooled or sent (it stays spooled).\n"},
    {"keygen", command_verb_keygen, 2, "keygen PRIVATE PUBLIC",
     "make the fleet's Ed25519 command-signing key pair",
     "Writes a new Ed25519 key pair as PEM files: PRIVATE (mode 0600, never\n"
     "overwritten) signs commands, PUBLIC goes to every machine's [commands]\n"
     "public_key.\n"},
    {"sign-command", command_verb_sign, 1000,
     "sign-command --key PRIVATE --action ACTION [--component ID]...\n"
     "             --target all|MACHINE-ID[,...] --expires UNIX|+SECONDS\n"
     "             [--seq N] [--issued UNIX]",
     "print a signed command document",
     "Prints a command document signed with PRIVATE for the machines named by\n"
     "--target. ACTION: clear, quarantine, bless, reboot,\n"
     "clear-and-reboot-if-quarantined, reboot-if-safe-mode. Without --seq the\n"
     "sequence number derives from the signing time. Each machine applies a\n"
     "seq of a source only once, and none after --expires.\n"},
    {"apply-command", command_verb_apply, 2, "apply-command FILE",
     "verify and apply a signed command document",
     "Checks FILE's signature against [commands] public_key, its target, expiry\n"
     "and sequence number, then applies it (as a fleet command would be).\n"
     "Exit status: 0 applied, 1 rejected or not applied, 2 usage.\n"},
};

const struct ctl_verb *ctl_verb_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(name, verbs[i].name))
			return &verbs[i];
	return NULL;
}

void ctl_help(FILE *f)
{
	fprintf(f, "Usage: lifelinectl [OPTIONS] COMMAND [ARGS]\n"
	           "\n"
	           "Inspect and steer lifeline, the crash-loop recovery agent.\n"
	           "\n"
	           "Commands ('lifelinectl COMMAND --help' for one):\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  %s\n      %s\n", verbs[i].usage, verbs[i].help);
	fprintf(f, "\n"
	           "Options:\n"
	           "  --root=DIR   operate on config, state and quarantine under DIR (as\n"
	           "               systemctl --root); EFI variables still come from efivarfs\n"
	           "               or EFIVARFS_PATH\n"
	           "  --json       JSON output (status, components, history, check, plan)\n"
	           "  -q, --quiet  only errors\n"
	           "  -h, --help   this text      --version  the version\n"
	           "\n"
	           "Files: /etc/lifeline/lifeline.conf, /etc/lifeline/components.d/*.conf,\n"
	           "/var/lib/lifeline/, /run/lifeline/state. EFI variable\n"
	           "LifelineState-77117627-ad6b-4cc0-8022-2661bb477dc2.\n"
	           "\n"
	           "Exit status: 0 ok, 1 operational error, 2 usage error, 3 state record\n"
	           "unreadable (corrupt, or written by a newer lifeline).\n");
}

void ctl_verb_help(const struct ctl_verb *v, FILE *f)
{
	fprintf(f, "Usage: lifelinectl [--root=DIR] %s\n\n%s\n", v->usage, v->help);
	if (v->description)
		fprintf(f, "\n%s", v->description);
}

int ctl_dispatch(const char *verb, const struct ctl_ctx *ctx)
{
	const struct ctl_verb *v = ctl_verb_find(verb);
	struct ctl_ctx c = *ctx;

	if (!v) {
		log_error("unknown command '%s'. Try 'lifelinectl --help'.", verb);
		return CTL_EXIT_USAGE;
	}
	if (ctx->n_args > v->max_args) {
		log_error("'%s' takes no argument '%s'. Try 'lifelinectl %s --help'.", verb,
		          ctx->args[0], verb);
		return CTL_EXIT_USAGE;
	}
	/* the decision history names who decided; apply-command names the
	 * fleet itself, whatever this says */
	if (!c.who)
		c.who = HISTORY_WHO_CTL;
	return v->run(&c);
}
