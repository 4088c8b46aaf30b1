/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file store's disk before udev (agent/boot/store-devices.h), on a
 * sysfs tree made in a directory: which devices' drivers lifeline-early
 * loads (storage only), in which order (a controller, then the disks that
 * appear on it), and when the wait ends (the store opens; no new block
 * device for the settle time; the bound). The "load" here does what the
 * kernel does when a driver binds: the next devices appear in the tree.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/boot/store-devices.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "tests/util/testutil.h"

static char sys[4096];

struct fake {
	char **loaded;            /* every alias loaded, in order */
	unsigned loads;           /* load() calls */
	unsigned long long clock; /* ms */
	bool store_on_vda1;       /* try_open succeeds once class/block/vda1 exists */
	bool endless;             /* every load makes one more block device appear */
	unsigned tries;
};

static void put(const char *rel, const char *text)
{
	char p[512];

	snprintf(p, sizeof(p), "/%s", rel);
	tu_put(sys, p, text, 0644);
}

/* A virtio-blk disk behind its PCI function, a NIC on both buses, and a
 * SATA controller with a disk and a CD-ROM. */
static void machine(void)
{
	put("bus/pci/devices/0000:00:04.0/class", "0x010000\n");
	put("bus/pci/devices/0000:00:04.0/modalias",
	    "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\n");
	put("bus/pci/devices/0000:00:03.0/class", "0x020000\n");
	put("bus/pci/devices/0000:00:03.0/modalias",
	    "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n");
	put("bus/pci/devices/0000:00:1f.2/class", "0x010601\n");
	put("bus/pci/devices/0000:00:1f.2/modalias",
	    "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01\n");
	put("bus/pci/devices/0000:00:02.0/class", "0x030000\n"); /* VGA, no modalias needed */
	put("class/block/.keep", "");
}

static void load(char **aliases, void *userdata)
{
	struct fake *f = userdata;

	f->loads++;
	STRV_FOREACH (a, aliases) {
		assert_int_equal(strv_extend(&f->loaded, *a), 0);
		/* the kernel binds the driver: the devices behind appear */
		if (strstr(*a, "d00001001")) { /* virtio_pci for the virtio-blk function */
			put("bus/virtio/devices/virtio1/device", "0x0002\n");
			put("bus/virtio/devices/virtio1/modalias", "virtio:d00000002v00001AF4\n");
		}
		if (strstr(*a, "d00001000")) /* the NIC: must never be loaded */
			fail_msg("the network card's driver was loaded: %s", *a);
		if (streq(*a, "virtio:d00000002v00001AF4")) {
			put("class/block/vda", "");
			put("class/block/vda1", "");
		}
		if (strstr(*a, "d00002922")) { /* ahci: the SCSI devices on it */
			put("bus/scsi/devices/host0/.keep", "");
			put("bus/scsi/devices/target0:0:0/.keep", "");
			put("bus/scsi/devices/0:0:0:0/type", "0\n");
			put("bus/scsi/devices/0:0:0:0/modalias", "scsi:t-0x00\n");
			put("bus/scsi/devices/1:0:0:0/type", "5\n");
			put("bus/scsi/devices/1:0:0:0/modalias", "scsi:t-0x05\n");
		}
		if (streq(*a, "scsi:t-0x00"))
			put("class/block/sda", "");
	}
	if (f->endless) {
		char rel[64];

		snprintf(rel, sizeof(rel), "class/block/loop%u", f->loads);
		put(rel, "");
		/* and a new controller, so that the next round loads again */
		snprintf(rel, sizeof(rel), "bus/pci/devices/0000:01:%02x.0/class", f->loads);
		put(rel, "0x010802\n");
		snprintf(rel, sizeof(rel), "bus/pci/devices/0000:01:%02x.0/modalias", f->loads);
		{
			char alias[64];

			snprintf(alias, sizeof(alias), "pci:v0000144Dd0000A80%u", f->loads);
			put(rel, alias);
		}
	}
}

static int try_open(void *userdata)
{
	struct fake *f = userdata;

	f->tries++;
	return f->store_on_vda1 && tu_exists(sys, "/class/block/vda1") ? 0 : -ENODEV;
}

static void sleep_ms(unsigned ms, void *userdata)
{
	((struct fake *)userdata)->clock += ms;
}

static unsigned long long now_ms(void *userdata)
{
	return ((struct fake *)userdata)->clock;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(tu_mkdtemp(sys, sizeof(sys), "sysfs"), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(sys);
	return 0;
}

#define OPS(f)                                                                              \
	{                                                                                   \
		.load = load, .try_open = try_open, .sleep_ms = sleep_ms, .now_ms = now_ms, \
		.userdata = &(f)                                                            \
	}

static void test_only_storage_devices_give_aliases(void **state)
{
	_cleanup_strv_free_ char **a = NULL;

	(void)state;
	machine();
	put("bus/virtio/devices/virtio0/device", "0x0001\n"); /* virtio-net */
	put("bus/virtio/devices/virtio0/modalias", "virtio:d00000001v00001AF4\n");
	put("bus/virtio/devices/virtio1/device", "0x0002\n");
	put("bus/virtio/devices/virtio1/modalias", "virtio:d00000002v00001AF4\n");
	put("bus/scsi/devices/0:0:0:0/type", "0\n");
	put("bus/scsi/devices/0:0:0:0/modalias", "scsi:t-0x00\n");
	put("bus/scsi/devices/1:0:0:0/type", "5\n"); /* CD-ROM */
	put("bus/scsi/devices/1:0:0:0/modalias", "scsi:t-0x05\n");
	put("bus/scsi/devices/2:0:0:0/type", "14\n"); /* RBC disk */
	put("bus/scsi/devices/2:0:0:0/modalias", "scsi:t-0x0e\n");
	put("bus/pci/devices/0000:00:05.0/class", "0x01\n"); /* malformed: skipped */
	put("bus/pci/devices/0000:00:05.0/modalias", "pci:bad\n");
	put("bus/pci/devices/0000:00:06.0/class", "0x010802\n"); /* no modalias: skipped */

	assert_int_equal(store_devices_aliases(sys, &a), 5);
	assert_true(strv_contains(a, "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"));
	assert_true(strv_contains(a, "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01"));
	assert_true(strv_contains(a, "virtio:d00000002v00001AF4"));
	assert_true(strv_contains(a, "scsi:t-0x00"));
	assert_true(strv_contains(a, "scsi:t-0x0e"));
	assert_false(strv_contains(a, "virtio:d00000001v00001AF4"));
	assert_false(strv_contains(a, "scsi:t-0x05"));
	assert_false(strv_contains(a, "pci:bad"));
	/* twice: nothing new */
	assert_int_equal(store_devices_aliases(sys, &a), 0);
	assert_int_equal(strv_length(a), 5);
}

static void test_controller_then_disk_then_the_store_opens(void **state)
{
	struct fake f = {.store_on_vda1 = true};
	struct store_devices_ops ops = OPS(f);
	unsigned loaded = 0;

	(void)state;
	machine();
	assert_int_equal(store_devices_wait(sys, &ops, 100, 3000, 30000, &loaded), 0);
	/* round 1: the two controllers; round 2: the disks that appeared */
	assert_true(strv_contains(f.loaded, "virtio:d00000002v00001AF4"));
	assert_true(strv_contains(f.loaded, "scsi:t-0x00"));
	assert_false(strv_contains(f.loaded, "scsi:t-0x05"));
	assert_int_equal(f.loads, 2);
	assert_int_equal(loaded, 4);
	assert_int_equal(f.tries, 2);
	assert_true(f.clock < 1000);
	strv_free(f.loaded);
}

static void test_no_store_partition_ends_when_the_disks_settle(void **state)
{
	struct fake f = {.store_on_vda1 = false};
	struct store_devices_ops ops = OPS(f);

	(void)state;
	machine();
	assert_int_equal(store_devices_wait(sys, &ops, 100, 3000, 30000, NULL), -ENODEV);
	/* the devices stopped changing after the second round: ~3 s, not 30 */
	assert_true(f.clock >= 3000);
	assert_true(f.clock < 4000);
	strv_free(f.loaded);
}

static void test_no_storage_at_all_ends_at_the_settle_time(void **state)
{
	struct fake f = {.store_on_vda1 = true};
	struct store_devices_ops ops = OPS(f);

	(void)state;
	put("class/block/.keep", "");
	assert_int_equal(store_devices_wait(sys, &ops, 100, 3000, 30000, NULL), -ENODEV);
	assert_int_equal(f.loads, 0);
	assert_true(f.clock >= 3000 && f.clock < 3200);
}

static void test_devices_that_never_settle_are_bounded(void **state)
{
	struct fake f = {.store_on_vda1 = false, .endless = true};
	struct store_devices_ops ops = OPS(f);

	(void)state;
	machine();
	assert_int_equal(store_devices_wait(sys, &ops, 100, 3000, 30000, NULL), -ENODEV);
	assert_true(f.clock >= 30000 && f.clock < 30200);
	strv_free(f.loaded);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_only_storage_devices_give_aliases, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_controller_then_disk_then_the_store_opens, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_store_partition_ends_when_the_disks_settle,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_storage_at_all_ends_at_the_settle_time, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_devices_that_never_settle_are_bounded, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
