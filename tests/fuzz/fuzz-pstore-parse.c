/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One crash record's text (pstore, dmesg or journal form), as the raw
 * bytes: the parser must keep to size, with no NUL after it. */
#include <stdlib.h>

#include "agent/crash/pstore.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pstore_evidence e;
	char **modules = NULL, *site = NULL;
	uint32_t sig = 0;

	fuzz_setup();
	if (pstore_parse((const char *)data, size, &e) < 0)
		return 0;
	if (pstore_rank_modules(&e, &modules) >= 0)
		pstore_strv_free(modules);
	(void)pstore_comm_matches_binary(e.comm, "/usr/bin/falcon-sensor-bpf");
	if (pstore_crash_signature(&e, NULL, &sig, &site) > 0) {
		fuzz_assert(sig != 0 && site != NULL);
		free(site);
	}
	pstore_evidence_done(&e);
	return 0;
}
