/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/kv: the key=value line codec of the small state files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kv.h"

struct seen {
	char keys[8][32];
	char values[8][64];
	int n;
};

static int collect(const char *key, char *value, void *userdata)
{
	struct seen *s = userdata;

	if (s->n >= 8)
		return -E2BIG;
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	snprintf(s->values[s->n], sizeof(s->values[0]), "%s", value);
	s->n++;
	return 0;
}

static void test_parse_skips_lines_without_equals_and_keeps_values_whole(void **state)
{
	char text[] = "mode=safe\ntorn line\nreason=a=b c\n\nempty=\nlast=no newline";
	struct seen s = {0};

	(void)state;
	assert_int_equal(kv_parse(text, collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.keys[0], "mode");
	assert_string_equal(s.values[0], "safe");
	assert_string_equal(s.keys[1], "reason");
	assert_string_equal(s.values[1], "a=b c"); /* only the first '=' splits */
	assert_string_equal(s.keys[2], "empty");
	assert_string_equal(s.values[2], "");
	assert_string_equal(s.keys[3], "last");
	assert_string_equal(s.values[3], "no newline");
}

static int fail_on_second(const char *key, char *value, void *userdata)
{
	int *calls = userdata;

	(void)key;
	(void)value;
	return ++*calls == 2 ? -EBADMSG : 0;
}

static void test_parse_stops_at_the_first_error(void **state)
{
	char text[] = "a=1\nb=2\nc=3\n";
	int calls = 0;

	(void)state;
	assert_int_equal(kv_parse(text, fail_on_second, &calls), -EBADMSG);
	assert_int_equal(calls, 2);
}

static void test_append_keeps_a_value_on_its_line_and_round_trips(void **state)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	struct seen s = {0};

	(void)state;
	assert_non_null(f);
	assert_int_equal(kv_append(f, "why", "first\nsecond=evil\r\n"), 0);
	assert_int_equal(kv_append(f, "mode", "normal"), 0);
	assert_int_equal(kv_append(f, "none", NULL), 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, "why=first second=evil  \nmode=normal\nnone=\n");
	assert_int_equal(kv_parse(buf, collect, &s), 0);
	assert_int_equal(s.n, 3); /* the injected "second=evil" is no key of its own */
	assert_string_equal(s.values[0], "first second=evil  ");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_skips_lines_without_equals_and_keeps_values_whole),
	    cmocka_unit_test(test_parse_stops_at_the_first_error),
	    cmocka_unit_test(test_append_keeps_a_value_on_its_line_and_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
