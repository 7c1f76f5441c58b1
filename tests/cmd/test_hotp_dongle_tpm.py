"""heads hotp verify end to end against a private swtpm and the Nitrokey
device models (issue 17): the TOTP/HOTP secret sealed by `heads totp seal`
is enrolled into the model (`heads hotp enroll`, as the menu will do right
after sealing), then `verify` has the TPM compute the code for the /boot
counter and the model check it. A rolled-back counter file gives "Invalid
code"; a moved PCR gives no code and leaves the counter alone.
Oracle: oathtool for the codes the model must see.
"""
import base64
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import Swtpm, TempDirTest, main  # noqa: E402

TEST = os.environ.get("HEADS_DONGLE_TEST", "heads-dongle-test")
OWNER = "owner passphrase 1"
PIN = "12345678"
QUIET = {"TSS2_LOG": "all+NONE"}


class HotpDongleTpm(TempDirTest):
    def setUp(self):
        super().setUp()
        self.tpm = Swtpm(os.path.join(self.tmp, "state"))
        self.addCleanup(self.tpm.stop)
        self.boot = os.path.join(self.tmp, "boot")
        os.mkdir(self.boot)

    def run_heads(self, *args, fds=None):
        fds = fds or {}
        passed, extra = [], []
        for opt, data in fds.items():
            rfd, wfd = os.pipe()
            os.write(wfd, data)
            os.close(wfd)
            passed.append(rfd)
            extra += [opt, str(rfd)]
        env = dict(os.environ, HEADS_TCTI=self.tpm.tcti, **QUIET)
        try:
            return subprocess.run([TEST, *args, *extra], capture_output=True, text=True,
                                  env=env, pass_fds=passed, timeout=120,
                                  stdin=subprocess.DEVNULL)
        finally:
            for fd in passed:
                os.close(fd)

    def model(self, kind):
        return ["--test-model", f"{kind}:{os.path.join(self.tmp, kind + '.state')}"]

    def counter(self):
        with open(os.path.join(self.boot, "kexec_hotp_counter")) as f:
            return f.read()

    def seal(self):
        r = self.run_heads("tpm", "reset", fds={"--owner-fd": OWNER.encode() + b"\n"})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_heads("totp", "seal", "--config", "/dev/null",
                           fds={"--owner-fd": OWNER.encode() + b"\n"})
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"^Secret \(base32\): ([A-Z2-7]{32})$", r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout)
        return base64.b32decode(m.group(1))

    def test_verify_end_to_end(self):
        key = self.seal()
        for kind in ("nkpro", "nk3"):
            with self.subTest(kind=kind):
                r = self.run_heads("hotp", "enroll", "--boot", self.boot, *self.model(kind),
                                   fds={"--secret-fd": key, "--pin-fd": PIN.encode() + b"\n"})
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(self.counter(), "2\n")
                for n in (2, 3):
                    r = self.run_heads("hotp", "verify", "--boot", self.boot, *self.model(kind))
                    self.assertEqual((r.returncode, r.stdout), (0, "Success\n"), r.stderr)
                    self.assertEqual(self.counter(), f"{n + 1}\n")
                # the counter file rolled back by hand: a replayed code
                with open(os.path.join(self.boot, "kexec_hotp_counter"), "w") as f:
                    f.write("2\n")
                r = self.run_heads("hotp", "verify", "--boot", self.boot, *self.model(kind))
                self.assertEqual((r.returncode, r.stdout), (1, "Invalid code\n"), r.stderr)
                # the file moved on (3): the code for 3 was used too
                r = self.run_heads("hotp", "verify", "--boot", self.boot, *self.model(kind))
                self.assertEqual((r.returncode, r.stdout), (1, "Invalid code\n"))
                # 4 is the dongle's next: in step again
                r = self.run_heads("hotp", "verify", "--boot", self.boot, *self.model(kind))
                self.assertEqual((r.returncode, r.stdout), (0, "Success\n"), r.stderr)

    def test_verify_pcr_moved_keeps_counter(self):
        key = self.seal()
        r = self.run_heads("hotp", "enroll", "--boot", self.boot, *self.model("nkpro"),
                           fds={"--secret-fd": key, "--pin-fd": PIN.encode() + b"\n"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.tpm.tools("tpm2_pcrextend", "0:sha256=" + "ab" * 32)
        r = self.run_heads("hotp", "verify", "--boot", self.boot, *self.model("nkpro"))
        self.assertEqual((r.returncode, r.stdout), (7, "Unverified\n"), r.stderr)
        self.assertIn("no HOTP code", r.stderr)
        self.assertEqual(self.counter(), "2\n")

    def test_verify_without_counter_file(self):
        self.seal()
        r = self.run_heads("hotp", "verify", "--boot", self.boot, *self.model("nkpro"))
        self.assertEqual((r.returncode, r.stdout), (7, "Unverified\n"), r.stderr)
        self.assertIn("no HOTP counter (not enrolled with a dongle?)", r.stderr)


if __name__ == "__main__":
    main()
