#!/usr/bin/env python3
"""VM suite, the menu (issue 10): the payload in QEMU with a private swtpm,
a small /boot disk and the board's ROM config area (a blank image: the
machine's flash), driven on the serial console in line mode (HEADS_UI=line
on the kernel command line reaches init's environment). TPM, ROM and disk
are kept across boots.

Boot 1: clean boot -> ownership (TPM reset, GPG key, its public key written
into the ROM keyring, default entry, /boot signed, TOTP sealed to the next
boot's PCR 7 with its QR), then the reboot the ROM write asks for. Boot 2:
init extracts the ROM keyring (no "GPG keyring empty"); the TOTP shown
equals the code the host computes from the enrolled secret; the default
boot verifies /boot with the ROM key and kexecs into the target (a busybox
initrd printing a marker). Boot 3 (one /boot file modified on the host):
the TOTP still matches; the boot is refused and the report names the file;
a forced boot extends PCR 4 "unsafe" and the TOTP no longer unseals.
Boot 4: a setting saved into the ROM from the configuration menu, and a new
TOTP secret sealed to the next boot's PCR 7 before the reboot. Boot 5: the
setting is in force and the new TOTP matches; the recovery shell from the
options menu: /tmp/secret wiped, PCR 4 "recovery".

    test_vm_menu.py [--board=qemu-coreboot]

On board qemu-coreboot (vm-coreboot-menu) the machine boots coreboot.rom
as its flash: the ROM writes of boots 1 and 4 go into its CBFS through
/dev/mtd0 and each reboot restarts QEMU on the same flash file.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

BOOT_TIMEOUT = 300
STEP = 600          # ownership under TCG: key generation, TPM reset, signing
PART_OFFSET = 2048 * 512
MARKER = "HEADS-MENU-TARGET-OK"
CAT = "while IFS= read -r l; do printf '%%s\\n' \"$l\"; done < %s"  # cat, as a builtin loop


def totp(secret_b32, t):
    key = base64.b32decode(secret_b32)
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) % 1000000)


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


def make_disk(tmp, payload):
    """A 96 MiB disk, one partition (vda1 = CONFIG_BOOT_DEV), ext4 /boot with
    the payload's kernel, a busybox target initrd and a grub.cfg."""
    boot = os.path.join(tmp, "bootfs")
    root = os.path.join(tmp, "target")
    os.makedirs(os.path.join(boot, "grub"))
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    os.symlink("busybox", os.path.join(root, "bin", "sh"))
    with open(os.path.join(root, "init"), "w") as f:
        f.write("#!/bin/sh\n/bin/busybox echo %s\n/bin/busybox poweroff -f\n" % MARKER)
    os.chmod(os.path.join(root, "init"), 0o755)
    files = subprocess.run("find . | sort", shell=True, cwd=root, capture_output=True,
                           check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=files, cwd=root,
                          capture_output=True, check=True).stdout
    with open(os.path.join(boot, "initrd.img"), "wb") as f:
        f.write(cpio)
    shutil.copy(os.path.join(payload, "vmlinuz"), os.path.join(boot, "vmlinuz"))
    with open(os.path.join(boot, "grub", "grub.cfg"), "w") as f:
        f.write("menuentry 'Target' {\n\tlinux /vmlinuz quiet panic=-1\n"
                "\tinitrd /initrd.img\n}\n")
    img = os.path.join(tmp, "disk.img")
    with open(img, "wb") as f:
        f.truncate(96 * 1024 * 1024)
    run("sfdisk", "--quiet", img, input=b"label: dos\nstart=2048, type=83\n")
    run("mke2fs", "-q", "-t", "ext4", "-F", "-E", f"offset={PART_OFFSET}", "-d", boot,
        img, "64M")
    return img


def modify_boot_file(tmp, img, name, data):
    """Replace a file of the ext4 partition from the host (debugfs on a copy
    of the partition, written back)."""
    part = os.path.join(tmp, "part.img")
    run("dd", f"if={img}", f"of={part}", "bs=512", "skip=2048", "count=131072",
        "status=none")
    new = os.path.join(tmp, "newfile")
    with open(new, "w") as f:
        f.write(data)
    run("debugfs", "-w", "-R", f"rm {name}", part)
    run("debugfs", "-w", "-R", f"write {new} {name}", part)
    run("dd", f"if={part}", f"of={img}", "bs=512", "seek=2048", "conv=notrunc",
        "status=none")


class MenuVM(vm.VM):
    """One boot of the machine: TPM state, ROM and disk kept (no snapshot)."""

    def __init__(self, payload, disk, state, rom, name):
        if vm.on_coreboot():  # rom: the flash (CBFS), line UI in its config.user
            super().__init__(None, flash=rom, disk=disk, state=state, snapshot=False,
                             name=name.replace("vm-", "vm-coreboot-", 1))
            return
        super().__init__(payload, firmware="seabios", disk=disk, append="HEADS_UI=line",
                         name=name, state=state, snapshot=False, rom=rom)

    def answer(self, prompt, text, timeout=STEP):
        out = self.expect(prompt, timeout)
        self.send(text + "\n")
        return out

    def wait_exit(self, timeout=120):
        self.qemu.wait(timeout)


class MenuFlow(unittest.TestCase):
    def test_ownership_totp_boot_tamper_force_recovery(self):
        try:
            # board qemu's payload: its Debian kernel is the target kernel
            # on both boards (the coreboot board kernel is not relocatable
            # above 4 GiB, so kexec_file_load refuses it)
            payload = vm.ensure_payload()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        with tempfile.TemporaryDirectory(prefix="heads-vm-menu-") as tmp:
            state = os.path.join(tmp, "tpm")
            os.makedirs(state)
            if vm.on_coreboot():  # the flash (builds the ROM and its kernel)
                rom = vm.coreboot_flash(os.path.join(tmp, "flash.rom"))
            else:
                rom = vm.board.blank_rom(os.path.join(tmp, "rom.img"))
            disk = make_disk(tmp, payload)

            # Boot 1: clean boot -> ownership; the public key goes into the
            # ROM, so the machine reboots (QEMU runs with -no-reboot: exits).
            with MenuVM(payload, disk, state, rom, "vm-menu-1") as m:
                m.answer("Clean Boot Detected - Take Ownership?", "y", BOOT_TIMEOUT)
                m.answer("New TPM owner passphrase (1-32 characters): ", "owner-pass")
                m.answer("Repeat the new TPM owner passphrase: ", "owner-pass")
                m.answer("New GPG key passphrase (Admin PIN) (8-25 characters): ",
                         "gpg-pass-123")
                m.answer("Repeat the new GPG key passphrase (Admin PIN): ", "gpg-pass-123")
                m.answer("Name and e-mail of the key [OEM Key <oem@example.com>]: ", "")
                m.answer("Write an encrypted backup of it", "n")
                m.answer("Choose [1-1 or key", "1")
                m.answer("(attempt 1): ", "gpg-pass-123")
                out = m.expect("[Press Enter to continue]", STEP)
                secret = re.search(r"Secret \(base32\): ([A-Z2-7]+)", out).group(1)
                m.send("\n")
                out = m.expect("The ROM changed: the machine reboots now", STEP)
                self.assertIn("in the ROM", out)
                m.send("\n")
                m.wait_exit(STEP)
            listing = subprocess.run([vm.HEADS, "rom", "list", "--device", rom],
                                     capture_output=True, text=True, check=True).stdout
            self.assertIn(".gnupg/pubring.kbx", listing)

            # Boot 2: the ROM keyring is found; the TOTP (sealed to this
            # boot's PCR 7) equals the host's code; the default boot verifies
            # /boot with the ROM key and kexecs.
            with MenuVM(payload, disk, state, rom, "vm-menu-2") as m:
                out = self.check_totp(m, secret, BOOT_TIMEOUT)
                self.assertNotIn("GPG keyring empty", out)
                self.assertNotIn("TOTP Generation Failed", out)
                m.send("d\n")
                m.expect(MARKER, STEP)
                m.wait_exit()

            # Boot 3 (same TPM and ROM, /boot modified on the host): the TOTP
            # still matches; the modified file is named and the boot refused;
            # a forced boot extends PCR 4.
            modify_boot_file(tmp, disk, "grub/grub.cfg",
                             "menuentry 'Target' {\n\tlinux /vmlinuz panic=-1 evil\n"
                             "\tinitrd /initrd.img\n}\n")
            with MenuVM(payload, disk, state, rom, "vm-menu-3") as m:
                out = self.check_totp(m, secret, BOOT_TIMEOUT)
                self.assertNotIn("GPG keyring empty", out)
                m.send("d\n")
                out = m.expect("ERROR: Boot Hash Mismatch", STEP)
                out += m.expect("Choose [1-3 or key", 60)
                self.assertIn("changed: ./grub/grub.cfg", out)
                m.send("m\n")
                m.answer("Choose [1-5 or key", "o", 60)
                m.answer("Choose [1-15 or key", "b", 60)
                m.answer("Choose [1-4 or key", "i", 60)
                m.answer("Unsafe Boot Warning", "y", 60)
                out = m.expect("Choose [1-1 or key", STEP)
                self.assertIn("TOTP: UNSAFE BOOT", out)
                self.assertIn('PCR 4 extended with "unsafe"', out)
                self.assertIn("TOTP no longer unseals in this boot", out)
                m.send("1\n")
                m.expect(MARKER, STEP)
                m.wait_exit()

            # Boot 4: a setting saved into the ROM (configuration menu): PCR 7
            # of the next boot changes, so a new TOTP secret is sealed to it
            # before the reboot.
            with MenuVM(payload, disk, state, rom, "vm-menu-4") as m:
                self.check_totp(m, secret, BOOT_TIMEOUT)
                m.send("o\n")
                m.answer("Choose [1-15 or key", "c", 60)
                m.expect("Config Management Menu", 60)
                m.answer("Choose [1-11 or key", "M", 60)
                m.expect("Boot the default entry after a countdown", 60)
                m.answer("Choose [1-4 or key", "5", 60)
                m.expect("Automatic boot: 5 s", 60)
                m.answer("Choose [1-11 or key", "s", 60)
                m.answer("Write the settings into the ROM?", "y", 60)
                m.answer("The machine reboots now.", "", STEP)
                m.answer("Seal a new TOTP secret to the next boot now", "y", 60)
                m.answer("TPM owner passphrase: ", "owner-pass", 60)
                out = m.expect("[Press Enter to continue]", STEP)
                secret = re.search(r"Secret \(base32\): ([A-Z2-7]+)", out).group(1)
                m.send("\n")
                m.wait_exit(STEP)

            # Boot 5: the saved setting is in force, the new TOTP matches;
            # the recovery shell from the options menu.
            with MenuVM(payload, disk, state, rom, "vm-menu-5") as m:
                out = self.check_totp(m, secret, BOOT_TIMEOUT)
                self.assertNotIn("TOTP Generation Failed", out)
                m.send("o\n")
                m.answer("Choose [1-15 or key", "x", 60)
                m.expect("Entering the recovery shell", 120)
                m.send("dmesg -n 1\n")
                # shell builtins only: the coreboot payload's shell is dash
                # without busybox (no cat, ls, wc)
                self.assertIn('CONFIG_AUTO_BOOT_TIMEOUT="5"', m.shell(CAT % "/etc/config.user"))
                self.assertEqual(m.shell("n=0; for f in /tmp/secret/* /tmp/secret/.[!.]*; do "
                                         "[ -e \"$f\" ] && n=$((n+1)); done; echo $n").strip(),
                                 "0")
                trace = vm.parse_trace(m.shell(CAT % "/tmp/measuring_trace.log"))
                self.assertIn((4, hashlib.sha256(b"recovery").digest(), "recovery"), trace)

    def check_totp(self, m, secret, timeout=STEP):
        """The main menu's TOTP is the host's code; returns the console text
        up to the menu."""
        out = m.expect("Heads Boot Menu ====", timeout)
        t0 = time.time()
        out += m.expect("Choose [1-5 or key", 60)
        t1 = time.time()
        shown = re.findall(r"TOTP: (\d{6})", out)
        self.assertTrue(shown, out)
        self.assertIn(shown[-1], {totp(secret, t) for t in (t0 - 30, t0, t1, t1 + 30)})
        return out


if __name__ == "__main__":
    vm.main()
