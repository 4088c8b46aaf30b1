/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libc-only JSON writer (json-writer.h). */
#include <inttypes.h>

#include "common/json-writer.h"
#include "common/utf8.h"

void json_write_string(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left;

	if (!s) {
		fputs("null", f);
		return;
	}
	left = 0;
	while (p[left] && (max == 0 || left < max))
		left++;
	fputc('"', f);
	while (left > 0) {
		size_t k = utf8_sequence_len((const char *)p, left);

		if (k == 0) {
			/* A sequence the cut would split is dropped whole,
			 * not replaced: it was good before the cut. */
			if (max > 0 && p[left] &&
			    utf8_sequence_len((const char *)p, left + 4) > left)
				break;
			fputs("\\ufffd", f);
			k = 1;
		} else if (k > 1)
			fwrite(p, 1, k, f);
		else if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
		p += k;
		left -= k;
	}
	fputc('"', f);
}

void json_writer_init(struct json_writer *w, FILE *f)
{
	*w = (struct json_writer){.f = f};
	w->first[0] = true;
}

/* Before a value: the comma between items, none after a key. */
static void item(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
}

static void open_container(struct json_writer *w, char c)
{
	item(w);
	fputc(c, w->f);
	if (w->depth < JSON_WRITER_DEPTH_MAX)
		w->depth++;
	w->first[w->depth] = true;
}

static void close_container(struct json_writer *w, char c)
{
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
}

void json_writer_object_begin(struct json_writer *w)
{
	open_container(w, '{');
}

void json_writer_object_end(struct json_writer *w)
{
	close_container(w, '}');
}

void json_writer_array_begin(struct json_writer *w)
{
	open_container(w, '[');
}

void json_writer_array_end(struct json_writer *w)
{
	close_container(w, ']');
}

void json_writer_key(struct json_writer *w, const char *key)
{
	item(w);
	json_write_string(w->f, key, 0);
	fputc(':', w->f);
	w->after_key = true;
}

void json_writer_string_cut(struct json_writer *w, const char *s, size_t max)
{
	item(w);
	json_write_string(w->f, s, max);
}

void json_writer_string(struct json_writer *w, const char *s)
{
	json_writer_string_cut(w, s, 0);
}

void json_writer_int(struct json_writer *w, int64_t v)
{
	item(w);
	fprintf(w->f, "%" PRId64, v);
}

void json_writer_uint(struct json_writer *w, uint64_t v)
{
	item(w);
	fprintf(w->f, "%" PRIu64, v);
}

void json_writer_bool(struct json_writer *w, bool v)
{
	item(w);
	fputs(v ? "true" : "false", w->f);
}

void json_writer_null(struct json_writer *w)
{
	item(w);
	fputs("null", w->f);
}

void json_writer_strv(struct json_writer *w, char *const *l, size_t max_items, size_t max_bytes)
{
	size_t n = 0;

	json_writer_array_begin(w);
	for (char *const *s = l; s && *s && (max_items == 0 || n < max_items); s++, n++)
		json_writer_string_cut(w, *s, max_bytes);
	json_writer_array_end(w);
}
