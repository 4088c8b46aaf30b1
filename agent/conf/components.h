/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The component registry: one section per third-party security product
 * in drop-ins NAME.conf of two folders, systemd's
 * convention: vendors and the package ship theirs in
 * /usr/lib/lifeline/components.d/; a file of the same name in
 * /etc/lifeline/components.d/ replaces it, and an empty one or a symlink
 * to /dev/null there masks it (the name is then not loaded at all). Files
 * only in /etc are loaded as well (an install without /usr/lib drop-ins
 * works as before). Names of both folders are loaded in one lexical order.
 *
 * A broken drop-in never takes the registry down: a component with a bad
 * value is left out, a file with a syntax error is left out whole, and
 * every other component still loads. A component that names something
 * protected (protected.h) is left out too, and listed in ->refused.
 * Problems are logged by the loader ("FILE:LINE: [id] key: ...": they are
 * the user-facing message).
 *
 * Degrade steps (docs/degrade.md). kernel_units and kernel_content name
 * the kernel half of a component besides its modules; degrade_units the
 * units that run it in user mode (all three join units / content, so
 * the lookups and a quarantine see them); degrade_file =
 * PATH SOURCE installs the file SOURCE (a plain name in the drop-in's own
 * folder, read at load, at most DEGRADE_SOURCE_MAX bytes) at PATH;
 * degrade_set = PATH KEY VALUE sets one existing key of PATH. PATH is
 * absolute, normalised, without glob characters, not protected, and no
 * symlink on the way to it under the root (checked at load when it
 * exists, and again when the step is applied). A path is installed or
 * edited, not both.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "agent/conf/names.h"

/* One declarative edit of a degrade step (see "Degrade steps" below). */
enum degrade_kind {
	DEGRADE_INSTALL, /* degrade_file: install a whole file */
	DEGRADE_SET,     /* degrade_set: set one existing key of a file */
};

/* How degrade_set reads its file: by the file name's suffix. */
enum degrade_format {
	DEGRADE_FORMAT_KEYVALUE, /* "key = value" lines, "[section]" headers */
	DEGRADE_FORMAT_YAML,     /* .yaml / .yml: block mappings, "a.b.c" keys */
};

struct degrade_edit {
	enum degrade_kind kind;
	enum degrade_format format; /* DEGRADE_SET */
	char *path;                 /* absolute, normalised, on the machine (no root) */
	char *key;                  /* DEGRADE_SET: "engine.kind", "General.SafeMode" */
	char *value;                /* DEGRADE_SET: one plain word */
	char *data;                 /* DEGRADE_INSTALL: the content, read at load */
	size_t size;                /* of data */
	unsigned line;              /* of the key line in the drop-in */
};

struct component {
	char *id;          /* the section name: [A-Za-z0-9_.-], at most 64 */
	char *vendor;      /* free text, may be NULL */
	char *source_file; /* the drop-in it came from, as read (with the root) */
	char **modules;    /* kernel module names, '-' normalised to '_'; may hold
	                    * '*' / '?' patterns (versioned names such as
	                    * falcon_lsm_pinned_*): see module_name_match() */
	char **units;      /* systemd unit names (a template "x@.service" covers its instances) */
	char **files;      /* absolute globs: binaries, libraries */
	char **content;    /* absolute globs: content / channel updates */
	bool rollback_content; /* default true */
	unsigned source_line;  /* line of the section header */
	/* The kernel half, for a degrade step (docs/degrade.md): the modules
	 * above, these units (also in units) and this content (also in
	 * content). */
	char **kernel_units;
	char **kernel_content;
	/* Units that run the product in user mode, started while it is
	 * degraded (also in units): falco-modern-bpf.service. */
	char **degrade_units;
	/* The degrade step: the edits that switch the product to its user
	 * mode, in drop-in order; none (n_degrade 0) = no degrade step. */
	struct degrade_edit *degrade;
	size_t n_degrade;
};

/* A component the loader left out because it names something protected
 * (protected.h), for `lifelinectl components` and `check` to show. */
struct component_refusal {
	char *id;
	char *file;
	unsigned line; /* of the offending key line */
	char *what;    /* the module, unit or glob */
	char *reason;  /* why it is protected */
};

struct protected_set;

struct component_set {
	struct component *items;
	size_t n;
	struct component_refusal *refused; /* left out: names protected things */
	size_t n_refused;
	/* the protected set the drop-ins were checked against; a reference
	 * the set holds (components_done() drops it); NULL when unknown */
	struct protected_set *protected;
};

/* Largest degrade_file SOURCE. */
#define DEGRADE_SOURCE_MAX (64 * 1024)
/* Most edits in one component's degrade step. */
#define DEGRADE_EDITS_MAX 32

/* component_expand_files() refuses to return more paths than this. */
#define COMPONENT_EXPAND_MAX 100000

/* Loads the drop-ins of <root>/etc/lifeline/components.d and
 * <root>/usr/lib/lifeline/components.d (root NULL or "/" = the real root;
 * see above) in lexical order. A component naming a protected module,
 * unit or path (protected.h: checked against the set of root) is left out
 * with "FILE:LINE: [id] key: "X" is protected (reason)" and listed in
 * ->refused. Only names ending in ".conf" and not
 * starting with '.', that are regular files or symlinks to one.
 * Returns 0 with the good components (*ret assigned; a missing directory
 * is an empty set) and, when ret_problems is not NULL, the number of
 * errors logged (components or files left out, duplicates).
 * Returns -errno (and assigns nothing) only when the directory exists but
 * cannot be listed, or on ENOMEM. */
int components_load(const char *root, struct component_set *ret, unsigned *ret_problems);

/* Frees the set's contents and zeroes it. Accepts NULL. */
void components_done(struct component_set *s);
void component_done(struct component *c);

/* True when any files/content glob matches an existing path under root
 * (directories included; symlinks not followed below the root except on
 * the real root), or, on the real root only (root NULL or "/"), when one
 * of its modules is loaded (/proc/modules). Stops at the first match, so a
 * glob over thousands of files costs one directory read. */
bool component_is_active(const struct component *c, const char *root);

/* Whether proc_modules (the text of /proc/modules) lists one of c's
 * modules. component_is_active() uses it on the real root. */
bool component_has_loaded_module(const struct component *c, const char *proc_modules);

/* The regular files (lstat: symlinks are neither followed nor returned)
 * that the component's globs match under root, without the root prefix,
 * sorted, without duplicates. content_only: only the content globs.
 * Directories reached through a symlink are not entered. Returns 0 and
 * *ret_paths (maybe empty), -E2BIG when more than max paths match
 * (COMPONENT_EXPAND_MAX for the first form), or another -errno. */
int component_expand_files(const struct component *c, const char *root, bool content_only,
                           char ***ret_paths);
int component_expand_files_max(const struct component *c, const char *root, bool content_only,
                               size_t max, char ***ret_paths);

/* Whether c has a degrade step (at least one edit). */
bool component_can_degrade(const struct component *c);
/* The kernel half of c as a component of its own, for the engines that
 * take one (the module block, the unit mask, the quarantine of the
 * kernel content): c's id, vendor and source, its modules, kernel_units
 * as units and kernel_content as content (moved aside, not rolled back),
 * no files and no degrade step. 0 or -ENOMEM; free with component_done(). */
int component_kernel_half(const struct component *c, struct component *ret);
/* The format degrade_set uses for path: YAML for *.yaml and *.yml. */
enum degrade_format degrade_format_of(const char *path);
/* A degrade_set KEY: names of [A-Za-z0-9_-] joined by '.' (YAML: any
 * depth; key = value: "key" or "section.key"). */
bool degrade_key_is_valid(enum degrade_format f, const char *key);
/* A degrade_set VALUE: one plain word of [A-Za-z0-9_.:/+@-], at most 255. */
bool degrade_value_is_valid(const char *value);

/* Lookups; NULL when no component matches. */
const struct component *components_find(const struct component_set *s, const char *id);
/* module: as /proc/modules or an oops names it, '-' or '_' alike. */
const struct component *components_find_module(const struct component_set *s, const char *module);
/* unit: "x.service", or an instance "x@y.service" of a listed template. */
const struct component *components_find_unit(const struct component_set *s, const char *unit);
/* path: an absolute path (without root) that one of the files/content
 * globs matches (fnmatch with FNM_PATHNAME | FNM_PERIOD). */
const struct component *components_find_path(const struct component_set *s, const char *path);
