/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Taking an inventory of the components' files, and the diff of two.
 *
 * Cost: one directory walk per glob (component_expand_files), then one
 * fstatat() per file from its directory's descriptor; a file is opened and
 * hashed only when it is new or its (size, mtime, ctime, inode, device)
 * moved since the previous inventory. ctime cannot be set from user space
 * (utimensat(2) sets it to "now"), so a rewrite that restores size and
 * mtime still shows; the one hole, two writes within one tick of the
 * coarse clock the kernel stamps inodes with, is closed by re-hashing
 * every file whose ctime is not before the previous walk's start (the
 * "racy" entries of git's index work the same way).
 */
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

#include "agent/inventory-internal.h"
#include "agent/inventory.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

/* ---------------------------------------------------------------------- */
/* Shared helpers */

int inv_open_root(const char *root)
{
	int fd = open(root && *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? negative_errno() : fd;
}

bool inv_path_is_valid(const char *path)
{
	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX)
		return false;
	for (const char *c = path + 1;;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || n > NAME_MAX)
			return false;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!c[n])
			return true;
		c += n + 1;
	}
}

void inv_dir_init(struct inv_dir *d, int root_fd)
{
	*d = (struct inv_dir){ .root_fd = root_fd, .fd = -1 };
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
	_cleanup_free_ char *copy = strdup(path);
	char *save = NULL;
	int fd;

	if (!copy)
		return -ENOMEM;
	fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		int nfd = openat(fd, t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, t, mode) < 0 && errno != EEXIST) {
				int r = negative_errno();
				close(fd);
				return r;
			}
			/* The new entry must outlive a power cut as much as
			 * what is written below it. */
			(void)fsync(fd);
			nfd = openat(fd, t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			int r = negative_errno();
			close(fd);
			return r;
		}
		close(fd);
		fd = nfd;
	}
	return fd;
}

int inv_dir_open(struct inv_dir *d, const char *path, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (!slash || path[0] != '/')
		return -EINVAL;
	len = (size_t)(slash - path);
	/* path + 1 .. slash: the directory without its leading '/'. */
	if (d->dir && strlen(d->dir) == (len ? len - 1 : 0) && strncmp(d->dir, path + 1, len ? len - 1 : 0) == 0) {
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

int inv_hash_fd(int fd, EVP_MD_CTX *ctx, uint8_t *buf, size_t buf_size,
		uint8_t ret_sha256[INVENTORY_SHA256_SIZE], uint64_t *ret_bytes)
{
	uint64_t total = 0;

	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return -EIO;
	for (;;) {
		ssize_t n = read(fd, buf, buf_size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			return -EIO;
		total += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(ctx, ret_sha256, NULL) != 1)
		return -EIO;
	if (ret_bytes)
		*ret_bytes = total;
	return 0;
}

int inv_hash_data(const void *data, size_t size, uint8_t ret_sha256[INVENTORY_SHA256_SIZE])
{
	return EVP_Digest(data, size, ret_sha256, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

void inv_hex(const uint8_t sha256[INVENTORY_SHA256_SIZE], char ret[2 * INVENTORY_SHA256_SIZE + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < INVENTORY_SHA256_SIZE; i++) {
		ret[2 * i] = digits[sha256[i] >> 4];
		ret[2 * i + 1] = digits[sha256[i] & 15];
	}
	ret[2 * INVENTORY_SHA256_SIZE] = 0;
}

static int unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int inv_unhex(const char *s, size_t len, uint8_t ret[INVENTORY_SHA256_SIZE])
{
	uint8_t out[INVENTORY_SHA256_SIZE];

	if (len != 2 * INVENTORY_SHA256_SIZE)
		return -EINVAL;
	for (size_t i = 0; i < INVENTORY_SHA256_SIZE; i++) {
		int hi = unhex_digit(s[2 * i]), lo = unhex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ret, out, sizeof(out));
	return 0;
}

int inv_write_all(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		size -= (size_t)n;
	}
	return 0;
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

const struct inventory_component *inventory_find_component(const struct inventory *inv, const char *id)
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
/* Taking an inventory */

struct take {
	const struct inventory *previous;
	struct inventory *inv;
	EVP_MD_CTX *md;
	uint8_t *buf;
	struct inv_dir dir;
};

static bool glob_list_matches(char **globs, const char *path)
{
	/* What components_find_path() applies: the walk of
	 * component_expand_files() matches the same way, part by part. */
	STRV_FOREACH(g, globs)
		if (fnmatch(*g, path, FNM_PATHNAME | FNM_PERIOD) == 0)
			return true;
	return false;
}

static bool same_inode_state(const struct inventory_file *f, const struct inventory_file *prev)
{
	return S_ISREG(prev->mode) && prev->size == f->size && prev->mtime_ns == f->mtime_ns &&
	       prev->ctime_ns == f->ctime_ns && prev->ino == f->ino && prev->dev == f->dev;
}

/* Fills f (path and content already set) for the file name in dfd.
 * Returns 1 when recorded, 0 when the file is gone or not to be recorded,
 * -ENOMEM. */
static int take_file(struct take *t, int dfd, const char *name, struct inventory_file *f,
		     const struct inventory_file *prev, bool only_non_regular)
{
	struct stat st;
	_cleanup_close_ int fd = -1;
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			log_debug_errno(errno, "Failed to stat %s: %m", f->path);
		return 0;
	}
	if (only_non_regular && S_ISREG(st.st_mode))
		return 0;
	inv_file_set_stat(f, &st);

	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target));

		/* The link's own text, never what it points to. */
		if (n >= 0 && inv_hash_data(target, (size_t)n, f->sha256) >= 0)
			f->hashed = true;
		return 1;
	}
	if (!S_ISREG(st.st_mode))
		return 1;

	if (prev && prev->hashed && same_inode_state(f, prev) && prev->ctime_ns < t->previous->taken_ns) {
		memcpy(f->sha256, prev->sha256, INVENTORY_SHA256_SIZE);
		f->hashed = true;
		t->inv->n_reused++;
		return 1;
	}

	/* O_NONBLOCK: should a FIFO take the file's place after the
	 * fstatat(), open(2) must not wait for a writer. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		/* ELOOP: replaced by a symlink since the fstatat(). */
		log_debug_errno(errno, "Failed to open %s: %m", f->path);
		return 1;
	}
	if (fstat(fd, &st) < 0)
		return 1;
	/* What was opened is what is recorded: its stat from before the
	 * read, so a write during the read shows up as a new ctime next time. */
	inv_file_set_stat(f, &st);
	if (!S_ISREG(st.st_mode))
		return 1;
	{
		uint64_t bytes = 0;

		r = inv_hash_fd(fd, t->md, t->buf, INV_READ_CHUNK, f->sha256, &bytes);
		if (r < 0) {
			log_debug_errno(r, "Failed to read %s: %m", f->path);
			return 1;
		}
		f->hashed = true;
		t->inv->n_hashed++;
		t->inv->bytes_hashed += bytes;
	}
	return 1;
}

static int expand_component(const struct component *c, const char *root, char ***ret_files,
			    char ***ret_content)
{
	_cleanup_strv_free_ char **files = NULL, **content = NULL;
	struct component files_only = *c;
	int r;

	/* Two walks, one per glob list, so each path's kind comes from the
	 * walk itself rather than from matching it again. */
	files_only.content = NULL;
	r = component_expand_files(&files_only, root, false, &files);
	if (r < 0)
		return r;
	r = component_expand_files(c, root, true, &content);
	if (r < 0)
		return r;
	*ret_files = TAKE_PTR(files);
	*ret_content = TAKE_PTR(content);
	return 0;
}

/* The expansion's vectors: their strings are taken over one by one (left
 * NULL), so they are freed by count, not up to the first NULL. */
struct expansion {
	char **files, **content;
	size_t nf, nc;
};

static void expansion_done(struct expansion *e)
{
	for (size_t x = 0; e->files && x < e->nf; x++)
		free(e->files[x]);
	for (size_t x = 0; e->content && x < e->nc; x++)
		free(e->content[x]);
	free(e->files);
	free(e->content);
}

static int take_component(struct take *t, const char *root, const struct component *c,
			  struct inventory_component *ic)
{
	_cleanup_(expansion_done) struct expansion e = { 0 };
	const struct inventory_component *pc = inventory_find_component(t->previous, c->id);
	size_t np, i = 0, j = 0, k = 0, alloc;
	int r;

	ic->id = strdup(c->id);
	ic->modules = strv_copy(c->modules);
	if (!ic->id || !ic->modules)
		return -ENOMEM;

	r = expand_component(c, root, &e.files, &e.content);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		log_debug_errno(r, "Failed to expand the globs of component %s: %m", c->id);
		ic->error = r;
		return 0;
	}
	e.nf = strv_length(e.files);
	e.nc = strv_length(e.content);
	np = pc ? pc->n_files : 0;
	alloc = e.nf + e.nc + np;
	if (alloc == 0)
		return 0;
	ic->files = calloc(alloc, sizeof(ic->files[0]));
	if (!ic->files)
		return -ENOMEM;

	/* A merge of three sorted lists: files, content, previous. */
	while (i < e.nf || j < e.nc || k < np) {
		const char *a = i < e.nf ? e.files[i] : NULL, *b = j < e.nc ? e.content[j] : NULL;
		const char *p = k < np ? pc->files[k].path : NULL, *least = a;
		struct inventory_file *f = &ic->files[ic->n_files];
		const struct inventory_file *prev = NULL;
		bool in_files, in_content, only_prev;
		const char *name;
		int dfd;

		if (b && (!least || strcmp(b, least) < 0))
			least = b;
		if (p && (!least || strcmp(p, least) < 0))
			least = p;
		in_files = a && streq(a, least);
		in_content = b && streq(b, least);
		if (p && streq(p, least))
			prev = &pc->files[k++];
		only_prev = !in_files && !in_content;

		if (only_prev) {
			/* Gone from the expansion: removed, or no longer a
			 * regular file (the expansion returns only those).
			 * Look for the latter, if the globs still cover it. */
			bool cont = glob_list_matches(c->content, prev->path);

			if (!cont && !glob_list_matches(c->files, prev->path))
				continue;
			f->path = strdup(prev->path);
			if (!f->path)
				return -ENOMEM;
			f->content = cont;
		} else {
			/* Take the string over from the expansion. */
			f->path = in_files ? TAKE_PTR(e.files[i]) : TAKE_PTR(e.content[j]);
			i += in_files;
			j += in_content;
			f->content = in_content;
		}

		dfd = inv_dir_open(&t->dir, f->path, &name);
		if (dfd == -ENOMEM)
			return dfd;
		r = dfd < 0 ? 0 : take_file(t, dfd, name, f, prev, only_prev);
		if (r < 0)
			return r;
		if (r == 0) {
			inv_file_done(f);
			memset(f, 0, sizeof(*f));
			continue;
		}
		ic->n_files++;
	}
	return 0;
}

int inventory_take(const char *root, const struct component_set *set, const struct inventory *previous,
		   struct inventory **ret)
{
	_cleanup_inventory_free_ struct inventory *inv = calloc(1, sizeof(*inv));
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
	_cleanup_free_ uint8_t *buf = malloc(INV_READ_CHUNK);
	_cleanup_close_ int root_fd = -1;
	struct take t = { .previous = previous };
	struct timespec now;
	int r = 0;

	if (!inv || !md || !buf)
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
	t.md = md;
	t.buf = buf;
	inv_dir_init(&t.dir, root_fd);
	for (size_t i = 0; set && i < set->n; i++) {
		r = take_component(&t, root, &set->items[i], &inv->components[i]);
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
