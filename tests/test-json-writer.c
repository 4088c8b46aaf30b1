/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * common/json-writer: the one string rule (escapes, bad UTF-8 as U+FFFD,
 * cuts never inside a character), commas in nested objects and arrays,
 * and output that a strict UTF-8-validating parser accepts.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json-writer.h"

/* json_write_string(s, max) as a NUL-terminated string (caller frees). */
static char *str(const char *s, size_t max)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	assert_non_null(f);
	json_write_string(f, s, max);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void check(const char *in, size_t max, const char *want)
{
	char *got = str(in, max);

	assert_string_equal(got, want);
	free(got);
}

static void test_escapes(void **state)
{
	(void)state;
	check(NULL, 0, "null");
	check("", 0, "\"\"");
	check("a\"b\\c/d", 0, "\"a\\\"b\\\\c/d\"");
	check("tab\there\nnl\x1b[31m\x7f", 0, "\"tab\\u0009here\\u000anl\\u001b[31m\\u007f\"");
}

static void test_bad_utf8_becomes_replacement_characters(void **state)
{
	(void)state;
	/* good UTF-8 of 2, 3 and 4 bytes is copied */
	check("caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x98\x80", 0,
	      "\"caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x98\x80\"");
	/* one U+FFFD per bad byte */
	check("a\xff\xfe"
	      "b",
	      0, "\"a\\ufffd\\ufffdb\"");
	check("\x80", 0, "\"\\ufffd\"");                       /* stray continuation byte */
	check("\xc3", 0, "\"\\ufffd\"");                       /* truncated at the end */
	check("\xc3(", 0, "\"\\ufffd(\"");                     /* truncated in the middle */
	check("\xc0\xaf", 0, "\"\\ufffd\\ufffd\"");            /* overlong '/' */
	check("\xe0\x80\xaf", 0, "\"\\ufffd\\ufffd\\ufffd\""); /* overlong */
	check("\xed\xa0\x80", 0, "\"\\ufffd\\ufffd\\ufffd\""); /* UTF-16 surrogate */
	check("\xf4\x90\x80\x80", 0, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* past U+10FFFF */
}

static void test_cut_never_splits_a_character(void **state)
{
	(void)state;
	check("abcdef", 3, "\"abc\"");
	check("abcdef", 100, "\"abcdef\"");
	/* "ab" + e-acute (2 bytes): a cut at 3 drops the whole character */
	check("ab\xc3\xa9z", 3, "\"ab\"");
	check("ab\xc3\xa9z", 4, "\"ab\xc3\xa9\"");
	/* a bad byte at the cut is still replaced, not dropped */
	check("ab\xff\xff", 3, "\"ab\\ufffd\"");
}

static void test_objects_and_arrays_get_their_commas(void **state)
{
	char *buf = NULL, *l[] = {"x", "y\xff", "z", NULL};
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	struct json_writer w;
	json_tokener *tok;
	json_object *o;

	(void)state;
	assert_non_null(f);
	json_writer_init(&w, f);
	json_writer_object_begin(&w);
	json_writer_key(&w, "a");
	json_writer_uint(&w, 18446744073709551615ULL);
	json_writer_key(&w, "b");
	json_writer_int(&w, -5);
	json_writer_key(&w, "c");
	json_writer_object_begin(&w);
	json_writer_key(&w, "d");
	json_writer_bool(&w, true);
	json_writer_key(&w, "e");
	json_writer_null(&w);
	json_writer_object_end(&w);
	json_writer_key(&w, "l");
	json_writer_strv(&w, l, 2, 0);
	json_writer_key(&w, "empty");
	json_writer_strv(&w, NULL, 0, 0);
	json_writer_key(&w, "nested");
	json_writer_array_begin(&w);
	json_writer_array_begin(&w);
	json_writer_array_end(&w);
	json_writer_string(&w, "s");
	json_writer_array_end(&w);
	json_writer_object_end(&w);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf,
	                    "{\"a\":18446744073709551615,\"b\":-5,\"c\":{\"d\":true,\"e\":null},"
	                    "\"l\":[\"x\",\"y\\ufffd\"],\"empty\":[],\"nested\":[[],\"s\"]}");

	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)strlen(buf));
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	assert_non_null(o);
	json_object_put(o);
	json_tokener_free(tok);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_bad_utf8_becomes_replacement_characters),
	    cmocka_unit_test(test_cut_never_splits_a_character),
	    cmocka_unit_test(test_objects_and_arrays_get_their_commas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
