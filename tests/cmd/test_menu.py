"""heads menu through the scripted UI: clean boot -> ownership -> TOTP ->
default boot; a modified /boot file refused and named; forced boot extends
PCR 4 and the TOTP stops unsealing; recovery from the menu; start-up error
menus. The TPM is a private swtpm whose state persists across runs
(with-swtpm --state), so every run is a fresh "boot" of the same machine."""
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

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import TempDirTest, main, run  # noqa: E402
import test_luks_common as lc  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")
WITH_SWTPM = os.environ.get("WITH_SWTPM")

GRUB = """menuentry 'Debian GNU/Linux' {
	linux /vmlinuz-6.1 root=/dev/mapper/root ro quiet
	initrd /initrd.img-6.1
}
menuentry 'Debian (recovery mode)' {
	linux /vmlinuz-6.1 root=/dev/mapper/root ro single
	initrd /initrd.img-6.1
}
"""


def totp(secret_b32, t):
    key = base64.b32decode(secret_b32)
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) % 1000000)


def extend(pcr, data):
    return hashlib.sha256(pcr + hashlib.sha256(data).digest()).digest()


class MenuTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.boot = os.path.join(self.tmp, "boot")
        os.makedirs(os.path.join(self.boot, "grub"))
        self.write("boot/grub/grub.cfg", GRUB)
        self.write("boot/vmlinuz-6.1", "kernel image\n")
        self.write("boot/initrd.img-6.1", "initrd image\n")
        self.keyring = os.path.join(self.tmp, "keyring")
        self.state = os.path.join(self.tmp, "tpmstate")
        self.secret = os.path.join(self.tmp, "secret")
        self.config = self.write("config", 'CONFIG_TPM=y\nCONFIG_BOARD_NAME="QEMU Test"\n'
                                 'CONFIG_GPG_ALGO=p256\n')

    def tearDown(self):
        if os.path.isdir(self.keyring):
            subprocess.run(["gpgconf", "--homedir", self.keyring, "--kill", "all"],
                           capture_output=True)
        super().tearDown()

    def menu(self, answers, secrets="", config=None, tpm=True, extra=(), luks=(), before=()):
        """luks: the LUKS containers the menu may touch (never the host's
        own: discovery would find other tests' loop devices). before: heads
        commands (argv lists) run first in the same boot of the TPM."""
        script = self.write("script", "".join(a + "\n" for a in answers))
        sfile = self.write("secrets", "".join(s + "\n" for s in secrets))
        devices = self.write("luks-devices", "".join(d + "\n" for d in luks))
        absent = os.path.join(self.tmp, "absent")
        args = ["menu", "--ui", "script", "--ui-script", script, "--boot", self.boot,
                "--keyring", self.keyring, "--config", config or self.config,
                "--secret-dir", self.secret, "--user-config",
                os.path.join(self.tmp, "config.user"), "--no-act",
                "--luks-devices", devices, "--eventlog", absent, "--trace", absent,
                "--modules", absent, *extra]
        with open(sfile) as sf:
            env = dict(os.environ, HEADS_UI_SECRET_FD=str(sf.fileno()))
            env.pop("HEADS_UI", None)
            cmd = [HEADS, *args]
            if before:
                cmd = ["sh", "-c", " && ".join(" ".join("'%s'" % a for a in c)
                                                for c in (*before, ["exec", *cmd]))]
            if tpm:
                cmd = [WITH_SWTPM, "--state", self.state, "--", *cmd]
            return subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  pass_fds=(sf.fileno(),), timeout=180)

    def own(self):
        """First boot: take ownership; returns (result, base32 TOTP secret)."""
        r = self.menu(["y", "Test Key <test@example.com>", "n", "1", "p"],
                      ["ownerpass", "ownerpass", "gpgpassphrase", "gpgpassphrase",
                       "gpgpassphrase"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        m = re.search(r"Secret \(base32\): ([A-Z2-7]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        return r, m.group(1)


class Ownership(MenuTest):
    def setUp(self):
        if not WITH_SWTPM:
            self.skipTest("needs the with-swtpm helper (run through meson test)")
        super().setUp()

    def test_ownership_pins_primary_key(self):
        """Issue 15 item 7: ownership records the primary key's Name in the
        user config; a TPM command pinned to it works, to another refuses."""
        self.own()
        with open(os.path.join(self.tmp, "config.user")) as f:
            m = re.search(r'^export CONFIG_TPM_PRIMARY_NAME="([0-9a-f]{68})"$', f.read(), re.M)
        self.assertIsNotNone(m)
        name = m.group(1)
        for pin, rc in ((name, 0), (name[:-1] + ("0" if name[-1] != "0" else "1"), 1)):
            cfg = self.write("pinned", f'CONFIG_TPM_PRIMARY_NAME="{pin}"\n')
            r = subprocess.run([WITH_SWTPM, "--state", self.state, "--", HEADS, "totp", "show",
                                "--config", cfg], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, rc, r.stderr)
            if rc:
                self.assertIn("not the one recorded at ownership", r.stderr)

    def test_clean_boot_ownership_totp_default_boot(self):
        r, secret = self.own()
        self.assertIn("=== yesno [warning] Clean Boot Detected - Take Ownership?", r.stdout)
        for f in ("kexec.sig", "kexec_hashes.txt", "kexec_tree.txt", "kexec_rollback.txt",
                  "kexec_default.1.txt", "kexec_default_hashes.txt"):
            self.assertTrue(os.path.exists(os.path.join(self.boot, f)), f)
        self.assertIn("power off (dry run", r.stdout)

        # Next boot: the TOTP shown is the code the host computes from the
        # enrolled secret, then the default entry boots (after PCR 4).
        t0 = time.time()
        r = self.menu(["d"])
        t1 = time.time()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        shown = re.search(r"^status: QEMU Test \| .* \| TOTP: (\d{6})$", r.stdout, re.M)
        self.assertIsNotNone(shown, r.stdout)
        self.assertIn(shown.group(1), {totp(secret, t0), totp(secret, t1)})
        self.assertNotIn("Clean Boot Detected", r.stdout)
        self.assertIn("heads menu: boot (dry run): Debian GNU/Linux\n", r.stdout)
        self.assertIn("kernel: /vmlinuz-6.1\n", r.stdout)
        self.assertIn('pcr4: extended with "generic"', r.stdout)
        pcr4 = re.search(r"^pcr4-value: ([0-9a-f]{64})$", r.stdout, re.M).group(1)
        self.assertEqual(bytes.fromhex(pcr4), extend(b"\0" * 32, b"generic"))

    def test_line_mode_ownership_qr_decodes(self):
        """Ownership on a dumb serial console (line mode, everything typed on
        stdin): the QR code, folded to the console width, still decodes to
        the otpauth URI of the secret shown beside it."""
        from test_totp_cmd import terminal_to_pgm
        if not shutil.which("zbarimg"):
            self.skipTest("zbarimg not installed")
        typed = ["y", "ownerpass", "ownerpass", "gpgpassphrase", "gpgpassphrase", "", "n",
                 "", "1", "gpgpassphrase", "", "", "p"]
        env = dict(os.environ)
        env.pop("HEADS_UI", None)
        r = subprocess.run(
            [WITH_SWTPM, "--state", self.state, "--", HEADS, "menu", "--ui", "line", "--boot",
             self.boot, "--keyring", self.keyring, "--config", self.config, "--secret-dir",
             self.secret, "--user-config", os.path.join(self.tmp, "config.user"),
             "--no-act", "--luks-devices", self.write("none", ""), "--eventlog",
             os.path.join(self.tmp, "absent")],
            input="".join(t + "\n" for t in typed), capture_output=True, text=True, env=env,
            timeout=180)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        lines = r.stdout.splitlines()
        start = lines.index("Scan this QR code with your TOTP app (or type the secret):") + 1
        end = next(i for i, l in enumerate(lines) if l.startswith("Secret (base32): "))
        b32 = lines[end].split(": ", 1)[1]
        qr = [l for l in lines[start:end] if l.strip()]
        self.assertEqual(len({len(l) for l in qr}), 1, "QR rows of unequal width:\n" +
                         "\n".join(qr))
        pgm = os.path.join(self.tmp, "console.pgm")
        terminal_to_pgm(qr, pgm)
        z = subprocess.run(["zbarimg", "--raw", "-q", pgm], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(z.returncode, 0, z.stderr)
        self.assertRegex(z.stdout.strip(), r"^otpauth://totp/QEMU(%20| )Test\?secret=" + b32 + "$")

    def test_modified_boot_file_refused_and_named(self):
        self.own()
        with open(os.path.join(self.boot, "vmlinuz-6.1"), "a") as f:
            f.write("evil\n")
        r = self.menu(["d", "m", "p"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("=== menu [error] ERROR: Boot Hash Mismatch", r.stdout)
        report = r.stdout.split("ERROR: Boot Hash Mismatch", 1)[1]
        self.assertIn("changed: ./vmlinuz-6.1", report.split("=== ")[0])
        self.assertIn("Boot files: UNTRUSTED/ALTERED", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)
        self.assertIn("boot refused", r.stderr)

    def test_investigate_update_checksums_then_new_default(self):
        """After an OS update: investigate, re-sign, then the default entry's
        own hashes still differ, so the default is refused until a new one is
        chosen from the (globally verified) boot menu."""
        self.own()
        with open(os.path.join(self.boot, "vmlinuz-6.1"), "a") as f:
            f.write("kernel update\n")
        r = self.menu(["d", "i", "d", "s", "u", "y", "d", "m", "o", "b", "m", "2", "d"],
                      ["gpgpassphrase", "gpgpassphrase"])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        details = r.stdout.split("=== textbox [error] Mismatch details", 1)[1]
        self.assertIn("changed: ./vmlinuz-6.1", details.split("=== ")[0])
        self.assertIn("=== textbox [normal] Signed files (sha256)", r.stdout)
        self.assertIn("=== msgbox [normal] Signed", r.stdout)
        # Re-signed, but the saved default's own hashes are stale: refused.
        second = r.stdout.split("=== msgbox [normal] Signed", 1)[1]
        self.assertIn("Default entry files: ALTERED", second)
        self.assertIn("heads menu: boot (dry run): Debian (recovery mode)", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(self.boot, "kexec_default.2.txt")))
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec_default.1.txt")))
        # The next boot takes the new default without questions.
        r = self.menu(["d"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("heads menu: boot (dry run): Debian (recovery mode)", r.stdout)

    def test_forced_boot_extends_pcr4_and_totp_stops(self):
        self.own()
        with open(os.path.join(self.boot, "vmlinuz-6.1"), "a") as f:
            f.write("changed\n")
        r = self.menu(["o", "b", "i", "y", "2"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("=== yesno [error] Unsafe Boot Warning", r.stdout)
        self.assertIn('PCR 4 extended with "unsafe"', r.stderr)
        self.assertIn("TOTP no longer unseals in this boot", r.stderr)
        self.assertIn("heads menu: boot (dry run): Debian (recovery mode)", r.stdout)
        pcr4 = re.search(r"^pcr4-value: ([0-9a-f]{64})$", r.stdout, re.M).group(1)
        self.assertEqual(bytes.fromhex(pcr4), extend(b"\0" * 32, b"unsafe"))

    def test_restricted_boot_refuses_forced_boot(self):
        self.own()
        with open(self.config) as f:
            cfg = self.write("config.r", f.read() + "CONFIG_RESTRICTED_BOOT=y\n")
        r = self.menu(["o", "b", "i", "p"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Restricted Boot is enabled: unsafe boot is not allowed.", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)

    def test_rollback_file_missing_is_tpm_state_inconsistent(self):
        self.own()
        os.unlink(os.path.join(self.boot, "kexec_rollback.txt"))
        r = self.menu(["m", "p"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("=== menu [error] ERROR: TPM State Inconsistent", r.stdout)
        self.assertIn("Boot integrity counter file missing", r.stdout)


class Drift(MenuTest):
    """Issue 21: the menu and the CLI run the same TOTP flow (one test per
    drift bug the two copies had)."""

    def setUp(self):
        if not WITH_SWTPM:
            self.skipTest("needs the with-swtpm helper (run through meson test)")
        super().setUp()

    def in_one_boot(self, *cmds, owner="ownerpass\n"):
        """Run heads commands one after the other in one boot of the TPM
        (PCR extensions of the first are seen by the next); stdin: owner."""
        script = " && ".join(" ".join("'%s'" % a for a in c) for c in cmds)
        return subprocess.run([WITH_SWTPM, "--state", self.state, "--", "sh", "-c", script],
                              input=owner, capture_output=True, text=True, timeout=120)

    def test_menu_honours_config_totp_pcrs(self):
        """CONFIG_TOTP_PCRS=0,7: the menu seals to PCRs 0 and 7 only (as
        `heads totp seal` does), so a moved PCR 4 does not stop the code,
        and the menu reads the code with the sealed list."""
        with open(self.config, "a") as f:
            f.write('CONFIG_TOTP_PCRS="0,7"\n')
        _, secret = self.own()
        r = self.in_one_boot([HEADS, "tpm", "extend", "4", "--string", "moved"],
                             [HEADS, "totp", "show", "--config", self.config])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"UTC TOTP: \d{6}")
        # Sealed by the CLI to 0,7: the menu shows the code (not an error).
        r = self.in_one_boot([HEADS, "totp", "wipe", "--config", self.config, "--owner-fd",
                              "0"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        t0 = time.time()
        r = self.in_one_boot([HEADS, "totp", "seal", "--config", self.config, "--owner-fd",
                              "0"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        secret = re.search(r"Secret \(base32\): ([A-Z2-7]+)", r.stdout).group(1)
        r = self.menu(["p"])
        t1 = time.time()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        shown = re.search(r"^status: QEMU Test \| .* \| TOTP: (\d{6})$", r.stdout, re.M)
        self.assertIsNotNone(shown, r.stdout[-3000:])
        self.assertIn(shown.group(1), {totp(secret, t0), totp(secret, t1),
                                       totp(secret, t1 + 30)})

    def test_menu_seal_runs_the_self_check(self):
        """The menu's TOTP seal checks the sealed object in this boot as
        `heads totp seal` does: with PCR 4 already moved (sealed: the
        firmware-only value), both say there is no code in this boot and
        why, instead of showing the QR code as if it worked."""
        self.own()
        moved = [HEADS, "tpm", "extend", "4", "--string", "moved"]
        cli = self.in_one_boot(moved, [HEADS, "totp", "seal", "--config", self.config,
                                       "--owner-fd", "0", "--eventlog",
                                       os.path.join(self.tmp, "absent")])
        self.assertEqual(cli.returncode, 0, cli.stdout + cli.stderr)
        self.assertIn("no code in this boot (", cli.stderr)
        # The same situation through the menu: TOTP failed -> generate.
        r = self.menu(["g", "y", "y", "i", "p"], ["ownerpass"], before=[moved])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== textbox [normal] New TOTP secret", r.stdout)
        self.assertIn("no code in this boot (", r.stderr)
        self.assertIn("PCR 4 moved", r.stderr.split("no code in this boot", 1)[1])


def gpg(home, *args, input=None):
    return subprocess.run(["gpg", "--homedir", home, "--batch", *args], input=input,
                          capture_output=True, check=True)


class OwnerKey(MenuTest):
    """The owner's key at ownership: its public key into the ROM config area
    (then a reboot: the ROM is measured into PCR 7), or a clear warning when
    the board has none; the encrypted backup of the secret key restores."""

    def setUp(self):
        if not WITH_SWTPM:
            self.skipTest("needs the with-swtpm helper (run through meson test)")
        super().setUp()
        self.backup = os.path.join(self.tmp, "usb")
        os.makedirs(self.backup)
        with open(self.config, "a") as f:
            f.write(f'CONFIG_GPG_BACKUP_DIR="{self.backup}"\n')
        self.homes = []

    def tearDown(self):
        for h in self.homes:
            subprocess.run(["gpgconf", "--homedir", h, "--kill", "all"], capture_output=True)
        super().tearDown()

    def home(self, name):
        h = tempfile.mkdtemp(prefix=name, dir=self.tmp)
        self.homes.append(h)
        return h

    def restore(self, backup_file, passphrase):
        """Decrypt the backup with gpg, import it into a new home: the
        fingerprints of the secret keys there."""
        dec = subprocess.run(["gpg", "--homedir", self.home("dec"), "--batch",
                              "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                              "--decrypt", backup_file], input=passphrase.encode() + b"\n",
                             capture_output=True)
        if dec.returncode != 0:
            return None, dec.stderr.decode()
        home = self.home("restored")
        gpg(home, "--pinentry-mode", "loopback", "--passphrase", "gpgpassphrase", "--import",
            input=dec.stdout)
        out = gpg(home, "--with-colons", "--list-secret-keys").stdout.decode()
        return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")], home

    def test_rom_keyring_backup_restores_reboot(self):
        rom = os.path.join(self.tmp, "rom.img")
        with open(rom, "wb") as f:
            f.truncate(1 << 20)  # blank ROM config area (zeros)
        r = self.menu(["y", "Test Key <test@example.com>", "y", "", "1"],
                      ["ownerpass", "ownerpass", "gpgpassphrase", "gpgpassphrase",
                       "backup passphrase", "backup passphrase", "gpgpassphrase"],
                      extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        fpr = re.search(r"^GPG key: ([0-9A-F]{40})$", r.stdout, re.M).group(1)
        self.assertIn("in the ROM", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertNotIn("Heads Boot Menu", r.stdout)  # rebooted, not back to the menu
        # The ROM keyring: the public key, no secret key; it verifies /boot.
        listing = run("rom", "list", "--device", rom)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn(".gnupg/pubring.kbx", listing.stdout)
        self.assertIn(".gnupg/trustdb.gpg", listing.stdout)
        self.assertIn("etc/config.user", listing.stdout)  # the primary key's Name
        root = os.path.join(self.tmp, "romroot")
        x = run("rom", "extract", "--device", rom, "--root", root)
        self.assertEqual(x.returncode, 0, x.stderr)
        with open(os.path.join(root, "etc/config.user")) as f:
            self.assertRegex(f.read(), r'CONFIG_TPM_PRIMARY_NAME="[0-9a-f]{68}"')
        self.homes.append(os.path.join(root, ".gnupg"))
        pub = gpg(os.path.join(root, ".gnupg"), "--with-colons", "--list-keys").stdout.decode()
        self.assertIn(f"fpr:::::::::{fpr}:", pub)
        sec = gpg(os.path.join(root, ".gnupg"), "--list-secret-keys").stdout
        self.assertEqual(sec, b"")
        v = run("boot", "verify", "--boot", self.boot, "--keyring", os.path.join(root, ".gnupg"),
                "--no-rollback", "--config", os.devnull)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # Issue 15 item 5: the machine has a counter now, recorded in the
        # ROM with the one /boot binds: a /boot without it fails from now on.
        with open(os.path.join(root, "etc", "config.user")) as f:
            cfg = f.read()
        self.assertIn('CONFIG_BOOT_REQ_ROLLBACK="y"', cfg)
        with open(os.path.join(self.boot, "kexec_rollback.txt")) as f:
            cid = re.search(r"counter-([0-9a-f]+)", f.read()).group(1)
        self.assertIn('CONFIG_ROLLBACK_COUNTER="0x%s"' % cid, cfg)
        v = run("boot", "verify", "--boot", self.boot, "--keyring", os.path.join(root, ".gnupg"),
                "--no-rollback", "--config", os.path.join(root, "etc", "config.user"))
        self.assertEqual(v.returncode, 1, v.stdout + v.stderr)
        self.assertIn("counter: DISABLED", v.stderr)
        # The backup: written to the configured location, checked by the
        # menu, restored here by gpg with the backup passphrase.
        self.assertIn("=== msgbox [normal] GPG key backup", r.stdout)
        backup = os.path.join(self.backup, f"heads-key-{fpr}.sec.asc")
        with open(backup, "rb") as f:
            self.assertTrue(f.read().startswith(b"-----BEGIN PGP MESSAGE-----"))
        self.assertTrue(os.path.exists(os.path.join(self.backup, f"heads-key-{fpr}.pub.asc")))
        fprs, home = self.restore(backup, "backup passphrase")
        self.assertEqual(fprs and fprs[0], fpr, home)
        # The restored key signs (with its own passphrase) and the ROM
        # keyring verifies it.
        data = self.write("data", "signed after a restore\n")
        gpg(home, "--pinentry-mode", "loopback", "--passphrase", "gpgpassphrase",
            "--detach-sign", data)
        gpg(os.path.join(root, ".gnupg"), "--verify", data + ".sig", data)
        self.assertIsNone(self.restore(backup, "wrong passphrase")[0])

    def test_no_rom_area_said_backup_to_block_device(self):
        if os.geteuid() != 0 or not shutil.which("losetup"):
            self.skipTest("a loop device needs root")
        img = os.path.join(self.tmp, "usb.img")
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, capture_output=True)
        swap = os.path.join(self.tmp, "swap.img")
        with open(swap, "wb") as f:
            f.truncate(8 << 20)
        subprocess.run(["mkswap", swap], check=True, capture_output=True)
        loops = lc.Loops()
        self.addCleanup(loops.detach_all)
        dev = loops.attach(img)
        odd = loops.attach(swap)
        # A filesystem outside vfat/exfat/ext2-4 is not mounted; the user
        # tries another location.
        r = self.menu(["y", "Test Key <test@example.com>", "y", odd, "y", dev, "1", "p"],
                      ["ownerpass", "ownerpass", "gpgpassphrase", "gpgpassphrase",
                       "backup passphrase", "backup passphrase", "gpgpassphrase"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn(f"The key backup to {odd} failed", r.stdout)
        self.assertIn("swap filesystem: only vfat, exfat and ext2/3/4 are mounted", r.stderr)
        self.assertIn("=== msgbox [warning] Public key NOT stored in the ROM", r.stdout)
        self.assertIn("(NOT in the ROM: lost at reboot)", r.stdout)
        self.assertIn("heads menu: power off (dry run", r.stdout)  # back in the menu
        fpr = re.search(r"^GPG key: ([0-9A-F]{40})$", r.stdout, re.M).group(1)
        loops.detach_all()
        # Unmounted by the menu; read the file from the filesystem image.
        out = os.path.join(self.tmp, "from-usb.asc")
        subprocess.run(["debugfs", "-R", f"dump /heads-key-{fpr}.sec.asc {out}", img],
                       check=True, capture_output=True)
        fprs, home = self.restore(out, "backup passphrase")
        self.assertEqual(fprs and fprs[0], fpr, home)


class RomKeyringOptions(OwnerKey):
    """GPG options (and the empty-keyring menu's "add a key"): public keys
    from a file into the ROM keyring, replace it, list it; secret keys are
    refused."""

    def make_key(self, name):
        home = self.home(name)
        gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
            f"{name} <{name}@example.org>", "ed25519", "sign", "never")
        fpr = [l.split(":")[9] for l in gpg(home, "--with-colons", "--list-keys")
               .stdout.decode().splitlines() if l.startswith("fpr:")][0]
        pub = self.write(f"{name}.pub.asc", gpg(home, "--armor", "--export").stdout, "wb")
        sec = self.write(f"{name}.sec.asc", gpg(home, "--pinentry-mode", "loopback",
                                                "--passphrase", "", "--armor",
                                                "--export-secret-keys").stdout, "wb")
        return fpr, pub, sec

    def rom_fprs(self, rom):
        root = tempfile.mkdtemp(dir=self.tmp)
        x = run("rom", "extract", "--device", rom, "--root", root)
        self.assertEqual(x.returncode, 0, x.stderr)
        self.homes.append(os.path.join(root, ".gnupg"))
        out = gpg(os.path.join(root, ".gnupg"), "--with-colons", "--list-keys").stdout.decode()
        return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")]

    def test_add_list_refuse_secret_replace(self):
        a, a_pub, a_sec = self.make_key("alice")
        b, b_pub, _ = self.make_key("bob")
        rom = os.path.join(self.tmp, "rom.img")
        with open(rom, "wb") as f:
            f.truncate(1 << 20)
        self.write("boot/kexec_hashes.txt", "")  # signed metadata, empty keyring
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        # The keyring-empty menu: add a key from a file; the ROM is written
        # and the machine reboots.
        r = self.menu(["g", a_pub, "y"], config=cfg, tpm=False, extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== menu [error] ERROR: GPG keyring empty!", r.stdout)
        self.assertIn(a, r.stdout.split("=== yesno [warning] ROM keyring", 1)[1])
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertEqual(self.rom_fprs(rom), [a])
        # A secret key file is refused; the list shows the ROM keyring.
        r = self.menu(["o", "g", "r", a_sec, "o", "g", "l", "p"], config=cfg, tpm=False,
                      extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("it holds a SECRET key", r.stdout)
        listing = r.stdout.split("=== textbox [normal] ROM keyring", 1)[1].split("===")[0]
        self.assertIn(f"{a}  alice <alice@example.org>", listing)
        self.assertEqual(self.rom_fprs(rom), [a])
        # Replace: only bob's key is left in the ROM.
        r = self.menu(["o", "g", "e", b_pub, "y"], config=cfg, tpm=False, extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("every key now in it is removed", r.stdout)
        self.assertEqual(self.rom_fprs(rom), [b])


class ConfigMenu(MenuTest):
    def test_settings_saved_to_the_rom(self):
        rom = os.path.join(self.tmp, "rom.img")
        with open(rom, "wb") as f:
            f.truncate(1 << 20)
        self.write("boot/kexec_hashes.txt", "")
        cfg = self.write("config.notpm", "CONFIG_TPM=n\nCONFIG_BOOT_DEV=/dev/vda1\n")
        r = self.menu(["i", "o", "c", "b", "/dev/nvme0n1p1", "M", "5", "s", "y"],
                      config=cfg, tpm=False, extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("/boot device: /dev/vda1\nAutomatic boot: off", r.stdout)
        self.assertIn("/boot device: /dev/nvme0n1p1\nAutomatic boot: 5 s", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        root = os.path.join(self.tmp, "romroot")
        x = run("rom", "extract", "--device", rom, "--root", root)
        self.assertEqual(x.returncode, 0, x.stderr)
        with open(os.path.join(root, "etc", "config.user")) as f:
            saved = f.read()
        self.assertIn('CONFIG_BOOT_DEV="/dev/nvme0n1p1"', saved)
        self.assertIn('CONFIG_AUTO_BOOT_TIMEOUT="5"', saved)

    def test_nothing_to_save_and_no_rom_area(self):
        self.write("boot/kexec_hashes.txt", "")
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        r = self.menu(["i", "o", "c", "s", "x", "p"], config=cfg, tpm=False)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("This board has no ROM configuration area", r.stdout)
        rom = os.path.join(self.tmp, "rom.img")
        with open(rom, "wb") as f:
            f.truncate(1 << 20)
        r = self.menu(["i", "o", "c", "s", "x", "p"], config=cfg, tpm=False,
                      extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("No setting was changed: nothing to save.", r.stdout)


DRK = "recovery passphrase 1"
DUK = "duk passphrase twelve+"


class LuksMenu(MenuTest):
    """Options C (reencryption), P (Disk Recovery Key change), the Disk
    Unlock Key at the end of ownership and its reseal, on LUKS image files
    (cryptsetup as the independent check)."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("cryptsetup"):
            raise unittest.SkipTest("LUKS images need root and cryptsetup")

    def setUp(self):
        super().setUp()
        self.write("boot/kexec_hashes.txt", "")  # not a clean boot (no-TPM tests)
        self.notpm = self.write("config.notpm", "CONFIG_TPM=n\n")

    def container(self, name, version=2, data=None):
        path = os.path.join(self.tmp, name)
        if data is None:
            lc.luks_format(path, DRK.encode(), version=version, size=20 << 20)
        else:
            lc.encrypt_in_place(path, data, DRK.encode())
        return path

    def test_change_drk_passphrase(self):
        devs = [self.container("a.img"), self.container("b.img")]
        new = "a new recovery passphrase"
        r = self.menu(["i", "o", "P", "p"], ["wrong passphrase", DRK, new, new],
                      config=self.notpm, tpm=False, luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("That passphrase opens none of the containers.", r.stdout)
        report = r.stdout.split("=== textbox [normal] Disk Recovery Key changed", 1)[1]
        for d in devs:
            self.assertRegex(report, re.escape(d) + r": changed \(key slot \d+\)")
            self.assertTrue(lc.opens(d, new.encode()), d)
            self.assertFalse(lc.opens(d, DRK.encode()), d)

    def test_reencrypt_crash_safe_fast_mode_warned(self):
        data = [os.urandom(1 << 20), os.urandom(1 << 20)]
        devs = [self.container("a.img", data=data[0]), self.container("b.img", data=data[1])]
        before = [lc.volume_key(d, DRK.encode()) for d in devs]
        # Fast mode: an explicit choice behind a red warning (declined here),
        # then the crash-safe reencryption.
        r = self.menu(["i", "o", "C", "f", "n", "o", "C", "s", "y", "p"], [DRK, DRK],
                      config=self.notpm, tpm=False, luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [error] Fast reencryption: DANGER", r.stdout)
        self.assertRegex(r.stdout, r"=== progress LUKS reencryption: .*a\.img \(1 of 2\): "
                         r"\d+/\d+ MiB, [0-9.]+ MiB/s, ETA \d+:\d\d 100%")
        report = r.stdout.split("=== textbox [normal] LUKS reencryption done", 1)[1]
        report = report.split("=== ")[0]
        for d, plain, old in zip(devs, data, before):
            self.assertRegex(report, re.escape(d) + r": reencrypted \(Disk Recovery Key in "
                             r"slot \d+\)")
            self.assertNotEqual(lc.volume_key(d, DRK.encode()), old)
            self.assertEqual(lc.oracle_decrypt(d, DRK.encode(), len(plain)), plain)

    def test_reencrypt_interrupted_then_resumed(self):
        """SIGTERM during the reencryption stops it at a hotzone boundary
        (reported INTERRUPTED); choosing the option again resumes it."""
        dev = os.path.join(self.tmp, "big.img")
        lc.luks_format(dev, DRK.encode(), size=400 << 20)
        before = lc.volume_key(dev, DRK.encode())
        script = self.write("script", "i\no\nC\ns\ny\np\n")
        sfile = self.write("secrets", DRK + "\n")
        devices = self.write("luks-devices", dev + "\n")
        with open(sfile) as sf:
            env = dict(os.environ, HEADS_UI_SECRET_FD=str(sf.fileno()))
            env.pop("HEADS_UI", None)
            p = subprocess.Popen(
                [HEADS, "menu", "--ui", "script", "--ui-script", script, "--boot", self.boot,
                 "--keyring", self.keyring, "--config", self.notpm, "--secret-dir",
                 self.secret, "--user-config", os.path.join(self.tmp, "config.user"),
                 "--no-act", "--luks-devices", devices],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                pass_fds=(sf.fileno(),))
            out = ""
            for line in p.stdout:
                out += line
                if re.match(r"=== progress LUKS reencryption: .* ([1-9]\d?)%$", line):
                    p.send_signal(15)
                    break
            rest, err = p.communicate(timeout=300)
        out += rest
        self.assertEqual(p.returncode, 0, out[-3000:] + err)
        report = out.split("=== textbox [error] LUKS reencryption incomplete", 1)[1]
        self.assertIn(dev + ": INTERRUPTED (choose the option again to resume)", report)
        self.assertIn("reencrypt", lc.dump(dev))  # the LUKS2 reencryption requirement
        r = self.menu(["i", "o", "C", "s", "y", "p"], [DRK], config=self.notpm, tpm=False,
                      luks=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertRegex(r.stdout, re.escape(dev) + r": reencrypted \(resumed\)")
        self.assertNotEqual(lc.volume_key(dev, DRK.encode()), before)

    def test_ownership_duk_unlock_reencrypt_reseal(self):
        if not WITH_SWTPM:
            self.skipTest("needs the with-swtpm helper (run through meson test)")
        os.unlink(os.path.join(self.boot, "kexec_hashes.txt"))
        devs = [self.container("a.img"), self.container("b.img")]
        gpg = "gpgpassphrase"
        # Ownership, then the optional Disk Unlock Key (offered: containers).
        r = self.menu(["y", "Test Key <test@example.com>", "n", "1", "y", "p"],
                      ["ownerpass", "ownerpass", gpg, gpg, gpg, DRK, DUK, DUK, gpg], luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [normal] Disk Unlock Key (optional)", r.stdout)
        done = r.stdout.split("=== textbox [normal] Disk Unlock Key set up", 1)[1]
        for d in devs:
            self.assertIn(d + ": Disk Unlock Key in key slot 31, Disk Recovery Key in slot 0",
                          done)
            self.assertEqual(lc.used_slots(d), [0, 31])
        with open(os.path.join(self.boot, "kexec_key_devices.txt")) as f:
            self.assertEqual([l.split()[0] for l in f], devs)
        # Next boot: the default boot unseals the key and adds it to the initrd.
        r = self.menu(["d"], [DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("duk: unlocked, key added to the initrd", r.stdout)
        # Reencryption drops the DUK slot: the menu says the key is invalid
        # and reseals it (the DRK already typed is reused).
        before = [lc.volume_key(d, DRK.encode()) for d in devs]
        r = self.menu(["o", "C", "s", "y", "y", "p"], [DRK, DUK, DUK, "ownerpass", gpg],
                      luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== textbox [normal] LUKS reencryption done", r.stdout)
        self.assertIn("=== yesno [warning] Disk Unlock Key invalid", r.stdout)
        self.assertIn("=== textbox [normal] Disk Unlock Key set up", r.stdout)
        for d, old in zip(devs, before):
            self.assertNotEqual(lc.volume_key(d, DRK.encode()), old)
            self.assertIn(31, lc.used_slots(d))
        r = self.menu(["d"], [DUK])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("duk: unlocked, key added to the initrd", r.stdout)
        # A new TOTP secret (TPM options) offers the DUK reseal too
        # (reference generate_totp_hotp); the new DUK passphrase unlocks.
        duk2 = "another duk passphrase"
        r = self.menu(["o", "t", "g", "y", "y", "p"], ["ownerpass", DRK, duk2, duk2, gpg],
                      luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        after = r.stdout.split("=== textbox [normal] New TOTP secret", 1)[1]
        self.assertIn("=== yesno [warning] Disk Unlock Key", after)
        self.assertIn("=== textbox [normal] Disk Unlock Key set up", after)
        r = self.menu(["d"], [duk2])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("duk: unlocked, key added to the initrd", r.stdout)


class Startup(MenuTest):
    def test_recovery_from_menu_extends_pcr4_and_wipes(self):
        if not WITH_SWTPM:
            self.skipTest("no swtpm")
        os.makedirs(self.secret)
        self.write("secret/tpm_owner_passphrase", "x")
        # kexec*.txt present: not a clean boot; empty keyring -> its error menu.
        self.write("boot/kexec_hashes.txt", "")
        r = self.menu(["x"], extra=("--recovery-shell", "/bin/true"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("=== menu [error] ERROR: GPG keyring empty!", r.stdout)
        self.assertEqual(os.listdir(self.secret), [])
        pcr4 = re.findall(r"^\s+4: ([0-9a-f]{64})$", r.stdout, re.M)
        self.assertEqual([bytes.fromhex(p) for p in pcr4], [extend(b"\0" * 32, b"recovery")])

    def test_no_boot_partition_menu(self):
        shutil.rmtree(self.boot)
        os.makedirs(self.boot)
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        r = self.menu(["m", "s", "p"], config=cfg, tpm=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("=== menu [error] ERROR: No /boot Partition Found", r.stdout)
        self.assertIn("=== textbox [normal] System Info", r.stdout)
        self.assertIn("TOTP: NO TPM", r.stdout)

    def test_select_boot_device_saved(self):
        shutil.rmtree(self.boot)
        os.makedirs(self.boot)
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        r = self.menu(["b", "/dev/vdb1", "m", "p"], config=cfg, tpm=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(self.tmp, "config.user")) as f:
            self.assertIn('CONFIG_BOOT_DEV="/dev/vdb1"', f.read())

    def test_script_exhausted_exit_3(self):
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        self.write("boot/kexec_hashes.txt", "")
        r = self.menu(["i"], config=cfg, tpm=False)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("script ended", r.stderr)

    def test_unknown_answer_exit_3(self):
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        self.write("boot/kexec_hashes.txt", "")
        r = self.menu(["i", "Z"], config=cfg, tpm=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn("'Z' is not a key of menu", r.stderr)

    def test_line_mode_on_a_pipe(self):
        cfg = self.write("config.notpm", "CONFIG_TPM=n\nCONFIG_BOARD_NAME=Pipe\n")
        self.write("boot/kexec_hashes.txt", "")
        env = dict(os.environ)
        env.pop("HEADS_UI", None)
        r = subprocess.run([HEADS, "menu", "--boot", self.boot, "--keyring", self.keyring,
                            "--config", cfg, "--no-act", "--secret-dir", self.secret,
                            "--user-config", os.path.join(self.tmp, "config.user")],
                           input="i\n5\n", capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("==== !! ERROR !! ERROR: GPG keyring empty! ====", r.stdout)
        self.assertIn("==== !! ERROR !! Pipe | Heads Boot Menu ====", r.stdout)
        self.assertIn("  5) p   Power Off", r.stdout)

    def test_usage(self):
        self.assertEqual(run("menu", "--ui", "fancy").returncode, 2)
        self.assertEqual(run("menu", "stray").returncode, 2)


if __name__ == "__main__":
    main()
