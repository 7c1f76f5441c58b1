"""The Disk Unlock Key reaches a Xen dom0 (issue 25 item 2), on the host:
LUKS2 image files, a private swtpm power-cycled between "boots", a real gpg
key. /boot is laid out as Debian's 20_linux_xen writes it: a gzipped Xen
ELF, the dom0 kernel as the first module and its gzipped initramfs (with a
crypttab naming both containers) as the second, `module2 --nounzip`.

Covered: setup reads the crypttab overrides from the dom0 initrd (module 1,
read as a boot reads it); unlock after a power cycle decodes the .gz Xen
image in-process and puts the key into the dom0 initrd (kexec-tools gets
/proc/self/fd paths only); one changed byte in the signed .gz refuses the
boot before anything is unsealed, naming the file."""
import gzip
import hashlib
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import main  # noqa: E402
import test_duk as td  # noqa: E402
from test_duk import DUK, heads, newc  # noqa: E402

ELF = b"\x7fELF\x01\x01\x01" + bytes(range(256)) * 2048  # a 512 KiB "xen" ELF
XEN_GZ = "xen-4.17-amd64.gz"


def xen_grub(uuid):
    return ("menuentry 'Debian GNU/Linux, with Xen hypervisor' {\n"
            "\tmultiboot2 /%s placeholder dom0_mem=1G\n"
            "\tmodule2 /vmlinuz-6.1 placeholder root=/dev/mapper/luks-%s ro quiet\n"
            "\tmodule2 --nounzip /initrd.img-6.1\n}\n" % (XEN_GZ, uuid))


class XenDuk(td.DukTest, td.TempDirTest):
    def setUp(self):
        super().setUp()   # swtpm, two LUKS2 containers, keys, a Linux /boot
        for name in ("vmlinuz", "initrd.img", "grub/grub.cfg"):
            os.unlink(os.path.join(self.boot, name))
        for name in os.listdir(self.boot):
            if name.startswith("kexec"):
                os.unlink(os.path.join(self.boot, name))
        u0, u1 = self.uuids
        self.write("boot/grub/grub.cfg", xen_grub(u0))
        self.write("boot/" + XEN_GZ, gzip.compress(ELF, mtime=0), mode="wb")
        self.write("boot/vmlinuz-6.1", "dom0 kernel\n")
        # Qubes 4.2 BTRFS layout: root and swap in two LUKS2 containers
        crypttab = (f"luks-{u0} UUID={u0} none discard\n"
                    f"luks-{u1} UUID={u1} none discard,swap\n")
        self.initrd = gzip.compress(newc({"etc/crypttab": crypttab.encode(),
                                          "init": b"#!/bin/sh\n"}), mtime=0)
        self.write("boot/initrd.img-6.1", self.initrd, mode="wb")
        self.write("boot/kexec_default.1.txt",
                   "Debian GNU/Linux, with Xen hypervisor|xen|kernel /%s placeholder "
                   "dom0_mem=1G|module /vmlinuz-6.1 placeholder root=/dev/mapper/luks-%s ro "
                   "quiet|module /initrd.img-6.1\n" % (XEN_GZ, u0))
        self.sign_boot()

    def test_setup_takes_crypttab_from_dom0_initrd(self):
        r = self.setup_duk()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("crypttab: from the default initrd", r.stdout)
        u0, u1 = self.uuids
        self.assertEqual(self.read("kexec_initrd_crypttab_overrides.txt"),
                         f"etc/crypttab:luks-{u0} UUID={u0} /secret.key discard\n"
                         f"etc/crypttab:luks-{u1} UUID={u1} /secret.key discard,swap\n")

    def test_unlock_decodes_xen_and_injects_into_dom0_initrd(self):
        self.set_up_and_reboot()
        r = self.unlock(DUK)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("duk: unlocked: 2 containers open with the Disk Unlock Key", r.stdout)
        out = r.stdout
        self.assertIn("kind: xen\n", out)
        self.assertIn("verified: yes\n", out)
        self.assertIn("kernel: %s/%s\n" % (self.boot, XEN_GZ), out)
        self.assertIn("kernel-sha256: %s (signed)\n" % hashlib.sha256(
            gzip.compress(ELF, mtime=0)).hexdigest(), out)
        self.assertIn("kernel-unpacked: gzip, %d bytes, sha256 %s\n"
                      % (len(ELF), hashlib.sha256(ELF).hexdigest()), out)
        # the dom0 initrd is the module that got the key
        size = int(out.split("initrd-injected: ")[1].split()[0])
        self.assertGreater(size, len(self.initrd) + 128)
        exec_line = [ln for ln in out.splitlines() if ln.startswith("exec: ")][0]
        self.assertRegex(exec_line, r"^exec: /sbin/kexec -l /proc/self/fd/\d+ "
                         r"'--command-line=placeholder dom0_mem=1G no-real-mode reboot=no "
                         r"vga=current' '--module=/proc/self/fd/\d+ placeholder "
                         r"root=/dev/mapper/luks-[0-9a-f-]+ ro quiet' --module=/proc/self/fd/\d+$")
        self.assertNotIn(self.boot, exec_line)

    def test_changed_byte_in_xen_gz_refused_nothing_unsealed(self):
        self.set_up_and_reboot()
        path = os.path.join(self.boot, XEN_GZ)
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 1]))
        r = self.unlock(DUK)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("does not verify", r.stderr)
        v = heads(None, "boot", "verify", "--boot", self.boot, "--keyring", self.keyring,
                  "--no-rollback", "--config", os.devnull)
        self.assertEqual(v.returncode, 1, v.stdout + v.stderr)
        self.assertIn("changed: ./" + XEN_GZ, v.stdout + v.stderr)
        self.assertNotIn("duk: unlocked", r.stdout)
        self.assertNotIn("initrd-injected", r.stdout)
        self.assertNotIn("exec:", r.stdout)
        self.assertEqual(self.pcr(4), bytes(32))  # nothing unsealed, nothing extended
        k = subprocess.run([td.HEADS, "kexec", "--boot", self.boot, "--keyring", self.keyring,
                            "--saved", self.boot, "--dry-run"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(k.returncode, 1, k.stdout + k.stderr)
        self.assertIn("%s: content does not match its signed hash" % XEN_GZ, k.stderr)
        self.assertNotIn("exec:", k.stdout)


def load_tests(loader, tests, pattern):
    """Only this file's cases (not the inherited Linux ones of test_duk)."""
    names = sorted(n for n in XenDuk.__dict__ if n.startswith("test_"))
    return unittest.TestSuite(XenDuk(n) for n in names)


if __name__ == "__main__":
    main()
