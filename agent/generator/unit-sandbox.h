/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelined.service runs with ProtectSystem=strict: the whole file system
 * is read-only to it but for the paths it names. A fleet "clear" or
 * "quarantine" moves a component's files wherever its globs say (/opt,
 * /usr/lib/modules, /etc...), so lifeline-generator writes, at every boot,
 * a drop-in that opens exactly those directories:
 *
 *   <dir>/lifelined.service.d/50-lifeline-components.conf
 *   [Service]
 *   ReadWritePaths=-"/opt/vendor/bin"
 *   ...
 *
 * one line per directory: the part of each files/content glob before its
 * first wildcard component (the directory of a literal path), directories
 * inside another listed one left out; [boot] state_file's directory too.
 * "-": a directory that does not exist (yet) is no error.
 */
#pragma once

#include "agent/conf/components.h"
#include "agent/conf/config.h"

#define UNIT_SANDBOX_DROPIN "lifelined.service.d/50-lifeline-components.conf"

/* The writable directories for set and cfg, sorted, without duplicates or
 * nested entries. */
int unit_sandbox_paths(const struct component_set *set, const struct lifeline_config *cfg,
                       char ***ret);
/* The drop-in's text. Paths systemd cannot take quoted (a '"' or '\') are
 * left out with a warning. */
int unit_sandbox_format(char *const *paths, char **ret);
/* Loads components.d and lifeline.conf under root and writes the drop-in
 * into dir (a generator's output directory). */
int unit_sandbox_write(const char *root, const char *dir);
