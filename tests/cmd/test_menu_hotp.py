"""heads menu with a HOTP dongle (issue 17), through the scripted UI: a
private swtpm (state kept across runs: each run is a boot of the same
machine) and the Nitrokey Pro / Nitrokey 3 device models behind the test
build's --test-model (heads-dongle-test; the model state is a file, one
run = one plug-in). Ownership enrols the new TOTP secret into the dongle
(Admin PIN asked); the next boot shows "HOTP: Success" and the countdown
boots the default entry (dry run); a key cancels it; the counter file
rolled back by hand gives "Invalid code" and no countdown; no dongle gives
the insert prompt, skip, "No dongle" and no countdown. Oracle for the
enrolment: oathtool computes the code the dongle must accept next."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import main  # noqa: E402
import test_menu  # noqa: E402

DONGLE_TEST = os.environ.get("HEADS_DONGLE_TEST", "heads-dongle-test")
PIN = "12345678"
OWN = ["y", "Test Key <test@example.com>", "n", "1", "key", "p"]
OWN_SECRETS = ["ownerpass", "ownerpass", "gpgpassphrase", "gpgpassphrase", "gpgpassphrase"]


class MenuHotp(test_menu.MenuTest):
    kind = "nkpro"
    pins = [PIN]  # the Admin PIN (factory default of the model)

    def setUp(self):
        if not test_menu.WITH_SWTPM:
            self.skipTest("needs the with-swtpm helper (run through meson test)")
        super().setUp()
        test_menu.HEADS = DONGLE_TEST
        self.config = self.write("config", 'CONFIG_TPM=y\nCONFIG_BOARD_NAME="QEMU Test"\n'
                                 'CONFIG_GPG_ALGO=p256\nCONFIG_HOTPKEY=y\n'
                                 'CONFIG_AUTO_BOOT_TIMEOUT=5\n')
        self.model = "%s:%s" % (self.kind, os.path.join(self.tmp, "dongle.state"))

    def hmenu(self, answers, secrets=(), model=None):
        return self.menu(answers, list(secrets), extra=["--test-model", model or self.model])

    def counter_path(self):
        return os.path.join(self.boot, "kexec_hotp_counter")

    def counter(self):
        with open(self.counter_path()) as f:
            return int(f.read())

    def hotp_status(self, out):
        return re.findall(r"^status: .*\| HOTP: ([^|\n]+)$", out, re.M)

    def own_with_dongle(self):
        r = self.hmenu(OWN, OWN_SECRETS + self.pins)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== msgbox [normal] HOTP enrolled", r.stdout)
        self.secret = re.search(r"Secret \(base32\): ([A-Z2-7]+)", r.stdout).group(1)
        # the check at the end of ownership already succeeded: countdown,
        # interrupted by the key of the script
        self.assertIn("=== countdown 5s: Automatic boot in 5 seconds", r.stdout)
        return r

    def oathtool_check(self, n):
        """The dongle accepts the code oathtool computes for counter n from
        the TOTP secret shown at ownership (truncated to 20 bytes)."""
        if not shutil.which("oathtool"):
            self.fail("oathtool not installed (deps/debian-packages.txt)")
        code = subprocess.run(["oathtool", "--hotp", "--base32", "-c", str(n),
                               self.secret[:32]], capture_output=True, text=True,
                              check=True).stdout.strip()
        r = subprocess.run([DONGLE_TEST, "hotp", "check", code, "--test-model", self.model],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "Success\n"), r.stderr)

    def test_success_countdown_boots_default(self):
        self.own_with_dongle()
        n = self.counter()
        r = self.hmenu(["timeout"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        # the scripted countdown screen has no status line: the log says it
        self.assertRegex(r.stderr, r"HOTP: counter %d checked by the .*: Success" % n)
        self.assertIn("USB Security dongle firmware", r.stdout)
        self.assertIn("=== countdown 5s: Automatic boot in 5 seconds unless interrupted by "
                      "keypress...\n> timeout\n", r.stdout)
        self.assertIn("heads menu: boot (dry run): Debian GNU/Linux\n", r.stdout)
        self.assertIn("verified: yes", r.stdout)
        self.assertEqual(self.counter(), n + 1)
        self.oathtool_check(n + 1)

    def test_key_cancels_countdown(self):
        self.own_with_dongle()
        r = self.hmenu(["key", "p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("> key\n=== menu [normal] QEMU Test | Heads Boot Menu", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)
        self.assertIn("power off (dry run", r.stdout)

    def test_rolled_back_counter_invalid_no_autoboot(self):
        self.own_with_dongle()
        r = self.hmenu(["timeout"])
        self.assertIn("boot (dry run)", r.stdout)
        with open(self.counter_path(), "w") as f:
            f.write("2\n")  # rolled back by hand: a replayed code
        r = self.hmenu(["i", "p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== menu [error] ERROR: HOTP Validation Failed!", r.stdout)
        self.assertEqual(self.hotp_status(r.stdout)[-1], "Invalid code")
        self.assertIn("TOTP: ", r.stdout)
        self.assertNotIn("=== countdown", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)
        self.assertEqual(self.counter(), 3)  # the code for 2 was used once

    def test_no_dongle_insert_prompt_skip_no_autoboot(self):
        self.own_with_dongle()
        n = self.counter()
        r = self.hmenu(["n", "p"], model="none")
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertRegex(r.stdout, r"=== yesno \[warning\] Please insert your ")
        self.assertEqual(self.hotp_status(r.stdout)[-1], "No dongle")
        self.assertNotIn("=== countdown", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)
        self.assertEqual(self.counter(), n)  # no dongle: the counter stays
        # plugged in again: Refresh succeeds, the counter moves on
        r = self.hmenu(["key", "r", "p"])
        self.assertEqual(self.hotp_status(r.stdout)[-1], "Success")
        self.assertEqual(self.counter(), n + 2)

    def test_no_hotp_board_no_field(self):
        """Without CONFIG_HOTPKEY there is no HOTP field and no countdown,
        even with a timeout configured."""
        self.own_with_dongle()
        self.config = self.write("config", 'CONFIG_TPM=y\nCONFIG_BOARD_NAME="QEMU Test"\n'
                                 'CONFIG_GPG_ALGO=p256\nCONFIG_AUTO_BOOT_TIMEOUT=5\n')
        r = self.hmenu(["p"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertEqual(self.hotp_status(r.stdout), [])
        self.assertNotIn("=== countdown", r.stdout)


    def test_wrong_admin_pin_retries_shown(self):
        """Enrolment: the retries left are shown before each prompt; with 3
        left, 2 attempts (min(retries-1, 3)); two wrong PINs: not enrolled
        (the last retry is kept), and the next boot has no HOTP code."""
        r = self.hmenu(OWN, OWN_SECRETS + ["87654321", PIN])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Admin PIN (3 tries left)", r.stdout)
        self.assertIn("Admin PIN (2 tries left)", r.stdout)
        self.assertIn("=== msgbox [normal] HOTP enrolled", r.stdout)

    def test_two_wrong_admin_pins_not_enrolled(self):
        r = self.hmenu(OWN[:4] + ["r", "i", "p"], OWN_SECRETS + ["87654321", "87654322"])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Admin PIN (2 tries left)", r.stdout)
        self.assertNotIn("Admin PIN (1 tries left)", r.stdout)
        self.assertIn("=== msgbox [error] ERROR: HOTP not enrolled", r.stdout)
        self.assertIn("=== menu [warning] Error checking code", r.stdout)
        self.assertEqual(self.hotp_status(r.stdout)[-1], "Unverified")
        self.assertNotIn("=== countdown", r.stdout)
        self.assertFalse(os.path.exists(self.counter_path()))
        info = subprocess.run([DONGLE_TEST, "hotp", "info", "--test-model", self.model],
                              capture_output=True, text=True, timeout=60)
        self.assertIn("Card counters: Admin 1,", info.stdout)


class MenuHotpNk3(MenuHotp):
    """The Nitrokey 3 model: no Secrets PIN yet, so the PIN entered (twice)
    becomes it."""
    kind = "nk3"
    pins = [PIN, PIN]
    test_wrong_admin_pin_retries_shown = None
    test_two_wrong_admin_pins_not_enrolled = None


if __name__ == "__main__":
    main()
