"""heads kexec --dry-run: exactly what would be loaded (real kexec is
exercised by the QEMU board tests)."""
import gzip
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

    def test_xen_gz_decoded_nounzip_kept(self):
        """issue 25: the .gz hypervisor is decoded in-process (kexec-tools
        gets the ELF as /proc/self/fd/N); a --nounzip module stays as it is,
        a compressed module without it is decoded."""
        elf = b"\x7fELF\x02\x01\x01" + b"xen" * 5000
        gz = gzip.compress(elf, mtime=0)
        initrd = gzip.compress(b"070701 an initramfs", mtime=0)
        self.write("xen.gz", gz, mode="wb")
        self.write("initrd.gz", initrd, mode="wb")
        line = ("X|xen|kernel /xen.gz dom0_mem=1G|module /vmlinuz-1 root=/dev/sda1"
                "|module /initrd.gz")
        p = run("kexec", "--boot", self.b, "--line", line, "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("kernel-sha256: %s\n" % hashlib.sha256(gz).hexdigest(), p.stdout)
        self.assertIn("kernel-unpacked: gzip, %d bytes, sha256 %s\n"
                      % (len(elf), hashlib.sha256(elf).hexdigest()), p.stdout)
        # the line format has no --nounzip: modules load as they are
        self.assertIn("module-unpacked: no (--nounzip, gzip)\n", p.stdout)
        self.write("grub/grub.cfg",
                   "menuentry 'Xen' { multiboot2 /xen.gz\n module2 /vmlinuz-1\n"
                   " module2 --nounzip /initrd.gz\n}\n"
                   "menuentry 'Xen unzip' { multiboot2 /xen.gz\n module2 /vmlinuz-1\n"
                   " module2 /initrd.gz\n}\n")
        p = self.k("--title", "Xen", "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("module-unpacked: no (--nounzip, gzip)\n", p.stdout)
        p = self.k("--title", "Xen unzip", "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("module-unpacked: gzip, 19 bytes, sha256 %s\n"
                      % hashlib.sha256(b"070701 an initramfs").hexdigest(), p.stdout)
        self.assertRegex(p.stdout, r"\nexec: \S*kexec -l /proc/self/fd/\d+ .*"
                         r"--module=/proc/self/fd/\d+ --module=/proc/self/fd/\d+\n")
        # a truncated .gz is refused naming the file, nothing described
        self.write("xen.gz", gz[:len(gz) // 2], mode="wb")
        p = run("kexec", "--boot", self.b, "--line", line, "--dry-run")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("%s/xen.gz: gzip data truncated" % self.b, p.stderr)
        self.assertNotIn("exec:", p.stdout)

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
