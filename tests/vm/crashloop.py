#!/usr/bin/env python3
"""The crash-loop scenario on a real boot (docs/design.md boot flow, end to end).

A minimal Debian 12 VM under OVMF with lifeline installed from its package
(no compiler, only the package's Depends) and the FAKE BadSec Security
product; [boot] threshold = 3, repeat_crash = yes (the default). Boot 1 is
healthy and blessed, and `lifelinectl check` passes. A bad content update
then makes badsec.ko oops at load (oops=panic, kernel.panic): boots 2 and
3 crash, both in the same function of badsec. Boot 4: lifeline-early sees
the second identical third-party panic (the repeat-crash fast path: the
evidence is complete, no need to wait for failure 4 > threshold 3), reads
the panic log the previous boot left in efi-pstore, finds the RIP in
[badsec], blocks the module and masks the product's units; the machine
comes up in safe mode level 1 (its normal target minus BadSec's units),
reachable over ssh, and reports to the fleet collector on the host (HTTPS,
a test CA). The vendor's good update is
installed; the administrator publishes a signed `clear` and then a signed
`reboot` for the whole fleet as static files on the host, which lifelined
polls and applies with no login; boot 5 is normal, the module loads fine
(a good update after a bad one is not quarantined), and lifelined blesses
the boot.

Finally, with the VM off, the state record is read back from the
firmware's variable store. The same crash loop with repeat_crash = no,
waiting for the threshold, is in degrade.py.

    crashloop.py [--demo] [--work DIR]

Exit 0 only when every assertion held; each prints what it saw. A failure
names the boot and shows its serial lines. Only QEMU failing to start is
retried (vmlib), never an assertion.
"""

import json
import sys

from scenario import (Fleet, build_guest, check, lines_with, main, module_loaded, read_record,
                      report_delay_after_network, say, status, wait_blessed, wait_last_good,
                      wait_survived)
from vmlib import VM


def scenario(work, demo):
    with Fleet(work) as fleet:
        run_scenario(work, demo, fleet)


OUTCOMES = []


def outcome(boot, text):
    OUTCOMES.append((boot, text))
    say("boot %d: %s" % (boot, text))


def crash_boots(vm, boots, failures_before):
    """Each of BOOTS panics in badsec and is counted; waits for the next."""
    for n, boot in enumerate(boots):
        vm.wait_serial(r"Kernel panic - not syncing", boot, timeout=300)
        text = vm.boot_text(boot)
        rip = lines_with(text, "RIP: 0010:badsec")
        check(bool(rip), "boot %d crashed in badsec" % boot, rip[0] if rip else "no RIP line", vm, boot)
        counted = lines_with(text, "lifeline: boot %d:" % boot)
        check(bool(counted), "boot %d counted by lifeline-early" % boot,
              counted[0] if counted else "no lifeline line", vm, boot)
        outcome(boot, "CRASHED in badsec (%s), counted: %d consecutive failure(s)" % (
            rip[0].split("RIP: ")[-1], failures_before + n + 1))
        vm.wait_boot(boot + 1, timeout=300)


def safe_mode_boot(vm, boot, fast_path):
    """Boot BOOT comes up in safe mode level 1 with badsec quarantined,
    entered by the repeat-crash fast path or by the threshold."""
    vm.wait_ssh(boot, timeout=400)
    decided = lines_with(vm.boot_text(boot), "entering safe mode")
    check(bool(decided), "lifeline-early decided in the initramfs",
          decided[0] if decided else "no decision line", vm, boot)
    repeat = "repeat crash" in decided[0]
    check(repeat == fast_path, "safe mode entered %s" % (
          "by the repeat-crash fast path" if fast_path else "by the threshold, not the fast path"),
          decided[0], vm, boot)
    st = status(vm)
    check(st["mode"] == "safe" and st["level"] == 1, "safe mode, level 1",
          "mode=%s level=%s" % (st["mode"], st["level"]), vm, boot)
    check(st["quarantined"] == ["badsec"], "badsec quarantined", st["quarantined"], vm, boot)
    check("badsec" in st.get("modules_blocked", []), "module badsec blocked",
          st.get("modules_blocked"), vm, boot)
    reason = st.get("this_boot", {}).get("reason", "")
    check("RIP" in reason and "badsec" in reason, "reason names the RIP in badsec", reason, vm, boot)
    check(not module_loaded(vm, "badsec"), "badsec.ko not loaded", "absent from /proc/modules", vm, boot)
    load = vm.ssh_pid1("systemctl show -p LoadState --value badsec.service").stdout.strip()
    check(load == "masked", "badsec.service masked", load, vm, boot)
    return st, reason


def run_scenario(work, demo, fleet):
    disk, key = build_guest(work, extra_conf=fleet.conf(), etc_files=fleet.etc_files())
    vm = VM(disk=disk, workdir=work, ssh_key=key, name="crashloop")
    with vm:
        say("boot 1: first boot with lifeline (from its package) and a healthy BadSec product")
        vm.start()
        vm.wait_ssh(1)
        st = wait_blessed(vm, 1)
        check(st["mode"] == "normal" and st["boot_seq"] == 1, "boot 1 normal and blessed",
              "mode=%s boot_seq=%s failures=%s" % (st["mode"], st["boot_seq"], st["failures"]))
        check(module_loaded(vm, "badsec"), "badsec.ko loaded in boot 1", "in /proc/modules", vm, 1)
        pkg = vm.ssh("dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}' lifeline; echo; "
                     "command -v gcc cc make || echo no-compiler").stdout.strip().splitlines()
        check(pkg[0].split() == ["lifeline", pkg[0].split()[1], "ii"] and pkg[-1] == "no-compiler",
              "lifeline installed from its package on a root without a compiler", " / ".join(pkg), vm, 1)
        chk = vm.ssh("lifelinectl check; echo exit=$?", check=False).stdout.strip().splitlines()
        check(chk and chk[-1] == "exit=0", "lifelinectl check passes on the installed machine (exit 0)",
              " / ".join(chk[-4:]), vm, 1)
        outcome(1, "normal, BadSec loaded, blessed; lifelinectl check: exit 0")

        say("the vendor pushes a bad content update (channel-291: CRASH); the machine reboots")
        vm.ssh("/opt/badsec/bin/badsec-update crash && sync")
        vm.reboot()
        crash_boots(vm, (2, 3), 0)

        say("boot 4: boots 2 and 3 panicked the same way in third-party code: the repeat-crash "
            "fast path (repeat_crash = yes) quarantines badsec before failure 4 > threshold 3")
        st, reason = safe_mode_boot(vm, 4, fast_path=True)
        tgt = vm.ssh_pid1("systemctl is-active lifeline-safe.target || true; "
                     "systemctl is-active multi-user.target || true").stdout.split()
        check(tgt == ["inactive", "active"],
              "level 1 keeps the normal target (minus BadSec), not the minimal safe target",
              "lifeline-safe.target=%s multi-user.target=%s" % tuple(tgt[:2]), vm, 4)
        mp = vm.ssh("cat /run/modprobe.d/lifeline.conf").stdout
        check("install badsec /bin/false" in mp, "modprobe blocks badsec", mp.strip().splitlines()[-1], vm, 4)
        banner = vm.ssh("cat /run/motd.d/50-lifeline || true").stdout.strip()
        check("SAFE MODE" in banner, "safe-mode banner", banner.splitlines()[0] if banner else "", vm, 4)
        outcome(4, "SAFE MODE (repeat-crash fast path): quarantined badsec because %s" % reason)
        if demo:
            print(json.dumps(st, indent=2))
        st = wait_blessed(vm, 4)
        # the last good is boot 1's (blessed before the crash loop), never
        # this safe-mode boot's
        check(st["mode"] == "safe" and (st.get("last_good") or {}).get("boot_seq") != st.get("boot_seq"),
              "safe-mode boot survived, still safe, never the last good",
              "mode=%s failures=%s last_good=%s" % (st["mode"], st["failures"], st.get("last_good")),
              vm, 4)

        # The crash-loop guard: the early rootfs phase spooled the decision
        # before any file moved; the agent sends it first.
        dec = fleet.wait_report(lambda r: (r.get("decision") or {}).get("phase") == "before-quarantine",
                                "of the decision before the quarantine", 180, vm, 4)
        dq = (dec.get("decision") or {}).get("quarantine") or []
        check("badsec" in dq and "RIP" in ((dec.get("this_boot") or {}).get("reason") or ""),
              "the fleet got the decision before the quarantine took effect (crash-loop guard)",
              "decision=%s" % json.dumps(dec.get("decision")), vm, 4)
        check((dec.get("decision") or {}).get("trigger") == "repeat-crash",
              "the decision report says the repeat-crash fast path decided",
              "trigger=%s" % (dec.get("decision") or {}).get("trigger"), vm, 4)
        d = report_delay_after_network(vm, fleet, dec)
        say("measured: the decision report reached the collector %s after network-online.target "
            "(goal: <= 5 s)" % ("%.1f s (clock mapping +-%.1f s)" % d if d else "(no timestamp)"))
        rep = fleet.wait_report(lambda r: r.get("state", {}).get("mode") == "safe" and "decision" not in r,
                                "saying safe mode", 180, vm, 4)
        order = fleet.reports()
        check(order.index(dec) < order.index(rep), "the decision report arrived before the agent's safe-mode report",
              "positions %d, %d of %d" % (order.index(dec), order.index(rep), len(order)), vm, 4)
        tb = rep.get("this_boot") or {}
        check("badsec" in json.dumps(rep.get("quarantined")) and "RIP" in (tb.get("reason") or ""),
              "the fleet collector got the safe-mode report with its reason",
              "event=%s reason=%s" % (rep.get("event"), tb.get("reason")), vm, 4)
        if demo:
            say("the report the fleet received:")
            print(json.dumps(rep, indent=2))

        hist = vm.ssh("lifelinectl history --boot 4").stdout
        check("escalate by boot: level 1, mode safe" in hist and "badsec" in hist
              and "repeat" in hist,
              "lifelinectl history shows boot 4's decision, the fast path and its reason",
              " / ".join(hist.strip().splitlines()[:3]) if hist.strip() else "(empty)", vm, 4)
        files = vm.ssh("ls /opt/badsec/bin /opt/badsec/content 2>&1 || true").stdout.split()
        check("badsecd" not in files and "channel-291.bin" not in files,
              "the product's binaries and content are moved into quarantine", files, vm, 4)
        q = vm.ssh("cat /var/lib/lifeline/quarantine/1/badsec/manifest").stdout
        check("/opt/badsec/content/channel-291.bin" in q, "quarantine manifest lists the content file",
              q.splitlines()[0] if q else "", vm, 4)

        say("the vendor ships a fixed content file (as its package would, while quarantined)")
        vm.ssh("mkdir -p /opt/badsec/content && printf 'GOOD channel 291 (fixed update)\\n' > "
               "/opt/badsec/content/channel-291.bin && sync")
        say("administrator, from the fleet server: signed 'clear', then signed 'reboot' (no login)")
        fleet.publish("clear", 1)
        rep = fleet.wait_report(lambda r: (r.get("command") or {}).get("seq") == 1,
                                "about command 1", 180, vm, 4)
        cmd = rep["command"]
        check(cmd.get("result") == "accepted" and cmd.get("action") == "clear",
              "signed clear accepted and applied", cmd, vm, 4)
        OUTCOMES.append((4, "fleet: signed clear applied (seq 1); signed reboot (seq 2)"))
        back = vm.ssh("ls /opt/badsec/bin; cat /opt/badsec/content/channel-291.bin").stdout
        check("badsecd" in back and "fixed update" in back,
              "clear restored the binaries and kept the vendor's new content",
              " ".join(back.split()), vm, 4)
        say("and systemd takes the hardware watchdog over from the next boot (RuntimeWatchdogSec=)")
        vm.ssh("mkdir -p /etc/systemd/system.conf.d && printf '[Manager]\\nRuntimeWatchdogSec=45\\n' "
               "> /etc/systemd/system.conf.d/watchdog.conf && sync")
        fleet.publish("reboot", 2)
        vm.wait_boot(5, timeout=400)

        say("boot 5: normal again")
        vm.wait_ssh(5, timeout=400)
        st = status(vm)
        check(st["mode"] == "normal" and st["level"] == 0 and st["quarantined"] == [],
              "normal mode, nothing quarantined", "mode=%s level=%s quarantined=%s"
              % (st["mode"], st["level"], st["quarantined"]), vm, 5)
        check(module_loaded(vm, "badsec"), "badsec.ko loaded again (good content, not quarantined)",
              "in /proc/modules", vm, 5)
        st = wait_last_good(vm, 5)
        check(st["failures"] == 0, "boot 5 blessed as the last good", "failures=%s last_good=%s"
              % (st["failures"], st.get("last_good")), vm, 5)
        wait_survived(vm, 5)
        wd = vm.ssh("cat /sys/class/watchdog/watchdog0/state /sys/class/watchdog/watchdog0/timeout; "
                    "journalctl -b -u lifeline-survived | grep -c \"administrator's RuntimeWatchdogSec\" "
                    "|| true").stdout.split()
        check(wd[:2] == ["active", "45"] and wd[2] != "0",
              "after stable_after the administrator's RuntimeWatchdogSec=45 wins",
              "state=%s timeout=%s handed-back=%s" % tuple(wd[:3]), vm, 5)
        outcome(5, "normal again, BadSec (fixed content) loaded, blessed")
        last = fleet.reports()[-1] if fleet.reports() else None
        want = {"boot_seq": 5, "mode": "normal", "level": 0, "modules": [], "last_blessed_seq": 5}

        vm.poweroff()

    if demo:
        print("\n==== the crash loop, boot by boot ====")
        for boot, text in OUTCOMES:
            print("  boot %d: %s" % (boot, text))
        if last:
            print("\n==== the last report the fleet collector received ====")
            print(json.dumps(last, indent=2))

    say("firmware variable store, read on the host with the VM off")
    rec, size = read_record(work)
    check(rec is not None, "LifelineState variable present and well-formed", "%d bytes" % size)
    got = {k: rec.get(k) for k in want}
    check(got == want, "record at the end", rec)


if __name__ == "__main__":
    sys.exit(main("crashloop", scenario))
