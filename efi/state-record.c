/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state record's byte format (state-record.h): encode, decode with a
 * distinct error per fault (magic, version, size, checksum, range), CRC-32.
 */
#include <errno.h>
#include <string.h>

#include "common/macro.h"
#include "state-record.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

uint32_t state_crc32(const void *data, size_t size)
{
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;

	/* Bitwise CRC-32 (IEEE 802.3, reflected 0xedb88320): 256 bytes once
	 * a boot does not need a table. */
	for (size_t i = 0; i < size; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

void state_record_init(struct state_record *r)
{
	memset(r, 0, sizeof(*r));
}

bool state_module_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > STATE_MODULE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void normalise(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i < STATE_MODULE_NAME_MAX; i++)
		dst[i] = src[i] == '-' ? '_' : src[i];
	dst[i] = 0;
}

bool state_record_has_module(const struct state_record *r, const char *name)
{
	char n[STATE_MODULE_NAME_MAX + 1];

	if (!state_module_name_valid(name))
		return false;
	normalise(n, name);
	for (unsigned i = 0; i < r->n_modules; i++)
		if (streq(r->modules[i], n))
			return true;
	return false;
}

static size_t modules_bytes(const struct state_record *r)
{
	size_t total = 1; /* the final empty name */

	for (unsigned i = 0; i < r->n_modules; i++)
		total += strlen(r->modules[i]) + 1;
	return total;
}

int state_record_add_module(struct state_record *r, const char *name)
{
	if (!state_module_name_valid(name))
		return -EINVAL;
	if (state_record_has_module(r, name))
		return 0;
	if (r->n_modules >= STATE_MODULES_MAX ||
	    modules_bytes(r) + strlen(name) + 1 > STATE_MODULES_AREA)
		return -ENOSPC;
	normalise(r->modules[r->n_modules++], name);
	return 1;
}

void state_record_clear_modules(struct state_record *r)
{
	r->n_modules = 0;
	memset(r->modules, 0, sizeof(r->modules));
}

int state_record_encode(const struct state_record *r, uint8_t out[STATE_RECORD_SIZE])
{
	uint8_t *m;

	if (r->mode >= _STATE_MODE_MAX || r->level > 3 || r->n_modules > STATE_MODULES_MAX ||
	    (r->flags & ~_STATE_FLAGS_KNOWN))
		return -EINVAL;
	if (modules_bytes(r) > STATE_MODULES_AREA)
		return -EINVAL;
	for (unsigned i = 0; i < r->n_modules; i++)
		if (!state_module_name_valid(r->modules[i]))
			return -EINVAL;

	memset(out, 0, STATE_RECORD_SIZE);
	memcpy(out, STATE_RECORD_MAGIC, 4);
	put16(out + 4, STATE_RECORD_VERSION);
	put16(out + 6, STATE_RECORD_SIZE);
	put32(out + 8, r->boot_seq);
	put32(out + 12, r->failures);
	put32(out + 16, r->last_blessed_seq);
	put32(out + 20, r->panic_sig);
	put64(out + 24, r->last_blessed_time);
	out[32] = r->mode;
	out[33] = r->level;
	put16(out + 34, r->flags);
	put32(out + 36, r->generation);
	m = out + 40;
	for (unsigned i = 0; i < r->n_modules; i++) {
		size_t n = strlen(r->modules[i]);

		memcpy(m, r->modules[i], n);
		m += n + 1;
	}
	put32(out + 252, state_crc32(out, 252));
	return 0;
}

int state_record_decode(const void *data, size_t size, struct state_record *ret)
{
	const uint8_t *p = data;
	struct state_record r;
	size_t off;

	if (size < 8 || memcmp(p, STATE_RECORD_MAGIC, 4) != 0)
		return size < 4 ? STATE_E_SIZE : STATE_E_MAGIC;
	if (get16(p + 4) > STATE_RECORD_VERSION)
		return STATE_E_VERSION;
	if (get16(p + 4) == 0)
		return STATE_E_FIELD;
	if (size != STATE_RECORD_SIZE || get16(p + 6) != STATE_RECORD_SIZE)
		return STATE_E_SIZE;
	if (get32(p + 252) != state_crc32(p, 252))
		return STATE_E_CHECKSUM;

	state_record_init(&r);
	r.boot_seq = get32(p + 8);
	r.failures = get32(p + 12);
	r.last_blessed_seq = get32(p + 16);
	r.panic_sig = get32(p + 20);
	r.last_blessed_time = get64(p + 24);
	r.mode = p[32];
	r.level = p[33];
	r.flags = get16(p + 34);
	r.generation = get32(p + 36);
	if (r.mode >= _STATE_MODE_MAX || r.level > 3 || (r.flags & ~_STATE_FLAGS_KNOWN) ||
	    get32(p + 248) != 0)
		return STATE_E_FIELD;

	/* Module list: names until an empty one; everything after it zero. */
	off = 40;
	for (;;) {
		const char *name = (const char *)p + off;
		size_t n = strnlen(name, 40 + STATE_MODULES_AREA - off);

		if (off + n >= 40 + STATE_MODULES_AREA)
			return STATE_E_FIELD; /* no terminator inside the area */
		if (n == 0)
			break;
		if (r.n_modules >= STATE_MODULES_MAX || n > STATE_MODULE_NAME_MAX)
			return STATE_E_FIELD;
		memcpy(r.modules[r.n_modules], name, n);
		r.modules[r.n_modules][n] = 0;
		if (!state_module_name_valid(r.modules[r.n_modules]))
			return STATE_E_FIELD;
		r.n_modules++;
		off += n + 1;
	}
	for (off++; off < 40 + STATE_MODULES_AREA; off++)
		if (p[off] != 0)
			return STATE_E_FIELD;

	*ret = r;
	return 0;
}

const char *state_record_strerror(int r)
{
	switch (r) {
	case STATE_E_MAGIC:
		return "not a lifeline state record (bad magic)";
	case STATE_E_VERSION:
		return "state record of a newer version than this lifeline knows";
	case STATE_E_SIZE:
		return "state record has the wrong size (truncated?)";
	case STATE_E_CHECKSUM:
		return "state record checksum mismatch (corrupt)";
	case STATE_E_FIELD:
		return "state record has a field out of range (corrupt)";
	case -EBADE:
		return "state variable has unexpected attributes";
	case -ENOENT:
		return "no state record yet";
	default:
		return strerror(r < 0 ? -r : r);
	}
}

static const char *const mode_names[_STATE_MODE_MAX] = {
    [STATE_MODE_NORMAL] = "normal",
    [STATE_MODE_SAFE] = "safe",
    [STATE_MODE_GIVEN_UP] = "given-up",
};

const char *state_mode_to_string(int mode)
{
	if (mode < 0 || mode >= _STATE_MODE_MAX)
		return "unknown";
	return mode_names[mode];
}

int state_mode_from_string(const char *s)
{
	for (int i = 0; i < _STATE_MODE_MAX; i++)
		if (streq(s, mode_names[i]))
			return i;
	return -EINVAL;
}
