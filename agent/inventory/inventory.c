/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Taking an inventory of the components' files, and the diff of two.
 *
 * Cost: one directory walk per glob with one fstatat() per file matched;
 * a file is opened and hashed only when it is new or its (size, mtime,
 * ctime, inode, device) moved since the previous inventory. ctime cannot be set from user space
 * (utimensat(2) sets it to "now"), so a rewrite that restores size and
 * mtime still shows; the one hole, two writes within one tick of the
 * coarse clock the kernel stamps inodes with, is closed by re-hashing
 * every file whose ctime is not before the previous walk's start (the
 * "racy" entries of git's index work the same way).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/conf/glob-walk.h"
#include "agent/inventory/inventory-internal.h"
#include "agent/inventory/inventory.h"
#include "common/fileio.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/sha256.h"
#include "common/strv.h"

/* ---------------------------------------------------------------------- */
/* Shared helpers */

int inv_open_root(const char *root)
{
	int fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? negative_errno() : fd;
}

void inv_dir_init(struct inv_dir *d, int root_fd)
{
	*d = (struct inv_dir){.root_fd = root_fd, .fd = -1};
}

void inv_dir_done(struct inv_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->dir);
	d->fd = -1;
	d->dir = NULL;
}

int inv_openat_dir(int root_fd, const char *path, bool create, mode_t mode)
{
	const struct rooted_mkdir mk = {.mode = mode};

	return rooted_open_dir(root_fd, path, create ? &mk : NULL);
}

int inv_dir_open(struct inv_dir *d, const char *path, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (!slash || path[0] != '/')
		return -EINVAL;
	len = (size_t)(slash - path);
	/* path + 1 .. slash: the directory without its leading '/'. */
	if (d->dir && strlen(d->dir) == (len ? len - 1 : 0) &&
	    strncmp(d->dir, path + 1, len ? len - 1 : 0) == 0) {
		if (d->fd < 0)
			return d->error;
		*ret_name = slash + 1;
		return d->fd;
	}
	inv_dir_done(d);
	d->dir = strndup(path + 1, len ? len - 1 : 0);
	if (!d->dir)
		return -ENOMEM;
	d->fd = inv_openat_dir(d->root_fd, d->dir, false, 0);
	if (d->fd < 0) {
		d->error = d->fd;
		d->fd = -1;
		return d->error;
	}
	*ret_name = slash + 1;
	return d->fd;
}

int inv_hash_fd(int fd, uint8_t *buf, size_t buf_size, uint64_t limit,
                uint8_t ret_sha256[INVENTORY_SHA256_SIZE], uint64_t *ret_bytes)
{
	struct sha256_ctx ctx;
	uint64_t total = 0;

	sha256_init(&ctx);
	while (total < limit) {
		ssize_t n = fd_read_retry(fd, buf, (size_t)MIN((uint64_t)buf_size, limit - total));

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		sha256_update(&ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	sha256_final(&ctx, ret_sha256);
	if (ret_bytes)
		*ret_bytes = total;
	return 0;
}

int inv_hash_data(const void *data, size_t size, uint8_t ret_sha256[INVENTORY_SHA256_SIZE])
{
	sha256_buffer(data, size, ret_sha256);
	return 0;
}

void inv_hex(const uint8_t sha256[INVENTORY_SHA256_SIZE], char ret[2 * INVENTORY_SHA256_SIZE + 1])
{
	hex_encode(sha256, INVENTORY_SHA256_SIZE, ret);
}

int inv_unhex(const char *s, size_t len, uint8_t ret[INVENTORY_SHA256_SIZE])
{
	return len == 2 * INVENTORY_SHA256_SIZE ? hex_decode(s, len, ret) : -EINVAL;
}

static int64_t timespec_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

void inv_file_set_stat(struct inventory_file *f, const struct stat *st)
{
	f->mode = (uint32_t)st->st_mode;
	f->uid = (uint32_t)st->st_uid;
	f->gid = (uint32_t)st->st_gid;
	f->size = (uint64_t)st->st_size;
	f->mtime_ns = timespec_ns(&st->st_mtim);
	f->ctime_ns = timespec_ns(&st->st_ctim);
	f->ino = (uint64_t)st->st_ino;
	f->dev = (uint64_t)st->st_dev;
}

void inv_file_done(struct inventory_file *f)
{
	free(f->path);
	f->path = NULL;
}

void inv_component_done(struct inventory_component *c)
{
	free(c->id);
	strv_free(c->modules);
	for (size_t i = 0; i < c->n_files; i++)
		inv_file_done(&c->files[i]);
	free(c->files);
	memset(c, 0, sizeof(*c));
}

unsigned inv_file_compare(const struct inventory_file *a, const struct inventory_file *b)
{
	unsigned what = 0;

	if ((a->mode & S_IFMT) != (b->mode & S_IFMT))
		what |= INVENTORY_CHANGED_TYPE;
	else if (a->hashed && b->hashed) {
		if (memcmp(a->sha256, b->sha256, INVENTORY_SHA256_SIZE) != 0)
			what |= INVENTORY_CHANGED_CONTENT;
	} else if (S_ISREG(a->mode) || S_ISLNK(a->mode)) {
		/* One side could not be read: all that is left is whether
		 * it looks rewritten. */
		if (a->size != b->size || a->mtime_ns != b->mtime_ns)
			what |= INVENTORY_CHANGED_CONTENT;
	}
	if ((a->mode & 07777) != (b->mode & 07777))
		what |= INVENTORY_CHANGED_MODE;
	if (a->uid != b->uid || a->gid != b->gid)
		what |= INVENTORY_CHANGED_OWNER;
	return what;
}

struct inventory *inventory_free(struct inventory *inv)
{
	if (!inv)
		return NULL;
	for (size_t i = 0; i < inv->n_components; i++)
		inv_component_done(&inv->components[i]);
	free(inv->components);
	free(inv);
	return NULL;
}

const struct inventory_component *inventory_find_component(const struct inventory *inv,
                                                           const char *id)
{
	for (size_t i = 0; inv && i < inv->n_components; i++)
		if (streq(inv->components[i].id, id))
			return &inv->components[i];
	return NULL;
}

static int file_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct inventory_file *)elem)->path);
}

const struct inventory_file *inventory_component_find_file(const struct inventory_component *c,
                                                           const char *path)
{
	if (!c || c->n_files == 0)
		return NULL;
	return bsearch(path, c->files, c->n_files, sizeof(c->files[0]), file_cmp);
}

/* ---------------------------------------------------------------------- */
/* Walking the globs */

/*
 * The globs are walked by glob_walk() (agent/conf/glob-walk.h), the
 * walker component_expand_files() uses, but every non-folder the last
 * component matches is kept with the lstat the walk made anyway: regular
 * files, and symlinks and special files as what they are, so a file
 * swapped for a symlink is recorded as such and never read through. One
 * fstatat() per file is the whole cost of an unchanged file.
 */
struct walk {
	bool content;
	struct inventory_component *ic;
	size_t alloc;
};

static int walk_found(const char *path, const struct stat *st, void *userdata)
{
	struct walk *w = userdata;
	struct inventory_file *f;

	if (S_ISDIR(st->st_mode))
		return 0;
	if (w->ic->n_files >= COMPONENT_EXPAND_MAX)
		return -E2BIG;
	if (w->ic->n_files == w->alloc) {
		size_t na = w->alloc ? w->alloc * 2 : 64;
		struct inventory_file *n = realloc(w->ic->files, na * sizeof(*n));

		if (!n)
			return -ENOMEM;
		w->ic->files = n;
		w->alloc = na;
	}
	f = &w->ic->files[w->ic->n_files];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	inv_file_set_stat(f, st);
	f->content = w->content;
	w->ic->n_files++;
	return 0;
}

static int file_path_cmp(const void *a, const void *b)
{
	const struct inventory_file *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	/* Equal paths: the content record first, so it is the one kept. */
	return c ? c : (int)y->content - (int)x->content;
}

/* The files of c's globs, sorted by path, one record per path (content
 * when any content glob matched it). */
static int walk_component(const struct component *c, int root_fd, struct inventory_component *ic)
{
	struct walk w = {.ic = ic};
	char **lists[] = {c->files, c->content};
	size_t n = 0;
	int r = 0;

	for (size_t l = 0; l < ELEMENTSOF(lists) && r >= 0; l++) {
		w.content = l == 1;
		STRV_FOREACH (g, lists[l]) {
			r = glob_walk(root_fd, *g, 0, walk_found, &w);
			if (r < 0)
				break;
		}
	}
	if (r < 0)
		return r;
	if (ic->n_files > 1)
		qsort(ic->files, ic->n_files, sizeof(ic->files[0]), file_path_cmp);
	for (size_t i = 0; i < ic->n_files; i++) {
		if (n > 0 && streq(ic->files[n - 1].path, ic->files[i].path)) {
			inv_file_done(&ic->files[i]);
			continue;
		}
		ic->files[n++] = ic->files[i];
	}
	ic->n_files = n;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Taking an inventory */

struct take {
	const struct inventory *previous;
	struct inventory *inv;
	uint8_t *buf;
	struct inv_dir dir;
};

/* Whether prev's hash holds for f: same type, size, times, inode and
 * device, and prev's ctime before the walk that hashed it began. */
static bool can_reuse(const struct take *t, const struct inventory_file *f,
                      const struct inventory_file *prev)
{
	return prev && prev->hashed && (prev->mode & S_IFMT) == (f->mode & S_IFMT) &&
	       prev->size == f->size && prev->mtime_ns == f->mtime_ns &&
	       prev->ctime_ns == f->ctime_ns && prev->ino == f->ino && prev->dev == f->dev &&
	       prev->ctime_ns < t->previous->taken_ns;
}

/* Hashes f (path and stat from the walk). Returns 0 when recorded, 1 when
 * it vanished since the walk (to be dropped), -ENOMEM. */
static int hash_file(struct take *t, struct inventory_file *f)
{
	_cleanup_close_ int fd = -1;
	const char *name;
	struct stat st;
	uint64_t bytes = 0;
	int dfd, r;

	dfd = inv_dir_open(&t->dir, f->path, &name);
	if (dfd == -ENOMEM)
		return dfd;
	if (dfd < 0)
		return 1;

	if (S_ISLNK(f->mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target));

		/* The link's own text, never what it points to. */
		if (n < 0)
			return errno == ENOENT ? 1 : 0;
		if (inv_hash_data(target, (size_t)n, f->sha256) >= 0)
			f->hashed = true;
		return 0;
	}

	/* O_NOFOLLOW: a symlink swapped in since the walk is not opened
	 * (ELOOP). O_NONBLOCK: nor does a FIFO swapped in make open() wait. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		log_debug_errno(errno, "Failed to open %s: %m", f->path);
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return 0;
	/* What was opened is what is recorded, with its stat from before the
	 * read, so a write during the read shows as a new ctime next time. */
	inv_file_set_stat(f, &st);
	if (!S_ISREG(st.st_mode))
		return 0;
	/* The bytes the recorded size covers: one read(2) fewer per file
	 * than reading to EOF, and a file that grows meanwhile gets a new
	 * ctime, so the next inventory reads it again. */
	r = inv_hash_fd(fd, t->buf, INV_READ_CHUNK, f->size, f->sha256, &bytes);
	if (r < 0) {
		log_debug_errno(r, "Failed to read %s: %m", f->path);
		return 0;
	}
	f->hashed = true;
	t->inv->n_hashed++;
	t->inv->bytes_hashed += bytes;
	return 0;
}

static int take_component(struct take *t, int root_fd, const struct component *c,
                          struct inventory_component *ic)
{
	const struct inventory_component *pc = inventory_find_component(t->previous, c->id);
	size_t np = pc && !pc->error ? pc->n_files : 0, k = 0, n = 0;
	int r;

	ic->id = strdup(c->id);
	ic->modules = strv_copy(c->modules);
	if (!ic->id || !ic->modules)
		return -ENOMEM;

	r = walk_component(c, root_fd, ic);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		log_debug_errno(r, "Failed to walk the globs of component %s: %m", c->id);
		for (size_t i = 0; i < ic->n_files; i++)
			inv_file_done(&ic->files[i]);
		ic->n_files = 0;
		ic->error = r;
		return 0;
	}

	for (size_t i = 0; i < ic->n_files; i++) {
		struct inventory_file *f = &ic->files[i];
		const struct inventory_file *prev = NULL;

		/* Both lists are sorted: the previous record in step. */
		while (k < np && strcmp(pc->files[k].path, f->path) < 0)
			k++;
		if (k < np && streq(pc->files[k].path, f->path))
			prev = &pc->files[k];

		if (can_reuse(t, f, prev)) {
			memcpy(f->sha256, prev->sha256, INVENTORY_SHA256_SIZE);
			f->hashed = true;
			t->inv->n_reused++;
		} else if (S_ISREG(f->mode) || S_ISLNK(f->mode)) {
			r = hash_file(t, f);
			if (r < 0)
				return r;
			if (r > 0) {
				inv_file_done(f);
				continue;
			}
		}
		ic->files[n++] = *f;
	}
	ic->n_files = n;
	return 0;
}

int inventory_take(const char *root, const struct component_set *set,
                   const struct inventory *previous, struct inventory **ret)
{
	_cleanup_inventory_free_ struct inventory *inv = calloc(1, sizeof(*inv));
	_cleanup_free_ uint8_t *buf = malloc(INV_READ_CHUNK);
	_cleanup_close_ int root_fd = -1;
	struct take t = {.previous = previous};
	struct timespec now;
	int r = 0;

	if (!inv || !buf)
		return -ENOMEM;
	root_fd = inv_open_root(root);
	if (root_fd < 0)
		return log_debug_errno(root_fd, "Failed to open root %s: %m", root ? root : "/");

	/* The coarse clock is the one inode times come from
	 * (current_time() in the kernel), so "ctime < taken_ns" is exact. */
	if (clock_gettime(CLOCK_REALTIME_COARSE, &now) < 0)
		return negative_errno();
	inv->taken_ns = timespec_ns(&now);

	if (set && set->n > 0) {
		inv->components = calloc(set->n, sizeof(inv->components[0]));
		if (!inv->components)
			return -ENOMEM;
	}
	t.inv = inv;
	t.buf = buf;
	inv_dir_init(&t.dir, root_fd);
	for (size_t i = 0; set && i < set->n; i++) {
		r = take_component(&t, root_fd, &set->items[i], &inv->components[i]);
		inv->n_components = i + 1;
		if (r < 0)
			break;
	}
	inv_dir_done(&t.dir);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(inv);
	return 0;
}
