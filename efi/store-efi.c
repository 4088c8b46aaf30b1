/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * EFI variable backend over libefivar 37. libefivar returns -1 + errno;
 * converted to -errno here and nowhere else.
 */
#include <efivar/efivar.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "store.h"

static int lifeline_guid(efi_guid_t *ret)
{
	return efi_str_to_guid(LIFELINE_GUID_STR, ret) < 0 ? -EINVAL : 0;
}

static const char *efivars_dir(void)
{
	const char *p = getenv("EFIVARFS_PATH");

	return p && *p ? p : "/sys/firmware/efi/efivars/";
}

bool store_efi_available(char **ret_reason)
{
	const char *why = NULL;

	/* Under libefivar's "default" backend efi_set_variable() crashes on
	 * a NULL ops pointer (docs/platform.md): never call it unless this
	 * says yes. */
	if (!efi_variables_supported())
		why = "EFI variables are not available (no efivarfs mounted, or not booted with "
		      "UEFI)";
	else if (access(efivars_dir(), W_OK) < 0)
		why = errno == EROFS ? "efivarfs is mounted read-only" : "efivarfs is not writable";
	if (!why)
		return true;
	if (ret_reason)
		*ret_reason = strdup(why);
	return false;
}

int store_efi_read(uint8_t **ret_data, size_t *ret_size, uint32_t *ret_attrs)
{
	efi_guid_t guid;
	uint8_t *data = NULL;
	size_t size = 0;
	uint32_t attrs = 0;
	int r, tries = 0;

	r = lifeline_guid(&guid);
	if (r < 0)
		return r;
	/* efivarfs rate-limits reads by non-root users and may fail with
	 * EINTR: retry a few times, as systemd's efivars.c does. */
	do {
		r = efi_get_variable(guid, LIFELINE_VAR_NAME, &data, &size, &attrs);
		if (r >= 0)
			break;
		r = negative_errno();
	} while ((r == -EINTR || r == -EAGAIN) && ++tries < 5);
	if (r < 0)
		return r;
	/* Refuse anything absurdly large before anyone parses it. */
	if (size > 4096) {
		free(data);
		return STATE_E_SIZE;
	}
	*ret_data = data;
	*ret_size = size;
	*ret_attrs = attrs;
	return 0;
}

int store_efi_write(const uint8_t *data, size_t size)
{
	efi_guid_t guid;
	int r;

	r = lifeline_guid(&guid);
	if (r < 0)
		return r;
	/* libefivar writes attributes + data in one write() (efivarfs needs
	 * that) and clears and restores FS_IMMUTABLE_FL around it. */
	if (efi_set_variable(guid, LIFELINE_VAR_NAME, (uint8_t *)(uintptr_t)data, size,
	                     LIFELINE_VAR_ATTRS, 0600) < 0)
		return negative_errno();
	return 0;
}

int store_efi_delete(void)
{
	efi_guid_t guid;
	int r;

	r = lifeline_guid(&guid);
	if (r < 0)
		return r;
	if (efi_del_variable(guid, LIFELINE_VAR_NAME) < 0) {
		r = negative_errno();
		return r == -ENOENT ? 0 : r;
	}
	return 0;
}
