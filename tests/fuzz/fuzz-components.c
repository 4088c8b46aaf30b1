/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A components.d drop-in: loaded from a temp root holding it and a few
 * files for its globs to match, then every lookup and the glob walk. */
#include <stdlib.h>

#include "agent/conf/components.h"
#include "common/strv.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *root, *dropin;
	struct component_set set;

	fuzz_setup();
	if (!root) {
		root = fuzz_path("root");
		dropin = fuzz_path("root/etc/lifeline/components.d/fuzz.conf");
		for (size_t i = 0; i < 2; i++) {
			char *p = fuzz_path(i ? "root/opt/examplesec/bin/agent"
			                      : "root/opt/examplesec/content/c-1.bin");

			fuzz_write_file(p, "x", 1);
			free(p);
		}
	}
	fuzz_write_file(dropin, data, size);
	if (components_load(root, &set, NULL) < 0)
		return 0;
	(void)components_find_module(&set, "examplesec-net");
	(void)components_find_unit(&set, "examplesec@1.service");
	(void)components_find_path(&set, "/opt/examplesec/bin/agent");
	for (size_t i = 0; i < set.n; i++) {
		char **paths = NULL;

		(void)components_find(&set, set.items[i].id);
		(void)component_is_active(&set.items[i], root);
		(void)component_has_loaded_module(&set.items[i], "examplesec 16384 0 - Live 0x0\n");
		if (component_expand_files(&set.items[i], root, false, &paths) == 0)
			strv_free(paths);
	}
	components_done(&set);
	return 0;
}
