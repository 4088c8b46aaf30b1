"""The endpoint machine for lifeline's VM tests: tests/vm/vmlib.py's VM with
Secure Boot firmware (SMM), a TPM 2.0 (swtpm) and the LUKS root's serial
console evidence.

    from eplib import EndpointVM
    vm = EndpointVM(machine_dir, workdir, name="endpoint")
    with vm:
        vm.start(); vm.wait_ssh(1)
        vm.unlock_evidence(1)     # how boot 1's root was unlocked

The machine directory is what tests/vm/endpoint/build.sh made: disk.img,
OVMF_VARS.fd (the writable variable store, used in place), tpm/ (swtpm's
state, used in place), id_ed25519.  swtpm is started before every QEMU
start (vmlib's power-cycles included) and stopped with QEMU; it shares the
VM's slot in /run/lifeline-vm-slots (vmlib), so no other rig VM runs at the
same time.

QEMU additions to vmlib's machine (what Secure Boot firmware needs in QEMU 7.2):
  -machine q35,smm=on, -global driver=cfi.pflash01,property=secure,value=on,
  -global ICH9-LPC.disable_s3=1, OVMF_CODE_4M.secboot.fd,
  -chardev socket + -tpmdev emulator + -device tpm-crb.
"""

import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from vmlib import VM, VMError, log  # noqa: E402

OVMF_SECBOOT_CODE = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
OVMF_MS_VARS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"

# What the initramfs prints about the encrypted root (cryptsetup-initramfs
# and clevis-initramfs on Debian 12).  cryptroot's askpass prints the
# prompt whenever no key file is configured; clevis's background loop then
# answers it through askpass's fifo (its "Unlocked ... with clevis" line
# does not reach the console).  A prompt that is not followed by SET_UP is
# the passphrase prompt a human would have to type into (the serial
# console here is a log file: nobody can).
PROMPT = re.compile(r"Please unlock disk root:")
UNLOCKED_CLEVIS = re.compile(r"Unlocked \S+ with clevis")
SET_UP = re.compile(r"cryptsetup: root: set up successfully")
BAD_KEY = re.compile(r"cryptsetup: ERROR: root: cryptsetup failed")


class EndpointVM(VM):
    def __init__(self, machine, workdir, name="endpoint", secure_boot_code=True, vars=None, **kw):
        self.machine = os.path.abspath(machine)
        self.tpm_dir = os.path.join(self.machine, "tpm")
        self.swtpm = None
        code = OVMF_SECBOOT_CODE if secure_boot_code else "/usr/share/OVMF/OVMF_CODE_4M.fd"
        self.smm = secure_boot_code
        super().__init__(disk=os.path.join(self.machine, "disk.img"), workdir=workdir,
                         ssh_key=os.path.join(self.machine, "id_ed25519"), name=name,
                         vars=vars or os.path.join(self.machine, "OVMF_VARS.fd"),
                         ovmf_code=code, ovmf_vars_template=OVMF_MS_VARS, **kw)
        self.tpm_sock = os.path.join(self.workdir, "swtpm-%s.sock" % name)

    def qemu_argv(self):
        argv = super().qemu_argv()
        i = argv.index("-machine")
        if self.smm:
            argv[i + 1] = "q35,smm=on"
            argv += ["-global", "driver=cfi.pflash01,property=secure,value=on",
                     "-global", "ICH9-LPC.disable_s3=1"]
        argv += ["-chardev", "socket,id=chrtpm,path=" + self.tpm_sock,
                 "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                 "-device", "tpm-crb,tpmdev=tpm0"]
        return argv

    def _start_swtpm(self):
        self._stop_swtpm()
        try:
            os.unlink(self.tpm_sock)
        except FileNotFoundError:
            pass
        logf = open(os.path.join(self.workdir, "swtpm.log"), "ab")
        # The firmware sends TPM2_Startup itself: no --flags startup-clear.
        self.swtpm = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", "swtpm", "socket", "--tpm2",
             "--tpmstate", "dir=" + self.tpm_dir,
             "--ctrl", "type=unixio,path=" + self.tpm_sock,
             "--log", "level=1"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        logf.close()
        deadline = time.time() + 20
        while not os.path.exists(self.tpm_sock):
            if self.swtpm.poll() is not None:
                raise VMError("%s: swtpm exited with %s (see %s/swtpm.log)"
                              % (self.name, self.swtpm.returncode, self.workdir))
            if time.time() > deadline:
                raise VMError("%s: swtpm made no socket in 20 s" % self.name)
            time.sleep(0.1)

    def _stop_swtpm(self):
        if self.swtpm is not None:
            if self.swtpm.poll() is None:
                self.swtpm.terminate()
                try:
                    self.swtpm.wait(10)
                except subprocess.TimeoutExpired:
                    self.swtpm.kill()
                    self.swtpm.wait()
            self.swtpm = None

    def _start_once(self):
        # the VM slot first (vmlib takes it in _start_once too; taking it
        # here already keeps swtpm from running while another VM has it)
        self._take_slot()
        self._start_swtpm()
        super()._start_once()

    def kill(self):
        super().kill()
        self._stop_swtpm()

    def wait_exit(self, timeout):
        done = super().wait_exit(timeout)
        if done:
            # QEMU said goodbye to the TPM; let swtpm save and go
            if self.swtpm is not None:
                try:
                    self.swtpm.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            self._stop_swtpm()
        return done

    def job(self, script, timeout=900, what="guest job"):
        """Run SCRIPT (sh) in the guest detached from the ssh session and
        poll for its end: a long CPU-bound step (update-initramfs, clevis
        bind) under TCG can starve sshd long enough for ssh's keep-alive
        to drop a session that waits for it.  Returns its output; a
        non-zero exit fails the test."""
        self.ssh("rm -f /root/ep-job.rc /root/ep-job.log; cat > /root/ep-job.sh", input=script)
        self.ssh("setsid sh -c 'sh -e /root/ep-job.sh > /root/ep-job.log 2>&1; echo $? > /root/ep-job.rc' "
                 "< /dev/null > /dev/null 2>&1 &")
        deadline = time.time() + timeout
        while True:
            r = self.ssh("cat /root/ep-job.rc 2>/dev/null || true", check=False, timeout=60)
            rc = r.stdout.strip() if r.returncode == 0 else ""
            if rc:
                out = self.ssh("cat /root/ep-job.log").stdout
                if rc != "0":
                    self.fail("%s failed (exit %s):\n%s" % (what, rc, out))
                return out
            if time.time() > deadline:
                self.fail("%s did not end within %d s" % (what, timeout))
            time.sleep(5)

    # ------------------------------------------------------------ evidence
    def unlock_evidence(self, boot):
        """What boot N's serial log says about the root's unlock: counts of
        prompts, clevis answers, successes and failures."""
        text = self.boot_text(boot)
        return {"prompts": len(PROMPT.findall(text)),
                "clevis": len(UNLOCKED_CLEVIS.findall(text)),
                "set_up": len(SET_UP.findall(text)),
                "bad_key": len(BAD_KEY.findall(text))}

    def da_state(self):
        """The TPM's dictionary-attack counters (tpm2_getcap
        properties-variable): inLockout, TPM2_PT_LOCKOUT_COUNTER,
        TPM2_PT_MAX_AUTH_FAIL, as integers; a missing one is absent."""
        out = self.ssh("tpm2_getcap properties-variable").stdout
        got = {}
        for key in ("inLockout", "TPM2_PT_LOCKOUT_COUNTER", "TPM2_PT_MAX_AUTH_FAIL"):
            m = re.search(r"^\s*%s:\s*(0x[0-9a-fA-F]+|\d+)\s*$" % key, out, re.MULTILINE)
            if m:
                got[key] = int(m.group(1), 0)
        return got

    def pcr7(self):
        out = self.ssh("tpm2_pcrread sha256:7").stdout
        m = re.search(r"7\s*:\s*0x([0-9A-Fa-f]{64})", out)
        if not m:
            self.fail("tpm2_pcrread gave no sha256 PCR 7: %r" % out)
        return m.group(1).lower()
