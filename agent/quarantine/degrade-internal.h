/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by degrade.c (the engine) and degrade-manifest.c (the journal
 * format). Not for other modules: degrade.h is the interface.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/quarantine/degrade.h"
#include "common/macro.h"
#include "common/sha256.h"

#define DM_MAGIC     "lifeline-degrade-manifest"
#define DM_VERSION   1
#define DM_NAME      "manifest"
#define DM_TMP_NAME  "manifest.tmp"
#define DM_MAX_SIZE  (256 * 1024)
#define DM_FILES_MAX DEGRADE_EDITS_MAX

enum dm_state {
	DM_APPLYING, /* the copies and the manifest are durable; files are being replaced */
	DM_APPLIED,  /* every file holds what the step writes */
	DM_UNDOING,  /* files are being put back; the state goes once they all are */
	_DM_STATE_MAX,
};

/* One file the step changes. */
struct dentry {
	unsigned idx; /* its copies: orig-<idx>, new-<idx> */
	char *path;   /* absolute, without the root */
	bool existed; /* false: the step creates it, the undo removes it */
	mode_t mode;  /* what it was (existed) or gets (new), 07777 */
	uid_t uid;
	gid_t gid;
	int64_t mtime_sec; /* existed only */
	long mtime_nsec;
	uint8_t was[SHA256_DIGEST_SIZE];     /* existed only */
	uint8_t becomes[SHA256_DIGEST_SIZE]; /* what the step writes */
};

struct dmanifest {
	char *id;
	enum dm_state state;
	struct dentry *e;
	size_t n;
};

const char *dm_state_to_string(enum dm_state s);
void dmanifest_done(struct dmanifest *m);
static inline void dmanifest_donep(struct dmanifest *m)
{
	dmanifest_done(m);
}
/* Appends e, taking its path. */
int dmanifest_add(struct dmanifest *m, struct dentry *e);
/* Text form, ending with a checksummed "end" line. */
int dmanifest_format(const struct dmanifest *m, char **ret, size_t *ret_size);
/* -EBADMSG for a damaged or truncated manifest or an unknown field,
 * -EPROTONOSUPPORT for a newer version. */
int dmanifest_parse(const char *text, size_t size, struct dmanifest *ret);
/* Reads / writes (tmp + fsync + rename + fsync(dir)) "manifest" in dir_fd. */
int dmanifest_load(int dir_fd, struct dmanifest *ret);
int dmanifest_save(int dir_fd, const struct dmanifest *m);
