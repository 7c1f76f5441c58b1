"""The evil maid against the whole flow (issue 15): swtpm, LUKS2 images, the
Disk Unlock Key set up at ownership, `heads menu --no-act`. Someone with
write access to /boot plants a boot entry (under a kexec* name, which the
manifest used to skip), retargets a symlink, or swaps a kernel: nothing of
it is listed, verified or given the Disk Unlock Key. Each case failed on
the code before the trust-chain change (the planted entry verified OK, was
listed and got the key)."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import unittest.mock

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import main  # noqa: E402
from heads_test import Swtpm  # noqa: E402
from test_boot import genkey, gpg  # noqa: E402
from tpm_capture import TpmProxy  # noqa: E402
import test_luks_common as lc  # noqa: E402
import test_menu as tm  # noqa: E402 (a module: its test classes are not run here)

DRK, DUK, HEADS, WITH_SWTPM = tm.DRK, tm.DUK, tm.HEADS, tm.WITH_SWTPM

GPG = "gpgpassphrase"
EVIL = ("menuentry 'EVIL planted' {\n"
        "  linux /kexec_x/vmlinuz root=/dev/mapper/root ro init=/bin/sh\n"
        "  initrd /kexec_x/initrd.img\n}\n")


class OwnedWithDuk(tm.MenuTest):
    """A machine after ownership with the Disk Unlock Key on two containers."""

    def setUp(self):
        if not WITH_SWTPM:
            self.fail("needs the with-swtpm helper (run through meson test)")
        if os.geteuid() != 0 or not shutil.which("cryptsetup"):
            self.fail("LUKS images need root and cryptsetup (the luks suite)")
        super().setUp()
        self.devs = []
        for name in ("a.img", "b.img"):
            path = os.path.join(self.tmp, name)
            lc.luks_format(path, DRK.encode(), size=20 << 20)
            self.devs.append(path)
        # Ownership, then the optional Disk Unlock Key on both containers.
        r = self.menu(["y", "Test Key <test@example.com>", "n", "1", "y", "p"],
                      ["ownerpass", "ownerpass", GPG, GPG, GPG, DRK, DUK, DUK, GPG],
                      luks=self.devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== textbox [normal] Disk Unlock Key set up", r.stdout)
        # The machine works: the default boot unseals the key into its initrd.
        r = self.menu(["d"], [DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("duk: unlocked, key added to the initrd", r.stdout)
        self.assertIn("verified: yes", r.stdout)

    def plant(self):
        os.makedirs(os.path.join(self.boot, "kexec_x"))
        self.write("boot/kexec_x/grub.cfg", EVIL)
        self.write("boot/kexec_x/vmlinuz", "attacker kernel\n")
        self.write("boot/kexec_x/initrd.img", "attacker initrd\n")

    def cli(self, *args):
        return subprocess.run([HEADS, *args], capture_output=True, text=True, timeout=120)

    def assert_refused_without_key(self, r, named):
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== menu [error] ERROR: Boot Hash Mismatch", r.stdout)
        self.assertIn(named, r.stdout.split("ERROR: Boot Hash Mismatch", 1)[1].split("=== ")[0])
        self.assertNotIn("boot (dry run)", r.stdout)
        self.assertNotIn("duk: unlocked", r.stdout)
        self.assertNotIn("EVIL", r.stdout)


class EvilMaid(OwnedWithDuk):
    def test_planted_entry_not_listed_not_verified_no_key(self):
        self.plant()
        # The default boot: /boot no longer verifies (a new, unsigned path
        # named), nothing boots, nothing is unsealed.
        r = self.menu(["d", "m", "p"], [DUK])
        self.assert_refused_without_key(r, "new: ./kexec_x/grub.cfg")
        # Even the explicit unsafe boot never parses a config under a kexec*
        # name, and an unsafe boot never gets the key.
        r = self.menu(["o", "b", "i", "y", "1"], [DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertNotIn("EVIL", r.stdout)
        self.assertIn("heads menu: boot (dry run): Debian GNU/Linux", r.stdout)
        self.assertIn("verified: NO", r.stdout)
        self.assertNotIn("duk:", r.stdout)
        # The commands: nothing unsigned is listed or loaded.
        e = self.cli("entries", "--boot", self.boot, "--keyring", self.keyring)
        self.assertEqual(e.returncode, 0, e.stderr)
        self.assertNotIn("EVIL", e.stdout)
        self.assertIn("Debian GNU/Linux", e.stdout)
        k = self.cli("kexec", "--boot", self.boot, "--keyring", self.keyring, "--line",
                     "EVIL|elf|kernel /kexec_x/vmlinuz|initrd /kexec_x/initrd.img|append ro",
                     "--dry-run")
        self.assertEqual(k.returncode, 1, k.stdout + k.stderr)
        self.assertIn("kexec_x/vmlinuz: not covered by the signed kexec_hashes.txt", k.stderr)
        k = self.cli("kexec", "--boot", self.boot, "--keyring", self.keyring, "--saved",
                     self.boot, "--dry-run")
        self.assertEqual(k.returncode, 0, k.stdout + k.stderr)
        self.assertIn("verified: yes", k.stdout)
        self.assertFalse(k.stdout.startswith("UNVERIFIED"), k.stdout)

    def test_swapped_kernel_gets_no_key(self):
        with open(os.path.join(self.boot, "vmlinuz-6.1"), "w") as f:
            f.write("attacker kernel\n")
        r = self.menu(["d", "m", "p"], [DUK])
        self.assert_refused_without_key(r, "changed: ./vmlinuz-6.1")
        k = self.cli("kexec", "--boot", self.boot, "--keyring", self.keyring, "--saved",
                     self.boot, "--dry-run")
        self.assertEqual(k.returncode, 1, k.stdout + k.stderr)
        self.assertIn("vmlinuz-6.1: content does not match its signed hash", k.stderr)

    def test_retargeted_symlink_refused_and_never_followed(self):
        # An OS-style symlink and an entry booting through it, signed with an
        # update of /boot.
        os.symlink("vmlinuz-6.1", os.path.join(self.boot, "vmlinuz"))
        with open(os.path.join(self.boot, "grub", "grub.cfg"), "a") as f:
            f.write("menuentry 'Via link' {\n\tlinux /vmlinuz root=/dev/mapper/root ro\n"
                    "\tinitrd /initrd.img-6.1\n}\n")
        r = self.menu(["o", "u", "y", "p"], [GPG])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        with open(os.path.join(self.boot, "kexec_links.txt"), "rb") as f:
            self.assertEqual(f.read(), b"./vmlinuz\0vmlinuz-6.1\0")
        # Made the default: what is stored is what verifies (the file the
        # signed link points to), and the next default boot gets the key.
        r = self.menu(["o", "b", "m", "3", "d"], [GPG, DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("heads menu: boot (dry run): Via link", r.stdout)
        with open(os.path.join(self.boot, "kexec_default_hashes.txt")) as f:
            self.assertRegex(f.read(), r"^[0-9a-f]{64}  \./vmlinuz-6\.1\n")
        r = self.menu(["d"], [DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("heads menu: boot (dry run): Via link", r.stdout)
        self.assertIn("duk: unlocked, key added to the initrd", r.stdout)
        line = "L|elf|kernel /vmlinuz|initrd /initrd.img-6.1|append ro"
        k = self.cli("kexec", "--boot", self.boot, "--keyring", self.keyring, "--line", line,
                     "--dry-run")
        self.assertEqual(k.returncode, 0, k.stdout + k.stderr)
        self.assertRegex(k.stdout, r"kernel-sha256: [0-9a-f]{64} \(signed\)")
        # The maid points it at her kernel: reported, and the loader still
        # reads only the signed target.
        self.write("boot/evil", "attacker kernel\n")
        os.unlink(os.path.join(self.boot, "vmlinuz"))
        os.symlink("evil", os.path.join(self.boot, "vmlinuz"))
        v = self.cli("boot", "verify", "--boot", self.boot, "--keyring", self.keyring,
                     "--no-rollback")
        self.assertEqual(v.returncode, 1, v.stdout + v.stderr)
        self.assertIn("./vmlinuz", v.stderr)
        k = self.cli("kexec", "--boot", self.boot, "--keyring", self.keyring, "--line", line,
                     "--dry-run")
        self.assertEqual(k.returncode, 0, k.stdout + k.stderr)
        self.assertIn("kernel: %s/vmlinuz\n" % self.boot, k.stdout)
        want = re.search(r"kernel-sha256: ([0-9a-f]{64})", k.stdout).group(1)
        with open(os.path.join(self.boot, "vmlinuz-6.1"), "rb") as f:
            self.assertEqual(want, hashlib.sha256(f.read()).hexdigest())
        r = self.menu(["d", "m", "p"], [DUK])
        self.assert_refused_without_key(r, "./vmlinuz")


class WhatIsShownIsWhatBoots(OwnedWithDuk):
    def test_confirmation_shows_modules_and_escapes_titles(self):
        """The confirmation screen lists the hypervisor's arguments and every
        module with its own; a title with an escape sequence cannot redraw
        the screen (shown as \\x1b)."""
        self.write("boot/xen-4.17.gz", "xen image\n")
        with open(os.path.join(self.boot, "grub", "grub.cfg"), "a") as f:
            f.write("menuentry 'Xen \x1b[2J\x1b[Hfake' {\n"
                    "\tmultiboot2 /xen-4.17.gz dom0_mem=1G\n"
                    "\tmodule2 /vmlinuz-6.1 root=/dev/mapper/root ro\n"
                    "\tmodule2 /initrd.img-6.1\n}\n")
        r = self.menu(["o", "u", "y", "p"], [GPG])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        r = self.menu(["o", "b", "m", "3", "b", "ESC", "ESC", "ESC", "p"], [])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertNotIn("\x1b", r.stdout)
        self.assertIn("3) Xen \\x1b[2J\\x1b[Hfake", r.stdout)
        screen = r.stdout.split("=== menu [normal] Confirm boot details", 1)[1].split("=== ")[0]
        self.assertIn("Hypervisor: /xen-4.17.gz\n", screen)
        self.assertIn("Hypervisor arguments: dom0_mem=1G\n", screen)
        self.assertIn("Module 1: /vmlinuz-6.1\n  arguments: root=/dev/mapper/root ro\n",
                      screen)
        self.assertIn("Module 2: /initrd.img-6.1\n  arguments: \n", screen)


class Finalize(OwnedWithDuk):
    """The TPM's platform hierarchy is locked before the next OS runs (the
    reference's kexec_finalize). Locked before us (a platform authorization
    set by the firmware, as SeaBIOS does, or an earlier finalize) is locked;
    a TPM that fails the command stops the boot, and the key already
    unsealed into the initrd is wiped, not handed over."""

    def menu_on(self, tcti, answers, secrets):
        os.environ["HEADS_TCTI"] = tcti
        try:
            return self.menu(answers, secrets, tpm=False)
        finally:
            os.environ.pop("HEADS_TCTI", None)

    def test_platform_locked_before_us_is_locked(self):
        tpm = Swtpm(self.state)  # the same machine, powered on again
        self.addCleanup(tpm.stop)
        r = subprocess.run([HEADS, "tpm", "finalize", "--tcti", tpm.tcti],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.menu_on(tpm.tcti, ["d"], [DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("already has an authorization we do not know", r.stderr)
        self.assertIn("duk: unlocked, key added to the initrd", r.stdout)
        self.assertIn("tpm: finalized (platform hierarchy locked)", r.stdout)

    def test_failed_tpm_finalize_stops_the_boot(self):
        tpm = Swtpm(self.state)
        self.addCleanup(tpm.stop)
        proxy = TpmProxy(tpm.port, fail={0x129: 0x101})  # HierarchyChangeAuth: FAILURE
        self.addCleanup(proxy.close)
        r = self.menu_on(proxy.tcti, ["d"], [DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("TPM finalize (platform hierarchy lock) failed: not booting", r.stderr)
        self.assertIn("=== msgbox [error] ERROR: Boot failed", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)
        self.assertNotIn("tpm: finalized", r.stdout)
        self.assertIn(0x129, [cc for cc, _ in proxy.commands()])


class BlsOnly(unittest.TestCase):
    """On a BLS-only /boot one planted grub.cfg used to replace every real
    entry (discovery prefers GRUB configs and the manifest skipped kexec*)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="heads-test-bls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.home = os.path.join(self.tmp, "signer")
        self.keyring = os.path.join(self.tmp, "keyring")
        for h in (self.home, self.keyring):
            self.addCleanup(subprocess.run, ["gpgconf", "--homedir", h, "--kill", "all"],
                            capture_output=True)
        genkey(self.home, "Signer <s@example.org>")
        os.makedirs(self.keyring, mode=0o700)
        gpg(self.keyring, "--import", input=gpg(self.home, "--export").stdout)
        self.boot = os.path.join(self.tmp, "boot")
        os.makedirs(os.path.join(self.boot, "loader", "entries"))
        for name, text in (("vmlinuz-6.1", "kernel\n"), ("initrd.img-6.1", "initrd\n"),
                           ("loader/entries/debian.conf",
                            "title Debian\nlinux /vmlinuz-6.1\ninitrd /initrd.img-6.1\n"
                            "options root=/dev/mapper/root ro\n")):
            with open(os.path.join(self.boot, name), "w") as f:
                f.write(text)
        env = dict(os.environ, HEADS_TCTI="")
        r = subprocess.run([HEADS, "boot", "sign", "--boot", self.boot, "--gnupghome",
                            self.home, "--no-rollback"], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def entries(self):
        return subprocess.run([HEADS, "entries", "--boot", self.boot, "--keyring",
                               self.keyring], capture_output=True, text=True, timeout=120)

    def test_planted_grub_cfg_does_not_hide_bls(self):
        r = self.entries()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "1\tlinux\tDebian\n")
        os.makedirs(os.path.join(self.boot, "kexec_x"))
        with open(os.path.join(self.boot, "kexec_x", "grub.cfg"), "w") as f:
            f.write("menuentry EVIL { linux /vmlinuz-6.1 init=/bin/sh }\n")
        with open(os.path.join(self.boot, "grub.cfg"), "w") as f:
            f.write("menuentry EVIL2 { linux /vmlinuz-6.1 init=/bin/sh }\n")
        r = self.entries()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "1\tlinux\tDebian\n")  # the signed BLS entry only
        # without the keyring nothing is checked, and it says so; the kexec*
        # directory is still never parsed
        r = subprocess.run([HEADS, "entries", "--boot", self.boot], capture_output=True,
                           text=True, timeout=120)
        self.assertIn("UNVERIFIED", r.stderr)
        self.assertIn("EVIL2", r.stdout)
        self.assertNotIn("EVIL\n", r.stdout)


if __name__ == "__main__":
    main()
