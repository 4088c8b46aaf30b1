#!/usr/bin/env python3
"""Degrade to user mode on a real boot (docs/degrade.md), and the crash
loop without the repeat-crash fast path.

The FAKE BadSec product has a user mode: its agent (badsecd) runs without
the kernel module when /etc/badsec/badsec.conf says `[sensor] mode = user`.
Its drop-in here declares the degrade step: the kernel half is the module
and badsec.service (which loads it), the user-mode setting is that one key,
and badsecd.service runs the product in user mode.

Settings: threshold = 4, escalate_after = 1, repeat_crash = no,
stable_after = 300 (so the checks of a boot finish before it counts as
survived: boots 1 and 5 are ended on purpose before that).

  boot 1     healthy, kernel mode; the vendor pushes a bad content update
             and the machine reboots (boot 1 counts as failure 1)
  boots 2-4  crash in badsec.ko; boot 4 is still a normal boot although
             boots 2 and 3 panicked alike: repeat_crash = no waits for
             the threshold (with it, boot 4 would have been level 1)
  boot 5     failure 5 > threshold 4: level 1; the panic log names the
             module, BadSec has a degrade step: degraded, not quarantined.
             Its normal target, the module blocked, badsec.service masked,
             badsecd active in user mode, its program in place; status,
             the report, metrics and the history say "degraded". Then the
             vendor pushes a content update that breaks the user-mode agent
             too: it panics the machine
  boot 6     failure 6: level 2 quarantines every component, BadSec whole:
             its configuration back byte for byte first, then its files
             moved; badsecd masked
  boot 7     after the vendor's fixed content, a signed clear and a signed
             reboot: normal, kernel mode back exactly (the configuration's
             bytes, mode, owner and mtime as in boot 1), the module loaded.

    degrade.py [--work DIR]

Exit 0 only when every assertion held; each prints what it saw.
"""

import json
import sys

from scenario import (BADSEC_CONF, Fleet, build_guest, check, lines_with, main, module_loaded,
                      say, status)
from vmlib import VM

DEGRADE_CONF = BADSEC_CONF + """\
# its user mode (docs/degrade.md): the kernel half off, one key set
kernel_units = badsec.service
degrade_units = badsecd.service
degrade_set = /etc/badsec/badsec.conf sensor.mode user
"""

CONF_STAT = ("stat -c '%a %u:%g %Y' /etc/badsec/badsec.conf; "
             "sha256sum /etc/badsec/badsec.conf | cut -c1-64")
STABLE_AFTER = 300


def scenario(work, demo):
    with Fleet(work) as fleet:
        run_scenario(work, fleet)


def conf_state(vm):
    return vm.ssh(CONF_STAT).stdout.split()


def not_survived_yet(vm, boot):
    """The boot must still count as failed when it ends: the checks ran
    inside stable_after."""
    out = vm.ssh("cat /run/lifeline/survived 2>/dev/null || echo none; "
                 "cut -d. -f1 /proc/uptime").stdout.split()
    check(out[0] == "none", "boot %d ends before stable_after (%d s), so it counts as failed"
          % (boot, STABLE_AFTER), "survived=%s uptime=%s s" % (out[0], out[-1]), vm, boot)


def crash_boot(vm, boot):
    vm.wait_serial(r"Kernel panic - not syncing", boot, timeout=300)
    text = vm.boot_text(boot)
    counted = lines_with(text, "lifeline: boot %d:" % boot)
    check(bool(counted), "boot %d counted by lifeline-early" % boot,
          counted[0] if counted else "no lifeline line", vm, boot)
    return text


def run_scenario(work, fleet):
    disk, key = build_guest(work, extra_conf=fleet.conf() + "\n[boot]\nrepeat_crash = no\n",
                            etc_files=fleet.etc_files(), threshold=4, escalate_after=1,
                            stable_after=STABLE_AFTER, components=DEGRADE_CONF)
    vm = VM(disk=disk, workdir=work, ssh_key=key, name="degrade")
    with vm:
        say("boot 1: BadSec in kernel mode; threshold 4, escalate_after 1, repeat_crash = no")
        vm.start()
        vm.wait_ssh(1)
        check(module_loaded(vm, "badsec"), "badsec.ko loaded in boot 1", "in /proc/modules", vm, 1)
        mode = vm.ssh("sleep 2; cat /run/badsec/mode").stdout.strip()
        check(mode == "kernel", "badsecd runs in kernel mode", mode, vm, 1)
        before = conf_state(vm)
        say("  /etc/badsec/badsec.conf: mode, owner, mtime, sha256 = %s" % " ".join(before))
        not_survived_yet(vm, 1)
        say("the vendor pushes a bad content update (CRASH in the module); reboot")
        vm.ssh("/opt/badsec/bin/badsec-update crash && sync")
        vm.reboot()

        for boot in (2, 3, 4):
            text = crash_boot(vm, boot)
            rip = lines_with(text, "RIP: 0010:badsec")
            check(bool(rip), "boot %d crashed in badsec.ko" % boot, rip[0] if rip else "no RIP line",
                  vm, boot)
            if boot == 4:
                early = lines_with(text, "lifeline: boot 4:")
                check(bool(early) and "mode normal, level 0" in early[0],
                      "boot 4 is not safe mode although boots 2 and 3 panicked alike "
                      "(repeat_crash = no waits for failure 5 > threshold 4)", early[0], vm, 4)
            vm.wait_boot(boot + 1, timeout=300)

        say("boot 5: failure 5 > threshold 4, level 1: the panic log names badsec.ko, BadSec has "
            "a degrade step")
        vm.wait_ssh(5, timeout=400)
        text = vm.boot_text(5)
        line = lines_with(text, "degraded badsec")
        check(bool(line), "the rootfs phase degraded BadSec instead of quarantining it",
              line[0] if line else "no 'degraded badsec' line", vm, 5)
        st = status(vm)
        check(st["mode"] == "safe" and st["level"] == 1 and st.get("degraded") == ["badsec"],
              "status: level 1, BadSec degraded",
              "mode=%s level=%s degraded=%s" % (st["mode"], st["level"], st.get("degraded")), vm, 5)
        txt = vm.ssh("lifelinectl status").stdout
        d = [l for l in txt.splitlines() if l.startswith("Degraded:")]
        check(d == ["Degraded:     badsec: kernel part off, running in user mode"],
              "lifelinectl status says it in words", d, vm, 5)
        tgt = vm.ssh_pid1("systemctl is-active multi-user.target || true; "
                          "systemctl is-active lifeline-safe.target || true; "
                          "systemctl show -p LoadState --value badsec.service; "
                          "systemctl is-active badsecd.service || true").stdout.split()
        check(tgt == ["active", "inactive", "masked", "active"],
              "the normal target, badsec.service masked, badsecd active",
              "multi-user=%s lifeline-safe=%s badsec.service=%s badsecd=%s" % tuple(tgt[:4]),
              vm, 5)
        check(not module_loaded(vm, "badsec"), "badsec.ko not loaded (blocked)",
              "absent from /proc/modules", vm, 5)
        mode = vm.ssh("cat /run/badsec/mode; grep '^mode' /etc/badsec/badsec.conf; "
                      "test -x /opt/badsec/bin/badsecd && echo agent-in-place").stdout.split("\n")
        check(mode[:3] == ["user", "mode = user", "agent-in-place"],
              "badsecd runs in user mode; its program stays in place", mode[:3], vm, 5)
        now = conf_state(vm)
        check(now[:2] == before[:2], "the edited file keeps its mode and owner",
              "%s -> %s" % (" ".join(before[:2]), " ".join(now[:2])), vm, 5)
        dec = fleet.wait_report(
            lambda r: (r.get("decision") or {}).get("phase") == "before-quarantine",
            "of the decision", 180, vm, 5)
        check((dec.get("decision") or {}).get("degrade") == ["badsec"],
              "the decision report (spooled before anything changed) says BadSec is to be "
              "degraded", json.dumps(dec.get("decision")), vm, 5)
        rep = fleet.wait_report(
            lambda r: r.get("state", {}).get("boot_seq") == 5 and "decision" not in r
            and any(q.get("degraded") for q in r.get("quarantined") or []),
            "saying BadSec is degraded", 180, vm, 5)
        check("degraded, not quarantined: badsec" in (rep.get("this_boot") or {}).get("reason", ""),
              "the fleet's report says degraded, with the reason",
              "quarantined=%s reason=%s" % (json.dumps(rep.get("quarantined")),
                                            (rep.get("this_boot") or {}).get("reason")), vm, 5)
        prom = vm.ssh("grep '^lifeline_degraded' /var/lib/prometheus/node-exporter/lifeline.prom "
                      "|| true").stdout.strip()
        check(prom == 'lifeline_degraded{component="badsec"} 1', "the metrics count it", prom, vm, 5)
        hist = vm.ssh("lifelinectl history --boot 5").stdout
        check("degraded, not quarantined: badsec" in hist, "the history says it",
              " / ".join(hist.strip().splitlines()[:3]), vm, 5)
        not_survived_yet(vm, 5)

        say("the vendor pushes content that breaks its user-mode agent too (USERCRASH) and "
            "restarts it: the machine panics")
        vm.ssh("/opt/badsec/bin/badsec-update usercrash && sync")
        vm.ssh_pid1("systemctl --no-block restart badsecd.service")
        vm.wait_serial(r"Kernel panic - not syncing", 5, timeout=120)
        text = vm.boot_text(5)
        line = lines_with(text, "sysrq: Trigger a crash") + lines_with(text, "Comm: badsecd")
        check(len(line) >= 2, "boot 5 ended in a panic the user-mode agent caused (sysrq from "
              "badsecd)", " / ".join(line) or "no sysrq or badsecd line", vm, 5)

        say("boot 6: failure 6 = threshold + 1 + escalate_after: level 2 quarantines every "
            "component, BadSec whole")
        vm.wait_ssh(6, timeout=400)
        st = status(vm)
        check(st["level"] == 2 and not st.get("degraded") and "badsec" in st["quarantined"],
              "status: level 2, BadSec quarantined, nothing degraded",
              "level=%s degraded=%s quarantined=%s" % (st["level"], st.get("degraded"),
                                                       st["quarantined"]), vm, 6)
        now = conf_state(vm)
        check(now == before, "the degrade was undone before the quarantine: the file as in boot 1",
              " ".join(now), vm, 6)
        gone = vm.ssh("ls /opt/badsec/bin 2>&1 || true").stdout.split()
        check("badsecd" not in gone, "BadSec's programs moved into the quarantine", gone, vm, 6)
        load = vm.ssh_pid1("systemctl show -p LoadState --value badsecd.service").stdout.strip()
        check(load == "masked", "badsecd.service masked", load, vm, 6)

        say("the vendor ships fixed content; administrator: signed 'clear', then signed 'reboot'")
        vm.ssh("mkdir -p /opt/badsec/content && printf 'GOOD channel 291 (fixed update)\\n' > "
               "/opt/badsec/content/channel-291.bin && sync")
        fleet.publish("clear", 1)
        rep = fleet.wait_report(lambda r: (r.get("command") or {}).get("seq") == 1,
                                "about command 1", 180, vm, 6)
        check(rep["command"].get("result") == "accepted", "signed clear accepted",
              rep["command"], vm, 6)
        fleet.publish("reboot", 2)
        vm.wait_boot(7, timeout=400)

        say("boot 7: normal, kernel mode back")
        vm.wait_ssh(7, timeout=400)
        st = status(vm)
        check(st["mode"] == "normal" and st["level"] == 0 and st["quarantined"] == []
              and not st.get("degraded"), "normal, nothing quarantined or degraded",
              "mode=%s level=%s quarantined=%s degraded=%s"
              % (st["mode"], st["level"], st["quarantined"], st.get("degraded")), vm, 7)
        check(module_loaded(vm, "badsec"), "badsec.ko loaded again", "in /proc/modules", vm, 7)
        mode = vm.ssh("sleep 2; cat /run/badsec/mode").stdout.strip()
        check(mode == "kernel", "badsecd back in kernel mode", mode, vm, 7)
        now = conf_state(vm)
        check(now == before, "/etc/badsec/badsec.conf exactly as in boot 1 (mode, owner, mtime, "
              "bytes)", " ".join(now), vm, 7)


if __name__ == "__main__":
    sys.exit(main("degrade", scenario))
