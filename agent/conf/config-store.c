/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config_open_store() (config.h), apart from config.c so that a program
 * that only reads lifeline.conf (lifelined, the generator) does not link
 * efi/'s stores and with them libefivar and libblkid: the static archive
 * pulls an object only when a program references one of its symbols.
 */
#include "agent/conf/config.h"
#include "efi/store.h"

int config_open_store(const struct lifeline_config *c, struct store **ret, char **ret_reason)
{
	enum store_pref p = c->store == CONFIG_STORE_EFI    ? STORE_PREF_EFI
	                    : c->store == CONFIG_STORE_FILE ? STORE_PREF_FILE
	                                                    : STORE_PREF_AUTO;

	return store_open(p, c->state_file, ret, ret_reason);
}
