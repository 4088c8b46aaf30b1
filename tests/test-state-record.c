/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state record codec: round trips and every way a record can be bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "efi/state-record.h"

static void make_full_record(struct state_record *r)
{
	state_record_init(r);
	r->boot_seq = 0x01020304;
	r->failures = 7;
	r->last_blessed_seq = 0x01020300;
	r->panic_sig = 0xa1b2c3d4;
	r->last_blessed_time = 0x1122334455667788ull;
	r->mode = STATE_MODE_SAFE;
	r->level = 2;
	r->flags = STATE_FLAG_QUARANTINE_PENDING;
	r->generation = 42;
	assert_int_equal(state_record_add_module(r, "badsec"), 1);
	assert_int_equal(state_record_add_module(r, "falcon-lsm-serviceable"), 1);
}

static void test_roundtrip_keeps_every_field(void **state)
{
	struct state_record a, b;
	uint8_t buf[STATE_RECORD_SIZE];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, buf), 0);
	assert_memory_equal(buf, "LFLS", 4);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), 0);
	assert_int_equal(b.boot_seq, a.boot_seq);
	assert_int_equal(b.failures, 7);
	assert_int_equal(b.last_blessed_seq, a.last_blessed_seq);
	assert_int_equal(b.panic_sig, 0xa1b2c3d4);
	assert_true(b.last_blessed_time == a.last_blessed_time);
	assert_int_equal(b.mode, STATE_MODE_SAFE);
	assert_int_equal(b.level, 2);
	assert_int_equal(b.flags, STATE_FLAG_QUARANTINE_PENDING);
	assert_int_equal(b.generation, 42);
	assert_int_equal(b.n_modules, 2);
	assert_string_equal(b.modules[0], "badsec");
	/* names are normalised the way the kernel does ('-' -> '_') */
	assert_string_equal(b.modules[1], "falcon_lsm_serviceable");
	assert_true(state_record_has_module(&b, "falcon_lsm-serviceable"));
	assert_false(state_record_has_module(&b, "badsec2"));
}

static void test_encoding_is_little_endian_at_documented_offsets(void **state)
{
	struct state_record a;
	uint8_t buf[STATE_RECORD_SIZE];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, buf), 0);
	assert_int_equal(buf[4], 1); /* version */
	assert_int_equal(buf[6] | buf[7] << 8, STATE_RECORD_SIZE);
	assert_int_equal(buf[8], 0x04);
	assert_int_equal(buf[11], 0x01);
	assert_int_equal(buf[12], 7);
	assert_int_equal(buf[20], 0xd4); /* panic_sig */
	assert_int_equal(buf[23], 0xa1);
	assert_int_equal(buf[24], 0x88);
	assert_int_equal(buf[31], 0x11);
	assert_int_equal(buf[32], STATE_MODE_SAFE);
	assert_int_equal(buf[33], 2);
	assert_memory_equal(buf + 40, "badsec\0falcon_lsm_serviceable\0\0", 31);
}

static void test_wrong_magic_is_distinct_error(void **state)
{
	struct state_record a, b;
	uint8_t buf[STATE_RECORD_SIZE];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, buf), 0);
	buf[0] = 'X';
	b.boot_seq = 99;
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_MAGIC);
	assert_int_equal(b.boot_seq, 99); /* untouched on failure */
}

static void test_newer_version_is_refused_not_parsed(void **state)
{
	struct state_record a, b;
	uint8_t buf[300];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, buf), 0);
	buf[4] = 2;
	/* a newer version may have another size: version is checked first */
	assert_int_equal(state_record_decode(buf, 300, &b), STATE_E_VERSION);
	assert_int_equal(state_record_decode(buf, STATE_RECORD_SIZE, &b), STATE_E_VERSION);
}

static void test_truncated_and_oversized_records_are_size_errors(void **state)
{
	struct state_record a, b;
	uint8_t buf[STATE_RECORD_SIZE + 1];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, buf), 0);
	assert_int_equal(state_record_decode(buf, 0, &b), STATE_E_SIZE);
	assert_int_equal(state_record_decode(buf, 3, &b), STATE_E_SIZE);
	assert_int_equal(state_record_decode(buf, 100, &b), STATE_E_SIZE);
	assert_int_equal(state_record_decode(buf, STATE_RECORD_SIZE - 1, &b), STATE_E_SIZE);
	assert_int_equal(state_record_decode(buf, STATE_RECORD_SIZE + 1, &b), STATE_E_SIZE);
}

static void test_checksum_mismatch_detected(void **state)
{
	struct state_record a, b;
	uint8_t buf[STATE_RECORD_SIZE];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, buf), 0);
	buf[12] ^= 0x01; /* failures 7 -> 6 */
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_CHECKSUM);
}

/* Every single-bit flip anywhere is caught (CRC-32 detects all of them)
 * and never crashes the decoder. */
static void test_every_bit_flip_is_rejected(void **state)
{
	struct state_record a, b;
	uint8_t good[STATE_RECORD_SIZE], buf[STATE_RECORD_SIZE];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, good), 0);
	for (size_t i = 0; i < STATE_RECORD_SIZE; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, good, sizeof(buf));
			buf[i] ^= (uint8_t)(1u << bit);
			assert_true(state_record_decode(buf, sizeof(buf), &b) < 0);
		}
}

static void fix_crc(uint8_t *buf)
{
	uint32_t c = state_crc32(buf, 252);

	buf[252] = (uint8_t)c;
	buf[253] = (uint8_t)(c >> 8);
	buf[254] = (uint8_t)(c >> 16);
	buf[255] = (uint8_t)(c >> 24);
}

static void test_valid_checksum_with_bad_fields_is_field_error(void **state)
{
	struct state_record a, b;
	uint8_t good[STATE_RECORD_SIZE], buf[STATE_RECORD_SIZE];

	(void)state;
	make_full_record(&a);
	assert_int_equal(state_record_encode(&a, good), 0);

	memcpy(buf, good, sizeof(buf));
	buf[32] = 9; /* mode */
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_FIELD);

	memcpy(buf, good, sizeof(buf));
	buf[33] = 4; /* level */
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_FIELD);

	memcpy(buf, good, sizeof(buf));
	buf[41] = '/'; /* module name with a hostile character */
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_FIELD);

	memcpy(buf, good, sizeof(buf));
	memset(buf + 40, 'a', STATE_MODULES_AREA); /* no terminator */
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_FIELD);

	memcpy(buf, good, sizeof(buf));
	buf[200] = 'x'; /* junk after the list end */
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_FIELD);

	memcpy(buf, good, sizeof(buf));
	buf[4] = 0; /* version 0 */
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_FIELD);
}

/* Offset 20 was "reserved (0)" before panic_sig: a record written by the
 * version that had it reserved (0 there) and one with any value there both
 * decode; the other reserved word (248) still must be 0. */
static void test_panic_sig_any_value_decodes(void **state)
{
	struct state_record a, b;
	uint8_t buf[STATE_RECORD_SIZE];

	(void)state;
	make_full_record(&a);
	a.panic_sig = 0;
	assert_int_equal(state_record_encode(&a, buf), 0);
	assert_int_equal(buf[20] | buf[21] | buf[22] | buf[23], 0);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), 0);
	assert_int_equal(b.panic_sig, 0);

	buf[20] = 0xff;
	buf[21] = 0xff;
	buf[22] = 0xff;
	buf[23] = 0xff;
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), 0);
	assert_int_equal(b.panic_sig, 0xffffffffu);
	assert_int_equal(b.boot_seq, a.boot_seq); /* its neighbours are untouched */
	assert_true(b.last_blessed_time == a.last_blessed_time);

	buf[249] = 1;
	fix_crc(buf);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), STATE_E_FIELD);
}

static void test_module_list_bounds(void **state)
{
	struct state_record r;
	char name[80];

	(void)state;
	state_record_init(&r);
	assert_int_equal(state_record_add_module(&r, ""), -EINVAL);
	assert_int_equal(state_record_add_module(&r, "../etc"), -EINVAL);
	memset(name, 'm', 56);
	name[56] = 0;
	assert_int_equal(state_record_add_module(&r, name), -EINVAL);
	name[55] = 0;
	assert_int_equal(state_record_add_module(&r, name), 1);
	assert_int_equal(state_record_add_module(&r, name), 0); /* already there */
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "mod%d", i);
		assert_int_equal(state_record_add_module(&r, name), 1);
	}
	assert_int_equal(state_record_add_module(&r, "onemore"), -ENOSPC);
	uint8_t buf[STATE_RECORD_SIZE];
	struct state_record b;
	assert_int_equal(state_record_encode(&r, buf), 0);
	assert_int_equal(state_record_decode(buf, sizeof(buf), &b), 0);
	assert_int_equal(b.n_modules, 8);
	state_record_clear_modules(&b);
	assert_int_equal(b.n_modules, 0);
}

static void test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(state_mode_to_string(STATE_MODE_GIVEN_UP), "given-up");
	assert_int_equal(state_mode_from_string("safe"), STATE_MODE_SAFE);
	assert_int_equal(state_mode_from_string("bogus"), -EINVAL);
	assert_string_equal(state_mode_to_string(17), "unknown");
	assert_non_null(strstr(state_record_strerror(STATE_E_CHECKSUM), "checksum"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_keeps_every_field),
	    cmocka_unit_test(test_encoding_is_little_endian_at_documented_offsets),
	    cmocka_unit_test(test_wrong_magic_is_distinct_error),
	    cmocka_unit_test(test_newer_version_is_refused_not_parsed),
	    cmocka_unit_test(test_truncated_and_oversized_records_are_size_errors),
	    cmocka_unit_test(test_checksum_mismatch_detected),
	    cmocka_unit_test(test_every_bit_flip_is_rejected),
	    cmocka_unit_test(test_valid_checksum_with_bad_fields_is_field_error),
	    cmocka_unit_test(test_panic_sig_any_value_decodes),
	    cmocka_unit_test(test_module_list_bounds),
	    cmocka_unit_test(test_mode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
