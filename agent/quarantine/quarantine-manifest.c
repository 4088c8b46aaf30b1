/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The quarantine manifest: one text file per component and generation.
 *
 *   lifeline-quarantine-manifest 1
 *   component examplesec
 *   generation 7
 *   state applying
 *   dir /opt/examplesec mode=0755 uid=0 gid=0
 *   dir /opt/examplesec/bin mode=0750 uid=0 gid=0
 *   file pending /opt/examplesec/bin/agent mode=0755 uid=0 gid=0 size=1234
 * mtime=1700000000.000000000 sha256=<64 hex> xattrs=user.test:6869,security.selinux:73797374... end
 * 1 sha256=<64 hex of every byte before this line>
 *
 * Paths and xattr names are written with %XX for spaces, control bytes,
 * bytes >= 0x7f, '%' (and ':' ',' '=' in names), so one file is one line
 * whatever its name; xattr values are hex. Readers of version 1 ignore
 * unknown header lines and unknown key=value fields, so fields can be
 * added without a version bump; a change that old readers must not
 * misread bumps the version, and an old reader then refuses the manifest
 * (it never acts on what it cannot read). The end line catches a damaged
 * or truncated file. "dir" lines (owner and mode of the folders above the
 * files, so a restore that has to make one again makes it as it was: a
 * 0700 folder comes back 0700) came later; a reader without them makes
 * missing folders 0755: the manifest is written atomically (tmp + fsync +
 * rename + fsync of the directory), so only the disk can damage it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf/components.h"
#include "agent/quarantine/quarantine-internal.h"
#include "common/fileio.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/sha256.h"

static const char *const qm_state_names[_QM_STATE_MAX] = {
    [QM_APPLYING] = "applying",
    [QM_APPLIED] = "applied",
    [QM_RESTORING] = "restoring",
    [QM_RESTORED] = "restored",
};

static const char *const qe_state_names[_QE_STATE_MAX] = {
    [QE_PENDING] = "pending",         [QE_MOVED] = "moved",   [QE_RESTORED] = "restored",
    [QE_KEPT_VENDOR] = "kept-vendor", [QE_FAILED] = "failed", [QE_MISSING] = "missing",
};

const char *qm_state_to_string(enum qm_state s)
{
	return s < _QM_STATE_MAX ? qm_state_names[s] : "?";
}

const char *qe_state_to_string(enum qe_state s)
{
	return s < _QE_STATE_MAX ? qe_state_names[s] : "?";
}

static int state_from_string(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (streq(names[i], s))
			return i;
	return -EBADMSG;
}

void qentry_done(struct qentry *e)
{
	if (!e)
		return;
	free(e->path);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

void qmanifest_done(struct qmanifest *m)
{
	if (!m)
		return;
	free(m->component);
	for (size_t i = 0; i < m->n; i++)
		qentry_done(&m->entries[i]);
	free(m->entries);
	for (size_t i = 0; i < m->n_dirs; i++)
		free(m->dirs[i].path);
	free(m->dirs);
	memset(m, 0, sizeof(*m));
}

const struct qdirmeta *qmanifest_find_dir(const struct qmanifest *m, const char *path)
{
	for (size_t i = m->n_dirs; i > 0; i--)
		if (streq(m->dirs[i - 1].path, path))
			return &m->dirs[i - 1];
	return NULL;
}

static int dir_add(struct qmanifest *m, const char *path, const struct rooted_dir_meta *meta)
{
	struct qdirmeta *n = realloc(m->dirs, (m->n_dirs + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	m->dirs = n;
	n[m->n_dirs].path = strdup(path);
	if (!n[m->n_dirs].path)
		return -ENOMEM;
	n[m->n_dirs].meta = *meta;
	m->n_dirs++;
	return 0;
}

int qmanifest_note_dirs(struct qmanifest *m, int root_fd, const char *dir)
{
	char path[PATH_MAX];
	size_t len = 0;

	/* files come sorted: most share the folder noted last */
	if (m->n_dirs > 0 && m->dirs[m->n_dirs - 1].path[0] == '/' &&
	    streq(m->dirs[m->n_dirs - 1].path + 1, dir + strspn(dir, "/")))
		return 0;
	for (const char *c = dir;;) {
		struct stat st;
		size_t n;
		int r;

		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (n == 0)
			return 0;
		if (len + 1 + n >= sizeof(path))
			return -ENAMETOOLONG;
		path[len++] = '/';
		memcpy(path + len, c, n);
		len += n;
		path[len] = 0;
		c += n;
		if (qmanifest_find_dir(m, path))
			continue;
		/* path + 1: relative to the root's descriptor */
		if (fstatat(root_fd, path + 1, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			return 0; /* nothing to note: the walk refuses it anyway */
		r = dir_add(m, path,
		            &(struct rooted_dir_meta){
		                .mode = st.st_mode & 07777, .uid = st.st_uid, .gid = st.st_gid});
		if (r < 0)
			return r;
	}
}

bool qmanifest_dir_meta(const char *dir, void *userdata, struct rooted_dir_meta *ret)
{
	const struct qmanifest *m = userdata;
	char path[PATH_MAX];
	const struct qdirmeta *d;

	if ((size_t)snprintf(path, sizeof(path), "/%s", dir) >= sizeof(path))
		return false;
	d = qmanifest_find_dir(m, path);
	if (!d)
		return false;
	*ret = d->meta;
	return true;
}

int qmanifest_add(struct qmanifest *m, struct qentry *e)
{
	if (m->n == m->alloc) {
		size_t na = m->alloc ? m->alloc * 2 : 16;
		struct qentry *n = realloc(m->entries, na * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->entries = n;
		m->alloc = na;
	}
	m->entries[m->n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct qentry *)a)->path, ((const struct qentry *)b)->path);
}

void qmanifest_sort(struct qmanifest *m)
{
	if (m->n > 1)
		qsort(m->entries, m->n, sizeof(*m->entries), entry_cmp);
}

struct qentry *qmanifest_find_in(const struct qmanifest *m, size_t n, const char *path)
{
	struct qentry key = {.path = (char *)(uintptr_t)path};

	if (n == 0)
		return NULL;
	return bsearch(&key, m->entries, MIN(n, m->n), sizeof(*m->entries), entry_cmp);
}

struct qentry *qmanifest_find(const struct qmanifest *m, const char *path)
{
	return qmanifest_find_in(m, m->n, path);
}

/* ---------------------------------------------------------------------- */
/* Encoding */

void sha256_to_hex(const uint8_t sha[SHA256_SIZE], char hex[2 * SHA256_SIZE + 1])
{
	hex_encode(sha, SHA256_SIZE, hex);
}

/* n hex digits at s into out (n/2 bytes). */
static int unhex(const char *s, size_t n, uint8_t *out)
{
	return hex_decode(s, n, out) < 0 ? -EBADMSG : 0;
}

static void put_escaped(FILE *f, const char *s, const char *extra)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '%' || strchr(extra, *p))
			fprintf(f, "%%%02x", *p);
		else
			fputc(*p, f);
}

/* Decodes %XX in s[0..n) into a new string. A decoded NUL is refused. */
static int unescape(const char *s, size_t n, char **ret)
{
	_cleanup_free_ char *out = malloc(n + 1);
	size_t k = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[k++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -EBADMSG;
		int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EBADMSG;
		out[k++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[k] = 0;
	*ret = TAKE_PTR(out);
	return 0;
}

static void put_entry(FILE *f, const struct qentry *e)
{
	char hex[2 * SHA256_SIZE + 1];

	sha256_to_hex(e->sha256, hex);
	fprintf(f, "file %s ", qe_state_to_string(e->state));
	put_escaped(f, e->path, "");
	fprintf(f,
	        " mode=%04o uid=%u gid=%u size=%" PRIu64 " mtime=%" PRId64
	        ".%09ld sha256=%s xattrs=",
	        (unsigned)(e->mode & 07777), (unsigned)e->uid, (unsigned)e->gid, e->size,
	        e->mtime_sec, e->mtime_nsec, hex);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		if (i > 0)
			fputc(',', f);
		put_escaped(f, e->xattrs[i].name, ":,=");
		fputc(':', f);
		for (size_t k = 0; k < e->xattrs[i].size; k++)
			fprintf(f, "%02x", e->xattrs[i].value[k]);
	}
	if (e->error != 0)
		fprintf(f, " error=%d", e->error);
	fputc('\n', f);
}

static int sha256_buf(const void *data, size_t size, uint8_t out[SHA256_SIZE])
{
	sha256_buffer(data, size, out);
	return 0;
}

int qmanifest_format(const struct qmanifest *m, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	uint8_t sha[SHA256_SIZE];
	char hex[2 * SHA256_SIZE + 1];
	size_t size = 0;
	FILE *f;
	int r;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s %d\ncomponent %s\ngeneration %u\nstate %s\n", QM_MAGIC, QM_VERSION,
	        m->component, m->generation, qm_state_to_string(m->state));
	for (size_t i = 0; i < m->n_dirs; i++) {
		fputs("dir ", f);
		put_escaped(f, m->dirs[i].path, "");
		fprintf(f, " mode=%04o uid=%u gid=%u\n", (unsigned)(m->dirs[i].meta.mode & 07777),
		        (unsigned)m->dirs[i].meta.uid, (unsigned)m->dirs[i].meta.gid);
	}
	for (size_t i = 0; i < m->n; i++)
		put_entry(f, &m->entries[i]);
	if (fflush(f) != 0) {
		fclose(f);
		return -ENOMEM;
	}
	r = sha256_buf(buf, size, sha);
	if (r < 0) {
		fclose(f);
		return r;
	}
	sha256_to_hex(sha, hex);
	fprintf(f, "end %zu sha256=%s\n", m->n, hex);
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Parsing */

static int parse_xattrs(const char *v, struct qentry *e)
{
	while (*v) {
		size_t n = strcspn(v, ","), nl;
		const char *colon = memchr(v, ':', n);
		struct qxattr *nx, x = {0};
		int r;

		if (!colon)
			return -EBADMSG;
		nl = (size_t)(colon - v);
		if (nl == 0)
			return -EBADMSG;
		r = unescape(v, nl, &x.name);
		if (r < 0)
			return r;
		x.size = (n - nl - 1) / 2;
		x.value = malloc(x.size + 1);
		if (!x.value || unhex(colon + 1, n - nl - 1, x.value) < 0) {
			free(x.name);
			free(x.value);
			return x.value ? -EBADMSG : -ENOMEM;
		}
		nx = realloc(e->xattrs, (e->n_xattrs + 1) * sizeof(*nx));
		if (!nx) {
			free(x.name);
			free(x.value);
			return -ENOMEM;
		}
		e->xattrs = nx;
		e->xattrs[e->n_xattrs++] = x;
		v += n;
		if (*v == ',')
			v++;
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EBADMSG;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end ? -EBADMSG : 0;
}

static int parse_field(struct qentry *e, char *field, unsigned *seen)
{
	char *eq = strchr(field, '='), *v, *end;
	uint64_t u;

	if (!eq)
		return -EBADMSG;
	*eq = 0;
	v = eq + 1;
	if (streq(field, "mode")) {
		errno = 0;
		u = strtoull(v, &end, 8);
		if (errno || *end || !*v || u > 07777)
			return -EBADMSG;
		e->mode = (mode_t)u;
		*seen |= 1;
	} else if (streq(field, "uid")) {
		if (parse_u64(v, &u) < 0 || u > UINT32_MAX)
			return -EBADMSG;
		e->uid = (uid_t)u;
		*seen |= 2;
	} else if (streq(field, "gid")) {
		if (parse_u64(v, &u) < 0 || u > UINT32_MAX)
			return -EBADMSG;
		e->gid = (gid_t)u;
		*seen |= 4;
	} else if (streq(field, "size")) {
		if (parse_u64(v, &e->size) < 0)
			return -EBADMSG;
		*seen |= 8;
	} else if (streq(field, "mtime")) {
		char *dot = strchr(v, '.');
		uint64_t ns;

		if (!dot)
			return -EBADMSG;
		*dot = 0;
		errno = 0;
		e->mtime_sec = strtoll(v, &end, 10);
		if (errno || *end || !*v || parse_u64(dot + 1, &ns) < 0 || ns >= 1000000000)
			return -EBADMSG;
		e->mtime_nsec = (long)ns;
		*seen |= 16;
	} else if (streq(field, "sha256")) {
		if (strlen(v) != 2 * SHA256_SIZE || unhex(v, 2 * SHA256_SIZE, e->sha256) < 0)
			return -EBADMSG;
		*seen |= 32;
	} else if (streq(field, "xattrs")) {
		int r = parse_xattrs(v, e);
		if (r < 0)
			return r;
		*seen |= 64;
	} else if (streq(field, "error")) {
		errno = 0;
		long x = strtol(v, &end, 10);
		if (errno || *end || x < 0 || x > 4095)
			return -EBADMSG;
		e->error = (int)x;
	}
	/* unknown fields: a newer writer of the same version; ignored */
	return 0;
}

static int parse_file_line(char *line, struct qentry *e)
{
	char *save = NULL, *state, *path, *field;
	unsigned seen = 0;
	int r;

	state = strtok_r(line, " ", &save);
	path = strtok_r(NULL, " ", &save);
	if (!state || !path)
		return -EBADMSG;
	r = state_from_string(qe_state_names, _QE_STATE_MAX, state);
	if (r < 0)
		return r;
	e->state = (enum qe_state)r;
	r = unescape(path, strlen(path), &e->path);
	if (r < 0)
		return r;
	if (!rooted_path_is_valid(e->path))
		return -EBADMSG;
	while ((field = strtok_r(NULL, " ", &save))) {
		r = parse_field(e, field, &seen);
		if (r < 0)
			return r;
	}
	return seen == 127 ? 0 : -EBADMSG;
}

/* "dir PATH mode=0700 uid=0 gid=0": the fields file lines have */
static int parse_dir_line(struct qmanifest *m, char *line)
{
	_cleanup_(qentry_done) struct qentry e = {0};
	char *save = NULL, *path, *field;
	unsigned seen = 0;
	int r;

	path = strtok_r(line, " ", &save);
	if (!path)
		return -EBADMSG;
	r = unescape(path, strlen(path), &e.path);
	if (r < 0)
		return r;
	if (!rooted_path_is_valid(e.path) || qmanifest_find_dir(m, e.path))
		return -EBADMSG;
	while ((field = strtok_r(NULL, " ", &save))) {
		r = parse_field(&e, field, &seen);
		if (r < 0)
			return r;
	}
	if ((seen & 7) != 7)
		return -EBADMSG;
	return dir_add(m, e.path,
	               &(struct rooted_dir_meta){.mode = e.mode, .uid = e.uid, .gid = e.gid});
}

int qmanifest_parse(const char *text, size_t size, struct qmanifest *ret)
{
	_cleanup_(qmanifest_done) struct qmanifest m = {.state = _QM_STATE_MAX};
	const char *end_line = NULL;
	_cleanup_free_ char *copy = NULL;
	char *p, *eol;
	uint8_t sha[SHA256_SIZE], want[SHA256_SIZE];
	bool have_gen = false;
	size_t count, n_entries = 0;
	char hex[2 * SHA256_SIZE + 1];
	int r, version;

	if (memchr(text, 0, size))
		return -EBADMSG;
	/* The magic line first, then the checksum over everything before
	 * the last line, before any other line is believed. */
	if (sscanf(text, QM_MAGIC " %d", &version) != 1)
		return -EBADMSG;
	if (version > QM_VERSION)
		return -EPROTONOSUPPORT;
	if (version < 1 || size < 2 || text[size - 1] != '\n')
		return -EBADMSG;
	for (const char *q = text + size - 1; q > text; q--)
		if (q[-1] == '\n') {
			end_line = q;
			break;
		}
	if (!end_line || sscanf(end_line, "end %zu sha256=%64s", &count, hex) != 2 ||
	    strlen(hex) != 2 * SHA256_SIZE || unhex(hex, 2 * SHA256_SIZE, want) < 0)
		return -EBADMSG;
	r = sha256_buf(text, (size_t)(end_line - text), sha);
	if (r < 0)
		return r;
	if (memcmp(sha, want, SHA256_SIZE) != 0)
		return -EBADMSG;

	copy = strndup(text, (size_t)(end_line - text));
	if (!copy)
		return -ENOMEM;
	p = copy;
	p += strcspn(p, "\n") + 1; /* the magic line */
	for (; *p; p = eol + 1) {
		char *line = p, *sp;

		eol = strchr(p, '\n');
		if (!eol)
			return -EBADMSG;
		*eol = 0;
		sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		if (streq(line, "file")) {
			struct qentry e = {0};

			r = parse_file_line(sp + 1, &e);
			if (r >= 0)
				r = qmanifest_add(&m, &e);
			qentry_done(&e);
			if (r < 0)
				return r;
			n_entries++;
		} else if (streq(line, "dir")) {
			r = parse_dir_line(&m, sp + 1);
			if (r < 0)
				return r;
		} else if (streq(line, "component")) {
			if (m.component || !component_id_is_valid(sp + 1))
				return -EBADMSG;
			m.component = strdup(sp + 1);
			if (!m.component)
				return -ENOMEM;
		} else if (streq(line, "generation")) {
			uint64_t g;

			if (parse_u64(sp + 1, &g) < 0 || g > UINT32_MAX)
				return -EBADMSG;
			m.generation = (unsigned)g;
			have_gen = true;
		} else if (streq(line, "state")) {
			r = state_from_string(qm_state_names, _QM_STATE_MAX, sp + 1);
			if (r < 0)
				return r;
			m.state = (enum qm_state)r;
		}
		/* other header lines: a newer writer of the same version */
	}
	if (!m.component || !have_gen || m.state == _QM_STATE_MAX || count != n_entries)
		return -EBADMSG;
	qmanifest_sort(&m);
	for (size_t i = 1; i < m.n; i++)
		if (streq(m.entries[i - 1].path, m.entries[i].path))
			return -EBADMSG;
	*ret = m;
	memset(&m, 0, sizeof(m));
	return 0;
}

/* ---------------------------------------------------------------------- */
/* On disk */

int qmanifest_load(int dir_fd, struct qmanifest *ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t size = 0;

	fd = openat(dir_fd, QM_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if ((uint64_t)st.st_size > QM_MAX_SIZE)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (size < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + size, (size_t)st.st_size - size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		size += (size_t)n;
	}
	buf[size] = 0;
	return qmanifest_parse(buf, size, ret);
}

int qmanifest_save(int dir_fd, const struct qmanifest *m)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t size = 0, half;
	int r;

	r = qmanifest_format(m, &buf, &size);
	if (r < 0)
		return r;
	fd = openat(dir_fd, QM_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0)
		return negative_errno();
	/* A cut half way leaves a torn temp file, which nobody reads (and
	 * the next save truncates). A failed write (ENOSPC) removes it: on
	 * a full disk it holds the space a later try needs. */
	half = size / 2;
	r = fd_write_all(fd, buf, half);
	if (r < 0)
		goto fail;
	fault_point("quarantine-manifest-write");
	r = fd_write_all(fd, buf + half, size - half);
	if (r < 0)
		goto fail;
	fault_point("quarantine-manifest-fsync");
	if (fsync(fd) < 0) {
		r = negative_errno();
		goto fail;
	}
	fault_point("quarantine-manifest-rename");
	if (renameat(dir_fd, QM_TMP_NAME, dir_fd, QM_NAME) < 0) {
		r = negative_errno();
		goto fail;
	}
	fault_point("quarantine-manifest-fsync-dir");
	if (fsync(dir_fd) < 0)
		return negative_errno();
	return 0;
fail:
	(void)unlinkat(dir_fd, QM_TMP_NAME, 0);
	return r;
}
