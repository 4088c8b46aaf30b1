/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The protected set's readers (agent/conf/protected*.c): one input is
 * written as a temp root's dpkg status file, a package's .list, a
 * kernel's modules.dep, /proc/self/mountinfo, /proc/net/route and
 * /proc/cmdline, and the
 * set is built from them and queried. Properties: no crash, no leak, and
 * lifeline's own files and the OS identity stay protected whatever the
 * input.
 */
#include <stdlib.h>

#include "agent/conf/protected.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const files[] = {
	    "root/var/lib/dpkg/status",
	    "root/var/lib/dpkg/info/coreutils.list",
	    "root/lib/modules/6.1.0-fuzz/modules.dep",
	    "root/proc/self/mountinfo",
	    "root/proc/net/route",
	    "root/proc/cmdline",
	};
	static char *root, *paths[6];
	char *keep[] = {NULL};
	struct protected_set p;

	fuzz_setup();
	if (!root) {
		root = fuzz_path("root");
		for (size_t i = 0; i < 6; i++)
			paths[i] = fuzz_path(files[i]);
	}
	for (size_t i = 0; i < 6; i++)
		fuzz_write_file(paths[i], data, size);
	if (protected_set_load(root, keep, &p) < 0)
		return 0;
	fuzz_assert(protected_path_reason(&p, "/etc/lifeline/fleet.pub"));
	fuzz_assert(protected_path_reason(&p, "/etc/passwd"));
	fuzz_assert(protected_glob_reason(&p, "/etc/*"));
	fuzz_assert(protected_unit_reason(&p, "ssh.service"));
	(void)protected_path_reason(&p, "/usr/bin/ls");
	(void)protected_glob_reason(&p, "/usr/lib/modules/*/updates/*");
	(void)protected_module_reason(&p, "zfs");
	(void)protected_module_reason(&p, "e1000*");
	protected_set_done(&p);
	return 0;
}
