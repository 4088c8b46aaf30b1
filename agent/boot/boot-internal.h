/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the early phases share (boot.h): boot-init.c (the initramfs phase),
 * boot-rootfs.c (the real root: apply and record a quarantine),
 * boot-recover.c (the picks made on the root, and finishing a decision a
 * power cut kept off it).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "agent/boot/boot.h"
#include "agent/conf/components.h"
#include "agent/decision/runstate.h"

/* Whether path (an explicit [boot] state_file) lies on a filesystem other
 * than the one whose root device is root_dev: in the initramfs, root_dev
 * is the initramfs's own, and a state file there would be counted into
 * memory and lost at every boot. The nearest existing ancestor of path
 * decides. */
bool boot_path_off_device(const char *path, dev_t root_dev);

/* <run_dir>/rel, or <root>/run/lifeline/rel. */
char *boot_run_path(const struct boot_opts *o, const char *rel);
/* Every configured component's id appended to *ids (no duplicates). */
void boot_all_component_ids(const struct component_set *set, char ***ids);
/* o->kernel_release, else the running kernel's. */
char *boot_kernel_release(const struct boot_opts *o);

/* Level 1 without a panic-log suspect: the components changed since the
 * last good inventory (content rolled back where it can be), into
 * rs->quarantine and rs->reason; lines for the history into *files. With
 * no last good inventory and no panic log at all (rs->evidence empty):
 * boot_pick_by_recency(). */
void boot_pick_by_inventory(const struct boot_opts *o, const struct component_set *set,
                            struct runstate *rs, char ***files);
/* Level 1 with no panic log and no last good inventory: the component(s)
 * changed most recently (recency.h) into rs->quarantine, the reason
 * ("no panic log and no last good boot: badsec changed most recently
 * (...)") into rs->reason, one evidence line per component. Returns true
 * when something was picked; rs is left as it was otherwise (but for the
 * evidence lines). */
bool boot_pick_by_recency(const struct boot_opts *o, const struct component_set *set,
                          struct runstate *rs);
/* Level 3: the out-of-tree module files and their names. */
void boot_pick_out_of_tree(const struct boot_opts *o, struct runstate *rs);
/* Whether this boot must finish an earlier boot's decision that never
 * reached the root, and doing so. */
bool boot_decision_lost(const struct runstate *rs, const struct quarantine_entry *active,
                        unsigned n_active, bool lists_ok, const char *root);
void boot_rebuild_decision(const struct boot_opts *o, const struct component_set *set,
                           struct runstate *rs, char ***files);
