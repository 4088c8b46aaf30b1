#!/usr/bin/env python3
"""The crash-loop scenario on a real boot (DESIGN.md boot flow, end to end).

A Debian 12 VM under OVMF with lifeline installed and the FAKE BadSec
Security product. Boot 1 is healthy and blessed. A bad content update then
makes badsec.ko oops at load (oops=panic, kernel.panic): boots 2-4 crash.
Boot 5: lifeline-early counts failure 4 > threshold 3, reads the panic log
the previous boot left in efi-pstore, finds the RIP in [badsec], blocks the
module and masks the product's units; the machine comes up in
lifeline-safe.target, reachable over ssh. The vendor's good update is
installed and `lifelinectl clear` run over ssh; boot 6 is normal, the
module loads fine, and lifelined blesses the boot. Finally, with the VM
off, the state record is read back from the firmware's variable store.

    crashloop.py [--demo] [--work DIR]

Exit 0 only when every assertion held; each prints what it saw. A failure
names the boot and shows the serial lines around it. Only QEMU failing to
start is retried (vmlib), never an assertion.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from vmlib import VM, VMError  # noqa: E402

GUID = "77117627-ad6b-4cc0-8022-2661bb477dc2"
VAR = "LifelineState-" + GUID

BADSEC_CONF = """\
# The FAKE BadSec Security product of lifeline's VM tests.
[badsec]
vendor = BadSec Security (test product)
modules = badsec
units = badsec.service badsecd.service
files = /opt/badsec/bin/*
content = /opt/badsec/content/*.bin
rollback_content = yes
"""

LIFELINE_CONF = """\
[boot]
threshold = 3
escalate_after = 2
stable_after = 20
boot_watchdog = 300
panic_reboot = 5
store = efi
"""

DEMO = False
T0 = time.time()


def say(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def check(cond, what, seen, vm=None, boot=None):
    if cond:
        say("  ok: %s (saw: %s)" % (what, seen))
        return
    msg = "FAILED: %s\n  saw: %s" % (what, seen)
    if vm is not None:
        msg += "\n" + vm.tail(30, boot=boot)
    raise VMError(msg)


def run(cmd, **kw):
    say("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def decode_record(data):
    """The 256-byte record (efi/state-record.h), enough for assertions."""
    if len(data) != 256 or data[:4] != b"LFLS":
        return None
    boot_seq, failures, last_blessed = struct.unpack_from("<III", data, 8)
    mode, level = data[32], data[33]
    mods = data[40:248].split(b"\0")
    modules = []
    for m in mods:
        if not m:
            break
        modules.append(m.decode())
    return {"boot_seq": boot_seq, "failures": failures, "last_blessed_seq": last_blessed,
            "mode": ["normal", "safe", "given-up"][mode] if mode < 3 else mode,
            "level": level, "modules": modules}


def status(vm):
    out = vm.ssh("lifelinectl status --json").stdout
    return json.loads(out)


def wait_blessed(vm, boot, timeout=240):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        st = status(vm)
        last = st
        if st.get("failures") == 0:
            return st
        time.sleep(5)
    raise VMError("boot %d was never blessed within %d s; last status: %s\n%s"
                  % (boot, timeout, last, vm.tail(30, boot=boot)))


def build(work):
    base = os.path.join(work, "base")
    run([os.path.join(HERE, "build-root.sh"), base])
    root = os.path.join(base, "root")
    run([os.path.join(HERE, "badsec", "install.sh"), root, "good"])
    os.makedirs(os.path.join(root, "etc/lifeline/components.d"), exist_ok=True)
    with open(os.path.join(root, "etc/lifeline/components.d/badsec.conf"), "w") as f:
        f.write(BADSEC_CONF)
    disk = os.path.join(work, "disk.img")
    # lifeline.conf is written after `make install` (which keeps an existing one)
    env = dict(os.environ)
    conf = os.path.join(work, "lifeline.conf")
    with open(conf, "w") as f:
        f.write(LIFELINE_CONF)
    run([os.path.join(HERE, "mkdisk.sh"), "--lifeline", TOP,
         "--prepare", "install -m 0644 '%s' \"$ROOT/etc/lifeline/lifeline.conf\"" % conf,
         root, disk], env=env)
    return disk, os.path.join(base, "id_ed25519")


def scenario(work):
    disk, key = build(work)
    vm = VM(disk=disk, workdir=work, ssh_key=key, name="crashloop")
    with vm:
        say("boot 1: first boot with lifeline and a healthy BadSec product")
        vm.start()
        vm.wait_ssh(1)
        st = wait_blessed(vm, 1)
        check(st["mode"] == "normal" and st["boot_seq"] == 1, "boot 1 normal and blessed",
              "mode=%s boot_seq=%s failures=%s" % (st["mode"], st["boot_seq"], st["failures"]))
        lsmod = vm.ssh("grep -c '^badsec ' /proc/modules || true").stdout.strip()
        check(lsmod == "1", "badsec.ko loaded in boot 1", "/proc/modules count %s" % lsmod)

        say("the vendor pushes a bad content update (channel-291: CRASH) and the machine reboots")
        vm.ssh("/opt/badsec/bin/badsec-update crash && sync")
        vm.reboot()

        for boot in (2, 3, 4):
            vm.wait_serial(r"Kernel panic - not syncing", boot, timeout=300)
            text = vm.boot_text(boot)
            rip = [l for l in text.splitlines() if "RIP:" in l and "badsec" in l]
            check(bool(rip), "boot %d crashed in badsec" % boot, rip[0].strip() if rip else "no RIP line",
                  vm, boot)
            counted = [l for l in text.splitlines() if "lifeline: boot %d:" % boot in l]
            check(bool(counted), "boot %d counted by lifeline-early" % boot,
                  counted[0].strip() if counted else "no lifeline line", vm, boot)
            vm.wait_boot(boot + 1, timeout=300)

        say("boot 5: failure 4 > threshold 3: lifeline must quarantine badsec and boot safe mode")
        vm.wait_ssh(5, timeout=400)
        text = vm.boot_text(5)
        decided = [l for l in text.splitlines() if "entering safe mode" in l]
        check(bool(decided), "lifeline-early decided in the initramfs",
              decided[0].strip() if decided else "no decision line", vm, 5)
        st = status(vm)
        check(st["mode"] == "safe" and st["level"] == 1, "safe mode, level 1",
              "mode=%s level=%s" % (st["mode"], st["level"]), vm, 5)
        check(st["quarantined"] == ["badsec"], "badsec quarantined", st["quarantined"], vm, 5)
        check("badsec" in st.get("modules_blocked", []), "module badsec blocked",
              st.get("modules_blocked"), vm, 5)
        reason = st.get("this_boot", {}).get("reason", "")
        check("RIP" in reason and "badsec" in reason, "reason names the RIP in badsec", reason, vm, 5)
        lsmod = vm.ssh("grep -c '^badsec ' /proc/modules || true").stdout.strip()
        check(lsmod == "0", "badsec.ko not loaded", "/proc/modules count %s" % lsmod, vm, 5)
        load = vm.ssh("systemctl show -p LoadState --value badsec.service").stdout.strip()
        check(load == "masked", "badsec.service masked", load, vm, 5)
        tgt = vm.ssh("systemctl is-active lifeline-safe.target || true").stdout.strip()
        check(tgt == "active", "lifeline-safe.target active", tgt, vm, 5)
        mp = vm.ssh("cat /run/modprobe.d/lifeline.conf").stdout
        check("install badsec /bin/false" in mp, "modprobe blocks badsec", mp.strip().splitlines()[-1], vm, 5)
        banner = vm.ssh("cat /run/motd.d/50-lifeline || true").stdout
        check("SAFE MODE" in banner, "safe-mode banner", banner.strip().splitlines()[0] if banner.strip() else "", vm, 5)
        if DEMO:
            print(json.dumps(st, indent=2))
        st = wait_blessed(vm, 5)
        check(st["mode"] == "safe", "safe-mode boot blessed, still safe", "mode=%s failures=%s"
              % (st["mode"], st["failures"]), vm, 5)

        say("administrator: the vendor's fixed update, then 'lifelinectl clear' over ssh")
        vm.ssh("/opt/badsec/bin/badsec-update good && lifelinectl clear && sync")
        vm.reboot()

        say("boot 6: normal again")
        vm.wait_ssh(6, timeout=400)
        st = status(vm)
        check(st["mode"] == "normal" and st["level"] == 0 and st["quarantined"] == [],
              "normal mode, nothing quarantined", "mode=%s level=%s quarantined=%s"
              % (st["mode"], st["level"], st["quarantined"]), vm, 6)
        lsmod = vm.ssh("grep -c '^badsec ' /proc/modules || true").stdout.strip()
        check(lsmod == "1", "badsec.ko loaded again (good content)", "/proc/modules count %s" % lsmod, vm, 6)
        st = wait_blessed(vm, 6)
        check(st["failures"] == 0, "boot 6 blessed", "failures=%s" % st["failures"], vm, 6)
        vm.poweroff()

    say("firmware variable store, read on the host with the VM off")
    out = subprocess.run([os.path.join(HERE, "efivars.py"), os.path.join(work, "OVMF_VARS.fd"), VAR,
                          "--raw"], check=True, capture_output=True).stdout
    rec = decode_record(out)
    check(rec is not None, "LifelineState variable present and well-formed", "%d bytes" % len(out))
    check(rec["boot_seq"] == 6 and rec["failures"] == 0 and rec["mode"] == "normal"
          and rec["level"] == 0 and rec["modules"] == [] and rec["last_blessed_seq"] == 6,
          "record after the cure", rec)


def main():
    global DEMO
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", action="store_true", help="narrate each boot")
    ap.add_argument("--work", default=None, help="work directory (default: a new one)")
    a = ap.parse_args()
    DEMO = a.demo
    base = os.environ.get("LIFELINE_VM_WORK", "/var/tmp/lifeline-vm")
    work = a.work or os.path.join(base, "crashloop-%d" % os.getpid())
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    say("work directory %s" % work)
    try:
        scenario(work)
    except VMError as e:
        print(str(e), file=sys.stderr)
        print("crash-loop scenario: FAILED (serial log: %s/serial.log)" % work, file=sys.stderr)
        return 1
    say("crash-loop scenario: PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
