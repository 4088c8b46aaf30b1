/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The degrade manifest (degrade.h): one text file per degraded component.
 *
 *   lifeline-degrade-manifest 1
 *   component falco
 *   state applying
 *   file N PATH existed=1 mode=0640 uid=0 gid=0 mtime=SEC.NSEC was=HEX becomes=HEX
 *   end sha256=HEX
 *
 * (each "file" entry is one line; HEX is a SHA-256 in 64 hex digits, the
 * end line's over every byte before it).
 *
 * One "file" line per file the step changes, N being the number of its
 * copies orig-N and new-N. existed=0: the file did not exist before (no
 * mtime, was=-); mode, uid and gid are then what the new file gets.
 * Paths are degrade paths (components.h): no whitespace or control
 * characters, so they are written as they are. A reader refuses a newer
 * version, a damaged file or an unknown field (it never acts on what it
 * cannot read). Written atomically: tmp + fsync + rename + fsync of the
 * folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/quarantine/degrade-internal.h"
#include "common/fileio.h"
#include "common/hex.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/sha256.h"

static const char *const state_names[_DM_STATE_MAX] = {
    [DM_APPLYING] = "applying",
    [DM_APPLIED] = "applied",
    [DM_UNDOING] = "undoing",
};

const char *dm_state_to_string(enum dm_state s)
{
	return s < _DM_STATE_MAX ? state_names[s] : "?";
}

void dmanifest_done(struct dmanifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].path);
	free(m->e);
	free(m->id);
	*m = (struct dmanifest){0};
}

int dmanifest_add(struct dmanifest *m, struct dentry *e)
{
	struct dentry *n = realloc(m->e, (m->n + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	m->e = n;
	m->e[m->n++] = *e;
	*e = (struct dentry){0};
	return 0;
}

int dmanifest_format(const struct dmanifest *m, char **ret, size_t *ret_size)
{
	char *buf = NULL, hex[2 * SHA256_DIGEST_SIZE + 1];
	uint8_t sha[SHA256_DIGEST_SIZE];
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s %d\ncomponent %s\nstate %s\n", DM_MAGIC, DM_VERSION, m->id,
	        dm_state_to_string(m->state));
	for (size_t i = 0; i < m->n; i++) {
		const struct dentry *e = &m->e[i];

		fprintf(f, "file %u %s existed=%d mode=%04o uid=%u gid=%u", e->idx, e->path,
		        e->existed, (unsigned)e->mode, (unsigned)e->uid, (unsigned)e->gid);
		if (e->existed) {
			hex_encode(e->was, SHA256_DIGEST_SIZE, hex);
			fprintf(f, " mtime=%" PRId64 ".%09ld was=%s", e->mtime_sec, e->mtime_nsec,
			        hex);
		} else
			fputs(" was=-", f);
		hex_encode(e->becomes, SHA256_DIGEST_SIZE, hex);
		fprintf(f, " becomes=%s\n", hex);
	}
	if (fflush(f) != 0) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	sha256_buffer(buf, size, sha);
	hex_encode(sha, SHA256_DIGEST_SIZE, hex);
	fprintf(f, "end sha256=%s\n", hex);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_size = size;
	return 0;
}

static int parse_uint(const char *s, int base, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v = 0;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EBADMSG;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int parse_sha(const char *s, uint8_t out[SHA256_DIGEST_SIZE])
{
	if (strlen(s) != 2 * SHA256_DIGEST_SIZE || hex_decode(s, 2 * SHA256_DIGEST_SIZE, out) < 0)
		return -EBADMSG;
	return 0;
}

/* "N PATH key=value...": every field present once, nothing unknown. */
static int parse_file_line(char *line, struct dentry *e)
{
	enum {
		F_EXISTED = 1,
		F_MODE = 2,
		F_UID = 4,
		F_GID = 8,
		F_MTIME = 16,
		F_WAS = 32,
		F_BEC = 64,
		F_WAS_NONE = 128, /* was=-: only for a file that did not exist */
		F_NEEDED = F_EXISTED | F_MODE | F_UID | F_GID | F_WAS | F_BEC,
	};
	unsigned seen = 0;
	unsigned long long v = 0;
	char *save = NULL, *tok;

	tok = strtok_r(line, " ", &save);
	if (!tok || parse_uint(tok, 10, DM_FILES_MAX, &v) < 0)
		return -EBADMSG;
	e->idx = (unsigned)v;
	tok = strtok_r(NULL, " ", &save);
	if (!tok || !rooted_path_is_valid(tok))
		return -EBADMSG;
	e->path = strdup(tok);
	if (!e->path)
		return -ENOMEM;
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq = strchr(tok, '=');
		unsigned bit;
		int r = 0;

		if (!eq)
			return -EBADMSG;
		*eq++ = 0;
		if (streq(tok, "existed")) {
			bit = F_EXISTED;
			r = parse_uint(eq, 10, 1, &v);
			e->existed = v;
		} else if (streq(tok, "mode")) {
			bit = F_MODE;
			r = parse_uint(eq, 8, 07777, &v);
			e->mode = (mode_t)v;
		} else if (streq(tok, "uid")) {
			bit = F_UID;
			r = parse_uint(eq, 10, UINT32_MAX, &v);
			e->uid = (uid_t)v;
		} else if (streq(tok, "gid")) {
			bit = F_GID;
			r = parse_uint(eq, 10, UINT32_MAX, &v);
			e->gid = (gid_t)v;
		} else if (streq(tok, "mtime")) {
			char *dot = strchr(eq, '.');
			unsigned long long ns = 0;

			bit = F_MTIME;
			if (!dot || dot - eq > 19 || strlen(dot + 1) != 9)
				return -EBADMSG;
			*dot = 0;
			r = parse_uint(eq, 10, INT64_MAX, &v);
			if (r >= 0)
				r = parse_uint(dot + 1, 10, 999999999, &ns);
			e->mtime_sec = (int64_t)v;
			e->mtime_nsec = (long)ns;
		} else if (streq(tok, "was")) {
			bit = F_WAS;
			if (!streq(eq, "-"))
				r = parse_sha(eq, e->was);
			else
				seen |= F_WAS_NONE;
		} else if (streq(tok, "becomes")) {
			bit = F_BEC;
			r = parse_sha(eq, e->becomes);
		} else
			return -EBADMSG;
		if (r < 0 || (seen & bit))
			return -EBADMSG;
		seen |= bit;
	}
	if ((seen & F_NEEDED) != F_NEEDED)
		return -EBADMSG;
	/* an mtime and a was checksum exactly when the file existed */
	if (e->existed != !!(seen & F_MTIME) || e->existed == !!(seen & F_WAS_NONE))
		return -EBADMSG;
	return 0;
}

int dmanifest_parse(const char *text, size_t size, struct dmanifest *ret)
{
	_cleanup_(dmanifest_donep) struct dmanifest m = {0};
	_cleanup_free_ char *copy = NULL;
	uint8_t sha[SHA256_DIGEST_SIZE], want[SHA256_DIGEST_SIZE];
	const char *end_line;
	char *save = NULL, *line;
	unsigned n_line = 0;
	bool have_state = false;
	int r;

	if (size < 6 || memchr(text, 0, size) || text[size - 1] != '\n')
		return -EBADMSG;
	/* the last line: "end sha256=<hex>\n" over every byte before it */
	end_line = text + size - 1;
	while (end_line > text && end_line[-1] != '\n')
		end_line--;
	if ((size_t)(text + size - end_line) !=
	        strlen("end sha256=") + 2 * SHA256_DIGEST_SIZE + 1 ||
	    strncmp(end_line, "end sha256=", 11) != 0 ||
	    hex_decode(end_line + 11, 2 * SHA256_DIGEST_SIZE, want) < 0)
		return -EBADMSG;
	sha256_buffer(text, (size_t)(end_line - text), sha);
	if (memcmp(sha, want, sizeof(sha)) != 0)
		return -EBADMSG;

	copy = strndup(text, (size_t)(end_line - text));
	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		n_line++;
		if (n_line == 1) {
			unsigned long long ver;

			if (strncmp(line, DM_MAGIC " ", strlen(DM_MAGIC) + 1) != 0 ||
			    parse_uint(line + strlen(DM_MAGIC) + 1, 10, UINT32_MAX, &ver) < 0)
				return -EBADMSG;
			if (ver != DM_VERSION)
				return ver > DM_VERSION ? -EPROTONOSUPPORT : -EBADMSG;
		} else if (strncmp(line, "component ", 10) == 0 && !m.id) {
			if (!component_id_is_valid(line + 10))
				return -EBADMSG;
			m.id = strdup(line + 10);
			if (!m.id)
				return -ENOMEM;
		} else if (strncmp(line, "state ", 6) == 0 && !have_state) {
			int s = -1;

			for (int i = 0; i < _DM_STATE_MAX; i++)
				if (streq(line + 6, state_names[i]))
					s = i;
			if (s < 0)
				return -EBADMSG;
			m.state = (enum dm_state)s;
			have_state = true;
		} else if (strncmp(line, "file ", 5) == 0) {
			struct dentry e = {0};

			if (m.n >= DM_FILES_MAX)
				return -EBADMSG;
			r = parse_file_line(line + 5, &e);
			if (r < 0) {
				free(e.path);
				return r;
			}
			for (size_t i = 0; i < m.n; i++)
				if (m.e[i].idx == e.idx || streq(m.e[i].path, e.path)) {
					free(e.path);
					return -EBADMSG;
				}
			r = dmanifest_add(&m, &e);
			if (r < 0) {
				free(e.path);
				return r;
			}
		} else
			return -EBADMSG;
	}
	if (!m.id || !have_state)
		return -EBADMSG;
	*ret = m;
	m = (struct dmanifest){0};
	return 0;
}

int dmanifest_load(int dir_fd, struct dmanifest *ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t n;

	fd = openat(dir_fd, DM_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if (st.st_size > DM_MAX_SIZE)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	n = 0;
	while (n < st.st_size) {
		ssize_t k = fd_read_retry(fd, buf + n, (size_t)(st.st_size - n));

		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		n += k;
	}
	buf[n] = 0;
	return dmanifest_parse(buf, (size_t)n, ret);
}

int dmanifest_save(int dir_fd, const struct dmanifest *m)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t size = 0;
	int r;

	r = dmanifest_format(m, &buf, &size);
	if (r < 0)
		return r;
	fd = openat(dir_fd, DM_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0)
		return negative_errno();
	r = fd_write_all(fd, buf, size / 2);
	if (r >= 0) {
		fault_point("degrade-manifest-write");
		r = fd_write_all(fd, buf + size / 2, size - size / 2);
	}
	if (r >= 0) {
		fault_point("degrade-manifest-fsync");
		r = RET_NERRNO(fsync(fd));
	}
	if (r >= 0) {
		fault_point("degrade-manifest-rename");
		r = RET_NERRNO(renameat(dir_fd, DM_TMP_NAME, dir_fd, DM_NAME));
	}
	if (r < 0) {
		(void)unlinkat(dir_fd, DM_TMP_NAME, 0);
		return r;
	}
	fault_point("degrade-manifest-fsync-dir");
	return RET_NERRNO(fsync(dir_fd));
}
