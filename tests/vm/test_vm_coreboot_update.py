#!/usr/bin/env python3
"""VM test, board qemu-coreboot: a firmware update through the menu that
keeps the TOTP (issue 24).

    test_vm_coreboot_update.py [UpdateTest]

Two ROMs from the project's builder: the board's (A) and the same board
with another coreboot config string, CONFIG_LINUX_COMMAND_LINE
(`build-rom.py --cmdline`, B): PCR 2 differs (the payload is measured).

Boot 1 on A (recovery shell): the TPM is reset and a TOTP secret sealed
to PCRs 0,1,2,3,7 (PCR 4 is left out because the checks run in the
recovery shell, which extends PCR 4 with "recovery"); then `heads menu`
(scripted UI) -> Options -> f -> f with B on a second disk (an ext4
"USB drive", given with --media): the menu predicts PCR 2 of B, seals a
new TOTP secret to it, flashes /dev/mtd0 (linux_mtd) and would reboot.
QEMU is then power-cycled on the same flash file and TPM state.

Boot 2: coreboot B runs (PCR 2 = the host's prediction for B = what the
menu showed) and `heads totp show` gives the new secret's code at once,
with no reseal. The Disk Unlock Key across an update, and the third run
(ROM C of ensure_other_build_rom(), which the prediction refuses, then the
reseal flow after the reboot) are in vm-coreboot-flow: they need the demo
disk's LUKS containers and a signed /boot (the reseal's integrity gate).
"""
import base64
import hashlib
import hmac
import os
import re
import shutil
import struct
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
UPDATE_OUT = os.path.join(vm.BUILDDIR, "qemu-coreboot-update")
UPDATE_CMDLINE = "console=ttyS0 heads.update=2"
OTHER_OUT = os.path.join(vm.BUILDDIR, "qemu-coreboot-sha1")
OTHER_CMDLINE = "console=ttyS0 heads.update=3"


def totp(secret_b32, t):
    key = base64.b32decode(secret_b32)
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) % 1000000)


def host(*argv):
    return subprocess.run([vm.HEADS, *argv], capture_output=True, text=True,
                          check=True).stdout.strip()


def ensure_update_rom():
    """ROM B: the board's ROM with another CONFIG_LINUX_COMMAND_LINE, from
    the same kernel and payload (cached by its inputs like A)."""
    tcb.tool(os.path.join(vm.SRCDIR, "tools/rom/build-rom.py"), "--board", tcb.BOARD,
             "--kernel", os.path.join(tcb.OUT, "bzImage"), "--initrd",
             os.path.join(tcb.OUT, "initrd.cpio.xz"), "--out", UPDATE_OUT,
             "--cmdline", UPDATE_CMDLINE)
    return os.path.join(UPDATE_OUT, "coreboot.rom")


def ensure_other_build_rom():
    """ROM C: "an image from a different build": the board's coreboot built
    with another measurement scheme, CONFIG_TPM_HASH_SHA1 instead of
    CONFIG_TPM_HASH_SHA256 (coreboot then extends the SHA-1 bank: PCR 2 of
    the SHA-256 bank, the one sealed to, stays zero), and another command
    line. Same layout, same payload files. The board directory given to the
    builder is a copy whose coreboot.config differs in that line (the
    builder reads only coreboot.config and sources from it)."""
    with tempfile.TemporaryDirectory(prefix="heads-cb-sha1-") as board:
        with open(os.path.join(tcb.BOARD, "coreboot.config")) as f:
            cfg = f.read()
        assert "CONFIG_TPM_HASH_SHA256=y\n" in cfg
        with open(os.path.join(board, "coreboot.config"), "w") as f:
            f.write(cfg.replace("CONFIG_TPM_HASH_SHA256=y\n", "CONFIG_TPM_HASH_SHA1=y\n"))
        shutil.copyfile(os.path.join(tcb.BOARD, "sources"), os.path.join(board, "sources"))
        tcb.tool(os.path.join(vm.SRCDIR, "tools/rom/build-rom.py"), "--board", board,
                 "--kernel", os.path.join(tcb.OUT, "bzImage"), "--initrd",
                 os.path.join(tcb.OUT, "initrd.cpio.xz"), "--out", OTHER_OUT,
                 "--cmdline", OTHER_CMDLINE)
    return os.path.join(OTHER_OUT, "coreboot.rom")


class UpdateTest(unittest.TestCase):
    def test_update_keeps_totp(self):
        rom_a = tcb.ensure_rom()
        rom_b = ensure_update_rom()
        pcr2_a = host("tpm", "predict-pcr2", "--rom", rom_a)
        pcr2_b = host("tpm", "predict-pcr2", "--rom", rom_b)
        self.assertNotEqual(pcr2_a, pcr2_b)
        with tempfile.TemporaryDirectory(prefix="heads-cbupdate-") as d:
            flash = os.path.join(d, "flash.rom")
            shutil.copyfile(rom_a, flash)
            usbroot = os.path.join(d, "usb")
            os.makedirs(os.path.join(usbroot, "firmware"))
            shutil.copyfile(rom_b, os.path.join(usbroot, "firmware", "update.rom"))
            usb = os.path.join(d, "usb.img")
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "USBFW", "-d", usbroot, usb, "16M"],
                           check=True, capture_output=True)
            state = os.path.join(d, "tpm-state")
            with tcb.CorebootVM(flash, name="vm-coreboot-update", state=state,
                                drives=[(usb, "heads-usb")]) as m:
                m.recovery_shell(BOOT_TIMEOUT)
                live2 = m.shell("heads tpm pcrread 2").split()[-1].lower()
                reset = m.shell("echo ownerpass | heads tpm reset --owner-fd 0 2>&1; "
                                "echo rc=$?", timeout=300)
                sealed = m.shell("echo ownerpass | heads totp seal --owner-fd 0 "
                                 "--pcrs 0,1,2,3,7 2>&1; echo rc=$?", timeout=300)
                # The payload has dash and heads only (no mkdir, no grep):
                # /tmp (no kexec*.txt in it) is the unsigned /boot.
                m.shell("printf 'n\\ni\\no\\nf\\nf\\n1\\ny\\ny\\n' > /tmp/ans; "
                        "printf 'export CONFIG_TOTP_PCRS=\"0,1,2,3,7\"\\n' > /tmp/pcrs.cfg")
                menu = m.shell(
                    "echo ownerpass | HEADS_UI_SECRET_FD=0 heads menu --ui script "
                    "--ui-script /tmp/ans --boot /tmp --keyring /tmp/kr --config "
                    "/etc/config --config /tmp/pcrs.cfg --user-config /tmp/cu --secret-dir "
                    "/tmp/sd --no-act --media /dev/vda > /tmp/menu.out 2>&1; echo rc=$?; "
                    "while IFS= read -r l; do case \"$l\" in *'Next boot'*|*'Secret ('*|"
                    "*carried*|*reboot*|*rror*|*ERROR*|*'Keep the TOTP'*|*'Flash complete'*|"
                    "*SHA-256*|*CHANGES*|*changed*|*refused*) printf '%s\\n' \"$l\";; esac; "
                    "done < /tmp/menu.out", timeout=1800)
                m.send("exit\n")
            print(reset)
            print(sealed)
            print(menu)
            self.assertEqual(live2, pcr2_a)
            self.assertIn("rc=0", reset)
            self.assertIn("rc=0", sealed)
            self.assertIn("rc=0", menu)
            self.assertIn(f"Next boot: PCR 2 {pcr2_b} (now {pcr2_a}): changes", menu)
            self.assertIn("Keep the TOTP across the update", menu)
            self.assertIn("Flash complete", menu)
            self.assertIn("heads menu: reboot (dry run: not rebooting)", menu)
            secret = re.search(r"Secret \(base32\): ([A-Z2-7]+)", menu).group(1)
            # the flash file holds B (no owner files on A: nothing carried)
            self.assertEqual(host("tpm", "predict-pcr2", "--rom", flash), pcr2_b)
            with open(flash, "rb") as f1, open(rom_b, "rb") as f2:
                self.assertEqual(f1.read(), f2.read())

            with tcb.CorebootVM(flash, name="vm-coreboot-update-2", state=state) as m:
                m.recovery_shell(BOOT_TIMEOUT)
                live2 = m.shell("heads tpm pcrread 2").split()[-1].lower()
                t0 = time.time()
                shown = m.shell("heads totp show 2>&1; echo rc=$?")
                t1 = time.time()
                cmdline = m.shell("read l < /proc/cmdline; echo \"$l\"")
                m.send("exit\n")
            print(shown)
            self.assertIn("heads.update=2", cmdline)
            self.assertEqual(live2, pcr2_b)
            self.assertIn("rc=0", shown)
            code = re.search(r"TOTP: (\d{6})", shown).group(1)
            self.assertIn(code, {totp(secret, t) for t in (t0 - 30, t0, t1, t1 + 30)})


if __name__ == "__main__":
    vm.main()
