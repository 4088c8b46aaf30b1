"""Shared pieces of the VM scenarios: narration, assertions that print
what they saw, the lifeline guest build, status over ssh, the record."""

import glob
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

from vmlib import VMError  # noqa: E402

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
threshold = %(threshold)d
escalate_after = %(escalate_after)d
stable_after = %(stable_after)d
boot_watchdog = %(watchdog)d
panic_reboot = 5
store = %(store)s
; the guest's watchdog (vmlib: -device i6300esb); auto would look at the
; build host, whose /sys mkdisk.sh mounts in the chroot
initramfs_watchdog = i6300esb
"""

T0 = time.time()


def say(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def report_delay_after_network(vm, fleet, report):
    """Seconds from the guest's network-online.target to the collector
    storing REPORT (guest clock mapped onto the host's through one ssh
    round trip), or None when a timestamp is missing.  A measurement,
    printed, never asserted (performance lives in make bench)."""
    t0 = time.time()
    g = vm.ssh("date +%s.%N", check=False).stdout.strip()
    t1 = time.time()
    line = vm.ssh("journalctl -b -o short-unix _PID=1 --grep 'Reached target network-online.target' "
                  "| grep -v '^--' | head -1", check=False).stdout.strip()
    got = fleet.received_at(report)
    try:
        offset = float(g) - (t0 + t1) / 2
        online = float(line.split()[0])
    except (ValueError, IndexError):
        return None
    if got is None:
        return None
    return got + offset - online, t1 - t0


def check(cond, what, seen, vm=None, boot=None):
    """Print what was seen; on failure raise with the boot's serial tail."""
    if cond:
        say("  ok: %s (saw: %s)" % (what, seen))
        return
    msg = "FAILED: %s\n  saw: %s" % (what, seen)
    if vm is not None:
        where = vm.boot_lines(boot) if boot else None
        msg += "\n  serial log of boot %s%s (last lines):\n%s" % (
            boot, " = %s lines %d-%d" % ((vm.serial_log,) + where) if where else "",
            vm.tail(30, boot=boot))
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
    modules = []
    for m in data[40:248].split(b"\0"):
        if not m:
            break
        modules.append(m.decode())
    return {"boot_seq": boot_seq, "failures": failures, "last_blessed_seq": last_blessed,
            "mode": ["normal", "safe", "given-up"][mode] if mode < 3 else mode,
            "level": level, "modules": modules}


def read_record(work):
    out = subprocess.run([os.path.join(HERE, "efivars.py"), os.path.join(work, "OVMF_VARS.fd"), VAR,
                          "--raw"], capture_output=True).stdout
    return decode_record(out), len(out)


def status(vm):
    return json.loads(vm.ssh("lifelinectl status --json").stdout)


def module_loaded(vm, name):
    out = vm.ssh("grep -c '^%s ' /proc/modules || true" % name).stdout.strip()
    return out == "1"


def wait_blessed(vm, boot, timeout=240):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = status(vm)
        if last.get("failures") == 0:
            return last
        time.sleep(5)
    raise VMError("boot %d was never blessed within %d s; last status: %s\n%s"
                  % (boot, timeout, last, vm.tail(30, boot=boot)))


def wait_last_good(vm, boot, timeout=240):
    """lifelined blessed this boot as the new last good."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = status(vm)
        if (last.get("last_good") or {}).get("boot_seq") == last.get("boot_seq"):
            return last
        time.sleep(5)
    raise VMError("boot %d was never blessed as the last good within %d s; last status: %s\n%s"
                  % (boot, timeout, last, vm.tail(30, boot=boot)))


def wait_survived(vm, boot, timeout=240):
    """lifeline-survived.service has run in this boot (stable_after)."""
    deadline = time.time() + timeout
    out = ""
    while time.time() < deadline:
        out = vm.ssh_pid1("systemctl show -p ActiveState,Result --value lifeline-survived.service; "
                          "cat /run/lifeline/survived 2>/dev/null || true", check=False).stdout
        if "boot_seq=" in out:
            return out
        time.sleep(5)
    raise VMError("boot %d: lifeline-survived never ran within %d s; saw: %s\n%s"
                  % (boot, timeout, " ".join(out.split()), vm.tail(30, boot=boot)))


def guest_deb():
    """The package under test: tests/vm/need-deb.sh builds it when it is
    missing or older than the sources (LIFELINE_DEB: use that file)."""
    out = subprocess.run([os.path.join(HERE, "need-deb.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    return out.splitlines()[-1]


def build_guest(work, watchdog=300, extra_conf="", etc_files=None, threshold=3, prepare=(),
                mkdisk_args=(), store="efi", escalate_after=2, stable_after=20,
                components=BADSEC_CONF):
    """The guest a fleet machine would be: a minimal Debian 12 root with
    the package's Depends (build-pkg-root.sh, cached) + the FAKE BadSec
    product (good content) + lifeline installed from its package (dpkg -i,
    its maintainer scripts run) -> disk. extra_conf is appended to
    lifeline.conf; etc_files maps names to host files copied into the
    guest's /etc/lifeline; prepare: more mkdisk.sh --prepare commands
    ($ROOT is the root); mkdisk_args: more options; components: the
    text of BadSec's drop-in."""
    deb = guest_deb()
    base = os.path.join(work, "base")
    run([os.path.join(HERE, "build-pkg-root.sh"), base, deb])
    root = os.path.join(base, "root")
    os.makedirs(os.path.join(root, "etc/lifeline/components.d"), exist_ok=True)
    with open(os.path.join(root, "etc/lifeline/components.d/badsec.conf"), "w") as f:
        f.write(components)
    conf = os.path.join(work, "lifeline.conf")
    with open(conf, "w") as f:
        f.write(LIFELINE_CONF % {"watchdog": watchdog, "threshold": threshold, "store": store,
                                 "escalate_after": escalate_after,
                                 "stable_after": stable_after}
                + extra_conf)
    for name, src in (etc_files or {}).items():
        shutil.copy(src, os.path.join(root, "etc/lifeline", name))
    disk = os.path.join(work, "disk.img")
    # the test's lifeline.conf is in place before the package: dpkg keeps it
    # (--force-confold), as it keeps an administrator's pre-seeded file
    argv = [os.path.join(HERE, "mkdisk.sh"), "--deb", deb,
            "--prepare", "install -m 0644 '%s' \"$ROOT/etc/lifeline/lifeline.conf\"" % conf]
    for p in prepare:
        argv += ["--prepare", p]
    run(argv + list(mkdisk_args) + [root, disk])
    return disk, os.path.join(base, "id_ed25519")


def lines_with(text, needle):
    return [l.strip() for l in text.splitlines() if needle in l]


def main(name, scenario, argv=None):
    import argparse
    import shutil
    ap = argparse.ArgumentParser(description="lifeline VM scenario: " + name)
    ap.add_argument("--demo", action="store_true", help="narrate and print documents")
    ap.add_argument("--work", default=None, help="work directory (default: a new one)")
    a = ap.parse_args(argv)
    base = os.environ.get("LIFELINE_VM_WORK", "/var/tmp/lifeline-vm")
    work = a.work or os.path.join(base, "%s-%d" % (name, os.getpid()))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    say("%s: work directory %s" % (name, work))
    try:
        scenario(work, a.demo)
    except VMError as e:
        print(str(e), file=sys.stderr)
        print("%s scenario: FAILED (serial log: %s/serial.log)" % (name, work), file=sys.stderr)
        return 1
    say("%s scenario: PASSED" % name)
    if not os.environ.get("LIFELINE_VM_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return 0


class Fleet:
    """The fleet's side, on the host: an HTTPS collector (a test CA whose
    server certificate names 10.0.2.2, QEMU's address for the host's
    loopback) that also serves signed command documents, and the fleet's
    Ed25519 key made with the host's own lifelinectl."""

    def __init__(self, work):
        self.dir = os.path.join(work, "fleet")
        self.got = os.path.join(self.dir, "collected")
        self.serve = os.path.join(self.dir, "serve")
        os.makedirs(self.got)
        os.makedirs(self.serve)
        self.ctl = os.path.join(TOP, os.environ.get("LIFELINE_BUILD", "build"), "bin", "lifelinectl")
        d = self.dir
        ossl = ["openssl"]
        run(ossl + ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key",
                    "-out", d + "/ca.pem", "-days", "2", "-subj", "/CN=lifeline test CA"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run(ossl + ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/srv.key", "-out",
                    d + "/srv.csr", "-subj", "/CN=10.0.2.2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(d + "/ext.cnf", "w") as f:
            f.write("subjectAltName=IP:10.0.2.2\nbasicConstraints=CA:FALSE\n")
        run(ossl + ["x509", "-req", "-in", d + "/srv.csr", "-CA", d + "/ca.pem", "-CAkey",
                    d + "/ca.key", "-CAcreateserial", "-out", d + "/srv.pem", "-days", "2",
                    "-extfile", d + "/ext.cnf"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run([self.ctl, "keygen", d + "/fleet.key", d + "/fleet.pub"])
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TOP, "tests", "collector.py"), "--port", "0", "--dir", self.got,
             "--serve", self.serve, "--cert", d + "/srv.pem", "--key", d + "/srv.key",
             "--timeout", "3600"], stdout=subprocess.PIPE, stderr=open(d + "/collector.err", "w"))
        self.port = int(self.proc.stdout.readline().strip())
        say("fleet collector listening on 127.0.0.1:%d (the guest's https://10.0.2.2:%d)"
            % (self.port, self.port))

    def conf(self):
        return ("\n[report]\nurl = https://10.0.2.2:%d/report\nca_file = /etc/lifeline/collector-ca.pem\n"
                "\n[commands]\nurl = https://10.0.2.2:%d/cmd\npublic_key = /etc/lifeline/fleet.pub\n"
                "poll_interval = 10\n" % (self.port, self.port))

    def etc_files(self):
        return {"collector-ca.pem": self.dir + "/ca.pem", "fleet.pub": self.dir + "/fleet.pub"}

    def reports(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.got, "*.json"))):
            with open(p) as f:
                try:
                    out.append(json.load(f))
                except ValueError:
                    pass
        return out

    def received_at(self, report):
        """Host time (epoch s) the collector stored REPORT, or None."""
        for p in sorted(glob.glob(os.path.join(self.got, "*.json"))):
            try:
                with open(p) as f:
                    if json.load(f) == report:
                        return os.stat(p).st_mtime
            except (OSError, ValueError):
                pass
        return None

    def wait_report(self, pred, what, timeout, vm=None, boot=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for r in self.reports():
                if pred(r):
                    return r
            time.sleep(3)
        raise VMError("FAILED: no report %s within %d s; %d report(s) received; requests: %s\n%s"
                      % (what, timeout, len(self.reports()), self.requests()[-5:],
                         vm.tail(20, boot=boot) if vm else ""))

    def requests(self):
        try:
            with open(os.path.join(self.got, "requests.log")) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def publish(self, action, seq, components=()):
        """Sign a command for every machine and serve it as all.cmd."""
        argv = [self.ctl, "sign-command", "--key", self.dir + "/fleet.key", "--action", action,
                "--target", "all", "--seq", str(seq), "--expires", "+3600"]
        for c in components:
            argv += ["--component", c]
        doc = subprocess.run(argv, check=True, capture_output=True).stdout
        with open(os.path.join(self.serve, "all.cmd.tmp"), "wb") as f:
            f.write(doc)
        os.rename(os.path.join(self.serve, "all.cmd.tmp"), os.path.join(self.serve, "all.cmd"))
        say("fleet: published signed '%s' (seq %d) for all machines" % (action, seq))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
