/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's command poller: fetches <commands_url>/<machine-id>.cmd and
 * all.cmd and hands new documents to command_process(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command/command-internal.h"
#include "agent/command/command.h"
#include "agent/conf/config.h"
#include "agent/conf/machine-id.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/log.h"

/* ---- polling ---- */

/* The seq a document claims, unverified: only to try lower ones first. */
static uint64_t peek_seq(const char *doc, size_t size)
{
	_cleanup_(json_tokener_freep) json_tokener *tok = json_tokener_new();
	_cleanup_(json_object_putp) json_object *o = NULL;
	const char *nl = memchr(doc, '\n', size);
	json_object *v;

	if (!tok || !nl || nl - doc > COMMAND_BODY_MAX)
		return UINT64_MAX;
	o = json_tokener_parse_ex(tok, doc, (int)(nl - doc));
	if (!o || !json_object_object_get_ex(o, "seq", &v) ||
	    !json_object_is_type(v, json_type_int))
		return UINT64_MAX;
	return (uint64_t)json_object_get_int64(v);
}

int command_poll(struct command_poller *p, const char *root, const struct lifeline_config *cfg,
                 void (*keepalive)(void *userdata), void *userdata, int64_t now,
                 unsigned *ret_judged)
{
	struct spool_http h = {
	    .allow_plain_http = true, .keepalive = keepalive, .userdata = userdata};
	_cleanup_free_ char *ca = NULL, *cert = NULL, *key = NULL;
	char *urls[2] = {}, *docs[2] = {}, mid[33], last_sha[65] = "", sha[2][65];
	size_t sizes[2] = {};
	uint64_t last = 0;
	unsigned judged = 0, order[2] = {0, 1};
	int r, result = 0;
	size_t base_len;

	if (ret_judged)
		*ret_judged = 0;
	if (!cfg->commands_url || !*cfg->commands_url)
		return 0;
	base_len = strlen(cfg->commands_url);
	while (base_len > 0 && cfg->commands_url[base_len - 1] == '/')
		base_len--;
	/* Documents are signed: plain http cannot forge one, so any static
	 * web server will do. An https server is verified with the fleet's
	 * TLS settings of [report] (ca_file, client certificate): typically
	 * the same fleet server and private CA. */
	if (cfg->report_ca_file && *cfg->report_ca_file)
		h.ca_file = ca = path_under_root(root, cfg->report_ca_file);
	if (cfg->report_client_cert && *cfg->report_client_cert)
		h.client_cert = cert = path_under_root(root, cfg->report_client_cert);
	if (cfg->report_client_key && *cfg->report_client_key)
		h.client_key = key = path_under_root(root, cfg->report_client_key);
	if (machine_id_read(root, mid) >= 0 &&
	    asprintf(&urls[0], "%.*s/%s.cmd", (int)base_len, cfg->commands_url, mid) < 0)
		urls[0] = NULL;
	if (asprintf(&urls[1], "%.*s/all.cmd", (int)base_len, cfg->commands_url) < 0)
		urls[1] = NULL;
	(void)command_seq_read(root, &last, last_sha);

	for (int i = 0; i < 2; i++) {
		long status = 0;

		if (!urls[i])
			continue;
		r = spool_http_request(&h, urls[i], NULL, 0, SPOOL_FILE_MAX, &status, &docs[i],
		                       &sizes[i], NULL);
		if (r < 0 || status != 200) {
			if (r >= 0 && status != 404) {
				log_debug("%s: HTTP %ld", urls[i], status);
				r = -EPROTO;
			}
			if (r < 0 && result == 0)
				result = r;
			free(docs[i]);
			docs[i] = NULL;
			if (status == 404)
				p->seen[i][0] = 0;
			continue;
		}
		if (command_sha256_hex(docs[i], sizes[i], sha[i]) < 0 ||
		    streq(sha[i], p->seen[i]) || streq(sha[i], last_sha)) {
			memcpy(p->seen[i], sha[i], sizeof(sha[i]));
			free(docs[i]);
			docs[i] = NULL;
		}
	}
	if (docs[0] && docs[1] && peek_seq(docs[1], sizes[1]) < peek_seq(docs[0], sizes[0])) {
		order[0] = 1;
		order[1] = 0;
	}
	for (int k = 0; k < 2; k++) {
		unsigned i = order[k];
		struct command_check chk;

		if (!docs[i])
			continue;
		r = command_process(root, cfg, docs[i], sizes[i], urls[i], NULL, now, &chk, NULL);
		if (r < 0) {
			/* Not judged (no key, seq file unreadable): try again
			 * at the next poll. */
			log_debug_errno(r, "Cannot judge %s: %m", urls[i]);
			if (result == 0)
				result = r;
			continue;
		}
		memcpy(p->seen[i], sha[i], sizeof(sha[i]));
		command_check_done(&chk);
		judged++;
	}
	for (int i = 0; i < 2; i++) {
		free(urls[i]);
		free(docs[i]);
	}
	if (ret_judged)
		*ret_judged = judged;
	return result;
}
