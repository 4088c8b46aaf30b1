/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which components to quarantine at a level: level 1 the component the last panic log names (RIP
 * module, call-trace modules, or the Comm task mapped to a component binary or unit, but only when
 * the trace corroborates it: an eBPF program (bpf_prog_*) at the RIP or in a reliable frame, or the
 * RIP or a reliable frame in that component's own module; a task name alone can be set by any user
 * and is never evidence), level 2 every configured component, level 3 those plus every out-of-tree
 * or unsigned module the panic log lists (taint O/E). Level 1 with no evidence leaves the choice to
 * the real root (need_inventory): the diff against the last good inventory, or, when there was no
 * crash text at all (evidence NULL) and there is no last good inventory, recency
 * (agent/inventory/recency.h). A panic log that names no component is evidence against them all:
 * no recency pick then.
 *
 * Level 3, precisely (docs/design.md, level 3: "every out-of-tree / unsigned module"):
 *  - every module the panic logs' "Modules linked in" flags O (out of
 *    tree), E (unsigned) or P (proprietary licence) that no component
 *    owns, blocked by name (state record for the initramfs, the durable
 *    module list for the real root). P is included: a proprietary module
 *    is never part of the kernel tree, so it is third-party kernel code as
 *    much as O. A protected module (protected.h: a driver this machine
 *    needs to boot or be reached, DKMS zfs, r8168) never is. Modules
 *    merely named in the call trace are not: an in-tree
 *    module (xfs, ext4, a NIC driver) may be the root's own, and blocking
 *    it could leave the machine unbootable, which a crash in it does not
 *    justify (give-up follows instead).
 *  - the module files in the running kernel's out-of-tree install
 *    directories, /lib/modules/<kver>/updates (DKMS on Debian, and
 *    vendors' packages) and /lib/modules/<kver>/extra (DKMS on RHEL-like
 *    systems, kmod packages), moved into the quarantine as the pseudo
 *    component SUSPECTS_OOT_ID: that covers modules the panic log did not
 *    list (never loaded before the crash) and is undone by
 *    `lifelinectl clear` like any quarantine. In-tree modules
 *    (kernel/...) are never touched.
 */
#pragma once

#include "agent/conf/components.h"

struct suspects {
	char **components;    /* component ids, strongest evidence first */
	char **extra_modules; /* level 3: modules not owned by any component */
	char *reason;         /* one sentence for reports and the console */
	char **evidence;      /* the log lines the choice rests on */
	bool need_inventory;  /* level 1 found no component in pstore */
};

int suspects_pick(unsigned level, const char *pstore_text_dir, const struct component_set *set,
                  struct suspects *ret);
void suspects_done(struct suspects *s);

/* Whether evidence (a decision's quoted crash lines, struct suspects
 * evidence) names c's kernel half: a module of c (its patterns matched,
 * '-' as '_') in the faulting-instruction line or in a reliable
 * call-trace frame. What a degrade step needs before it is used instead
 * of a quarantine (docs/degrade.md): an eBPF program or a task name of
 * c's daemon is its user-mode half, which a degrade keeps running. */
bool suspects_evidence_names_kernel_half(const struct component *c, char *const *evidence);
/* The level-1 rule (docs/degrade.md): c, chosen on the crash's evidence,
 * is degraded rather than quarantined when it has a degrade step and the
 * evidence names its kernel half. The rootfs phase decides by it, and
 * `lifelinectl plan` shows it. */
bool suspects_degrade_instead(const struct component *c, char *const *evidence);

/* The pseudo component of level 3: the module files (*.ko, *.ko.xz,
 * *.ko.zst, *.ko.gz) of the out-of-tree install directories of kernel
 * kver, under /lib/modules and /usr/lib/modules (merged /usr makes /lib a
 * symlink, and component globs never cross one), up to three directory
 * levels deep. Free with component_done(). */
#define SUSPECTS_OOT_ID "lifeline-out-of-tree-modules"
int suspects_oot_component(const char *kver, struct component *ret);

/* Module names of files such as "updates/dkms/badsec.ko.xz" ("badsec"),
 * appended to *modules without duplicates; other files are skipped. */
int suspects_module_names_from_files(char **files, char ***modules);
