/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl — the administrator's CLI: options, then the verb table of
 * agent/ctl/ctl.c (`lifelinectl VERB --help` prints that verb's help).
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
			ctl_help(stdout);
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
				const struct ctl_verb *v = ctl_verb_find(verb);

				if (!v) {
					log_error("unknown command '%s'. Try 'lifelinectl --help'.",
					          verb);
					return CTL_EXIT_USAGE;
				}
				ctl_verb_help(v, stdout);
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
