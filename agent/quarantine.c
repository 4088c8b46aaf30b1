/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The quarantine engine: apply, restore, recover (quarantine.h).
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

#include "agent/components.h"
#include "agent/quarantine-internal.h"
#include "agent/quarantine.h"
#include "agent/runstate.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

static unsigned flush_interval = QUARANTINE_FLUSH_DEFAULT;

unsigned quarantine_set_flush_interval(unsigned files)
{
	unsigned old = flush_interval;

	flush_interval = files ? files : QUARANTINE_FLUSH_DEFAULT;
	return old;
}

void quarantine_result_done(struct quarantine_result *r)
{
	if (!r)
		return;
	strv_free(r->lines);
	memset(r, 0, sizeof(*r));
}

static void result_line(struct quarantine_result *r, const char *fmt, ...) _printf_(2, 3);
static void result_line(struct quarantine_result *r, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0) {
		log_debug("%s", s);
		(void)strv_consume(&r->lines, s);
	}
	va_end(ap);
}

static void result_add(struct quarantine_result *to, struct quarantine_result *from)
{
	to->moved += from->moved;
	to->restored += from->restored;
	to->kept_vendor += from->kept_vendor;
	to->errors += from->errors;
	(void)strv_extend_strv(&to->lines, from->lines);
	quarantine_result_done(from);
}

/* ---------------------------------------------------------------------- */
/* A job: one component in one generation */

struct qjob {
	int root_fd;  /* borrowed from the caller */
	int base_fd;  /* <root>/var/lib/lifeline/quarantine, borrowed, locked */
	int gen_fd;   /* .../<generation> */
	int comp_fd;  /* .../<generation>/<component> */
	int files_fd; /* .../<generation>/<component>/files */
	struct qdir orig;
	struct qdir quar;
	struct qmanifest m;
	struct quarantine_result res;
	unsigned since_flush;
	unsigned generation;
	bool removed; /* the restore finished and removed the directory */
	bool rerun;   /* continues an interrupted run: look for its temp files */
	char id[COMPONENT_ID_MAX + 1];
};

static void job_init(struct qjob *j)
{
	memset(j, 0, sizeof(*j));
	j->root_fd = j->base_fd = j->gen_fd = j->comp_fd = j->files_fd = -1;
	qdir_init(&j->orig, -1, false, 0755);
	qdir_init(&j->quar, -1, false, 0700);
}

static void job_done(struct qjob *j)
{
	qdir_done(&j->orig);
	qdir_done(&j->quar);
	qmanifest_done(&j->m);
	quarantine_result_done(&j->res);
	for (int *fd = &j->gen_fd; fd <= &j->files_fd; fd++)
		if (*fd >= 0) {
			close(*fd);
			*fd = -1;
		}
}

static int open_dir_at(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd >= 0 ? fd : negative_errno();
}

/* Opens the root and the quarantine directory (creating it when create)
 * and takes an exclusive flock(2) on the latter for the whole operation:
 * lifelinectl and lifelined must not move the same files at once. */
static int open_base(const char *root, int *ret_root_fd, int *ret_base_fd, bool create)
{
	_cleanup_free_ char *base = path_under_root(root, QUARANTINE_DIR);
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	int r;

	if (!base)
		return -ENOMEM;
	root_fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return negative_errno();
	if (create) {
		/* lifeline's own state directory; mode 0700: quarantined
		 * content may hold a vendor's keys. */
		r = qmkdir_durable(base, 0700);
		if (r < 0)
			return r;
	}
	base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base_fd < 0)
		return negative_errno();
	if (flock(base_fd, LOCK_EX) < 0)
		return negative_errno();
	*ret_root_fd = TAKE_FD(root_fd);
	*ret_base_fd = TAKE_FD(base_fd);
	return 0;
}

/* mkdirat + fsync of the parent, so the new name is durable. */
static int mkdir_durable_at(int dir_fd, const char *name, mode_t mode)
{
	if (mkdirat(dir_fd, name, mode) < 0)
		return errno == EEXIST ? 0 : negative_errno();
	fault_point("quarantine-mkdir");
	return RET_NERRNO(fsync(dir_fd));
}

/* Opens the job's directories; create: make them (apply). */
static int job_open(struct qjob *j, int root_fd, int base_fd, const char *id, unsigned generation,
		    bool create)
{
	char gen[16];
	int r;

	j->root_fd = root_fd;
	j->base_fd = base_fd;
	j->generation = generation;
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(gen, sizeof(gen), "%u", generation);
	if (create) {
		r = mkdir_durable_at(j->base_fd, gen, 0700);
		if (r < 0)
			return r;
	}
	j->gen_fd = r = open_dir_at(j->base_fd, gen);
	if (r < 0)
		return r;
	if (create) {
		r = mkdir_durable_at(j->gen_fd, id, 0700);
		if (r < 0)
			return r;
	}
	j->comp_fd = r = open_dir_at(j->gen_fd, id);
	if (r < 0)
		return r;
	r = mkdir_durable_at(j->comp_fd, QM_FILES_DIR, 0700);
	if (r < 0)
		return r;
	j->files_fd = r = open_dir_at(j->comp_fd, QM_FILES_DIR);
	if (r < 0)
		return r;
	qdir_init(&j->orig, j->root_fd, false, 0755);
	qdir_init(&j->quar, j->files_fd, false, 0700);
	return 0;
}

/* The fsync()s that make the moves so far durable, then the manifest. */
static int job_flush(struct qjob *j)
{
	int r;

	r = qdir_sync(&j->orig);
	if (r >= 0)
		r = qdir_sync(&j->quar);
	if (r >= 0)
		r = qmanifest_save(j->comp_fd, &j->m);
	j->since_flush = 0;
	return r;
}

static int job_progress(struct qjob *j)
{
	if (++j->since_flush < flush_interval)
		return 0;
	return job_flush(j);
}

static void entry_error(struct qjob *j, struct qentry *e, enum qe_state state, int error,
			const char *what)
{
	e->state = state;
	e->error = abs(error);
	j->res.errors++;
	result_line(&j->res, "%s: %s: %s", e->path, what, strerror(abs(error)));
}

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
		result_line(&j->res, "%s: a different file appeared at this path after it was "
				     "quarantined; left in place", e->path);
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
		entry_error(j, e, QE_FAILED, r, "refused, a directory in its path is a symlink");
		return 0;
	}
	ko = r == -ENOENT ? 0 : r < 0 ? r : qfile_kind(ofd, name);
	r = qdir_get(&j->quar, dir, &qfd);
	if (r < 0) {
		entry_error(j, e, QE_FAILED, r, "cannot create its directory in the quarantine");
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
				entry_error(j, e, QE_FAILED, r, "cannot be quarantined, left in place");
			return 0;
		}
	}
	kq = qfile_kind(qfd, name);
	if (kq < 0) {
		entry_error(j, e, QE_FAILED, kq, "its place in the quarantine is taken");
		return 0;
	}
	if (ko == 1 && kq == 1) {
		r = apply_both(j, e, ofd, qfd, name);
		if (r == 0)
			r = apply_move(j, e, ofd, qfd, name); /* the bad copy is gone */
		if (r < 0)
			entry_error(j, e, QE_FAILED, r, "cannot finish an interrupted move, left in place");
		return 0;
	}
	if (ko < 0) {
		if (kq == 1)
			entry_moved(e); /* moved before; something else is there now */
		else
			entry_error(j, e, QE_FAILED, ko,
				    ko == -ELOOP ? "refused, it is now a symlink" : "not a regular file");
		return 0;
	}
	if (kq == 1)
		entry_moved(e); /* a previous run moved it */
	else
		entry_error(j, e, QE_MISSING, ENOENT, "gone before it was quarantined");
	return 0;
}

static int run_apply(struct qjob *j)
{
	int r;

	j->orig.create = false;
	j->quar.create = true;
	for (size_t i = 0; i < j->m.n; i++) {
		struct qentry *e = &j->m.entries[i];

		if (e->state != QE_PENDING)
			continue;
		r = apply_entry(j, e);
		if (r < 0)
			return r;
		r = job_progress(j);
		if (r < 0)
			return r;
	}
	j->m.state = QM_APPLIED;
	return job_flush(j);
}

/* Records path (in place) as a new pending entry. */
static int apply_add(struct qjob *j, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	struct qentry e = { 0 };
	const char *dir, *name;
	int fd, r;

	if (path_is_own_state(path)) {
		j->res.errors++;
		result_line(&j->res, "%s: refused, lifeline's own state is never quarantined", path);
		return 0;
	}
	r = qpath_split(path, &buf, &dir, &name);
	if (r >= 0)
		r = qdir_get(&j->orig, dir, &fd);
	if (r >= 0)
		r = qentry_read(fd, name, &e);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		qentry_done(&e);
		j->res.errors++;
		result_line(&j->res, "%s: %s: %s", path,
			    r == -ELOOP ? "refused, a symlink in its path" : "cannot be read, left in place",
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
	struct qentry fresh = { 0 };
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

static int run_restore(struct qjob *j);

/* Loads the job's manifest for an apply: a fresh one when there is none,
 * after finishing an unfinished restore of the same generation, or after
 * setting a finished restore's leftovers aside. */
static int apply_load(struct qjob *j, bool *ret_new)
{
	int root_fd = j->root_fd, base_fd = j->base_fd;
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
			r = run_restore(j);
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
		job_done(j);
		job_init(j);
		r = job_open(j, root_fd, base_fd, id, generation, true);
		if (r < 0)
			return r;
	}
	return -ELOOP;
}

static unsigned count_state(const struct qmanifest *m, enum qe_state s)
{
	unsigned n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += m->entries[i].state == s;
	return n;
}

int quarantine_apply(const char *root, const struct component *c, unsigned generation,
		     struct quarantine_result *ret)
{
	_cleanup_strv_free_ char **paths = NULL;
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	_cleanup_(job_done) struct qjob j;
	bool changed = false;
	unsigned pending;
	int r;

	job_init(&j);
	if (!c || !c->id || !component_id_is_valid(c->id))
		return -EINVAL;
	r = component_expand_files(c, root, false, &paths);
	if (r < 0)
		return r;
	r = open_base(root, &root_fd, &base_fd, true);
	if (r < 0)
		return r;
	r = job_open(&j, root_fd, base_fd, c->id, generation, true);
	if (r < 0)
		return r;
	r = apply_load(&j, &changed);
	if (r < 0)
		return r;
	j.rerun = !changed;

	STRV_FOREACH(p, paths) {
		struct qentry *e = qmanifest_find(&j.m, *p);

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
			result_line(&j.res, "%s: a different file appeared at this path after it was "
					    "quarantined; left in place", *p);
		}
		/* pending: the interrupted run's entry, finished below */
	}
	qmanifest_sort(&j.m);
	pending = count_state(&j.m, QE_PENDING);
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
	j.res.moved = count_state(&j.m, QE_MOVED);
	result_line(&j.res, "%s: %u file(s) in quarantine generation %u, %u not moved", c->id,
		    j.res.moved, generation, count_state(&j.m, QE_FAILED));
	if (ret) {
		*ret = j.res;
		memset(&j.res, 0, sizeof(j.res));
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Restore */

static void copy_path(const struct qjob *j, const struct qentry *e, char *buf, size_t size)
{
	snprintf(buf, size, QUARANTINE_DIR "/%u/%s/" QM_FILES_DIR "%s", j->generation, j->id, e->path);
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
		result_line(&j->res, "%s: put back, but its owner, mode, xattrs or mtime could not be "
				     "restored: %s", e->path, strerror(-r));
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
	result_line(&j->res, "%s: %s; kept it, the quarantined copy stays at %s", e->path, why, where);
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
		result_line(&j->res, "%s: %s, left in the quarantine: %s", e->path,
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
		result_line(&j->res, "%s: its quarantined copy is unreadable, left alone: %s", e->path,
			    strerror(-kq));
		return 0;
	}
	if (kq == 1 && ko < 0) {
		entry_kept(j, e, ko == -ELOOP ? "a symlink is now at this path" : "something else is now at this path");
		return 0;
	}
	if (kq == 1 && ko == 1) {
		r = restore_both(j, e, ofd, qfd, name, was_moved);
		if (r < 0) {
			j->res.errors++;
			result_line(&j->res, "%s: cannot finish an interrupted restore: %s", e->path, strerror(-r));
		}
		return 0;
	}
	if (kq == 1) {
		r = restore_move(j, e, ofd, qfd, name);
		if (r == -EEXIST) /* it appeared meanwhile */
			return restore_entry(j, e);
		if (r < 0) {
			j->res.errors++;
			result_line(&j->res, "%s: %s, left in the quarantine: %s", e->path,
				    r == -EBADMSG ? "the quarantined copy does not match its recorded SHA-256"
						  : "cannot be put back",
				    strerror(-r));
			return 0;
		}
		entry_restored(j, e, ofd, name, was_moved);
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
		entry_error(j, e, QE_MISSING, r < 0 ? r : ENOENT,
			    "the quarantined copy is gone and a different file is in place, left alone");
		return 0;
	}
	if (was_moved)
		entry_error(j, e, QE_MISSING, ENOENT, "lost: in neither place");
	else
		e->state = QE_MISSING;
	return 0;
}

/* Removes the component's directory (nothing is left in it), then the
 * generation's directory if it is empty. */
static int job_remove(struct qjob *j)
{
	char gen[16];
	int r;

	fault_point("quarantine-restore-remove");
	r = qrmtree_empty(j->comp_fd, QM_FILES_DIR);
	if (r < 0)
		return r;
	if (unlinkat(j->comp_fd, QM_TMP_NAME, 0) < 0 && errno != ENOENT)
		return negative_errno();
	fault_point("quarantine-restore-unlink-manifest");
	if (unlinkat(j->comp_fd, QM_NAME, 0) < 0 && errno != ENOENT)
		return negative_errno();
	fault_point("quarantine-restore-rmdir");
	if (unlinkat(j->gen_fd, j->id, AT_REMOVEDIR) < 0)
		return negative_errno();
	if (fsync(j->gen_fd) < 0)
		return negative_errno();
	j->removed = true;
	snprintf(gen, sizeof(gen), "%u", j->generation);
	if (unlinkat(j->base_fd, gen, AT_REMOVEDIR) >= 0)
		(void)fsync(j->base_fd);
	return 0;
}

static int run_restore(struct qjob *j)
{
	unsigned left, kept;
	int r;

	j->orig.create = true; /* the vendor may have removed a directory */
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
		r = job_progress(j);
		if (r < 0)
			return r;
	}
	left = count_state(&j->m, QE_MOVED) + count_state(&j->m, QE_PENDING) + count_state(&j->m, QE_FAILED);
	kept = count_state(&j->m, QE_KEPT_VENDOR);
	if (left == 0 && kept == 0) {
		/* The files in place are durable before their record goes. */
		r = qdir_sync(&j->orig);
		if (r >= 0)
			r = qdir_sync(&j->quar);
		if (r < 0)
			return r;
		r = job_remove(j);
		if (r >= 0) {
			j->m.state = QM_RESTORED;
			return 0;
		}
		if (r != -ENOTEMPTY)
			return r;
		j->res.errors++;
		result_line(&j->res, QUARANTINE_DIR "/%u/%s: unexpected files in it; left in place",
			    j->generation, j->id);
	}
	if (left == 0)
		j->m.state = QM_RESTORED;
	return job_flush(j);
}

/* ---------------------------------------------------------------------- */
/* What is on disk */

struct qslot {
	unsigned generation;
	char id[COMPONENT_ID_MAX + 1];
};

static bool parse_generation(const char *name, unsigned *ret)
{
	unsigned long long v = 0;

	if (!*name || (name[0] == '0' && name[1]) || strlen(name) > 10)
		return false;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > UINT_MAX)
		return false;
	*ret = (unsigned)v;
	return true;
}

static int slot_cmp(const void *a, const void *b)
{
	const struct qslot *x = a, *y = b;

	/* newest generation first: restoring it first puts the most
	 * recent file back, and an older copy of the same path is then
	 * reported instead of overwriting it */
	if (x->generation != y->generation)
		return x->generation < y->generation ? 1 : -1;
	return strcmp(x->id, y->id);
}

static int scan_gen(int base_fd, unsigned generation, const char *gen, const char *only_id,
		    struct qslot **slots, size_t *n)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(base_fd, gen, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	while ((de = readdir(d))) {
		struct qslot *ns;
		struct stat st;

		/* '~' names are set-aside leftovers (archive_dir()) */
		if (!component_id_is_valid(de->d_name) || (only_id && !streq(de->d_name, only_id)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		ns = realloc(*slots, (*n + 1) * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		*slots = ns;
		ns[*n].generation = generation;
		/* component_id_is_valid(): at most COMPONENT_ID_MAX */
		memcpy(ns[*n].id, de->d_name, strlen(de->d_name) + 1);
		(*n)++;
	}
	return 0;
}

/* Every <generation>/<component> directory (of only_id, when not NULL),
 * newest generation first. */
static int scan_slots(int base_fd, const char *only_id, struct qslot **ret, size_t *ret_n)
{
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_free_ struct qslot *slots = NULL;
	struct dirent *de;
	size_t n = 0;
	int fd, r;

	fd = openat(base_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	while ((de = readdir(d))) {
		unsigned g;

		if (!parse_generation(de->d_name, &g))
			continue;
		r = scan_gen(base_fd, g, de->d_name, only_id, &slots, &n);
		if (r < 0)
			return r;
	}
	if (n > 1)
		qsort(slots, n, sizeof(*slots), slot_cmp);
	*ret = TAKE_PTR(slots);
	*ret_n = n;
	return 0;
}

/* The job state from the manifest's header, without reading it all or
 * verifying it: for the read-only questions. */
static int peek_state(int base_fd, const struct qslot *s, enum qm_state *ret)
{
	_cleanup_close_ int fd = -1;
	char path[128], buf[1024];
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "%u/%s/" QM_NAME, s->generation, s->id);
	fd = openat(base_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return negative_errno();
	buf[n] = 0;
	p = strstr(buf, "\nstate ");
	if (!p)
		return -EBADMSG;
	p += strlen("\nstate ");
	for (int i = 0; i < _QM_STATE_MAX; i++) {
		size_t k = strlen(qm_state_to_string((enum qm_state)i));

		if (strncmp(p, qm_state_to_string((enum qm_state)i), k) == 0 && p[k] == '\n') {
			*ret = (enum qm_state)i;
			return 0;
		}
	}
	return -EBADMSG;
}

static int open_base_ro(const char *root, int *ret_base_fd)
{
	_cleanup_free_ char *base = path_under_root(root, QUARANTINE_DIR);
	int fd;

	if (!base)
		return -ENOMEM;
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	*ret_base_fd = fd;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The public operations on every generation */

/* One slot's unfinished job (or a directory a cut left without a
 * manifest). Returns 1 when something was finished, 0 when there was
 * nothing to do, <0 on error. restore: also restore an applied one. */
static int slot_run(int root_fd, int base_fd, const struct qslot *s, bool restore,
		    struct quarantine_result *res)
{
	_cleanup_(job_done) struct qjob j;
	int r;

	job_init(&j);
	r = job_open(&j, root_fd, base_fd, s->id, s->generation, false);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = qmanifest_load(j.comp_fd, &j.m);
	if (r == -ENOENT) {
		/* A cut before the first manifest was durable (nothing had
		 * moved yet) or after the last one was removed. */
		r = job_remove(&j);
		return r == -ENOTEMPTY ? 0 : r < 0 ? r : 1;
	}
	if (r < 0) {
		res->errors++;
		result_line(res, QUARANTINE_DIR "/%u/%s/" QM_NAME " is unreadable (%s); left alone",
			    s->generation, s->id, strerror(-r));
		return r;
	}
	j.rerun = j.m.state == QM_APPLYING || j.m.state == QM_RESTORING;
	if (j.m.state == QM_APPLYING && !restore)
		r = run_apply(&j);
	else if (j.m.state == QM_RESTORING || (restore && j.m.state != QM_RESTORED))
		r = run_restore(&j);
	else
		return 0;
	result_add(res, &j.res);
	return r < 0 ? r : 1;
}

int quarantine_restore(const char *root, const char *component_id, struct quarantine_result *ret)
{
	_cleanup_(quarantine_result_done) struct quarantine_result res = { 0 };
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	_cleanup_free_ struct qslot *slots = NULL;
	size_t n = 0;
	int r;

	if (!component_id || !component_id_is_valid(component_id))
		return -EINVAL;
	r = open_base(root, &root_fd, &base_fd, false);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0) {
		r = scan_slots(base_fd, component_id, &slots, &n);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = slot_run(root_fd, base_fd, &slots[i], true, &res);
		/* a damaged manifest is reported and the others go on */
		if (r < 0 && r != -EBADMSG && r != -EPROTONOSUPPORT)
			return r;
	}
	result_line(&res, "%s: %u file(s) put back, %u kept from the vendor, %u problem(s)",
		    component_id, res.restored, res.kept_vendor, res.errors);
	if (ret) {
		*ret = res;
		memset(&res, 0, sizeof(res));
	}
	return 0;
}

int quarantine_recover(const char *root)
{
	_cleanup_(quarantine_result_done) struct quarantine_result res = { 0 };
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	_cleanup_free_ struct qslot *slots = NULL;
	size_t n = 0;
	int r, first = 0, done = 0;

	r = open_base(root, &root_fd, &base_fd, false);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = scan_slots(base_fd, NULL, &slots, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = slot_run(root_fd, base_fd, &slots[i], false, &res);
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

	r = open_base_ro(root, &base_fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = scan_slots(base_fd, NULL, &slots, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		enum qm_state st;

		r = peek_state(base_fd, &slots[i], &st);
		if (r == -ENOENT || (r >= 0 && (st == QM_APPLYING || st == QM_RESTORING)))
			count++;
	}
	return count;
}

int quarantine_exists(const char *root, const char *component_id, unsigned generation)
{
	_cleanup_close_ int base_fd = -1;
	struct qslot s = { .generation = generation };
	enum qm_state st;
	int r;

	if (!component_id || !component_id_is_valid(component_id))
		return -EINVAL;
	r = open_base_ro(root, &base_fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(s.id, sizeof(s.id), "%s", component_id);
	r = peek_state(base_fd, &s, &st);
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

	r = open_base_ro(root, &base_fd);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0) {
		r = scan_slots(base_fd, NULL, &slots, &n);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		enum qm_state st;

		r = peek_state(base_fd, &slots[i], &st);
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
