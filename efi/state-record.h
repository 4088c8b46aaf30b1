/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The boot-state record: one fixed-size, versioned, checksummed blob kept
 * in the UEFI variable LifelineState-<LIFELINE_GUID> (or the file store).
 *
 * Fixed size on purpose: on a plain directory libefivar does not truncate
 * on set (docs/platform.md), and a small constant-size variable keeps
 * NVRAM use predictable. All integers little-endian.
 *
 *   off size field
 *     0    4 magic "LFLS"
 *     4    2 version (1)
 *     6    2 size (256)
 *     8    4 boot_seq          boot attempts counted since the record exists
 *    12    4 failures          consecutive unblessed attempts (current included)
 *    16    4 last_blessed_seq  boot_seq of the last blessed boot (0: never)
 *    20    4 panic_sig         the previous failed boot's panic in third-party
 *                              code, for the repeat-crash fast path: crash site
 *                              and crash record stamp (decide.h decide_panic_sig());
 *                              0: none. Readers before it saw "reserved (0)"
 *                              here; any value decodes (the decision only
 *                              compares it)
 *    24    8 last_blessed_time unix seconds of that blessing
 *    32    1 mode              0 normal, 1 safe, 2 given-up
 *    33    1 level             0..3 escalation level
 *    34    2 flags             STATE_FLAG_*
 *    36    4 generation        quarantine generation (bumped per quarantine)
 *    40  208 modules           module names the initramfs must block:
 *                              NUL-separated, ended by an empty name, rest 0
 *   248    4 reserved (0)
 *   252    4 crc32 (IEEE) of bytes 0..251
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_RECORD_SIZE     256
#define STATE_RECORD_VERSION  1
#define STATE_RECORD_MAGIC    "LFLS"
#define STATE_MODULES_AREA    208
#define STATE_MODULE_NAME_MAX 55 /* kernel MODULE_NAME_LEN - 1 on 64-bit */
#define STATE_MODULES_MAX     8

enum state_mode {
	STATE_MODE_NORMAL = 0,
	STATE_MODE_SAFE = 1,
	STATE_MODE_GIVEN_UP = 2,
	_STATE_MODE_MAX,
};

enum {
	/* The previous boot ended with a clean shutdown/reboot (set by the
	 * agent at shutdown, cleared by the early hook). */
	STATE_FLAG_CLEAN_SHUTDOWN = 1 << 0,
	/* A quarantine decision was made and is waiting to be applied on the
	 * real root (set in the initramfs, cleared once applied). */
	STATE_FLAG_QUARANTINE_PENDING = 1 << 1,
	_STATE_FLAGS_KNOWN = (1 << 2) - 1,
};

/* Decode errors, each distinct (all negative errno values). */
#define STATE_E_MAGIC    (-EPROTO)          /* not a lifeline record */
#define STATE_E_VERSION  (-EPROTONOSUPPORT) /* newer version: leave it alone */
#define STATE_E_SIZE     (-EMSGSIZE)        /* truncated or wrong length */
#define STATE_E_CHECKSUM (-EBADMSG)         /* checksum mismatch */
#define STATE_E_FIELD    (-EUCLEAN)         /* checksum ok, a field out of range */

struct state_record {
	uint32_t boot_seq;
	uint32_t failures;
	uint32_t last_blessed_seq;
	uint32_t panic_sig; /* see the table above; 0: no third-party panic */
	uint64_t last_blessed_time;
	uint8_t mode;
	uint8_t level;
	uint16_t flags;
	uint32_t generation;
	unsigned n_modules;
	char modules[STATE_MODULES_MAX][STATE_MODULE_NAME_MAX + 1];
};

void state_record_init(struct state_record *r);

/* Encode into exactly STATE_RECORD_SIZE bytes. -EINVAL if a field cannot
 * be represented (bad module name, modules do not fit, mode out of range). */
int state_record_encode(const struct state_record *r, uint8_t out[STATE_RECORD_SIZE]);

/* Strict decode; on error *ret is untouched and the STATE_E_* code says why. */
int state_record_decode(const void *data, size_t size, struct state_record *ret);

/* Human text for a STATE_E_* (or other -errno) code. */
const char *state_record_strerror(int r);

const char *state_mode_to_string(int mode);
int state_mode_from_string(const char *s);

/* Module list helpers (names are normalised: '-' becomes '_'). */
bool state_module_name_valid(const char *name);
int state_record_add_module(struct state_record *r, const char *name);
bool state_record_has_module(const struct state_record *r, const char *name);
void state_record_clear_modules(struct state_record *r);

uint32_t state_crc32(const void *data, size_t size);
