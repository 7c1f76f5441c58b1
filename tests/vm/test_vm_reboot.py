#!/usr/bin/env python3
"""VM suite, `make run` reboots in place (issue 21): boards/qemu/run.py
itself (the -nographic serial console on pipes), no disk, line-mode UI.

Boot 1: init's "No /boot" menu, the recovery shell from it; an NV index is
defined in the TPM and written; `reboot -f`. run.py sees QMP's SHUTDOWN
reason guest-reset and starts QEMU again (and swtpm, which QEMU's TPM
emulator shuts down when it ends) on the same TPM state directory.
Boot 2: the menu again; from its recovery shell the NV index still holds
what boot 1 wrote and PCR 4 was reset (a new boot: the same value as in
boot 1's recovery shell, not one extended further); `poweroff -f` ends run.py with exit 0.
"""
import os
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

BOOT_TIMEOUT = 300
RUN_PY = os.path.join(vm.BOARD, "run.py")
NV_INDEX = "0x01500042"
NV_DATA = "KEPT-NV1"  # 8 bytes, the index's size
RESTARTED = "run: the guest reset the machine: QEMU starts again"


class RunPy(vm.VM):
    """The machine as `make run` drives it: run.py (its own swtpm and QEMU,
    restarted on a reset), on pipes instead of a terminal."""

    def __init__(self, payload, tmp):
        super().__init__(payload, name="vm-reboot")
        self.argv = [sys.executable, RUN_PY, "--payload", payload, "--firmware", "seabios",
                     "--state", os.path.join(tmp, "tpm"), "--rom", os.path.join(tmp, "rom.img"),
                     "--append", "HEADS_UI=line"]

    def start(self):
        self.spawn(self.argv)

    def close(self):
        # run.py stops its QEMU and swtpm (by their pids) on SIGTERM.
        if self.qemu and self.qemu.poll() is None:
            self.qemu.send_signal(signal.SIGTERM)
            try:
                self.qemu.wait(30)
            except subprocess.TimeoutExpired:
                self.qemu.kill()
                self.qemu.wait()
        super().close()

    def menu_to_shell(self):
        self.expect("ERROR: No /boot Partition Found", BOOT_TIMEOUT)
        self.expect("Choose [", 60)
        self.send("x\n")
        self.expect("Entering the recovery shell", 120)
        self.send("dmesg -n 1\n")


def pcr4(m):
    return m.shell("cat /sys/class/tpm/tpm0/pcr-sha256/4").strip().lower()


class RebootInPlace(unittest.TestCase):
    def test_guest_reboot_restarts_qemu_poweroff_ends_run(self):
        try:
            payload = vm.ensure_payload()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        with tempfile.TemporaryDirectory(prefix="heads-vm-reboot-") as tmp, \
                RunPy(payload, tmp) as m:
            # Boot 1
            m.menu_to_shell()
            boot1_pcr4 = pcr4(m)
            self.assertNotEqual(boot1_pcr4, "00" * 32)
            out = m.shell(f"echo | heads tpm nv define {NV_INDEX} --size 8 --owner-fd 0; "
                          f"echo rc=$?; printf {NV_DATA} | heads tpm nv write {NV_INDEX}; "
                          "echo rc=$?", 120)
            self.assertEqual(out.count("rc=0"), 2, out)
            self.assertIn(NV_DATA, m.shell(f"heads tpm nv read {NV_INDEX}", 60))
            m.send("reboot -f\n")
            m.expect(RESTARTED, 120)
            # Boot 2: a new QEMU, the same TPM state
            m.menu_to_shell()
            self.assertIn(NV_DATA, m.shell(f"heads tpm nv read {NV_INDEX}; echo", 60))
            self.assertEqual(pcr4(m), boot1_pcr4)  # reset, then the same measurements
            m.send("poweroff -f\n")
            self.assertEqual(m.qemu.wait(120), 0)
            with m.lock:
                self.assertEqual(bytes(m.buf).count(RESTARTED.encode()), 1)


if __name__ == "__main__":
    vm.main()
