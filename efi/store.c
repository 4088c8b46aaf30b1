/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store interface (store.h): pick the EFI variable or the file store,
 * load, save only what changed, delete, read the raw bytes for forensics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common/log.h"
#include "common/macro.h"
#include "store.h"

const char *store_kind_to_string(enum store_kind k)
{
	return k == STORE_KIND_EFI ? "efi" : "file";
}

struct store *store_free(struct store *s)
{
	if (!s)
		return NULL;
	if (s->mounted_dir) {
		if (umount(s->mounted_dir) < 0)
			log_debug_errno(errno, "Failed to unmount %s: %m", s->mounted_dir);
		free(s->mounted_dir);
	}
	free(s->file_path);
	free(s);
	return NULL;
}

static int open_file_store(const char *file_path, struct store *s)
{
	if (file_path && *file_path) {
		s->file_path = strdup(file_path);
		return s->file_path ? 0 : -ENOMEM;
	}
	return store_file_locate(&s->file_path, &s->mounted_dir);
}

int store_open(enum store_pref pref, const char *file_path, struct store **ret, char **ret_reason)
{
	_cleanup_free_ char *why = NULL;
	struct store *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;

	if (pref != STORE_PREF_FILE) {
		if (store_efi_available(&why)) {
			s->kind = STORE_KIND_EFI;
			*ret = s;
			return 0;
		}
		if (pref == STORE_PREF_EFI) {
			log_debug("EFI store unavailable: %s", strempty(why));
			store_free(s);
			return -EOPNOTSUPP;
		}
	}

	s->kind = STORE_KIND_FILE;
	r = open_file_store(file_path, s);
	if (r < 0) {
		store_free(s);
		return r;
	}
	if (ret_reason)
		*ret_reason = TAKE_PTR(why);
	*ret = s;
	return 0;
}

int store_load(struct store *s, struct state_record *ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct state_record rec;
	uint32_t attrs = LIFELINE_VAR_ATTRS;
	size_t size = 0;
	int r;

	if (s->kind == STORE_KIND_EFI)
		r = store_efi_read(&data, &size, &attrs);
	else
		r = store_file_read(s->file_path, &data, &size);
	if (r < 0)
		return r;

	r = state_record_decode(data, size, &rec);
	if (r < 0)
		return r;
	/* A record without NV would vanish at power-off; without RT we could
	 * not have read it. Either way it is not one we wrote. */
	if (attrs != LIFELINE_VAR_ATTRS)
		return -EBADE;

	memcpy(s->last, data, STATE_RECORD_SIZE);
	s->have_last = true;
	*ret = rec;
	return 0;
}

int store_read_raw(struct store *s, uint8_t **ret_data, size_t *ret_size)
{
	uint32_t attrs;

	if (s->kind == STORE_KIND_EFI)
		return store_efi_read(ret_data, ret_size, &attrs);
	return store_file_read(s->file_path, ret_data, ret_size);
}

int store_save(struct store *s, const struct state_record *rec)
{
	uint8_t buf[STATE_RECORD_SIZE];
	int r;

	r = state_record_encode(rec, buf);
	if (r < 0)
		return r;
	if (s->have_last && memcmp(buf, s->last, sizeof(buf)) == 0)
		return 0;

	if (s->kind == STORE_KIND_EFI)
		r = store_efi_write(buf, sizeof(buf));
	else
		r = store_file_write(s->file_path, buf, sizeof(buf));
	if (r < 0)
		return r;

	s->n_writes++;
	memcpy(s->last, buf, sizeof(buf));
	s->have_last = true;
	return 1;
}

int store_delete(struct store *s)
{
	int r;

	if (s->kind == STORE_KIND_EFI)
		r = store_efi_delete();
	else
		r = unlink(s->file_path) < 0 && errno != ENOENT ? -errno : 0;
	if (r >= 0)
		s->have_last = false;
	return r;
}
