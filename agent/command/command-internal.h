/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the files of agent/command/ share and nobody else needs: the
 * cleanup helpers of json-c and libcrypto objects and the document hash. */
#pragma once

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "common/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)

#define COMMAND_ED25519_SIG_LEN 64
#define COMMAND_SIG_B64_LEN     88 /* 4 * ceil(64 / 3) */

/* SHA-256 of data as 64 lowercase hex digits and a NUL. */
int command_sha256_hex(const void *data, size_t size, char ret[65]);
