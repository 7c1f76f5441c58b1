#!/usr/bin/env python3
"""VM suite, what a person sees with `make run` (issue 21).

The board's run recipe as `make run` uses it (reboot=True: no -no-reboot):
a reboot from inside the guest restarts the machine in place, the same QEMU
boots Heads a second time (the ownership flow's "the machine reboots now"
no longer ends the session).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

BOOT_TIMEOUT = 300


class ConsoleTest(unittest.TestCase):
    def test_reboot_in_place(self):
        try:
            payload = vm.ensure_payload()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        with vm.VM(payload, firmware="seabios", name="vm-console", reboot=True) as m:
            m.recovery_shell(BOOT_TIMEOUT)
            boot_id = m.shell("cat /proc/sys/kernel/random/boot_id").strip()
            m.send("reboot -f\n")
            # Power-on again in the same QEMU: the firmware, the kernel and
            # init run once more.
            m.recovery_shell(BOOT_TIMEOUT)
            self.assertIsNone(m.qemu.poll(), "QEMU ended at the guest's reboot")
            second = m.shell("cat /proc/sys/kernel/random/boot_id").strip()
            self.assertRegex(second, r"^[0-9a-f-]{36}$")
            self.assertNotEqual(second, boot_id)


if __name__ == "__main__":
    vm.main()
