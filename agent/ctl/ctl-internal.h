/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What lifelinectl's verb files share: the read-only view of the state
 * (configuration, store, record) and the quarantined ids.
 */
#pragma once

#include <json-c/json.h>

#include "agent/conf/config.h"
#include "agent/decision/runstate.h"
#include "common/macro.h"
#include "efi/store.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

#define CTL_JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)

struct ctl_state {
	struct lifeline_config cfg;
	struct store *store;
	struct state_record rec;
	int load_error;   /* 0, -ENOENT (no record yet) or why it is unreadable */
	int config_error; /* config_load()'s result: -EINVAL bad values (logged) */
};

/* Config + store + record, read only. Returns an exit code (CTL_EXIT_*);
 * on failure nothing is left to free. */
int ctl_state_open(const char *root, struct ctl_state *st);
void ctl_state_done(struct ctl_state *st);
/* CTL_EXIT_OK when the record read (or there is none yet), else
 * CTL_EXIT_STATE, logged. */
int ctl_require_record(const struct ctl_state *st);

/* The ids quarantined: the active list, plus what this boot's hand-off
 * (rs, may be NULL) decided while the rootfs phase has not yet made that
 * durable (quarantine/decided below rs's generation). */
char **ctl_quarantined_ids(const char *root, const struct runstate *rs);
/* The ids of the active list that are degraded, not quarantined
 * (docs/degrade.md); NULL when none. */
char **ctl_degraded_ids(const char *root);

/* "2026-12-07 03:00:00 UTC", or "unix time N" for a time gmtime_r()
 * cannot convert. */
void ctl_format_time(uint64_t t, char *buf, size_t size);
