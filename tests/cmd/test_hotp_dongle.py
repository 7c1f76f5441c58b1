"""heads hotp enroll|check|info|verify against the device models of
tests/devices/ (issue 17), through the test build heads-dongle-test
(`--test-model`, which `heads` itself refuses). The models keep their
state in a file between commands, so each command is one "plug-in".

Oracle for the codes: oathtool (liboath), an independent RFC 4226
implementation. The TPM path of `verify` is in test_hotp_dongle_tpm.py.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import HEADS, TempDirTest, main  # noqa: E402

TEST = os.environ.get("HEADS_DONGLE_TEST", "heads-dongle-test")
KEY = bytes.fromhex("3a017f991022e45b00c18d426e13f07705aa31be")
PIN = "12345678"


def oathtool(counter, key=KEY):
    r = subprocess.run(["oathtool", "--hotp", "-d", "6", "-c", str(counter), key.hex()],
                       capture_output=True, text=True, timeout=30, check=True)
    return r.stdout.strip()


class HotpDongle(TempDirTest):
    def heads(self, *args, secret=None, pin=None, binary=TEST):
        fds, extra = [], []
        for opt, data in (("--secret-fd", secret), ("--pin-fd", pin)):
            if data is None:
                continue
            rfd, wfd = os.pipe()
            os.write(wfd, data if isinstance(data, bytes) else data.encode() + b"\n")
            os.close(wfd)
            fds.append(rfd)
            extra += [opt, str(rfd)]
        try:
            return subprocess.run([binary, "hotp", *args, *extra], capture_output=True,
                                  text=True, pass_fds=fds, timeout=60,
                                  stdin=subprocess.DEVNULL)
        finally:
            for fd in fds:
                os.close(fd)

    def model(self, kind):
        return ["--test-model", f"{kind}:{os.path.join(self.tmp, kind + '.state')}"]

    def counter(self):
        with open(os.path.join(self.tmp, "kexec_hotp_counter")) as f:
            return f.read()

    def enroll(self, kind, counter=None, pin=PIN):
        args = ["enroll", "--boot", self.tmp, *self.model(kind)]
        if counter is not None:
            args += ["--counter", str(counter)]
        return self.heads(*args, secret=KEY, pin=pin)

    def check(self, kind, code):
        return self.heads("check", code, *self.model(kind))

    # --- the shipped binary
    def test_heads_refuses_test_model(self):
        state = os.path.join(self.tmp, "x.state")
        r = self.heads("check", "123456", "--test-model", "nkpro:" + state, binary=HEADS)
        self.assertEqual(r.returncode, 2)
        self.assertIn("only in the test build", r.stderr)
        self.assertFalse(os.path.exists(state))
        r = subprocess.run(["nm", HEADS], capture_output=True, text=True, check=True)
        self.assertNotIn("nk_hid_model", r.stdout)
        self.assertNotIn("nk3_model", r.stdout)
        # no dynamic symbol a preloaded library could define
        r = subprocess.run(["nm", "-D", HEADS], capture_output=True, text=True, check=True)
        self.assertNotIn("dongle_test_model_open", r.stdout)

    # --- Nitrokey Pro family
    def test_info_nkpro_and_librem(self):
        r = self.heads("info", *self.model("nkpro"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Connected device status:", r.stdout)
        self.assertIn("Brand: Nitrokey Pro\n", r.stdout)
        self.assertIn("Firmware: 0.15\n", r.stdout)
        self.assertIn("Card counters: Admin 3, User 3\n", r.stdout)
        r = self.heads("info", *self.model("librem"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Brand: Librem Key\n", r.stdout)

    def test_not_configured(self):
        r = self.check("nkpro", oathtool(1))
        self.assertEqual((r.returncode, r.stdout), (3, "HOTP slot not configured\n"))

    def test_enroll_then_check_nkpro(self):
        r = self.enroll("nkpro")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.counter(), "2\n")  # reference: counter 1 checked, file 2
        self.assertNotIn(PIN, r.stdout + r.stderr)
        r = self.check("nkpro", oathtool(2))
        self.assertEqual((r.returncode, r.stdout), (0, "Success\n"))
        r = self.check("nkpro", oathtool(2))  # replay
        self.assertEqual((r.returncode, r.stdout), (1, "Invalid code\n"))
        # device at 3: window 3..12
        r = self.check("nkpro", oathtool(13))
        self.assertEqual(r.returncode, 1)
        r = self.check("nkpro", oathtool(12))
        self.assertEqual((r.returncode, r.stdout), (0, "Success\n"))
        # a code with a leading zero is a code, not an octal number
        n = next(c for c in range(13, 400) if oathtool(c).startswith("0"))
        for c in range(13, n, 9):
            self.assertEqual(self.check("nkpro", oathtool(c)).returncode, 0)
        r = self.check("nkpro", oathtool(n))
        self.assertEqual((r.returncode, r.stdout), (0, "Success\n"))

    def test_enroll_counter_walk(self):
        for kind in ("nkpro", "nk3"):
            with self.subTest(kind=kind):
                r = self.enroll(kind, counter=25)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(self.counter(), "26\n")
                r = self.check(kind, oathtool(26))
                self.assertEqual((r.returncode, r.stdout), (0, "Success\n"))

    def test_wrong_pin_to_blocked_nkpro(self):
        for left in (2, 1):
            r = self.enroll("nkpro", pin="00000000")
            self.assertEqual(r.returncode, 8, r.stderr)
            self.assertIn(f"Card counters: Admin {left}, User 3", r.stdout)
        r = self.enroll("nkpro", pin="00000000")
        self.assertEqual(r.returncode, 9, r.stderr)
        r = self.enroll("nkpro")  # right PIN, too late
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertIn("blocked", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "kexec_hotp_counter")))
        r = self.heads("info", *self.model("nkpro"))
        self.assertIn("Card counters: Admin 0, User 3", r.stdout)

    # --- Nitrokey 3
    def test_nk3_enroll_sets_pin_then_wrong_pin(self):
        r = self.heads("info", *self.model("nk3"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Brand: Nitrokey 3\n", r.stdout)
        self.assertIn("Firmware: 1.7.2\n", r.stdout)
        self.assertIn("no Secrets app PIN set yet", r.stdout)
        r = self.enroll("nk3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.counter(), "2\n")
        r = self.heads("info", *self.model("nk3"))
        self.assertIn("Secrets app PIN counter: 8\n", r.stdout)
        r = self.check("nk3", oathtool(2))
        self.assertEqual((r.returncode, r.stdout), (0, "Success\n"))
        r = self.enroll("nk3", pin="wrong pin")
        self.assertEqual(r.returncode, 8)
        self.assertIn("Secrets app PIN counter: 7", r.stdout)

    # --- no dongle / unsupported / input checks
    def test_no_dongle_leaves_counter(self):
        path = self.write("kexec_hotp_counter", "5\n")
        r = self.heads("verify", "--boot", self.tmp, "--test-model", "none")
        self.assertEqual((r.returncode, r.stdout), (4, "No dongle\n"))
        r = self.heads("verify", "--boot", self.tmp, "--test-model", "canokey")
        self.assertEqual((r.returncode, r.stdout), (5, "HOTP not supported by this dongle\n"))
        with open(path) as f:
            self.assertEqual(f.read(), "5\n")

    def test_bad_input(self):
        r = self.heads("enroll", "--boot", self.tmp, *self.model("nkpro"), secret=b"short",
                       pin=PIN)
        self.assertEqual(r.returncode, 2)
        r = self.heads("enroll", "--boot", self.tmp, *self.model("nkpro"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--secret-fd", r.stderr)
        for code in ("12345", "1234567", "12a456"):
            r = self.heads("check", code, *self.model("nkpro"))
            self.assertEqual(r.returncode, 2, code)
        for argv in (("info", "extra", *self.model("nkpro")),
                     ("check", "123456", "extra", *self.model("nkpro")), ("code", "extra")):
            r = self.heads(*argv)
            self.assertEqual(r.returncode, 2, argv)
            self.assertIn("unexpected argument 'extra'", r.stderr, argv)
        r = self.enroll("nkpro", pin="x" * 26)  # longer than the HID field
        self.assertEqual(r.returncode, 8)
        r = self.heads("info", *self.model("nkpro"))
        self.assertIn("Admin 3,", r.stdout)  # no retry spent on it


if __name__ == "__main__":
    main()
