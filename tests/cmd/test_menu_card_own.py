"""heads menu: ownership with the owner's OpenPGP card (issue 16), through
the scripted UI, a private swtpm and the card model behind a private pcscd
(card_env.py): keys generated on the card, or generated in memory, backed
up (encrypted, checked) and moved to the card; the card's PINs and
cardholder set, an optional factory reset first; the public key into the
ROM keyring; /boot signed with the card (its User PIN)."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import card_env  # noqa: E402

card_env.ensure_private_run()

from heads_test import main, run  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")
WITH_SWTPM = os.environ.get("WITH_SWTPM")
OWNER = "ownerpass"
USER_PIN, ADMIN_PIN = "24681357", "87654321x"
GRUB = """menuentry 'Debian GNU/Linux' {
	linux /vmlinuz-6.1 root=/dev/mapper/root ro quiet
	initrd /initrd.img-6.1
}
"""


def gpg(home, *args, input=None, check=True):
    r = subprocess.run(["gpg", "--homedir", home, "--batch", "--no-tty", *args], input=input,
                       capture_output=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError("gpg %s: %s" % (" ".join(args), r.stderr.decode()))
    return r


class MenuCard(unittest.TestCase):
    def setUp(self):
        if not WITH_SWTPM:
            self.skipTest("needs the with-swtpm helper (run through meson test)")
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-menu-card-")
        self.tmp = self._tmp.name
        self.addCleanup(self._tmp.cleanup)
        self.card = card_env.CardEnv(self.tmp)
        self.addCleanup(self.card.close)
        self.boot = os.path.join(self.tmp, "boot")
        os.makedirs(os.path.join(self.boot, "grub"))
        with open(os.path.join(self.boot, "grub", "grub.cfg"), "w") as f:
            f.write(GRUB)
        for n in ("vmlinuz-6.1", "initrd.img-6.1"):
            with open(os.path.join(self.boot, n), "wb") as f:
                f.write(os.urandom(20000))
        self.keyring = os.path.join(self.tmp, "keyring")
        self.usb = os.path.join(self.tmp, "usb")
        os.makedirs(self.usb)
        self.rom = os.path.join(self.tmp, "rom.img")
        with open(self.rom, "wb") as f:
            f.truncate(1 << 20)
        self.config = os.path.join(self.tmp, "config")
        with open(self.config, "w") as f:
            f.write('CONFIG_TPM=y\nCONFIG_BOARD_NAME="QEMU Test"\nCONFIG_GPG_ALGO=ed25519\n'
                    'CONFIG_GPG_BACKUP_DIR="%s"\n' % self.usb)
        self.addCleanup(self.kill_agents)

    def kill_agents(self):
        for h in (self.card.home, self.keyring):
            subprocess.run(["gpgconf", "--homedir", h, "--kill", "all"], capture_output=True)

    def menu(self, answers, secrets):
        script = os.path.join(self.tmp, "script")
        with open(script, "w") as f:
            f.write("".join(a + "\n" for a in answers))
        sfile = os.path.join(self.tmp, "secrets")
        with open(sfile, "w") as f:
            f.write("".join(s + "\n" for s in secrets))
        absent = os.path.join(self.tmp, "absent")
        devices = os.path.join(self.tmp, "luks-devices")
        open(devices, "w").close()
        cmd = [WITH_SWTPM, "--state", os.path.join(self.tmp, "tpmstate"), "--", HEADS, "menu",
               "--ui", "script", "--ui-script", script, "--boot", self.boot,
               "--keyring", self.keyring, "--gnupghome", self.card.home,
               "--config", self.config, "--secret-dir", os.path.join(self.tmp, "secret"),
               "--user-config", os.path.join(self.tmp, "config.user"), "--no-act",
               "--rom", self.rom, "--luks-devices", devices, "--eventlog", absent,
               "--trace", absent, "--modules", absent]
        with open(sfile) as sf:
            env = dict(os.environ, HEADS_UI_SECRET_FD=str(sf.fileno()))
            env.pop("HEADS_UI", None)
            return subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  pass_fds=(sf.fileno(),), timeout=600)

    def card_cmd(self, *args, expect=0, **pins):
        """heads card ARGS, each PIN on its own pipe (never argv)."""
        fds, extra = [], []
        for opt, value in pins.items():
            r, w = os.pipe()
            os.write(w, value.encode() + b"\n")
            os.close(w)
            fds.append(r)
            extra += ["--" + opt.replace("_", "-"), str(r)]
        try:
            c = run("card", args[0], "--gnupghome", self.card.home, *extra, *args[1:],
                    env={"HEADS_TCTI": ""}, pass_fds=fds, timeout=300)
        finally:
            for fd in fds:
                os.close(fd)
        self.assertEqual(c.returncode, expect, c.stdout + c.stderr)
        return c

    def status(self):
        r = run("card", "status", "--gnupghome", self.card.home, "--keyring", self.keyring,
                env={"HEADS_TCTI": ""}, timeout=120)
        return r

    def rom_keyring(self):
        """The ROM config area's keyring, extracted as the next boot's init
        would: /boot verifies with it."""
        root = os.path.join(self.tmp, "romroot")
        x = run("rom", "extract", "--device", self.rom, "--root", root)
        self.assertEqual(x.returncode, 0, x.stderr)
        home = os.path.join(root, ".gnupg")
        self.addCleanup(subprocess.run, ["gpgconf", "--homedir", home, "--kill", "all"],
                        capture_output=True)
        v = run("boot", "verify", "--boot", self.boot, "--keyring", home, "--no-rollback",
                "--config", os.devnull)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        return home

    def common_checks(self, r):
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-4000:])
        self.assertIn("=== menu [normal] USB security dongle", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        fpr = re.search(r"^GPG key: ([0-9A-F]{40})$", r.stdout, re.M).group(1)
        # the card's signing key is the ROM keyring's; the new PINs stand
        st = self.status()
        self.assertEqual(st.returncode, 0, st.stdout + st.stderr)
        self.assertIn("dongle key: MATCHES", st.stdout)
        self.assertIn("cardholder: Alice Owner", st.stdout)
        self.assertIn("PIN retry counters: User 3, Reset code 0, Admin 3", st.stdout)
        home = self.rom_keyring()
        pub = gpg(home, "--with-colons", "--list-keys").stdout.decode()
        self.assertIn("fpr:::::::::%s:" % fpr, pub)
        # the signature on /boot was made by the card's signing key
        sig_key = re.search(r"^signature key: ([0-9A-F]{40})", st.stdout, re.M).group(1)
        self.assertIn("fpr:::::::::%s:" % sig_key, pub)
        return fpr, sig_key, home

    def test_keys_generated_on_the_card(self):
        # a card with a key already: the factory reset erases it
        old = self.card_cmd("generate", "--algo", "ed25519", "--name", "Old Owner",
                            "--email", "old@example.org", pin_fd="123456",
                            admin_fd="12345678")
        old_fpr = old.stdout.split("generated on the card: ")[1].split()[0]
        r = self.menu(["y", "c", "y", "Alice Owner", "Test Key <test@example.com>", "1"],
                      [OWNER, OWNER, USER_PIN, USER_PIN, ADMIN_PIN, ADMIN_PIN,
                       USER_PIN])
        fpr, sig_key, home = self.common_checks(r)
        self.assertIn("keys generated on it", r.stdout)
        # on the card only: the GnuPG home holds stubs ("sec>"), no key
        sec = gpg(self.card.home, "--list-secret-keys").stdout.decode()
        self.assertIn("sec>", sec)
        self.assertIn("Card serial no.", sec)
        self.assertEqual(os.listdir(self.usb), [])  # no backup of on-card keys
        self.assertNotEqual(fpr, old_fpr)
        self.assertNotEqual(sig_key, old_fpr)
        # the PINs were changed: the default User PIN is refused, the new
        # one taken
        self.card_cmd("passwd", "--user", old_fd="123456", new_fd="11223344", expect=1)
        self.assertIn("User 2,", self.status().stdout)
        self.card_cmd("passwd", "--user", old_fd=USER_PIN, new_fd="11223344")

    def test_keys_moved_to_the_card_with_a_checked_backup(self):
        r = self.menu(["y", "m", "n", "Alice Owner", "Test Key <test@example.com>",
                       "y", "", "1"],
                      [OWNER, OWNER, "123456", "12345678", USER_PIN, USER_PIN, ADMIN_PIN,
                       ADMIN_PIN, "backup passphrase", "backup passphrase", USER_PIN])
        fpr, sig_key, home = self.common_checks(r)
        self.assertIn("keys moved to it", r.stdout)
        self.assertIn("=== msgbox [normal] GPG key backup", r.stdout)
        # the subkeys left memory: stubs on the card ("ssb>")
        sec = gpg(self.card.home, "--list-secret-keys").stdout.decode()
        self.assertEqual(sec.count("ssb>"), 3, sec)
        # the backup decrypts (backup passphrase) to the whole key, whose
        # passphrase is the Admin PIN; its signing subkey is the card's
        backup = os.path.join(self.usb, "heads-key-%s.sec.asc" % fpr)
        os.makedirs(os.path.join(self.tmp, "dec"), mode=0o700)
        self.addCleanup(subprocess.run, ["gpgconf", "--homedir", os.path.join(self.tmp, "dec"),
                                         "--kill", "all"], capture_output=True)
        dec = gpg(os.path.join(self.tmp, "dec"), "--pinentry-mode", "loopback",
                  "--passphrase-fd", "0", "--decrypt", backup,
                  input=b"backup passphrase\n")
        restored = os.path.join(self.tmp, "restored")
        os.makedirs(restored, mode=0o700)
        self.addCleanup(subprocess.run, ["gpgconf", "--homedir", restored, "--kill", "all"],
                        capture_output=True)
        gpg(restored, "--pinentry-mode", "loopback", "--passphrase", ADMIN_PIN, "--import",
            input=dec.stdout)
        out = gpg(restored, "--with-colons", "--list-secret-keys").stdout.decode()
        fprs = [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")]
        self.assertEqual(len(fprs), 4, out)  # primary + sign, encrypt, auth
        self.assertIn(sig_key, fprs)
        self.assertEqual(fprs[0], fpr)
        # the restored key signs with the Admin PIN as its passphrase, and
        # the ROM keyring verifies it
        data = os.path.join(self.tmp, "data")
        with open(data, "w") as f:
            f.write("signed from the backup\n")
        # (the card pulled first: a gpg-agent prefers a card holding the
        # same key, and this is about the backup alone)
        self.card.remove_card()
        gpg(restored, "--pinentry-mode", "loopback", "--passphrase", ADMIN_PIN,
            "--detach-sign", data)
        gpg(home, "--verify", data + ".sig", data)


if __name__ == "__main__":
    main()
