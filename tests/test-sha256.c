/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * common/sha256.c against the FIPS 180-4 example vectors (NIST CSRC
 * "Examples with intermediate values", SHA-256: "abc", the 448-bit
 * two-block message) and the long-message vector (one million 'a'), and
 * against OpenSSL's EVP SHA-256 on random inputs of every length around
 * the padding boundaries, fed in random pieces.
 */
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/sha256.h"

static void hex(const uint8_t d[SHA256_DIGEST_SIZE], char out[2 * SHA256_DIGEST_SIZE + 1])
{
	for (unsigned i = 0; i < SHA256_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void assert_digest(const void *data, size_t size, const char *want)
{
	uint8_t d[SHA256_DIGEST_SIZE];
	char got[2 * SHA256_DIGEST_SIZE + 1];

	sha256_buffer(data, size, d);
	hex(d, got);
	assert_string_equal(got, want);
}

static void test_empty_message(void **state)
{
	(void)state;
	assert_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc_one_block(void **state)
{
	(void)state;
	assert_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_448_bit_message_needs_a_second_padding_block(void **state)
{
	static const char m[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	(void)state;
	assert_int_equal(strlen(m) * 8, 448);
	assert_digest(m, strlen(m),
	              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_one_million_a_in_uneven_pieces(void **state)
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	char got[2 * SHA256_DIGEST_SIZE + 1];
	char a[1000];
	size_t done = 0, piece = 1;

	(void)state;
	memset(a, 'a', sizeof(a));
	sha256_init(&ctx);
	/* pieces of 1..997 bytes: every offset within a block gets crossed */
	while (done < 1000000) {
		size_t n = piece % 997 + 1;

		if (n > 1000000 - done)
			n = 1000000 - done;
		sha256_update(&ctx, a, n);
		done += n;
		piece = piece * 31 + 7;
	}
	sha256_final(&ctx, d);
	hex(d, got);
	assert_string_equal(got,
	                    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void openssl_sha256(const void *data, size_t size, uint8_t out[SHA256_DIGEST_SIZE])
{
	unsigned len = 0;

	assert_int_equal(EVP_Digest(data, size, out, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, SHA256_DIGEST_SIZE);
}

static void test_random_inputs_match_openssl(void **state)
{
	unsigned seed = (unsigned)time(NULL);
	size_t max = 70000;
	uint8_t *buf = malloc(max);

	(void)state;
	assert_non_null(buf);
	print_message("seed %u\n", seed);
	srandom(seed);
	for (size_t i = 0; i < max; i++)
		buf[i] = (uint8_t)random();

	/* every length 0..300 (the padding cases at 55/56/63/64 and their
	 * multiples), then larger random lengths */
	for (unsigned round = 0; round < 400; round++) {
		size_t size = round <= 300 ? round : (size_t)random() % max;
		const uint8_t *p = buf + (size_t)random() % (max - size + 1);
		uint8_t want[SHA256_DIGEST_SIZE], got[SHA256_DIGEST_SIZE],
		    whole[SHA256_DIGEST_SIZE];
		struct sha256_ctx ctx;
		size_t off = 0;

		openssl_sha256(p, size, want);
		sha256_buffer(p, size, whole);
		if (memcmp(want, whole, sizeof(want)) != 0)
			fail_msg("one-shot digest of %zu bytes differs from OpenSSL (seed %u)",
			         size, seed);

		sha256_init(&ctx);
		while (off < size) {
			size_t n = (size_t)random() % 150;

			if (n > size - off)
				n = size - off;
			sha256_update(&ctx, p + off, n); /* n = 0 too: must be harmless */
			off += n;
		}
		sha256_final(&ctx, got);
		if (memcmp(want, got, sizeof(want)) != 0)
			fail_msg("piecewise digest of %zu bytes differs from OpenSSL (seed %u)",
			         size, seed);
	}
	free(buf);
}

static void test_ctx_is_reusable_after_final_and_init(void **state)
{
	struct sha256_ctx ctx;
	uint8_t d1[SHA256_DIGEST_SIZE], d2[SHA256_DIGEST_SIZE];

	(void)state;
	sha256_init(&ctx);
	sha256_update(&ctx, "abc", 3);
	sha256_final(&ctx, d1);
	sha256_init(&ctx);
	sha256_update(&ctx, "a", 1);
	sha256_update(&ctx, "bc", 2);
	sha256_final(&ctx, d2);
	assert_memory_equal(d1, d2, sizeof(d1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_message),
	    cmocka_unit_test(test_abc_one_block),
	    cmocka_unit_test(test_448_bit_message_needs_a_second_padding_block),
	    cmocka_unit_test(test_one_million_a_in_uneven_pieces),
	    cmocka_unit_test(test_random_inputs_match_openssl),
	    cmocka_unit_test(test_ctx_is_reusable_after_final_and_init),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
