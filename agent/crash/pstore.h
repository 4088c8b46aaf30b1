/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pstore: take the previous boot's crash logs out of the kernel's
 * persistent store, keep their text, and read the evidence in them.
 *
 * Collecting. With efi-pstore (Linux 6.1, drivers/firmware/efi/efi-pstore.c
 * and fs/pstore/platform.c) every crash dump ("kmsg dump") is split into
 * parts of ~1 KiB, each one an EFI variable shown as /sys/fs/pstore/
 * dmesg-efi-<id>, where id = (seconds * 100 + part) * 1000 + count. Each
 * part starts with a header line "<Reason>#<count> Part<part>" ("Oops#1
 * Part1", "Panic#2 Part3"); count numbers the dumps of that boot. The
 * kernel fills part 1 with the NEWEST end of the log and goes backwards,
 * so a record reads in log order when its parts are sorted by descending
 * part number. Unlinking a file erases its variable; nothing else does
 * while a crash loop never reaches systemd-pstore, and efi-pstore fills
 * NVRAM in about ten crashes.
 *
 * Parsing. One record's text yields the evidence lifeline ranks for
 * choosing suspects: the module of the faulting instruction (RIP line),
 * the modules of the call trace, the task (Comm:). "Modules linked in"
 * lists every loaded module and is context, never evidence by itself.
 *
 * Library code: logs at debug level only; returns >= 0 or -errno; ret_*
 * parameters are written only on success.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

/* Bounds of pstore_collect(). Sizes are before reassembly. */
#define PSTORE_FILES_MAX       256           /* files read (newest first) */
#define PSTORE_FILE_SIZE_MAX   (64u * 1024u) /* larger files are skipped */
#define PSTORE_TOTAL_SIZE_MAX  (4u * 1024u * 1024u)
#define PSTORE_DIR_ENTRIES_MAX 8192 /* directory entries looked at */

/* The kernel keeps task names in TASK_COMM_LEN (16) bytes with the NUL. */
#define PSTORE_COMM_MAX 15

/* A file a record was read from: unlinked by pstore_erase() only while it
 * is still that file (same device and inode). */
struct pstore_source {
	char *path;
	dev_t dev;
	ino_t ino;
};

/* One crash dump, reassembled. */
struct pstore_record {
	/* File name stem of the saved text: "<backend>-<seconds>-<reason>-<count>"
	 * for parts ("efi-1732371234-oops-1"), the file's own stem for a saved
	 * ".txt" record that was read back. Unique within one log. */
	char *name;
	char *reason;      /* "Oops", "Panic", ... from the header; "Unknown" without one */
	unsigned event;    /* the N of "Oops#N" (dumps since that boot began); 0 unknown */
	uint64_t time;     /* seconds since the epoch, when known (efi id or mtime); 0 unknown */
	unsigned n_parts;  /* parts (files) this record was made of */
	bool incomplete;   /* some part between 1 and the highest one found is missing */
	char *text;        /* kernel log, oldest line first, part headers removed; NUL-terminated */
	size_t size;       /* strlen(text) */
	char *saved_path;  /* "<save_dir>/<name>.txt" once written; NULL when not saved */
	int save_error;    /* < 0: saving failed, and this record's sources were kept */
	unsigned n_erased; /* source files unlinked */
	int erase_error;   /* < 0: first failure to unlink one of the sources */
	struct pstore_source *sources; /* the n_sources files it was read from */
	unsigned n_sources;
};

struct pstore_log {
	struct pstore_record *records; /* oldest first (time, then event number) */
	size_t n_records;
	unsigned n_skipped; /* entries ignored: odd names, symlinks, not
	                     * regular, empty, not text, too large, over a cap */
	bool capped;        /* a PSTORE_*_MAX bound was reached */
};

/*
 * Read every crash record under pstore_dir and return them reassembled.
 *
 * pstore_dir may be: the pstore mount (/sys/fs/pstore: dmesg-<backend>-<id>
 * files), systemd-pstore's archive (/var/lib/systemd/pstore/<id>/dmesg-efi-*:
 * one level of subdirectories is searched for dmesg-* files), or a directory
 * of records saved by this function (*.txt, read back as one record each).
 * Symlinks are never followed (the top directory itself excepted).
 * Compressed records the kernel could not inflate ("*.enc.z"), binary or
 * oversized files are skipped: neither read nor erased.
 *
 * save_dir (NULL: do not save): created when missing (mode 0700); each
 * record is written to "<save_dir>/<name>.txt" (mode 0600) crash-safely as
 * a header line "<Reason>#<N>" followed by the text.
 *
 * erase: unlink the source files of each record once its text is saved
 * (with save_dir NULL: once it is in memory; the caller then owns the only
 * copy). A record that could not be saved keeps its sources. A file is
 * unlinked only while it is still the file that was read.
 *
 * Returns the number of records (>= 0) and sets *ret (free with
 * pstore_log_free()), or -ENOENT / -ENOTDIR / -EACCES when pstore_dir
 * cannot be opened, -ENOMEM.
 */
int pstore_collect(const char *pstore_dir, const char *save_dir, bool erase,
                   struct pstore_log **ret);

/*
 * Unlink the source files of every record of log that was not refused by
 * its save (save_error == 0), each only while it is still the file that
 * was read: what pstore_collect(..., erase = true, ...) does at its end,
 * for a caller that must first make something else durable (the init
 * phase writes the state record before it frees NVRAM: a power cut in
 * between must not lose the panic log). Calling it again unlinks nothing
 * more. Returns the number of files unlinked; failures are in each
 * record's erase_error.
 */
unsigned pstore_erase(struct pstore_log *log);

struct pstore_log *pstore_log_free(struct pstore_log *log);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pstore_log *, pstore_log_free)

/* One frame of the call trace. */
struct pstore_frame {
	char *function; /* "badsec_init+0xd3/0x1000", or a bare address "0xffffffffc0a3c000" */
	char *module;   /* "badsec" as printed; NULL: core kernel (or unresolved) */
	bool reliable;  /* false for frames printed with "? " (stale stack words) */
};

#define PSTORE_FRAMES_MAX         64
#define PSTORE_TRACE_LINES_MAX    8
#define PSTORE_MODULES_LINKED_MAX 1024

/*
 * Evidence from one oops / panic text. Fields are NULL (or 0) when the text
 * does not have them. Everything is taken from the first crash in the text:
 * from its first headline ("BUG: ...", "Oops: ...", "general protection
 * fault", "INFO: task ... blocked", soft lockup), so a WARN earlier in the
 * boot does not lend its RIP, Comm or trace; from the start without one.
 */
struct pstore_evidence {
	char *headline; /* "BUG: kernel NULL pointer dereference, address: 0000000000000000" */

	char *rip_line;     /* "RIP: 0010:badsec_crash+0x5/0x10 [badsec]" */
	char *rip_function; /* "badsec_crash+0x5/0x10" */
	char *rip_module;   /* "badsec"; NULL with a RIP line: core kernel */

	struct pstore_frame *frames; /* first Call Trace of the crash, in printed order */
	size_t n_frames;
	char **trace_lines; /* its first frame lines as printed, NULL-terminated */
	size_t n_trace_lines;

	char *comm_line; /* "CPU: 1 PID: 312 Comm: modprobe Tainted: G           OE      6.1..." */
	char *comm;      /* "modprobe"; for "INFO: task NAME:PID blocked" the blocked task */
	char *taint;     /* "OE" (flags other than G); "" for "Not tainted" */

	char **modules_linked; /* "Modules linked in:" names, flags dropped, NULL-terminated.
	                        * Context only: every loaded module is there. */
	size_t n_modules_linked;
	char *loading_module;       /* first entry flagged '+' (being loaded, e.g. "badsec(OE+)"):
	                             * a weak hint */
	char **modules_third_party; /* "Modules linked in:" entries flagged O (out of tree),
	                             * E (unsigned) or P (proprietary licence), as in
	                             * "falco(OE)" or "nvidia(POE)": kernel code that is not
	                             * the kernel's own. Level 3 quarantines them (suspects.c).
	                             * NULL-terminated, listed order. */
	size_t n_modules_third_party;

	char *panic_line;   /* "Kernel panic - not syncing: Fatal exception" */
	char *panic_reason; /* "Fatal exception" */
};

/*
 * Parse one record's text (size bytes; need not be NUL-terminated).
 * Accepts pstore text ("<4>[   12.345678] RIP: ..."), dmesg / console text
 * ("[   12.345678] RIP: ...") and journal lines ("... kernel: RIP: ...").
 * Returns 0 and fills *ret (free with pstore_evidence_done()), -ENOMSG when
 * the text holds no crash evidence at all (no crash headline, RIP, Call
 * Trace, Comm or panic line), -ENOMEM.
 */
int pstore_parse(const char *text, size_t size, struct pstore_evidence *ret);

/* Frees the members and zeroes *e (NULL is fine). */
void pstore_evidence_done(struct pstore_evidence *e);

/*
 * Module names, strongest evidence first: the RIP module, then the modules
 * of reliable call-trace frames in frame order, then those of unreliable
 * ("? ") frames, then the module being loaded. Deduplicated, '-' written
 * as '_' (the kernel's own module name form). Pseudo-modules of the symbol
 * table ("bpf", "__builtin__*") are not modules and are left out.
 * Returns the count and sets *ret_modules to a NULL-terminated array (free
 * with pstore_strv_free(); empty when there is no module evidence).
 */
int pstore_rank_modules(const struct pstore_evidence *e, char ***ret_modules);

/* One line of a crash text (or of a report's evidence, which quotes
 * such lines): when it is the faulting-instruction line (RIP: 0010:...,
 * IP:, pc :, EIP is at) or a reliable call-trace frame (not "? ") whose
 * symbol is in a module, *ret_module is that module's name (malloc'd, as
 * printed) and 1 is returned; otherwise 0 (and NULL). -ENOMEM. */
int pstore_line_module(const char *line, char **ret_module);

char **pstore_strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, pstore_strv_free)

struct component_set;

/*
 * The crash site of e as a signature for the repeat-crash fast path
 * (docs/design.md "Repeat crashes"): the same bug crashing the same way
 * gives the same value every boot (offsets, addresses and build ids are
 * left out: KASLR and module load addresses change each boot); another
 * function, module or eBPF program gives another value. Only crashes in
 * third-party code level 1 acts on have one, the first rule that applies
 * deciding:
 *
 *  1. the RIP is in an eBPF program ("bpf_prog_<tag>_<name>"): the program;
 *  2. the RIP is in a module a configured component of set names: module
 *     and function;
 *  3. the RIP is elsewhere (core kernel, any other module) but a reliable
 *     call-trace frame ("? " frames are stale stack words) is an eBPF
 *     program or in such a module: the first such frame and the RIP's
 *     function (a component's module that hands a bad pointer to kfree()
 *     crashes in kfree()).
 *
 * A module that is only out of tree ("Modules linked in" flags it O, E or
 * P: a GPU driver, VirtualBox, DKMS zfs) and that no component names has
 * none: level 1 would name no component for it and pick by the inventory
 * diff, one boot sooner, something that did not crash. With set NULL (the
 * drop-ins failed to load) no module has one; eBPF programs still do.
 *
 * A module of the protected set (set->protected: a driver this machine
 * needs to boot or be reached, such as DKMS zfs) never gives one, even
 * when a component names it:
 * lifeline does not quarantine it, so hurrying the escalation for it would
 * only quarantine something else sooner. Nor does a crash without a RIP
 * line (a hung task), or a RIP or frame the kernel could not resolve to a
 * symbol (a bare address changes every boot).
 *
 * Returns 1 with *ret_sig (never 0) and *ret_what ("badsec_init (module
 * badsec)", "eBPF program fs_read_enter", "kfree called from badsec_exit
 * (module badsec)"; malloc'd), 0 when the crash has no signature (both
 * then untouched), -ENOMEM.
 */
int pstore_crash_signature(const struct pstore_evidence *e, const struct component_set *set,
                           uint32_t *ret_sig, char **ret_what);

/*
 * Whether the Comm of an oops can be the process started from a binary of
 * this name. The kernel keeps only the first 15 bytes of a task name
 * (TASK_COMM_LEN): "falcon-sensor-bpf" runs as "falcon-sensor-b". A path is
 * reduced to its last component. Exact for names under 16 bytes.
 */
bool pstore_comm_matches_binary(const char *comm, const char *binary_basename);
