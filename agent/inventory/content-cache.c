/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Last-good copies of content files, and rolling a changed content file
 * back to its copy: a content file that changed since the last good boot
 * is rolled back to its last-good copy when one is cached.
 *
 * A copy is named by its SHA-256 and is only ever made from a live file
 * that still is the one the inventory describes, and checked again before
 * it is put back, so a damaged or half-written copy is never installed:
 * the file is then "uncovered" and the caller quarantines it instead.
 *
 * A rollback never destroys anything: the file it replaces is first kept
 * aside (a hard link, or a copy when the cache lives on another
 * filesystem), the new bytes land in a temp file in the same directory
 * and reach the path by rename(2), which replaces it atomically ("If
 * newpath already exists, it will be atomically replaced, so that there is
 * no point at which another process attempting to access newpath will find
 * it missing"). Each step is idempotent: the file in place is hashed first
 * and left alone when it already holds the last-good bytes.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/inventory/inventory-internal.h"
#include "agent/inventory/inventory.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/sha256.h"
#include "common/strv.h"

#define HEX_LEN             (2 * INVENTORY_SHA256_SIZE)
#define CACHE_TMP_PREFIX    ".tmp-"
#define ROLLBACK_TMP_PREFIX ".lifeline-rollback."
#define REPLACED_DIR        "replaced"

void content_cache_result_done(struct content_cache_result *r)
{
	if (!r)
		return;
	strv_free(r->lines);
	memset(r, 0, sizeof(*r));
}

void rollback_result_done(struct rollback_result *r)
{
	if (!r)
		return;
	strv_free(r->restored_paths);
	strv_free(r->uncovered_paths);
	strv_free(r->kept_aside);
	strv_free(r->lines);
	memset(r, 0, sizeof(*r));
}

static void add_line(char ***lines, const char *fmt, ...) _printf_(2, 3);
static void add_line(char ***lines, const char *fmt, ...)
{
	va_list ap;
	char *l = NULL;

	va_start(ap, fmt);
	if (vasprintf(&l, fmt, ap) < 0)
		l = NULL;
	va_end(ap);
	(void)strv_consume(lines, l);
}

/* Copies in to out, and gives the SHA-256 of what passed when ret_sha256
 * is not NULL. fault, when not NULL, is hit after the first half of the
 * first chunk is written. */
static int copy_fd(int in, int out, uint8_t *buf, const char *fault,
                   uint8_t ret_sha256[INVENTORY_SHA256_SIZE])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	for (;;) {
		ssize_t n = fd_read_retry(in, buf, INV_READ_CHUNK);
		size_t half;
		int r;

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		if (ret_sha256)
			sha256_update(&ctx, buf, (size_t)n);
		half = fault ? (size_t)n / 2 : 0;
		r = fd_write_all(out, buf, half);
		if (r < 0)
			return r;
		if (fault) {
			fault_point(fault);
			fault = NULL;
		}
		r = fd_write_all(out, buf + half, (size_t)n - half);
		if (r < 0)
			return r;
	}
	if (ret_sha256)
		sha256_final(&ctx, ret_sha256);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Update */

struct candidate {
	const struct inventory_component *ic;
	const struct inventory_file *f;
	size_t comp; /* index into the per-component state */
};

struct comp_state {
	const struct inventory_component *ic;
	int fd;                                   /* its cache directory, -1 until needed */
	uint8_t (*hashes)[INVENTORY_SHA256_SIZE]; /* referenced, sorted */
	size_t n_hashes;
	bool dirty; /* entries changed: fsync the directory */
};

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, INVENTORY_SHA256_SIZE);
}

static int candidate_cmp(const void *x, const void *y)
{
	const struct candidate *a = x, *b = y;
	int c;

	if (a->f->size != b->f->size)
		return a->f->size < b->f->size ? -1 : 1;
	/* Then the same bytes of one component next to each other. */
	if (a->comp != b->comp)
		return a->comp < b->comp ? -1 : 1;
	c = memcmp(a->f->sha256, b->f->sha256, INVENTORY_SHA256_SIZE);
	return c ? c : strcmp(a->f->path, b->f->path);
}

static bool wants_cache(const struct component_set *set, const struct inventory_component *ic)
{
	const struct component *c = components_find(set, ic->id);

	return c && c->rollback_content && ic->error == 0;
}

/* Removes what the cache directory of one component holds beyond keep
 * (NULL: everything but replaced/), and stale temp files. */
static int evict_dir(int cache_fd, const char *id, const struct comp_state *cs, unsigned *evicted)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	bool removed = false;
	int fd;

	fd = openat(cache_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		uint8_t h[INVENTORY_SHA256_SIZE];
		bool stale_tmp =
		    strncmp(de->d_name, CACHE_TMP_PREFIX, strlen(CACHE_TMP_PREFIX)) == 0;

		if (!stale_tmp) {
			if (inv_unhex(de->d_name, strlen(de->d_name), h) < 0)
				continue; /* replaced/, anything not ours */
			if (cs &&
			    bsearch(h, cs->hashes, cs->n_hashes, sizeof(cs->hashes[0]), hash_cmp))
				continue;
		}
		if (unlinkat(dirfd(d), de->d_name, 0) < 0)
			continue;
		removed = true;
		if (!stale_tmp)
			(*evicted)++;
		fault_point("inventory-cache-evict");
	}
	if (removed)
		(void)fsync(dirfd(d));
	if (!cs && unlinkat(cache_fd, id, AT_REMOVEDIR) == 0)
		(void)fsync(cache_fd);
	return 0;
}

static int comp_dir(int cache_fd, struct comp_state *cs)
{
	if (cs->fd < 0)
		cs->fd = inv_openat_dir(cache_fd, cs->ic->id, true, 0700);
	return cs->fd;
}

/* Copies the live file f into the cache as <sha256>, if it still is the
 * file the inventory describes. 1 when copied, 0 when skipped, -errno. */
static int cache_one(struct inv_dir *dir, int cdir, const struct inventory_file *f, uint8_t *buf,
                     char ***lines, const char *id)
{
	char hex[HEX_LEN + 1], tmp[sizeof(CACHE_TMP_PREFIX) + HEX_LEN];
	_cleanup_close_ int in = -1, out = -1;
	uint8_t got[INVENTORY_SHA256_SIZE];
	struct inventory_file now = {0};
	const char *name;
	struct stat st;
	int dfd, r;

	inv_hex(f->sha256, hex);
	snprintf(tmp, sizeof(tmp), CACHE_TMP_PREFIX "%s", hex);

	dfd = inv_dir_open(dir, f->path, &name);
	if (dfd < 0) {
		add_line(lines, "%s: %s not cached: its directory cannot be opened (%s)", id,
		         f->path, strerror(-dfd));
		return 0;
	}
	in = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (in < 0 || fstat(in, &st) < 0) {
		add_line(lines, "%s: %s not cached: %s", id, f->path, strerror(errno));
		return 0;
	}
	inv_file_set_stat(&now, &st);
	if (!S_ISREG(st.st_mode) || now.ino != f->ino || now.dev != f->dev || now.size != f->size ||
	    now.mtime_ns != f->mtime_ns || now.ctime_ns != f->ctime_ns) {
		add_line(lines, "%s: %s not cached: it changed since the inventory", id, f->path);
		return 0;
	}

	(void)unlinkat(cdir, tmp, 0);
	out = openat(cdir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return negative_errno();
	r = copy_fd(in, out, buf, NULL, got);
	if (r >= 0 && memcmp(got, f->sha256, sizeof(got)) != 0) {
		add_line(lines, "%s: %s not cached: its bytes changed since the inventory", id,
		         f->path);
		(void)unlinkat(cdir, tmp, 0);
		return 0;
	}
	if (r >= 0 && fsync(out) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(cdir, tmp, 0);
		return r;
	}
	fault_point("inventory-cache-copy");
	if (renameat(cdir, tmp, cdir, hex) < 0) {
		r = negative_errno();
		(void)unlinkat(cdir, tmp, 0);
		return r;
	}
	fault_point("inventory-cache-rename");
	return 1;
}

int content_cache_update(const char *root, const struct component_set *set,
                         const struct inventory *inv, uint64_t cache_max,
                         struct content_cache_result *ret)
{
	_cleanup_free_ uint8_t *buf = malloc(INV_READ_CHUNK);
	_cleanup_close_ int root_fd = -1, cache_fd = -1;
	_cleanup_free_ struct candidate *cand = NULL;
	_cleanup_free_ struct comp_state *cs = NULL;
	struct content_cache_result res = {0};
	_cleanup_(closedirp) DIR *d = NULL;
	struct inv_dir dir = {.fd = -1};
	size_t n_cand = 0, alloc = 0, n_cs = inv->n_components;
	uint64_t used = 0;
	struct dirent *de;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	root_fd = inv_open_root(root);
	if (root_fd < 0)
		return root_fd;
	{
		/* Our own directory: made like the rest of /var/lib/lifeline. */
		_cleanup_free_ char *p = path_under_root(root, CONTENT_CACHE_DIR);

		if (!p)
			return -ENOMEM;
		r = mkdir_p(p, 0700);
		if (r < 0)
			return log_debug_errno(r, "Failed to create %s: %m", p);
		cache_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cache_fd < 0)
			return log_debug_errno(errno, "Failed to open %s: %m", p);
	}

	/* What the cache should hold: every content file of a component with
	 * rollback_content, one copy per distinct SHA-256. */
	cs = calloc(n_cs ? n_cs : 1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	for (size_t i = 0; i < n_cs; i++) {
		cs[i].ic = &inv->components[i];
		cs[i].fd = -1;
	}
	for (size_t i = 0; i < n_cs; i++) {
		const struct inventory_component *ic = &inv->components[i];

		if (!wants_cache(set, ic))
			continue;
		cs[i].hashes = calloc(ic->n_files ? ic->n_files : 1, sizeof(cs[i].hashes[0]));
		if (!cs[i].hashes) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t k = 0; k < ic->n_files; k++) {
			const struct inventory_file *f = &ic->files[k];

			if (!f->content || !f->hashed || !S_ISREG(f->mode))
				continue;
			if (n_cand == alloc) {
				size_t na = alloc ? alloc * 2 : 64;
				struct candidate *n = realloc(cand, na * sizeof(*n));

				if (!n) {
					r = -ENOMEM;
					goto out;
				}
				cand = n;
				alloc = na;
			}
			memcpy(cs[i].hashes[cs[i].n_hashes++], f->sha256, INVENTORY_SHA256_SIZE);
			cand[n_cand++] = (struct candidate){.ic = ic, .f = f, .comp = i};
		}
		if (cs[i].n_hashes > 0)
			qsort(cs[i].hashes, cs[i].n_hashes, sizeof(cs[i].hashes[0]), hash_cmp);
	}

	/* Evict first, so the space is free for the new copies. */
	{
		int fd = dup(cache_fd);

		if (fd < 0 || !(d = fdopendir(fd))) {
			r = negative_errno();
			if (fd >= 0)
				close(fd);
			goto out;
		}
	}
	while ((de = readdir(d))) {
		const struct comp_state *keep = NULL;

		if (!component_id_is_valid(de->d_name))
			continue;
		for (size_t i = 0; i < n_cs; i++)
			if (streq(cs[i].ic->id, de->d_name) && wants_cache(set, cs[i].ic))
				keep = &cs[i];
		/* A component whose inventory failed keeps its copies: its
		 * files are unknown, not gone. */
		if (!keep) {
			const struct inventory_component *ic =
			    inventory_find_component(inv, de->d_name);

			if (ic && ic->error && components_find(set, ic->id))
				continue;
		}
		r = evict_dir(cache_fd, de->d_name, keep, &res.evicted);
		if (r < 0)
			log_debug_errno(r, "Failed to clean %s/%s: %m", CONTENT_CACHE_DIR,
			                de->d_name);
	}
	r = 0;

	/* Smallest first: the cache exists for small content files. */
	if (n_cand > 0)
		qsort(cand, n_cand, sizeof(*cand), candidate_cmp);
	inv_dir_init(&dir, root_fd);
	for (size_t i = 0; i < n_cand; i++) {
		struct comp_state *c = &cs[cand[i].comp];
		const struct inventory_file *f = cand[i].f;
		char hex[HEX_LEN + 1];
		struct stat st;
		int cdir;

		/* The same bytes twice in one component: one copy. */
		if (i > 0 && cand[i - 1].comp == cand[i].comp &&
		    memcmp(cand[i - 1].f->sha256, f->sha256, INVENTORY_SHA256_SIZE) == 0)
			continue;

		inv_hex(f->sha256, hex);
		cdir = comp_dir(cache_fd, c);
		if (cdir < 0) {
			r = cdir;
			goto out;
		}
		if (used + f->size > cache_max) {
			/* Also drops a copy made when cache_max was larger. */
			if (unlinkat(cdir, hex, 0) == 0) {
				res.evicted++;
				c->dirty = true;
			}
			res.skipped++;
			add_line(&res.lines,
			         "%s: %s not cached: %" PRIu64
			         " bytes would pass cache_max (%" PRIu64 " bytes, %" PRIu64
			         " in use)",
			         c->ic->id, f->path, f->size, cache_max, used);
			continue;
		}
		if (fstatat(cdir, hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size) {
				res.present++;
				used += f->size;
				continue;
			}
			/* Not what its name says: make it again. */
			(void)unlinkat(cdir, hex, 0);
		}
		r = cache_one(&dir, cdir, f, buf, &res.lines, c->ic->id);
		if (r < 0) {
			add_line(&res.lines, "%s: %s not cached: %s", c->ic->id, f->path,
			         strerror(-r));
			res.skipped++;
			r = 0;
			continue;
		}
		if (r == 0) {
			res.skipped++;
			continue;
		}
		c->dirty = true;
		res.cached++;
		used += f->size;
	}
	res.bytes = used;
out:
	inv_dir_done(&dir);
	for (size_t i = 0; cs && i < n_cs; i++) {
		if (cs[i].fd >= 0) {
			if (cs[i].dirty)
				(void)fsync(cs[i].fd);
			close(cs[i].fd);
		}
		free(cs[i].hashes);
	}
	if (r < 0) {
		content_cache_result_done(&res);
		return r;
	}
	if (ret)
		*ret = res;
	else
		content_cache_result_done(&res);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Rollback */

struct rollback {
	int root_fd;
	int cache_fd; /* <cache>/<id>, -1 when there is none */
	const char *id;
	struct inv_dir dir;
	uint8_t *buf;
	struct rollback_result res;
};

static void uncovered(struct rollback *rb, const char *path, const char *why)
{
	rb->res.uncovered++;
	(void)strv_extend(&rb->res.uncovered_paths, path);
	add_line(&rb->res.lines, "%s: %s changed and was not rolled back: %s", rb->id, path, why);
}

static void failed(struct rollback *rb, const char *path, int err, const char *what)
{
	rb->res.errors++;
	(void)strv_extend(&rb->res.uncovered_paths, path);
	add_line(&rb->res.lines, "%s: %s could not be rolled back: %s: %s", rb->id, path, what,
	         strerror(-err));
}

/* Whether the file in place already is the last-good one. */
static bool already_good(struct rollback *rb, int dfd, const char *name, const struct stat *st,
                         const struct inventory_file *lg)
{
	_cleanup_close_ int fd = -1;
	uint8_t h[INVENTORY_SHA256_SIZE];

	if (!S_ISREG(st->st_mode) || (st->st_mode & 07777) != (lg->mode & 07777) ||
	    st->st_uid != lg->uid || st->st_gid != lg->gid || (uint64_t)st->st_size != lg->size)
		return false;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	return inv_hash_fd(fd, rb->buf, INV_READ_CHUNK, UINT64_MAX, h, NULL) >= 0 &&
	       memcmp(h, lg->sha256, sizeof(h)) == 0;
}

/* Keeps the file name in dfd (st: its lstat) as replaced/<time>-<name>.
 * Returns 0 and the kept path (without root) in *ret_kept. */
static int keep_aside(struct rollback *rb, int dfd, const char *name, const struct stat *st,
                      char **ret_kept)
{
	_cleanup_close_ int rfd = -1;
	char aside[NAME_MAX + 1];
	long long now = (long long)time(NULL);
	int r = -EEXIST;

	rfd = inv_openat_dir(rb->cache_fd, REPLACED_DIR, true, 0700);
	if (rfd < 0)
		return rfd;
	for (unsigned n = 0; n < 100 && r == -EEXIST; n++) {
		/* NAME_MAX bounds the name: keep the end of a long one. */
		size_t nl = strlen(name), room = NAME_MAX - 32;
		const char *tail = nl > room ? name + nl - room : name;

		if (n == 0)
			snprintf(aside, sizeof(aside), "%lld-%s", now, tail);
		else
			snprintf(aside, sizeof(aside), "%lld.%u-%s", now, n, tail);

		/* Same filesystem: a second name for the same inode. */
		if (linkat(dfd, name, rfd, aside, 0) == 0) {
			r = 0;
			break;
		}
		r = negative_errno();
		if (r != -EXDEV && r != -EPERM && r != -EMLINK)
			continue;

		if (S_ISLNK(st->st_mode)) {
			char target[PATH_MAX];
			ssize_t len = readlinkat(dfd, name, target, sizeof(target) - 1);

			if (len < 0)
				return negative_errno();
			target[len] = 0;
			r = symlinkat(target, rfd, aside) < 0 ? negative_errno() : 0;
		} else if (S_ISREG(st->st_mode)) {
			_cleanup_close_ int in = -1, out = -1;

			in = openat(dfd, name,
			            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
			if (in < 0)
				return negative_errno();
			out = openat(rfd, aside,
			             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (out < 0) {
				r = negative_errno();
				continue;
			}
			r = copy_fd(in, out, rb->buf, NULL, NULL);
			if (r >= 0 && fsync(out) < 0)
				r = negative_errno();
			if (r < 0) {
				(void)unlinkat(rfd, aside, 0);
				return r;
			}
		} else
			return -EOPNOTSUPP; /* a device or FIFO: not ours to copy */
	}
	if (r < 0)
		return r;
	(void)fsync(rfd);
	if (asprintf(ret_kept, CONTENT_CACHE_DIR "/%s/" REPLACED_DIR "/%s", rb->id, aside) < 0)
		return -ENOMEM;
	return 0;
}

static void restore_one(struct rollback *rb, const struct inventory_file *lg)
{
	char hex[HEX_LEN + 1], tmp[sizeof(ROLLBACK_TMP_PREFIX) + 16 + 4];
	_cleanup_close_ int in = -1, out = -1;
	_cleanup_free_ char *kept = NULL;
	uint8_t got[INVENTORY_SHA256_SIZE];
	const char *name;
	struct stat st;
	bool exists;
	int dfd, r;

	dfd = inv_dir_open(&rb->dir, lg->path, &name);
	if (dfd < 0)
		return failed(rb, lg->path, dfd, "its directory cannot be opened");
	exists = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return failed(rb, lg->path, negative_errno(), "stat");
	if (exists && already_good(rb, dfd, name, &st, lg)) {
		rb->res.already++;
		return;
	}

	inv_hex(lg->sha256, hex);
	if (rb->cache_fd < 0)
		return uncovered(rb, lg->path, "no cached last-good copy");
	in = openat(rb->cache_fd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (in < 0)
		return uncovered(rb, lg->path, "no cached last-good copy");

	/* The temp name comes from the hash (a path's last component may be
	 * NAME_MAX long already); a stale one from a power cut is ours. */
	snprintf(tmp, sizeof(tmp), ROLLBACK_TMP_PREFIX "%.16s.tmp", hex);
	(void)unlinkat(dfd, tmp, 0);
	out = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return failed(rb, lg->path, negative_errno(), "temp file");
	r = copy_fd(in, out, rb->buf, "inventory-rollback-copy", got);
	if (r >= 0 && memcmp(got, lg->sha256, sizeof(got)) != 0) {
		(void)unlinkat(dfd, tmp, 0);
		/* Damaged: it will never be good again. */
		(void)unlinkat(rb->cache_fd, hex, 0);
		return uncovered(rb, lg->path, "the cached copy is damaged (SHA-256 mismatch)");
	}
	/* chown(2) clears set-user-ID bits: owner first, then the mode. */
	if (r >= 0 && fchown(out, lg->uid, lg->gid) < 0)
		r = negative_errno();
	if (r >= 0 && fchmod(out, lg->mode & 07777) < 0)
		r = negative_errno();
	if (r >= 0) {
		struct timespec ts[2] = {
		    {.tv_nsec = UTIME_OMIT},
		    {.tv_sec = (time_t)(lg->mtime_ns / 1000000000),
		     .tv_nsec = (long)(lg->mtime_ns % 1000000000)},
		};

		if (ts[1].tv_nsec < 0) {
			ts[1].tv_sec--;
			ts[1].tv_nsec += 1000000000;
		}
		(void)futimens(out, ts);
	}
	if (r >= 0 && fsync(out) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return failed(rb, lg->path, r, "writing the copy");
	}
	fault_point("inventory-rollback-tmp");

	if (exists) {
		r = keep_aside(rb, dfd, name, &st, &kept);
		if (r < 0) {
			(void)unlinkat(dfd, tmp, 0);
			return failed(rb, lg->path, r, "keeping the file in place aside");
		}
		fault_point("inventory-rollback-keep");
	}
	if (renameat(dfd, tmp, dfd, name) < 0) {
		r = negative_errno();
		(void)unlinkat(dfd, tmp, 0);
		return failed(rb, lg->path, r, "rename");
	}
	fault_point("inventory-rollback-rename");
	(void)fsync(dfd);

	rb->res.restored++;
	(void)strv_extend(&rb->res.restored_paths, lg->path);
	if (kept) {
		add_line(&rb->res.lines,
		         "%s: %s rolled back to its last-good copy (sha256 %.8s\u2026); the "
		         "replaced file is kept as %s",
		         rb->id, lg->path, hex, kept);
		(void)strv_consume(&rb->res.kept_aside, TAKE_PTR(kept));
	} else
		add_line(&rb->res.lines,
		         "%s: %s put back from its last-good copy (sha256 %.8s\u2026; it had been "
		         "removed)",
		         rb->id, lg->path, hex);
}

int content_cache_rollback(const char *root, const struct component *c,
                           const struct inventory *last_good, const struct inventory *now,
                           struct rollback_result *ret)
{
	_cleanup_free_ uint8_t *buf = malloc(INV_READ_CHUNK);
	_cleanup_close_ int root_fd = -1;
	const struct inventory_component *lg = inventory_find_component(last_good, c->id);
	const struct inventory_component *nc = inventory_find_component(now, c->id);
	struct rollback rb = {.cache_fd = -1, .id = c->id};
	size_t i = 0, j = 0, nl, nn;

	if (!buf)
		return -ENOMEM;
	root_fd = inv_open_root(root);
	if (root_fd < 0)
		return root_fd;
	{
		_cleanup_free_ char *p = path_under_root(root, CONTENT_CACHE_DIR), *q = NULL;

		q = p ? path_join(p, c->id) : NULL;
		if (!q)
			return -ENOMEM;
		/* The component's directory is ours; below it, O_NOFOLLOW. */
		rb.cache_fd = open(q, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (rb.cache_fd < 0 && errno != ENOENT)
			return log_debug_errno(errno, "Failed to open %s: %m", q);
	}
	rb.root_fd = root_fd;
	rb.buf = buf;
	inv_dir_init(&rb.dir, root_fd);

	/* Without a usable list of the files now (error), every last-good
	 * content file is a candidate: restore_one() checks each in place. */
	nl = lg && !lg->error ? lg->n_files : 0;
	nn = nc && !nc->error ? nc->n_files : 0;
	while (i < nl || j < nn) {
		const struct inventory_file *a = i < nl ? &lg->files[i] : NULL;
		const struct inventory_file *b = j < nn ? &nc->files[j] : NULL;
		int cmp = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);

		if (cmp > 0) {
			/* Added since the last good boot: no copy can exist. */
			if (b->content)
				uncovered(&rb, b->path, "added since the last good boot");
			j++;
			continue;
		}
		i++;
		if (cmp == 0)
			j++;
		if (!a->content)
			continue;
		if (cmp == 0 && inv_file_compare(a, b) == 0)
			continue;
		if (!c->rollback_content) {
			uncovered(&rb, a->path, "rollback_content=no");
			continue;
		}
		if (!S_ISREG(a->mode) || !a->hashed) {
			uncovered(&rb, a->path,
			          "the last-good file was not a readable regular file");
			continue;
		}
		restore_one(&rb, a);
	}

	inv_dir_done(&rb.dir);
	if (rb.cache_fd >= 0)
		close(rb.cache_fd);
	if (ret)
		*ret = rb.res;
	else
		rollback_result_done(&rb.res);
	return 0;
}
