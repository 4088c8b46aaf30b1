/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Putting quarantined files back (quarantine.h, and the table of cases
 * at the top of quarantine.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf/components.h"
#include "agent/quarantine/quarantine-internal.h"
#include "agent/quarantine/quarantine.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

static void copy_path(const struct qjob *j, const struct qentry *e, char *buf, size_t size)
{
	snprintf(buf, size, QUARANTINE_DIR "/%u/%s/" QM_FILES_DIR "%s", j->generation, j->id,
	         e->path);
}

static void entry_restored(struct qjob *j, struct qentry *e, int ofd, const char *name, bool count)
{
	int r;

	/* Owner, mode, xattrs and mtime as recorded: a no-op after a rename
	 * unless something changed them meanwhile; needed after a copy. */
	fault_point("quarantine-restore-meta");
	r = qmeta_apply_at(ofd, name, e);
	if (r < 0) {
		j->res.errors++;
		qresult_line(&j->res,
		             "%s: put back, but its owner, mode, xattrs or mtime could not be "
		             "restored: %s",
		             e->path, strerror(-r));
	}
	e->state = QE_RESTORED;
	e->error = 0;
	if (count)
		j->res.restored++;
}

static void entry_kept(struct qjob *j, struct qentry *e, const char *why)
{
	char where[PATH_MAX + 128];

	copy_path(j, e, where, sizeof(where));
	e->state = QE_KEPT_VENDOR;
	j->res.kept_vendor++;
	qresult_line(&j->res, "%s: %s; kept it, the quarantined copy stays at %s", e->path, why,
	             where);
}

/* In place and in the quarantine. */
static int restore_both(struct qjob *j, struct qentry *e, int ofd, int qfd, const char *name,
                        bool was_moved)
{
	uint8_t ho[SHA256_SIZE];
	int r;

	r = qfile_hash(ofd, name, ho);
	if (r < 0)
		return r;
	if (memcmp(ho, e->sha256, SHA256_SIZE) != 0) {
		entry_kept(j, e, "the vendor put a different file at this path");
		return 0;
	}
	/* The recorded file is in place: a cut after the copy back (or an
	 * interrupted apply that never unlinked it). The copy goes. */
	fault_point("quarantine-restore-unlink");
	if (unlinkat(qfd, name, 0) < 0)
		return negative_errno();
	j->quar.dirty = true;
	entry_restored(j, e, ofd, name, was_moved);
	return 0;
}

static int restore_move(struct qjob *j, struct qentry *e, int ofd, int qfd, const char *name)
{
	uint8_t sha[SHA256_SIZE];
	char tmp[64];
	int r;

	r = qfile_hash(qfd, name, sha);
	if (r < 0)
		return r;
	if (memcmp(sha, e->sha256, SHA256_SIZE) != 0)
		return -EBADMSG;
	fault_point("quarantine-restore-rename");
	if (renameat2(qfd, name, ofd, name, RENAME_NOREPLACE) >= 0) {
		j->orig.dirty = j->quar.dirty = true;
		return 0;
	}
	if (errno != EXDEV)
		return negative_errno();
	qtmp_name(e->path, tmp);
	r = qcopy_file(qfd, ofd, name, tmp, e, true, "quarantine-restore-copy", sha);
	if (r < 0)
		return r;
	fault_point("quarantine-restore-copy-unlink");
	if (unlinkat(qfd, name, 0) < 0)
		return negative_errno();
	j->quar.dirty = true;
	return 0;
}

static int restore_entry(struct qjob *j, struct qentry *e)
{
	_cleanup_free_ char *buf = NULL;
	bool was_moved = e->state == QE_MOVED;
	const char *dir, *name;
	int ofd = -1, qfd = -1, ko, kq, r;
	char tmp[64];

	r = qpath_split(e->path, &buf, &dir, &name);
	if (r < 0)
		return r;
	qtmp_name(e->path, tmp);
	r = qdir_get(&j->quar, dir, &qfd);
	kq = r == -ENOENT ? 0 : r < 0 ? r : qfile_kind(qfd, name);
	if (j->rerun && r >= 0 && unlinkat(qfd, tmp, 0) >= 0)
		j->quar.dirty = true; /* the interrupted apply's torn copy */
	r = qdir_get(&j->orig, dir, &ofd);
	if (r < 0) {
		j->res.errors++;
		qresult_line(&j->res, "%s: %s, left in the quarantine: %s", e->path,
		             r == -ELOOP ? "refused, a directory in its path is a symlink"
		                         : "cannot open or create its directory",
		             strerror(-r));
		return 0;
	}
	if (j->rerun && unlinkat(ofd, tmp, 0) >= 0)
		j->orig.dirty = true; /* the interrupted restore's torn copy */
	ko = qfile_kind(ofd, name);

	if (kq < 0) {
		j->res.errors++;
		qresult_line(&j->res, "%s: its quarantined copy is unreadable, left alone: %s",
		             e->path, strerror(-kq));
		return 0;
	}
	if (kq == 1 && ko < 0) {
		entry_kept(j, e,
		           ko == -ELOOP ? "a symlink is now at this path"
		                        : "something else is now at this path");
		return 0;
	}
	if (kq == 1 && ko == 1) {
		r = restore_both(j, e, ofd, qfd, name, was_moved);
		if (r < 0) {
			j->res.errors++;
			qresult_line(&j->res, "%s: cannot finish an interrupted restore: %s",
			             e->path, strerror(-r));
		}
		return 0;
	}
	if (kq == 1) {
		r = restore_move(j, e, ofd, qfd, name);
		if (r == -EEXIST) /* it appeared meanwhile */
			return restore_entry(j, e);
		if (r < 0) {
			j->res.errors++;
			qresult_line(
			    &j->res, "%s: %s, left in the quarantine: %s", e->path,
			    r == -EBADMSG
			        ? "the quarantined copy does not match its recorded SHA-256"
			        : "cannot be put back",
			    strerror(-r));
			return 0;
		}
		entry_restored(j, e, ofd, name, true); /* moved back, whatever the record said */
		return 0;
	}
	/* not in the quarantine */
	if (ko == 1) {
		uint8_t ho[SHA256_SIZE];

		if (!was_moved) {
			e->state = QE_RESTORED; /* never moved: it did not leave */
			e->error = 0;
			return 0;
		}
		r = qfile_hash(ofd, name, ho);
		if (r >= 0 && memcmp(ho, e->sha256, SHA256_SIZE) == 0) {
			entry_restored(j, e, ofd, name, true); /* put back before a cut */
			return 0;
		}
		qjob_entry_error(
		    j, e, QE_MISSING, r < 0 ? r : ENOENT,
		    "the quarantined copy is gone and a different file is in place, left alone");
		return 0;
	}
	if (was_moved)
		qjob_entry_error(j, e, QE_MISSING, ENOENT, "lost: in neither place");
	else
		e->state = QE_MISSING;
	return 0;
}

int qjob_restore(struct qjob *j)
{
	unsigned left, kept;
	int r;

	j->orig.create = true;                /* the vendor may have removed a directory */
	j->orig.meta_of = qmanifest_dir_meta; /* made again as it was */
	j->orig.mode_userdata = &j->m;
	j->quar.create = false;
	if (j->m.state != QM_RESTORING) {
		j->m.state = QM_RESTORING;
		r = qmanifest_save(j->comp_fd, &j->m);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < j->m.n; i++) {
		struct qentry *e = &j->m.entries[i];

		if (e->state != QE_PENDING && e->state != QE_MOVED && e->state != QE_FAILED)
			continue;
		r = restore_entry(j, e);
		if (r < 0)
			return r;
		r = qjob_progress(j);
		if (r < 0)
			return r;
	}
	left = qmanifest_count(&j->m, QE_MOVED) + qmanifest_count(&j->m, QE_PENDING) +
	       qmanifest_count(&j->m, QE_FAILED);
	kept = qmanifest_count(&j->m, QE_KEPT_VENDOR);
	if (left == 0 && kept == 0) {
		/* The files in place are durable before their record goes. */
		r = qdir_sync(&j->orig);
		if (r >= 0)
			r = qdir_sync(&j->quar);
		if (r < 0)
			return r;
		r = qjob_remove(j);
		if (r >= 0) {
			j->m.state = QM_RESTORED;
			return 0;
		}
		if (r != -ENOTEMPTY)
			return r;
		j->res.errors++;
		qresult_line(&j->res,
		             QUARANTINE_DIR "/%u/%s: unexpected files in it; left in place",
		             j->generation, j->id);
	}
	if (left == 0)
		j->m.state = QM_RESTORED;
	return qjob_flush(j);
}

int quarantine_restore(const char *root, const char *component_id, struct quarantine_result *ret)
{
	_cleanup_(quarantine_result_done) struct quarantine_result res = {0};
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	_cleanup_free_ struct qslot *slots = NULL;
	size_t n = 0;
	int r;

	if (!component_id || !component_id_is_valid(component_id))
		return -EINVAL;
	r = qbase_open(root, &root_fd, &base_fd, false);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0) {
		r = qslots_scan(base_fd, component_id, &slots, &n);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = qslot_run(root_fd, base_fd, &slots[i], true, &res);
		/* a damaged manifest is reported and the others go on */
		if (r < 0 && r != -EBADMSG && r != -EPROTONOSUPPORT)
			return r;
	}
	qresult_line(&res, "%s: %u file(s) put back, %u kept from the vendor, %u problem(s)",
	             component_id, res.restored, res.kept_vendor, res.errors);
	if (ret) {
		*ret = res;
		memset(&res, 0, sizeof(res));
	}
	return 0;
}
