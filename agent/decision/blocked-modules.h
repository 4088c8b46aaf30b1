/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which kernel modules a quarantine blocks: computed here, in one place,
 * for the initramfs (the state record's list), the real root
 * (/run/modprobe.d) and lifelinectl / signed commands.
 *
 * A component's `modules =` may hold patterns (`badsec*`): the kernel and
 * modprobe.d only know concrete names, so a pattern is resolved against
 * the module names the kernel has under the root (modules.dep and
 * modules.builtin of /lib/modules/<release>). A module that ships in the
 * kernel's own tree (its path starts with kernel/, or it is built in) is
 * never blocked, whatever a configuration or a record says: blocking
 * ext4 or a NIC driver could leave a machine unbootable or unreachable.
 */
#pragma once

#include <stdbool.h>

#include "agent/conf/components.h"
#include "agent/decision/runstate.h"

/* Where the running system's module blocks go (modprobe reads
 * /run/modprobe.d): written by the boot phases, removed by a clear. */
#define BLOCKED_MODPROBE_FILE "/run/modprobe.d/lifeline.conf"

struct module_index {
	char **names;   /* every module name known (normalised: '_') */
	char **in_tree; /* the subset that is in-tree or built in */
	bool loaded;    /* false when no index could be read */
};

/* modules.dep and modules.builtin of <root>/lib/modules/<kver> (then
 * <root>/usr/lib/modules/<kver>); kver NULL: the running kernel. A missing
 * index is not an error: ret->loaded stays false and patterns resolve to
 * nothing. */
int module_index_load(const char *root, const char *kver, struct module_index *ret);
void module_index_done(struct module_index *idx);
bool module_index_in_tree(const struct module_index *idx, const char *name);

/* Append the modules of component c to *l: concrete names as they are,
 * patterns resolved against idx; in-tree names left out (logged). No
 * duplicates. */
int blocked_modules_add_component(const struct component *c, const struct module_index *idx,
                                  char ***l);

/* The modules the quarantine blocks: those of every active component (by
 * id in set; unknown ids have none) plus extra (level 3's list), in-tree
 * ones left out. *ret is NULL when nothing is blocked. */
int blocked_modules(const struct component_set *set, const struct quarantine_entry *active,
                    unsigned n_active, char **extra, const struct module_index *idx, char ***ret);
