/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The stored inventory, <root>/var/lib/lifeline/inventory/last-good:
 *
 *   lifeline-inventory 1
 *   taken 1721362152000000000
 *   component examplesec 0
 *   module examplesec
 *   file 100644 0 0 1234 1721362100123456789 1721362100123456789 1837 2049 c <sha256 hex>
 * /opt/x/content/c-291.bin file 120777 0 0 11 ... 2049 - <sha256 of the link text> /opt/x/bin/link
 *   end 1 2 <sha256 hex of every byte before this line>
 *
 * "component ID ERROR" starts a component (ERROR: 0 or -errno); its
 * "module" and "file" lines follow. A file line holds st_mode in octal
 * (type included), uid, gid, size, mtime and ctime in nanoseconds, inode,
 * device, "c" for a content file or "-", the SHA-256 or "-", and the path
 * last, with %XX for bytes up to space, from 0x7f, and '%'. Files come
 * sorted by path (strcmp) within their component.
 *
 * Parsing is strict: one unknown line, field or version, a wrong count or
 * checksum, an unsorted list or a bad name, and the whole file is refused
 * (callers then have no last good inventory, which only costs level 1
 * its fallback evidence). A new field means a new version.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/inventory/inventory-internal.h"
#include "agent/inventory/inventory.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/rooted-walk.h"
#include "common/strv.h"

#define MAGIC   "lifeline-inventory"
#define VERSION 1

static void put_path(FILE *f, const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '%')
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
}

int inventory_format(const struct inventory *inv, char **ret_text, size_t *ret_size)
{
	_cleanup_free_ char *text = NULL;
	size_t size = 0, n_files = 0;
	uint8_t sum[INVENTORY_SHA256_SIZE];
	char hex[2 * INVENTORY_SHA256_SIZE + 1];
	FILE *f;
	int r;

	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, MAGIC " %d\ntaken %" PRIi64 "\n", VERSION, inv->taken_ns);
	for (size_t i = 0; i < inv->n_components; i++) {
		const struct inventory_component *c = &inv->components[i];

		fprintf(f, "component %s %d\n", c->id, c->error);
		STRV_FOREACH (m, c->modules)
			fprintf(f, "module %s\n", *m);
		for (size_t k = 0; k < c->n_files; k++) {
			const struct inventory_file *e = &c->files[k];

			if (e->hashed)
				inv_hex(e->sha256, hex);
			fprintf(f,
			        "file %" PRIo32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIi64
			        " %" PRIi64 " %" PRIu64 " %" PRIu64 " %s %s ",
			        e->mode, e->uid, e->gid, e->size, e->mtime_ns, e->ctime_ns, e->ino,
			        e->dev, e->content ? "c" : "-", e->hashed ? hex : "-");
			put_path(f, e->path);
			fputc('\n', f);
			n_files++;
		}
	}
	if (fflush(f) != 0 || ferror(f)) {
		fclose(f);
		return -ENOMEM;
	}
	r = inv_hash_data(text, size, sum);
	if (r < 0) {
		fclose(f);
		return r;
	}
	inv_hex(sum, hex);
	fprintf(f, "end %zu %zu %s\n", inv->n_components, n_files, hex);
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret_text = TAKE_PTR(text);
	*ret_size = size;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Parsing */

/* The next space-separated field of a line: [*p, end of field). */
static int next_field(const char **p, const char *eol, const char **ret, size_t *ret_len)
{
	const char *s = *p, *e;

	if (s >= eol)
		return -EBADMSG;
	e = memchr(s, ' ', (size_t)(eol - s));
	if (!e)
		e = eol;
	if (e == s)
		return -EBADMSG;
	*ret = s;
	*ret_len = (size_t)(e - s);
	*p = e < eol ? e + 1 : eol;
	return 0;
}

static int parse_u64(const char *s, size_t len, unsigned base, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 22 || (len > 1 && s[0] == '0' && base == 10))
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d >= base)
			return -EBADMSG;
		if (v > (UINT64_MAX - d) / base)
			return -EBADMSG;
		v = v * base + d;
	}
	if (v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int parse_i64(const char *s, size_t len, int64_t *ret)
{
	uint64_t v;
	bool neg = len > 0 && s[0] == '-';
	int r;

	r = parse_u64(s + neg, len - neg, 10, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX,
	              &v);
	if (r < 0)
		return r;
	if (neg && v == 0)
		return -EBADMSG;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int field_u64(const char **p, const char *eol, unsigned base, uint64_t max, uint64_t *ret)
{
	const char *s;
	size_t len;
	int r = next_field(p, eol, &s, &len);

	return r < 0 ? r : parse_u64(s, len, base, max, ret);
}

static int field_i64(const char **p, const char *eol, int64_t *ret)
{
	const char *s;
	size_t len;
	int r = next_field(p, eol, &s, &len);

	return r < 0 ? r : parse_i64(s, len, ret);
}

static int field_string(const char **p, const char *eol, char **ret)
{
	const char *s;
	size_t len;
	int r = next_field(p, eol, &s, &len);

	if (r < 0)
		return r;
	*ret = strndup(s, len);
	return *ret ? 0 : -ENOMEM;
}

static int decode_path(const char *s, size_t len, char **ret)
{
	_cleanup_free_ char *out = malloc(len + 1);
	size_t n = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			unsigned v = 0;

			if (i + 2 >= len)
				return -EBADMSG;
			for (size_t k = 1; k <= 2; k++) {
				char h = s[i + k];

				v <<= 4;
				if (h >= '0' && h <= '9')
					v |= (unsigned)(h - '0');
				else if (h >= 'A' && h <= 'F')
					v |= (unsigned)(h - 'A' + 10);
				else
					return -EBADMSG;
			}
			if (v == 0)
				return -EBADMSG;
			c = (unsigned char)v;
			i += 2;
		} else if (c <= ' ' || c >= 0x7f)
			return -EBADMSG;
		out[n++] = (char)c;
	}
	out[n] = 0;
	if (!rooted_path_is_valid(out))
		return -EBADMSG;
	*ret = TAKE_PTR(out);
	return 0;
}

static bool line_is(const char **p, const char *eol, const char *keyword)
{
	size_t n = strlen(keyword);

	if ((size_t)(eol - *p) <= n || memcmp(*p, keyword, n) != 0 || (*p)[n] != ' ')
		return false;
	*p += n + 1;
	return true;
}

static int parse_file_line(const char *p, const char *eol, struct inventory_file *f)
{
	uint64_t v;
	const char *s;
	size_t len;
	int r;

	if ((r = field_u64(&p, eol, 8, 0177777, &v)) < 0)
		return r;
	f->mode = (uint32_t)v;
	if ((r = field_u64(&p, eol, 10, UINT32_MAX, &v)) < 0)
		return r;
	f->uid = (uint32_t)v;
	if ((r = field_u64(&p, eol, 10, UINT32_MAX, &v)) < 0)
		return r;
	f->gid = (uint32_t)v;
	if ((r = field_u64(&p, eol, 10, INT64_MAX, &f->size)) < 0 ||
	    (r = field_i64(&p, eol, &f->mtime_ns)) < 0 ||
	    (r = field_i64(&p, eol, &f->ctime_ns)) < 0 ||
	    (r = field_u64(&p, eol, 10, UINT64_MAX, &f->ino)) < 0 ||
	    (r = field_u64(&p, eol, 10, UINT64_MAX, &f->dev)) < 0)
		return r;
	if ((r = next_field(&p, eol, &s, &len)) < 0)
		return r;
	if (len != 1 || (s[0] != 'c' && s[0] != '-'))
		return -EBADMSG;
	f->content = s[0] == 'c';
	if ((r = next_field(&p, eol, &s, &len)) < 0)
		return r;
	if (len == 1 && s[0] == '-')
		f->hashed = false;
	else if (inv_unhex(s, len, f->sha256) < 0)
		return -EBADMSG;
	else
		f->hashed = true;
	/* The path is the rest of the line, one field. */
	if ((r = next_field(&p, eol, &s, &len)) < 0)
		return r;
	if (p != eol || s + len != eol)
		return -EBADMSG;
	return decode_path(s, len, &f->path);
}

static int add_file(struct inventory_component *c, size_t *alloc, struct inventory_file *f)
{
	if (c->n_files > 0 && strcmp(c->files[c->n_files - 1].path, f->path) >= 0)
		return -EBADMSG; /* unsorted or duplicate */
	if (c->n_files == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 16;
		struct inventory_file *n = realloc(c->files, na * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->files = n;
		*alloc = na;
	}
	c->files[c->n_files++] = *f;
	memset(f, 0, sizeof(*f));
	return 0;
}

static int parse_body(const char *text, const char *body_end, struct inventory *inv,
                      size_t *ret_n_files)
{
	size_t comp_alloc = 0, file_alloc = 0, n_files = 0;
	const char *p = text;
	bool taken = false;
	int r;

	while (p < body_end) {
		const char *eol = memchr(p, '\n', (size_t)(body_end - p));
		const char *q = p;

		if (!eol)
			return -EBADMSG;
		if (!taken) {
			if (!line_is(&q, eol, "taken") ||
			    (r = field_i64(&q, eol, &inv->taken_ns)) < 0 || q != eol)
				return -EBADMSG;
			taken = true;
		} else if (line_is(&q, eol, "component")) {
			struct inventory_component *c;
			int64_t err;

			if (inv->n_components == comp_alloc) {
				size_t na = comp_alloc ? comp_alloc * 2 : 8;
				struct inventory_component *n =
				    realloc(inv->components, na * sizeof(*n));

				if (!n)
					return -ENOMEM;
				inv->components = n;
				comp_alloc = na;
			}
			c = &inv->components[inv->n_components++];
			memset(c, 0, sizeof(*c));
			file_alloc = 0;
			c->modules = calloc(1, sizeof(char *));
			if (!c->modules)
				return -ENOMEM;
			if ((r = field_string(&q, eol, &c->id)) < 0)
				return r;
			if (!component_id_is_valid(c->id))
				return -EBADMSG;
			for (size_t i = 0; i + 1 < inv->n_components; i++)
				if (streq(inv->components[i].id, c->id))
					return -EBADMSG;
			if ((r = field_i64(&q, eol, &err)) < 0 || q != eol || err > 0 ||
			    err < -4095)
				return -EBADMSG;
			c->error = (int)err;
		} else if (line_is(&q, eol, "module")) {
			struct inventory_component *c =
			    inv->n_components ? &inv->components[inv->n_components - 1] : NULL;
			char *m = NULL;

			if (!c || c->n_files > 0)
				return -EBADMSG;
			if ((r = field_string(&q, eol, &m)) < 0)
				return r;
			if (q != eol || !module_name_is_valid(m, true)) {
				free(m);
				return -EBADMSG;
			}
			if ((r = strv_consume(&c->modules, m)) < 0)
				return r;
		} else if (line_is(&q, eol, "file")) {
			struct inventory_component *c =
			    inv->n_components ? &inv->components[inv->n_components - 1] : NULL;
			struct inventory_file f = {0};

			if (!c || c->error)
				return -EBADMSG;
			r = parse_file_line(q, eol, &f);
			if (r >= 0)
				r = add_file(c, &file_alloc, &f);
			free(f.path);
			if (r < 0)
				return r;
			n_files++;
		} else
			return -EBADMSG;
		p = eol + 1;
	}
	if (!taken)
		return -EBADMSG;
	*ret_n_files = n_files;
	return 0;
}

int inventory_parse(const char *text, size_t size, struct inventory **ret)
{
	_cleanup_inventory_free_ struct inventory *inv = NULL;
	const char *p, *eol, *end_line, *q, *hs;
	uint8_t want[INVENTORY_SHA256_SIZE], have[INVENTORY_SHA256_SIZE];
	uint64_t nc, nf;
	size_t n_files = 0, hlen;
	int r;

	if (size == 0 || text[size - 1] != '\n' || memchr(text, 0, size))
		return -EBADMSG;

	/* Header first: an unknown version is not damage. */
	eol = memchr(text, '\n', size);
	p = text;
	if (!line_is(&p, eol, MAGIC))
		return -EBADMSG;
	{
		uint64_t v;

		if (field_u64(&p, eol, 10, UINT32_MAX, &v) < 0 || p != eol)
			return -EBADMSG;
		if (v != VERSION)
			return -EPROTONOSUPPORT;
	}

	/* The end line and the checksum of everything before it. */
	end_line = text + size - 1;
	while (end_line > text && end_line[-1] != '\n')
		end_line--;
	if (end_line <= eol)
		return -EBADMSG;
	q = end_line;
	if (!line_is(&q, text + size - 1, "end") ||
	    field_u64(&q, text + size - 1, 10, SIZE_MAX, &nc) < 0 ||
	    field_u64(&q, text + size - 1, 10, SIZE_MAX, &nf) < 0 ||
	    next_field(&q, text + size - 1, &hs, &hlen) < 0 || q != text + size - 1 ||
	    inv_unhex(hs, hlen, want) < 0)
		return -EBADMSG;
	r = inv_hash_data(text, (size_t)(end_line - text), have);
	if (r < 0)
		return r;
	if (memcmp(want, have, sizeof(want)) != 0)
		return -EBADMSG;

	inv = calloc(1, sizeof(*inv));
	if (!inv)
		return -ENOMEM;
	r = parse_body(eol + 1, end_line, inv, &n_files);
	if (r < 0)
		return r;
	if (nc != inv->n_components || nf != n_files)
		return -EBADMSG;
	*ret = TAKE_PTR(inv);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Storage */

int inventory_save(const char *root, const struct inventory *inv)
{
	_cleanup_free_ char *dir = path_under_root(root, INVENTORY_DIR);
	_cleanup_free_ char *path = path_under_root(root, INVENTORY_LAST_GOOD_FILE);
	_cleanup_free_ char *text = NULL;
	size_t size;
	int r;

	if (!dir || !path)
		return -ENOMEM;
	r = inventory_format(inv, &text, &size);
	if (r < 0)
		return r;
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return log_debug_errno(r, "Failed to create %s: %m", dir);
	/* write_file_atomic() removes the temp files a cut left (common/fileio) */
	fault_point("inventory-save");
	r = write_file_atomic(path, text, size, 0600);
	if (r < 0)
		return log_debug_errno(r, "Failed to write %s: %m", path);
	return 0;
}

int inventory_load(const char *root, struct inventory **ret)
{
	_cleanup_free_ char *path = path_under_root(root, INVENTORY_LAST_GOOD_FILE);
	_cleanup_free_ char *text = NULL;
	size_t size;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, INVENTORY_FILE_MAX, &text, &size);
	if (r < 0)
		return r == -ENOENT ? r : log_debug_errno(r, "Failed to read %s: %m", path);
	r = inventory_parse(text, size, ret);
	if (r < 0)
		return log_debug_errno(r, "Refusing %s: %m", path);
	return 0;
}
