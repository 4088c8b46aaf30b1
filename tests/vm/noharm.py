#!/usr/bin/env python3
"""First, do no harm: lifeline acts on boot loops, nothing else (one VM,
one boot sequence, [boot] threshold T = 1, boot_watchdog W = 60 s as in
hang.py, stable_after 20 s, repeat_crash = yes, the default, /var on a
partition of its own).

  boot 1      a degraded machine (a first-party unit, backup-job.service,
              fails at every boot) stays up longer than (T+1) x W: no
              watchdog reset, mode normal, nothing quarantined, never
              blessed as the last good (unhealthy), the watchdog stood down
  boot 2      a clean reboot after stable_after: the same.  Boots 1-2 are
              T+1 boots in a row, the run after which a loop would be
              acted on: each is counted as the first of its run
  boot 3      lifelined cannot start (its binary replaced by `exit 1`),
              up longer than (T+1) x W: the same
  boot 4      a clean reboot, lifelined still broken: the same (T+1 boots)
  boot 5      (lifelined repaired) the state variable was damaged in boot 4
              (garbage written to efivarfs): this boot replaces it, counts
              again, keeps the bad bytes, and the fleet collector is told

A quarantine with /var on its own partition (applied, reported, cleared
with every file back) is hang.py's boot 3: it needs a boot loop, which
this machine never has.

    noharm.py [--demo] [--work DIR]

Each check prints what it saw; a failure names the boot and shows its
serial-log lines. Only QEMU failing to start is retried (vmlib).
"""

import json
import sys
import time

from scenario import (Fleet, build_guest, check, lines_with, main, read_record,
                      say, status, wait_survived)
from vmlib import VM

THRESHOLD = 1
WATCHDOG = 60          # hang.py's boot_watchdog
UP = (THRESHOLD + 1) * WATCHDOG + 15

# one line: mkdisk.sh keeps repeated options as newline-separated lists
FAILING_UNIT = (
    "mkdir -p \"$ROOT/etc/systemd/system/multi-user.target.wants\" && "
    "printf '[Unit]\\nDescription=a first-party job that fails (degraded, not boot-looping)\\n"
    "[Service]\\nType=oneshot\\nExecStart=/bin/false\\n[Install]\\nWantedBy=multi-user.target\\n' "
    "> \"$ROOT/etc/systemd/system/backup-job.service\" && "
    "ln -sf ../backup-job.service \"$ROOT/etc/systemd/system/multi-user.target.wants/backup-job.service\"")


TIMES = []


def timed(what, t0):
    TIMES.append((what, time.time() - t0))
    say("measured: %s took %.0f s" % (what, time.time() - t0))


def uptime(vm):
    return float(vm.ssh("cut -d' ' -f1 /proc/uptime").stdout.strip())


def stay_up(vm, boot, seconds):
    """Wait until the guest has been up `seconds`, checking it never reset."""
    while True:
        up = uptime(vm)
        if up >= seconds:
            break
        time.sleep(min(15, seconds - up + 1))
    check(vm.boot_count() == boot and not vm.watchdog_events(),
          "boot %d up %.0f s > (T+1) x boot_watchdog = %d s: no reset, no watchdog expiry"
          % (boot, up, (THRESHOLD + 1) * WATCHDOG),
          "kernel starts=%d WATCHDOG events=%d" % (vm.boot_count(), len(vm.watchdog_events())),
          vm, boot)


def harmless(vm, boot, blessed_ok=False):
    """The state of a machine lifeline must leave alone."""
    wait_survived(vm, boot)
    st = status(vm)
    check(st["mode"] == "normal" and st["level"] == 0 and st["quarantined"] == []
          and st["failures"] == 0,
          "boot %d: mode normal, level 0, nothing quarantined, count ended by survival" % boot,
          "mode=%s level=%s quarantined=%s failures=%s boot_seq=%s"
          % (st["mode"], st["level"], st["quarantined"], st["failures"], st["boot_seq"]), vm, boot)
    counted = lines_with(vm.boot_text(boot), "consecutive failed")
    check(bool(counted) and " 1 consecutive failed" in counted[0],
          "boot %d counted as the only attempt of its run" % boot,
          counted[0] if counted else "no lifeline line", vm, boot)
    wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state").stdout.strip()
    check(wd == "inactive", "boot %d: the boot watchdog was stood down after stable_after" % boot,
          wd, vm, boot)
    mp = vm.ssh("cat /run/modprobe.d/lifeline.conf 2>/dev/null || echo none").stdout.strip()
    check(mp == "none", "boot %d: no module blocked" % boot, mp.splitlines()[0], vm, boot)
    if not blessed_ok:
        check(not st.get("last_good"), "boot %d: an unhealthy boot is never the last good" % boot,
              st.get("last_good"), vm, boot)
    return st


def degraded(vm, boot):
    deadline = time.time() + 180
    state = ""
    while time.time() < deadline:
        state = vm.ssh_pid1("systemctl is-system-running || true").stdout.strip()
        if state not in ("starting", "initializing"):
            break
        time.sleep(5)
    check(state == "degraded", "boot %d: the system is degraded (backup-job.service failed)" % boot,
          state, vm, boot)


def scenario(work, demo):
    try:
        with Fleet(work) as fleet:
            run_scenario(work, demo, fleet)
    finally:
        for what, secs in TIMES:
            say("time: %-58s %4.0f s" % (what, secs))


def run_scenario(work, demo, fleet):
    t0 = time.time()
    disk, key = build_guest(work, watchdog=WATCHDOG, threshold=THRESHOLD,
                            extra_conf=fleet.conf(), etc_files=fleet.etc_files(),
                            prepare=[FAILING_UNIT], mkdisk_args=["--var-size", "512"])
    timed("guest build (root, BadSec, lifeline, disk with /var)", t0)
    vm = VM(disk=disk, workdir=work, ssh_key=key, name="noharm")
    with vm:
        t0 = time.time()
        say("boot 1: degraded machine, lifelined running but never blessing")
        vm.start()
        vm.wait_ssh(1)
        armed = lines_with(vm.boot_text(1), "boot watchdog armed")
        check(bool(armed), "lifeline-early armed the boot watchdog (lifeline enabled in the image)",
              armed[0] if armed else "no line", vm, 1)
        var = vm.ssh("findmnt -n -o SOURCE,FSTYPE /var").stdout.strip()
        check(var.startswith("/dev/") and "ext4" in var, "/var is a filesystem of its own", var, vm, 1)
        degraded(vm, 1)
        stay_up(vm, 1, UP)
        harmless(vm, 1)
        timed("boot 1: degraded, up (T+1) x boot_watchdog", t0)

        # T+1 boots in a row, each up past stable_after: if survival did
        # not end the count, boot T+1 would be failure T+1 > T (safe mode)
        for boot in range(2, THRESHOLD + 2):
            t0 = time.time()
            say("clean reboot after stable_after (boot %d of %d in a row)" % (boot, THRESHOLD + 1))
            vm.reboot()
            vm.wait_ssh(boot)
            harmless(vm, boot)
            timed("boot %d: clean reboot, degraded" % boot, t0)

        boot = THRESHOLD + 2
        t0 = time.time()
        say("lifelined cannot start: its binary replaced by 'exit 1'")
        # renamed over the running binary ("text file busy" for a write)
        vm.ssh("cp -p /usr/sbin/lifelined /root/lifelined.good && "
               "printf '#!/bin/sh\\nexit 1\\n' > /usr/sbin/lifelined.new && "
               "chmod 0755 /usr/sbin/lifelined.new && mv -f /usr/sbin/lifelined.new /usr/sbin/lifelined && sync")
        vm.reboot()
        vm.wait_ssh(boot)
        stay_up(vm, boot, UP)
        ld = vm.ssh_pid1("systemctl is-active lifelined || true").stdout.strip()
        check(ld != "active", "boot %d: lifelined is not running" % boot, ld, vm, boot)
        harmless(vm, boot)
        timed("boot %d: lifelined broken, up (T+1) x boot_watchdog" % boot, t0)
        for boot in range(THRESHOLD + 3, 2 * THRESHOLD + 3):
            t0 = time.time()
            vm.reboot()
            vm.wait_ssh(boot)
            harmless(vm, boot)
            timed("boot %d: clean reboot, lifelined broken" % boot, t0)

        say("lifelined repaired; the state variable is damaged (garbage, as a firmware "
            "update or an NVRAM fault leaves it)")
        vm.ssh("cp -p /root/lifelined.good /usr/sbin/lifelined.new && "
               "mv -f /usr/sbin/lifelined.new /usr/sbin/lifelined && "
               "V=/sys/firmware/efi/efivars/LifelineState-77117627-ad6b-4cc0-8022-2661bb477dc2 && "
               "chattr -i $V && printf '\\007\\000\\000\\000GARBAGE: not a lifeline record' > /tmp/bad && "
               "dd if=/tmp/bad of=$V bs=4096 2>/dev/null && sync")
        out = vm.ssh("lifelinectl status; echo rc=$?", check=False).stdout
        check("rc=3" in out, "boot %d: status says no valid record (exit 3)" % boot,
              out.strip().splitlines()[-1], vm, boot)
        t0 = time.time()
        vm.reboot()
        boot += 1
        vm.wait_ssh(boot)
        text = vm.boot_text(boot)
        rep = lines_with(text, "state record damaged or inconsistent")
        check(bool(rep), "boot %d: lifeline-early replaced the damaged record" % boot,
              rep[0] if rep else "no line", vm, boot)
        counted = lines_with(text, "lifeline: boot 1: 1 consecutive failed")
        check(bool(counted), "boot %d counted again from 1 (protection back)" % boot,
              counted[0] if counted else "no 'boot 1: 1 consecutive' line", vm, boot)
        out = vm.ssh("lifelinectl status; echo rc=$?", check=False).stdout
        check("rc=0" in out, "boot %d: status exits 0 again" % boot, out.strip().splitlines()[-1],
              vm, boot)
        marker = vm.ssh("cat /var/lib/lifeline/record-replaced").stdout
        check("reason=" in marker and "bytes=/var/lib/lifeline/record-bad-boot-1.bin" in marker,
              "the replacement and the kept bytes are recorded on /var", " ".join(marker.split()),
              vm, boot)
        hist = vm.ssh("lifelinectl history").stdout
        check("record-replaced" in hist, "lifelinectl history says the record was replaced",
              [l for l in hist.splitlines() if "record-replaced" in l][:1], vm, boot)
        got = fleet.wait_report(
            lambda r: json.dumps(r).find("record-replaced") >= 0,
            "saying the record was replaced", 240, vm, boot)
        check(True, "the fleet collector was told the record was replaced",
              json.dumps(got.get("decision") or got.get("this_boot") or {})[:160], vm, boot)
        wait_survived(vm, boot)
        timed("boot %d: damaged record replaced and reported" % boot, t0)

        vm.poweroff()

    rec, size = read_record(work)
    check(rec is not None and rec["mode"] == "normal" and rec["level"] == 0 and rec["modules"] == [],
          "the firmware's record at the end: nothing ever quarantined", rec)


if __name__ == "__main__":
    sys.exit(main("noharm", scenario))
