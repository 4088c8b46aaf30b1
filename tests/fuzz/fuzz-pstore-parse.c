/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One crash record's text (pstore, dmesg or journal form), as the raw
 * bytes: the parser must keep to size, with no NUL after it. The crash
 * signature is taken with and without a component set (one component
 * owning badsec, examplesec and falcon_lsm_* modules), so its module
 * branches are reached too. */
#include <stdlib.h>

#include "agent/conf/components.h"
#include "agent/crash/pstore.h"
#include "tests/fuzz/fuzz.h"

static char *fuzz_modules[] = {"badsec", "examplesec", "falcon_lsm_*", NULL};
static struct component fuzz_component = {.id = "badsec", .modules = fuzz_modules};
static const struct component_set fuzz_set = {.items = &fuzz_component, .n = 1};

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
	site = NULL;
	if (pstore_crash_signature(&e, &fuzz_set, &sig, &site) > 0) {
		fuzz_assert(sig != 0 && site != NULL);
		free(site);
	}
	pstore_evidence_done(&e);
	return 0;
}
