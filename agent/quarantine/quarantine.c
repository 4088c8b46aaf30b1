/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The quarantine engine (quarantine.h): apply and recover here, restore in
 * quarantine-restore.c, the job's bookkeeping in quarantine-job.c, the
 * manifest format in quarantine-manifest.c, the symlink-proof file
 * operations in quarantine-fs.c.
 *
 * Every step looks at both places a file can be, the original path ("in
 * place") and <component>/files/<path> ("in the quarantine"), and does
 * the one thing that moves the job forward from there:
 *
 *   apply    in place only   -> rename (or copy + fsync + unlink on EXDEV)
 *            quarantine only -> done (a previous run moved it)
 *            both            -> a cut between the durable copy and the
 *                               unlink: same content -> unlink the original
 *   restore  quarantine only -> check the SHA-256, rename back (or copy),
 *                               set owner, mode, xattrs, mtime
 *            in place only   -> done if the content is the recorded one
 *            both            -> same content: a cut during the copy back,
 *                               unlink the copy; different: the vendor's
 *                               new file, kept, the copy stays (reported)
 *
 * so a re-run after a cut at any instant finishes the job. Copies are
 * written under a temp name derived from the path and renamed into place
 * after fsync, so a complete-looking copy is always a complete one, and a
 * re-run removes a torn temp file. The manifest is made durable before
 * the first move; the per-file states in it are rewritten every
 * flush-interval files, after the directories that changed are fsync'ed.
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
#include "agent/conf/protected.h"
#include "agent/quarantine/quarantine-internal.h"
#include "agent/quarantine/quarantine.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* ---------------------------------------------------------------------- */
/* Apply */

static bool path_is_own_state(const char *path)
{
	size_t n = strlen(LIFELINE_STATE_DIR);

	return strncmp(path, LIFELINE_STATE_DIR, n) == 0 && (path[n] == '/' || path[n] == 0);
}

static void entry_moved(struct qentry *e)
{
	e->state = QE_MOVED;
	e->error = 0;
}

/* In place and in the quarantine: unlink the original if it is the same
 * file. Returns 1 when handled, 0 when the copy was bad and removed (move
 * again), <0 on error. */
static int apply_both(struct qjob *j, struct qentry *e, int ofd, int qfd, const char *name)
{
	uint8_t ho[SHA256_SIZE], hq[SHA256_SIZE];
	int r;

	r = qfile_hash(ofd, name, ho);
	if (r >= 0)
		r = qfile_hash(qfd, name, hq);
	if (r < 0)
		return r;
	if (memcmp(ho, hq, SHA256_SIZE) == 0) {
		fault_point("quarantine-apply-unlink");
		if (unlinkat(ofd, name, 0) < 0)
			return negative_errno();
		j->orig.dirty = true;
		entry_moved(e);
		return 1;
	}
	if (memcmp(hq, e->sha256, SHA256_SIZE) == 0) {
		/* The recorded file is in the quarantine; the one in place
		 * arrived after it was moved: not ours to overwrite. */
		entry_moved(e);
		j->res.errors++;
		qresult_line(&j->res,
		             "%s: a different file appeared at this path after it was "
		             "quarantined; left in place",
		             e->path);
		return 1;
	}
	fault_point("quarantine-apply-unlink-copy");
	if (unlinkat(qfd, name, 0) < 0)
		return negative_errno();
	j->quar.dirty = true;
	return 0;
}

static int apply_move(struct qjob *j, struct qentry *e, int ofd, int qfd, const char *name)
{
	uint8_t sha[SHA256_SIZE];
	char tmp[64];
	int r;

	fault_point("quarantine-apply-rename");
	if (renameat2(ofd, name, qfd, name, RENAME_NOREPLACE) >= 0) {
		j->orig.dirty = j->quar.dirty = true;
		entry_moved(e);
		return 0;
	}
	if (errno != EXDEV)
		return negative_errno();

	/* Another filesystem: copy, make the copy durable, then unlink. */
	r = qfile_kind(qfd, name);
	if (r != 0)
		return r > 0 ? -EEXIST : r;
	qtmp_name(e->path, tmp);
	r = qcopy_file(ofd, qfd, name, tmp, e, false, "quarantine-copy", sha);
	if (r < 0)
		return r;
	if (memcmp(sha, e->sha256, SHA256_SIZE) != 0) {
		/* Changed since it was recorded: record what was moved. */
		struct stat st;

		memcpy(e->sha256, sha, SHA256_SIZE);
		if (fstatat(qfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
			e->size = (uint64_t)st.st_size;
	}
	fault_point("quarantine-copy-unlink");
	if (unlinkat(ofd, name, 0) < 0) {
		r = negative_errno();
		/* It stays in place: take the copy back out. */
		(void)unlinkat(qfd, name, 0);
		(void)fsync(qfd);
		return r;
	}
	j->orig.dirty = true;
	entry_moved(e);
	return 0;
}

static int apply_entry(struct qjob *j, struct qentry *e)
{
	_cleanup_free_ char *buf = NULL;
	const char *dir, *name;
	int ofd = -1, qfd, ko, kq, r;
	char tmp[64];

	r = qpath_split(e->path, &buf, &dir, &name);
	if (r < 0)
		return r;
	r = qdir_get(&j->orig, dir, &ofd);
	if (r == -ELOOP) {
		qjob_entry_error(j, e, QE_FAILED, r,
		                 "refused, a directory in its path is a symlink");
		return 0;
	}
	ko = r == -ENOENT ? 0 : r < 0 ? r : qfile_kind(ofd, name);
	r = qdir_get(&j->quar, dir, &qfd);
	if (r < 0) {
		qjob_entry_error(j, e, QE_FAILED, r,
		                 "cannot create its directory in the quarantine");
		return 0;
	}
	if (j->rerun) {
		qtmp_name(e->path, tmp);
		if (unlinkat(qfd, tmp, 0) >= 0)
			j->quar.dirty = true; /* a torn copy of the interrupted run */
	}
	if (ko == 1) {
		/* The common case first: RENAME_NOREPLACE says -EEXIST
		 * when the quarantine already holds it, no lookup needed. */
		r = apply_move(j, e, ofd, qfd, name);
		if (r != -EEXIST) {
			if (r < 0)
				qjob_entry_error(j, e, QE_FAILED, r,
				                 "cannot be quarantined, left in place");
			return 0;
		}
	}
	kq = qfile_kind(qfd, name);
	if (kq < 0) {
		qjob_entry_error(j, e, QE_FAILED, kq, "its place in the quarantine is taken");
		return 0;
	}
	if (ko == 1 && kq == 1) {
		r = apply_both(j, e, ofd, qfd, name);
		if (r == 0)
			r = apply_move(j, e, ofd, qfd, name); /* the bad copy is gone */
		if (r < 0)
			qjob_entry_error(j, e, QE_FAILED, r,
			                 "cannot finish an interrupted move, left in place");
		return 0;
	}
	if (ko < 0) {
		if (kq == 1)
			entry_moved(e); /* moved before; something else is there now */
		else
			qjob_entry_error(j, e, QE_FAILED, ko,
			                 ko == -ELOOP ? "refused, it is now a symlink"
			                              : "not a regular file");
		return 0;
	}
	if (kq == 1)
		entry_moved(e); /* a previous run moved it */
	else
		qjob_entry_error(j, e, QE_MISSING, ENOENT, "gone before it was quarantined");
	return 0;
}

static int run_apply(struct qjob *j)
{
	int r;

	j->orig.create = false;
	j->quar.create = true;
	for (size_t i = 0; i < j->m.n; i++) {
		struct qentry *e = &j->m.entries[i];

		const char *why;

		if (e->state != QE_PENDING)
			continue;
		why = protected_path_reason(j->protected, e->path);
		if (why) {
			/* recorded before it was protected: still never moved */
			qjob_entry_error(j, e, QE_FAILED, EPERM, "refused, protected");
			continue;
		}
		r = apply_entry(j, e);
		if (r < 0)
			return r;
		r = qjob_progress(j);
		if (r < 0)
			return r;
	}
	j->m.state = QM_APPLIED;
	return qjob_flush(j);
}

/* Records path (in place) as a new pending entry. */
static int apply_add(struct qjob *j, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	struct qentry e = {0};
	const char *dir, *name, *why;
	int fd, r;

	if (path_is_own_state(path)) {
		j->res.errors++;
		qresult_line(&j->res, "%s: refused, lifeline's own state is never quarantined",
		             path);
		return 0;
	}
	why = protected_path_reason(j->protected, path);
	if (why) {
		j->res.errors++;
		qresult_line(&j->res, "%s: refused, protected: %s; left in place", path, why);
		return 0;
	}
	r = qpath_split(path, &buf, &dir, &name);
	if (r >= 0)
		r = qdir_get(&j->orig, dir, &fd);
	if (r >= 0)
		r = qentry_read(fd, name, &e);
	/* the folders above it, as they are: a restore that has to make
	 * one again makes it so */
	if (r >= 0 && qmanifest_note_dirs(&j->m, j->root_fd, dir) == -ENOMEM)
		r = -ENOMEM;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		qentry_done(&e);
		j->res.errors++;
		qresult_line(&j->res, "%s: %s: %s", path,
		             r == -ELOOP ? "refused, a symlink in its path"
		                         : "cannot be read, left in place",
		             strerror(-r));
		return 0;
	}
	e.path = strdup(path);
	e.state = QE_PENDING;
	r = e.path ? qmanifest_add(&j->m, &e) : -ENOMEM;
	qentry_done(&e);
	return r;
}

/* Re-reads a failed (or missing) entry that is in place again. */
static int apply_retry(struct qjob *j, struct qentry *e)
{
	_cleanup_free_ char *buf = NULL;
	struct qentry fresh = {0};
	const char *dir, *name;
	int fd, r;

	r = qpath_split(e->path, &buf, &dir, &name);
	if (r >= 0)
		r = qdir_get(&j->orig, dir, &fd);
	if (r >= 0)
		r = qentry_read(fd, name, &fresh);
	if (r < 0) {
		qentry_done(&fresh);
		return r == -ENOMEM ? r : 0;
	}
	fresh.path = TAKE_PTR(e->path);
	fresh.state = QE_PENDING;
	qentry_done(e);
	*e = fresh;
	return 1;
}

static int archive_dir(struct qjob *j)
{
	char name[COMPONENT_ID_MAX + 16];

	/* '~' is not allowed in a component id: the archive never takes a
	 * component's name, and recover/restore/list skip it. */
	for (unsigned n = 1; n < 10000; n++) {
		snprintf(name, sizeof(name), "%s~%u", j->id, n);
		if (renameat2(j->gen_fd, j->id, j->gen_fd, name, RENAME_NOREPLACE) >= 0)
			return RET_NERRNO(fsync(j->gen_fd));
		if (errno != EEXIST)
			return negative_errno();
	}
	return -EEXIST;
}

/* Loads the job's manifest for an apply: a fresh one when there is none,
 * after finishing an unfinished restore of the same generation, or after
 * setting a finished restore's leftovers aside. */
static int apply_load(struct qjob *j, bool *ret_new)
{
	int root_fd = j->root_fd, base_fd = j->base_fd;
	struct quarantine_result res;
	char id[COMPONENT_ID_MAX + 1];
	unsigned generation;
	int r;

	for (int round = 0; round < 3; round++) {
		r = qmanifest_load(j->comp_fd, &j->m);
		if (r == -ENOENT) {
			j->m.component = strdup(j->id);
			if (!j->m.component)
				return -ENOMEM;
			j->m.generation = j->generation;
			j->m.state = QM_APPLYING;
			*ret_new = true;
			return 0;
		}
		if (r < 0)
			return r;
		if (!streq(j->m.component, j->id) || j->m.generation != j->generation)
			return -EBADMSG;
		if (j->m.state == QM_APPLYING || j->m.state == QM_APPLIED) {
			*ret_new = false;
			return 0;
		}
		if (j->m.state == QM_RESTORING) {
			j->rerun = true;
			r = qjob_restore(j);
			if (r < 0)
				return r;
			if (j->m.state == QM_RESTORING)
				return -EBUSY; /* files it could not put back */
		}
		if (!j->removed) {
			r = archive_dir(j);
			if (r < 0)
				return r;
		}
		snprintf(id, sizeof(id), "%s", j->id);
		generation = j->generation;
		res = j->res; /* the finished restore's report goes on */
		memset(&j->res, 0, sizeof(j->res));
		qjob_done(j);
		qjob_init(j);
		j->res = res;
		r = qjob_open(j, root_fd, base_fd, id, generation, true);
		if (r < 0)
			return r;
	}
	return -ELOOP;
}

int quarantine_apply(const char *root, const struct component *c, unsigned generation,
                     struct quarantine_result *ret)
{
	_cleanup_strv_free_ char **paths = NULL;
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	_cleanup_(qjob_done) struct qjob j;
	bool changed = false;
	unsigned pending;
	size_t n_loaded;
	int r;

	qjob_init(&j);
	if (!c || !c->id || !component_id_is_valid(c->id))
		return -EINVAL;
	/* what lifeline must never move (protected.h), checked file by file */
	j.protected = protected_set_get(root);
	if (!j.protected)
		return -ENOMEM;
	r = component_expand_files(c, root, false, &paths);
	if (r < 0)
		return r;
	r = qbase_open(root, &root_fd, &base_fd, true);
	if (r < 0)
		return r;
	r = qjob_open(&j, root_fd, base_fd, c->id, generation, true);
	if (r < 0)
		return r;
	r = apply_load(&j, &changed);
	if (r < 0)
		return r;
	j.rerun = !changed;

	/* Lookups only in the sorted entries loaded from disk: the new ones
	 * are appended (unsorted) and cannot repeat (paths is uniq'ed). */
	n_loaded = j.m.n;
	STRV_FOREACH (p, paths) {
		struct qentry *e = qmanifest_find_in(&j.m, n_loaded, *p);

		if (!e) {
			size_t before = j.m.n;

			r = apply_add(&j, *p);
			if (r < 0)
				return r;
			changed = changed || j.m.n != before;
		} else if (e->state == QE_FAILED || e->state == QE_MISSING) {
			r = apply_retry(&j, e);
			if (r < 0)
				return r;
			changed = changed || r > 0;
		} else if (e->state == QE_MOVED) {
			j.res.errors++;
			qresult_line(&j.res,
			             "%s: a different file appeared at this path after it was "
			             "quarantined; left in place",
			             *p);
		}
		/* pending: the interrupted run's entry, finished below */
	}
	qmanifest_sort(&j.m);
	pending = qmanifest_count(&j.m, QE_PENDING);
	if (changed || pending > 0 || j.m.state != QM_APPLIED) {
		/* The journal is durable before the first move. */
		j.m.state = QM_APPLYING;
		r = qmanifest_save(j.comp_fd, &j.m);
		if (r < 0)
			return r;
		r = run_apply(&j);
		if (r < 0)
			return r;
	}
	j.res.moved = qmanifest_count(&j.m, QE_MOVED);
	qresult_line(&j.res, "%s: %u file(s) in quarantine generation %u, %u not moved", c->id,
	             j.res.moved, generation, qmanifest_count(&j.m, QE_FAILED));
	if (ret) {
		*ret = j.res;
		memset(&j.res, 0, sizeof(j.res));
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The public operations on every generation */

/* One slot's unfinished job (or a directory a cut left without a
 * manifest). Returns 1 when something was finished, 0 when there was
 * nothing to do, <0 on error. restore: also restore an applied one. */
int qslot_run(int root_fd, int base_fd, const struct qslot *s, bool restore,
              struct quarantine_result *res)
{
	_cleanup_(qjob_done) struct qjob j;
	int r;

	qjob_init(&j);
	r = qjob_open(&j, root_fd, base_fd, s->id, s->generation, false);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = qmanifest_load(j.comp_fd, &j.m);
	if (r == -ENOENT) {
		/* A cut before the first manifest was durable (nothing had
		 * moved yet) or after the last one was removed. */
		r = qjob_remove(&j);
		return r == -ENOTEMPTY ? 0 : r < 0 ? r : 1;
	}
	if (r < 0) {
		res->errors++;
		qresult_line(res,
		             QUARANTINE_DIR "/%u/%s/" QM_NAME " is unreadable (%s); left alone",
		             s->generation, s->id, strerror(-r));
		return r;
	}
	j.rerun = j.m.state == QM_APPLYING || j.m.state == QM_RESTORING;
	if (j.m.state == QM_APPLYING && !restore)
		r = run_apply(&j);
	else if (j.m.state == QM_RESTORING || (restore && j.m.state != QM_RESTORED))
		r = qjob_restore(&j);
	else
		return 0;
	qresult_add(res, &j.res);
	return r < 0 ? r : 1;
}

int quarantine_recover(const char *root)
{
	_cleanup_(quarantine_result_done) struct quarantine_result res = {0};
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	_cleanup_free_ struct qslot *slots = NULL;
	size_t n = 0;
	int r, first = 0, done = 0;

	r = qbase_open(root, &root_fd, &base_fd, false);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = qslots_scan(base_fd, NULL, &slots, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = qslot_run(root_fd, base_fd, &slots[i], false, &res);
		if (r < 0 && first == 0)
			first = r;
		if (r > 0)
			done++;
	}
	return first < 0 ? first : done;
}

int quarantine_needs_recovery(const char *root)
{
	_cleanup_close_ int base_fd = -1;
	_cleanup_free_ struct qslot *slots = NULL;
	size_t n = 0;
	int r, count = 0;

	r = qbase_open_ro(root, &base_fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = qslots_scan(base_fd, NULL, &slots, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		enum qm_state st;

		r = qslot_peek_state(base_fd, &slots[i], &st);
		if (r == -ENOENT || (r >= 0 && (st == QM_APPLYING || st == QM_RESTORING)))
			count++;
	}
	return count;
}

int quarantine_exists(const char *root, const char *component_id, unsigned generation)
{
	_cleanup_close_ int base_fd = -1;
	struct qslot s = {.generation = generation};
	enum qm_state st;
	int r;

	if (!component_id || !component_id_is_valid(component_id))
		return -EINVAL;
	r = qbase_open_ro(root, &base_fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(s.id, sizeof(s.id), "%s", component_id);
	r = qslot_peek_state(base_fd, &s, &st);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	return r < 0 ? r : st != QM_RESTORED;
}

int quarantine_list(const char *root, char ***ret_ids)
{
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_close_ int base_fd = -1;
	_cleanup_free_ struct qslot *slots = NULL;
	size_t n = 0;
	int r;

	r = qbase_open_ro(root, &base_fd);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0) {
		r = qslots_scan(base_fd, NULL, &slots, &n);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		enum qm_state st;

		r = qslot_peek_state(base_fd, &slots[i], &st);
		if (r < 0 || st == QM_RESTORED)
			continue;
		r = strv_extend(&ids, slots[i].id);
		if (r < 0)
			return r;
	}
	if (!ids) {
		ids = calloc(1, sizeof(char *));
		if (!ids)
			return -ENOMEM;
	}
	strv_sort_uniq(ids);
	*ret_ids = TAKE_PTR(ids);
	return 0;
}
