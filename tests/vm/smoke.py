#!/usr/bin/env python3
"""The VM rig's skeleton scenario (run by smoke.sh, which builds the disk).

    smoke.py WORKDIR          WORKDIR holds disk.img and id_ed25519

Proves, end to end, on a real Debian 12 under OVMF:
  boot 1  firmware -> systemd-boot -> kernel -> login prompt; ssh works;
          badsec loads with good content; the guest writes an EFI variable
          (one write to efivarfs) and reads it back
  boot 2  after a clean reboot the variable is still there
  (off)   efivars.py reads the same bytes from the firmware's variable store
          file on the host; the badsec content is switched to CRASH on the
          disk image (debugfs, no mount)
  boot 3  badsec oopses in its init, oops=panic panics, panic=5 resets
          (QMP sees the guest reset); the rig holds the machine at that
          reset and puts good content back on the disk, standing in for the
          recovery lifeline will do
  boot 4  the next boot comes up; efi-pstore kept the oops, readable now
          (systemd-pstore moved it to /var/lib/systemd/pstore)
With LIFELINE_VM_SMOKE_HANG=1 also:
  boot 4  systemd arms the hardware watchdog (RuntimeWatchdogSec=30s,
          daemon-reexec); content HANG; badsec is loaded again and freezes
          the machine; the watchdog resets it (QMP WATCHDOG event)
  boot 5  comes up again

Exit 0 only if every assertion held; 1 with the failing step otherwise.
"""

import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from vmlib import VM, VMError, log  # noqa: E402

GUID = "77117627-ad6b-4cc0-8022-2661bb477dc2"
TESTVAR = "LifelineTest-" + GUID
EFIVAR_PATH = "/sys/firmware/efi/efivars/" + TESTVAR
EXPECTED = b"\x07\x00\x00\x00hello"          # attributes NV|BS|RT, then data
GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"   # EFI global variables
FIRMWARE_VARS = ["BootOrder-" + GLOBAL, "Boot0001-" + GLOBAL, "Timeout-" + GLOBAL]

times = []


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)
    log("  ok: " + what)


def step(msg):
    log("== " + msg)


def took(label, t0):
    dt = time.time() - t0
    times.append((label, dt))
    log("  took %.1f s: %s" % (dt, label))


def host(*argv):
    r = subprocess.run(argv, capture_output=True)
    if r.returncode != 0:
        raise Fail("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                            r.stderr.decode("utf-8", "replace").strip()))
    return r.stdout


def guest_var(vm):
    out = vm.ssh("od -An -tx1 -v %s" % EFIVAR_PATH, check=False)
    return bytes.fromhex(out.stdout.replace("\n", " ")) if out.returncode == 0 else None


def main(work):
    disk = os.path.join(work, "disk.img")
    vm = VM(disk, work, ssh_key=os.path.join(work, "id_ed25519"), name="smoke")
    try:
        # ---------------------------------------------------------- boot 1
        step("boot 1: power on, wait for the login prompt and ssh")
        vm.start()
        t0 = vm.started_at  # after waiting for a VM slot, if any
        vm.wait_boot(1)
        took("power on -> kernel start", t0)
        vm.wait_login(1)
        took("power on -> login prompt", t0)
        vm.wait_ssh(1)
        took("power on -> ssh works", t0)
        m = vm.wait_serial(r"^BdsDxe: starting Boot\d+ .*$", 1, 5)
        check(True, "OVMF booted from the disk (serial: %s)" % m.group(0))
        cmdline = vm.ssh("cat /proc/cmdline").stdout.strip()
        log("  guest cmdline: " + cmdline)
        check("oops=panic" in cmdline and "panic=5" in cmdline and "console=ttyS0,115200" in cmdline,
              "kernel command line has console=ttyS0,115200 panic=5 oops=panic")
        m = vm.wait_serial(r"badsec: loaded, content OK", 1, 5)
        check(m is not None, "badsec loaded with good content (serial: %r)" % m.group(0))
        check(vm.ssh("test -d /sys/module/badsec && systemctl is-active badsec.service badsecd.service",
                     check=False).returncode == 0, "badsec module loaded, badsec units active")
        r = vm.ssh("ls /dev/watchdog0 && cat /sys/class/watchdog/watchdog*/identity", check=False)
        log("  watchdogs: " + " / ".join(r.stdout.split("\n")[1:]).strip(" /"))
        check(vm.ssh("test -d /sys/firmware/efi/efivars && mountpoint -q /sys/firmware/efi/efivars",
                     check=False).returncode == 0, "efivarfs is mounted")

        step("boot 1: write %s in the guest (one write to efivarfs)" % TESTVAR)
        r = vm.ssh(r"printf '\007\000\000\000hello' > %s" % EFIVAR_PATH, check=False)
        check(r.returncode == 0, "write accepted (%s)" % (r.stderr.strip() or "no error"))
        got = guest_var(vm)
        log("  guest reads back: %s" % (got.hex(" ") if got else None))
        check(got == EXPECTED, "guest reads back 07 00 00 00 'hello'")

        # ---------------------------------------------------------- boot 2
        step("reboot: boot 2")
        t0 = time.time()
        vm.reboot()
        vm.wait_ssh(2)
        took("reboot -> ssh works", t0)
        got = guest_var(vm)
        log("  guest reads: %s" % (got.hex(" ") if got else None))
        check(got == EXPECTED, "the variable survived the reboot")
        check(vm.boot_count() == 2, "2 boots in the serial log")
        # The firmware's own variables too, to cross-check efivars.py's parser
        # on records it did not write itself.
        fw_vars = {}
        for name in FIRMWARE_VARS:
            r = vm.ssh("od -An -tx1 -v /sys/firmware/efi/efivars/%s" % name, check=False)
            if r.returncode == 0:
                fw_vars[name] = bytes.fromhex(r.stdout.replace("\n", " "))
        check(len(fw_vars) == len(FIRMWARE_VARS), "the guest reads %s" % ", ".join(
            "%s (%d bytes)" % (n.split("-")[0], len(v)) for n, v in fw_vars.items()))

        step("power off, read the variable from the firmware's store file")
        t0 = time.time()
        vm.poweroff()
        took("poweroff (ssh systemctl poweroff -> QEMU exited)", t0)
        check(not vm.running(), "QEMU exited")
        listing = host(sys.executable, os.path.join(HERE, "efivars.py"), vm.vars, "--guid", GUID).decode()
        log("  efivars.py %s --guid %s:\n    %s" % (os.path.basename(vm.vars), GUID, listing.strip()))
        raw = host(sys.executable, os.path.join(HERE, "efivars.py"), vm.vars, TESTVAR, "--efivarfs")
        log("  efivars.py ... %s --efivarfs: %s" % (TESTVAR, raw.hex(" ")))
        check(raw == EXPECTED, "the host reads the same attributes and data from OVMF_VARS.fd")
        for name, data in fw_vars.items():
            raw = host(sys.executable, os.path.join(HERE, "efivars.py"), vm.vars, name, "--efivarfs")
            check(raw == data, "host and guest agree on %s (%s)" % (name.split("-")[0], raw.hex(" ")))
        stats = host(sys.executable, os.path.join(HERE, "efivars.py"), vm.vars, "--stats").decode().strip()
        log("  store: " + stats)

        # ---------------------------------------------------------- boot 3
        step("bad update: badsec content -> CRASH on the disk image (VM off)")
        out = host(os.path.join(HERE, "badsec", "set-content.sh"), disk, "crash").decode().strip()
        log("  " + out)
        check(host(os.path.join(HERE, "imgfs.sh"), disk, "cat",
                   "/opt/badsec/content/channel-291.bin").startswith(b"CRASH"),
              "the image's channel file starts with CRASH")

        step("boot 3: power on; badsec must crash the kernel and the machine reset")
        resets_before = len(vm.resets())
        vm.start()
        t0 = vm.started_at
        vm.hold_at_reset()
        vm.wait_boot(3)
        m = vm.wait_serial(r"badsec: content \S+ says CRASH.*$", 3)
        log("  serial: " + m.group(0))
        m = vm.wait_serial(r"RIP: \S+:badsec_crash\+\S+ \[badsec\]", 3)
        check(True, "oops names the module: %r" % m.group(0))
        m = vm.wait_serial(r"Kernel panic - not syncing: .*$", 3)
        check(True, "panic: %r" % m.group(0))
        vm.wait_serial(r"Rebooting in 5 seconds", 3)
        ev = vm.wait_held()
        took("power on -> crash -> reset (boot 3)", t0)
        check(ev["event"] == "SHUTDOWN" and ev["data"].get("reason") == "guest-reset",
              "QMP: the guest reset the machine (%s %s)" % (ev["event"], ev["data"]))

        step("machine held at the reset: put good content back on the disk (stands in for lifeline)")
        t1 = time.time()
        out = host(os.path.join(HERE, "badsec", "set-content.sh"), disk, "good").decode().strip()
        log("  " + out)
        took("ext4 journal replay + content write on the image", t1)

        # ---------------------------------------------------------- boot 4
        step("boot 4: the next boot after the crash")
        t0 = time.time()
        vm.release()
        vm.wait_boot(4)
        took("reset -> kernel start (boot 4)", t0)
        check(vm.boot_count() == 4, "4 kernel starts in the serial log")
        check(vm.firmware_starts() == 4, "4 firmware starts in the serial log (BdsDxe)")
        vm.wait_ssh(4)
        took("reset -> ssh works (boot 4)", t0)
        check(vm.wait_serial(r"badsec: loaded, content OK", 4, 5) is not None,
              "badsec loads with the good content again")
        r = vm.ssh("ls -l /sys/fs/pstore/ /var/lib/systemd/pstore/*/ 2>&1", check=False)
        log("  pstore:\n" + "\n".join("    " + l for l in r.stdout.strip().splitlines()))
        r = vm.ssh("cat /sys/fs/pstore/dmesg-efi-* /var/lib/systemd/pstore/*/dmesg-efi-* 2>/dev/null", check=False)
        rip = re.search(r"RIP: \S+:badsec_crash\+\S+ \[badsec\]", r.stdout)
        panic = re.search(r"Kernel panic - not syncing: .*", r.stdout)
        check(rip is not None, "pstore holds the oops: %r" % (rip.group(0) if rip else None))
        check(panic is not None, "pstore holds the panic: %r" % (panic.group(0) if panic else None))
        got = guest_var(vm)
        check(got == EXPECTED, "the test variable is still there")

        if os.environ.get("LIFELINE_VM_SMOKE_HANG") == "1":
            hang(vm, disk)

        step("power off")
        vm.poweroff()
        stats = host(sys.executable, os.path.join(HERE, "efivars.py"), vm.vars, "--stats").decode().strip()
        log("  store: " + stats)
        resets = [e for e in vm.events if e["event"] in ("RESET", "SHUTDOWN", "WATCHDOG")]
        log("  QMP events: " + ", ".join("%s(%s)" % (e["event"], e["data"].get("reason", e["data"].get("action", "")))
                                        for e in resets))
    except (Fail, VMError) as e:
        log("FAIL: %s" % e)
        log("serial log: %s   QMP events: %s   QEMU: %s" % (vm.serial_log, vm.events_log, vm.qemu_log))
        return 1
    finally:
        vm.close()
    step("smoke: every check held")
    for label, dt in times:
        log("  %6.1f s  %s" % (dt, label))
    return 0


def hang(vm, disk):
    # The hang is triggered in a running boot, with the watchdog already
    # armed: at boot, badsec.service can run before udev has even loaded a
    # watchdog driver (seen here: it hung at 19.7 s, systemd never armed
    # anything, and the machine stayed frozen for good).  Arming it in time
    # at boot is lifeline's early hook's job, not the rig's.
    step("HANG: badsec freezes the running machine; the hardware watchdog resets it")
    vm.ssh("mkdir -p /etc/systemd/system.conf.d && "
           "printf '[Manager]\\nRuntimeWatchdogSec=30s\\n' > /etc/systemd/system.conf.d/smoke-watchdog.conf && "
           "systemctl daemon-reexec")
    state = ""
    for _ in range(30):
        state = vm.ssh("cat /sys/class/watchdog/watchdog0/state /sys/class/watchdog/watchdog0/identity "
                       "/sys/class/watchdog/watchdog0/timeout", check=False).stdout.split("\n")
        if state and state[0] == "active":
            break
        time.sleep(1)
    check(state and state[0] == "active",
          "systemd armed watchdog0 (%s, %s s)" % (state[1] if len(state) > 1 else "?",
                                                 state[2] if len(state) > 2 else "?"))
    vm.ssh("/opt/badsec/bin/badsec-update hang && rmmod badsec")
    boot = vm.boot_count()
    vm.hold_at_reset()
    t1 = time.time()
    vm.ssh("nohup modprobe badsec >/dev/null 2>&1 </dev/null &", check=False, timeout=30)
    m = vm.wait_serial(r"badsec: content \S+ says HANG.*$", boot)
    log("  serial: " + m.group(0))
    ev = vm.wait_held()
    took("modprobe badsec (HANG) -> watchdog reset", t1)
    check(ev["event"] == "WATCHDOG", "QMP: the watchdog fired (%s %s)" % (ev["event"], ev["data"]))
    text = vm.boot_text(boot)
    tail = text[text.find("says HANG"):]
    check("Kernel panic" not in tail and "login:" not in tail and len(tail.splitlines()) <= 3,
          "nothing ran after the hang (%d serial line(s) after it)" % (len(tail.splitlines()) - 1))
    host(os.path.join(HERE, "badsec", "set-content.sh"), disk, "good")
    host(os.path.join(HERE, "imgfs.sh"), disk, "rm", "/etc/systemd/system.conf.d/smoke-watchdog.conf")
    t0 = time.time()
    vm.release()
    vm.wait_ssh(boot + 1)
    took("watchdog reset -> ssh works (boot %d)" % (boot + 1), t0)
    check(vm.wait_serial(r"badsec: loaded, content OK", boot + 1, 5) is not None,
          "boot %d is healthy" % (boot + 1))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: smoke.py WORKDIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
