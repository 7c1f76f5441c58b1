#!/usr/bin/env python3
"""VM test, board qemu-coreboot: flashing the pflash from the guest (issue 24).

    test_vm_coreboot_flash.py [FlashTest]

The guest (recovery shell) writes the owner's files (etc/config.user,
.gnupg/gpg.conf) into CBFS by flashing /dev/mtd0 (`heads rom add --device
/dev/mtd0`: romcfg_write through flash.h's MTD backend, only the COREBOOT
region's changed pieces); libflashrom is not in the payload, so `internal`
says so. The host then resets the same QEMU (monitor system_reset: a
platform reset, the pflash and the swtpm kept; -no-reboot dropped for it)
and init of the second boot finds the files in CBFS: the config value is
there, PCR 7 is the host's prediction from the flash file as written
(`heads rom predict-pcr7`), PCR 2 did not move (coreboot does not load the
owner's files), and cbfstool reads the flash the guest wrote.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vm  # noqa: E402
import test_vm_coreboot as tcb  # noqa: E402

BOOT_TIMEOUT = tcb.BOOT_TIMEOUT


class ResettableVM(tcb.CorebootVM):
    """CorebootVM with a monitor socket and without -no-reboot, so the host
    can reset the machine in place (QEMU with -no-reboot turns a reset
    into an exit)."""

    def start(self):
        self.monitor = os.path.join(self._tmp.name, "monitor.sock")
        orig = tcb.cbrun.qemu_argv

        def argv_with_monitor(*a, **kw):
            argv = orig(*a, **kw)
            argv.remove("-no-reboot")
            i = argv.index("-monitor")
            argv[i + 1] = f"unix:{self.monitor},server=on,wait=off"
            return argv
        tcb.cbrun.qemu_argv = argv_with_monitor
        try:
            super().start()
        finally:
            tcb.cbrun.qemu_argv = orig

    def system_reset(self):
        for _ in range(50):
            if os.path.exists(self.monitor):
                break
            time.sleep(0.1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.monitor)
            s.sendall(b"system_reset\n")
            time.sleep(1)


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
            with ResettableVM(flash, name="vm-coreboot-flash") as m:
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
                m.system_reset()
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
            # Two boots in the one QEMU; the second found the files.
            self.assertEqual(console.count("Run /init as init process"), 2, "no second boot")
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
