/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pstore, the collecting half: find the crash records under a pstore
 * mount (or systemd-pstore's archive, or a folder of saved texts),
 * reassemble efi-pstore's parts into records, save their text and erase
 * the sources. What a record says is pstore-parse.c's business.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "agent/crash/pstore.h"

/* Parts of one dump are written one after the other within a second or
 * two; a gap longer than this starts another record even when the header
 * matches (parts left over from an older boot with the same "Oops#1"). */
#define PSTORE_PART_GAP_SEC 10

static bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool endswith(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

struct candidate {
	char *path;
	const char *name; /* points into path */
	bool txt;
	dev_t dev;
	ino_t ino;
	uint64_t time;
};

struct part {
	struct candidate *c;
	char backend[32];
	char reason[32]; /* "" without a header */
	unsigned event;
	unsigned part;
	uint64_t time;
	char *body; /* text after the header line */
	size_t body_size;
	char *data; /* the whole file */
};

static bool name_ok(const char *n)
{
	size_t l = strlen(n);

	if (l == 0 || l > 128 || n[0] == '.')
		return false;
	for (const char *p = n; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* dmesg-efi-<id>: id = (seconds * 100 + part) * 1000 + count
 * (generic_id() in drivers/firmware/efi/efi-pstore.c). */
static bool efi_id(const char *name, uint64_t *ret_time, unsigned *ret_part, unsigned *ret_count)
{
	const char *d;
	size_t n;
	uint64_t id;

	if (!startswith(name, "dmesg-efi-"))
		return false;
	d = name + strlen("dmesg-efi-");
	n = strlen(d);
	if (n < 6 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)d[i]))
			return false;
	id = strtoull(d, NULL, 10);
	*ret_count = (unsigned)(id % 1000);
	*ret_part = (unsigned)(id / 1000 % 100);
	*ret_time = id / 100000;
	return true;
}

/* "Oops#1 Part1" (fs/pstore/platform.c: "%s#%d Part%u\n"), or "Oops#1" as
 * this file saves records. Returns the header length with its newline, 0
 * when the text does not start with one. */
static size_t parse_header(const char *d, size_t size, struct part *p, bool *ret_has_part)
{
	const char *nl = memchr(d, '\n', size);
	size_t len = nl ? (size_t)(nl - d) : size, i = 0, rl;
	unsigned long ev, pt = 0;
	char *end;

	*ret_has_part = false;
	while (i < len && isalpha((unsigned char)d[i]))
		i++;
	rl = i;
	if (rl == 0 || rl >= sizeof(p->reason) || i >= len || d[i] != '#' ||
	    !isdigit((unsigned char)d[i + 1]))
		return 0;
	ev = strtoul(d + i + 1, &end, 10);
	if (end > d + len || ev > 1000000)
		return 0;
	if ((size_t)(end - d) < len) {
		if ((size_t)(end - d) + 6 > len || strncmp(end, " Part", 5) != 0 ||
		    !isdigit((unsigned char)end[5]))
			return 0;
		pt = strtoul(end + 5, &end, 10);
		if (end != d + len || pt == 0 || pt > 1000)
			return 0;
		*ret_has_part = true;
	}
	memcpy(p->reason, d, rl);
	p->reason[rl] = 0;
	p->event = (unsigned)ev;
	p->part = (unsigned)pt;
	return nl ? len + 1 : len;
}

/* Text, not a binary (a compressed record, junk). A NUL ends the text when
 * a pstore header (hl bytes) shows it is one (a record the kernel could not
 * compress is stored as a full buffer and may carry stale bytes after the
 * text). The share of control bytes is taken after the header: the header
 * differs between a part ("Oops#1 Part1") and the record saved from it
 * ("Oops#1"), and the saved record must pass where its parts did. */
static bool text_ok(const char *d, size_t *size, size_t hl)
{
	const char *z = memchr(d, 0, *size);
	size_t bad = 0;

	if (z) {
		if (hl == 0)
			return false;
		*size = (size_t)(z - d);
	}
	if (*size == 0 || *size < hl)
		return false;
	for (size_t i = hl; i < *size; i++) {
		unsigned char c = (unsigned char)d[i];

		if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
			bad++;
	}
	return bad * 32 <= *size - hl;
}

static void candidates_free(struct candidate *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

struct scan {
	struct candidate *c;
	size_t n;
	size_t entries;
	struct pstore_log *log;
};

static int scan_add(struct scan *s, const char *dir, const char *name, const struct stat *st,
                    bool txt)
{
	struct candidate *nc;
	char *path = path_join(dir, name);
	unsigned part, count;
	uint64_t t;

	if (!path)
		return -ENOMEM;
	nc = realloc(s->c, (s->n + 1) * sizeof(*nc));
	if (!nc) {
		free(path);
		return -ENOMEM;
	}
	s->c = nc;
	if (!efi_id(name, &t, &part, &count))
		t = st->st_mtime > 0 ? (uint64_t)st->st_mtime : 0;
	s->c[s->n++] = (struct candidate){
	    .path = path,
	    .name = path + strlen(path) - strlen(name),
	    .txt = txt,
	    .dev = st->st_dev,
	    .ino = st->st_ino,
	    .time = t,
	};
	return 0;
}

static int scan_dir(struct scan *s, int dfd, const char *path, bool top)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int r;

	d = fdopendir(dfd);
	if (!d) {
		r = negative_errno();
		close(dfd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		const char *n = de->d_name;
		bool txt;

		if (streq(n, ".") || streq(n, ".."))
			continue;
		if (++s->entries > PSTORE_DIR_ENTRIES_MAX) {
			s->log->capped = true;
			break;
		}
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			s->log->n_skipped++;
			continue;
		}
		if (S_ISDIR(st.st_mode) && top && name_ok(n)) {
			/* systemd-pstore: /var/lib/systemd/pstore/<id>/dmesg-efi-* */
			_cleanup_free_ char *sub = path_join(path, n);
			int sfd;

			if (!sub)
				return -ENOMEM;
			sfd = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0) {
				s->log->n_skipped++;
				continue;
			}
			r = scan_dir(s, sfd, sub, false);
			if (r < 0)
				return r;
			continue;
		}
		txt = top && endswith(n, ".txt") && strlen(n) > 4;
		if (!S_ISREG(st.st_mode) || !name_ok(n) || (!txt && !startswith(n, "dmesg-")) ||
		    endswith(n, ".enc.z") || st.st_size <= 0 || st.st_size > PSTORE_FILE_SIZE_MAX) {
			log_debug("pstore: skipping %s/%s", path, n);
			s->log->n_skipped++;
			continue;
		}
		r = scan_add(s, path, n, &st, txt);
		if (r < 0)
			return r;
	}
	if (errno > 0)
		return -errno;
	return 0;
}

static int cmp_candidate_newest(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	return -strcmp(x->path, y->path);
}

/* Read one candidate: regular, not a symlink, still the file scanned. */
static int read_candidate(const struct candidate *c, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	char *shrunk;
	struct stat st;
	size_t size = 0;

	fd = open(c->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_dev != c->dev || st.st_ino != c->ino)
		return -ESTALE;
	buf = malloc(PSTORE_FILE_SIZE_MAX + 2);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k = read(fd, buf + size, PSTORE_FILE_SIZE_MAX + 1 - size);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		size += (size_t)k;
		if (size > PSTORE_FILE_SIZE_MAX)
			return -EFBIG;
	}
	buf[size] = 0;
	/* keep only what the file holds: up to 256 of these live at once */
	shrunk = realloc(buf, size + 1);
	if (shrunk)
		buf = shrunk;
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

static void backend_of(const char *name, char *buf, size_t bufsize)
{
	const char *s = name + strlen("dmesg-"), *dash = strrchr(s, '-');
	size_t n = dash && dash > s ? (size_t)(dash - s) : strlen(s);

	snprintf(buf, bufsize, "%.*s", (int)n, s);
}

/* Saved "efi-1732371234-oops-1": the first long all-digit field is the time. */
static bool time_from_name(const char *name, uint64_t *ret)
{
	const char *p = name;

	while (*p) {
		size_t n = strspn(p, "0123456789");

		if (n >= 9 && n <= 12 && (p[n] == '-' || p[n] == '.' || p[n] == 0) &&
		    (p == name || p[-1] == '-')) {
			*ret = strtoull(p, NULL, 10);
			return true;
		}
		p += n;
		if (*p)
			p++;
	}
	return false;
}

static int load_part(struct candidate *c, struct part *p, size_t *total, struct pstore_log *log)
{
	_cleanup_free_ char *data = NULL;
	size_t size = 0, hl;
	bool has_part = false;
	unsigned id_part = 0, id_count = 0;
	uint64_t id_time = 0;
	int r;

	r = read_candidate(c, &data, &size);
	if (r < 0) {
		log_debug_errno(r, "pstore: skipping %s: %m", c->path);
		return r == -ENOMEM ? r : 0;
	}
	if (*total + size > PSTORE_TOTAL_SIZE_MAX) {
		log->capped = true;
		return 0;
	}
	*p = (struct part){.c = c};
	hl = parse_header(data, size, p, &has_part);
	if (!text_ok(data, &size, hl)) {
		log_debug("pstore: skipping %s: not text", c->path);
		return 0;
	}
	*total += size;
	data[size] = 0;
	if (c->txt) {
		snprintf(p->backend, sizeof(p->backend), "txt");
		if (!time_from_name(c->name, &p->time))
			p->time = c->time;
	} else {
		backend_of(c->name, p->backend, sizeof(p->backend));
		if (efi_id(c->name, &id_time, &id_part, &id_count)) {
			p->time = id_time;
			if (hl == 0) {
				p->event = id_count;
				p->part = id_part;
			}
		} else
			p->time = c->time;
	}
	if (p->part == 0)
		p->part = 1; /* a whole record, or a header without "PartN" */
	p->body = data + hl;
	p->body_size = size - hl;
	p->data = TAKE_PTR(data);
	return 1;
}

static int cmp_part(const void *a, const void *b)
{
	const struct part *x = a, *y = b;
	int r;

	if (x->c->txt != y->c->txt)
		return x->c->txt ? 1 : -1;
	if ((r = strcmp(x->backend, y->backend)))
		return r;
	if ((r = strcmp(x->reason, y->reason)))
		return r;
	if (x->event != y->event)
		return x->event < y->event ? -1 : 1;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return strcmp(x->c->path, y->c->path);
}

static bool same_record(const struct part *prev, const struct part *p)
{
	return !prev->c->txt && !p->c->txt && streq(prev->backend, p->backend) &&
	       streq(prev->reason, p->reason) && prev->event == p->event && p->part > prev->part &&
	       p->time >= prev->time && p->time - prev->time <= PSTORE_PART_GAP_SEC;
}

/* Build one record from parts[from..to) (ascending part numbers): text in
 * log order is the highest part first. */
static int make_record(struct part *parts, size_t from, size_t to, struct pstore_record *rec)
{
	size_t total = 0, pos = 0;
	unsigned highest = parts[to - 1].part;
	char *text;

	for (size_t i = from; i < to; i++)
		total += parts[i].body_size + 1;
	text = malloc(total + 1);
	if (!text)
		return -ENOMEM;
	for (size_t i = to; i > from; i--) {
		struct part *p = &parts[i - 1];

		memcpy(text + pos, p->body, p->body_size);
		pos += p->body_size;
		if (p->body_size > 0 && p->body[p->body_size - 1] != '\n')
			text[pos++] = '\n';
	}
	text[pos] = 0;
	*rec = (struct pstore_record){
	    .reason = strdup(parts[from].reason[0] ? parts[from].reason : "Unknown"),
	    .event = parts[from].event,
	    .time = parts[from].time,
	    .n_parts = (unsigned)(to - from),
	    .incomplete = !parts[from].c->txt && highest != to - from,
	    .text = text,
	    .size = pos,
	};
	if (!rec->reason)
		return -ENOMEM;
	rec->sources = calloc(to - from, sizeof(*rec->sources));
	if (!rec->sources)
		return -ENOMEM;
	for (size_t i = from; i < to; i++) {
		struct pstore_source *src = &rec->sources[rec->n_sources];

		src->path = strdup(parts[i].c->path);
		if (!src->path)
			return -ENOMEM;
		src->dev = parts[i].c->dev;
		src->ino = parts[i].c->ino;
		rec->n_sources++;
	}
	return 0;
}

static void record_done(struct pstore_record *r)
{
	for (unsigned i = 0; i < r->n_sources; i++)
		free(r->sources[i].path);
	free(r->sources);
	free(r->name);
	free(r->reason);
	free(r->text);
	free(r->saved_path);
}

struct pstore_log *pstore_log_free(struct pstore_log *log)
{
	if (!log)
		return NULL;
	for (size_t i = 0; i < log->n_records; i++)
		record_done(&log->records[i]);
	free(log->records);
	free(log);
	return NULL;
}

/* A record's parts: parts[from..to). */
struct group {
	size_t from, to;
	const struct part *first;
};

static int cmp_group(const void *a, const void *b)
{
	const struct part *x = ((const struct group *)a)->first,
	                  *y = ((const struct group *)b)->first;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->event != y->event)
		return x->event < y->event ? -1 : 1;
	return strcmp(x->reason, y->reason);
}

static int name_records(struct pstore_log *log, const struct group *groups)
{
	for (size_t i = 0; i < log->n_records; i++) {
		struct pstore_record *rec = &log->records[i];
		const struct part *p = groups[i].first;
		char base[192], lower[32];
		size_t k;

		if (p->c->txt)
			snprintf(base, sizeof(base), "%.*s", (int)(strlen(p->c->name) - 4),
			         p->c->name);
		else {
			for (k = 0; rec->reason[k] && k + 1 < sizeof(lower); k++)
				lower[k] = (char)tolower((unsigned char)rec->reason[k]);
			lower[k] = 0;
			snprintf(base, sizeof(base), "%s-%" PRIu64 "-%s-%u", p->backend, rec->time,
			         lower, rec->event);
		}
		for (unsigned n = 1;; n++) {
			bool taken = false;
			char *name;

			if (n == 1)
				name = strdup(base);
			else if (asprintf(&name, "%s-%u", base, n) < 0)
				name = NULL;
			if (!name)
				return -ENOMEM;
			for (size_t j = 0; j < i; j++)
				if (streq(log->records[j].name, name))
					taken = true;
			if (!taken) {
				rec->name = name;
				break;
			}
			free(name);
		}
	}
	return 0;
}

static void save_record(struct pstore_record *rec, const char *save_dir)
{
	_cleanup_free_ char *path = NULL, *file = NULL, *data = NULL;
	int n, r;

	if (asprintf(&file, "%s.txt", rec->name) < 0 || !(path = path_join(save_dir, file))) {
		rec->save_error = -ENOMEM;
		return;
	}
	/* the header makes a saved record read back as the same record (also
	 * with event 0: without it, a first line "Panic#3" of the text would
	 * be read back as the header) */
	n = asprintf(&data, "%s#%u\n%s", rec->reason, rec->event, rec->text);
	if (n < 0) {
		data = NULL;
		rec->save_error = -ENOMEM;
		return;
	}
	r = write_file_atomic(path, data, (size_t)n, 0600);
	if (r < 0) {
		log_debug_errno(r, "pstore: failed to save %s: %m", path);
		rec->save_error = r;
		return;
	}
	rec->saved_path = TAKE_PTR(path);
}

/* Unlink a source only while it is the file that was read: a saved record
 * read back from save_dir has just been replaced by its new copy. */
static void erase_part(struct pstore_record *rec, const struct pstore_source *c)
{
	struct stat st;

	if (lstat(c->path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != c->dev ||
	    st.st_ino != c->ino)
		return;
	if (unlink(c->path) < 0) {
		int r = negative_errno();

		log_debug_errno(r, "pstore: failed to erase %s: %m", c->path);
		if (rec->erase_error == 0)
			rec->erase_error = r;
		return;
	}
	rec->n_erased++;
}

unsigned pstore_erase(struct pstore_log *log)
{
	unsigned n = 0;

	if (!log)
		return 0;
	for (size_t i = 0; i < log->n_records; i++) {
		struct pstore_record *rec = &log->records[i];
		unsigned before = rec->n_erased;

		if (rec->save_error != 0)
			continue;
		for (unsigned k = 0; k < rec->n_sources; k++)
			erase_part(rec, &rec->sources[k]);
		n += rec->n_erased - before;
	}
	return n;
}

int pstore_collect(const char *pstore_dir, const char *save_dir, bool erase,
                   struct pstore_log **ret)
{
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	_cleanup_free_ struct part *parts = NULL;
	_cleanup_free_ struct group *groups = NULL;
	struct scan s = {};
	size_t n_parts = 0, n_groups = 0, total = 0, n_use;
	int fd, r;

	if (!pstore_dir || !ret)
		return -EINVAL;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	s.log = log;

	fd = open(pstore_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_debug_errno(errno, "pstore: cannot open %s: %m", pstore_dir);
	r = scan_dir(&s, fd, pstore_dir, true);
	if (r < 0)
		goto out;

	/* newest first, so the caps drop the oldest */
	if (s.n > 1)
		qsort(s.c, s.n, sizeof(*s.c), cmp_candidate_newest);
	n_use = MIN(s.n, (size_t)PSTORE_FILES_MAX);
	if (s.n > n_use) {
		log->capped = true;
		log->n_skipped += (unsigned)(s.n - n_use);
	}
	parts = calloc(n_use + 1, sizeof(*parts));
	groups = calloc(n_use + 1, sizeof(*groups));
	log->records = calloc(n_use + 1, sizeof(*log->records));
	if (!parts || !groups || !log->records) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_use; i++) {
		r = load_part(&s.c[i], &parts[n_parts], &total, log);
		if (r < 0)
			goto out;
		if (r > 0)
			n_parts++;
		else
			log->n_skipped++;
	}

	/* group the parts into records, oldest record first */
	if (n_parts > 1)
		qsort(parts, n_parts, sizeof(*parts), cmp_part);
	for (size_t i = 0; i < n_parts;) {
		size_t j = i + 1;

		while (j < n_parts && same_record(&parts[j - 1], &parts[j]))
			j++;
		groups[n_groups++] = (struct group){.from = i, .to = j, .first = &parts[i]};
		i = j;
	}
	if (n_groups > 1)
		qsort(groups, n_groups, sizeof(*groups), cmp_group);
	for (size_t g = 0; g < n_groups; g++) {
		r = make_record(parts, groups[g].from, groups[g].to,
		                &log->records[log->n_records++]);
		if (r < 0)
			goto out; /* the half-made record is freed with the log */
	}
	r = name_records(log, groups);
	if (r < 0)
		goto out;

	if (save_dir) {
		int dir_r = mkdir_p(save_dir, 0700);

		if (dir_r < 0)
			log_debug_errno(dir_r, "pstore: cannot create %s: %m", save_dir);
		for (size_t i = 0; i < log->n_records; i++) {
			if (dir_r < 0)
				log->records[i].save_error = dir_r;
			else
				save_record(&log->records[i], save_dir);
		}
	}
	if (erase)
		(void)pstore_erase(log);

	r = (int)log->n_records;
	*ret = TAKE_PTR(log);
out:
	for (size_t i = 0; i < n_parts; i++)
		free(parts[i].data);
	candidates_free(s.c, s.n);
	return r;
}
