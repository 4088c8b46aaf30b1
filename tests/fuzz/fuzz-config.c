/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /etc/lifeline/lifeline.conf: the whole loader (file read, INI parser,
 * every key's handler), then the INI parser alone on the raw bytes (not
 * NUL-terminated: it must keep to size). */
#include <stdlib.h>

#include "agent/conf/config.h"
#include "tests/fuzz/fuzz.h"

static int count_items(const struct config_ini_item *item, void *userdata)
{
	(void)item;
	(*(unsigned *)userdata)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;
	struct lifeline_config c;
	unsigned n = 0, errors = 0;

	fuzz_setup();
	if (!path)
		path = fuzz_path("lifeline.conf");
	fuzz_write_file(path, data, size);
	config_init_defaults(&c);
	(void)config_load_file(path, &c);
	config_done(&c);
	(void)config_parse_ini("fuzz", (const char *)data, size, count_items, &n, &errors);
	return 0;
}
