/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelinectl history: the decision history (agent/decision/history.h) as
 * text or JSON, filtered by boot and limited to the newest entries.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ctl/ctl-internal.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/history.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* "--opt N" or "--opt=N" at args[*i]: 1 matched (value in *ret), 0 not
 * this option, -EINVAL bad or missing number. */
static int opt_uint(const struct ctl_ctx *ctx, int *i, const char *opt, unsigned *ret)
{
	const char *a = ctx->args[*i], *v;
	size_t n = strlen(opt);
	char *end;
	unsigned long u;

	if (strncmp(a, opt, n) != 0 || (a[n] != 0 && a[n] != '='))
		return 0;
	if (a[n] == '=')
		v = a + n + 1;
	else if (*i + 1 < ctx->n_args)
		v = ctx->args[++*i];
	else
		return -EINVAL;
	errno = 0;
	u = strtoul(v, &end, 10);
	if (!*v || *end || errno || u > UINT32_MAX || *v == '-')
		return -EINVAL;
	*ret = (unsigned)u;
	return 1;
}

static json_object *strv_to_json(char **l)
{
	json_object *a = json_object_new_array();

	STRV_FOREACH (s, l)
		json_object_array_add(a, json_object_new_string(*s));
	return a;
}

static void print_list(const char *label, char **l)
{
	if (strv_length(l) == 0)
		return;
	printf("    %-11s %s\n", label, l[0]);
	for (size_t i = 1; l[i]; i++)
		printf("    %-11s %s\n", "", l[i]);
}

int ctl_history(const struct ctl_ctx *ctx)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;
	struct history h;
	unsigned limit = 0, boot = 0;
	bool by_boot = false;
	size_t first = 0, shown = 0;
	int r;

	for (int i = 0; i < ctx->n_args; i++) {
		unsigned v;

		if ((r = opt_uint(ctx, &i, "--limit", &v)) != 0) {
			if (r < 0 || v == 0) {
				log_error("--limit needs a number above 0. Try 'lifelinectl "
				          "history --help'.");
				return CTL_EXIT_USAGE;
			}
			limit = v;
		} else if ((r = opt_uint(ctx, &i, "--boot", &v)) != 0) {
			if (r < 0) {
				log_error("--boot needs a boot number. Try 'lifelinectl history "
				          "--help'.");
				return CTL_EXIT_USAGE;
			}
			boot = v;
			by_boot = true;
		} else {
			log_error(
			    "history takes no argument '%s'. Try 'lifelinectl history --help'.",
			    ctx->args[i]);
			return CTL_EXIT_USAGE;
		}
	}

	r = history_read(ctx->root, &h);
	if (r < 0) {
		log_error_errno(r, "Failed to read the decision history %s: %m", HISTORY_FILE);
		return CTL_EXIT_FAILURE;
	}
	if (h.n_damaged > 0)
		log_warning("%u damaged entr%s in %s skipped (torn by a power cut, or altered)",
		            h.n_damaged, h.n_damaged == 1 ? "y" : "ies", HISTORY_FILE);

	/* --limit: the newest N of those that match */
	if (limit > 0) {
		size_t match = 0;

		for (size_t i = h.n; i > 0; i--) {
			if (by_boot && h.entries[i - 1].boot_seq != boot)
				continue;
			first = i - 1;
			if (++match == limit)
				break;
		}
	}
	if (ctx->json)
		arr = json_object_new_array();
	for (size_t i = first; i < h.n; i++) {
		const struct history_entry *e = &h.entries[i];

		if (by_boot && e->boot_seq != boot)
			continue;
		shown++;
		if (ctx->json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "time", json_object_new_int64((int64_t)e->time));
			json_object_object_add(o, "boot_seq", json_object_new_int64(e->boot_seq));
			json_object_object_add(o, "who", json_object_new_string(e->who));
			json_object_object_add(o, "action", json_object_new_string(e->action));
			json_object_object_add(o, "level", json_object_new_int64(e->level));
			json_object_object_add(o, "mode",
			                       e->mode ? json_object_new_string(e->mode) : NULL);
			json_object_object_add(
			    o, "reason", e->reason ? json_object_new_string(e->reason) : NULL);
			json_object_object_add(
			    o, "trigger", e->trigger ? json_object_new_string(e->trigger) : NULL);
			json_object_object_add(o, "evidence", strv_to_json(e->evidence));
			json_object_object_add(o, "components", strv_to_json(e->components));
			json_object_object_add(o, "modules", strv_to_json(e->modules));
			json_object_object_add(o, "files", strv_to_json(e->files));
			json_object_array_add(arr, o);
		} else {
			char buf[64];

			ctl_format_time(e->time, buf, sizeof(buf));
			printf("%s  boot #%u  %s by %s: level %u, mode %s\n", buf, e->boot_seq,
			       e->action, e->who, e->level, e->mode ? e->mode : "-");
			if (e->reason)
				printf("    %-11s %s\n", "reason:", e->reason);
			if (e->trigger)
				printf("    %-11s %s\n", "trigger:", e->trigger);
			print_list("components:", e->components);
			print_list("modules:", e->modules);
			print_list("files:", e->files);
			print_list("evidence:", e->evidence);
		}
	}
	if (ctx->json)
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
		                                             JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (shown == 0)
		printf(by_boot ? "No decision recorded for boot #%u.\n" : "No decision recorded.\n",
		       boot);
	history_done(&h);
	return CTL_EXIT_OK;
}
