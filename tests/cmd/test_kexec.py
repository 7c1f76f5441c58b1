"""heads kexec --dry-run: exactly what would be loaded (real kexec is
exercised by the QEMU board tests)."""
import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heads_test  # noqa: E402
from heads_test import run  # noqa: E402


X = hashlib.sha256(b"x").hexdigest()


class Kexec(heads_test.TempDirTest):
    def setUp(self):
        super().setUp()
        for f in ("vmlinuz-1", "initrd-1", "ucode.img", "xen-4.17.gz"):
            self.write(f, "x")
        self.write("grub/grub.cfg",
                   "set default=1\n"
                   "menuentry 'Linux' { linux /vmlinuz-1 root=/dev/sda1 ro quiet --- splash\n"
                   " initrd /ucode.img /initrd-1 }\n"
                   "menuentry 'Xen' { multiboot2 /xen-4.17.gz placeholder dom0_mem=1G\n"
                   " module2 /vmlinuz-1 placeholder root=/dev/sda1 quiet\n module2 --nounzip /initrd-1 }\n"
                   "menuentry 'Gone' { linux /vmlinuz-1\n initrd /initrd-9 }\n")
        self.b = self.tmp

    def k(self, *a, **kw):
        return run("kexec", "--boot", self.b, "--config", "grub/grub.cfg", *a, **kw)

    def test_linux_dry_run(self):
        p = self.k("--title", "Linux", "--dry-run", "--remove", "quiet",
                   "--add", "iso-scan/filename=/a.iso", "--board-add", "intel_iommu=on ro")
        self.assertEqual(p.returncode, 0, p.stderr)
        b = self.b
        self.assertEqual(p.stdout,
                         "UNVERIFIED: %s is not checked against a keyring (--keyring)\n"
                         "kind: linux\n"
                         "verified: NO (UNVERIFIED)\n"
                         "kernel: %s/vmlinuz-1\n"
                         "kernel-sha256: %s\n"
                         "initrd: %s/ucode.img\n"
                         "initrd-sha256: %s\n"
                         "initrd: %s/initrd-1\n"
                         "initrd-sha256: %s\n"
                         "cmdline: iso-scan/filename=/a.iso root=/dev/sda1 ro splash intel_iommu=on\n"
                         "method: kexec_file_load (initrds concatenated)\n"
                         % (b, b, X, b, X, b, X))

    def test_xen_dry_run_with_initrd_override(self):
        fd = os.open(os.path.join(self.b, "initrd-1"), os.O_RDONLY)
        try:
            p = self.k("--default", "--dry-run", "--remove", "quiet",
                       "--initrd-fd", str(fd), "--kexec", "/usr/sbin/kexec", pass_fds=(fd,))
        finally:
            os.close(fd)
        self.assertEqual(p.returncode, 0, p.stderr)
        b = self.b
        # the files become memfds: kexec-tools reads /proc/self/fd/N (the
        # numbers are heads' own descriptors); the initrd module is replaced
        out = p.stdout.splitlines()
        exec_line = out.pop()
        self.assertEqual(out, [
            "UNVERIFIED: %s is not checked against a keyring (--keyring)" % b,
            "kind: xen",
            "verified: NO (UNVERIFIED)",
            "kernel: %s/xen-4.17.gz" % b,
            "kernel-sha256: " + X,
            "cmdline: placeholder dom0_mem=1G no-real-mode reboot=no vga=current",
            "module: %s/vmlinuz-1 placeholder root=/dev/sda1" % b,
            "module-sha256: " + X,
            "module: %s/initrd-1" % b,
            "module-sha256: " + X,
            "method: kexec-tools"])
        self.assertRegex(exec_line,
                         r"^exec: /usr/sbin/kexec -l /proc/self/fd/\d+ "
                         r"'--command-line=placeholder dom0_mem=1G no-real-mode reboot=no "
                         r"vga=current' '--module=/proc/self/fd/\d+ placeholder root=/dev/sda1' "
                         r"--module=/proc/self/fd/\d+$")

    def test_line_and_saved(self):
        line = "L|elf|kernel /vmlinuz-1|initrd /initrd-1|append ro"
        p = run("kexec", "--boot", self.b, "--line", line, "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("cmdline: ro\n", p.stdout)
        params = os.path.join(self.tmp, "params")
        os.mkdir(params)
        self.write("params/kexec_default.2.txt", line + "\n")
        p = run("kexec", "--boot", self.b, "--saved", params, "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("initrd: %s/initrd-1\n" % self.b, p.stdout)
        self.assertTrue(p.stdout.startswith("UNVERIFIED: "), p.stdout)
        p = run("kexec", "--boot", self.b, "--saved", self.b, "--dry-run")
        self.assertEqual(p.returncode, 3)

    def test_missing_and_escaping_files_fail(self):
        p = run("kexec", "--boot", self.b, "--line", "x|elf|kernel /vmlinuz-1|initrd /initrd-9", "--dry-run")
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s/initrd-9: cannot open" % self.b, p.stderr)
        os.symlink("/etc/passwd", os.path.join(self.b, "evil"))
        p = run("kexec", "--boot", self.b, "--line", "x|elf|kernel /evil", "--dry-run")
        self.assertEqual(p.returncode, 1)
        p = run("kexec", "--boot", self.b, "--line", "x|elf|kernel /../etc/passwd", "--dry-run")
        self.assertEqual(p.returncode, 1)

    def test_selection_errors(self):
        self.assertEqual(self.k("--entry", "9", "--dry-run").returncode, 3)
        self.assertEqual(self.k("--title", "Gone", "--dry-run").returncode, 3)  # dropped entry
        self.assertEqual(self.k("--dry-run").returncode, 2)
        self.assertEqual(self.k("--entry", "1", "--title", "Linux").returncode, 2)
        self.assertEqual(self.k("--entry", "0").returncode, 2)
        self.assertEqual(self.k("--entry", "1", "--dry-run", "--exec").returncode, 2)
        self.assertEqual(run("kexec", "--line", "garbage", "--dry-run").returncode, 2)


if __name__ == "__main__":
    heads_test.main()
