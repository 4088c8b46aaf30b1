#!/usr/bin/env python3
"""A machine without EFI (legacy BIOS: SeaBIOS, QEMU's default firmware,
booting the kernel directly): no EFI variables, no efi-pstore. The state
record is in the file store, on the disk's FAT partition, which
lifeline-early must reach from the initramfs before udev has loaded the
disk's driver (agent/boot/store-devices.h). Threshold 2:

  boot 1     no /sys/firmware/efi; lifeline-early (before udev) loaded the storage
             drivers itself, found the file store and counted the boot;
             status: store file, this boot counted; check: counting ok;
             blessed (the last good inventory)
  boots 2-3  a bad content update: each panics in badsec, each counted
             (1, then 2 consecutive failures) from the initramfs
  boot 4     failure 3 > threshold 2 (threshold+1 boots of the loop):
             safe mode, level 1, by what changed since the last good boot
             (no panic log without EFI): BadSec's content rolled back or
             BadSec quarantined; the boot stays up past stable_after
  boot 5     negative control: `state_file` set to a path on the ESP's
             mount point, which the initramfs does not mount, the image
             rebuilt: lifeline-early refuses it (a file in memory would
             count every boot as the first), status says "Counting: OFF"
             with the reason and the record still says boot 4, check
             exits 1 naming it, no watchdog armed

    seabios.py [--work DIR]
"""

import os
import shutil
import sys

from scenario import build_guest, check, lines_with, main, module_loaded, say, status, wait_last_good, \
    wait_survived
from vmlib import VM

WATCHDOG = 120
THRESHOLD = 2


def counted_boot(vm, boot, failures):
    """Boot BOOT was counted from the initramfs, in the file store."""
    text = vm.boot_text(boot)
    counted = lines_with(text, "lifeline: boot %d:" % boot)
    check(bool(counted) and ("%d consecutive failed" % failures) in counted[0],
          "boot %d counted by lifeline-early (%d consecutive failed, this one included)" % (boot, failures),
          counted[0] if counted else "no lifeline line", vm, boot)
    # counted before udev starts (initramfs-tools' init-premount), so a
    # module udev loads cannot crash the machine before its boot counts
    at, udev = text.find("lifeline: boot %d:" % boot), text.find("Starting systemd-udevd")
    check(at >= 0 and udev >= 0 and at < udev, "boot %d counted before udev started" % boot,
          "count at offset %d, udev at %d" % (at, udev), vm, boot)
    lost = lines_with(text, "No state store")
    check(not lost, "boot %d: no 'No state store' line" % boot, lost[0] if lost else "none", vm, boot)


def crash_boot(vm, boot, failures):
    vm.wait_serial(r"Kernel panic - not syncing", boot, timeout=400)
    rip = lines_with(vm.boot_text(boot), "RIP: 0010:badsec")
    check(bool(rip), "boot %d crashed in badsec" % boot, rip[0] if rip else "no RIP line", vm, boot)
    counted_boot(vm, boot, failures)
    vm.wait_boot(boot + 1, timeout=400)


def scenario(work, demo):
    disk, key = build_guest(work, watchdog=WATCHDOG, threshold=THRESHOLD, store="auto")
    info = {}
    with open(disk + ".info") as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            info[k] = v.strip("'")
    root = os.path.join(work, "base", "root")
    kernel = os.path.join(work, "vmlinuz")
    initrd = os.path.join(work, "initrd.img")
    shutil.copy(os.path.join(root, "boot", "vmlinuz-" + info["KVER"]), kernel)
    shutil.copy(os.path.join(root, "boot", "initrd.img-" + info["KVER"]), initrd)
    vm = VM(disk=disk, workdir=work, ssh_key=key, name="seabios",
            bios_kernel=(kernel, initrd, info["CMDLINE"]))
    with vm:
        say("boot 1: SeaBIOS, no EFI: the record must be in the file store, found from the initramfs")
        vm.start()
        vm.wait_ssh(1, timeout=400)
        efi = vm.ssh("test -d /sys/firmware/efi && echo efi || echo no-efi").stdout.strip()
        check(efi == "no-efi", "a machine without EFI (no /sys/firmware/efi)", efi, vm, 1)
        text = vm.boot_text(1)
        found = lines_with(text, "file store found after")
        check(bool(found), "lifeline-early loaded the storage drivers and found the file store",
              found[0] if found else "no such line", vm, 1)
        counted_boot(vm, 1, 1)
        st = status(vm)
        check(st["store"] == "file" and st.get("this_boot_counted") is True and st["boot_seq"] == 1,
              "status: file store, this boot counted, boot #1",
              "store=%s this_boot_counted=%s boot_seq=%s" % (st["store"], st.get("this_boot_counted"),
                                                             st["boot_seq"]), vm, 1)
        chk = vm.ssh("lifelinectl check | grep '^counting'", check=False).stdout.strip()
        check(chk.split()[1:2] == ["ok"], "lifelinectl check: counting ok", chk, vm, 1)
        check(module_loaded(vm, "badsec"), "badsec.ko loaded in boot 1", "in /proc/modules", vm, 1)
        wait_last_good(vm, 1)
        wait_survived(vm, 1)

        say("a bad content update (channel-291: CRASH); the machine reboots")
        vm.ssh("/opt/badsec/bin/badsec-update crash && sync")
        vm.reboot()
        crash_boot(vm, 2, 1)
        crash_boot(vm, 3, 2)

        say("boot 4: failure 3 > threshold %d: safe mode by what changed since the last good boot"
            % THRESHOLD)
        vm.wait_ssh(4, timeout=400)
        counted_boot(vm, 4, 3)
        decided = lines_with(vm.boot_text(4), "entering safe mode")
        check(bool(decided), "lifeline-early decided in the initramfs", decided[0] if decided else "none",
              vm, 4)
        st = status(vm)
        check(st["mode"] == "safe" and st["level"] == 1 and st["boot_seq"] == 4,
              "boot 4 (threshold+1 boots of the loop): safe mode, level 1",
              "mode=%s level=%s boot_seq=%s" % (st["mode"], st["level"], st["boot_seq"]), vm, 4)
        reason = (st.get("this_boot") or {}).get("reason") or ""
        check("badsec" in reason and ("badsec" in st["quarantined"] or "rolled back" in reason),
              "the reason names BadSec, quarantined or its content rolled back", reason, vm, 4)
        content = vm.ssh("cat /opt/badsec/content/channel-291.bin 2>/dev/null || echo absent").stdout.strip()
        check("CRASH" not in content, "the crashing content is gone from BadSec's folder",
              content[:60], vm, 4)
        wait_survived(vm, 4)
        wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state").stdout.strip()
        check(wd == "inactive", "boot 4 survived stable_after: boot watchdog stood down", wd, vm, 4)

        say("negative control: an explicit state_file on the ESP's mount point, which the initramfs "
            "does not mount: the next boot cannot be counted, and status and check must say so")
        vm.ssh("sed -i 's|^store = auto$|store = file\\nstate_file = /boot/efi/lifeline/state.bin|' "
               "/etc/lifeline/lifeline.conf && "
               "grep -qx 'state_file = /boot/efi/lifeline/state.bin' /etc/lifeline/lifeline.conf && "
               "update-initramfs -u -k all >/dev/null 2>&1 && sync", timeout=600)
        vm.scp_from("/boot/initrd.img-" + info["KVER"], initrd)
        vm.poweroff()
        vm.start()
        vm.wait_ssh(5, timeout=400)
        refused = lines_with(vm.boot_text(5), "is not on a filesystem mounted in the initramfs")
        check(bool(refused), "boot 5: lifeline-early refuses a state file it would keep in memory",
              refused[0] if refused else "no line", vm, 5)
        st_text = vm.ssh("lifelinectl status; echo rc=$?", check=False).stdout
        off = [l for l in st_text.splitlines() if l.startswith("Counting:")]
        check(bool(off) and "OFF" in off[0] and "not reachable from the initramfs" in off[0],
              "status says Counting: OFF with the reason", off[0] if off else st_text.strip()[-300:], vm, 5)
        st = status(vm)
        check(st["boot_seq"] == 4 and st.get("this_boot_counted") is False,
              "the record on the ESP still says boot #4: boot 5 was not counted anywhere",
              "boot_seq=%s this_boot_counted=%s" % (st["boot_seq"], st.get("this_boot_counted")), vm, 5)
        chk = vm.ssh("lifelinectl check; echo rc=$?", check=False).stdout.strip().splitlines()
        counting = [l for l in chk if l.startswith("counting")]
        check(chk[-1] == "rc=1" and counting and "PROBLEM" in counting[0] and "NOT counted" in counting[0],
              "check exits 1 and names the uncounted boot", (counting[:1] or ["-"])[0] + " / " + chk[-1],
              vm, 5)
        wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state").stdout.strip()
        check(wd == "inactive", "boot 5 (uncounted): no boot watchdog armed", wd, vm, 5)


if __name__ == "__main__":
    sys.exit(main("seabios", scenario))
