/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The text edit of a degrade_set step (degrade.h): find the one line that
 * holds a key in a YAML or key = value file, and replace its value. It is
 * small and strict on purpose: it never guesses. A key it cannot find, or
 * finds twice, or whose value is not a one-line scalar, is refused, and
 * the whole degrade step with it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/quarantine/degrade.h"
#include "common/macro.h"

struct line {
	const char *s;
	size_t len;  /* without the newline and a CR before it */
	int indent;  /* leading spaces */
	bool tab;    /* a tab in the leading whitespace */
	bool signif; /* not blank, not a comment */
};

struct lines {
	struct line *l;
	size_t n;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int split_lines(const char *text, size_t size, char comment2, struct lines *ret)
{
	struct line *l = NULL;
	size_t n = 0;

	for (const char *p = text; p < text + size;) {
		const char *nl = memchr(p, '\n', (size_t)(text + size - p));
		const char *end = nl ? nl : text + size;
		struct line *x, *nw;
		const char *q = p;

		nw = realloc(l, (n + 1) * sizeof(*l));
		if (!nw) {
			free(l);
			return -ENOMEM;
		}
		l = nw;
		x = &l[n++];
		*x = (struct line){.s = p, .len = (size_t)(end - p)};
		if (x->len > 0 && p[x->len - 1] == '\r')
			x->len--;
		while (q < p + x->len && is_blank(*q)) {
			if (*q == '\t')
				x->tab = true;
			else if (!x->tab)
				x->indent++;
			q++;
		}
		x->signif = q < p + x->len && *q != '#' && *q != comment2;
		p = nl ? nl + 1 : text + size;
	}
	*ret = (struct lines){.l = l, .n = n};
	return 0;
}

/* Replaces [from, to) of text with value. */
static int splice(const char *text, size_t size, const char *from, const char *to,
                  const char *value, char **ret, size_t *ret_size)
{
	size_t head = (size_t)(from - text), tail = size - (size_t)(to - text), v = strlen(value);
	char *out = malloc(head + v + tail + 1);

	if (!out)
		return -ENOMEM;
	memcpy(out, text, head);
	memcpy(out + head, value, v);
	memcpy(out + head + v, to, tail);
	out[head + v + tail] = 0;
	*ret = out;
	*ret_size = head + v + tail;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* YAML */

/* Whether line x (significant) is "<name>:" followed by the end, a space
 * or a tab; *ret_rest points after the colon. */
static bool yaml_key_line(const struct line *x, const char *name, size_t n, const char **ret_rest)
{
	const char *k = x->s + x->indent;
	size_t avail = x->len - (size_t)x->indent;

	if (avail < n + 1 || memcmp(k, name, n) != 0 || k[n] != ':')
		return false;
	if (avail > n + 1 && !is_blank(k[n + 1]))
		return false;
	*ret_rest = k + n + 1;
	return true;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

/* The value's span on the key's line: a plain scalar up to a comment or
 * the end, or a quoted one. NULL (and *why) when it is anything else. */
static const char *yaml_scalar(const char *p, const char *end, const char **ret_end,
                               const char **why)
{
	const char *q;

	if (p == end || *p == '#') {
		*why = "the key has no value on its line (a block below it?)";
		return NULL;
	}
	if (strchr("|>{[&*!%@`,?-", *p) && !(*p == '-' && p + 1 < end && !is_blank(p[1]))) {
		*why = "the key's value is not a one-line plain or quoted scalar";
		return NULL;
	}
	if (*p == '"' || *p == '\'') {
		q = memchr(p + 1, *p, (size_t)(end - p - 1));
		if (!q || (*p == '"' && memchr(p + 1, '\\', (size_t)(q - p - 1)))) {
			*why = "the key's quoted value is not closed on its line, or has escapes";
			return NULL;
		}
		q++;
		if (skip_blanks(q, end) != end && *skip_blanks(q, end) != '#') {
			*why = "the key's value is not a one-line plain or quoted scalar";
			return NULL;
		}
		*ret_end = q;
		return p;
	}
	for (q = p; q < end && !(*q == '#' && is_blank(q[-1])); q++)
		if (*q == ':' && (q + 1 == end || is_blank(q[1]))) {
			*why = "the key's value holds \": \" (a mapping on one line)";
			return NULL;
		}
	while (q > p && is_blank(q[-1]))
		q--;
	*ret_end = q;
	return p;
}

static int yaml_edit(const struct lines *ls, const char *key, const char **from, const char **to,
                     const char **why)
{
	size_t lo = 0, hi = ls->n;
	int parent = -1;
	bool first = true;

	for (size_t i = 0; i < ls->n; i++) {
		const struct line *x = &ls->l[i];

		if (!x->signif)
			continue;
		if (x->tab) {
			*why = "the file indents with tabs";
			return -EMEDIUMTYPE;
		}
		if (x->indent == 0 && x->len >= 3 &&
		    (memcmp(x->s, "---", 3) == 0 || memcmp(x->s, "...", 3) == 0) &&
		    (x->len == 3 || is_blank(x->s[3])) &&
		    !(first && x->len == 3 && x->s[0] == '-')) {
			*why = "the file holds several YAML documents";
			return -EMEDIUMTYPE;
		}
		first = false;
	}

	for (const char *seg = key;;) {
		size_t n = strcspn(seg, "."), match = SIZE_MAX, count = 0;
		const char *rest = NULL, *rest_of_match = NULL;
		int child = -1;

		for (size_t i = lo; i < hi; i++)
			if (ls->l[i].signif && ls->l[i].indent > parent) {
				child = ls->l[i].indent;
				break;
			}
		if (child < 0) {
			*why = "the key is not in the file";
			return -ENOENT;
		}
		for (size_t i = lo; i < hi; i++)
			if (ls->l[i].signif && ls->l[i].indent == child &&
			    yaml_key_line(&ls->l[i], seg, n, &rest)) {
				count++;
				match = i;
				rest_of_match = rest;
			}
		if (count == 0) {
			*why = "the key is not in the file";
			return -ENOENT;
		}
		if (count > 1) {
			*why = "the key is in the file more than once";
			return -ENOTUNIQ;
		}
		{
			const struct line *x = &ls->l[match];
			const char *end = x->s + x->len, *p = skip_blanks(rest_of_match, end);
			size_t next = match + 1;

			while (next < hi && !ls->l[next].signif)
				next++;
			if (seg[n] == '.') {
				if (p != end && *p != '#') {
					*why = "a key on the way is not a block mapping";
					return -EMEDIUMTYPE;
				}
				lo = match + 1;
				while (next < hi && ls->l[next].indent > child) {
					next++;
					while (next < hi && !ls->l[next].signif)
						next++;
				}
				hi = next;
				parent = child;
				seg += n + 1;
				continue;
			}
			*from = yaml_scalar(p, end, to, why);
			if (!*from)
				return -EMEDIUMTYPE;
			if (next < hi && ls->l[next].indent > child) {
				*why = "the key's value goes on below its line";
				return -EMEDIUMTYPE;
			}
			return 0;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* key = value */

static int keyvalue_edit(const struct lines *ls, const char *key, const char **from,
                         const char **to, const char **why)
{
	const char *dot = strchr(key, '.');
	const char *want_section = dot ? key : NULL, *name = dot ? dot + 1 : key;
	size_t section_len = dot ? (size_t)(dot - key) : 0, count = 0;
	bool in_section = !want_section;

	for (size_t i = 0; i < ls->n; i++) {
		const struct line *x = &ls->l[i];
		const char *end = x->s + x->len, *p, *eq, *k_end;

		if (!x->signif)
			continue;
		p = skip_blanks(x->s, end);
		if (*p == '[') {
			const char *close = end;

			while (close > p && is_blank(close[-1]))
				close--;
			if (close[-1] != ']') {
				*why = "the file has a section header without ']'";
				return -EMEDIUMTYPE;
			}
			p = skip_blanks(p + 1, close - 1);
			k_end = close - 1;
			while (k_end > p && is_blank(k_end[-1]))
				k_end--;
			in_section = want_section && (size_t)(k_end - p) == section_len &&
			             memcmp(p, want_section, section_len) == 0;
			continue;
		}
		if (!in_section)
			continue;
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq)
			continue;
		k_end = eq;
		while (k_end > p && is_blank(k_end[-1]))
			k_end--;
		if ((size_t)(k_end - p) != strlen(name) || memcmp(p, name, strlen(name)) != 0)
			continue;
		count++;
		*from = skip_blanks(eq + 1, end);
		*to = end;
		while (*to > *from && is_blank((*to)[-1]))
			(*to)--;
	}
	if (count == 0) {
		*why = "the key is not in the file";
		return -ENOENT;
	}
	if (count > 1) {
		*why = "the key is in the file more than once";
		return -ENOTUNIQ;
	}
	return 0;
}

int degrade_edit_text(enum degrade_format f, const char *text, size_t size, const char *key,
                      const char *value, char **ret, size_t *ret_size, const char **ret_why)
{
	const char *why = "", *from = NULL, *to = NULL;
	struct lines ls = {0};
	int r;

	if (memchr(text, 0, size)) {
		*ret_why = "the file holds NUL bytes";
		return -EMEDIUMTYPE;
	}
	r = split_lines(text, size, f == DEGRADE_FORMAT_KEYVALUE ? ';' : '#', &ls);
	if (r < 0)
		return r;
	r = f == DEGRADE_FORMAT_YAML ? yaml_edit(&ls, key, &from, &to, &why)
	                             : keyvalue_edit(&ls, key, &from, &to, &why);
	free(ls.l);
	if (r < 0) {
		*ret_why = why;
		return r;
	}
	return splice(text, size, from, to, value, ret, ret_size);
}
