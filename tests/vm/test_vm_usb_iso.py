#!/usr/bin/env python3
"""VM suite, USB/ISO boot from the menu (issue 18): the payload in QEMU
(SeaBIOS, swtpm, line-mode UI on the serial console) with no /boot disk and
a USB stick (qemu-xhci + usb-storage, removable) holding an ext4 file
system made here with two ISO images built with xorriso: signed.iso (a
detached signature by a key in the ROM keyring, written into the board's
ROM config area with `heads rom add-keyring`) and unsigned.iso. Each ISO's
kernel is the payload's own kernel and its initrd (busybox) prints a
marker, PCR 4 as the booted kernel reads it (/sys/class/tpm/tpm0/
pcr-sha256/4) and its command line, then powers off.

Boot 1: "No /boot partition found" -> u -> the signed ISO verifies ->
its casper entry boots: marker, iso-scan/filename=/isos/signed.iso on the
command line, PCR 4 = extend(before, "usb").
Boot 2: "No /boot partition found" -> m -> Options -> Boot Options -> u ->
the unsigned ISO: the menu says so and asks; "y" -> it boots, and PCR 4 =
extend(extend(before, "usb"), "unsafe").
Boot 3: "No /boot partition found" -> u -> the stick's own /boot
(grub.cfg, kernel, marker initrd beside the ISOs): asked first, its entry
boots, PCR 4 = extend(extend(before, "usb"), "unsafe").
"before" is PCR 4 as the menu read it before its first extend (SeaBIOS
measures its own boot events into PCR 4), logged by the menu.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

BOOT_TIMEOUT = 300
STEP = 300
MARKER = "HEADS-ISO-MARKER"


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


def extend(pcr, data):
    return hashlib.sha256(pcr + hashlib.sha256(data).digest()).digest()


def marker_initrd(path):
    root = tempfile.mkdtemp(prefix="heads-vm-usb-initrd-")
    try:
        for d in ("bin", "sys", "proc"):
            os.makedirs(os.path.join(root, d))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        os.symlink("busybox", os.path.join(root, "bin", "sh"))
        with open(os.path.join(root, "init"), "w") as f:
            f.write("#!/bin/sh\n"
                    "/bin/busybox mount -t sysfs sysfs /sys\n"
                    "/bin/busybox mount -t proc proc /proc\n"
                    "echo \"%s pcr4=$(/bin/busybox cat /sys/class/tpm/tpm0/pcr-sha256/4)"
                    " END\"\n"
                    "echo \"ISO-CMDLINE: $(/bin/busybox cat /proc/cmdline) END\"\n"
                    "/bin/busybox poweroff -f\n" % MARKER)
        os.chmod(os.path.join(root, "init"), 0o755)
        files = subprocess.run("find . | sort", shell=True, cwd=root, capture_output=True,
                               check=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=files, cwd=root,
                              capture_output=True, check=True).stdout
        with open(path, "wb") as f:
            f.write(cpio)
    finally:
        shutil.rmtree(root)


def make_iso(tmp, payload, name):
    root = os.path.join(tmp, "iso-" + name)
    os.makedirs(os.path.join(root, "boot", "grub"))
    os.makedirs(os.path.join(root, "casper"))
    shutil.copy(os.path.join(payload, "vmlinuz"), os.path.join(root, "casper", "vmlinuz"))
    marker_initrd(os.path.join(root, "casper", "initrd"))
    with open(os.path.join(root, "boot", "grub", "grub.cfg"), "w") as f:
        f.write('menuentry "Live %s (casper)" {\n'
                '    linux /casper/vmlinuz boot=casper quiet panic=-1 ---\n'
                '    initrd /casper/initrd\n}\n' % name)
    out = os.path.join(tmp, name + ".iso")
    run("xorriso", "-as", "mkisofs", "-R", "-J", "-V", "HEADS" + name.upper(), "-o", out, root)
    return out


class UsbVM(vm.VM):
    """One boot with a USB stick on an xHCI controller (read-only)."""

    def __init__(self, payload, stick, state, rom, name):
        super().__init__(payload, firmware="seabios", append="HEADS_UI=line", name=name,
                         state=state, snapshot=False, rom=rom)
        self.stick = stick

    def start(self):
        orig = vm.board.qemu_argv

        def argv(*a, **kw):
            return orig(*a, **kw) + [
                "-device", "qemu-xhci,id=xhci",
                "-drive", f"if=none,id=usbstick,format=raw,readonly=on,file={self.stick}",
                "-device", "usb-storage,bus=xhci.0,drive=usbstick,removable=on"]
        vm.board.qemu_argv = argv
        try:
            super().start()
        finally:
            vm.board.qemu_argv = orig

    def answer(self, prompt, text, timeout=STEP):
        out = self.expect(prompt, timeout)
        self.send(text + "\n")
        return out


class UsbIso(unittest.TestCase):
    def marker(self, m):
        out = m.expect(r"ISO-CMDLINE: [^\r\n]* END", STEP, regex=True)
        pcr4 = re.search(MARKER + r" pcr4=([0-9A-Fa-f]{64}) END", out)
        self.assertIsNotNone(pcr4, out[-3000:])
        cmd = re.search(r"ISO-CMDLINE: ([^\r\n]*) END", out).group(1).split()
        m.qemu.wait(120)
        return bytes.fromhex(pcr4.group(1)), cmd, out

    def before(self, out):
        b = re.search(r'PCR 4 extended with "usb" \(it was ([0-9a-f]{64})\)', out)
        self.assertIsNotNone(b, out[-3000:])
        return bytes.fromhex(b.group(1))

    def test_signed_and_unsigned_iso_from_usb(self):
        try:
            payload = vm.ensure_payload()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        with tempfile.TemporaryDirectory(prefix="heads-vm-usb-") as tmp:
            home = os.path.join(tmp, "gnupg")
            os.mkdir(home, 0o700)
            env = dict(os.environ, GNUPGHOME=home)
            run("gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                "ISO Signer <iso@example.org>", "ed25519", "sign", "never", env=env)
            media = os.path.join(tmp, "media", "isos")
            os.makedirs(media)
            for name in ("signed", "unsigned"):
                shutil.move(make_iso(tmp, payload, name), os.path.join(media, name + ".iso"))
            run("gpg", "--batch", "--detach-sign", "-o", os.path.join(media, "signed.iso.sig"),
                os.path.join(media, "signed.iso"), env=env)
            # the stick's own OS: /boot/grub/grub.cfg, kernel and marker initrd
            bootdir = os.path.join(tmp, "media", "boot")
            os.makedirs(os.path.join(bootdir, "grub"))
            shutil.copy(os.path.join(payload, "vmlinuz"), os.path.join(bootdir, "vmlinuz-usb"))
            marker_initrd(os.path.join(bootdir, "initrd-usb"))
            with open(os.path.join(bootdir, "grub", "grub.cfg"), "w") as f:
                f.write("menuentry 'Stick OS' {\n\tlinux /boot/vmlinuz-usb usbdisk=yes "
                        "panic=-1\n\tinitrd /boot/initrd-usb\n}\n")
            stick = os.path.join(tmp, "stick.img")
            with open(stick, "wb") as f:
                f.truncate(96 << 20)
            run("mkfs.ext4", "-q", "-L", "USBSTICK", "-U", "5e1f0000-0000-4000-8000-000000000018",
                "-d", os.path.join(tmp, "media"), stick)
            rom = vm.board.blank_rom(os.path.join(tmp, "rom.img"))
            run(vm.HEADS, "rom", "add-keyring", "--gnupghome", home, "--device", rom)
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
            state = os.path.join(tmp, "tpm")
            os.makedirs(state)

            # Boot 1: No /boot -> u -> the signed ISO.
            with UsbVM(payload, stick, state, rom, "vm-usb-iso-1") as m:
                m.expect("No /boot Partition Found", BOOT_TIMEOUT)
                m.answer("Choose [1-4 or key", "u", 60)
                out = m.expect("Select an ISO file or a USB disk to boot", STEP)
                out += m.expect("Choose [", 60)
                self.assertIn("ISO /isos/unsigned.iso", out)
                keys = re.findall(r"(\d+)\) \S+\s+ISO /isos/signed.iso on /dev/sd\w+ "
                                  r"\(signed.iso.sig\)", out)
                self.assertEqual(len(keys), 1, out[-2000:])
                m.send(keys[0] + "\n")
                out = m.expect("Signature: VERIFIED (signed.iso.sig)", STEP)
                self.assertIn("Verifying the ISO: ", out)
                m.answer("[Press Enter to continue]", "", 60)
                out = m.expect("Select the ISO's boot option", 60)
                out += m.answer("Choose [", "1", 60)
                self.assertIn("[OK] Live signed (casper)", out)
                m.answer("[y/n]", "y", 60)
                pcr4, cmd, out = self.marker(m)
                self.assertIn("iso-scan/filename=/isos/signed.iso", cmd)
                self.assertIn("console=ttyS0", cmd)
                self.assertNotIn("quiet", cmd)
                self.assertEqual(pcr4, extend(self.before(m.buf.decode(errors="replace")),
                                              b"usb"))

            # Boot 2: No /boot -> main menu -> Options -> Boot Options -> u ->
            # the unsigned ISO, asked first.
            with UsbVM(payload, stick, state, rom, "vm-usb-iso-2") as m:
                m.expect("No /boot Partition Found", BOOT_TIMEOUT)
                m.answer("Choose [1-4 or key", "m", 60)
                m.expect("Heads Boot Menu ====", STEP)
                m.answer("Choose [1-5 or key", "o", 60)
                m.answer("Choose [1-15 or key", "b", 60)
                m.expect("Boot Options", 60)
                m.answer("Choose [1-4 or key", "u", 60)
                out = m.expect("Select an ISO file or a USB disk to boot", STEP)
                out += m.expect("Choose [", 60)
                keys = re.findall(r"(\d+)\) \S+\s+ISO /isos/unsigned.iso on /dev/sd\w+ "
                                  r"\(unsigned\)", out)
                self.assertEqual(len(keys), 1, out[-2000:])
                m.send(keys[0] + "\n")
                out = m.expect("UNSIGNED USB BOOT WARNING", STEP)
                out += m.expect("[y/n]", 60)
                self.assertIn("Signature: NO SIGNATURE", out)
                m.send("y\n")
                out = m.expect("Select the ISO's boot option", 60)
                out += m.answer("Choose [", "1", 60)
                self.assertIn("Live unsigned (casper)", out)
                m.answer("[y/n]", "y", 60)
                pcr4, cmd, out = self.marker(m)
                text = m.buf.decode(errors="replace")
                self.assertIn('PCR 4 extended with "unsafe"', text)
                self.assertIn("iso-scan/filename=/isos/unsigned.iso", cmd)
                self.assertEqual(pcr4, extend(extend(self.before(text), b"usb"), b"unsafe"))

            # Boot 3: No /boot -> u -> the stick's own /boot (unsigned: asked
            # first), its entry boots from the bytes read into memory.
            with UsbVM(payload, stick, state, rom, "vm-usb-iso-3") as m:
                m.expect("No /boot Partition Found", BOOT_TIMEOUT)
                m.answer("Choose [1-4 or key", "u", 60)
                out = m.expect("Select an ISO file or a USB disk to boot", STEP)
                out += m.expect("Choose [", 60)
                keys = re.findall(r"(\d+)\) \S+\s+USB disk /dev/sd\w+ \(ext4 USBSTICK\): "
                                  r"1 boot entry", out)
                self.assertEqual(len(keys), 1, out[-2000:])
                m.send(keys[0] + "\n")
                out = m.expect("UNSIGNED USB BOOT WARNING", STEP)
                m.answer("[y/n]", "y", 60)
                out = m.expect("UNSAFE USB boot: select your boot option", 60)
                out += m.answer("Choose [", "1", 60)
                self.assertIn("Stick OS", out)
                pcr4, cmd, out = self.marker(m)
                text = m.buf.decode(errors="replace")
                self.assertIn("usbdisk=yes", cmd)
                self.assertNotIn("iso-scan/filename", " ".join(cmd))
                self.assertEqual(pcr4, extend(extend(self.before(text), b"usb"), b"unsafe"))


if __name__ == "__main__":
    vm.main()
