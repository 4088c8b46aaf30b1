/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The boot-state record as read from the EFI variable or the state file. A
 * 256-byte input also runs with its CRC made right, so the field checks
 * are reached; a record that decodes must encode back to the same bytes. */
#include <string.h>

#include "efi/state-record.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t fixed[STATE_RECORD_SIZE], again[STATE_RECORD_SIZE];
	struct state_record r;

	fuzz_setup();
	if (state_record_decode(data, size, &r) == 0)
		(void)state_record_strerror(0);
	if (size != STATE_RECORD_SIZE)
		return 0;
	memcpy(fixed, data, size);
	uint32_t crc = state_crc32(fixed, 252);
	for (int i = 0; i < 4; i++)
		fixed[252 + i] = (uint8_t)(crc >> (8 * i));
	if (state_record_decode(fixed, size, &r) < 0)
		return 0;
	fuzz_assert(state_record_encode(&r, again) == 0);
	fuzz_assert(memcmp(fixed, again, sizeof(again)) == 0);
	return 0;
}
