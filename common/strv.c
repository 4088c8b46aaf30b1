/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NULL-terminated string vectors (strv): build, extend, split on
 * whitespace, join, sort and deduplicate, search, free.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

#define WHITESPACE " \t\r\n\v\f"

char **strv_free(char **l)
{
	if (!l)
		return NULL;
	for (char **s = l; *s; s++)
		free(*s);
	free(l);
	return NULL;
}

size_t strv_length(char *const *l)
{
	size_t n = 0;

	if (!l)
		return 0;
	while (l[n])
		n++;
	return n;
}

bool strv_contains(char *const *l, const char *s)
{
	if (!l || !s)
		return false;
	for (; *l; l++)
		if (streq(*l, s))
			return true;
	return false;
}

const char *strv_extendv(char ***l, const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return strv_consume(l, s) < 0 ? NULL : s;
}

int strv_consume(char ***l, char *s)
{
	size_t n;
	char **nl;

	if (!s)
		return -ENOMEM;
	n = strv_length(*l);
	nl = realloc(*l, (n + 2) * sizeof(char *));
	if (!nl) {
		free(s);
		return -ENOMEM;
	}
	nl[n] = s;
	nl[n + 1] = NULL;
	*l = nl;
	return 0;
}

int strv_extend(char ***l, const char *s)
{
	return strv_consume(l, strdup(s));
}

char **strv_copy(char *const *l)
{
	size_t n = strv_length(l);
	_cleanup_strv_free_ char **c = calloc(n + 1, sizeof(char *));

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i] = strdup(l[i]);
		if (!c[i])
			return NULL;
	}
	return TAKE_PTR(c);
}

int strv_extend_strv(char ***a, char *const *b)
{
	size_t na = strv_length(*a), nb = strv_length(b);
	_cleanup_strv_free_ char **copy = NULL;
	char **nl;

	if (nb == 0)
		return 0;
	copy = strv_copy(b);
	if (!copy)
		return -ENOMEM;
	nl = realloc(*a, (na + nb + 1) * sizeof(char *));
	if (!nl)
		return -ENOMEM;
	memcpy(nl + na, copy, (nb + 1) * sizeof(char *));
	free(TAKE_PTR(copy)); /* the strings now belong to nl */
	*a = nl;
	return 0;
}

int strv_split_ws(const char *s, char ***ret)
{
	_cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
	size_t n = 0;

	if (!l)
		return -ENOMEM;
	for (;;) {
		size_t len;
		char **nl;

		s += strspn(s, WHITESPACE);
		if (!*s)
			break;
		len = strcspn(s, WHITESPACE);
		nl = realloc(l, (n + 2) * sizeof(char *));
		if (!nl)
			return -ENOMEM;
		l = nl;
		l[n] = strndup(s, len);
		l[n + 1] = NULL;
		if (!l[n])
			return -ENOMEM;
		n++;
		s += len;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

char *strv_join(char *const *l, const char *sep)
{
	size_t n = 0, seplen, k = 0;
	char *r;

	if (!sep)
		sep = " ";
	seplen = strlen(sep);
	for (char *const *s = l; s && *s; s++)
		n += strlen(*s) + (s == l ? 0 : seplen);
	r = malloc(n + 1);
	if (!r)
		return NULL;
	for (char *const *s = l; s && *s; s++) {
		size_t len = strlen(*s);

		if (s != l) {
			memcpy(r + k, sep, seplen);
			k += seplen;
		}
		memcpy(r + k, *s, len);
		k += len;
	}
	r[k] = 0;
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort_uniq(char **l)
{
	size_t n = strv_length(l), k = 0;

	if (n < 2)
		return;
	qsort(l, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && streq(l[k - 1], l[i])) {
			free(l[i]);
			continue;
		}
		l[k++] = l[i];
	}
	l[k] = NULL;
}
