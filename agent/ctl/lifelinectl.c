/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl — the administrator's CLI (thin main over the agent core).
 * Exit codes: 0 ok, 1 operational error, 2 usage error, 3 state unreadable.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/ctl/ctl.h"
#include "common/log.h"
#include "common/macro.h"

static void help(void)
{
	printf("Usage: lifelinectl [OPTIONS] COMMAND [ARGS]\n"
	       "\n"
	       "Inspect and steer lifeline, the crash-loop recovery agent.\n"
	       "\n"
	       "Commands:\n"
	       "  status [--json]          boot counters, mode, level, quarantine, last good boot\n"
	       "  components [--json]      configured security components and whether active\n"
	       "  bless                    mark this boot good: reset the failure counter\n"
	       "  clear [COMPONENT...|--all]\n"
	       "                           end the quarantine (all of it, or the named\n"
	       "                           components): unblock modules, unmask units, mode\n"
	       "                           back to normal at the next boot\n"
	       "  quarantine COMPONENT...  quarantine components by hand (takes effect at the\n"
	       "                           next boot; safe mode is not entered)\n"
	       "  reset                    start a new state record (after a corrupt one)\n"
	       "  history [--json] [--limit N] [--boot N]\n"
	       "                           every recovery decision with its reason and\n"
	       "                           evidence ('lifelinectl history --help')\n"
	       "  report [--dry-run]       send a report to the collector now (--dry-run:\n"
	       "                           print it)\n"
	       "  keygen PRIVATE PUBLIC    make the fleet's Ed25519 command-signing key pair\n"
	       "  sign-command --key PRIVATE --action clear|quarantine|bless|reboot\n"
	       "               [--component ID]... --target all|MACHINE-ID[,...] --seq N\n"
	       "               --expires UNIX|+SECONDS\n"
	       "                           print a signed command document\n"
	       "  apply-command FILE       verify and apply a signed command document\n"
	       "\n"
	       "Options:\n"
	       "  --root=DIR   operate on config, state and quarantine under DIR (as\n"
	       "               systemctl --root); EFI variables still come from efivarfs\n"
	       "               or EFIVARFS_PATH\n"
	       "  --json       JSON output (status, components, history)\n"
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

static void help_history(void)
{
	printf("NAME\n"
	       "    lifelinectl history - the recovery decisions lifeline made, and why\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    lifelinectl [--root=DIR] history [--json] [--limit N] [--boot N]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Prints the decision history, oldest first: every escalation and give-up\n"
	       "    of the early boot, every quarantine, clear, bless and reset made with\n"
	       "    lifelinectl or a signed fleet command, and every blessing by lifelined.\n"
	       "    Each entry has its time (UTC), boot number, who decided (boot,\n"
	       "    lifelinectl, signed-command, lifelined), the action, the level and\n"
	       "    mode after it, the reason, and the evidence it rests on: the panic\n"
	       "    log lines (RIP, call trace, Comm, panic), the inventory diff against\n"
	       "    the last good boot, the components and modules quarantined and what\n"
	       "    happened to their files.\n"
	       "\n"
	       "    Entries a power cut tore or that were altered are skipped with a\n"
	       "    warning; the others are shown.\n"
	       "\n"
	       "OPTIONS\n"
	       "    --json       a JSON array of entries: time, boot_seq, who, action,\n"
	       "                 level, mode, reason, evidence, components, modules, files\n"
	       "    --limit N    only the newest N entries (after --boot)\n"
	       "    --boot N     only the entries of boot attempt N\n"
	       "    --root=DIR   read the history under DIR\n"
	       "\n"
	       "FILES\n"
	       "    /var/lib/lifeline/history, /var/lib/lifeline/history.1: one entry per\n"
	       "    line; at 256 KiB the file becomes history.1 and the older history.1 is\n"
	       "    dropped, so the newest 256-512 KiB are kept.\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0 ok (also with no history yet), 1 the history cannot be read,\n"
	       "    2 usage error.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {},
	};
	struct ctl_ctx ctx = {.root = "/"};
	const char *verb;
	int c;

	log_set_prefix("lifelinectl: ");
	while ((c = getopt_long(argc, argv, "+hq", opts, NULL)) >= 0) {
		switch (c) {
		case 'r':
			ctx.root = optarg;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 'a':
			ctx.all = true;
			break;
		case 'q':
			log_set_max_level(LOG_LVL_WARNING);
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("lifelinectl %s\n", LIFELINE_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'lifelinectl --help'.\n");
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "lifelinectl: a command is required. Try 'lifelinectl --help'.\n");
		return CTL_EXIT_USAGE;
	}
	verb = argv[optind++];
	/* Global options may follow the verb too (lifelinectl status --json);
	 * anything else after the verb, options included, belongs to the verb
	 * (sign-command --key K ...) and is checked by it. */
	{
		int k = 0;

		for (int i = optind; i < argc; i++) {
			const char *a = argv[i];

			if (streq(a, "--json"))
				ctx.json = true;
			else if (streq(a, "--all"))
				ctx.all = true;
			else if (streq(a, "-q") || streq(a, "--quiet"))
				log_set_max_level(LOG_LVL_WARNING);
			else if (strncmp(a, "--root=", 7) == 0)
				ctx.root = a + 7;
			else if (streq(a, "-h") || streq(a, "--help")) {
				if (streq(verb, "history"))
					help_history();
				else
					help();
				return 0;
			} else if (streq(a, "--")) {
				while (++i < argc)
					argv[optind + k++] = argv[i];
				break;
			} else
				argv[optind + k++] = argv[i];
		}
		argv[optind + k] = NULL;
		argc = optind + k;
	}
	ctx.args = argv + optind;
	ctx.n_args = argc - optind;
	return ctl_dispatch(verb, &ctx);
}
