/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SHA-256 (FIPS 180-4, section 6.2), written from the standard.
 *
 * Why not libcrypto: lifeline-early hashes files for the inventory
 * (level-1 suspect pick) and is exec'd on every boot from the initramfs;
 * linking libcrypto.so.3 (4.7 MB, dozens of relocations bound at start
 * with -z now) for one digest cost more start-up time than the phase's
 * whole work (the performance goal in tests/bench/README.md). Signatures (Ed25519) stay on
 * libcrypto in agent/command.c.
 *
 * Plain portable C, no SIMD: the inventory hashes small content files and
 * the cost is dominated by the walk (tests/bench/README.md).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE  64

struct sha256_ctx {
	uint32_t h[8];                    /* H(i), the intermediate hash value */
	uint64_t length;                  /* message bytes so far */
	uint8_t block[SHA256_BLOCK_SIZE]; /* the partial block not yet compressed */
	size_t fill;                      /* bytes in block */
};

void sha256_init(struct sha256_ctx *ctx);
void sha256_update(struct sha256_ctx *ctx, const void *data, size_t size);
/* Pads, writes the digest and wipes ctx (init it again to reuse it). */
void sha256_final(struct sha256_ctx *ctx, uint8_t ret[SHA256_DIGEST_SIZE]);

/* The digest of one buffer. */
void sha256_buffer(const void *data, size_t size, uint8_t ret[SHA256_DIGEST_SIZE]);
