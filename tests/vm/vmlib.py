#!/usr/bin/env python3
"""Drive one QEMU/OVMF virtual machine for lifeline's VM tests.

    from vmlib import VM, VMError
    vm = VM(disk="w/disk.img", workdir="w", ssh_key="w/id_ed25519")
    vm.start()                          # boot 1 (firmware -> systemd-boot -> kernel)
    vm.wait_login(1)                    # "lifeline-vm login:" on the serial console
    vm.wait_ssh(1)
    print(vm.ssh("uname -r").stdout)
    vm.reboot()                         # returns once boot 2's kernel started
    vm.poweroff()                       # clean ACPI power-off, QEMU has exited
    vm.start()                          # the same firmware variables, boot 3

The machine: qemu-system-x86_64 -accel tcg -machine q35 -smp 2 -m 2048,
OVMF_CODE_4M.fd (read-only pflash) + a writable per-VM copy of
OVMF_VARS_4M.fd (workdir/OVMF_VARS.fd unless vars= is given; it keeps the
guest's EFI variables across reboots and restarts, and efivars.py reads it
with the VM off), a virtio disk, user-mode network (guest 10.0.2.15 reaches
the host at 10.0.2.2; host 127.0.0.1:<ssh_port> forwards to guest port 22),
an i6300esb watchdog whose expiry resets the machine, the serial console
appended to workdir/serial.log, and a QMP socket.

Boots.  Boot N is the N-th kernel start in serial.log ("Linux version ..."
is the first line every kernel prints); the log is appended across QEMU
restarts, so numbering runs over the whole test.  Boot N's output is the log
from its kernel start to the next one.  Firmware starts (machine resets, as
QMP reports them: RESET, WATCHDOG, SHUTDOWN, POWERDOWN events, each with
the time and the serial log offset) are recorded too: vm.events, and
workdir/events.log.

Failures raise VMError with a message naming the boot and showing the last
serial lines.  QEMU failing to start (e.g. the forwarded port was taken) is
retried with a new port; nothing else is ever retried.

QEMU is killed when the VM object is closed, when the Python process exits
(atexit), and, as the last resort, by the kernel when the process that
started it dies (PR_SET_PDEATHSIG), so no test leaves a VM behind.
"""

import atexit
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
QEMU = "qemu-system-x86_64"

# The first line of every kernel boot, also printed to ttyS0 (the console
# replays its log buffer when it registers).
KERNEL_START = re.compile(r"Linux version \d+\.\d+\S* ")
LOGIN_PROMPT = r"lifeline-vm login:"
# OVMF's boot manager prints this on the serial console at every firmware
# start that gets as far as loading a boot option.
FIRMWARE_START = re.compile(r"^BdsDxe: loading ", re.MULTILINE)
# ANSI escape sequences (firmware, systemd-boot and systemd colour their
# output) and carriage returns are removed before matching.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>78cDEHM]|\r")

# One boot, firmware to login, takes ~25-28 s here when it has the host to
# itself, but up to 217 s (reboot to ssh) was seen while other jobs loaded
# the 2 cores (load average 7): hence 480 s (a wait fails at once anyway
# when its boot ends or QEMU exits; only a silent hang waits this long).  LIFELINE_VM_TIMEOUT_SCALE multiplies every timeout (slow hosts).
TIMEOUT_SCALE = float(os.environ.get("LIFELINE_VM_TIMEOUT_SCALE", "1"))
BOOT_TIMEOUT = 480
# QEMU (TCG, 2 vCPUs) now and then hangs in a guest-requested reset: no
# firmware output at all afterwards, one vCPU thread spinning. Seen here in
# the crash-loop scenario after a clean reboot; the very same disk and
# firmware variables booted at once in a new QEMU process. That is an
# emulator fault, not the guest's: after this long with no serial output
# since a RESET event, the VM is power-cycled (same disk, same variables),
# at most FIRMWARE_STALL_RETRIES times per VM, each logged loudly.
FIRMWARE_STALL = 150
FIRMWARE_STALL_RETRIES = 2
# The same emulator fault a little later: a kernel that stops printing in
# its own early start-up, before it runs the initramfs ("Run /init"), seen
# once here after a guest reset (last line "pnp: PnP ACPI: found 5
# devices", then nothing for 300 s, not even a soft-lockup warning; the
# guest clock stood still).  No lifeline code has run in such a boot (it
# starts in the initramfs), so power-cycling it is a power cut before
# lifeline: the same rule applies (KERNEL_STALL seconds of silence, counted
# against FIRMWARE_STALL_RETRIES, logged loudly), and the stalled kernel
# start is not counted as a boot of its own: its lines belong to the boot
# that follows it.  A boot that stalls after "Run /init" is never touched.
KERNEL_STALL = 150
INIT_START = re.compile(r"Run /init as init process")
# TCG is CPU-bound: two two-vCPU VMs on this 2-core host each boot ~2.5
# times slower, which is how timeouts turn into flakes (two one-vCPU VMs,
# as run-all.sh's lanes run them, do not).
# So at most LIFELINE_VM_SLOTS VMs run at once on the host (default 1); a
# VM object holds its slot from its first start() until close() (or the
# end of the "with" block, or of the process), and waits for one (without
# timing out its boots) when all are taken.
SLOTS = int(os.environ.get("LIFELINE_VM_SLOTS", "1"))
# vCPUs a VM gets (run-all.sh sets 1 when it runs two scenarios at once:
# two one-vCPU VMs share the 2 cores without taking turns).
SMP = int(os.environ.get("LIFELINE_VM_SMP", "2"))
SLOT_DIR = os.environ.get("LIFELINE_VM_SLOT_DIR", "/run/lifeline-vm-slots")
_live = set()               # VMs to kill at exit
# What systemctl prints when PID 1 gives no answer because it is
# re-executing itself (VM.ssh_pid1()): the private socket dropped without
# a reply, or not listening yet in the new PID 1.
PID1_GONE = ("disconnected from message bus without replying",
             "Transport endpoint is not connected",
             "Connection reset by peer",
             "Failed to connect to bus")


def _kill_all():
    for vm in list(_live):
        vm.close()


atexit.register(_kill_all)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class VMError(Exception):
    pass


class QEMUStartError(VMError):
    pass


class VM:
    def __init__(self, disk, workdir, ssh_key=None, name="vm", vars=None,
                 mem=2048, smp=None, extra_args=(), ovmf_code=OVMF_CODE,
                 ovmf_vars_template=OVMF_VARS, serial_log=None, bios_kernel=None):
        """bios_kernel: (kernel, initrd, cmdline) boots a machine without
        EFI: QEMU's default firmware (SeaBIOS) and its direct kernel boot,
        no pflash, no EFI variables."""
        self.disk = os.path.abspath(disk)
        self.bios_kernel = bios_kernel
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.name = name
        self.ssh_key = os.path.abspath(ssh_key) if ssh_key else None
        self.vars = os.path.abspath(vars) if vars else os.path.join(self.workdir, "OVMF_VARS.fd")
        if not os.path.exists(self.vars) and not bios_kernel:
            shutil.copyfile(ovmf_vars_template, self.vars)
        self.ovmf_code = ovmf_code
        self.mem, self.smp, self.extra_args = mem, smp or SMP, list(extra_args)
        self.serial_log = serial_log or os.path.join(self.workdir, "serial.log")
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        self.events_log = os.path.join(self.workdir, "events.log")
        self.qemu_log = os.path.join(self.workdir, "qemu.log")
        self.proc = None
        self.ssh_port = None
        self.events = []            # dicts: time, event, data, offset
        self._qmp = None
        self._qmp_lock = threading.Lock()
        self._replies = []
        self._reply_cv = threading.Condition()
        self._reader = None
        self._text_cache = (None, "")
        self._slot = None
        self._hold_from = 0
        self._stall_restarts = 0
        self._stalled_kernels = set()   # serial_text() offsets of kernel starts power-cycled away
        self._growth = (-1, time.time())  # (serial size, when it was last seen to change)
        open(self.serial_log, "ab").close()

    # ---------------------------------------------------------------- QEMU
    def qemu_argv(self):
        if self.bios_kernel:
            kernel, initrd, cmdline = self.bios_kernel
            firmware = ["-kernel", kernel, "-initrd", initrd, "-append", cmdline]
        else:
            firmware = ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + self.ovmf_code,
                        "-drive", "if=pflash,format=raw,unit=1,file=" + self.vars]
        return [
            QEMU, "-name", "lifeline-" + self.name,
            "-accel", "tcg", "-machine", "q35", "-smp", str(self.smp), "-m", str(self.mem),
            "-nodefaults", "-display", "none", "-vga", "none",
        ] + firmware + [
            "-drive", "if=none,id=disk0,format=raw,file=" + self.disk,
            # (with -kernel, QEMU's loader takes boot index 0)
            "-device", "virtio-blk-pci,drive=disk0" + ("" if self.bios_kernel else ",bootindex=0"),
            "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:%d-:22" % self.ssh_port,
            # romfile= : no iPXE option ROM, so the firmware never tries
            # a network boot before the disk
            "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-device", "i6300esb", "-watchdog-action", "reset",
            "-chardev", "file,id=ser0,path=%s,append=on" % self.serial_log,
            "-serial", "chardev:ser0",
            "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
        ] + self.extra_args

    def start(self, attempts=3):
        """Start QEMU (power on).  Retries only when QEMU itself fails to
        start or its QMP socket never appears."""
        if self.running():
            raise VMError("%s: already running" % self.name)
        last = None
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
                return
            except QEMUStartError as e:
                last = e
                log("%s: QEMU failed to start (attempt %d/%d): %s" % (self.name, attempt, attempts, e))
                self.kill()
                time.sleep(1)
        raise last

    def _take_slot(self):
        if self._slot is not None or SLOTS <= 0:
            return
        os.makedirs(SLOT_DIR, exist_ok=True)
        waited, t0 = False, time.time()
        while True:
            for i in range(SLOTS):
                fd = os.open(os.path.join(SLOT_DIR, "slot%d" % i), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.write(fd, ("%d %s %s\n" % (os.getpid(), self.name, self.workdir)).encode())
                self._slot = fd
                if waited:
                    log("%s: got VM slot %d after %.0f s" % (self.name, i, time.time() - t0))
                return
            if not waited:
                log("%s: all %d VM slot(s) in %s are taken; waiting" % (self.name, SLOTS, SLOT_DIR))
                waited = True
            time.sleep(1)

    def _drop_slot(self):
        if self._slot is not None:
            os.ftruncate(self._slot, 0)  # the file names the holder only while held
            os.close(self._slot)  # releases the flock
            self._slot = None

    def _start_once(self):
        self._take_slot()
        self.ssh_port = free_port()
        try:
            os.unlink(self.qmp_path)
        except FileNotFoundError:
            pass
        argv = self.qemu_argv()
        with open(self.qemu_log, "ab") as qlog:
            qlog.write(("\n# %s %s\n" % (time.strftime("%F %T"), " ".join(argv))).encode())
            qlog.flush()
            # setpriv --pdeathsig: the kernel kills QEMU when this process
            # (the thread that started it) dies, however it dies; done by
            # util-linux in the child rather than by a Python preexec_fn,
            # which is unsafe once threads exist.  New session: a ^C in the
            # terminal reaches the test, which then kills QEMU itself.
            self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--"] + argv,
                                         stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog,
                                         start_new_session=True)
        _live.add(self)
        self.started_at = time.time()
        self._record("START", {"pid": self.proc.pid, "ssh_port": self.ssh_port})
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise QEMUStartError("QEMU exited with %s; %s" % (self.proc.returncode, self._qemu_log_tail()))
            if os.path.exists(self.qmp_path):
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.qmp_path)
                    break
                except OSError:
                    s.close()
            if time.time() > deadline:
                raise QEMUStartError("no QMP socket after 30 s")
            time.sleep(0.1)
        self._qmp = s
        self._qmp_file = s.makefile("rb")
        greeting = self._qmp_file.readline()
        if not greeting:
            raise QEMUStartError("QMP closed before its greeting")
        self._reader = threading.Thread(target=self._read_qmp, daemon=True)
        self._reader.start()
        self.qmp("qmp_capabilities")
        log("%s: QEMU started (pid %d, ssh port %d, serial %s)" % (self.name, self.proc.pid,
                                                                  self.ssh_port, self.serial_log))

    def _qemu_log_tail(self):
        try:
            with open(self.qemu_log, "rb") as f:
                return f.read()[-800:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def _record(self, event, data):
        ev = {"time": time.time(), "event": event, "data": data, "offset": self._serial_size()}
        self.events.append(ev)
        with open(self.events_log, "a") as f:
            f.write("%s %s %s offset=%d\n" % (time.strftime("%F %T", time.localtime(ev["time"])),
                                               event, json.dumps(data), ev["offset"]))

    def _read_qmp(self):
        f = self._qmp_file
        while True:
            try:
                line = f.readline()
            except (OSError, ValueError):
                line = b""
            if not line:
                with self._reply_cv:
                    self._replies.append(None)
                    self._reply_cv.notify_all()
                return
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "event" in msg:
                self._record(msg["event"], msg.get("data", {}))
            else:
                with self._reply_cv:
                    self._replies.append(msg)
                    self._reply_cv.notify_all()

    def qmp(self, command, timeout=30, **arguments):
        """Run a QMP command; returns its "return" value."""
        with self._qmp_lock:
            if self._qmp is None:
                raise VMError("%s: QMP not connected" % self.name)
            msg = {"execute": command}
            if arguments:
                msg["arguments"] = arguments
            with self._reply_cv:
                self._replies.clear()
            self._qmp.sendall(json.dumps(msg).encode() + b"\n")
            deadline = time.time() + timeout
            with self._reply_cv:
                while not self._replies:
                    left = deadline - time.time()
                    if left <= 0:
                        raise VMError("%s: QMP %s: no reply in %d s" % (self.name, command, timeout))
                    self._reply_cv.wait(left)
                reply = self._replies.pop(0)
        if reply is None:
            raise VMError("%s: QMP connection closed during %s" % (self.name, command))
        if "error" in reply:
            raise VMError("%s: QMP %s: %s" % (self.name, command, reply["error"]))
        return reply.get("return")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        self._closed()
        return True

    def _closed(self):
        if self.proc is not None and self.proc.returncode is not None and self in _live:
            _live.discard(self)
            self._record("EXIT", {"returncode": self.proc.returncode})
        if self._qmp is not None:
            try:
                self._qmp.close()
            except OSError:
                pass
            self._qmp = None

    def kill(self):
        """Pull the plug (no guest shutdown).  Safe to call at any time."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._closed()

    def close(self):
        """Kill QEMU if it runs and give the VM slot back.  A VM keeps its
        slot across power-offs and kills (a scenario that powers off, edits
        the disk and starts again is not overtaken by another test)."""
        self.kill()
        self._drop_slot()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---------------------------------------------------------------- serial
    def _serial_size(self):
        try:
            return os.path.getsize(self.serial_log)
        except OSError:
            return 0

    def serial_text(self):
        """The whole serial log, escape sequences and CRs removed."""
        size = self._serial_size()
        if self._text_cache[0] == size:
            return self._text_cache[1]
        with open(self.serial_log, "rb") as f:
            raw = f.read()
        text = ANSI.sub("", raw.decode("utf-8", "replace"))
        self._text_cache = (size, text)
        return text

    def boot_starts(self, text=None):
        """Offsets (in serial_text()) where each boot's output starts: boot
        N is boot_starts()[N-1].  A boot is a kernel start; its output
        begins at the firmware line that loaded that kernel when there is
        one (so the firmware's lines belong to the boot they start, and a
        crashed boot's text ends at its reset)."""
        text = self.serial_text() if text is None else text
        fw = [m.start() for m in FIRMWARE_START.finditer(text)]
        starts, prev, merge = [], -1, False
        for m in KERNEL_START.finditer(text):
            k = m.start()
            before = [f for f in fw if prev < f < k]
            if not merge:
                starts.append(before[-1] if before else k)
            # the kernel start after a stalled one continues its boot
            merge = k in self._stalled_kernels
            prev = k
        return starts

    def firmware_starts(self):
        """How many times the firmware reached its boot manager (from the
        serial log; QMP's RESET events are in resets())."""
        return len(FIRMWARE_START.findall(self.serial_text()))

    def boot_count(self):
        return len(self.boot_starts())

    def boot_text(self, boot):
        """Serial output of boot N (1-based), up to now or to boot N+1."""
        text = self.serial_text()
        starts = self.boot_starts(text)
        if boot < 1 or boot > len(starts):
            return ""
        end = starts[boot] if boot < len(starts) else len(text)
        return text[starts[boot - 1]:end]

    def boot_lines(self, boot):
        """(first, last) line numbers of boot N in serial_text(), 1-based,
        so a failure can point into serial.log."""
        text = self.serial_text()
        starts = self.boot_starts(text)
        if boot < 1 or boot > len(starts):
            return None
        end = starts[boot] if boot < len(starts) else len(text)
        first = text.count("\n", 0, starts[boot - 1]) + 1
        return first, first + text.count("\n", starts[boot - 1], end)

    def resets(self):
        """QMP RESET events so far (each a firmware start after the first)."""
        return [e for e in self.events if e["event"] == "RESET"]

    def watchdog_events(self):
        return [e for e in self.events if e["event"] == "WATCHDOG"]

    def tail(self, n=25, boot=None):
        text = self.boot_text(boot) if boot else self.serial_text()
        lines = [l for l in text.splitlines() if l.strip()]
        return "\n".join("    | " + l for l in lines[-n:])

    def fail(self, what, boot=None):
        raise VMError("%s, boot %s: %s\n  last serial lines:\n%s" % (
            self.name, boot if boot else "%d (latest)" % self.boot_count(), what,
            self.tail(boot=boot)))

    def _firmware_stalled(self):
        # measured from the last guest reset or from the power-cycle that
        # followed one: a fresh QEMU has not had its 150 s yet
        marks = [e for e in self.events if e["event"] in ("RESET", "START")]
        if not any(e["event"] == "RESET" for e in marks) or not self.running():
            return False
        last = marks[-1]
        if self._serial_size() > last["offset"]:
            return False
        return time.time() - last["time"] > FIRMWARE_STALL * TIMEOUT_SCALE

    def _recover_firmware_stall(self):
        """Called from the wait loops: power-cycle a VM that QEMU left hung
        in a guest reset (see FIRMWARE_STALL). Not a retry of an assertion:
        the boot being waited for simply starts in the new QEMU process."""
        if not self._firmware_stalled():
            return
        if self._stall_restarts >= FIRMWARE_STALL_RETRIES:
            self.fail("QEMU hung in a guest reset again (no output for %d s) after %d power-cycles"
                      % (FIRMWARE_STALL * TIMEOUT_SCALE, self._stall_restarts))
        self._stall_restarts += 1
        log("%s: INFRASTRUCTURE FAULT: no firmware output for %d s after the guest reset at %s; "
            "power-cycling QEMU with the same disk and firmware variables (%d/%d)"
            % (self.name, FIRMWARE_STALL * TIMEOUT_SCALE,
               time.strftime("%T", time.localtime(self.resets()[-1]["time"])),
               self._stall_restarts, FIRMWARE_STALL_RETRIES))
        self.kill()
        self.start()

    def _kernel_stalled(self):
        size = self._serial_size()
        now = time.time()
        if size != self._growth[0]:
            self._growth = (size, now)
            return None
        if not self.running() or now - self._growth[1] <= KERNEL_STALL * TIMEOUT_SCALE:
            return None
        text = self.serial_text()
        kernels = [m.start() for m in KERNEL_START.finditer(text)]
        if not kernels or kernels[-1] in self._stalled_kernels:
            return None
        if INIT_START.search(text, kernels[-1]):
            return None
        return kernels[-1]

    def _recover_kernel_stall(self):
        """Called from the wait loops: power-cycle a VM whose kernel went
        silent before running the initramfs (see KERNEL_STALL)."""
        k = self._kernel_stalled()
        if k is None:
            return
        text = self.serial_text()
        last_line = text[k:].strip().splitlines()[-1] if text[k:].strip() else "?"
        if self._stall_restarts >= FIRMWARE_STALL_RETRIES:
            self.fail("the kernel went silent before /init again (no output for %d s) after %d power-cycles"
                      % (KERNEL_STALL * TIMEOUT_SCALE, self._stall_restarts))
        self._stall_restarts += 1
        self._stalled_kernels.add(k)
        log("%s: INFRASTRUCTURE FAULT: the kernel printed nothing for %d s before running the "
            "initramfs (serial.log line %d, last line %r); no lifeline code ran in it; "
            "power-cycling QEMU with the same disk and firmware variables (%d/%d)"
            % (self.name, KERNEL_STALL * TIMEOUT_SCALE, text.count("\n", 0, k) + 1, last_line.strip(),
               self._stall_restarts, FIRMWARE_STALL_RETRIES))
        self.kill()
        self.start()
        self._growth = (-1, time.time())

    def _recover_stalls(self):
        self._recover_firmware_stall()
        self._recover_kernel_stall()

    def wait_boot(self, boot, timeout=BOOT_TIMEOUT):
        """Wait until boot N's kernel has started (its first line is in the
        serial log)."""
        timeout *= TIMEOUT_SCALE
        deadline = time.time() + timeout
        while True:
            n = self.boot_count()
            if n >= boot:
                return
            if not self.running():
                self.fail("QEMU exited (%s) before boot %d started" % (
                    self.proc.returncode if self.proc else "never started", boot))
            if time.time() > deadline:
                self.fail("boot %d did not start within %d s (resets so far: %d)" % (
                    boot, timeout, len(self.resets())))
            self._recover_stalls()
            time.sleep(0.5)

    def wait_serial(self, regex, boot, timeout=BOOT_TIMEOUT):
        """Wait for REGEX (re.MULTILINE) in boot N's serial output.  Fails
        at once if boot N ends (the next kernel starts, or QEMU exits)
        without showing it, else after TIMEOUT seconds.  Returns the match."""
        pat = re.compile(regex, re.MULTILINE)
        timeout *= TIMEOUT_SCALE
        deadline = time.time() + timeout
        while True:
            alive = self.running()
            text = self.serial_text()
            starts = self.boot_starts(text)
            if len(starts) >= boot:
                end = starts[boot] if len(starts) > boot else len(text)
                m = pat.search(text, starts[boot - 1], end)
                if m:
                    return m
                if len(starts) > boot:
                    self.fail("boot ended (boot %d started) without /%s/" % (boot + 1, regex), boot)
            if not alive:
                self.fail("QEMU exited (%s) without /%s/" % (self.proc.returncode if self.proc else "-",
                                                               regex), boot)
            if time.time() > deadline:
                self.fail("no /%s/ within %d s" % (regex, timeout), boot)
            self._recover_stalls()
            time.sleep(0.5)

    def wait_login(self, boot, timeout=BOOT_TIMEOUT):
        return self.wait_serial(LOGIN_PROMPT, boot, timeout)

    # ---------------------------------------------------------------- ssh
    def ssh_argv(self, *extra):
        if not self.ssh_key:
            raise VMError("%s: no ssh key given" % self.name)
        return ["ssh", "-i", self.ssh_key, "-p", str(self.ssh_port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5",
                "-o", "ServerAliveCountMax=6"] + list(extra) + ["root@127.0.0.1"]

    def ssh(self, command, check=True, timeout=120, input=None):
        """Run COMMAND (a shell string) in the guest as root.  Returns the
        CompletedProcess (text stdout/stderr).  check: raise VMError when
        the exit status is not 0."""
        try:
            r = subprocess.run(self.ssh_argv() + ["--", command], input=input,
                               capture_output=True, text=input is None or isinstance(input, str),
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("ssh command timed out after %d s: %s" % (timeout, command))
        if check and r.returncode != 0:
            self.fail("ssh command failed (exit %d): %s\n  stdout: %s\n  stderr: %s" % (
                r.returncode, command, r.stdout.strip() if isinstance(r.stdout, str) else r.stdout,
                r.stderr.strip() if isinstance(r.stderr, str) else r.stderr))
        return r

    def ssh_pid1(self, command, check=True, timeout=120):
        """ssh() for a command that asks PID 1 something (systemctl).
        lifeline's boot-watchdog stand-down, stable_after seconds into a
        boot, has PID 1 re-execute itself (docs/how-it-works.md, "The
        boot watchdog"); a systemctl call that meets that moment gets no
        answer from PID 1 at all, only a transport error on stderr (often
        hidden by '|| true'). Such an answer is asked again, 2 s later,
        for at most 30 s; an answer PID 1 did give is never asked again,
        whatever it says."""
        deadline = time.time() + 30 * TIMEOUT_SCALE
        while True:
            r = self.ssh(command, check=False, timeout=timeout)
            gone = [m for m in PID1_GONE if m in (r.stderr or "")]
            if not gone:
                break
            if time.time() > deadline:
                self.fail("PID 1 did not answer for 30 s (%s): %s\n  stderr: %s"
                          % (gone[0], command, r.stderr.strip()))
            log("%s: PID 1 was re-executing (systemctl: %s); asking again: %s"
                % (self.name, gone[0], command))
            time.sleep(2)
        if check and r.returncode != 0:
            self.fail("ssh command failed (exit %d): %s\n  stdout: %s\n  stderr: %s" % (
                r.returncode, command, r.stdout.strip(), r.stderr.strip()))
        return r

    def wait_ssh(self, boot, timeout=BOOT_TIMEOUT):
        """Wait until ssh works in boot N (fails at once if another boot
        starts or QEMU exits)."""
        timeout *= TIMEOUT_SCALE
        deadline = time.time() + timeout
        while True:
            n = self.boot_count()
            if n > boot:
                self.fail("boot ended (boot %d started) before ssh worked" % n, boot)
            if not self.running():
                self.fail("QEMU exited before ssh worked", boot)
            if n == boot:
                try:
                    r = subprocess.run(self.ssh_argv("-o", "ConnectTimeout=5") + ["--", "true"],
                                       capture_output=True, timeout=60)
                    ok = r.returncode == 0
                except subprocess.TimeoutExpired:
                    ok = False  # sshd up but too slow to answer yet
                if ok and self.boot_count() == boot:
                    return
            if time.time() > deadline:
                self.fail("ssh did not work within %d s" % timeout, boot)
            self._recover_stalls()
            time.sleep(2)

    def _scp(self, src, dst):
        subprocess.run(["scp", "-q", "-i", self.ssh_key, "-P", str(self.ssh_port),
                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                        src, dst], check=True, timeout=120)

    def scp_to(self, local, remote):
        """Copy a host file into the guest."""
        self._scp(local, "root@127.0.0.1:" + remote)

    def scp_from(self, remote, local):
        """Copy a guest file to the host."""
        self._scp("root@127.0.0.1:" + remote, local)

    # ---------------------------------------------------------------- power
    def reboot(self, timeout=BOOT_TIMEOUT):
        """Clean reboot from inside the guest; returns the new boot number
        once its kernel has started."""
        n = self.boot_count()
        self._ssh_fire("systemctl --no-block reboot")
        self.wait_boot(n + 1, timeout)
        return n + 1

    def _ssh_fire(self, command):
        """Ask the guest to do something that ends the ssh session (reboot,
        power-off): the connection may drop or hang, which is not an error."""
        try:
            subprocess.run(self.ssh_argv() + ["--", command], capture_output=True,
                           timeout=60 * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            pass

    def poweroff(self, timeout=120):
        """Clean power-off from inside the guest (falls back to an ACPI
        power button press, then to kill).  Returns once QEMU has exited,
        so the disk and the variable store file are complete."""
        if not self.running():
            self._closed()
            return
        self._ssh_fire("systemctl --no-block poweroff")
        timeout *= TIMEOUT_SCALE
        if self.wait_exit(timeout):
            return
        log("%s: guest did not power off in %d s; pressing the power button" % (self.name, timeout))
        try:
            self.qmp("system_powerdown")
        except VMError:
            pass
        if self.wait_exit(60):
            return
        log("%s: still running; killing QEMU" % self.name)
        self.kill()

    def power_button(self, timeout=120):
        """ACPI power button (no ssh needed); waits for QEMU to exit."""
        self.qmp("system_powerdown")
        if not self.wait_exit(timeout):
            self.fail("did not power off within %d s of the power button" % timeout)

    def hard_reset(self):
        """Reset button (as after a power loss, without stopping QEMU)."""
        self.qmp("system_reset")

    def hold_at_reset(self):
        """From now on, the next reset the guest asks for (reboot, panic,
        watchdog) pauses the machine instead of restarting it, so a test can
        change the disk image between a crash and the next boot as if the
        machine had been powered off right there.  Then wait_held() and
        release() (or kill() and start())."""
        self.qmp("set-action", reboot="shutdown", shutdown="pause", watchdog="pause")
        self._hold_from = len(self.events)

    def wait_held(self, timeout=BOOT_TIMEOUT):
        """Wait until hold_at_reset() caught a reset; returns its event."""
        timeout *= TIMEOUT_SCALE
        deadline = time.time() + timeout
        while True:
            for e in self.events[self._hold_from:]:
                if e["event"] in ("SHUTDOWN", "WATCHDOG", "STOP"):
                    st = self.qmp("query-status")
                    if st.get("status") in ("shutdown", "paused", "watchdog"):
                        return e
            if not self.running():
                self.fail("QEMU exited while waiting for a held reset")
            if time.time() > deadline:
                self.fail("no reset within %d s" % timeout)
            time.sleep(0.2)

    def release(self):
        """Undo hold_at_reset() and start the held machine again (a fresh
        firmware start, like pressing the power button)."""
        self.qmp("set-action", reboot="reset", shutdown="poweroff", watchdog="reset")
        self.qmp("system_reset")
        self.qmp("cont")


if __name__ == "__main__":
    # Manual use: boot a disk and leave it running until ^C.
    #   vmlib.py DISK WORKDIR [SSH_KEY]
    if len(sys.argv) < 3:
        print("usage: vmlib.py DISK WORKDIR [SSH_KEY]", file=sys.stderr)
        sys.exit(2)
    vm = VM(sys.argv[1], sys.argv[2], ssh_key=sys.argv[3] if len(sys.argv) > 3 else None)
    vm.start()
    print("ssh: " + " ".join(vm.ssh_argv()) if vm.ssh_key else "no ssh key given")
    try:
        vm.wait_login(vm.boot_count() + 1)
        print("login prompt seen; ^C to stop")
        while vm.running():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        vm.kill()
