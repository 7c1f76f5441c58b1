#!/usr/bin/env python3
"""VM test, board qemu-coreboot: flashing the pflash from the guest (issue 24).

    test_vm_coreboot_flash.py [FlashTest]

The guest (recovery shell) writes the owner's files (etc/config.user,
.gnupg/gpg.conf) into CBFS by flashing /dev/mtd0 (`heads rom add --device
/dev/mtd0`: romcfg_write through flash.h's MTD backend, only the COREBOOT
region's changed pieces); libflashrom is not in the payload, so `internal`
says so. QEMU is then stopped and started again on the same flash file and TPM
state (a power cycle: what the guest wrote is in the pflash's backing
file) and init of the second boot finds the files in CBFS: the config
value is there, PCR 7 is the host's prediction from the flash file as
written (`heads rom predict-pcr7`), PCR 2 did not move (coreboot does not
load the owner's files), and cbfstool reads the flash the guest wrote.
(A reset inside one QEMU, monitor system_reset, was tried: coreboot's
second boot gave the kernel no ACPI tables, so no TPM; measured once.)
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vm  # noqa: E402
import test_vm_coreboot as tcb  # noqa: E402

BOOT_TIMEOUT = tcb.BOOT_TIMEOUT


def host(*argv):
    return subprocess.run([vm.HEADS, *argv], capture_output=True, text=True,
                          check=True).stdout.strip()


class FlashTest(unittest.TestCase):
    def test_owner_files_flashed_then_reboot(self):
        rom = tcb.ensure_rom()
        with tempfile.TemporaryDirectory(prefix="heads-cbflash-") as d:
            flash = os.path.join(d, "flash.rom")
            with open(rom, "rb") as src, open(flash, "wb") as dst:
                dst.write(src.read())
            pcr2 = host("tpm", "predict-pcr2", "--rom", flash)
            state = os.path.join(d, "tpm-state")
            with tcb.CorebootVM(flash, name="vm-coreboot-flash", state=state) as m:
                m.recovery_shell(BOOT_TIMEOUT)
                nolib = m.shell("heads flash read --programmer internal --out /tmp/x 2>&1; "
                                "echo rc=$?")
                m.shell("printf 'export CONFIG_CB_FLASHED=\"by-the-guest\"\\n' "
                        "> /tmp/config.user; printf 'no-greeting\\n' > /tmp/gpg.conf")
                wrote = m.shell("heads rom add --device /dev/mtd0 "
                                "etc/config.user=/tmp/config.user "
                                ".gnupg/gpg.conf=/tmp/gpg.conf 2>&1; echo rc=$?",
                                timeout=600)
                listed = m.shell("heads rom list --device /dev/mtd0")
                m.send("exit\n")
            with open(m.log_path, errors="replace") as f:
                first = f.read()
            with tcb.CorebootVM(flash, name="vm-coreboot-flash-2", state=state) as m:
                m.recovery_shell(BOOT_TIMEOUT)
                value = m.shell("heads config get CONFIG_CB_FLASHED --file /etc/config.user")
                conf = m.shell("read l < /.gnupg/gpg.conf; echo $l")
                base = m.shell("read b < /tmp/pcr7_base.txt; echo $b").split()[-1]
                live7 = m.shell("heads tpm pcrread 7").split()[-1]
                live2 = m.shell("heads tpm pcrread 2").split()[-1]
                m.send("exit\n")
            print(wrote)
            print(listed)
            self.assertIn("rc=1", nolib)
            self.assertIn("this build carries no libflashrom (libflashrom.so.1): programmer "
                          "internal unavailable", nolib)
            self.assertIn("rc=0", wrote)
            self.assertIn("etc/config.user", listed)
            with open(m.log_path, errors="replace") as f:
                console = f.read()
            self.assertIn("ROM config area /dev/mtd0: 0 files", first)
            self.assertIn("ROM config area /dev/mtd0: 2 files", console)
            self.assertIn("by-the-guest", value)
            self.assertIn("no-greeting", conf)
            # The flash file as the guest left it.
            files = host("rom", "list", "--device", flash)
            self.assertIn(".gnupg/gpg.conf", files)
            cbfs = subprocess.run(["cbfstool", flash, "print", "-r", "COREBOOT"],
                                  capture_output=True, text=True, check=True).stdout
            self.assertIn("heads/initrd/etc/config.user", cbfs)
            self.assertIn("heads/initrd/.gnupg/gpg.conf", cbfs)
            want7 = host("rom", "predict-pcr7", "--device", flash, "--base", base, "--board",
                         os.path.join(tcb.BOARD, "config"))
            self.assertEqual(live7.lower(), want7)
            self.assertEqual(live2.lower(), pcr2)
            self.assertEqual(host("tpm", "predict-pcr2", "--rom", flash), pcr2)


if __name__ == "__main__":
    vm.main()
