"""heads menu, USB boot (issue 18), through the scripted UI: real block
devices (loop devices over ext4 images made with mkfs.ext4 -d, a
dd-written ISO from xorriso), real gpg keys and signatures, a private
swtpm whose PCR 4 is read back (`pcr4-value:` of the dry run).

- "No /boot partition found" -> u: a signed ISO verifies (progress bar),
  its entry is marked [OK] with casper's iso-scan/filename= and the
  medium's by-uuid device, PCR 4 = extend(0, "usb"), and the plan's
  kernel/initrd are the ISO's bytes.
- Options -> Boot Options -> u: an unsigned ISO is said to be unsigned,
  boots only after "y", and PCR 4 = extend(extend(0, "usb"), "unsafe");
  "n" boots nothing; Restricted Boot refuses it; a signature of another
  file is BAD SIGNATURE and asks the same question.
- A USB disk with its own /boot is offered, behind the same question, and
  boots its own entry (kernel bytes = the file's bytes).
- The per-ISO overrides kexec_iso/<path>/kexec_iso_add.txt and
  kexec_iso_remove.txt on the medium apply only under their signed
  kexec.sig.
- A dd-written ISO (iso9660 on the whole device) is read without
  mounting and boots only after the explicit choice.
Needs root (loop devices, mounts) and swtpm."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import main  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")
WITH_SWTPM = os.environ.get("WITH_SWTPM")
ROOT = os.geteuid() == 0

ISO_GRUB = """set timeout=5
menuentry "Ubuntu Live (casper)" {
    linux /casper/vmlinuz boot=casper quiet splash ---
    initrd /casper/initrd
}
menuentry "Xen thing" {
    multiboot2 /boot/xen.gz
    module2 /casper/vmlinuz
}
"""
ISO_KERNEL = "iso kernel bytes\n" * 100
ISO_INITRD = "iso initrd bytes\n" * 50

DISK_GRUB = """menuentry 'USB Debian' {
	linux /vmlinuz-usb root=/dev/sdb2 ro quiet
	initrd /initrd.img-usb
}
"""


def sh(*args, input=None, check=True):
    return subprocess.run(list(args), input=input, capture_output=True, check=check)


def gpg(home, *args, input=None):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", *args], input=input,
                          capture_output=True, check=True)


def extend(pcr, data):
    return hashlib.sha256(pcr + hashlib.sha256(data).digest()).digest()


def sha(data):
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def build_tree(root, files):
    for rel, content in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)


@unittest.skipUnless(ROOT, "needs root for loop devices and mounts")
class UsbBoot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not WITH_SWTPM:
            raise unittest.SkipTest("needs the with-swtpm helper (run through meson test)")
        cls.ktmp = tempfile.mkdtemp(prefix="heads-test-usb-keys-")
        cls.signer = os.path.join(cls.ktmp, "signer")
        os.makedirs(cls.signer, mode=0o700)
        gpg(cls.signer, "--pinentry-mode", "loopback", "--passphrase", "",
            "--quick-gen-key", "ISO Signer <iso@example.org>", "ed25519", "sign", "never")
        cls.other = os.path.join(cls.ktmp, "other")
        os.makedirs(cls.other, mode=0o700)
        gpg(cls.other, "--pinentry-mode", "loopback", "--passphrase", "",
            "--quick-gen-key", "Else <else@example.org>", "ed25519", "sign", "never")
        cls.keyring = os.path.join(cls.ktmp, "keyring")
        os.makedirs(cls.keyring, mode=0o700)
        gpg(cls.keyring, "--import", input=gpg(cls.signer, "--export").stdout)

    @classmethod
    def tearDownClass(cls):
        for h in ("signer", "other", "keyring"):
            subprocess.run(["gpgconf", "--homedir", os.path.join(cls.ktmp, h), "--kill", "all"],
                           capture_output=True)
        shutil.rmtree(cls.ktmp, ignore_errors=True)

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-usb-")
        self.tmp = self._tmp.name
        self.loops = []
        self.addCleanup(self.detach)
        self.boot = os.path.join(self.tmp, "boot")
        os.makedirs(self.boot)
        self.config = self.file("config", 'CONFIG_TPM=y\nCONFIG_BOARD_NAME="QEMU Test"\n')

    def tearDown(self):
        self._tmp.cleanup()

    def detach(self):
        for d in reversed(self.loops):
            subprocess.run(["losetup", "-d", d], capture_output=True)

    def file(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def sign(self, home, path, out, armor=False):
        gpg(home, "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--detach-sign",
            *(["--armor"] if armor else []), "-o", out, path)

    def make_iso(self, out):
        root = os.path.join(self.tmp, "isoroot")
        build_tree(root, {"boot/grub/grub.cfg": ISO_GRUB, "casper/vmlinuz": ISO_KERNEL,
                          "casper/initrd": ISO_INITRD, "boot/xen.gz": "xen\n"})
        sh("xorriso", "-as", "mkisofs", "-R", "-J", "-V", "HEADSLIVE", "-o", out, root)
        return out

    def stick(self, files, label="USBSTICK", uuid="0f0e0d0c-1111-2222-3333-444455556666"):
        """An ext4 USB stick holding files; returns its loop device."""
        self.n = getattr(self, "n", 0) + 1
        root = os.path.join(self.tmp, f"stick{self.n}")
        os.makedirs(root)
        for rel, src in files.items():
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            if isinstance(src, str) and os.path.isabs(src) and os.path.exists(src):
                shutil.copyfile(src, p)
            else:
                with open(p, "wb" if isinstance(src, bytes) else "w") as f:
                    f.write(src)
        img = os.path.join(self.tmp, f"stick{self.n}.img")
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        sh("mkfs.ext4", "-q", "-L", label, "-U", uuid, "-d", root, img)
        return self.attach(img)

    def attach(self, img):
        dev = sh("losetup", "-f", "--show", "-r", img).stdout.decode().strip()
        self.loops.append(dev)
        return dev

    def iso_stick(self, signed=True, sig_of_other=False):
        iso = self.make_iso(os.path.join(self.tmp, "live.iso"))
        files = {"isos/live.iso": iso}
        if signed:
            target = iso
            if sig_of_other:
                target = self.file("other-file", "not the iso\n")
            self.sign(self.signer, target, iso + ".sig")
            files["isos/live.iso.sig"] = iso + ".sig"
        return self.stick(files), iso

    def menu(self, answers, devices, config=None, state=None):
        script = self.file("script", "".join(a + "\n" for a in answers))
        args = [HEADS, "menu", "--ui", "script", "--ui-script", script, "--boot", self.boot,
                "--keyring", self.keyring, "--config", config or self.config,
                "--secret-dir", os.path.join(self.tmp, "secret"),
                "--user-config", os.path.join(self.tmp, "config.user"), "--no-act",
                "--eventlog", os.path.join(self.tmp, "absent")]
        for d in devices:
            args += ["--usb-device", d]
        env = dict(os.environ, TMPDIR=self.tmp)
        env.pop("HEADS_UI", None)
        cmd = [WITH_SWTPM, "--state", state or os.path.join(self.tmp, "tpm"), "--", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)

    def pcr4(self, r):
        m = re.search(r"^pcr4-value: ([0-9a-f]{64})$", r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        return bytes.fromhex(m.group(1))

    def field(self, r, key):
        return re.findall(rf"^{key}: (.*)$", r.stdout, re.M)

    def assert_nothing_mounted(self):
        with open("/proc/self/mountinfo") as f:
            mi = f.read()
        self.assertNotIn("heads-usb-", mi)
        for d in self.loops:
            self.assertNotIn(d + " ", mi)

    # -- ISO files ----------------------------------------------------------

    def test_signed_iso_from_no_boot_menu(self):
        dev, iso = self.iso_stick(signed=True)
        r = self.menu(["u", "1", "1", "y"], [dev])
        out = r.stdout
        self.assertEqual(r.returncode, 0, out + r.stderr)
        self.assertIn("=== menu [error] ERROR: No /boot Partition Found", out)
        self.assertIn("ISO /isos/live.iso on %s (live.iso.sig)" % dev, out)
        self.assertRegex(out, r"=== progress Verifying the ISO: .* 100%")
        self.assertIn("Signature: VERIFIED (live.iso.sig)", out)
        self.assertNotIn("UNSIGNED USB BOOT WARNING", out)
        # marks: casper [OK], Xen [X]
        self.assertIn("[OK] Ubuntu Live (casper)", out)
        self.assertIn("[X] Xen thing", out)
        self.assertIn("heads menu: usb boot (dry run): Ubuntu Live (casper)", out)
        self.assertEqual(self.field(r, "signature"), ["VERIFIED"])
        # checked reads: every chunk matched the verification's record
        self.assertEqual(self.field(r, "verified"), ["yes"])
        self.assertEqual(self.field(r, "kernel-sha256"), [sha(ISO_KERNEL) + " (signed)"])
        self.assertEqual(self.field(r, "initrd-sha256"), [sha(ISO_INITRD) + " (signed)"])
        cmd = self.field(r, "cmdline")[0]
        # casper's documented ISO parameter, the $-free config words kept
        self.assertIn("iso-scan/filename=/isos/live.iso", cmd.split())
        self.assertIn("boot=casper", cmd.split())
        # PCR 4: "usb" only (reference usb-init), no "unsafe"
        self.assertEqual(self.pcr4(r), extend(b"\0" * 32, b"usb"))
        self.assertIn('PCR 4 extended with "usb"', r.stderr)
        self.assertNotIn('"unsafe"', r.stderr)
        self.assert_nothing_mounted()

    def test_unsigned_iso_from_boot_options_asks_and_extends_unsafe(self):
        dev, iso = self.iso_stick(signed=False)
        r = self.menu(["m", "o", "b", "u", "1", "y", "1", "y"], [dev])
        out = r.stdout
        self.assertEqual(r.returncode, 0, out + r.stderr)
        self.assertIn("=== menu [normal] Boot Options", out)
        self.assertIn("ISO /isos/live.iso on %s (unsigned)" % dev, out)
        self.assertIn("=== yesno [error] UNSIGNED USB BOOT WARNING", out)
        self.assertIn("Signature: NO SIGNATURE", out)
        self.assertEqual(self.field(r, "signature"), ["NO SIGNATURE"])
        self.assertEqual(self.field(r, "kernel-sha256"), [sha(ISO_KERNEL)])
        self.assertEqual(self.pcr4(r), extend(extend(b"\0" * 32, b"usb"), b"unsafe"))
        self.assert_nothing_mounted()

    def test_unsigned_iso_declined_boots_nothing(self):
        dev, _ = self.iso_stick(signed=False)
        r = self.menu(["u", "1", "n", "m", "p"], [dev])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("UNSIGNED USB BOOT WARNING", r.stdout)
        self.assertNotIn("usb boot (dry run)", r.stdout)
        self.assertNotIn('"unsafe"', r.stderr)
        self.assert_nothing_mounted()

    def test_restricted_boot_refuses_unsigned_iso(self):
        dev, _ = self.iso_stick(signed=False)
        cfg = self.file("config.r", 'CONFIG_TPM=y\nCONFIG_RESTRICTED_BOOT=y\n')
        r = self.menu(["u", "1", "m", "p"], [dev], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Restricted Boot is enabled: only signed media boot.", r.stdout)
        self.assertNotIn("UNSIGNED USB BOOT WARNING", r.stdout)
        self.assertNotIn("usb boot (dry run)", r.stdout)

    def test_signature_of_another_file_is_bad_and_asks(self):
        dev, _ = self.iso_stick(signed=True, sig_of_other=True)
        r = self.menu(["u", "1", "y", "1", "y"], [dev])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Signature: BAD SIGNATURE", r.stdout)
        self.assertIn("UNSIGNED USB BOOT WARNING", r.stdout)
        self.assertEqual(self.field(r, "signature"), ["BAD SIGNATURE"])
        self.assertEqual(self.pcr4(r), extend(extend(b"\0" * 32, b"usb"), b"unsafe"))

    def test_unknown_key_is_not_verified(self):
        iso = self.make_iso(os.path.join(self.tmp, "live.iso"))
        self.sign(self.other, iso, iso + ".asc", armor=True)
        dev = self.stick({"isos/live.iso": iso, "isos/live.iso.asc": iso + ".asc"})
        r = self.menu(["u", "1", "u", "n", "m", "p"], [dev])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("=== menu [warning] ISO signed by an unknown key", r.stdout)
        self.assertIn("Signature: UNKNOWN KEY", r.stdout)
        self.assertNotIn("usb boot (dry run)", r.stdout)

    def other_fpr(self):
        out = gpg(self.other, "--with-colons", "--list-keys").stdout.decode()
        return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")][0]

    def test_key_file_from_the_medium_shown_then_trusted(self):
        iso = self.make_iso(os.path.join(self.tmp, "live.iso"))
        self.sign(self.other, iso, iso + ".sig")
        pub = os.path.join(self.tmp, "distro.asc")
        with open(pub, "wb") as f:
            f.write(gpg(self.other, "--export", "--armor").stdout)
        wrong = os.path.join(self.tmp, "wrong.asc")
        with open(wrong, "wb") as f:
            f.write(gpg(self.signer, "--export", "--armor").stdout)
        dev = self.stick({"isos/live.iso": iso, "isos/live.iso.sig": iso + ".sig",
                          "keys/distro.asc": pub, "keys/wrong.asc": wrong})
        fpr = self.other_fpr()
        # trusted: VERIFIED with the key file, no unsafe question, PCR 4 "usb" only
        r = self.menu(["u", "1", "k", "/keys/distro.asc", "y", "1", "y"], [dev])
        out = r.stdout
        self.assertEqual(r.returncode, 0, out + r.stderr)
        self.assertIn("=== yesno [warning] Trust this key?", out)
        self.assertIn(fpr, out)
        self.assertIn("Else <else@example.org>", out)
        self.assertNotIn("UNSIGNED USB BOOT WARNING", out)
        self.assertEqual(self.field(r, "signature"), ["VERIFIED"])
        self.assertEqual(self.pcr4(r), extend(b"\0" * 32, b"usb"))
        # not trusted: the unsigned question follows
        r = self.menu(["u", "1", "k", "keys/distro.asc", "n", "n", "m", "p"], [dev],
                      state=os.path.join(self.tmp, "tpm2"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("UNSIGNED USB BOOT WARNING", r.stdout)
        self.assertNotIn("usb boot (dry run)", r.stdout)
        # a key file with another key: still not verified, said so
        r = self.menu(["u", "1", "k", "/keys/wrong.asc", "n", "m", "p"], [dev],
                      state=os.path.join(self.tmp, "tpm3"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("the ISO does not verify either: UNKNOWN KEY", r.stdout)
        # outside the medium: refused
        r = self.menu(["u", "1", "k", "../../etc/passwd", "n", "m", "p"], [dev],
                      state=os.path.join(self.tmp, "tpm4"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("cannot open it on the USB drive", r.stdout)

    def overrides_files(self, iso, add, remove, signer):
        """kexec_iso/isos/live.iso/ on the stick (reference kexec-iso-init)."""
        d = os.path.join(self.tmp, "ov")
        os.makedirs(d, exist_ok=True)
        listing = b""
        files = {}
        for name, text in (("kexec_iso_add.txt", add), ("kexec_iso_remove.txt", remove)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text + "\n")
            listing += f"{sha(text + chr(10))}  {name}\n".encode()
            files["kexec_iso/isos/live.iso/" + name] = os.path.join(d, name)
        if signer:
            lp = os.path.join(self.tmp, "listing")
            with open(lp, "wb") as f:
                f.write(listing)
            self.sign(signer, lp, os.path.join(d, "kexec.sig"), armor=True)
            files["kexec_iso/isos/live.iso/kexec.sig"] = os.path.join(d, "kexec.sig")
        return files

    def test_signed_overrides_apply_unsigned_ignored(self):
        for signer, applied in ((self.signer, True), (self.other, False)):
            with self.subTest(applied=applied):
                iso = self.make_iso(os.path.join(self.tmp, "live.iso"))
                self.sign(self.signer, iso, iso + ".sig")
                files = {"isos/live.iso": iso, "isos/live.iso.sig": iso + ".sig"}
                files.update(self.overrides_files(iso, "findiso=$ISO_PATH uuid=${DEV_UUID} x=1",
                                                  "splash", signer))
                dev = self.stick(files)
                r = self.menu(["u", "1", "1", "y"], [dev])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                words = self.field(r, "cmdline")[0].split()
                if applied:
                    self.assertIn("findiso=/isos/live.iso", words)
                    self.assertIn("uuid=0f0e0d0c-1111-2222-3333-444455556666", words)
                    self.assertIn("x=1", words)
                    self.assertNotIn("splash", words)
                    self.assertNotIn("iso-scan/filename=/isos/live.iso", words)
                else:
                    self.assertNotIn("x=1", words)
                    self.assertIn("splash", words)
                    self.assertIn("iso-scan/filename=/isos/live.iso", words)
                self.detach()
                self.loops = []

    def test_board_add_and_remove_apply(self):
        dev, _ = self.iso_stick(signed=True)
        cfg = self.file("config.a", 'CONFIG_TPM=y\nCONFIG_BOOT_KERNEL_ADD="console=ttyS0"\n'
                        'CONFIG_BOOT_KERNEL_REMOVE="quiet"\n')
        r = self.menu(["u", "1", "1", "y"], [dev], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        words = self.field(r, "cmdline")[0].split()
        self.assertIn("console=ttyS0", words)
        self.assertNotIn("quiet", words)

    # -- the newt screens on a real terminal (tmux) ---------------------------

    def test_newt_screens_signed_iso(self):
        if not shutil.which("tmux"):
            self.skipTest("tmux not installed (make deps)")
        dev, _ = self.iso_stick(signed=True)
        sock = os.path.join(self.tmp, "tmux.sock")
        argv = [WITH_SWTPM, "--state", os.path.join(self.tmp, "tpm"), "--", HEADS, "menu",
                "--ui", "newt", "--boot", self.boot, "--keyring", self.keyring,
                "--config", self.config, "--secret-dir", os.path.join(self.tmp, "secret"),
                "--user-config", os.path.join(self.tmp, "config.user"), "--no-act",
                "--eventlog", os.path.join(self.tmp, "absent"), "--usb-device", dev]

        def tmux(*a):
            return subprocess.run(["tmux", "-S", sock, *a], capture_output=True, text=True,
                                  check=True).stdout

        def screen():
            return tmux("capture-pane", "-p", "-S", "-200", "-t", "menu")

        def wait_for(text, timeout=30):
            end = time.time() + timeout
            while time.time() < end:
                sc = screen()
                if text in sc:
                    return sc
                time.sleep(0.2)
            self.fail("%r not on screen:\n%s" % (text, screen()))

        self.addCleanup(subprocess.run, ["tmux", "-S", sock, "kill-server"],
                        capture_output=True)
        tmux("-f", "/dev/null", "new-session", "-d", "-s", "menu", "-x", "120", "-y", "40",
             "env", "TERM=xterm-256color", "TMPDIR=" + self.tmp, *argv)
        tmux("set-option", "-t", "menu", "remain-on-exit", "on")
        wait_for("No /boot Partition Found")
        tmux("send-keys", "-t", "menu", "u", "Enter")
        sc = wait_for("Select an ISO file or a USB disk to boot")
        self.assertIn("ISO /isos/live.iso on %s (live.iso.sig)" % dev, sc)
        self.assertIn("TOTP: USB BOOT", sc)  # the status line after PCR 4 "usb"
        tmux("send-keys", "-t", "menu", "1", "Enter")
        sc = wait_for("Signature: VERIFIED (live.iso.sig)")
        tmux("send-keys", "-t", "menu", "Enter")
        sc = wait_for("Select the ISO's boot option")
        self.assertIn("[OK] Ubuntu Live (casper)", sc)
        self.assertIn("[X] Xen thing", sc)
        tmux("send-keys", "-t", "menu", "1", "Enter")
        sc = wait_for("Confirm USB boot")
        self.assertIn("iso-scan/filename=/isos/live.iso", sc)
        tmux("send-keys", "-t", "menu", "Enter")
        sc = wait_for("heads menu: usb boot (dry run): Ubuntu Live (casper)")
        sc = wait_for("tpm: finalized")
        self.assertIn("signature: VERIFIED", sc)

    # -- a USB disk with its own /boot, a dd-written ISO ----------------------

    def test_usb_disk_boot_asks_and_loads_its_files(self):
        dev = self.stick({"boot/grub/grub.cfg": DISK_GRUB, "vmlinuz-usb": "usb kernel\n",
                          "initrd.img-usb": "usb initrd\n"}, label="USBOS")
        r = self.menu(["u", "1", "y", "1"], [dev])
        out = r.stdout
        self.assertEqual(r.returncode, 0, out + r.stderr)
        self.assertIn("USB disk %s (ext4 USBOS): 1 boot entry" % dev, out)
        self.assertIn("=== yesno [error] UNSIGNED USB BOOT WARNING", out)
        self.assertIn("heads menu: usb boot (dry run): USB Debian", out)
        self.assertEqual(self.field(r, "verified"), ["NO (UNVERIFIED)"])
        self.assertEqual(self.field(r, "kernel-sha256"), [sha("usb kernel\n")])
        self.assertEqual(self.field(r, "initrd-sha256"), [sha("usb initrd\n")])
        self.assertEqual(self.pcr4(r), extend(extend(b"\0" * 32, b"usb"), b"unsafe"))
        self.assert_nothing_mounted()

    def test_dd_written_iso(self):
        iso = self.make_iso(os.path.join(self.tmp, "dd.iso"))
        dev = self.attach(iso)
        cfg = self.file("config.a", 'CONFIG_TPM=y\nCONFIG_BOOT_KERNEL_ADD="console=ttyS0"\n'
                        'CONFIG_BOOT_KERNEL_REMOVE="quiet"\n')
        # declined, then chosen: PCR 4 gets "unsafe" once
        r = self.menu(["u", "1", "n", "u", "1", "y", "1", "y"], [dev], config=cfg)
        out = r.stdout
        self.assertEqual(r.returncode, 0, out + r.stderr)
        self.assertIn("ISO image on %s (iso9660 HEADSLIVE)" % dev, out)
        words = self.field(r, "cmdline")[0].split()
        self.assertIn("console=ttyS0", words)
        self.assertIn("boot=casper", words)
        self.assertNotIn("quiet", words)
        self.assertEqual(self.pcr4(r), extend(extend(b"\0" * 32, b"usb"), b"unsafe"))
        self.assertIn("UNSIGNED USB BOOT WARNING", out)
        self.assertEqual(self.field(r, "kernel-sha256"), [sha(ISO_KERNEL)])
        # booted as its own medium: no words to find an ISO file
        self.assertNotIn("iso-scan/filename", self.field(r, "cmdline")[0])

    def test_nothing_bootable(self):
        dev = self.stick({"notes.txt": "hello\n"})
        r = self.menu(["u", "m", "p"], [dev])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("No ISO file and no boot configuration found", r.stdout)


if __name__ == "__main__":
    main()
