/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /run/lifeline/state (read by the rootfs phase, the generator,
 * lifelinectl, lifelined) and the active-quarantine list: the input as
 * each file, through their readers. */
#include <stdlib.h>

#include "agent/decision/runstate.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *root, *state, *active;
	struct runstate s;
	struct quarantine_entry *list = NULL;
	unsigned n = 0;

	fuzz_setup();
	if (!root) {
		root = fuzz_path("root");
		state = fuzz_path("root" RUNSTATE_FILE);
		active = fuzz_path("root" QUARANTINE_ACTIVE_FILE);
	}
	fuzz_write_file(state, data, size);
	if (runstate_read(state, &s) == 0)
		runstate_done(&s);
	fuzz_write_file(active, data, size);
	if (quarantine_active_read(root, &list, &n) == 0)
		free(list);
	return 0;
}
