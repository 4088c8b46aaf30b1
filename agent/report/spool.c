/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The report spool: every report is a file under SPOOL_DIR before it is
 * sent, named so the directory's sort order is the sending order (see
 * spool.h and spool-name.c); the sender posts the oldest first with
 * libcurl, removes a file only after a 2xx answer, backs off on failure
 * and keeps the directory within [report] spool_max by dropping the least
 * important reports first.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/config.h"
#include "agent/report/spool.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)

/* Request timeouts; tests shorten them (spool_set_http_timeouts()). */
static long http_connect_timeout = SPOOL_HTTP_CONNECT_TIMEOUT;
static long http_total_timeout = SPOOL_HTTP_TOTAL_TIMEOUT;

void spool_set_http_timeouts(long connect_seconds, long total_seconds)
{
	http_connect_timeout = connect_seconds > 0 ? connect_seconds : SPOOL_HTTP_CONNECT_TIMEOUT;
	http_total_timeout = total_seconds > 0 ? total_seconds : SPOOL_HTTP_TOTAL_TIMEOUT;
}
static int file_size_at(const char *dir, const char *name, uint64_t *ret)
{
	_cleanup_free_ char *p = path_join(dir, name);
	struct stat st;

	if (!p)
		return -ENOMEM;
	if (lstat(p, &st) < 0)
		return negative_errno();
	*ret = (uint64_t)st.st_size;
	return 0;
}

int spool_count(const char *root, unsigned *ret_n, uint64_t *ret_bytes)
{
	_cleanup_free_ char *dir = path_under_root(root, SPOOL_DIR);
	_cleanup_strv_free_ char **names = NULL;
	uint64_t bytes = 0;
	unsigned n = 0;
	int r;

	if (!dir)
		return -ENOMEM;
	r = spool_list(root, &names);
	if (r < 0)
		return r;
	STRV_FOREACH (name, names) {
		uint64_t sz;

		if (file_size_at(dir, *name, &sz) < 0)
			continue; /* sent and deleted meanwhile */
		bytes += sz;
		n++;
	}
	if (ret_n)
		*ret_n = n;
	if (ret_bytes)
		*ret_bytes = bytes;
	return 0;
}

enum spool_class spool_class_of(struct json_object *report)
{
	json_object *ev;
	const char *s;

	if (!json_object_object_get_ex(report, "event", &ev) || !(s = json_object_get_string(ev)))
		return SPOOL_CLASS_HEARTBEAT;
	if (streq(s, "mode-change"))
		return SPOOL_CLASS_MODE_CHANGE;
	if (streq(s, "heartbeat"))
		return SPOOL_CLASS_HEARTBEAT;
	return SPOOL_CLASS_OTHER;
}

/* A file that cannot be read back or parsed is the first thing to drop. */
static enum spool_class file_class(const char *path)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_(json_object_putp) json_object *o = NULL;

	if (read_full_file(path, SPOOL_FILE_MAX, &text, NULL) < 0)
		return SPOOL_CLASS_HEARTBEAT;
	o = json_tokener_parse(text);
	if (!o)
		return SPOOL_CLASS_HEARTBEAT;
	return spool_class_of(o);
}

struct spooled {
	char *name;
	uint64_t size;
	enum spool_class cls;
};

/* Makes room for need bytes under max_bytes, dropping by class, then age,
 * but never a report of a higher class than the new one (-ENOSPC then,
 * and nothing is dropped). */
static int make_room(const char *dir, char **names, uint64_t need, uint64_t max_bytes,
                     enum spool_class new_cls)
{
	_cleanup_free_ struct spooled *files = NULL;
	size_t n = 0, count = strv_length(names);
	uint64_t total = 0;

	files = calloc(count + 1, sizeof(*files));
	if (!files)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		uint64_t sz;

		if (file_size_at(dir, names[i], &sz) < 0)
			continue;
		files[n].name = names[i];
		files[n].size = sz;
		total += sz;
		n++;
	}
	if (total + need <= max_bytes)
		return 0;
	/* Only now read the files' classes: the common case costs a stat. */
	{
		uint64_t droppable = 0;

		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *p = path_join(dir, files[i].name);

			if (!p)
				return -ENOMEM;
			files[i].cls = file_class(p);
			if (files[i].cls <= new_cls)
				droppable += files[i].size;
		}
		if (total - droppable + need > max_bytes)
			return -ENOSPC;
	}
	for (int cls = SPOOL_CLASS_HEARTBEAT; cls <= (int)new_cls; cls++)
		for (size_t i = 0; i < n && total + need > max_bytes; i++) {
			_cleanup_free_ char *p = NULL;

			if (files[i].cls != (enum spool_class)cls)
				continue;
			p = path_join(dir, files[i].name);
			if (!p)
				return -ENOMEM;
			if (unlink(p) < 0 && errno != ENOENT)
				return negative_errno();
			log_debug("spool full: dropped %s (%" PRIu64 " bytes)", files[i].name,
			          files[i].size);
			total -= files[i].size;
		}
	return 0;
}

int spool_add(const char *root, uint64_t max_bytes, struct json_object *report, char **ret_path)
{
	_cleanup_free_ char *dir = path_under_root(root, SPOOL_DIR), *buf = NULL;
	_cleanup_strv_free_ char **names = NULL;
	char hex[SPOOL_ID_DIGITS + 1];
	json_object *idv;
	const char *text, *id;
	size_t len;
	int r;

	if (!dir)
		return -ENOMEM;
	text = json_object_to_json_string_ext(report, JSON_C_TO_STRING_PLAIN |
	                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if ((uint64_t)len + 1 > max_bytes)
		return -EFBIG;

	/* The id names the file: use the report's own when it is one. */
	if (json_object_object_get_ex(report, "id", &idv) && (id = json_object_get_string(idv)) &&
	    strlen(id) == SPOOL_ID_DIGITS && strspn(id, "0123456789abcdef") == SPOOL_ID_DIGITS)
		memcpy(hex, id, sizeof(hex));
	else
		spool_id_new(hex);

	r = mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	r = spool_list(root, &names);
	if (r < 0)
		return r;
	r = make_room(dir, names, (uint64_t)len + 1, max_bytes, spool_class_of(report));
	if (r < 0)
		return r;
	if (asprintf(&buf, "%s\n", text) < 0)
		return -ENOMEM;
	return spool_write(root, names, hex, buf, len + 1, ret_path);
}

bool spool_backoff_due(const struct spool_backoff *b, uint64_t now)
{
	return b->next_attempt == 0 || now >= b->next_attempt;
}

void spool_backoff_reset(struct spool_backoff *b)
{
	b->failures = 0;
	b->next_attempt = 0;
	b->delay = 0;
	b->last_status = 0;
	b->last_error[0] = 0;
}

void spool_backoff_failed(struct spool_backoff *b, uint64_t now)
{
	uint64_t d = SPOOL_BACKOFF_MIN;
	uint32_t rnd;

	if (b->failures < 1000)
		b->failures++;
	for (unsigned i = 1; i < b->failures && d < SPOOL_BACKOFF_MAX; i++)
		d *= 2;
	d = MIN(d, (uint64_t)SPOOL_BACKOFF_MAX);
	/* Up to a quarter less, at random: machines that lost the collector
	 * together do not come back in step. Each step still exceeds the
	 * previous one (0.75 * 2 > 1) until the cap. */
	spool_random_bytes(&rnd, sizeof(rnd));
	d -= rnd % (d / 4 + 1);
	b->delay = d;
	b->next_attempt = now + d;
}

/* ---- HTTP ---- */

bool spool_url_is_loopback(const char *url)
{
	const char *h, *end;
	size_t n;

	if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		h = url + 8;
	else
		return false;
	if (strchr(h, '@') && strchr(h, '@') < h + strcspn(h, "/"))
		return false; /* userinfo: keep it simple, not loopback */
	if (*h == '[') {
		end = strchr(h, ']');
		return end && (size_t)(end - h) == 4 && strncmp(h, "[::1]", 5) == 0;
	}
	n = strcspn(h, ":/?#");
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return true;
	if (n < 9 || strncmp(h, "127.", 4) != 0)
		return false;
	for (size_t i = 4; i < n; i++)
		if (!strchr("0123456789.", h[i]))
			return false;
	return true;
}

static int url_allowed(const char *url, bool allow_plain_http)
{
	if (strncmp(url, "https://", 8) == 0)
		return 0;
	if (strncmp(url, "http://", 7) == 0 && (allow_plain_http || spool_url_is_loopback(url)))
		return 0;
	return -EPERM;
}

struct response {
	char *data;
	size_t size, max;
	bool discard, overflow;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct response *resp = userdata;
	size_t n = size * nmemb;
	char *nd;

	if (resp->discard)
		return n;
	if (n > resp->max - resp->size) {
		resp->overflow = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	nd = realloc(resp->data, resp->size + n + 1);
	if (!nd)
		return 0;
	resp->data = nd;
	memcpy(resp->data + resp->size, ptr, n);
	resp->size += n;
	resp->data[resp->size] = 0;
	return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	const struct spool_http *h = userdata;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (h->keepalive)
		h->keepalive(h->userdata);
	return 0;
}

static int errno_of_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return -EPROTONOSUPPORT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return -EKEYREJECTED;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static int curl_init_once(void)
{
	static bool done;

	/* Before any thread exists (curl_global_init(3)); the agent has
	 * none. */
	if (!done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		done = true;
	}
	return 0;
}

#define CURL_SET(e, opt, val)                                        \
	do {                                                         \
		if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK) \
			return -EINVAL;                              \
	} while (0)

int spool_http_request(const struct spool_http *h, const char *url, const void *body, size_t size,
                       size_t max_response, long *ret_status, char **ret_body, size_t *ret_size,
                       char *ret_error)
{
	_cleanup_(curl_easy_cleanupp) CURL *e = NULL;
	_cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
	struct response resp = {.max = max_response, .discard = !ret_body};
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode c;
	int r;

	r = url_allowed(url, h->allow_plain_http);
	if (r < 0) {
		if (ret_error)
			snprintf(ret_error, 256,
			         "URL must be https:// (http:// only to a loopback host)");
		return r;
	}
	r = curl_init_once();
	if (r < 0)
		return r;
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;

	CURL_SET(e, CURLOPT_URL, url);
	CURL_SET(e, CURLOPT_PROTOCOLS_STR, "http,https");
	CURL_SET(e, CURLOPT_FOLLOWLOCATION, 0L);
	CURL_SET(e, CURLOPT_NOSIGNAL, 1L);
	CURL_SET(e, CURLOPT_CONNECTTIMEOUT, http_connect_timeout);
	CURL_SET(e, CURLOPT_TIMEOUT, http_total_timeout);
	CURL_SET(e, CURLOPT_USERAGENT, "lifeline/" LIFELINE_VERSION);
	CURL_SET(e, CURLOPT_ERRORBUFFER, errbuf);
	CURL_SET(e, CURLOPT_WRITEFUNCTION, on_data);
	CURL_SET(e, CURLOPT_WRITEDATA, &resp);
	CURL_SET(e, CURLOPT_NOPROGRESS, 0L);
	CURL_SET(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	CURL_SET(e, CURLOPT_XFERINFODATA, (void *)(uintptr_t)h);
	/* A loopback collector is never reached through a proxy from the
	 * environment. */
	if (spool_url_is_loopback(url))
		CURL_SET(e, CURLOPT_NOPROXY, "*");
	if (h->ca_file)
		CURL_SET(e, CURLOPT_CAINFO, h->ca_file);
	if (h->client_cert)
		CURL_SET(e, CURLOPT_SSLCERT, h->client_cert);
	if (h->client_key)
		CURL_SET(e, CURLOPT_SSLKEY, h->client_key);
	if (body) {
		headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (!headers)
			return -ENOMEM;
		CURL_SET(e, CURLOPT_HTTPHEADER, headers);
		CURL_SET(e, CURLOPT_POST, 1L);
		CURL_SET(e, CURLOPT_POSTFIELDS, body);
		CURL_SET(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
	} else
		CURL_SET(e, CURLOPT_HTTPGET, 1L);

	c = curl_easy_perform(e);
	if (c != CURLE_OK) {
		free(resp.data);
		if (ret_error)
			snprintf(ret_error, 256, "%s", *errbuf ? errbuf : curl_easy_strerror(c));
		log_debug("%s: %s", url, *errbuf ? errbuf : curl_easy_strerror(c));
		return resp.overflow ? -EFBIG : errno_of_curl(c);
	}
	(void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (ret_body) {
		if (!resp.data) {
			resp.data = strdup("");
			if (!resp.data)
				return -ENOMEM;
		}
		*ret_body = resp.data;
		if (ret_size)
			*ret_size = resp.size;
	}
	*ret_status = status;
	return 0;
}

static int open_lock(const char *dir)
{
	_cleanup_free_ char *p = path_join(dir, ".lock");
	_cleanup_close_ int fd = -1;

	if (!p)
		return -ENOMEM;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
	return TAKE_FD(fd);
}

int spool_flush(const char *root, const struct lifeline_config *cfg, struct spool_backoff *b,
                uint64_t now, bool force, void (*keepalive)(void *userdata), void *userdata,
                unsigned *ret_sent)
{
	_cleanup_free_ char *dir = path_under_root(root, SPOOL_DIR), *ca = NULL, *cert = NULL,
	                    *key = NULL;
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_close_ int lock = -1;
	struct spool_http h = {.keepalive = keepalive, .userdata = userdata};
	unsigned sent = 0;
	int r;

	if (!dir)
		return -ENOMEM;
	if (ret_sent)
		*ret_sent = 0;
	if (!cfg->report_url || !*cfg->report_url)
		return 0;
	if (!force && !spool_backoff_due(b, now))
		return -EAGAIN;

	if ((cfg->report_ca_file &&
	     !(h.ca_file = ca = path_under_root(root, cfg->report_ca_file))) ||
	    (cfg->report_client_cert &&
	     !(h.client_cert = cert = path_under_root(root, cfg->report_client_cert))) ||
	    (cfg->report_client_key &&
	     !(h.client_key = key = path_under_root(root, cfg->report_client_key))))
		return -ENOMEM;

	r = spool_list(root, &names);
	if (r < 0)
		return r;
	if (!names[0]) {
		spool_backoff_reset(b);
		return 0;
	}
	lock = open_lock(dir);
	if (lock < 0)
		return lock;

	STRV_FOREACH (name, names) {
		_cleanup_free_ char *p = path_join(dir, *name), *text = NULL;
		_cleanup_(json_object_putp) json_object *o = NULL;
		size_t size = 0;
		long status = 0;

		if (!p)
			return -ENOMEM;
		r = read_full_file(p, SPOOL_FILE_MAX, &text, &size);
		if (r == -ENOENT)
			continue; /* another flush sent it before we took the lock */
		/* A file that is not a JSON object would be refused forever and
		 * block every report behind it. Atomic writes never leave a
		 * torn one; this is for a damaged disk. */
		if (r < 0 || !(o = json_tokener_parse(text)) ||
		    !json_object_is_type(o, json_type_object)) {
			log_debug("spool: dropping unreadable %s", *name);
			(void)unlink(p);
			continue;
		}
		r = spool_http_request(&h, cfg->report_url, text, size, 0, &status, NULL, NULL,
		                       b->last_error);
		if (r >= 0 && (status < 200 || status > 299)) {
			snprintf(b->last_error, sizeof(b->last_error),
			         "collector answered HTTP %ld", status);
			r = -EPROTO;
		}
		if (r < 0) {
			b->last_status = status;
			spool_backoff_failed(b, now);
			if (ret_sent)
				*ret_sent = sent;
			return r;
		}
		fault_point("spool-sent-before-unlink");
		/* Delivered: a power cut before this unlink sends it once more
		 * (at-least-once); the report id lets the collector drop the
		 * duplicate. */
		if (unlink(p) < 0 && errno != ENOENT)
			return negative_errno();
		sent++;
	}
	(void)fsync_path(dir);
	spool_backoff_reset(b);
	if (ret_sent)
		*ret_sent = sent;
	return 0;
}
