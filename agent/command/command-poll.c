/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's command poller: conditional GETs of
 * <commands_url>/<machine-id>.cmd and all.cmd (the validators kept per URL
 * in the poller), new documents handed to command_process(), and the delay
 * until the next poll (the schedule itself, described in command.h, is
 * command-schedule.c's). */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command/command-internal.h"
#include "agent/command/command.h"
#include "agent/conf/config.h"
#include "agent/conf/machine-id.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/kv.h"
#include "common/log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)

#define FETCH_MAX (64 * 1024) /* past COMMAND_DOC_MAX: judged "too-long", not an error */

int64_t command_retry_after_parse(const char *v, int64_t now)
{
	time_t t;
	char *end;
	long long s;

	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		errno = 0;
		s = strtoll(v, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		return errno || *end ? -1 : s;
	}
	/* an HTTP-date (RFC 9110: IMF-fixdate, and the two obsolete forms) */
	t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -1;
	return (int64_t)t > now ? (int64_t)t - now : 0;
}

/* ---- one conditional GET ---- */

struct response {
	char *data;
	size_t size, max;
	bool overflow;
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct response *r = userdata;
	size_t len = size * n;
	char *d;

	if (r->size + len > r->max) {
		r->overflow = true;
		return 0;
	}
	d = realloc(r->data, r->size + len + 1);
	if (!d)
		return 0;
	memcpy(d + r->size, p, len);
	r->size += len;
	d[r->size] = 0;
	r->data = d;
	return len;
}

static int on_progress(void *userdata, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	const struct command_http *h = userdata;

	(void)a, (void)b, (void)c, (void)d;
	if (h->keepalive)
		h->keepalive(h->userdata);
	return 0;
}

static void copy_header(CURL *e, const char *name, char *buf, size_t size)
{
	struct curl_header *hd = NULL;

	buf[0] = 0;
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd->value &&
	    strlen(hd->value) < size && !strpbrk(hd->value, "\r\n"))
		memcpy(buf, hd->value, strlen(hd->value) + 1);
}

#define SET(opt, val)                                          \
	do {                                                   \
		if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
			return -EINVAL;                        \
	} while (0)

int command_fetch(CURL *e, const char *url, const struct command_http *h,
                  const struct command_url_state *st, int64_t now, struct command_fetched *ret)
{
	_cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
	struct response resp = {.max = FETCH_MAX};
	char line[COMMAND_ETAG_MAX + 32], ra[128];
	curl_off_t got = 0;
	long header_bytes = 0;
	CURLcode c;

	memset(ret, 0, sizeof(*ret));
	ret->retry_after = -1;
	curl_easy_reset(e);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, SPOOL_HTTP_CONNECT_TIMEOUT);
	SET(CURLOPT_TIMEOUT, SPOOL_HTTP_TOTAL_TIMEOUT);
	SET(CURLOPT_USERAGENT, "lifeline/" LIFELINE_VERSION);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, &resp);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, (void *)(uintptr_t)h);
	SET(CURLOPT_HTTPGET, 1L);
	if (spool_url_is_loopback(url))
		SET(CURLOPT_NOPROXY, "*");
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	if (h->client_cert)
		SET(CURLOPT_SSLCERT, h->client_cert);
	if (h->client_key)
		SET(CURLOPT_SSLKEY, h->client_key);
	/* the validators of the document last judged from this URL */
	if (st && st->etag[0]) {
		snprintf(line, sizeof(line), "If-None-Match: %s", st->etag);
		hdrs = curl_slist_append(hdrs, line);
		if (!hdrs)
			return -ENOMEM;
	}
	if (st && st->last_modified[0]) {
		struct curl_slist *n;

		snprintf(line, sizeof(line), "If-Modified-Since: %s", st->last_modified);
		n = curl_slist_append(hdrs, line);
		if (!n)
			return -ENOMEM;
		hdrs = n;
	}
	if (hdrs)
		SET(CURLOPT_HTTPHEADER, hdrs);

	c = curl_easy_perform(e);
	if (c != CURLE_OK) {
		free(resp.data);
		log_debug("%s: %s", url, curl_easy_strerror(c));
		switch (c) {
		case CURLE_COULDNT_CONNECT:
			return -ECONNREFUSED;
		case CURLE_OPERATION_TIMEDOUT:
			return -ETIMEDOUT;
		case CURLE_COULDNT_RESOLVE_HOST:
			return -EHOSTUNREACH;
		case CURLE_OUT_OF_MEMORY:
			return -ENOMEM;
		case CURLE_WRITE_ERROR:
			return resp.overflow ? -EFBIG : -EIO;
		default:
			return -EIO;
		}
	}
	(void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &ret->status);
	(void)curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &got);
	(void)curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &header_bytes);
	ret->bytes = (uint64_t)got + (uint64_t)(header_bytes > 0 ? header_bytes : 0);
	if (ret->status == 200) {
		copy_header(e, "ETag", ret->etag, sizeof(ret->etag));
		copy_header(e, "Last-Modified", ret->last_modified, sizeof(ret->last_modified));
		ret->body = resp.data ? resp.data : strdup("");
		ret->size = resp.size;
		if (!ret->body)
			return -ENOMEM;
		return 0;
	}
	free(resp.data);
	copy_header(e, "Retry-After", ra, sizeof(ra));
	if (ra[0])
		ret->retry_after = command_retry_after_parse(ra, now);
	return 0;
}

/* ---- the poller ---- */

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

/* The document of f was judged (or needs no judging): keep its validators
 * so the next GET is conditional. */
static void keep_validators(struct command_poller *p, int i, const struct command_fetched *f,
                            const char *sha)
{
	memcpy(p->url[i].etag, f->etag, sizeof(p->url[i].etag));
	memcpy(p->url[i].last_modified, f->last_modified, sizeof(p->url[i].last_modified));
	memcpy(p->seen[i], sha, sizeof(p->seen[i]));
}

static void forget(struct command_poller *p, int i)
{
	memset(&p->url[i], 0, sizeof(p->url[i]));
	p->seen[i][0] = 0;
}

/* ---- the poller's state file (a cache, key=value lines) ---- */

static void copy_value(char *dst, size_t size, const char *v)
{
	if (strlen(v) < size)
		memcpy(dst, v, strlen(v) + 1);
}

/* One key of the poller's cache (kv_parse() callback): failures, polls,
 * and per URL (0: <machine-id>.cmd, 1: all.cmd) seenN, etagN, modifiedN. */
static int state_key(const char *key, char *v, void *userdata)
{
	struct command_poller *p = userdata;
	char name[32];
	size_t len = strlen(key);
	int i;

	if (streq(key, "failures"))
		p->failures = (unsigned)strtoul(v, NULL, 10) % 64;
	else if (streq(key, "polls"))
		p->polls = strtoull(v, NULL, 10);
	else if (len > 1 && len < sizeof(name) && (i = key[len - 1] - '0', i == 0 || i == 1)) {
		memcpy(name, key, len - 1);
		name[len - 1] = 0;
		if (streq(name, "seen") && strlen(v) == 64 && !p->seen[i][0])
			copy_value(p->seen[i], sizeof(p->seen[i]), v);
		else if (streq(name, "etag"))
			copy_value(p->url[i].etag, sizeof(p->url[i].etag), v);
		else if (streq(name, "modified"))
			copy_value(p->url[i].last_modified, sizeof(p->url[i].last_modified), v);
	}
	return 0;
}

static void state_load(struct command_poller *p, const char *root)
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_POLL_STATE_FILE), *text = NULL;

	p->loaded = true;
	if (!path || read_full_file(path, 4096, &text, NULL) < 0)
		return;
	(void)kv_parse(text, state_key, p);
}

static void state_save(const struct command_poller *p, const char *root)
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_POLL_STATE_FILE),
	                    *dir = path_under_root(root, LIFELINE_STATE_DIR);
	char buf[2048];
	int n, r;

	if (!path || !dir)
		return;
	n = snprintf(buf, sizeof(buf),
	             "polls=%" PRIu64
	             "\nfailures=%u\nseen0=%s\netag0=%s\nmodified0=%s\nseen1=%s\netag1=%s\n"
	             "modified1=%s\n",
	             p->polls, p->failures, p->seen[0], p->url[0].etag, p->url[0].last_modified,
	             p->seen[1], p->url[1].etag, p->url[1].last_modified);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	r = mkdir_p(dir, 0755);
	if (r >= 0)
		r = write_file_atomic(path, buf, (size_t)n, 0644);
	if (r < 0)
		log_debug_errno(r, "Failed to write %s: %m", path);
}

static bool curl_ready;

int command_poll(struct command_poller *p, const char *root, const struct lifeline_config *cfg,
                 void (*keepalive)(void *userdata), void *userdata, int64_t now,
                 unsigned *ret_judged)
{
	struct command_http h = {.keepalive = keepalive, .userdata = userdata};
	_cleanup_free_ char *ca = NULL, *cert = NULL, *key = NULL;
	_cleanup_(curl_easy_cleanupp) CURL *e = NULL;
	struct command_fetched f[2] = {};
	struct command_seqs seqs;
	char *urls[2] = {}, mid[33], sha[2][65];
	bool fresh[2] = {};
	unsigned judged = 0, order[2] = {0, 1};
	int64_t retry_after = -1;
	bool failed = false, full;
	int r, result = 0;
	size_t base_len;

	if (ret_judged)
		*ret_judged = 0;
	p->next_delay_ms = command_poll_delay(cfg->commands_poll_interval, 0, -1);
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
	if (!p->loaded)
		state_load(p, root);
	if (command_seqs_read(root, &seqs) < 0)
		memset(&seqs, 0, sizeof(seqs));
	/* once, before any thread exists (curl_global_init(3)): the agent
	 * has none */
	if (!curl_ready)
		curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	if (!curl_ready || !(e = curl_easy_init())) {
		result = -ENOMEM;
		failed = true;
		goto out;
	}

	/* now and then without validators: they may miss a change */
	full = p->polls++ % COMMAND_POLL_FULL_EVERY == COMMAND_POLL_FULL_EVERY - 1;
	for (int i = 0; i < 2; i++) {
		if (!urls[i])
			continue;
		r = command_fetch(e, urls[i], &h, full ? NULL : &p->url[i], now, &f[i]);
		p->stats.requests++;
		p->stats.bytes += f[i].bytes;
		if (r < 0) {
			failed = true;
			if (result == 0)
				result = r;
			continue;
		}
		if (f[i].status == 304) {
			p->stats.not_modified++;
			continue;
		}
		if (f[i].status == 404) {
			forget(p, i);
			continue;
		}
		if (f[i].status != 200) {
			/* 429, 5xx and anything unexpected: back off */
			log_debug("%s: HTTP %ld", urls[i], f[i].status);
			failed = true;
			if (result == 0)
				result = -EPROTO;
			if (f[i].retry_after > retry_after)
				retry_after = f[i].retry_after;
			continue;
		}
		p->stats.full++;
		if (command_sha256_hex(f[i].body, f[i].size, sha[i]) < 0)
			continue;
		/* judged before (by this poller, or applied: the seq file) */
		if (streq(sha[i], p->seen[i]) || streq(sha[i], seqs.sha[COMMAND_SOURCE_ALL]) ||
		    streq(sha[i], seqs.sha[COMMAND_SOURCE_MACHINE])) {
			keep_validators(p, i, &f[i], sha[i]);
			continue;
		}
		fresh[i] = true;
	}
	if (fresh[0] && fresh[1] &&
	    peek_seq(f[1].body, f[1].size) < peek_seq(f[0].body, f[0].size)) {
		order[0] = 1;
		order[1] = 0;
	}
	for (int k = 0; k < 2; k++) {
		unsigned i = order[k];
		struct command_check chk;

		if (!fresh[i])
			continue;
		r = command_process(root, cfg, f[i].body, f[i].size, urls[i], NULL, now, &chk,
		                    NULL);
		if (r < 0) {
			/* Not judged (no key, seq file unreadable): fetched in
			 * full and tried again at the next poll. */
			log_debug_errno(r, "Cannot judge %s: %m", urls[i]);
			forget(p, (int)i);
			if (result == 0)
				result = r;
			continue;
		}
		keep_validators(p, (int)i, &f[i], sha[i]);
		command_check_done(&chk);
		judged++;
	}
out:
	p->failures = failed ? p->failures + 1 : 0;
	p->next_delay_ms =
	    command_poll_delay(cfg->commands_poll_interval, p->failures, retry_after);
	state_save(p, root);
	for (int i = 0; i < 2; i++) {
		free(urls[i]);
		free(f[i].body);
	}
	if (ret_judged)
		*ret_judged = judged;
	return result;
}
