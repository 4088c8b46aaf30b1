/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The quarantine's bookkeeping, shared by apply (quarantine.c) and restore
 * (quarantine-restore.c): results, one job (a component in a generation,
 * its directories and manifest), the durable flush, and the listing of
 * what is on disk.
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
#include <time.h>
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

static unsigned flush_interval; /* 0: adaptive, see quarantine.h */
static unsigned lock_timeout_ms = QUARANTINE_LOCK_TIMEOUT_MS;

unsigned quarantine_set_flush_interval(unsigned files)
{
	unsigned old = flush_interval;

	flush_interval = files;
	return old;
}

unsigned quarantine_set_lock_timeout(unsigned ms)
{
	unsigned old = lock_timeout_ms;

	lock_timeout_ms = ms;
	return old;
}

const char *quarantine_strerror(int r)
{
	if (r == -EWOULDBLOCK)
		return QUARANTINE_DIR QSTATE_BUSY_TEXT;
	return strerror(abs(r));
}

void quarantine_result_done(struct quarantine_result *r)
{
	if (!r)
		return;
	strv_free(r->lines);
	memset(r, 0, sizeof(*r));
}

void qresult_line(struct quarantine_result *r, const char *fmt, ...)
{
	const char *s;
	va_list ap;

	va_start(ap, fmt);
	s = strv_extendv(&r->lines, fmt, ap);
	va_end(ap);
	if (s)
		log_debug("%s", s);
}

void qresult_add(struct quarantine_result *to, struct quarantine_result *from)
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

void qjob_init(struct qjob *j)
{
	memset(j, 0, sizeof(*j));
	j->root_fd = j->base_fd = j->gen_fd = j->comp_fd = j->files_fd = -1;
	qdir_init(&j->orig, -1, false, 0755);
	qdir_init(&j->quar, -1, false, 0700);
}

void qjob_done(struct qjob *j)
{
	qdir_done(&j->orig);
	qdir_done(&j->quar);
	qmanifest_done(&j->m);
	quarantine_result_done(&j->res);
	j->protected = protected_set_unref(j->protected);
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
int qbase_open(const char *root, int *ret_root_fd, int *ret_base_fd, bool create)
{
	return qstate_dir_open(root, QUARANTINE_DIR, create, ret_root_fd, ret_base_fd);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* flock(LOCK_EX) on fd, waiting at most lock_timeout_ms: LOCK_NB tried
 * every QUARANTINE_LOCK_RETRY_MS (flock(2): "EWOULDBLOCK The file is
 * locked and the LOCK_NB flag was selected"). A blocking flock() would
 * wait for as long as the holder lives. path is for the debug log. */
static int lock_bounded(int fd, const char *path)
{
	int64_t deadline = now_ns() + (int64_t)lock_timeout_ms * 1000000;
	bool logged = false;

	for (;;) {
		struct timespec pause;
		int64_t left; /* ns */

		if (flock(fd, LOCK_EX | LOCK_NB) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return negative_errno();
		left = deadline - now_ns();
		if (left <= 0) {
			log_debug("%s: held by another lifeline process for %u ms, giving up", path,
			          lock_timeout_ms);
			return -EWOULDBLOCK;
		}
		if (!logged) {
			log_debug("%s: held by another lifeline process, waiting up to %u ms", path,
			          lock_timeout_ms);
			logged = true;
		}
		left = MIN(left, (int64_t)QUARANTINE_LOCK_RETRY_MS * 1000000);
		pause =
		    (struct timespec){.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
		/* EINTR: tries again sooner, the deadline still holds */
		(void)nanosleep(&pause, NULL);
	}
}

int qstate_dir_open(const char *root, const char *dir, bool create, int *ret_root_fd,
                    int *ret_base_fd)
{
	_cleanup_free_ char *base = path_under_root(root, dir);
	_cleanup_close_ int root_fd = -1, base_fd = -1;
	int r;

	if (!base)
		return -ENOMEM;
	root_fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return negative_errno();
	if (create) {
		/* lifeline's own state directory; mode 0700: quarantined
		 * content, or a degrade step's copies, may hold a vendor's
		 * keys. */
		r = qmkdir_durable(base, 0700);
		if (r < 0)
			return r;
	}
	base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base_fd < 0)
		return negative_errno();
	r = lock_bounded(base_fd, base);
	if (r < 0)
		return r;
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
int qjob_open(struct qjob *j, int root_fd, int base_fd, const char *id, unsigned generation,
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
int qjob_flush(struct qjob *j)
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

int qjob_progress(struct qjob *j)
{
	size_t every =
	    flush_interval ? flush_interval : MAX((size_t)QUARANTINE_FLUSH_MIN, j->m.n / 4);

	if (++j->since_flush < every)
		return 0;
	return qjob_flush(j);
}

void qjob_entry_error(struct qjob *j, struct qentry *e, enum qe_state state, int error,
                      const char *what)
{
	e->state = state;
	e->error = abs(error);
	j->res.errors++;
	qresult_line(&j->res, "%s: %s: %s", e->path, what, strerror(abs(error)));
}

unsigned qmanifest_count(const struct qmanifest *m, enum qe_state s)
{
	unsigned n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += m->entries[i].state == s;
	return n;
}

/* Removes the component's directory (nothing is left in it), then the
 * generation's directory if it is empty. */
int qjob_remove(struct qjob *j)
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

/* ---------------------------------------------------------------------- */
/* What is on disk */

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
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
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
int qslots_scan(int base_fd, const char *only_id, struct qslot **ret, size_t *ret_n)
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
int qslot_peek_state(int base_fd, const struct qslot *s, enum qm_state *ret)
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

int qbase_open_ro(const char *root, int *ret_base_fd)
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
