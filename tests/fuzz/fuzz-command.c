/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fleet command document. The input is verified as it is (against the
 * fixed test key below and tests/data/command/fleet-test.pub, one at a
 * time and both trusted at once): garbage must be rejected, not crash. Its
 * first line is then signed with the test key and verified, so the body
 * parser behind the signature is fuzzed; an accepted body must pass the
 * signing-time check (command_body_check()) and format, sign and verify
 * back to the same command. The input is also a Retry-After value. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command/command.h"
#include "common/strv.h"
#include "tests/fuzz/fuzz.h"

#define MACHINE_ID "0123456789abcdef0123456789abcdef"
#define NOW        1767225600 /* 2026-01-01 */

/* A throw-away Ed25519 seed: this key signs nothing but fuzz inputs. */
static const uint8_t test_seed[32] = "lifeline-fuzz-test-key-not-real";
static const char fleet_test_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA8twvncPTe18yxoncCVVJxbUU0eIW+A/0YVkkat/RTrY=\n"
    "-----END PUBLIC KEY-----\n";
static EVP_PKEY *priv, *pub, *fleet_pub;

static void keys_load(void)
{
	uint8_t raw[32];
	size_t len = sizeof(raw);
	BIO *b = BIO_new_mem_buf(fleet_test_pub, -1);

	priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, test_seed, 32);
	fuzz_assert(priv && EVP_PKEY_get_raw_public_key(priv, raw, &len) == 1);
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
	fleet_pub = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	fuzz_assert(pub && fleet_pub);
	BIO_free(b);
}

static void sign_and_verify(const char *body, size_t size, struct command_check *chk)
{
	char *doc = NULL;

	fuzz_assert(command_sign(priv, body, size, &doc) == 0);
	fuzz_assert(command_verify(doc, strlen(doc), pub, MACHINE_ID, 0, NOW, chk) == 0);
	free(doc);
}

static void check_round_trip(const struct command *c)
{
	struct command_check again;
	char *body = NULL;

	fuzz_assert(command_body_format(c, &body) == 0);
	sign_and_verify(body, strlen(body), &again);
	fuzz_assert(again.verdict == COMMAND_ACCEPTED && again.have_cmd);
	fuzz_assert(again.cmd.action == c->action && again.cmd.seq == c->seq);
	fuzz_assert(again.cmd.expires == c->expires && again.cmd.issued == c->issued);
	for (size_t i = 0; i <= strv_length(c->targets); i++)
		fuzz_assert(streq_ptr(again.cmd.targets[i], c->targets[i]));
	for (size_t i = 0; i <= strv_length(c->components); i++)
		fuzz_assert(streq_ptr(again.cmd.components[i], c->components[i]));
	command_check_done(&again);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data, *nl = memchr(data, '\n', size);
	struct command_check chk;

	fuzz_setup();
	if (!priv)
		keys_load();
	fuzz_assert(command_verify(doc, size, fleet_pub, MACHINE_ID, 0, NOW, &chk) == 0);
	command_check_done(&chk);
	fuzz_assert(command_verify(doc, size, pub, NULL, 0, NOW, &chk) == 0);
	command_check_done(&chk);
	{
		EVP_PKEY *both[] = {fleet_pub, pub};
		struct command_trust t = {
		    .keys = both, .n_keys = 2, .machine_id = MACHINE_ID, .last_seq = {5, 7}};

		fuzz_assert(command_verify_trust(doc, size, &t, NOW, &chk) == 0);
		if (chk.verdict == COMMAND_ACCEPTED)
			fuzz_assert(chk.cmd.seq > t.last_seq[command_source_of(&chk.cmd)]);
		command_check_done(&chk);
	}
	if (size < 256) {
		char v[256];

		memcpy(v, data, size);
		v[size] = 0;
		fuzz_assert(command_retry_after_parse(v, NOW) >= -1);
	}

	sign_and_verify(doc, nl ? (size_t)(nl - doc) : size, &chk);
	if (chk.verdict == COMMAND_ACCEPTED) {
		struct command_check body;

		check_round_trip(&chk.cmd);
		fuzz_assert(command_body_check(doc, nl ? (size_t)(nl - doc) : size, &body) == 0);
		fuzz_assert(body.verdict == COMMAND_ACCEPTED && body.cmd.seq == chk.cmd.seq);
		command_check_done(&body);
	}
	command_check_done(&chk);
	return 0;
}
