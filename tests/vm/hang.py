#!/usr/bin/env python3
"""A module that hangs the machine from its very first boot, a separate
/var, and the package's removal ([boot] threshold T = 2, boot_watchdog
60 s, repeat_crash = yes, the default: a hang leaves no panic log, so only
the threshold counts; /var on a partition of its own as in the CIS
layout).

The guest is installed with a BadSec update that freezes the whole machine
(stop_machine, interrupts off: no panic, nothing on the console) and an
older, healthy component, OldSec (a unit and a program, files dated
2025-06-01). There is no panic log and no blessed boot yet, so no
last-good inventory: level 1 must pick by recency.

  boots 1-2  badsec freezes the boot; the i6300esb watchdog, armed by
             lifeline-early in the initramfs (and pinged by PID 1 while it
             runs), resets the machine: each boot is counted
  boot 3     failure 3 > T: level 1 picks BadSec as the component changed
             most recently; its module is blocked, its units masked, its
             files moved; OldSec is left untouched (unit active, files in
             place, module list without it). The quarantine lives on the
             /var partition the running system sees, the fleet collector
             gets the decision, the history has it. The boot survives
             stable_after: the boot watchdog is stood down.
             `lifelinectl clear` puts every file back (content, mode,
             owner, as before the first boot)
  boot 4     the vendor's fix: normal, badsec loaded, blessed, the
             watchdog stood down
  boot 5     `apt-get remove lifeline` (the state variable stays in NVRAM):
             no watchdog armed, no lifeline line on the console, nothing
             blocked, both products running

    hang.py [--demo] [--work DIR]
"""

import json
import os
import re
import subprocess
import sys

from scenario import (HERE, Fleet, build_guest, check, lines_with, main, module_loaded, run, say,
                      status, wait_last_good, wait_survived)
from vmlib import VM

# noharm.py uses the same boot_watchdog: its degraded machine must stay up
# (threshold+1) x WATCHDOG without a reset
WATCHDOG = 60
THRESHOLD = 2
OLDSEC = HERE + "/oldsec/install.sh"


def hung_boot(vm, boot):
    """Boot BOOT freezes in badsec; the watchdog resets it."""
    vm.wait_serial(r"badsec: .*(hang|freez)", boot, timeout=300)
    text = vm.boot_text(boot)
    armed = lines_with(text, "boot watchdog armed")
    check(bool(armed), "boot %d: lifeline-early armed the watchdog" % boot,
          armed[0] if armed else "no line", vm, boot)
    counted = lines_with(text, "lifeline: boot %d:" % boot)
    check(bool(counted) and ("%d consecutive failed" % boot) in counted[0],
          "boot %d counted (%d consecutive failed, this one included)" % (boot, boot),
          counted[0] if counted else "no lifeline line", vm, boot)
    survived = [l for l in lines_with(text, "lifeline-survived") if "Starting" in l]
    check(not survived, "boot %d: the survived step did not run before the freeze "
          "(it waits for sysinit.target, where badsec loads)" % boot,
          survived[0] if survived else "not started", vm, boot)
    before = len(vm.watchdog_events())
    vm.wait_boot(boot + 1, timeout=WATCHDOG + 240)
    check(len(vm.watchdog_events()) > before, "boot %d: QEMU reported a watchdog expiry" % boot,
          "%d WATCHDOG event(s) in all" % len(vm.watchdog_events()), vm, boot)
    check(not lines_with(vm.boot_text(boot), "Kernel panic"), "boot %d hung (no panic)" % boot,
          "no 'Kernel panic' in boot %d" % boot, vm, boot)


def untouched_oldsec(vm, boot):
    out = vm.ssh_pid1("systemctl is-active oldsec.service || true; "
                 "systemctl show -p LoadState --value oldsec.service; "
                 "test -x /opt/oldsec/bin/oldsecd && echo present || echo missing").stdout.split()
    check(out == ["active", "loaded", "present"], "OldSec untouched: unit active, not masked, files in place",
          " ".join(out), vm, boot)


def no_lifeline_boot(vm, boot):
    """A boot after the package's removal: lifeline did nothing."""
    vm.wait_ssh(boot, timeout=400)
    text = vm.boot_text(boot)
    # the guest's host name is lifeline-vm (login prompt, "Hostname set to
    # <lifeline-vm>"): a line is lifeline's when it names lifeline otherwise
    lines = [l for l in lines_with(text, "lifeline") if re.search(r"lifeline(?!-vm\b)", l)]
    check(not lines, "boot %d: no lifeline line on the console" % boot,
          lines[0] if lines else "none", vm, boot)
    wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state 2>/dev/null || echo no-watchdog").stdout.strip()
    check(wd in ("inactive", "no-watchdog"), "boot %d: no watchdog armed" % boot, wd, vm, boot)
    blocked = vm.ssh("ls /run/modprobe.d/ /etc/modprobe.d/ 2>/dev/null | grep -i lifeline || echo none; "
                     "test -e /run/lifeline && echo /run/lifeline || true").stdout.split()
    check(blocked == ["none"], "boot %d: nothing blocked (no lifeline modprobe file, no /run/lifeline)"
          % boot, " ".join(blocked), vm, boot)
    check(module_loaded(vm, "badsec"), "boot %d: badsec.ko loaded" % boot, "in /proc/modules", vm, boot)
    masked = vm.ssh_pid1("systemctl show -p LoadState --value badsec.service badsecd.service").stdout.split()
    check(masked == ["loaded", "loaded"], "boot %d: BadSec's units not masked" % boot, masked, vm, boot)
    untouched_oldsec(vm, boot)


SNAPSHOT = ("find /opt/badsec -type f -exec sha256sum {} + | sort; "
            "find /opt/badsec -exec stat -c '%n %a %U %G' {} + | sort")


def scenario(work, demo):
    with Fleet(work) as fleet:
        run_scenario(work, demo, fleet)


def run_scenario(work, demo, fleet):
    disk, key = build_guest(work, watchdog=WATCHDOG, threshold=THRESHOLD,
                            extra_conf=fleet.conf(), etc_files=fleet.etc_files(), prepare=[
                                "'%s' \"$ROOT\"" % OLDSEC,
                                # the bad update is on the machine from its first boot
                                "'%s/badsec/set-content.sh' \"$ROOT\" hang" % HERE],
                            mkdisk_args=["--var-size", "512"])
    run([OLDSEC, "--age", disk])
    # BadSec's files as installed, to compare after the clear
    before = subprocess.run(["chroot", os.path.join(work, "base", "root"), "sh", "-c", SNAPSHOT],
                            check=True, capture_output=True, text=True).stdout
    vm = VM(disk=disk, workdir=work, ssh_key=key, name="hang")
    with vm:
        say("boot 1: the first boot with lifeline and BadSec's bad update: badsec freezes the machine")
        vm.start()
        hung_boot(vm, 1)
        say("boot 2: the same, waiting for the watchdog (%d s)" % WATCHDOG)
        hung_boot(vm, 2)

        say("boot 3: failure 3 > threshold %d, no panic log, no last good: level 1 picks by recency"
            % THRESHOLD)
        vm.wait_ssh(3, timeout=400)
        decided = lines_with(vm.boot_text(3), "entering safe mode")
        check(bool(decided), "lifeline-early decided in the initramfs", decided[0] if decided else "none", vm, 3)
        st = status(vm)
        check(st["mode"] == "safe" and st["level"] == 1, "safe mode, level 1",
              "mode=%s level=%s" % (st["mode"], st["level"]), vm, 3)
        check(st["quarantined"] == ["badsec"], "BadSec (changed most recently) quarantined, OldSec not",
              st["quarantined"], vm, 3)
        reason = (st.get("this_boot") or {}).get("reason", "")
        check("recent" in reason and "badsec" in reason, "the reason says recency and names BadSec",
              reason, vm, 3)
        check(not module_loaded(vm, "badsec"), "badsec.ko not loaded", "absent from /proc/modules", vm, 3)
        load = vm.ssh_pid1("systemctl show -p LoadState --value badsec.service").stdout.strip()
        check(load == "masked", "badsec.service masked", load, vm, 3)
        untouched_oldsec(vm, 3)
        q = vm.ssh("ls /var/lib/lifeline/quarantine/*/badsec/manifest && "
                   "findmnt -n -o SOURCE --target /var/lib/lifeline/quarantine").stdout.split()
        check(len(q) == 2 and q[1].startswith("/dev/"),
              "the quarantine is on the separate /var partition the running system sees", q, vm, 3)
        dec = fleet.wait_report(
            lambda r: (r.get("decision") or {}).get("phase") == "before-quarantine"
            and "badsec" in ((r.get("decision") or {}).get("quarantine") or []),
            "of the quarantine decision", 240, vm, 3)
        check("recent" in ((dec.get("this_boot") or {}).get("reason") or ""),
              "the decision spooled on the separate /var reached the fleet, with its reason",
              json.dumps(dec.get("this_boot"))[:200], vm, 3)
        hist = vm.ssh("lifelinectl history --boot 3").stdout
        check("escalate" in hist and "badsec" in hist, "the history on /var has the decision",
              hist.strip().splitlines()[:1], vm, 3)
        wait_survived(vm, 3)
        wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state").stdout.strip()
        check(wd == "inactive", "the safe-mode boot survived stable_after: boot watchdog stood down",
              wd, vm, 3)

        say("lifelinectl clear: every file back from the /var partition")
        out = vm.ssh("lifelinectl clear --all; echo rc=$?", check=False).stdout
        check("rc=0" in out, "lifelinectl clear exits 0", out.strip().splitlines()[-1], vm, 3)
        after = vm.ssh(SNAPSHOT).stdout
        check(after == before and "channel-291.bin" in after,
              "clear put every file back (content, mode, owner, as installed)",
              "%d lines identical" % len(before.splitlines()) if after == before
              else "differs:\n" + "\n".join(sorted(set(before.splitlines()) ^ set(after.splitlines()))),
              vm, 3)
        say("the vendor's fix (good content) and a reboot")
        vm.ssh("/opt/badsec/bin/badsec-update good && sync")
        vm.reboot()
        vm.wait_ssh(4, timeout=400)
        st = status(vm)
        check(st["mode"] == "normal" and st["quarantined"] == [], "boot 4: normal, nothing quarantined",
              "mode=%s quarantined=%s" % (st["mode"], st["quarantined"]), vm, 4)
        check(module_loaded(vm, "badsec"), "boot 4: badsec.ko loaded (fixed content)", "in /proc/modules",
              vm, 4)
        wait_last_good(vm, 4)
        wait_survived(vm, 4)
        wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state").stdout.strip()
        check(wd == "inactive", "boot 4: boot watchdog stood down after stable_after", wd, vm, 4)

        say("the package removed (apt-get remove; the state variable stays), then a boot")
        out = vm.ssh("DEBIAN_FRONTEND=noninteractive apt-get -y remove lifeline 2>&1; "
                     "dpkg-query -W -f='${db:Status-Abbrev}' lifeline; echo; "
                     "ls /sys/firmware/efi/efivars | grep -c LifelineState || true",
                     timeout=600).stdout
        last = out.strip().splitlines()[-2:]
        check(last[0].startswith("rc") and last[1] == "1",
              "lifeline removed (config files kept), the state variable still in NVRAM",
              " / ".join(last), vm, 4)
        esp = [l for l in out.splitlines() if "initrd.img is now" in l]
        check(bool(esp), "postrm rebuilt the initramfs, and the rig put it on the ESP the firmware boots",
              esp[0] if esp else out.strip().splitlines()[-6:], vm, 4)
        vm.reboot()
        no_lifeline_boot(vm, 5)
        check(not vm.watchdog_events()[2:], "no watchdog expiry after the cure",
              "%d WATCHDOG event(s) in all (boots 1-2)" % len(vm.watchdog_events()))
        vm.poweroff()


if __name__ == "__main__":
    sys.exit(main("hang", scenario))
