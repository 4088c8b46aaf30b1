/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The codec of /run/lifeline/daemon-state (daemon-state.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/lifelined/daemon-state.h"
#include "common/fileio.h"
#include "common/kv.h"
#include "common/macro.h"

static void copy_hash(char dst[65], const char *v)
{
	if (strlen(v) == 64 && strspn(v, "0123456789abcdef") == 64)
		memcpy(dst, v, 65);
}

/* One key of the state file (kv_parse() callback); unknown keys are
 * skipped, so an older daemon reads a newer file. */
static int state_key(const char *l, char *v, void *userdata)
{
	struct daemon_state *sp = userdata;

	if (streq(l, "failures"))
		sp->backoff.failures = (unsigned)strtoul(v, NULL, 10);
	else if (streq(l, "next_attempt"))
		sp->backoff.next_attempt = strtoull(v, NULL, 10);
	else if (streq(l, "delay"))
		sp->backoff.delay = strtoull(v, NULL, 10);
	else if (streq(l, "last_status"))
		sp->backoff.last_status = strtol(v, NULL, 10);
	else if (streq(l, "spooled"))
		sp->spooled = (unsigned)strtoul(v, NULL, 10);
	else if (streq(l, "seen0"))
		copy_hash(sp->poller.seen[0], v);
	else if (streq(l, "seen1"))
		copy_hash(sp->poller.seen[1], v);
	else if (streq(l, "poll_error"))
		sp->poll_error = (int)strtol(v, NULL, 10);
	else if (streq(l, "poll_next_ms"))
		sp->poll_next_ms = strtoull(v, NULL, 10);
	else if (streq(l, "blessed"))
		sp->blessed = streq(v, "1");
	else if (streq(l, "why"))
		snprintf(sp->why, sizeof(sp->why), "%s", v);
	return 0;
}

int daemon_state_read(const char *root, struct daemon_state *ret)
{
	_cleanup_free_ char *p = path_under_root(root, DAEMON_STATE_FILE), *text = NULL;
	struct daemon_state s = {0};
	int r;

	if (!p)
		return -ENOMEM;
	r = read_full_file(p, 8192, &text, NULL);
	if (r == -ENOENT) {
		*ret = s;
		return 0;
	}
	if (r < 0)
		return r;
	(void)kv_parse(text, state_key, &s);
	*ret = s;
	return 0;
}

int daemon_state_write(const char *root, const struct daemon_state *s)
{
	_cleanup_free_ char *p = path_under_root(root, DAEMON_STATE_FILE), *buf = NULL;
	char why[sizeof(s->why)], *slash;
	int r;

	if (!p)
		return -ENOMEM;
	/* one line per key: the text must not start another */
	snprintf(why, sizeof(why), "%s", s->why);
	for (char *c = why; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (asprintf(&buf,
	             "failures=%u\nnext_attempt=%" PRIu64 "\ndelay=%" PRIu64
	             "\nlast_status=%ld\nspooled=%u\n"
	             "seen0=%s\nseen1=%s\npoll_error=%d\npoll_next_ms=%" PRIu64
	             "\nblessed=%d\nwhy=%s\n",
	             s->backoff.failures, s->backoff.next_attempt, s->backoff.delay,
	             s->backoff.last_status, s->spooled, s->poller.seen[0], s->poller.seen[1],
	             s->poll_error, s->poll_next_ms, s->blessed ? 1 : 0, why) < 0)
		return -ENOMEM;
	slash = strrchr(p, '/');
	*slash = 0;
	r = mkdir_p(p, 0755);
	*slash = '/';
	if (r < 0)
		return r;
	return write_file_atomic(p, buf, strlen(buf), 0644);
}
