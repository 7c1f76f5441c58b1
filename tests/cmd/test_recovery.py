"""heads recovery: wipe secrets, extend PCR 4 "recovery", PCRs, shell."""
import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import TempDirTest, main, run  # noqa: E402

WITH_SWTPM = os.environ.get("WITH_SWTPM")


def extend(pcr, data):
    return hashlib.sha256(pcr + hashlib.sha256(data).digest()).digest()


def printed_pcr(out, n):
    m = re.findall(r"^\s+%d: ([0-9a-f]{64})$" % n, out, re.M)
    return [bytes.fromhex(x) for x in m]


class Recovery(TempDirTest):
    def setUp(self):
        super().setUp()
        self.secret = os.path.join(self.tmp, "secret")
        os.makedirs(os.path.join(self.secret, "sub", "deeper"))
        self.write("secret/tpm_owner_passphrase", "hunter2hunter2")
        self.write("secret/sub/deeper/key", "K" * 5000)
        # A second name for a secret file: after the wipe it must hold zeros,
        # proving the bytes were overwritten, not just unlinked.
        self.witness = os.path.join(self.tmp, "witness")
        os.link(os.path.join(self.secret, "tpm_owner_passphrase"), self.witness)
        self.marker = os.path.join(self.tmp, "shell-ran")

    def recovery(self, config, *extra, shell_input=None, tpm=False):
        cfg = self.write("config", config)
        args = ["recovery", "--config", cfg, "--secret-dir", self.secret,
                "--shell", "/bin/sh", *extra]
        if shell_input is None:
            shell_input = f"ls -A {self.secret}; touch {self.marker}; exit 7\n"
        if tpm:
            return subprocess.run([WITH_SWTPM, "--", os.environ["HEADS"], *args],
                                  input=shell_input, capture_output=True, text=True,
                                  timeout=120)
        return run(*args, input=shell_input)

    def test_wipes_and_runs_shell_without_tpm(self):
        r = self.recovery('CONFIG_TPM=n\n', "--once", "--message", "GUI menu failed")
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertTrue(os.path.exists(self.marker))
        self.assertEqual(r.stdout.split("Entering the recovery shell; exit it to start over.\n")[1],
                         "", "secret dir not empty in the shell")
        self.assertEqual(os.listdir(self.secret), [])
        self.assertEqual(os.stat(self.secret).st_mode & 0o777, 0o700)
        with open(self.witness, "rb") as f:
            self.assertEqual(f.read(), b"\0" * len("hunter2hunter2"))
        self.assertIn("GUI menu failed", r.stderr)
        self.assertIn("nothing measured", r.stderr)

    def test_pcr4_extended_each_round(self):
        if not WITH_SWTPM:
            self.skipTest("no swtpm helper")
        r = self.recovery('CONFIG_TPM=y\n', "--rounds", "2", tpm=True,
                          shell_input="exit 0\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        once = extend(b"\0" * 32, b"recovery")
        twice = extend(once, b"recovery")
        # PCRs are printed after the extension in every round.
        self.assertEqual(printed_pcr(r.stdout, 4), [once, twice])
        self.assertEqual(printed_pcr(r.stdout, 0), [b"\0" * 32] * 2)
        self.assertEqual(os.listdir(self.secret), [])

    def test_no_shell_when_pcr4_cannot_be_extended(self):
        cfg = 'CONFIG_TPM=y\n'
        r = self.recovery(cfg, "--once", "--tcti", "swtpm:host=127.0.0.1,port=9")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertFalse(os.path.exists(self.marker))
        self.assertIn("refusing the recovery shell", r.stderr)
        # Secrets are wiped before anything else.
        self.assertEqual(os.listdir(self.secret), [])

    def test_restricted_boot_no_shell(self):
        r = self.recovery('CONFIG_RESTRICTED_BOOT=y\n', "--once")
        self.assertEqual(r.returncode, 3)
        self.assertFalse(os.path.exists(self.marker))

    def gpg_home(self, name, passphrase=""):
        home = os.path.join(self.tmp, name)
        os.makedirs(home, mode=0o700)
        self.homes.append(home)
        subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
                        "--passphrase", passphrase, "--quick-gen-key",
                        f"{name} <{name}@example.com>", "nistp256", "sign", "never"],
                       check=True, capture_output=True)
        return home

    def tearDown(self):
        for h in getattr(self, "homes", []):
            subprocess.run(["gpgconf", "--homedir", h, "--kill", "all"], capture_output=True)
        super().tearDown()

    def test_gpg_challenge_passes_then_shell(self):
        self.homes = []
        home = self.gpg_home("owner", "cardpin123")
        cfg = self.write("config", "CONFIG_HAVE_GPG_KEY_BACKUP=y\n")
        pins = self.write("pins", "cardpin123\n")
        with open(pins) as f:
            r = subprocess.run(
                [os.environ["HEADS"], "recovery", "--config", cfg, "--secret-dir",
                 self.secret, "--shell", "/bin/sh", "--once", "--keyring", home],
                input=f"touch {self.marker}; exit 7\n", capture_output=True, text=True,
                pass_fds=(f.fileno(),), timeout=120,
                env=dict(os.environ, HEADS_UI="script", HEADS_UI_SECRET_FD=str(f.fileno())))
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertIn("GPG challenge passed", r.stderr)
        self.assertTrue(os.path.exists(self.marker))

    def test_gpg_challenge_wrong_pin_no_shell(self):
        self.homes = []
        home = self.gpg_home("owner", "cardpin123")
        cfg = self.write("config", "CONFIG_HAVE_GPG_KEY_BACKUP=y\n")
        pins = self.write("pins", "wrong1\nwrong2\nwrong3\n")
        with open(pins) as f:
            r = subprocess.run(
                [os.environ["HEADS"], "recovery", "--config", cfg, "--secret-dir",
                 self.secret, "--shell", "/bin/sh", "--once", "--keyring", home],
                input=f"touch {self.marker}; exit 7\n", capture_output=True, text=True,
                pass_fds=(f.fileno(),), timeout=120,
                env=dict(os.environ, HEADS_UI="script", HEADS_UI_SECRET_FD=str(f.fileno())))
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("GPG authentication failed", r.stderr)
        self.assertFalse(os.path.exists(self.marker))

    def test_gpg_challenge_not_answered_by_cached_pin(self):
        """Issue 15 item 9: a PIN in gpg-agent's cache (an earlier signing
        in this boot) does not pass the challenge."""
        self.homes = []
        home = self.gpg_home("owner", "cardpin123")
        data = self.write("data", "x")
        subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
                        "--passphrase", "cardpin123", "--detach-sign", data],
                       check=True, capture_output=True)  # the agent now caches it
        cfg = self.write("config", "CONFIG_HAVE_GPG_KEY_BACKUP=y\n")
        pins = self.write("pins", "wrong1\nwrong2\nwrong3\n")
        with open(pins) as f:
            r = subprocess.run(
                [os.environ["HEADS"], "recovery", "--config", cfg, "--secret-dir",
                 self.secret, "--shell", "/bin/sh", "--once", "--keyring", home],
                input=f"touch {self.marker}; exit 7\n", capture_output=True, text=True,
                pass_fds=(f.fileno(),), timeout=120,
                env=dict(os.environ, HEADS_UI="script", HEADS_UI_SECRET_FD=str(f.fileno())))
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(self.marker))

    def test_gpg_challenge_key_not_in_rom_keyring(self):
        self.homes = []
        rom = self.gpg_home("rom")
        other = self.gpg_home("attacker")
        r = self.recovery("CONFIG_HAVE_GPG_KEY_BACKUP=y\n", "--once", "--keyring", rom,
                          "--gnupghome", other)
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(self.marker))
        self.assertEqual(os.listdir(self.secret), [])

    def test_symlink_in_secret_dir_not_followed(self):
        outside = self.write("outside", "keep me")
        os.symlink(outside, os.path.join(self.secret, "link"))
        r = self.recovery('CONFIG_TPM=n\n', "--once")
        self.assertEqual(r.returncode, 7, r.stderr)
        with open(outside) as f:
            self.assertEqual(f.read(), "keep me")
        self.assertEqual(os.listdir(self.secret), [])

    def test_usage(self):
        r = run("recovery", "--rounds", "x")
        self.assertEqual(r.returncode, 2)
        r = run("recovery", "extra")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    main()
