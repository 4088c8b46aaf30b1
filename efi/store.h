/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the state record lives: a UEFI variable (libefivar) or, on
 * machines without writable EFI variables, a file on a small partition
 * (PARTLABEL=lifeline-state, else the ESP). Both behind one interface,
 * as fwupd hides its EFI backends.
 *
 * Writes are minimal: store_save() skips a record identical to the one
 * last read or written (each NVRAM write costs flash wear and, under a
 * crash loop, NVRAM space: docs/platform.md).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "state-record.h"

#define LIFELINE_GUID_STR "77117627-ad6b-4cc0-8022-2661bb477dc2"
#define LIFELINE_VAR_NAME "LifelineState"
/* EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS */
#define LIFELINE_VAR_ATTRS 0x7u
#define STORE_FILE_RELPATH "lifeline/state.bin"

enum store_kind {
	STORE_KIND_EFI,
	STORE_KIND_FILE,
};

enum store_pref {
	STORE_PREF_AUTO,
	STORE_PREF_EFI,
	STORE_PREF_FILE,
};

struct store {
	enum store_kind kind;
	char *file_path;   /* file store: the record file */
	char *mounted_dir; /* file store: a mount we made (unmounted on free) */
	uint8_t last[STATE_RECORD_SIZE];
	bool have_last;
	unsigned n_writes; /* writes made through this handle (for tests, bench) */
};

/* Open the preferred store. file_path: explicit record file for the file
 * store (NULL: find the partition with libblkid and mount it if needed).
 * On auto fallback *ret_reason (if given) gets a malloc'd sentence saying
 * why the EFI store was not used. */
int store_open(enum store_pref pref, const char *file_path, struct store **ret, char **ret_reason);
struct store *store_free(struct store *s);

/* -ENOENT when there is no record yet; STATE_E_* when it cannot be
 * trusted; -EBADE for wrong variable attributes. */
int store_load(struct store *s, struct state_record *ret);

/* The raw bytes of the record as stored (for forensics when it does not
 * decode or cannot be trusted); -ENOENT when there is none. */
int store_read_raw(struct store *s, uint8_t **ret_data, size_t *ret_size);

/* Returns 1 when written, 0 when skipped because nothing changed. */
int store_save(struct store *s, const struct state_record *r);

/* Forget the record (used by `lifelinectl reset` on a corrupt record). */
int store_delete(struct store *s);

const char *store_kind_to_string(enum store_kind k);

/* EFI backend (store-efi.c) */
bool store_efi_available(char **ret_reason);
int store_efi_read(uint8_t **ret_data, size_t *ret_size, uint32_t *ret_attrs);
int store_efi_write(const uint8_t *data, size_t size);
int store_efi_delete(void);

/* File backend (store-file.c) */
int store_file_locate(char **ret_path, char **ret_mounted_dir);
int store_file_read(const char *path, uint8_t **ret_data, size_t *ret_size);
int store_file_write(const char *path, const uint8_t *data, size_t size);
