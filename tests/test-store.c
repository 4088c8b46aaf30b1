/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The stores against real parts: libefivar on a directory through its own
 * EFIVARFS_PATH (set by tests/run-unit.sh before the process starts), and
 * the file store on a temp dir.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

static char var_path[4096];

static int setup(void **state)
{
	const char *dir = getenv("EFIVARFS_PATH");

	(void)state;
	if (!dir) {
		fprintf(stderr, "EFIVARFS_PATH must be set (tests/run-unit.sh does)\n");
		return -1;
	}
	snprintf(var_path, sizeof(var_path), "%s%s-%s", dir, LIFELINE_VAR_NAME, LIFELINE_GUID_STR);
	return 0;
}

static int reset_var(void **state)
{
	(void)state;
	/* a plain directory does not truncate on set: start from nothing */
	tu_var_reset(var_path);
	return 0;
}

static struct store *open_efi(void)
{
	struct store *s = NULL;

	assert_int_equal(store_open(STORE_PREF_EFI, NULL, &s, NULL), 0);
	assert_int_equal(s->kind, STORE_KIND_EFI);
	return s;
}

static void test_absent_variable_is_enoent(void **state)
{
	struct store *s = open_efi();
	struct state_record r;

	(void)state;
	assert_int_equal(store_load(s, &r), -ENOENT);
	store_free(s);
}

static void test_save_writes_attrs_and_record_in_variable_file(void **state)
{
	struct store *s = open_efi();
	struct state_record r, back;
	char *data = NULL;
	size_t size = 0;

	(void)state;
	state_record_init(&r);
	r.boot_seq = 5;
	r.failures = 2;
	assert_int_equal(store_save(s, &r), 1);

	/* real-format efivarfs file: 4-byte LE attributes + data */
	assert_int_equal(read_full_file(var_path, 4096, &data, &size), 0);
	assert_int_equal(size, 4 + STATE_RECORD_SIZE);
	assert_int_equal((uint8_t)data[0], LIFELINE_VAR_ATTRS);
	assert_memory_equal(data + 4, "LFLS", 4);
	free(data);

	store_free(s);
	s = open_efi();
	assert_int_equal(store_load(s, &back), 0);
	assert_int_equal(back.boot_seq, 5);
	assert_int_equal(back.failures, 2);
	store_free(s);
}

static void test_unchanged_record_is_not_rewritten(void **state)
{
	struct store *s = open_efi();
	struct state_record r;
	struct stat st1, st2;

	(void)state;
	state_record_init(&r);
	r.boot_seq = 1;
	assert_int_equal(store_save(s, &r), 1);
	assert_int_equal(stat(var_path, &st1), 0);
	assert_int_equal(store_save(s, &r), 0);
	assert_int_equal(s->n_writes, 1);
	store_free(s);

	/* a fresh handle that loaded the record also skips the same write */
	s = open_efi();
	assert_int_equal(store_load(s, &r), 0);
	assert_int_equal(store_save(s, &r), 0);
	assert_int_equal(s->n_writes, 0);
	r.failures++;
	assert_int_equal(store_save(s, &r), 1);
	assert_int_equal(stat(var_path, &st2), 0);
	assert_int_equal(s->n_writes, 1);
	store_free(s);
}

static void write_raw_var(uint32_t attrs, const void *data, size_t size)
{
	uint8_t buf[4096];

	memcpy(buf, &attrs, 4);
	memcpy(buf + 4, data, size);
	reset_var(NULL);
	int fd = open(var_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, 4 + size), (ssize_t)(4 + size));
	close(fd);
}

static void test_wrong_attributes_are_rejected(void **state)
{
	struct state_record r;
	uint8_t buf[STATE_RECORD_SIZE];
	struct store *s;

	(void)state;
	state_record_init(&r);
	assert_int_equal(state_record_encode(&r, buf), 0);
	write_raw_var(0x6 /* no NV: would vanish at power-off */, buf, sizeof(buf));
	s = open_efi();
	assert_int_equal(store_load(s, &r), -EBADE);
	store_free(s);
}

static void test_corrupt_and_truncated_variables_give_distinct_errors(void **state)
{
	struct state_record r;
	uint8_t buf[STATE_RECORD_SIZE];
	struct store *s;

	(void)state;
	state_record_init(&r);
	assert_int_equal(state_record_encode(&r, buf), 0);

	buf[100] ^= 0xff;
	write_raw_var(LIFELINE_VAR_ATTRS, buf, sizeof(buf));
	s = open_efi();
	assert_int_equal(store_load(s, &r), STATE_E_CHECKSUM);
	store_free(s);

	buf[100] ^= 0xff;
	write_raw_var(LIFELINE_VAR_ATTRS, buf, 77);
	s = open_efi();
	assert_int_equal(store_load(s, &r), STATE_E_SIZE);
	store_free(s);

	write_raw_var(LIFELINE_VAR_ATTRS, "garbage!garbage!", 16);
	s = open_efi();
	assert_int_equal(store_load(s, &r), STATE_E_MAGIC);
	store_free(s);
}

/* Real efivarfs makes our variable immutable (docs/platform.md); a write
 * must clear and restore the flag. Runs where the test filesystem supports
 * the flag and we have CAP_LINUX_IMMUTABLE. */
static void test_write_works_through_immutable_flag(void **state)
{
	struct state_record r, back;
	struct store *s = open_efi();
	int fd, flags;

	(void)state;
	state_record_init(&r);
	assert_int_equal(store_save(s, &r), 1);
	store_free(s);

	fd = open(var_path, O_RDONLY);
	assert_true(fd >= 0);
	flags = FS_IMMUTABLE_FL;
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0) {
		close(fd);
		skip();
	}
	close(fd);
	assert_true(open(var_path, O_WRONLY) < 0); /* really immutable now */

	s = open_efi();
	r.failures = 3;
	assert_int_equal(store_save(s, &r), 1);
	store_free(s);

	fd = open(var_path, O_RDONLY);
	assert_true(fd >= 0);
	flags = 0;
	assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
	close(fd);
	assert_true(flags & FS_IMMUTABLE_FL); /* restored */

	s = open_efi();
	assert_int_equal(store_load(s, &back), 0);
	assert_int_equal(back.failures, 3);
	store_free(s);
}

static void test_delete_removes_variable(void **state)
{
	struct state_record r;
	struct store *s = open_efi();

	(void)state;
	state_record_init(&r);
	assert_int_equal(store_save(s, &r), 1);
	assert_int_equal(store_delete(s), 0);
	assert_int_equal(access(var_path, F_OK), -1);
	assert_int_equal(store_load(s, &r), -ENOENT);
	assert_int_equal(store_delete(s), 0); /* idempotent */
	store_free(s);
}

static void test_file_store_roundtrip_and_minimal_writes(void **state)
{
	char dir[] = "/tmp/lifeline-store-XXXXXX", path[4200];
	struct state_record r, back;
	struct store *s = NULL;
	char *data = NULL;
	size_t size;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/lifeline/state.bin", dir);
	assert_int_equal(store_open(STORE_PREF_FILE, path, &s, NULL), 0);
	assert_int_equal(s->kind, STORE_KIND_FILE);
	assert_int_equal(store_load(s, &r), -ENOENT);
	state_record_init(&r);
	r.boot_seq = 9;
	assert_int_equal(store_save(s, &r), 1);
	assert_int_equal(store_save(s, &r), 0);
	assert_int_equal(read_full_file(path, 4096, &data, &size), 0);
	assert_int_equal(size, STATE_RECORD_SIZE);
	free(data);
	store_free(s);

	assert_int_equal(store_open(STORE_PREF_FILE, path, &s, NULL), 0);
	assert_int_equal(store_load(s, &back), 0);
	assert_int_equal(back.boot_seq, 9);

	/* an oversized file is refused before decoding */
	char big[5000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(write_file_atomic(path, big, sizeof(big), 0600), 0);
	assert_int_equal(store_load(s, &back), STATE_E_SIZE);
	store_free(s);

	char cmd[4300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_auto_prefers_efi_when_writable(void **state)
{
	struct store *s = NULL;
	char *why = NULL;

	(void)state;
	assert_int_equal(store_open(STORE_PREF_AUTO, "/nonexistent/x", &s, &why), 0);
	assert_int_equal(s->kind, STORE_KIND_EFI);
	assert_null(why);
	store_free(s);
}

/* NVRAM full: efivarfs answers ENOSPC. Modelled by mounting a tiny, full
 * tmpfs over the EFIVARFS_PATH directory in a private mount namespace
 * (needs root; skipped otherwise). The error must reach the caller and
 * the old record must stay readable. */
static void test_nvram_full_is_reported_as_enospc(void **state)
{
	const char *dir = getenv("EFIVARFS_PATH");
	struct state_record r, back;
	struct store *s;
	char fill[4096];
	int fd;

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0)
		skip();
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	assert_int_equal(mount("tmpfs", dir, "tmpfs", 0, "size=8k"), 0);

	s = open_efi();
	state_record_init(&r);
	r.boot_seq = 1;
	assert_int_equal(store_save(s, &r), 1);

	/* efivarfs needs new space for a new value: remove the record, then
	 * fill the store */
	reset_var(NULL);
	snprintf(fill, sizeof(fill), "%s/filler", dir);
	fd = open(fill, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	memset(fill, 'x', sizeof(fill));
	while (write(fd, fill, sizeof(fill)) > 0)
		;
	close(fd);

	r.boot_seq = 2;
	assert_int_equal(store_save(s, &r), -ENOSPC);
	assert_int_equal(s->n_writes, 1);
	store_free(s);
	(void)back;
	assert_int_equal(umount(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_absent_variable_is_enoent, reset_var),
	    cmocka_unit_test_setup(test_save_writes_attrs_and_record_in_variable_file, reset_var),
	    cmocka_unit_test_setup(test_unchanged_record_is_not_rewritten, reset_var),
	    cmocka_unit_test_setup(test_wrong_attributes_are_rejected, reset_var),
	    cmocka_unit_test_setup(test_corrupt_and_truncated_variables_give_distinct_errors,
	                           reset_var),
	    cmocka_unit_test_setup(test_write_works_through_immutable_flag, reset_var),
	    cmocka_unit_test_setup(test_delete_removes_variable, reset_var),
	    cmocka_unit_test(test_file_store_roundtrip_and_minimal_writes),
	    cmocka_unit_test(test_auto_prefers_efi_when_writable),
	    cmocka_unit_test_setup(test_nvram_full_is_reported_as_enospc, reset_var),
	};
	return cmocka_run_group_tests(tests, setup, reset_var);
}
