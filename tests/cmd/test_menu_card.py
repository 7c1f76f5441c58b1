"""heads menu with the owner's OpenPGP card (issue 16), through the scripted
UI, against the card model (tests/devices/openpgp_card.py) behind a private
pcscd + vpcd reached by the real gpg-agent and scdaemon (card_env.py).

"Update checksums and sign" signs with the card (its User PIN asked by our
UI, every signing: the card's VERIFY count proves nothing was cached) and
gpg itself verifies the result; with the card pulled out the menu shows
"GPG signing key unavailable", a retry still finds nothing, and the
encrypted key backup on a "USB drive" (a directory) signs once: gpg
verifies, and the private home it was decrypted into is gone."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import card_env  # noqa: E402

card_env.ensure_private_run()

from heads_test import main, run  # noqa: E402
from test_card import Fds, listing, populate, PIN, ADMIN  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")
NO_TPM = {"HEADS_TCTI": ""}
SIGN = ["o", "u", "y"]  # Options -> Update checksums and sign -> yes


class MenuCardTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-menu-card-")
        self.tmp = self._tmp.name
        self.addCleanup(self._tmp.cleanup)
        self.card = card_env.CardEnv(self.tmp)
        self.addCleanup(self.card.close)
        self.home = self.card.home
        self.boot = os.path.join(self.tmp, "boot")
        populate(self.boot)
        self.keyring = os.path.join(self.tmp, "romkeys")
        os.makedirs(self.keyring, mode=0o700)
        self.scratch = os.path.join(self.tmp, "scratch")  # TMPDIR of heads
        os.makedirs(self.scratch, mode=0o700)
        self.config = os.path.join(self.tmp, "config")
        with open(self.config, "w") as f:
            f.write('CONFIG_BOARD_NAME="QEMU Test"\n')
        self.addCleanup(self.kill_agents)

    def kill_agents(self):
        for h in (self.home, self.keyring):
            subprocess.run(["gpgconf", "--homedir", h, "--kill", "all"], capture_output=True)

    def generate(self, algo="ed25519"):
        fds = Fds(pin_fd=PIN, admin_fd=ADMIN)
        try:
            r = run("card", "generate", "--gnupghome", self.home, "--algo", algo, "--name",
                    "Heads Owner", "--email", "owner@example.org", *fds.args, env=NO_TPM,
                    pass_fds=fds.fds, timeout=300)
        finally:
            fds.close()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout.split("generated on the card: ")[1].split()[0]

    def to_rom(self, home=None):
        pub = subprocess.run(["gpg", "--homedir", home or self.home, "--batch", "--export",
                              "--armor"], capture_output=True, text=True, check=True).stdout
        self.assertIn("BEGIN PGP PUBLIC KEY BLOCK", pub)
        subprocess.run(["gpg", "--homedir", self.keyring, "--batch", "--import"],
                       input=pub, text=True, capture_output=True, check=True)

    def menu(self, answers, secrets=(), home=None, extra=()):
        d = tempfile.mkdtemp(dir=self.tmp)
        script = os.path.join(d, "script")
        with open(script, "w") as f:
            f.write("".join(a + "\n" for a in answers))
        sfile = os.path.join(d, "secrets")
        with open(sfile, "w") as f:
            f.write("".join(s + "\n" for s in secrets))
        absent = os.path.join(self.tmp, "absent")
        nodev = os.path.join(d, "luks-devices")
        open(nodev, "w").close()
        with open(sfile) as sf:
            env = dict(os.environ, HEADS_UI_SECRET_FD=str(sf.fileno()), TMPDIR=self.scratch,
                       **NO_TPM)
            env.pop("HEADS_UI", None)
            return subprocess.run(
                [HEADS, "menu", "--ui", "script", "--ui-script", script, "--boot", self.boot,
                 "--keyring", self.keyring, "--gnupghome", home or self.home, "--config",
                 self.config, "--secret-dir", os.path.join(self.tmp, "secret"),
                 "--user-config", os.path.join(self.tmp, "config.user"), "--no-act",
                 "--luks-devices", nodev, "--eventlog", absent, "--trace", absent,
                 "--modules", absent, *extra],
                capture_output=True, text=True, env=env, pass_fds=(sf.fileno(),), timeout=300)

    def gpg_verify_boot(self):
        """kexec.sig checked by gpg itself over the sha256sum listing; the
        fingerprint of the key that signed it (VALIDSIG)."""
        data = os.path.join(self.tmp, "listing")
        with open(data, "wb") as f:
            f.write(listing(self.boot))
        r = subprocess.run(["gpg", "--homedir", self.keyring, "--batch", "--status-fd", "1",
                            "--verify", os.path.join(self.boot, "kexec.sig"), data],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("[GNUPG:] GOODSIG", r.stdout)
        return [l.split()[2] for l in r.stdout.splitlines() if "VALIDSIG" in l][0]

    def verifies(self):
        r = run("boot", "verify", "--boot", self.boot, "--keyring", self.keyring, env=NO_TPM)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def verify_count(self):
        """VERIFY of PW1 for signing (00 20 00 81) the card received."""
        with open(self.card.apdu_log) as f:
            return sum(1 for line in f if line.startswith("> 00200081"))

    def os_update(self):
        with open(os.path.join(self.boot, "vmlinuz-6.1.0-amd64"), "ab") as f:
            f.write(b"a new kernel\n")


class SignWithCard(MenuCardTest):
    def test_update_checksums_signs_with_card_pin_never_cached(self):
        fpr = self.generate()
        self.to_rom()
        before = self.verify_count()
        r = self.menu(SIGN + ["r"] + SIGN + ["r", "p"], [PIN, PIN])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertEqual(r.stdout.count("=== passphrase [normal] Sign /boot with the dongle\n"),
                         2, r.stdout)
        self.assertIn("User PIN of the USB security dongle (card 00000001, 3 tries left)",
                      r.stdout)
        self.assertEqual(r.stdout.count("=== msgbox [normal] Signed"), 2)
        self.assertNotIn("GPG signing key unavailable", r.stdout)
        # the card checked the PIN for each signing: nothing cached between
        self.assertEqual(self.verify_count() - before, 2)
        self.assertEqual(self.gpg_verify_boot(), fpr)
        self.verifies()
        # an OS update, then sign again (a new menu: the next boot)
        self.os_update()
        r = self.menu(SIGN + ["r", "p"], [PIN])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== msgbox [normal] Signed", r.stdout)
        self.gpg_verify_boot()
        self.verifies()

    def test_wrong_pin_fails_tries_left_shown(self):
        """A wrong PIN: the card refuses it, nothing is signed; the next
        signing shows the tries left, and the right PIN signs."""
        self.generate()
        self.to_rom()
        r = self.menu(SIGN + ["r"] + SIGN + ["r", "p"], ["654321", PIN])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        first, second = r.stdout.split("=== msgbox [error] ERROR: Signing failed", 1)
        self.assertIn("(card 00000001, 3 tries left)", first)
        self.assertIn("wrong PIN or passphrase", second.split("===")[0])
        self.assertIn("(card 00000001, 2 tries left)", second)
        self.assertIn("=== msgbox [normal] Signed", second)
        self.gpg_verify_boot()
        self.assertEqual(self.card.card_json()["tries"]["pw1"], 3)

    def test_card_key_not_in_rom_unavailable(self):
        """A card whose key the ROM keyring does not hold is not used: the
        menu says so; m returns without signing."""
        self.generate()
        other = os.path.join(self.tmp, "other")
        os.makedirs(other, mode=0o700)
        subprocess.run(["gpg", "--homedir", other, "--batch", "--passphrase", "",
                        "--quick-gen-key", "Other <o@example.org>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        self.addCleanup(lambda: subprocess.run(["gpgconf", "--homedir", other, "--kill", "all"],
                                               capture_output=True))
        self.to_rom(other)
        r = self.menu(SIGN + ["m", "r", "p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== menu [error] GPG signing key unavailable", r.stdout)
        self.assertIn("not in the ROM keyring (NOT ROM-TRUSTED)", r.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))


class Backup(MenuCardTest):
    """The card is gone (lost, left at home): the encrypted key backup that
    ownership wrote signs /boot once."""
    KEYPASS, BACKUP_PASS = "key passphrase 1", "backup passphrase 2"

    def make_backup(self):
        """An owner's key (primary + signing subkey) in a home that is then
        gone, as after a power off; its encrypted backup on the "USB
        drive", its public key in the ROM keyring. Returns the subkey."""
        keyhome = os.path.join(self.tmp, "owner")
        os.makedirs(keyhome, mode=0o700)
        g = ["gpg", "--homedir", keyhome, "--batch", "--pinentry-mode", "loopback",
             "--passphrase", self.KEYPASS]
        subprocess.run(g + ["--quick-gen-key", "Heads Owner <owner@example.org>", "ed25519",
                            "cert", "never"], check=True, capture_output=True)

        def fprs():
            out = subprocess.run(["gpg", "--homedir", keyhome, "--with-colons", "--list-keys"],
                                 capture_output=True, text=True).stdout
            return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")]
        primary = fprs()[0]
        subprocess.run(g + ["--quick-add-key", primary, "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        subkey = fprs()[1]
        sec = subprocess.run(g + ["--armor", "--export-secret-keys", primary],
                             check=True, capture_output=True).stdout
        enc = subprocess.run(["gpg", "--homedir", keyhome, "--batch", "--pinentry-mode",
                              "loopback", "--passphrase", self.BACKUP_PASS, "--armor",
                              "--symmetric"], input=sec, check=True, capture_output=True).stdout
        self.usb = os.path.join(self.tmp, "usb")
        os.makedirs(self.usb)
        with open(os.path.join(self.usb, "heads-key-%s.sec.asc" % primary), "wb") as f:
            f.write(enc)
        self.to_rom(keyhome)
        subprocess.run(["gpgconf", "--homedir", keyhome, "--kill", "all"], capture_output=True)
        shutil.rmtree(keyhome)
        return subkey

    def test_card_removed_unavailable_then_backup_signs(self):
        subkey = self.make_backup()
        self.card.remove_card()
        r = self.menu(SIGN + ["r", "b", self.usb, "r", "p"],
                      [self.BACKUP_PASS, self.KEYPASS])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertEqual(r.stdout.count("=== menu [error] GPG signing key unavailable"), 2,
                         r.stdout)
        self.assertIn("Still no USB security dongle found.", r.stdout)
        self.assertIn("Passphrase of the key backup heads-key-", r.stdout)
        self.assertIn("=== msgbox [normal] Signed", r.stdout)
        self.assertEqual(self.gpg_verify_boot(), subkey)
        self.verifies()
        # decrypted for that one signing: its private home is gone
        self.assertEqual(os.listdir(self.scratch), [])

    def test_wrong_backup_passphrase_three_times(self):
        self.make_backup()
        self.card.remove_card()
        r = self.menu(SIGN + ["b", self.usb, "m", "r", "p"], ["no", "nope", "never"])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertIn("Wrong passphrase. Passphrase of the key backup", r.stdout)
        self.assertIn("wrong passphrase (3 times)", r.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))
        self.assertEqual(os.listdir(self.scratch), [])


class Report(MenuCardTest):
    """The integrity report's dongle section (Options -> i): the four
    verdicts of heads card check-rom-key, and the follow-ups."""

    def sign_with_other_key(self):
        """/boot signed by a key in memory that the ROM keyring holds (not
        the card's)."""
        other = os.path.join(self.tmp, "other")
        os.makedirs(other, mode=0o700)
        subprocess.run(["gpg", "--homedir", other, "--batch", "--passphrase", "",
                        "--quick-gen-key", "Other <o@example.org>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        self.addCleanup(lambda: subprocess.run(["gpgconf", "--homedir", other, "--kill", "all"],
                                               capture_output=True))
        self.to_rom(other)
        r = run("boot", "sign", "--boot", self.boot, "--keyring", self.keyring, "--gnupghome",
                other, "--no-rollback", env=NO_TPM, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.verifies()

    def report(self, out):
        return out.split("Measured Integrity Report", 1)[1].split("\n===")[0]

    def test_matches_then_no_dongle(self):
        fpr = self.generate()
        self.to_rom()
        r = self.menu(SIGN + ["r", "o", "i", "r", "p"], [PIN])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== textbox [normal] Measured Integrity Report", r.stdout)
        self.assertIn("Dongle key: MATCHES the ROM keyring (card 00000001, key %s)" % fpr,
                      self.report(r.stdout))
        self.card.remove_card()
        r = self.menu(["o", "i", "r", "p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== textbox [normal] Measured Integrity Report", r.stdout)
        self.assertIn("Dongle key: NO DONGLE", self.report(r.stdout))

    def test_not_provisioned_offers_oem_reset(self):
        self.sign_with_other_key()
        r = self.menu(["o", "i", "c", "r", "p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        rep = self.report(r.stdout)
        self.assertIn("Dongle key: NOT PROVISIONED (card 00000001 has no signing key)", rep)
        self.assertIn("Boot files: OK", rep)
        self.assertIn("=== menu [warning] Measured Integrity Report", r.stdout)
        self.assertIn("  o) OEM Factory Reset / Re-Ownership", rep)
        self.assertNotIn("  r) Replace", rep)

    def test_not_rom_trusted_replace_rom_key(self):
        fpr = self.generate()
        self.sign_with_other_key()
        rom = os.path.join(self.tmp, "rom.img")
        with open(rom, "wb") as f:
            f.truncate(1 << 20)  # blank ROM config area
        r = self.menu(["o", "i", "r", "y"], extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        rep = self.report(r.stdout)
        self.assertIn("Dongle key: NOT ROM-TRUSTED (card 00000001, key %s is not in the ROM "
                      "keyring)" % fpr, rep)
        self.assertIn("  r) Replace the ROM keyring with the dongle's public key", rep)
        self.assertIn("every key now in it is removed", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        root = os.path.join(self.tmp, "romroot")
        x = run("rom", "extract", "--device", rom, "--root", root)
        self.assertEqual(x.returncode, 0, x.stderr)
        home = os.path.join(root, ".gnupg")
        self.addCleanup(lambda: subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"],
                                               capture_output=True))
        out = subprocess.run(["gpg", "--homedir", home, "--with-colons", "--list-keys"],
                             capture_output=True, text=True).stdout
        lines = out.splitlines()
        primaries = [lines[i + 1].split(":")[9] for i, l in enumerate(lines)
                     if l.startswith("pub:")]
        self.assertEqual(primaries, [fpr])  # only the dongle's key is left


if __name__ == "__main__":
    main()
