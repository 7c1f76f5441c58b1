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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import card_env  # noqa: E402

card_env.ensure_private_run()

from heads_test import main, run  # noqa: E402
from test_card import CardTest, Fds, listing, PIN, ADMIN  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")
NO_TPM = {"HEADS_TCTI": ""}
SIGN = ["o", "u", "y"]  # Options -> Update checksums and sign -> yes


class MenuCardTest(CardTest):
    """cmd-card's fixture (pcscd + the card model, a GnuPG home, a /boot, an
    empty ROM keyring) plus heads' TMPDIR and a board config."""
    KEYPASS, BACKUP_PASS = "key passphrase 1", "backup passphrase 2"

    def setUp(self):
        super().setUp()
        self.scratch = os.path.join(self.tmp, "scratch")  # TMPDIR of heads
        os.makedirs(self.scratch, mode=0o700)
        self.config = os.path.join(self.tmp, "config")
        with open(self.config, "w") as f:
            f.write('CONFIG_BOARD_NAME="QEMU Test"\n')

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

    def test_unavailable_leads_to_recovery_or_oem_reset(self):
        """x: the recovery shell (the menu's reason says why); F: the OEM
        factory reset / re-ownership wizard (declined here)."""
        self.make_backup()
        self.card.remove_card()
        r = self.menu(SIGN + ["x"], extra=("--recovery-shell", "/bin/true"))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== menu [error] GPG signing key unavailable", r.stdout)
        self.assertIn("GPG signing key unavailable", r.stderr)  # the shell's reason
        self.assertIn("Entering the recovery shell", r.stdout)
        r = self.menu(SIGN + ["F", "n", "p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        after = r.stdout.split("=== menu [error] GPG signing key unavailable", 1)[1]
        self.assertIn("This will RESET THE TPM", after)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))

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


class GpgOptions(MenuCardTest):
    """GPG options g (keys generated on the dongle, its public key into the
    ROM keyring) and p (the ROM keyring's public keys to a USB drive)."""

    def rom_keyring(self, rom):
        root = tempfile.mkdtemp(dir=self.tmp)
        x = run("rom", "extract", "--device", rom, "--root", root)
        self.assertEqual(x.returncode, 0, x.stderr)
        home = os.path.join(root, ".gnupg")
        self.addCleanup(lambda: subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"],
                                               capture_output=True))
        return home

    def test_g_generate_on_dongle_then_sign(self):
        old = self.generate()  # a card with a key already: reset first
        self.sign_with_other_key()
        rom = os.path.join(self.tmp, "rom.img")
        with open(rom, "wb") as f:
            f.truncate(1 << 20)
        r = self.menu(["o", "g", "g", "y", "4", "Heads Owner", "owner@example.org", "Owner",
                       "Heads", "y", "y"],
                      ["654321", "654321", "87654321", "87654321"], extra=("--rom", rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Factory reset its OpenPGP application first?", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        card = self.card.card_json()
        self.assertEqual((card["pw1"], card["pw3"]), ("654321", "87654321"))
        self.assertIsNotNone(card["keys"][0])
        new = card["fpr"][0].upper()
        self.assertNotEqual(new, old)
        self.assertIn("Keys generated on the dongle (card 00000001):\n" + new, r.stdout)
        st = run("card", "status", "--gnupghome", self.home, env=NO_TPM, timeout=300)
        self.assertIn("cardholder: Heads Owner", st.stdout)
        self.assertIn("(ed25519)", st.stdout)
        # the next boot: the ROM keyring is the dongle's key alone; an OS
        # update is signed with the dongle's new User PIN
        self.keyring = self.rom_keyring(rom)
        out = subprocess.run(["gpg", "--homedir", self.keyring, "--with-colons", "--list-keys"],
                             capture_output=True, text=True).stdout.splitlines()
        self.assertEqual([out[i + 1].split(":")[9] for i, l in enumerate(out)
                          if l.startswith("pub:")], [new])
        self.os_update()
        r = self.menu(SIGN + ["r", "p"], ["654321"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== msgbox [normal] Signed", r.stdout)
        self.assertEqual(self.gpg_verify_boot(), new)
        self.verifies()

    def test_p_export_public_key_to_usb(self):
        self.sign_with_other_key()
        fpr = subprocess.run(["gpg", "--homedir", self.keyring, "--with-colons", "--list-keys"],
                             capture_output=True, text=True).stdout
        fpr = [l.split(":")[9] for l in fpr.splitlines() if l.startswith("fpr:")][0]
        usb = os.path.join(self.tmp, "usb")
        os.makedirs(usb)
        r = self.menu(["o", "g", "p", usb, "p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== msgbox [normal] Export the public key to a USB drive", r.stdout)
        self.assertEqual(os.listdir(usb), ["heads-key-%s.pub.asc" % fpr])
        os.makedirs(os.path.join(self.tmp, "empty"), mode=0o700)
        shown = subprocess.run(["gpg", "--batch", "--with-colons", "--show-keys",
                                os.path.join(usb, "heads-key-%s.pub.asc" % fpr)],
                               capture_output=True, text=True, env=dict(os.environ,
                               GNUPGHOME=os.path.join(self.tmp, "empty")))
        self.assertIn("fpr:::::::::%s:" % fpr, shown.stdout, shown.stderr)
        self.assertNotIn("sec:", shown.stdout)


class RecoveryChallenge(MenuCardTest):
    """The recovery shell's GPG challenge (CONFIG_HAVE_GPG_KEY_BACKUP=y)
    answered by the dongle, or, the dongle gone, by the encrypted backup."""

    def recovery(self, secrets, answers=(), home=None):
        d = tempfile.mkdtemp(dir=self.tmp)
        cfg = os.path.join(d, "config")
        with open(cfg, "w") as f:
            f.write("CONFIG_HAVE_GPG_KEY_BACKUP=y\n")
        script = os.path.join(d, "script")
        with open(script, "w") as f:
            f.write("".join(a + "\n" for a in answers))
        sfile = os.path.join(d, "secrets")
        with open(sfile, "w") as f:
            f.write("".join(x + "\n" for x in secrets))
        self.marker = os.path.join(d, "shell-ran")
        with open(sfile) as sf:
            env = dict(os.environ, HEADS_UI="script", HEADS_UI_SCRIPT=script,
                       HEADS_UI_SECRET_FD=str(sf.fileno()), TMPDIR=self.scratch, **NO_TPM)
            return subprocess.run(
                [HEADS, "recovery", "--config", cfg, "--secret-dir", os.path.join(d, "secret"),
                 "--shell", "/bin/sh", "--once", "--keyring", self.keyring, "--gnupghome",
                 home or self.home],
                input="touch %s; exit 7\n" % self.marker, capture_output=True, text=True,
                env=env, pass_fds=(sf.fileno(),), timeout=300)

    def test_card_answers_the_challenge(self):
        self.generate()
        self.to_rom()
        before = self.card.card_json()["sig_count"]
        r = self.recovery([PIN])
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertIn("GPG challenge passed", r.stderr)
        self.assertTrue(os.path.exists(self.marker))
        self.assertEqual(self.card.card_json()["sig_count"], before + 1)

    def test_card_wrong_pin_no_shell(self):
        self.generate()
        self.to_rom()
        r = self.recovery(["999999", "999998", "999997"])
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(self.marker))
        # two attempts: the card's last try is kept, never blocked by us
        self.assertEqual(self.card.card_json()["tries"]["pw1"], 1)

    def test_backup_answers_the_challenge(self):
        self.make_backup()
        self.card.remove_card()
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty, mode=0o700)
        r = self.recovery([self.BACKUP_PASS, self.KEYPASS], ["b", self.usb], home=empty)
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertIn("GPG signing key unavailable", r.stdout)
        self.assertIn("GPG challenge passed", r.stderr)
        self.assertTrue(os.path.exists(self.marker))
        self.assertEqual(os.listdir(self.scratch), [])


class KeysMovedToCard(MenuCardTest):
    """An in-memory key whose subkeys went to the card (keytocard), its
    primary able to sign and still in memory: signing with that key named
    (as ownership does) uses the card, never what stayed in memory."""

    def test_named_key_signs_with_its_card_subkey(self):
        g = ["gpg", "--homedir", self.home, "--batch", "--pinentry-mode", "loopback",
             "--passphrase", self.KEYPASS]
        subprocess.run(g + ["--quick-gen-key", "Heads Owner <owner@example.org>", "ed25519",
                            "sign,cert", "never"], check=True, capture_output=True)

        def fprs():
            out = self.card.gpg("--with-colons", "--list-keys").stdout
            return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")]
        primary = fprs()[0]
        for use, a in (("sign", "ed25519"), ("encr", "cv25519"), ("auth", "ed25519")):
            subprocess.run(g + ["--quick-add-key", primary, a, use, "never"], check=True,
                           capture_output=True)
        sig = fprs()[1]
        self.card.kill_agent()
        fds = Fds(pin_fd=self.KEYPASS, admin_fd=ADMIN)
        try:
            r = run("card", "keytocard", "--gnupghome", self.home, "--key", primary, *fds.args,
                    env=NO_TPM, pass_fds=fds.fds, timeout=300)
        finally:
            fds.close()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.to_rom()
        before = self.verify_count()
        fds = Fds(pin_fd=PIN)
        try:
            r = run("boot", "sign", "--boot", self.boot, "--keyring", self.keyring,
                    "--gnupghome", self.home, "--key", primary, "--no-rollback", *fds.args,
                    env=NO_TPM, pass_fds=fds.fds, timeout=300)
        finally:
            fds.close()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("signing with the card 00000001, key %s" % sig, r.stderr)
        self.assertEqual(self.gpg_verify_boot(), sig)
        self.assertEqual(self.verify_count() - before, 1)


if __name__ == "__main__":
    main()
