/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which components to quarantine at a level (DESIGN.md "Choosing
 * suspects"): level 1 the component the last panic log names (RIP module,
 * call-trace modules, Comm task mapped to a component binary), level 2
 * every configured component, level 3 those plus every out-of-tree or
 * unsigned module the panic log lists (taint O/E). Level 1 with no
 * evidence leaves the choice to the inventory diff on the real root.
 */
#pragma once

#include "components.h"

struct suspects {
	char **components;    /* component ids, strongest evidence first */
	char **extra_modules; /* level 3: modules not owned by any component */
	char *reason;	      /* one sentence for reports and the console */
	char **evidence;      /* the log lines the choice rests on */
	bool need_inventory;  /* level 1 found no evidence in pstore */
};

int suspects_pick(unsigned level, const char *pstore_text_dir, const struct component_set *set,
		  struct suspects *ret);
void suspects_done(struct suspects *s);
