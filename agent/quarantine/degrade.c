/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The degrade engine (degrade.h): plan a component's degrade step, journal
 * it, apply it file by file, undo it, and finish either after a power
 * cut.
 *
 * The rules for one file, which make every run a replay:
 *   apply: holds "becomes" -> done; holds "was" (or is absent, for a file
 *          that did not exist) -> replace it with new-N; else it changed
 *          under us -> the whole step is undone (-ESTALE).
 *   undo:  holds "was" -> set its recorded metadata; holds "becomes" or
 *          is absent -> put orig-N back (a new file: remove it); its
 *          folder is gone -> nothing to put back, count it as kept; else
 *          someone changed it since -> keep it, count it.
 * The manifest's state only says which way the job goes; what the files
 * hold says how far it got.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf/components.h"
#include "agent/conf/protected.h"
#include "agent/quarantine/degrade-internal.h"
#include "agent/quarantine/degrade.h"
#include "agent/quarantine/quarantine-internal.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/sha256.h"
#include "common/strv.h"

void degrade_result_done(struct degrade_result *r)
{
	if (!r)
		return;
	strv_free(r->lines);
	*r = (struct degrade_result){0};
}

static void res_line(struct degrade_result *r, const char *fmt, ...) _printf_(2, 3);
static void res_line(struct degrade_result *r, const char *fmt, ...)
{
	const char *s;
	va_list ap;

	va_start(ap, fmt);
	s = strv_extendv(&r->lines, fmt, ap);
	va_end(ap);
	if (s)
		log_debug("%s", s);
}

/* ---------------------------------------------------------------------- */
/* Files under the root */

/* The folder of path (opened from root_fd without following symlinks) and
 * the file's name in it. */
struct target {
	char *buf;
	const char *dir, *name;
	int fd;
	char tmp[64];
};

static void target_done(struct target *t)
{
	free(t->buf);
	if (t->fd >= 0)
		close(t->fd);
	*t = (struct target){.fd = -1};
}

static int target_open(int root_fd, const char *path, struct target *t)
{
	int r;

	*t = (struct target){.fd = -1};
	r = qpath_split(path, &t->buf, &t->dir, &t->name);
	if (r < 0)
		return r;
	t->fd = rooted_open_dir(root_fd, t->dir, NULL);
	if (t->fd < 0) {
		r = t->fd == -ENOTDIR ? -ELOOP : t->fd;
		t->fd = -1;
		return r;
	}
	qtmp_name(path, t->tmp);
	return 0;
}

/* Reads the regular file name in dir_fd (no symlink), at most
 * DEGRADE_FILE_MAX bytes. */
static int read_at(int dir_fd, const char *name, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t got = 0;

	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	if (st.st_size > DEGRADE_FILE_MAX)
		return -EFBIG;
	buf = malloc(DEGRADE_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = fd_read_retry(fd, buf + got, DEGRADE_FILE_MAX + 1 - got);

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > DEGRADE_FILE_MAX)
			return -EFBIG;
	}
	buf[got] = 0;
	*ret = TAKE_PTR(buf);
	*ret_size = got;
	return 0;
}

/* What name in dir_fd holds: 1 and its SHA-256 (a regular file), 0
 * absent, or -errno (-ELOOP a symlink, -EISDIR / -EBADF another type).
 * ret_fd not NULL: the file's descriptor that was hashed, for setting its
 * metadata on the very file checked (-1 when absent). */
static int file_state(int dir_fd, const char *name, uint8_t sha[SHA256_DIGEST_SIZE], int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int r = qfile_kind(dir_fd, name);

	if (ret_fd)
		*ret_fd = -1;
	if (r <= 0)
		return r;
	fd = qfile_open(dir_fd, name, NULL);
	if (fd < 0)
		return fd;
	r = qfile_hash_fd(fd, sha);
	if (r < 0)
		return r;
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 1;
}

/* Writes data as name in dir_fd, atomically: a temp file with meta's
 * owner, mode, xattrs and mtime (mtime_sec < 0: the time of writing),
 * fsync, rename over name, fsync of the folder. The metadata is set
 * through the descriptor that created the temp file, never by its name:
 * in a folder someone else may write to, the name could by then be a
 * hard link to another file, which would get our owner and mode. */
static int write_replace(int dir_fd, const char *name, const char *tmp, const void *data,
                         size_t size, const struct qentry *meta, const char *fault)
{
	_cleanup_close_ int fd = -1;
	struct qentry e = *meta;
	char point[64];
	struct stat st;
	int r;

	if (unlinkat(dir_fd, tmp, 0) < 0 && errno != ENOENT)
		return negative_errno();
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return negative_errno();
	r = fd_write_all(fd, data, size);
	if (r >= 0 && e.mtime_sec < 0) {
		r = RET_NERRNO(fstat(fd, &st));
		e.mtime_sec = st.st_mtim.tv_sec;
		e.mtime_nsec = st.st_mtim.tv_nsec;
	}
	if (r >= 0)
		r = qmeta_apply_fd(fd, &e);
	if (r >= 0)
		r = RET_NERRNO(fsync(fd));
	if (r >= 0) {
		snprintf(point, sizeof(point), "%s-rename", fault);
		fault_point(point);
		r = RET_NERRNO(renameat(dir_fd, tmp, dir_fd, name));
	}
	if (r < 0) {
		(void)unlinkat(dir_fd, tmp, 0);
		return r;
	}
	snprintf(point, sizeof(point), "%s-fsync-dir", fault);
	fault_point(point);
	return RET_NERRNO(fsync(dir_fd));
}

/* ---------------------------------------------------------------------- */
/* The state directory */

struct djob {
	int root_fd;
	int base_fd; /* <root>/var/lib/lifeline/degrade, locked */
	int dir_fd;  /* .../<id> */
	char id[COMPONENT_ID_MAX + 1];
	struct dmanifest m;
	struct degrade_result *res;
};

static void djob_done(struct djob *j)
{
	if (j->root_fd >= 0)
		close(j->root_fd);
	if (j->base_fd >= 0)
		close(j->base_fd);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	dmanifest_done(&j->m);
	j->root_fd = j->base_fd = j->dir_fd = -1;
}

static int base_open(const char *root, bool create, int *ret_root_fd, int *ret_base_fd)
{
	/* lifelinectl and lifelined must not run one job at once; a holder
	 * is waited for QUARANTINE_LOCK_TIMEOUT_MS at most (-EWOULDBLOCK) */
	return qstate_dir_open(root, DEGRADE_DIR, create, ret_root_fd, ret_base_fd);
}

const char *degrade_strerror(int r)
{
	if (r == -EWOULDBLOCK)
		return DEGRADE_DIR QSTATE_BUSY_TEXT;
	return strerror(abs(r));
}

static bool state_name_ok(const char *name)
{
	const char *num = NULL;

	if (streq(name, DM_NAME) || streq(name, DM_TMP_NAME))
		return true;
	if (strncmp(name, "orig-", 5) == 0)
		num = name + 5;
	else if (strncmp(name, "new-", 4) == 0)
		num = name + 4;
	else
		return strncmp(name, ".lifeline-tmp-", 14) == 0;
	return *num && strspn(num, "0123456789") == strlen(num);
}

/* Removes <id>: its copies, then the manifest (the end of the job), then
 * the folder. Anything unexpected in it: -ENOTEMPTY, the manifest kept. */
static int state_remove(int base_fd, const char *id)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(base_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	while ((errno = 0, de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
		    !state_name_ok(de->d_name))
			return -ENOTEMPTY;
	rewinddir(d);
	fault_point("degrade-remove");
	while ((de = readdir(d)))
		if (state_name_ok(de->d_name) && !streq(de->d_name, DM_NAME) &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			return negative_errno();
	if (fsync(dirfd(d)) < 0)
		return negative_errno();
	fault_point("degrade-remove-manifest");
	if (unlinkat(dirfd(d), DM_NAME, 0) < 0 && errno != ENOENT)
		return negative_errno();
	fault_point("degrade-rmdir");
	if (unlinkat(base_fd, id, AT_REMOVEDIR) < 0)
		return negative_errno();
	return RET_NERRNO(fsync(base_fd));
}

/* ---------------------------------------------------------------------- */
/* Replaying a manifest */

static void copy_name(char buf[32], const char *kind, unsigned idx)
{
	snprintf(buf, 32, "%s-%u", kind, idx);
}

/* The metadata a file gets: the manifest's owner and mode, the original's
 * xattrs (from its copy); with_mtime: the original's mtime, else now. */
static int entry_meta(const struct djob *j, const struct dentry *e, bool with_mtime,
                      struct qentry *ret)
{
	char orig[32];
	int r;

	*ret = (struct qentry){.mode = e->mode, .uid = e->uid, .gid = e->gid, .mtime_sec = -1};
	if (e->existed) {
		copy_name(orig, "orig", e->idx);
		r = qentry_read(j->dir_fd, orig, ret);
		/* ENOENT: a cut while the state was being removed, after every
		 * file was back: the manifest's owner, mode and mtime suffice */
		if (r < 0 && r != -ENOENT)
			return r;
		ret->mode = e->mode;
		ret->uid = e->uid;
		ret->gid = e->gid;
	}
	ret->mtime_sec = with_mtime ? e->mtime_sec : -1;
	ret->mtime_nsec = with_mtime ? e->mtime_nsec : 0;
	return 0;
}

/* One file forward. 1 replaced, 0 already done, -ESTALE changed under us. */
static int apply_one(struct djob *j, const struct dentry *e)
{
	_cleanup_(target_done) struct target t = {.fd = -1};
	_cleanup_(qentry_done) struct qentry meta = {0};
	_cleanup_free_ char *data = NULL;
	uint8_t sha[SHA256_DIGEST_SIZE];
	char name[32];
	size_t size = 0;
	int r, st;

	r = target_open(j->root_fd, e->path, &t);
	if (r < 0)
		return r;
	(void)unlinkat(t.fd, t.tmp, 0);
	st = file_state(t.fd, t.name, sha, NULL);
	if (st < 0)
		return st;
	if (st == 1 && memcmp(sha, e->becomes, sizeof(sha)) == 0)
		return 0;
	if (e->existed ? st != 1 || memcmp(sha, e->was, sizeof(sha)) != 0 : st != 0)
		return -ESTALE;
	copy_name(name, "new", e->idx);
	r = read_at(j->dir_fd, name, &data, &size);
	if (r < 0)
		return r;
	sha256_buffer(data, size, sha);
	if (memcmp(sha, e->becomes, sizeof(sha)) != 0)
		return -EBADMSG; /* the copy is damaged */
	r = entry_meta(j, e, false, &meta);
	if (r < 0)
		return r;
	r = write_replace(t.fd, t.name, t.tmp, data, size, &meta, "degrade-apply");
	return r < 0 ? r : 1;
}

/* What undo_one() did with a file. */
enum undo_outcome {
	UNDO_ALREADY,  /* it held the original (or was absent, a new file): nothing to do */
	UNDO_RESTORED, /* put back (a new file: removed) */
	UNDO_KEPT,     /* changed since the apply: kept as it is */
	UNDO_GONE,     /* its folder no longer exists: nothing to put back */
};

/* One file back: an undo_outcome, or -errno. */
static int undo_one(struct djob *j, const struct dentry *e)
{
	_cleanup_(target_done) struct target t = {.fd = -1};
	_cleanup_(qentry_done) struct qentry meta = {0};
	_cleanup_free_ char *data = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t sha[SHA256_DIGEST_SIZE];
	char name[32];
	size_t size = 0;
	int r, st;

	r = target_open(j->root_fd, e->path, &t);
	/* A folder on the way is gone (the vendor's package was removed),
	 * and the file with it: putting it back would mean making folders
	 * the machine no longer has, and failing would keep the state, and
	 * every clear failing, forever. A symlink on the way (-ELOOP) is
	 * still refused. */
	if (r == -ENOENT)
		return UNDO_GONE;
	if (r < 0)
		return r;
	(void)unlinkat(t.fd, t.tmp, 0);
	st = file_state(t.fd, t.name, sha, &fd);
	if (st < 0)
		return st;
	if (!e->existed) {
		if (st == 0)
			return UNDO_ALREADY;
		if (memcmp(sha, e->becomes, sizeof(sha)) != 0)
			return UNDO_KEPT;
		fault_point("degrade-undo-unlink");
		if (unlinkat(t.fd, t.name, 0) < 0)
			return negative_errno();
		return fsync(t.fd) < 0 ? negative_errno() : UNDO_RESTORED;
	}
	r = entry_meta(j, e, true, &meta);
	if (r < 0)
		return r;
	if (st == 1 && memcmp(sha, e->was, sizeof(sha)) == 0) {
		/* on the file just found to hold the original, not on what
		 * its name may hold by now */
		r = qmeta_apply_fd(fd, &meta);
		return r < 0 ? r : UNDO_ALREADY;
	}
	if (st == 1 && memcmp(sha, e->becomes, sizeof(sha)) != 0)
		return UNDO_KEPT;
	copy_name(name, "orig", e->idx);
	r = read_at(j->dir_fd, name, &data, &size);
	if (r < 0)
		return r;
	sha256_buffer(data, size, sha);
	if (memcmp(sha, e->was, sizeof(sha)) != 0)
		return -EBADMSG;
	r = write_replace(t.fd, t.name, t.tmp, data, size, &meta, "degrade-undo");
	return r < 0 ? r : UNDO_RESTORED;
}

static int run_undo(struct djob *j)
{
	int r, first = 0;

	if (j->m.state != DM_UNDOING) {
		j->m.state = DM_UNDOING;
		r = dmanifest_save(j->dir_fd, &j->m);
		if (r < 0)
			return r;
	}
	for (size_t i = j->m.n; i-- > 0;) {
		const struct dentry *e = &j->m.e[i];

		r = undo_one(j, e);
		if (r < 0) {
			res_line(j->res, "%s: cannot put it back: %s", e->path, strerror(-r));
			if (first == 0)
				first = r;
		} else if (r == UNDO_KEPT) {
			j->res->kept++;
			res_line(j->res,
			         "%s: changed since the degrade (neither the original nor the "
			         "user-mode version): kept as it is",
			         e->path);
		} else if (r == UNDO_GONE) {
			j->res->kept++;
			res_line(j->res,
			         "%s: its folder no longer exists (its package removed?): "
			         "nothing to put back",
			         e->path);
		} else
			j->res->restored++;
	}
	if (first < 0)
		return first; /* the manifest stays: a later undo tries again */
	r = state_remove(j->base_fd, j->id);
	if (r < 0)
		return r;
	res_line(j->res, "%s: degrade undone: %u file(s) put back, %u kept or gone", j->id,
	         j->res->restored, j->res->kept);
	return 0;
}

static int run_apply(struct djob *j)
{
	int r = 0;

	for (size_t i = 0; i < j->m.n; i++) {
		const struct dentry *e = &j->m.e[i];

		r = apply_one(j, e);
		if (r < 0) {
			res_line(j->res, "%s: %s; undoing the degrade", e->path,
			         r == -ESTALE ? "changed while the degrade was applied"
			                      : strerror(-r));
			break;
		}
		j->res->changed += r;
	}
	if (r < 0) {
		int k = run_undo(j);

		j->res->restored = 0;
		return k < 0 ? k : r;
	}
	fault_point("degrade-applied");
	j->m.state = DM_APPLIED;
	r = dmanifest_save(j->dir_fd, &j->m);
	if (r < 0)
		return r;
	res_line(j->res, "%s: degraded: %zu file(s) hold the user-mode setting", j->id, j->m.n);
	return 0;
}

/* Opens <id> and its manifest. 1 loaded, 0 no folder, -ENOENT a folder
 * without manifest (a cut before it was written), other -errno. */
static int djob_load(struct djob *j)
{
	int r;

	j->dir_fd = openat(j->base_fd, j->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (j->dir_fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	r = dmanifest_load(j->dir_fd, &j->m);
	if (r < 0)
		return r;
	if (!streq(j->m.id, j->id))
		return -EBADMSG;
	return 1;
}

/* Finishes what the manifest says; restore: as an undo whatever it says. */
static int djob_finish(struct djob *j, bool undo)
{
	if (undo || j->m.state == DM_UNDOING)
		return run_undo(j);
	if (j->m.state == DM_APPLYING)
		return run_apply(j);
	return 0;
}

static int djob_begin(const char *root, const char *id, bool create, struct djob *j,
                      struct degrade_result *res)
{
	int r;

	*j = (struct djob){.root_fd = -1, .base_fd = -1, .dir_fd = -1, .res = res};
	if (!component_id_is_valid(id))
		return -EINVAL;
	snprintf(j->id, sizeof(j->id), "%s", id);
	r = base_open(root, create, &j->root_fd, &j->base_fd);
	if (r == -ENOENT && !create)
		return 0;
	if (r == -EWOULDBLOCK)
		res_line(res, "%s: %s", id, degrade_strerror(r));
	if (r < 0)
		return r;
	r = djob_load(j);
	if (r == -ENOENT) {
		if (j->dir_fd >= 0)
			close(j->dir_fd);
		j->dir_fd = -1;
		r = state_remove(j->base_fd, j->id);
		return r < 0 ? r : 0;
	}
	return r;
}

/* ---------------------------------------------------------------------- */
/* Planning */

struct plan_file {
	const char *path;
	bool existed;
	struct qentry meta; /* of the original, or what a new file gets */
	char *orig;         /* the original's bytes (existed) */
	size_t orig_size;
	char *data; /* what it becomes */
	size_t size;
};

static void plan_done(struct plan_file *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		qentry_done(&p[i].meta);
		free(p[i].orig);
		free(p[i].data);
	}
	free(p);
}

static int plan_one(int root_fd, const struct protected_set *prot, const struct component *c,
                    const char *path, struct plan_file *f, struct degrade_result *res)
{
	_cleanup_(target_done) struct target t = {.fd = -1};
	_cleanup_free_ char *cur = NULL;
	size_t cur_size = 0;
	uint8_t sha[SHA256_DIGEST_SIZE];
	const char *why;
	struct stat st;
	int r, kind;

	f->path = path;
	why = prot ? protected_path_reason(prot, path) : NULL;
	if (why) {
		res_line(res, "%s: protected (%s)", path, why);
		return -EPERM;
	}
	r = target_open(root_fd, path, &t);
	if (r < 0) {
		res_line(res, "%s: %s", path,
		         r == -ELOOP    ? "a symlink or a non-folder is on the way to it"
		         : r == -ENOENT ? "its folder does not exist"
		                        : strerror(-r));
		return r;
	}
	kind = qfile_kind(t.fd, t.name);
	if (kind < 0) {
		res_line(res, "%s: %s", path, kind == -ELOOP ? "a symlink" : "not a regular file");
		return kind == -ELOOP ? -ELOOP : -EMEDIUMTYPE;
	}
	f->existed = kind == 1;
	if (f->existed) {
		r = read_at(t.fd, t.name, &f->orig, &f->orig_size);
		if (r >= 0)
			r = qentry_read(t.fd, t.name, &f->meta);
		if (r < 0) {
			res_line(res, "%s: %s", path,
			         r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
			return r;
		}
		sha256_buffer(f->orig, f->orig_size, sha);
		if (memcmp(sha, f->meta.sha256, sizeof(sha)) != 0) {
			res_line(res, "%s: changed while it was read", path);
			return -ESTALE;
		}
	} else {
		if (fstat(t.fd, &st) < 0)
			return negative_errno();
		f->meta = (struct qentry){.mode = 0644, .uid = st.st_uid, .gid = st.st_gid};
	}

	for (size_t i = 0; i < c->n_degrade; i++) {
		const struct degrade_edit *ed = &c->degrade[i];
		char *out = NULL;
		size_t out_size = 0;

		if (!streq(ed->path, path))
			continue;
		const char *in = cur ? cur : f->orig;
		size_t in_size = cur ? cur_size : f->orig_size;

		if (ed->kind == DEGRADE_INSTALL) {
			out = malloc(ed->size + 1);
			if (!out)
				return -ENOMEM;
			memcpy(out, ed->data, ed->size);
			out[ed->size] = 0;
			out_size = ed->size;
		} else {
			if (!in) {
				res_line(res, "%s: does not exist, so %s cannot be set", path,
				         ed->key);
				return -ENOENT;
			}
			r = degrade_edit_text(ed->format, in, in_size, ed->key, ed->value, &out,
			                      &out_size, &why);
			if (r < 0) {
				if (r != -ENOMEM)
					res_line(res, "%s: cannot set %s: %s", path, ed->key, why);
				return r;
			}
		}
		free(cur);
		cur = out;
		cur_size = out_size;
	}
	if (!cur) /* no edit: cannot be, the path came from an edit */
		return -EINVAL;
	f->data = TAKE_PTR(cur);
	f->size = cur_size;
	return 0;
}

static int plan(int root_fd, const char *root, const struct component *c, struct plan_file **ret,
                size_t *ret_n, struct degrade_result *res)
{
	struct protected_set *prot = protected_set_get(root);
	struct plan_file *p = NULL;
	size_t n = 0;
	int r = 0;

	if (!prot)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_degrade && r >= 0; i++) {
		bool seen = false;
		struct plan_file *np;

		for (size_t k = 0; k < n; k++)
			seen = seen || streq(p[k].path, c->degrade[i].path);
		if (seen)
			continue;
		np = realloc(p, (n + 1) * sizeof(*np));
		if (!np) {
			r = -ENOMEM;
			break;
		}
		p = np;
		p[n] = (struct plan_file){0};
		r = plan_one(root_fd, prot, c, c->degrade[i].path, &p[n++], res);
	}
	protected_set_unref(prot);
	if (r < 0) {
		plan_done(p, n);
		return r;
	}
	*ret = p;
	*ret_n = n;
	return 0;
}

/* Writes the copies orig-N and new-N, then the manifest (applying). */
static int journal(struct djob *j, const struct plan_file *p, size_t n)
{
	int r;

	fault_point("degrade-mkdir");
	if (mkdirat(j->base_fd, j->id, 0700) < 0)
		return negative_errno();
	r = RET_NERRNO(fsync(j->base_fd));
	if (r < 0)
		return r;
	j->dir_fd = openat(j->base_fd, j->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (j->dir_fd < 0)
		return negative_errno();
	j->m = (struct dmanifest){.id = strdup(j->id), .state = DM_APPLYING};
	if (!j->m.id)
		return -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		const struct plan_file *f = &p[i];
		struct dentry e = {
		    .idx = (unsigned)i,
		    .existed = f->existed,
		    .mode = f->meta.mode,
		    .uid = f->meta.uid,
		    .gid = f->meta.gid,
		    .mtime_sec = f->meta.mtime_sec,
		    .mtime_nsec = f->meta.mtime_nsec,
		};
		struct qentry tmpmeta = {.mode = 0600, .uid = geteuid(), .gid = getegid()};
		char name[32];

		sha256_buffer(f->data, f->size, e.becomes);
		if (f->existed) {
			/* the original, with its owner, mode, mtime and xattrs */
			memcpy(e.was, f->meta.sha256, sizeof(e.was));
			copy_name(name, "orig", e.idx);
			r = write_replace(j->dir_fd, name, ".lifeline-tmp-orig", f->orig,
			                  f->orig_size, &f->meta, "degrade-copy");
			if (r < 0)
				return r;
		}
		copy_name(name, "new", e.idx);
		tmpmeta.mtime_sec = -1;
		r = write_replace(j->dir_fd, name, ".lifeline-tmp-new", f->data, f->size, &tmpmeta,
		                  "degrade-new");
		if (r < 0)
			return r;
		e.path = strdup(f->path);
		if (!e.path)
			return -ENOMEM;
		r = dmanifest_add(&j->m, &e);
		if (r < 0) {
			free(e.path);
			return r;
		}
	}
	r = RET_NERRNO(fsync(j->dir_fd));
	if (r < 0)
		return r;
	return dmanifest_save(j->dir_fd, &j->m);
}

/* ---------------------------------------------------------------------- */
/* The interface */

static void result_hand_over(struct degrade_result *res, struct degrade_result *ret)
{
	if (ret)
		*ret = *res;
	else
		degrade_result_done(res);
	*res = (struct degrade_result){0};
}

int degrade_apply(const char *root, const struct component *c, struct degrade_result *ret)
{
	struct degrade_result res = {0};
	struct plan_file *p = NULL;
	struct djob j;
	size_t n = 0;
	int r;

	if (!component_can_degrade(c))
		return -EINVAL;
	r = djob_begin(root, c->id, true, &j, &res);
	if (r == 1 && j.m.state == DM_UNDOING) {
		/* a clear was cut short: finish it, then degrade anew */
		r = run_undo(&j);
		dmanifest_done(&j.m);
		if (j.dir_fd >= 0)
			close(j.dir_fd);
		j.dir_fd = -1;
		res = (struct degrade_result){.lines = res.lines};
		if (r >= 0)
			r = 0;
	}
	if (r == 1) {
		if (j.m.state == DM_APPLIED)
			res_line(&res, "%s: already degraded", j.id);
		r = djob_finish(&j, false);
		goto out;
	}
	if (r < 0)
		goto out;
	r = plan(j.root_fd, root, c, &p, &n, &res);
	if (r >= 0)
		r = journal(&j, p, n);
	if (r < 0 && j.dir_fd >= 0) {
		/* nothing of the machine changed yet: drop the half journal */
		close(j.dir_fd);
		j.dir_fd = -1;
		dmanifest_done(&j.m);
		(void)state_remove(j.base_fd, j.id);
	} else if (r >= 0)
		r = run_apply(&j);
	plan_done(p, n);
out:
	djob_done(&j);
	if (r >= 0 || ret)
		result_hand_over(&res, ret);
	degrade_result_done(&res);
	return r < 0 ? r : 0;
}

int degrade_undo(const char *root, const char *component_id, struct degrade_result *ret)
{
	struct degrade_result res = {0};
	struct djob j;
	int r;

	r = djob_begin(root, component_id, false, &j, &res);
	if (r == 1)
		r = djob_finish(&j, true);
	djob_done(&j);
	if (r >= 0 || ret)
		result_hand_over(&res, ret);
	degrade_result_done(&res);
	return r < 0 ? r : 0;
}

/* The component folders under the degrade directory. */
static int scan_ids(int base_fd, char ***ret)
{
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_strv_free_ char **ids = NULL;
	struct dirent *de;
	int fd, r;

	fd = openat(base_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	while ((errno = 0, de = readdir(d)))
		if (component_id_is_valid(de->d_name) && !streq(de->d_name, ".") &&
		    !streq(de->d_name, "..")) {
			r = strv_extend(&ids, de->d_name);
			if (r < 0)
				return r;
		}
	if (errno)
		return negative_errno();
	if (ids)
		strv_sort_uniq(ids);
	*ret = TAKE_PTR(ids);
	return 0;
}

int degrade_recover(const char *root)
{
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	int r, first = 0, done = 0;

	r = base_open(root, false, &root_fd, &base_fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = scan_ids(base_fd, &ids);
	if (r < 0)
		return r;
	STRV_FOREACH (id, ids) {
		struct degrade_result res = {0};
		struct djob j = {.root_fd = -1, .base_fd = base_fd, .dir_fd = -1, .res = &res};

		snprintf(j.id, sizeof(j.id), "%s", *id);
		j.root_fd = root_fd;
		r = djob_load(&j);
		if (r == -ENOENT)
			r = state_remove(base_fd, *id);
		else if (r == 1 && j.m.state != DM_APPLIED) {
			r = djob_finish(&j, false);
			done += r >= 0;
		}
		if (r < 0 && first == 0)
			first = r;
		if (j.dir_fd >= 0)
			close(j.dir_fd);
		dmanifest_done(&j.m);
		degrade_result_done(&res);
	}
	return first < 0 ? first : done;
}

static int peek_state(const char *root, const char *id, int *ret_state)
{
	_cleanup_free_ char *base = path_under_root(root, DEGRADE_DIR);
	_cleanup_close_ int base_fd = -1, dir_fd = -1;
	struct dmanifest m = {0};
	int r;

	if (!base)
		return -ENOMEM;
	*ret_state = -1;
	base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base_fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	dir_fd = openat(base_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	r = dmanifest_load(dir_fd, &m);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	*ret_state = (int)m.state;
	dmanifest_done(&m);
	return 0;
}

int degrade_exists(const char *root, const char *component_id)
{
	int r, s;

	if (!component_id_is_valid(component_id))
		return -EINVAL;
	r = peek_state(root, component_id, &s);
	if (r < 0)
		return r;
	return s == DM_APPLYING || s == DM_APPLIED;
}

int degrade_needs_recovery(const char *root)
{
	_cleanup_free_ char *base = path_under_root(root, DEGRADE_DIR);
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_close_ int base_fd = -1;
	int r, n = 0;

	if (!base)
		return -ENOMEM;
	base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base_fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	r = scan_ids(base_fd, &ids);
	if (r < 0)
		return r;
	STRV_FOREACH (id, ids) {
		int s;

		r = peek_state(root, *id, &s);
		if (r < 0)
			return r;
		n += s != DM_APPLIED;
	}
	return n;
}

int degrade_list(const char *root, char ***ret_ids)
{
	_cleanup_free_ char *base = path_under_root(root, DEGRADE_DIR);
	_cleanup_strv_free_ char **ids = NULL, **out = NULL;
	_cleanup_close_ int base_fd = -1;
	int r;

	if (!base)
		return -ENOMEM;
	base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base_fd < 0 && errno != ENOENT)
		return negative_errno();
	if (base_fd >= 0) {
		r = scan_ids(base_fd, &ids);
		if (r < 0)
			return r;
	}
	STRV_FOREACH (id, ids) {
		r = degrade_exists(root, *id);
		if (r < 0)
			return r;
		if (r > 0) {
			r = strv_extend(&out, *id);
			if (r < 0)
				return r;
		}
	}
	if (!out) {
		out = calloc(1, sizeof(char *));
		if (!out)
			return -ENOMEM;
	}
	*ret_ids = TAKE_PTR(out);
	return 0;
}
