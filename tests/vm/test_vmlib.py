#!/usr/bin/env python3
"""The VM rig's own rules, without QEMU: how the serial log is cut into
boots, and when a silent VM counts as an emulator fault (power-cycled) and
when it does not (left alone, so the scenario's own wait fails).
run-all.sh runs this before any VM boots; it needs no root."""

import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

FW = "BdsDxe: loading Boot0001 \"debian\" from HD(1,GPT,...)\n"
KERNEL = "[    0.000000] Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP\n"
EARLY = "[    1.426996] pnp: PnP ACPI: found 5 devices\n"
INIT = "[    3.100000] Run /init as init process\n[    3.5] lifeline: boot %d: ...\n"


class FakeVM(vmlib.VM):
    """A VM whose QEMU is a flag: start() and kill() record what the rig
    asked for, and a restart appends a new firmware start to the log."""

    def __init__(self, workdir):
        super().__init__(os.devnull, workdir, name="fake")
        self.alive = True
        self.cycles = 0

    def running(self):
        return self.alive

    def kill(self):
        self.alive = False

    def start(self, attempts=3):
        self.alive = True
        self.cycles += 1

    def write(self, text):
        with open(self.serial_log, "a") as f:
            f.write(text)


class Rig(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.vm = FakeVM(self.tmp.name)
        # the rig's loud lines, kept here: a CI log must not show an
        # "INFRASTRUCTURE FAULT" that only this test staged
        self.logged = []
        self._log, vmlib.log = vmlib.log, self.logged.append

    def tearDown(self):
        vmlib.log = self._log
        self.tmp.cleanup()

    def silent_for(self, seconds):
        """Pretend the log last grew SECONDS ago."""
        self.vm._kernel_stalled()  # notes the current size
        self.vm._growth = (self.vm._growth[0], time.time() - seconds)

    def test_boots_are_kernel_starts_with_their_firmware_lines(self):
        self.vm.write(FW + KERNEL + INIT % 1 + FW + KERNEL + INIT % 2)
        self.assertEqual(self.vm.boot_count(), 2)
        self.assertTrue(self.vm.boot_text(2).startswith("BdsDxe"))
        self.assertIn("lifeline: boot 2:", self.vm.boot_text(2))
        self.assertNotIn("lifeline: boot 2:", self.vm.boot_text(1))

    def test_kernel_silent_before_init_is_power_cycled_and_not_a_boot(self):
        self.vm.write(FW + KERNEL + INIT % 1 + FW + KERNEL + EARLY)
        self.silent_for(vmlib.KERNEL_STALL * vmlib.TIMEOUT_SCALE + 5)
        self.vm._recover_kernel_stall()
        self.assertEqual(self.vm.cycles, 1, "a kernel silent before /init is an emulator fault")
        self.assertEqual(len(self.logged), 1)
        self.assertIn("INFRASTRUCTURE FAULT", self.logged[0])
        self.assertIn("serial.log line 6, last line '[    1.426996] pnp: PnP ACPI: found 5 devices'",
                      self.logged[0])
        # the new QEMU boots the same disk: its kernel continues boot 2
        self.vm.write(FW + KERNEL + INIT % 2)
        self.assertEqual(self.vm.boot_count(), 2)
        self.assertIn("pnp: PnP ACPI", self.vm.boot_text(2))
        self.assertIn("lifeline: boot 2:", self.vm.boot_text(2))
        # and a later boot is numbered as if the stall never happened
        self.vm.write(FW + KERNEL + INIT % 3)
        self.assertEqual(self.vm.boot_count(), 3)
        self.assertIn("lifeline: boot 3:", self.vm.boot_text(3))

    def test_silence_after_init_is_the_guest_and_left_alone(self):
        # a hang in the initramfs or in systemd (what lifeline is for), or
        # a booted machine at its login prompt: never power-cycled
        self.vm.write(FW + KERNEL + INIT % 1)
        self.silent_for(vmlib.KERNEL_STALL * vmlib.TIMEOUT_SCALE * 10)
        self.vm._recover_kernel_stall()
        self.assertEqual(self.vm.cycles, 0)

    def test_short_silence_is_left_alone(self):
        self.vm.write(FW + KERNEL + EARLY)
        self.silent_for(vmlib.KERNEL_STALL * vmlib.TIMEOUT_SCALE - 30)
        self.vm._recover_kernel_stall()
        self.assertEqual(self.vm.cycles, 0)

    def test_growing_log_is_not_silent(self):
        self.vm.write(FW + KERNEL + EARLY)
        self.silent_for(vmlib.KERNEL_STALL * vmlib.TIMEOUT_SCALE + 5)
        self.vm.write(EARLY)
        self.vm._recover_kernel_stall()
        self.assertEqual(self.vm.cycles, 0)

    def test_power_cycles_are_bounded(self):
        self.vm.write(FW + KERNEL + EARLY)
        for i in range(vmlib.FIRMWARE_STALL_RETRIES):
            self.silent_for(vmlib.KERNEL_STALL * vmlib.TIMEOUT_SCALE + 5)
            self.vm._recover_kernel_stall()
            self.vm.write(FW + KERNEL + EARLY)
        self.assertEqual(self.vm.cycles, vmlib.FIRMWARE_STALL_RETRIES)
        self.silent_for(vmlib.KERNEL_STALL * vmlib.TIMEOUT_SCALE + 5)
        with self.assertRaises(vmlib.VMError) as e:
            self.vm._recover_kernel_stall()
        self.assertIn("went silent before /init again", str(e.exception))
        self.assertEqual(self.vm.boot_count(), 1)


class Pid1(unittest.TestCase):
    """VM.ssh_pid1(): only PID 1's silence (it is re-executing) is asked
    again; an answer, whatever it says, is final."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.vm = FakeVM(self.tmp.name)
        self.logged = []
        self._log, vmlib.log = vmlib.log, self.logged.append
        self._sleep, vmlib.time.sleep = vmlib.time.sleep, lambda s: None
        self.asked = 0

    def tearDown(self):
        vmlib.log = self._log
        vmlib.time.sleep = self._sleep
        self.tmp.cleanup()

    def answers(self, *replies):
        def ssh(command, check=True, timeout=120, input=None):
            rc, out, err = replies[min(self.asked, len(replies) - 1)]
            self.asked += 1
            return vmlib.subprocess.CompletedProcess(command, rc, out, err)
        self.vm.ssh = ssh

    def test_silence_during_reexec_is_asked_again(self):
        self.answers((0, "", "Failed to retrieve unit state: Message recipient disconnected "
                             "from message bus without replying\n"),
                     (1, "", "Failed to connect to bus: No such file or directory\n"),
                     (0, "masked\n", ""))
        r = self.vm.ssh_pid1("systemctl show -p LoadState --value x.service || true")
        self.assertEqual(r.stdout, "masked\n")
        self.assertEqual(self.asked, 3)
        self.assertEqual(len(self.logged), 2)
        self.assertIn("PID 1 was re-executing", self.logged[0])

    def test_an_answer_is_never_asked_again(self):
        self.answers((3, "inactive\n", ""))
        r = self.vm.ssh_pid1("systemctl is-active x.service", check=False)
        self.assertEqual((r.returncode, r.stdout, self.asked), (3, "inactive\n", 1))
        with self.assertRaises(vmlib.VMError) as e:
            self.vm.ssh_pid1("systemctl is-active x.service")
        self.assertIn("exit 3", str(e.exception))
        self.assertEqual(self.asked, 2)

    def test_silence_is_bounded(self):
        self.answers((1, "", "Failed to get properties: Transport endpoint is not connected\n"))
        t = [0.0]
        real_time = vmlib.time.time

        def clock():
            t[0] += 5
            return t[0]
        vmlib.time.time = clock
        try:
            with self.assertRaises(vmlib.VMError) as e:
                self.vm.ssh_pid1("systemctl show x.service")
        finally:
            vmlib.time.time = real_time
        self.assertIn("PID 1 did not answer", str(e.exception))
        self.assertLess(self.asked, 10)


if __name__ == "__main__":
    unittest.main(verbosity=1)
