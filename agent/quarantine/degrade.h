/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file part of a degrade step (docs/degrade.md): a component's
 * degrade_file / degrade_set edits applied to the machine crash-safely,
 * and undone exactly. State under
 *
 *   <root>/var/lib/lifeline/degrade/<component>/
 *       manifest     the journal: what each file was and becomes
 *       orig-N       file N as it was (bytes, mode, owner, mtime, xattrs)
 *       new-N        what file N becomes
 *
 * The copies and the manifest are durable before any file of the
 * machine changes; each file is then replaced atomically (temp file in
 * its folder, fsync, rename, fsync of the folder). What a file holds
 * decides what is left to do (its SHA-256 against the manifest's "was"
 * and "becomes"), so an apply or an undo cut by a power loss at any point
 * is finished by running it again, or by degrade_recover(), from the
 * manifest alone: the drop-in is not read again.
 *
 * Files are reached through folders opened one component at a time with
 * O_NOFOLLOW from the root (common/rooted-walk.h): a symlink anywhere on
 * the way is refused, never followed. No vendor command runs.
 *
 * What the boot phases do around it (blocking the modules, masking the
 * kernel units, moving the kernel content) is not here: this is only the
 * user-mode switch. Library code: logs at debug level only; problems go
 * into the result's lines.
 */
#pragma once

#include <stddef.h>

#include "agent/conf/components.h"

#define DEGRADE_DIR "/var/lib/lifeline/degrade"
/* Largest file a degrade step edits or restores. */
#define DEGRADE_FILE_MAX (1024 * 1024)

struct degrade_result {
	unsigned changed;  /* apply: files that now hold the user-mode setting */
	unsigned restored; /* undo: files put back as they were (or removed when new) */
	unsigned kept;     /* undo: files changed by someone else since the apply, kept,
	                    * or gone with their folder (nothing to put back) */
	char **lines;      /* one human-readable line per problem and a summary (strv) */
};

void degrade_result_done(struct degrade_result *r);

/* Applies c's degrade step under root (NULL or "/" = the real root).
 * All or nothing: every edit is computed first (a key that is missing or
 * found twice, a file too large, a symlink on the way, a protected path
 * refuses the whole step, and nothing changes); a file that changes under
 * it while it runs makes it undo what it did. Idempotent: an applied step
 * is left as it is (0); an interrupted apply is finished; an interrupted
 * undo is finished first, then the step applied anew.
 * Returns 0 (fills *ret when not NULL), -EINVAL when c has no degrade
 * step, -ENOENT / -ENOTUNIQ / -EMEDIUMTYPE / -EFBIG / -ELOOP / -EPERM for
 * a step that cannot apply on this machine (the reason in ret->lines),
 * -ESTALE when a file changed during the apply (undone), -EWOULDBLOCK
 * when another lifeline process held the degrade directory for longer
 * than QUARANTINE_LOCK_TIMEOUT_MS (nothing done), another -errno. */
int degrade_apply(const char *root, const struct component *c, struct degrade_result *ret);

/* Puts every file of component_id's degrade back: the original bytes,
 * mode, owner, mtime and xattrs; a file that did not exist before is
 * removed. A file someone changed since the apply (it holds neither what
 * the step wrote nor the original) is kept and counted in kept; so is a
 * file whose folder no longer exists (its package was removed): there is
 * nothing to put back, and the undo still finishes. The state directory
 * goes last. Idempotent: nothing degraded is success with zero
 * counts; an interrupted undo or apply is finished as an undo.
 * -EWOULDBLOCK as for degrade_apply(). */
int degrade_undo(const char *root, const char *component_id, struct degrade_result *ret);

/* Finishes every interrupted apply (as an apply) and undo (as an undo),
 * and removes state directories a cut left before their manifest was
 * written. The number of jobs finished, or the first -errno
 * (-EWOULDBLOCK as for degrade_apply()). */
int degrade_recover(const char *root);

/* The number of jobs degrade_recover() would finish (an apply or undo
 * cut short, a state folder without its manifest), without writing
 * anything, so it works on a read-only root; 0 when the degrade
 * directory does not exist; or -errno. */
int degrade_needs_recovery(const char *root);

/* The reason of a failure r of the functions above, for a log line: for
 * -EWOULDBLOCK "/var/lib/lifeline/degrade: held by another lifeline
 * process ...", else strerror(). */
const char *degrade_strerror(int r);

/* 1 when component_id is degraded (its manifest says applying or
 * applied), 0 when not, or -errno. Reads only. */
int degrade_exists(const char *root, const char *component_id);

/* The ids of degraded components (applying or applied), sorted. */
int degrade_list(const char *root, char ***ret_ids);

/* The text edit of degrade_set, on a buffer (degrade-edit.c): replaces
 * the value of the one line that holds key. YAML: "a.b" is key b inside
 * the block mapping a (block style only, spaces for indentation; the
 * value a plain or quoted one-line scalar; a trailing comment is kept).
 * key = value: "key" before any section, or "section.key" in
 * [section]; the rest of the line after '=' is the value. Line ends
 * (LF or CRLF) are kept. Returns 0 and the new text (NUL-terminated,
 * *ret_size without it), or -ENOENT (no such key), -ENOTUNIQ (more than
 * one line could be meant), -EMEDIUMTYPE (the key's value or the file's
 * syntax is something this editor does not edit: flow or multi-line
 * values, tabs, several documents), with *ret_why saying what. */
int degrade_edit_text(enum degrade_format f, const char *text, size_t size, const char *key,
                      const char *value, char **ret, size_t *ret_size, const char **ret_why);
