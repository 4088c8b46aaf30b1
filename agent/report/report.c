/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Report documents with json-c (report.h): building one for the machine
 * under a root, its journal entry, and report_emit() to the spool, the
 * journal and the metrics file; mode-change detection for lifelined.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/config.h"
#include "efi/store.h"
#include "agent/conf/machine-id.h"
#include "agent/report/metrics.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/ops/ops.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store *, store_free)

static void config_donep(struct lifeline_config *c)
{
	config_done(c);
}

static const char *const event_names[_REPORT_EVENT_MAX] = {
    [REPORT_EVENT_HEARTBEAT] = "heartbeat",     [REPORT_EVENT_START] = "start",
    [REPORT_EVENT_MODE_CHANGE] = "mode-change", [REPORT_EVENT_COMMAND] = "command",
    [REPORT_EVENT_MANUAL] = "manual",           [REPORT_EVENT_UNBLESSED] = "unblessed",
};

const char *report_event_to_string(enum report_event e)
{
	return (unsigned)e < _REPORT_EVENT_MAX ? event_names[e] : NULL;
}

static json_object *string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *strv_array(char *const *l)
{
	json_object *a = json_object_new_array();

	for (char *const *s = l; s && *s; s++)
		json_object_array_add(a, json_object_new_string(*s));
	return a;
}

static json_object *machine_object(const char *root)
{
	json_object *o = json_object_new_object();
	_cleanup_free_ char *host = report_hostname(root);
	char mid[33];
	struct utsname u;

	if (!o)
		return NULL;
	json_object_object_add(
	    o, "machine_id", machine_id_read(root, mid) >= 0 ? json_object_new_string(mid) : NULL);
	json_object_object_add(o, "hostname", string_or_null(host));
	json_object_object_add(o, "kernel",
	                       uname(&u) >= 0 ? json_object_new_string(u.release) : NULL);
	json_object_object_add(o, "agent_version", json_object_new_string(LIFELINE_VERSION));
	return o;
}

/* ret_rec gets the record when it could be read (or is a new one). */
static json_object *state_object(const struct lifeline_config *cfg, struct state_record *ret_rec,
                                 bool *ret_have_rec)
{
	_cleanup_(store_freep) struct store *store = NULL;
	json_object *o = json_object_new_object(), *m;
	struct state_record rec;
	int r;

	*ret_have_rec = false;
	if (!o)
		return NULL;
	r = config_open_store(cfg, &store, NULL);
	if (r < 0) {
		char buf[256];

		snprintf(buf, sizeof(buf), "no state store available: %s", strerror(-r));
		json_object_object_add(o, "store", NULL);
		json_object_object_add(o, "error", json_object_new_string(buf));
		return o;
	}
	json_object_object_add(o, "store",
	                       json_object_new_string(store_kind_to_string(store->kind)));
	r = store_load(store, &rec);
	if (r < 0 && r != -ENOENT) {
		json_object_object_add(o, "error",
		                       json_object_new_string(state_record_strerror(r)));
		return o;
	}
	if (r == -ENOENT)
		state_record_init(&rec);
	*ret_rec = rec;
	*ret_have_rec = true;
	json_object_object_add(o, "record", json_object_new_boolean(r == 0));
	json_object_object_add(o, "boot_seq", json_object_new_int64(rec.boot_seq));
	json_object_object_add(o, "failures", json_object_new_int64(rec.failures));
	json_object_object_add(o, "threshold", json_object_new_int64(cfg->threshold));
	json_object_object_add(o, "mode",
	                       json_object_new_string(strempty(state_mode_to_string(rec.mode))));
	json_object_object_add(o, "level", json_object_new_int64(rec.level));
	json_object_object_add(o, "generation", json_object_new_int64(rec.generation));
	m = json_object_new_array();
	for (unsigned i = 0; i < rec.n_modules; i++)
		json_object_array_add(m, json_object_new_string(rec.modules[i]));
	json_object_object_add(o, "modules_blocked", m);
	if (rec.last_blessed_seq > 0) {
		json_object *lg = json_object_new_object();

		json_object_object_add(lg, "boot_seq", json_object_new_int64(rec.last_blessed_seq));
		json_object_object_add(lg, "time",
		                       json_object_new_int64((int64_t)rec.last_blessed_time));
		json_object_object_add(o, "last_good", lg);
	} else
		json_object_object_add(o, "last_good", NULL);
	return o;
}

static json_object *this_boot_object(const struct runstate *rs, const struct state_record *rec)
{
	json_object *o = json_object_new_object();
	const char *why = NULL;
	bool reboot = rec && ops_reboot_required(rec, rs, &why);

	if (!o)
		return NULL;
	json_object_object_add(o, "mode", string_or_null(rs->mode));
	json_object_object_add(o, "action", string_or_null(rs->action));
	json_object_object_add(o, "reason", string_or_null(rs->reason));
	json_object_object_add(o, "evidence", strv_array(rs->evidence));
	json_object_object_add(o, "quarantine", strv_array(rs->quarantine));
	json_object_object_add(o, "error", string_or_null(rs->error));
	json_object_object_add(o, "reboot_required", json_object_new_boolean(reboot));
	json_object_object_add(o, "reboot_reason", string_or_null(why));
	return o;
}

static json_object *quarantined_array(const char *root, const struct runstate *rs)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	json_object *a = json_object_new_array();
	unsigned n = 0, decided = 0;

	if (!a)
		return NULL;
	if (quarantine_active_read(root, &active, &n) < 0)
		n = 0;
	for (unsigned i = 0; i < n; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "component", json_object_new_string(active[i].id));
		json_object_object_add(e, "generation",
		                       json_object_new_int64(active[i].generation));
		json_object_object_add(e, "level", json_object_new_int64(active[i].level));
		/* degraded (docs/degrade.md): only its kernel part is off, the
		 * product runs in user mode */
		json_object_object_add(e, "degraded", json_object_new_boolean(active[i].degraded));
		json_object_array_add(a, e);
	}
	/* Decided in this boot but not (yet) in the durable list: the rootfs
	 * phase may not have written it. Once it has (quarantine/decided at
	 * this boot's generation), the active list is the whole truth: a
	 * clear since removed them. */
	if (rs && quarantine_decided_read(root, &decided) >= 0 && decided >= rs->generation)
		rs = NULL;
	if (rs)
		STRV_FOREACH (id, rs->quarantine) {
			bool found = false;
			json_object *e;

			for (unsigned i = 0; i < n && !found; i++)
				found = streq(active[i].id, *id);
			if (found)
				continue;
			e = json_object_new_object();
			json_object_object_add(e, "component", json_object_new_string(*id));
			json_object_object_add(e, "generation",
			                       json_object_new_int64(rs->generation));
			json_object_object_add(e, "level", json_object_new_int64(rs->level));
			json_object_object_add(e, "degraded", json_object_new_boolean(false));
			json_object_array_add(a, e);
		}
	return a;
}

static int report_build_cfg(const char *root, const struct lifeline_config *cfg,
                            struct json_object **ret)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	_cleanup_free_ char *rs_path = path_under_root(root, RUNSTATE_FILE);
	struct state_record rec;
	struct runstate rs;
	bool have_rs, have_rec;
	char id[SPOOL_ID_DIGITS + 1];

	if (!o || !rs_path)
		return -ENOMEM;
	spool_id_new(id);

	runstate_init(&rs);
	have_rs = runstate_read(rs_path, &rs) >= 0;

	json_object_object_add(o, "version", json_object_new_int(REPORT_FORMAT_VERSION));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "machine", machine_object(root));
	json_object_object_add(o, "state", state_object(cfg, &rec, &have_rec));
	json_object_object_add(o, "this_boot",
	                       have_rs ? this_boot_object(&rs, have_rec ? &rec : NULL) : NULL);
	json_object_object_add(o, "quarantined", quarantined_array(root, have_rs ? &rs : NULL));
	runstate_done(&rs);
	*ret = TAKE_PTR(o);
	return 0;
}

static int load_config(const char *root, struct lifeline_config *cfg)
{
	config_init_defaults(cfg);
	/* A bad key is logged by the loader and keeps its default. */
	(void)config_load(root, cfg);
	return 0;
}

int report_build(const char *root, struct json_object **ret)
{
	_cleanup_(config_donep) struct lifeline_config cfg;

	load_config(root, &cfg);
	return report_build_cfg(root, &cfg, ret);
}

static void set_event(json_object *o, enum report_event event)
{
	json_object_object_add(o, "event", json_object_new_string(report_event_to_string(event)));
}

int report_build_config(const char *root, const struct lifeline_config *cfg,
                        enum report_event event, struct json_object **ret)
{
	json_object *o;
	int r;

	r = report_build_cfg(root, cfg, &o);
	if (r < 0)
		return r;
	set_event(o, event);
	*ret = o;
	return 0;
}

int report_build_event(const char *root, enum report_event event, struct json_object **ret)
{
	json_object *o;
	int r;

	r = report_build(root, &o);
	if (r < 0)
		return r;
	set_event(o, event);
	*ret = o;
	return 0;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

const char *report_mode(struct json_object *report)
{
	json_object *state = get(report, "state");
	const char *m;

	if (!state || get_str(state, "error"))
		return "unreadable";
	m = get_str(state, "mode");
	return m ? m : "unreadable";
}

static int add_field(char ***l, const char *key, const char *value)
{
	char *s;

	if (!value)
		return 0;
	if (asprintf(&s, "%s=%s", key, value) < 0)
		return -ENOMEM;
	return strv_consume(l, s);
}

static int add_field_int(char ***l, const char *key, json_object *v)
{
	char buf[32];

	if (!v || !json_object_is_type(v, json_type_int))
		return 0;
	snprintf(buf, sizeof(buf), "%" PRId64, json_object_get_int64(v));
	return add_field(l, key, buf);
}

int report_journal_fields(struct json_object *report, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL, **ids = NULL;
	_cleanup_free_ char *msg = NULL, *q = NULL;
	json_object *state = get(report, "state"), *boot = get(report, "this_boot"),
	            *cmd = get(report, "command"), *qa = get(report, "quarantined");
	const char *event = get_str(report, "event"), *mode = report_mode(report);
	bool loud;
	int r = 0;

	if (qa && json_object_is_type(qa, json_type_array))
		for (size_t i = 0; i < json_object_array_length(qa); i++) {
			const char *id = get_str(json_object_array_get_idx(qa, i), "component");
			if (id && (r = strv_extend(&ids, id)) < 0)
				return r;
		}
	q = strv_join(ids, " ");
	if (!q)
		return -ENOMEM;
	if (cmd)
		r = asprintf(&msg, "lifeline: command %s: %s%s%s", strempty(get_str(cmd, "result")),
		             strempty(get_str(cmd, "reason")), get_str(cmd, "detail") ? ": " : "",
		             strempty(get_str(cmd, "detail")));
	else if (get(report, "unblessed"))
		r = asprintf(&msg, "lifeline: boot not blessed: %s",
		             strempty(get_str(get(report, "unblessed"), "reason")));
	else if (streq(mode, "unreadable"))
		r = asprintf(&msg, "lifeline %s report: state record unreadable: %s",
		             strempty(event), strempty(get_str(state, "error")));
	else
		r = asprintf(&msg,
		             "lifeline %s report: mode %s, level %" PRId64 ", %" PRId64
		             " consecutive failed boot(s), quarantined: %s",
		             strempty(event), mode, json_object_get_int64(get(state, "level")),
		             json_object_get_int64(get(state, "failures")), *q ? q : "nothing");
	if (r < 0)
		return -ENOMEM;
	loud = !streq(mode, "normal") || streq_ptr(get_str(cmd, "result"), "rejected") ||
	       get(report, "unblessed");

	if ((r = add_field(&l, "MESSAGE", msg)) < 0 ||
	    (r = add_field(&l, "MESSAGE_ID", REPORT_MESSAGE_ID)) < 0 ||
	    (r = add_field(&l, "PRIORITY", loud ? "4" : "6")) < 0 ||
	    (r = add_field(&l, "SYSLOG_IDENTIFIER", "lifeline")) < 0 ||
	    (r = add_field(&l, "LIFELINE_EVENT", event)) < 0 ||
	    (r = add_field(&l, "LIFELINE_REPORT_ID", get_str(report, "id"))) < 0 ||
	    (r = add_field(&l, "LIFELINE_MODE", mode)) < 0 ||
	    (r = add_field_int(&l, "LIFELINE_LEVEL", get(state, "level"))) < 0 ||
	    (r = add_field_int(&l, "LIFELINE_FAILURES", get(state, "failures"))) < 0 ||
	    (r = add_field_int(&l, "LIFELINE_BOOT_SEQ", get(state, "boot_seq"))) < 0 ||
	    (r = add_field(&l, "LIFELINE_STATE_ERROR", get_str(state, "error"))) < 0 ||
	    (r = add_field(&l, "LIFELINE_QUARANTINED", q)) < 0 ||
	    (r = add_field(&l, "LIFELINE_REASON", get_str(boot, "reason"))) < 0 ||
	    (r = add_field(&l, "LIFELINE_UNBLESSED", get_str(get(report, "unblessed"), "reason"))) <
	        0 ||
	    (r = add_field(&l, "LIFELINE_COMMAND_RESULT", get_str(cmd, "result"))) < 0 ||
	    (r = add_field(&l, "LIFELINE_COMMAND_REASON", get_str(cmd, "reason"))) < 0 ||
	    (r = add_field_int(&l, "LIFELINE_COMMAND_SEQ", get(cmd, "seq"))) < 0)
		return r;
	*ret = TAKE_PTR(l);
	return 0;
}

int report_journal_send(struct json_object *report)
{
	_cleanup_strv_free_ char **fields = NULL;
	_cleanup_free_ struct iovec *iov = NULL;
	size_t n;
	int r;

	r = report_journal_fields(report, &fields);
	if (r < 0)
		return r;
	n = strv_length(fields);
	iov = calloc(n, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = fields[i];
		iov[i].iov_len = strlen(fields[i]);
	}
	return sd_journal_sendv(iov, (int)n);
}

/* The textfile directory: [report] metrics_dir, or METRICS_DIR (NULL). */
static const char *metrics_dir(const struct lifeline_config *cfg)
{
	return cfg->report_metrics_dir;
}

int report_emit(const char *root, const struct lifeline_config *cfg, struct json_object *report)
{
	unsigned spooled = 0;
	int r = 0, k;

	if (cfg->report_url && *cfg->report_url) {
		r = spool_add(root, cfg->report_spool_max, report, NULL);
		if (r < 0)
			log_debug_errno(r, "Failed to spool report: %m");
	}
	k = report_journal_send(report);
	if (k < 0)
		log_debug_errno(k, "Failed to send report to the journal: %m");
	(void)spool_count(root, &spooled, NULL);
	k = metrics_write(root, metrics_dir(cfg), report, spooled);
	if (k < 0)
		log_debug_errno(k, "Failed to write %s/%s: %m",
		                metrics_dir(cfg) ? metrics_dir(cfg) : METRICS_DIR, METRICS_NAME);
	return r;
}

int report_unblessed(const char *root, const struct lifeline_config *cfg, const char *why)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	json_object *u;
	int r;

	r = report_build_config(root, cfg, REPORT_EVENT_UNBLESSED, &o);
	if (r < 0)
		return r;
	u = json_object_new_object();
	if (!u)
		return -ENOMEM;
	json_object_object_add(u, "reason", json_object_new_string(why ? why : "a check failed"));
	json_object_object_add(o, "unblessed", u);
	return report_emit(root, cfg, o);
}

/* ---- mode changes and the spool ---- */

static int mode_file_read(const char *root, char **ret)
{
	_cleanup_free_ char *p = path_under_root(root, REPORT_MODE_FILE), *text = NULL;
	int r;

	if (!p)
		return -ENOMEM;
	r = read_full_file(p, 64, &text, NULL);
	if (r < 0)
		return r;
	text[strcspn(text, "\n")] = 0;
	*ret = TAKE_PTR(text);
	return 0;
}

static int mode_file_write(const char *root, const char *mode)
{
	_cleanup_free_ char *p = path_under_root(root, REPORT_MODE_FILE), *buf = NULL;
	char *slash;
	int r;

	if (!p || asprintf(&buf, "%s\n", mode) < 0)
		return -ENOMEM;
	slash = strrchr(p, '/');
	*slash = 0;
	r = mkdir_p(p, 0755);
	*slash = '/';
	if (r < 0)
		return r;
	return write_file_atomic(p, buf, strlen(buf), 0644);
}

int report_metrics_refresh(const char *root, const struct lifeline_config *cfg)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	unsigned spooled = 0;
	int r;

	r = report_build_cfg(root, cfg, &o);
	if (r < 0)
		return r;
	(void)spool_count(root, &spooled, NULL);
	return metrics_write(root, metrics_dir(cfg), o, spooled);
}

int report_mode_change(const char *root, const struct lifeline_config *cfg,
                       enum report_event fallback, bool only_outside_normal)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	_cleanup_free_ char *last = NULL;
	enum report_event event;
	const char *mode;
	bool changed;
	int r;

	r = report_build_cfg(root, cfg, &o);
	if (r < 0)
		return r;
	mode = report_mode(o);
	r = mode_file_read(root, &last);
	if (r < 0 && r != -ENOENT)
		log_debug_errno(r, "Failed to read %s: %m", REPORT_MODE_FILE);
	/* No file yet: a first start in normal mode is no change. */
	changed = last ? !streq(last, mode) : !streq(mode, "normal");
	if (changed)
		event = REPORT_EVENT_MODE_CHANGE;
	else if (fallback < _REPORT_EVENT_MAX && !(only_outside_normal && streq(mode, "normal")))
		event = fallback;
	else
		goto out;
	set_event(o, event);
	if (event == REPORT_EVENT_MODE_CHANGE && last) {
		json_object_object_add(o, "previous_mode", json_object_new_string(last));
	}
	r = report_emit(root, cfg, o);
	if (r < 0)
		return r;
out:
	if (!last || !streq(last, mode)) {
		r = mode_file_write(root, mode);
		if (r < 0)
			log_debug_errno(r, "Failed to write %s: %m", REPORT_MODE_FILE);
	}
	return 0;
}

int report_flush(const char *root, const struct lifeline_config *cfg, struct spool_backoff *b,
                 uint64_t now, bool force, void (*keepalive)(void *userdata), void *userdata,
                 unsigned *ret_sent)
{
	unsigned sent = 0, left = 0, dropped = b->dropped;
	int r, k;

	r = spool_flush(root, cfg, b, now, force, keepalive, userdata, &sent);
	dropped = b->dropped - dropped;
	if ((sent > 0 || dropped > 0) && spool_count(root, &left, NULL) >= 0) {
		k = metrics_update_spooled(root, metrics_dir(cfg), left, dropped);
		/* no file yet (reports spooled before any was written): one
		 * from the state now, then the count */
		if (k == -ENOENT && report_metrics_refresh(root, cfg) >= 0)
			(void)metrics_update_spooled(root, metrics_dir(cfg), left, dropped);
	}
	if (ret_sent)
		*ret_sent = sent;
	return r;
}
