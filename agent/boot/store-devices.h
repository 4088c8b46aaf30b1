/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file store's disk, in the initramfs, before udev.
 *
 * A machine without EFI variables (legacy BIOS, many hypervisors'
 * default) keeps the state record in the file store: a partition
 * (PARTLABEL lifeline-state, else the EFI system partition; efi/store.h).
 * lifeline-early counts the boot before udev loads any driver, so that a
 * module udev loads and that crashes the machine is counted too; but then
 * the disk holding that partition does not exist yet: its controller's
 * driver is a module udev has not loaded. Without the steps below such a
 * machine is never counted, boot after boot.
 *
 * So lifeline-early loads the storage drivers itself, exactly the ones
 * udev would load a moment later for the same devices, by the same
 * modaliases: PCI mass-storage controllers (class 0x01: SATA/AHCI, NVMe,
 * SCSI HBAs, virtio-blk's PCI function), then the block devices that
 * appear on them (virtio block devices, SCSI disks). Nothing else: no
 * network, no USB, no vendor module that is not a storage driver. Each
 * alias is loaded once (modprobe -q -b: the machine's blacklists apply).
 * The wait ends as soon as the store opens, or when no new block device
 * has appeared for a while (the machine has no file store partition: the
 * boot goes on, uncounted, as before), and always within a bound.
 */
#pragma once

#include <stdbool.h>

/* The modaliases of the storage devices under sysfs (normally "/sys"):
 * PCI devices of class 0x01xxxx, virtio devices of device id 2 (block),
 * SCSI devices of type 0 (disk) or 0xe (reduced-command disk). Added to
 * *aliases when not in it yet. Returns how many were added, or a
 * negative errno (-ENOMEM). Unreadable entries are skipped. */
int store_devices_aliases(const char *sysfs, char ***aliases);

/* How many block devices sysfs lists (class/block), or 0. */
unsigned store_devices_count_block(const char *sysfs);

struct store_devices_ops {
	/* Loads the modules for these aliases (NULL-terminated). Real
	 * system: store_devices_modprobe(). */
	void (*load)(char **aliases, void *userdata);
	/* Tries to open the store: 0 opened (the wait ends), <0 not yet. */
	int (*try_open)(void *userdata);
	/* Sleeps ms milliseconds (tests: advance a clock). */
	void (*sleep_ms)(unsigned ms, void *userdata);
	/* Monotonic milliseconds. */
	unsigned long long (*now_ms)(void *userdata);
	void *userdata;
};

/* The wait: load the storage drivers of what sysfs shows, try to open the
 * store, and again as new devices appear, every poll_ms; give up when
 * the number of block devices has not changed for settle_ms (after the
 * first load) or after timeout_ms in all. Returns 0 when try_open()
 * succeeded, else the last try_open() error. *ret_loaded (may be NULL)
 * gets how many aliases were loaded. */
int store_devices_wait(const char *sysfs, const struct store_devices_ops *ops, unsigned poll_ms,
                       unsigned settle_ms, unsigned timeout_ms, unsigned *ret_loaded);

/* store_devices_ops.load on a real system: modprobe -q -b -a ALIAS...,
 * waited for at most STORE_DEVICES_MODPROBE_WAIT_S seconds (a slow probe,
 * a SCSI bus scan, goes on by itself after that), so that the whole wait
 * is bounded by its timeout plus this. */
#define STORE_DEVICES_MODPROBE_WAIT_S 10
void store_devices_modprobe(char **aliases, void *userdata);
