/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the decision history (history.h): the one part that needs
 * json-c, apart from the writer so lifeline-early does not link it. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/utf8.h"
#include "common/strv.h"
#include "efi/state-record.h"
#include "agent/decision/history.h"

/* A file larger than this is read from its last HISTORY_READ_MAX bytes
 * (only a hand-made or hostile file is ever that large). */
#define HISTORY_READ_MAX (HISTORY_FILE_MAX + HISTORY_ENTRY_MAX)

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* -- reading --------------------------------------------------------------- */

/* Bounded copy with control characters and bytes that are not UTF-8
 * replaced by '?': the text reaches terminals and reports. Cut at
 * HISTORY_STRING_MAX bytes, never inside a character, so that the writer
 * (json-writer.h's rule) writes it back unchanged. */
static char *clean_string(const char *s, size_t len)
{
	size_t o = 0;
	char *c;

	len = strnlen(s, len);
	c = malloc(MIN(len, (size_t)HISTORY_STRING_MAX) + 1);
	if (!c)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_sequence_len(s + i, len - i);

		if (k == 0 || (k == 1 && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f))) {
			if (o + 1 > HISTORY_STRING_MAX)
				break;
			c[o++] = '?';
			i++;
			continue;
		}
		if (o + k > HISTORY_STRING_MAX)
			break;
		memcpy(c + o, s + i, k);
		o += k;
		i += k;
	}
	c[o] = 0;
	return c;
}

/* 0 ok (absent is ok: *ret stays NULL), -EINVAL wrong type, -ENOMEM */
static int get_string(json_object *o, const char *key, char **ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	*ret = clean_string(json_object_get_string(v), (size_t)json_object_get_string_len(v));
	return *ret ? 0 : -ENOMEM;
}

static int get_uint(json_object *o, const char *key, uint64_t max, uint64_t *ret)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n > max)
		return -EINVAL;
	*ret = (uint64_t)n;
	return 0;
}

static int get_list(json_object *o, const char *key, char ***ret)
{
	json_object *v;
	size_t n;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return -EINVAL;
	n = json_object_array_length(v);
	for (size_t i = 0; i < n && i < HISTORY_LIST_MAX; i++) {
		json_object *item = json_object_array_get_idx(v, i);
		char *s;

		if (!json_object_is_type(item, json_type_string))
			return -EINVAL;
		s = clean_string(json_object_get_string(item),
		                 (size_t)json_object_get_string_len(item));
		if (!s || strv_consume(ret, s) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* One line without its newline: 1 entry, 0 damaged, -ENOMEM. */
static int parse_line(const char *line, size_t len, struct history_entry *ret)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	_cleanup_(history_entry_done) struct history_entry e = {0};
	json_tokener *tok;
	uint64_t v;
	unsigned crc = 0;
	int r;

	if (len < 11 || line[8] != ' ' || line[9] != '{')
		return 0;
	for (int i = 0; i < 8; i++) {
		char c = line[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
		             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		                                    : 16;
		if (d > 15)
			return 0;
		crc = crc << 4 | d;
	}
	if (state_crc32(line + 9, len - 9) != crc)
		return 0;

	tok = json_tokener_new_ex(16);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, line + 9, (int)(len - 9));
	r = json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) == len - 9;
	json_tokener_free(tok);
	if (!r || !json_object_is_type(o, json_type_object))
		return 0;

	v = 0;
	if (get_uint(o, "time", INT64_MAX, &v) < 0)
		return 0;
	e.time = v;
	v = 0;
	if (get_uint(o, "boot", UINT32_MAX, &v) < 0)
		return 0;
	e.boot_seq = (unsigned)v;
	v = 0;
	if (get_uint(o, "level", 3, &v) < 0)
		return 0;
	e.level = (unsigned)v;
	if ((r = get_string(o, "who", &e.who)) < 0 ||
	    (r = get_string(o, "action", &e.action)) < 0 ||
	    (r = get_string(o, "mode", &e.mode)) < 0 ||
	    (r = get_string(o, "reason", &e.reason)) < 0 ||
	    (r = get_string(o, "trigger", &e.trigger)) < 0 ||
	    (r = get_list(o, "evidence", &e.evidence)) < 0 ||
	    (r = get_list(o, "components", &e.components)) < 0 ||
	    (r = get_list(o, "modules", &e.modules)) < 0 ||
	    (r = get_list(o, "files", &e.files)) < 0)
		return r == -ENOMEM ? r : 0;
	if (!e.action || !e.who || !*e.action)
		return 0;
	*ret = e;
	memset(&e, 0, sizeof(e));
	return 1;
}

int history_parse(const char *data, size_t size, struct history *h)
{
	const char *p = data, *end = data + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct history_entry e;
		int r;

		if (!nl) {
			/* a torn last line: the append that wrote it never
			 * finished (its fsync did not return) */
			h->n_damaged++;
			break;
		}
		if (nl == p) {
			p++;
			continue;
		}
		r = (size_t)(nl - p) <= HISTORY_ENTRY_MAX ? parse_line(p, (size_t)(nl - p), &e) : 0;
		if (r < 0)
			return r;
		if (r == 0)
			h->n_damaged++;
		else {
			struct history_entry *n = reallocarray(h->entries, h->n + 1, sizeof(*n));

			if (!n) {
				history_entry_done(&e);
				return -ENOMEM;
			}
			h->entries = n;
			h->entries[h->n++] = e;
		}
		p = nl + 1;
	}
	return 0;
}

static int read_one(const char *path, struct history *h)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	const char *start;
	struct stat st;
	off_t off = 0;
	size_t want, got = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	want = (size_t)st.st_size;
	if (want > HISTORY_READ_MAX) {
		off = st.st_size - (off_t)HISTORY_READ_MAX;
		want = HISTORY_READ_MAX;
	}
	buf = malloc(want + 1);
	if (!buf)
		return -ENOMEM;
	while (got < want) {
		ssize_t k = pread(fd, buf + got, want - got, off + (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	start = buf;
	if (off > 0) {
		/* started mid-line: skip to the first whole one */
		const char *nl = memchr(buf, '\n', got);

		start = nl ? nl + 1 : buf + got;
	}
	return history_parse(start, got - (size_t)(start - buf), h);
}

int history_read(const char *root, struct history *ret)
{
	_cleanup_free_ char *path = path_under_root(root, HISTORY_FILE),
	                    *old = path_under_root(root, HISTORY_FILE_OLD);
	struct history h = {0};
	int r;

	if (!path || !old)
		return -ENOMEM;
	r = read_one(old, &h);
	if (r >= 0)
		r = read_one(path, &h);
	if (r < 0) {
		history_done(&h);
		return r;
	}
	*ret = h;
	return 0;
}
