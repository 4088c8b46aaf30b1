/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The report spool (docs/design.md "Remote control"): every report is first
 * written to <root>/var/lib/lifeline/spool/<time>-<id>.json (atomic write,
 * so it survives a crash or a reboot), then sent, oldest first, by HTTP(S)
 * POST to [report] url; a file is deleted only after a 2xx answer.
 *
 *   <time>  microseconds since the epoch, 16 digits (names sort in the
 *           order the reports were made: never below the newest name
 *           in the spool, even after the clock was set back)
 *   <id>    the report's "id" (32 hex digits)
 *
 * The spool is bounded by [report] spool_max bytes: when a new report does
 * not fit, the oldest heartbeats are dropped first, then the oldest other
 * reports (start, manual, command), and mode-change reports last, but a
 * report never pushes out one of a higher class: a heartbeat that finds the
 * spool full of mode changes is refused (-ENOSPC). A report that alone is
 * larger than the bound is refused (-EFBIG).
 *
 * A failed send backs off exponentially (30 s doubling to 1 h, up to a
 * quarter less at random, so a fleet does not retry in step) so that the
 * daemon does not hammer a dead collector.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct lifeline_config;

#define SPOOL_DIR         "/var/lib/lifeline/spool"
#define SPOOL_BACKOFF_MIN 30u           /* seconds */
#define SPOOL_BACKOFF_MAX 3600u         /* seconds */
#define SPOOL_FILE_MAX    (1024 * 1024) /* largest spool file read back */
#define SPOOL_TIME_DIGITS 16
#define SPOOL_ID_DIGITS   32
#define SPOOL_NAME_LEN    (SPOOL_TIME_DIGITS + 1 + SPOOL_ID_DIGITS + 5)
#define SPOOL_TIME_MAX    9999999999999999ULL /* the largest SPOOL_TIME_DIGITS number */

/* Timeouts of every request (seconds): a collector that accepts and never
 * answers (or drips) costs at most SPOOL_HTTP_TOTAL_TIMEOUT per flush. */
#define SPOOL_HTTP_CONNECT_TIMEOUT 10L
#define SPOOL_HTTP_TOTAL_TIMEOUT   30L

/* For tests: other timeouts (seconds; 0 restores the default). */
void spool_set_http_timeouts(long connect_seconds, long total_seconds);

/* Drop priority of a report (lowest dropped first). */
enum spool_class {
	SPOOL_CLASS_HEARTBEAT = 0,
	SPOOL_CLASS_OTHER = 1,
	SPOOL_CLASS_MODE_CHANGE = 2,
};

struct spool_backoff {
	unsigned failures;     /* consecutive failed flushes */
	uint64_t next_attempt; /* caller's clock, seconds; 0 = now */
	uint64_t delay;        /* the last delay chosen, seconds */
	long last_status;      /* HTTP status of the last failure, 0 if none came */
	unsigned dropped;      /* reports the collector refused for good (HTTP 4xx
	                        * other than 408 and 429) and that were deleted
	                        * unsent; only spool_flush() adds to it */
	char last_error[256];  /* what went wrong, for the caller's log line */
};

/* The transport options of one request. Paths are used as given. */
struct spool_http {
	const char *ca_file;     /* NULL: the system's CA store */
	const char *client_cert; /* PEM; NULL: no client certificate */
	const char *client_key;
	bool allow_plain_http; /* false: http:// only to a loopback host */
	/* Called about once a second while a request runs (e.g. to keep the
	 * systemd watchdog fed across a 30 s timeout). May be NULL. */
	void (*keepalive)(void *userdata);
	void *userdata;
};

/* Adds report to the spool under root, bounded by max_bytes (see above).
 * ret_path (may be NULL) gets the file written. -EFBIG when the report
 * alone exceeds max_bytes (max_bytes 0: nothing is ever spooled), -ENOSPC
 * when only reports of a higher class could make room. */
int spool_add(const char *root, uint64_t max_bytes, struct json_object *report, char **ret_path);

/* ---- names and files (spool-name.c: libc only, in lifeline-early) ---- */

/* The spooled file names (not paths), oldest first. An absent spool is an
 * empty list. Also removes temp files a crash left behind. */
int spool_list(const char *root, char ***ret_names);
/* True for a name as above. */
bool spool_name_is_valid(const char *name);
/* The <time> of a new name: now_us, or one above the newest of names
 * (sorted, as spool_list() gives them) when that is not below now_us. */
uint64_t spool_name_time(char *const *names, uint64_t now_us);
/* A new random report id (32 hex digits). */
void spool_id_new(char ret[SPOOL_ID_DIGITS + 1]);
/* Writes text durably as the spool file of a report with id, named by
 * spool_name_time() (names: the spool as listed before room was made).
 * The caller made room and created the directory. ret_path may be NULL. */
int spool_write(const char *root, char *const *names, const char *id, const void *text, size_t size,
                char **ret_path);

/* How many reports and bytes are spooled. */
int spool_count(const char *root, unsigned *ret_n, uint64_t *ret_bytes);

/* The drop class of a report object (by its "event"). */
enum spool_class spool_class_of(struct json_object *report);

/* Sends the spooled reports oldest first to cfg->report_url, stopping at
 * the first failure. TLS files come from cfg (under root). Unless force,
 * nothing is tried before b->next_attempt (-EAGAIN). Success resets the
 * back-off; a failure advances it (b->last_error says why). A report the
 * collector refuses for good (spool_status_is_permanent()) is logged with
 * the status and its id, deleted and counted in b->dropped, and the
 * reports behind it still go: it never blocks the spool. ret_sent (may
 * be NULL) gets the number delivered and deleted.
 * Returns 0 when the spool is empty afterwards or no URL is configured,
 * -EBUSY when another process is flushing, -EAGAIN as said, or the
 * failure: -ECONNREFUSED, -ETIMEDOUT, -EPROTO (non-2xx answer), ... */
int spool_flush(const char *root, const struct lifeline_config *cfg, struct spool_backoff *b,
                uint64_t now, bool force, void (*keepalive)(void *userdata), void *userdata,
                unsigned *ret_sent);

/* True for an HTTP answer that retrying cannot change: a 4xx about the
 * report itself (400, 413, 415, 422...). 408 (request timeout), 429 (too
 * many requests), 401/403/404 (a wrong address or credentials, which an
 * admin fixes: the reports must still be there then), 5xx and no answer
 * at all are retried with the back-off. */
bool spool_status_is_permanent(long status);

/* True when a flush is due at now. */
bool spool_backoff_due(const struct spool_backoff *b, uint64_t now);
void spool_backoff_failed(struct spool_backoff *b, uint64_t now);
void spool_backoff_reset(struct spool_backoff *b);

/* One HTTP request: a POST of body (Content-Type: application/json) when
 * body is not NULL, else a GET. Returns 0 when an answer came (whatever
 * its status, in *ret_status), with up to max_response bytes of it in
 * *ret_body (NUL-terminated; NULL ret_body discards it; a longer answer
 * is -EFBIG); -EPERM for a URL that is not https:// (or http:// allowed
 * as said above); -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -EKEYREJECTED
 * (TLS), ... when none came. ret_error (may be NULL, 256 bytes) gets
 * curl's text for a failure. */
int spool_http_request(const struct spool_http *h, const char *url, const void *body, size_t size,
                       size_t max_response, long *ret_status, char **ret_body, size_t *ret_size,
                       char *ret_error);

/* True for an http(s) URL whose host is 127.0.0.0/8, ::1 or localhost
 * (config_url_is_loopback()). */
bool spool_url_is_loopback(const char *url);

/* Whether a request to url may be made: 0 for https://, and for http://
 * to a loopback host or with allow_plain_http ([report] allow_http);
 * -EPERM for anything else. spool_flush() passes cfg->report_allow_http. */
int spool_url_allowed(const char *url, bool allow_plain_http);

/* Fills buf with n random bytes (getrandom, never blocks for long;
 * spool-name.c). */
void spool_random_bytes(void *buf, size_t n);
