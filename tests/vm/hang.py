#!/usr/bin/env python3
"""A boot that hangs is reset by the hardware watchdog and counted.

Boot 1 is healthy and survives stable_after (lifeline-survived.service
hands the boot watchdog, which lifeline-early armed and PID 1 pinged,
back: off). A bad update makes badsec.ko freeze the whole machine
(stop_machine, interrupts off): no panic, nothing on the console. Only
the i6300esb watchdog, armed by lifeline-early in the initramfs with
boot_watchdog seconds and pinged by PID 1 while it runs, can reset it;
boot 3 must then count boot 2 as a failure (2 consecutive failed).

    hang.py [--demo] [--work DIR]
"""

import sys

from scenario import (build_guest, check, lines_with, main, module_loaded, say, wait_blessed,
                      wait_survived)
from vmlib import VM

# the same boot_watchdog as noharm.py, whose degraded machine must stay up
# (threshold+1) x WATCHDOG without a reset
WATCHDOG = 60


def scenario(work, demo):
    disk, key = build_guest(work, watchdog=WATCHDOG)
    vm = VM(disk=disk, workdir=work, ssh_key=key, name="hang")
    with vm:
        say("boot 1: healthy, survives stable_after; the boot watchdog is stood down")
        vm.start()
        vm.wait_ssh(1)
        st = wait_blessed(vm, 1)
        check(st["failures"] == 0, "boot 1 survived", "failures=%s" % st["failures"], vm, 1)
        text = vm.boot_text(1)
        armed = lines_with(text, "boot watchdog armed")
        check(bool(armed), "lifeline-early armed the watchdog", armed[0] if armed else "no line", vm, 1)
        check(module_loaded(vm, "badsec"), "badsec.ko loaded", "in /proc/modules", vm, 1)
        wait_survived(vm, 1)
        wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state").stdout.strip()
        check(wd == "inactive", "lifeline-survived stood the boot watchdog down after stable_after",
              wd, vm, 1)

        say("bad update: channel-291 says HANG; reboot")
        vm.ssh("/opt/badsec/bin/badsec-update hang && sync")
        vm.reboot()
        say("boot 2: badsec freezes the machine; waiting for the watchdog (%d s)" % WATCHDOG)
        vm.wait_serial(r"badsec: .*(hang|freez)", 2, timeout=300)
        vm.wait_boot(3, timeout=WATCHDOG + 240)
        check(len(vm.watchdog_events()) >= 1, "QEMU reported a watchdog expiry",
              "%d WATCHDOG event(s)" % len(vm.watchdog_events()), vm, 2)
        check(not lines_with(vm.boot_text(2), "Kernel panic"), "boot 2 hung (no panic)",
              "no 'Kernel panic' in boot 2", vm, 2)
        vm.wait_serial(r"lifeline: boot 3: ", 3, timeout=300)
        counted = lines_with(vm.boot_text(3), "lifeline: boot 3:")
        check("2 consecutive failed" in counted[0], "boot 3 counts the hung boot as a failure",
              counted[0], vm, 3)


if __name__ == "__main__":
    sys.exit(main("hang", scenario))
