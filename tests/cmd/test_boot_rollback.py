"""heads boot sign|verify with the TPM rollback counter (swtpm)."""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import Swtpm, run  # noqa: E402
import test_boot  # noqa: E402
from test_boot import BootTest, Keys  # noqa: E402



def setUpModule():
    Keys.setup()


def tearDownModule():
    Keys.teardown()


class Rollback(BootTest):
    def setUp(self):
        super().setUp()
        self.sw = Swtpm(os.path.join(self.tmp, "tpm-state"))
        self.addCleanup(self.sw.stop)

    def tpm_run(self, *args, tpm=None, pass_fds=()):
        return run(*args, pass_fds=pass_fds, env={"HEADS_TCTI": (tpm or self.sw).tcti})

    def tsign(self, expect=0, tpm=None, *extra):
        rfd, wfd = os.pipe()
        os.write(wfd, b"\n")  # fresh swtpm: empty owner passphrase
        os.close(wfd)
        try:
            r = self.tpm_run("boot", "sign", "--boot", self.boot, "--gnupghome", Keys.signer,
                             "--owner-fd", str(rfd), *extra, tpm=tpm, pass_fds=(rfd,))
        finally:
            os.close(rfd)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def tverify(self, expect=0, tpm=None, *extra):
        r = self.tpm_run("boot", "verify", "--boot", self.boot, "--keyring", Keys.keyring,
                         *extra, tpm=tpm)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def test_counter_binding_and_replay(self):
        r = self.tsign()
        m = re.search(r"counter OK \(([0-9a-f]+) = (\d+)\)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        cid, value = m.group(1), int(m.group(2))
        # Reference format: sha256sum of /tmp/counter-<id> holding "<id>: <16 hex>\n".
        state_text = "%s: %016x\n" % (cid, value)
        with open(self.p("kexec_rollback.txt")) as f:
            self.assertEqual(f.read(), "%s  /tmp/counter-%s\n"
                             % (hashlib.sha256(state_text.encode()).hexdigest(), cid))
        counter_file = "/tmp/counter-%s" % cid
        if not os.path.exists(counter_file):
            try:
                with open(counter_file, "w") as f:
                    f.write(state_text)
                sc = subprocess.run(["sha256sum", "-c", "kexec_rollback.txt"], cwd=self.boot,
                                    capture_output=True)
                self.assertEqual(sc.returncode, 0, sc.stdout)
            finally:
                os.unlink(counter_file)
        r = self.tverify(0)
        self.assertIn("counter OK", r.stdout)

        old = os.path.join(self.tmp, "old-boot")
        shutil.copytree(self.boot, old, symlinks=True)
        # Re-signing increments the same counter first.
        r = self.tsign()
        self.assertIn("counter OK (%s = %d)" % (cid, value + 1), r.stdout)
        self.tverify(0)

        # Replay the older, validly signed /boot: refused.
        shutil.rmtree(self.boot)
        shutil.copytree(old, self.boot, symlinks=True)
        r = self.tverify(1)
        self.assertIn("counter: BEHIND", r.stderr)
        self.assertIn("signed at counter value %d" % value, r.stderr)
        self.assertNotIn("signature:", r.stderr)  # the signature itself is good
        # report shows it too
        rep = self.tpm_run("boot", "report", "--boot", self.boot, "--keyring", Keys.keyring)
        self.assertEqual(rep.returncode, 1)
        self.assertIn("signature: VERIFIED", rep.stdout)
        self.assertIn("counter: BEHIND", rep.stdout)
        # Explicitly disabled: accepted.
        self.tverify(0, None, "--no-rollback")

    def psign(self, pin, expect):
        """heads boot sign with the PIN-protected key, pin on --pin-fd (a
        fresh gpg-agent: no PIN cached)."""
        subprocess.run(["gpgconf", "--homedir", Keys.pinned, "--kill", "gpg-agent"],
                       capture_output=True)
        fds = []
        for data in (b"\n", pin + b"\n"):  # fresh swtpm: empty owner passphrase
            rfd, wfd = os.pipe()
            os.write(wfd, data)
            os.close(wfd)
            fds.append(rfd)
        try:
            r = self.tpm_run("boot", "sign", "--boot", self.boot, "--gnupghome", Keys.pinned,
                             "--owner-fd", str(fds[0]), "--pin-fd", str(fds[1]),
                             pass_fds=tuple(fds))
        finally:
            for fd in fds:
                os.close(fd)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def test_failed_signature_leaves_the_counter(self):
        """A signing that fails (a wrong PIN; a card pulled out) must not
        advance the counter: the counter was incremented before the
        signature was made, so the /boot left as it was no longer verified
        ("BEHIND") at the next boot."""
        r = self.psign(b"123456", 0)
        value = int(re.search(r"counter OK \([0-9a-f]+ = (\d+)\)", r.stdout).group(1))
        r = self.psign(b"000000", 1)
        self.assertIn("bad PIN or passphrase", r.stderr)
        r = self.tverify(0)
        self.assertIn("counter OK", r.stdout)
        r = self.psign(b"123456", 0)
        self.assertRegex(r.stdout, r"counter OK \([0-9a-f]+ = %d\)" % (value + 1))
        self.tverify(0)

    def test_other_tpm_is_refused(self):
        self.tsign()
        other = Swtpm(os.path.join(self.tmp, "another-tpm"))
        try:
            r = self.tverify(1, other)
        finally:
            other.stop()
        self.assertIn("counter: TPM ERROR", r.stderr)
        self.assertIn("cannot be read", r.stderr)

    def test_lockout_is_reported_as_lockout(self):
        """Issue 19: a counter unreadable because the TPM is in DA lockout is
        LOCKOUT with the seconds to wait, never MISMATCH or 'TPM swap'."""
        r = self.tsign()
        cid = re.search(r"counter OK \(([0-9a-f]+) = ", r.stdout).group(1)
        # A fresh swtpm allows 3 failures, one forgiven every 1000 s. Wrong
        # index passphrases from an independent client (tpm2-tools):
        for _ in range(3):
            out = subprocess.run(["tpm2_nvread", "-T", self.sw.tcti, "-P", "wrong",
                                  "-C", "0x" + cid, "0x" + cid], capture_output=True,
                                 env=dict(os.environ, TSS2_LOG="all+NONE"))
            self.assertNotEqual(out.returncode, 0)
        r = self.tverify(1)
        self.assertIn("counter: LOCKOUT", r.stderr)
        self.assertIn("dictionary-attack lockout: next try in 1000 s", r.stderr)
        self.assertNotIn("MISMATCH", r.stderr)
        self.assertNotIn("swap", r.stderr)
        r = self.tsign(1)
        self.assertIn("lockout", r.stderr)

    def test_counter_replaced_by_ordinary_nv_index(self):
        # TPM swapped/cleared and an ordinary (owner-written, data) NV index
        # defined at the counter's id: refused as a bad policy.
        r = self.tsign()
        cid = re.search(r"counter OK \(([0-9a-f]+) = ", r.stdout).group(1)
        other = Swtpm(os.path.join(self.tmp, "another-tpm"))
        try:
            rfd, wfd = os.pipe()
            os.write(wfd, b"\n")
            os.close(wfd)
            d = self.tpm_run("tpm", "nv", "define", "0x" + cid, "--size", "8", "--owner-fd",
                             str(rfd), tpm=other, pass_fds=(rfd,))
            os.close(rfd)
            self.assertEqual(d.returncode, 0, d.stderr)
            r = self.tverify(1, other)
        finally:
            other.stop()
        self.assertIn("counter: BAD POLICY", r.stderr)
        self.assertIn("invalid security policy", r.stderr)

    def test_new_counter_after_tpm_reset(self):
        self.tsign()
        other = Swtpm(os.path.join(self.tmp, "reset-tpm"))
        try:
            before = self.snapshot()
            r = self.tsign(1, other)
            self.assertIn("cannot read TPM rollback counter", r.stderr)
            self.assertIn("not signed: rollback counter: cannot read TPM counter", r.stderr)
            self.assertNotIn("signing key", r.stderr)  # the counter, not the key
            self.assertEqual(self.snapshot(), before)  # /boot untouched
            r = self.tsign(0, other, "--new-counter")
            self.assertRegex(r.stdout, r"counter OK \([0-9a-f]+ = \d+\)")
            self.tverify(0, other)
        finally:
            other.stop()
        r = self.tverify(1)  # the old TPM's counter no longer matches
        self.assertIn("counter: TPM ERROR", r.stderr)

    def test_required_counter_refuses_older_unbound_boot(self):
        """Issue 15 item 5: once the machine has a counter (recorded at
        ownership: CONFIG_BOOT_REQ_ROLLBACK=y, CONFIG_ROLLBACK_COUNTER), an
        older /boot signed without one (or --no-rollback) is refused."""
        r = run("boot", "sign", "--boot", self.boot, "--gnupghome", Keys.signer,
                "--no-rollback", env={"HEADS_TCTI": ""})
        self.assertEqual(r.returncode, 0, r.stderr)
        old = os.path.join(self.tmp, "old-boot")
        shutil.copytree(self.boot, old, symlinks=True)
        r = self.tsign()
        cid = re.search(r"counter OK \(([0-9a-f]+) = ", r.stdout).group(1)
        cfg = os.path.join(self.tmp, "config.user")
        with open(cfg, "w") as f:
            f.write('export CONFIG_BOOT_REQ_ROLLBACK="y"\nexport CONFIG_ROLLBACK_COUNTER="0x%s"\n'
                    % cid)
        self.tverify(0, None, "--config", cfg)
        shutil.rmtree(self.boot)
        shutil.copytree(old, self.boot, symlinks=True)
        # Without the requirement the replay passes as "counter NOT USED" ...
        r = self.tverify(0, None, "--config", os.devnull)
        self.assertIn("counter NOT USED", r.stdout)
        # ... with it, it fails, and --no-rollback does not skip it.
        r = self.tverify(1, None, "--config", cfg)
        self.assertIn("counter: NOT USED: no kexec_rollback.txt, but this machine has a "
                      "rollback counter", r.stderr)
        r = self.tverify(1, None, "--config", cfg, "--no-rollback")
        self.assertIn("counter: DISABLED", r.stderr)
        # Signing keeps the requirement: KEEP refuses this /boot too.
        r = self.tsign(1, None, "--config", cfg, "--keep", "--keyring", Keys.keyring)
        self.assertIn("refusing to sign", r.stderr)

    def test_keep_signing_advances_the_counter(self):
        r = self.tsign()
        m = re.search(r"counter OK \(([0-9a-f]+) = (\d+)\)", r.stdout)
        with open(self.p("kexec_hashes.txt"), "rb") as f:
            hashes = f.read()
        r = self.tsign(0, None, "--keep", "--keyring", Keys.keyring)
        self.assertIn("counter OK (%s = %d)" % (m.group(1), int(m.group(2)) + 1), r.stdout)
        with open(self.p("kexec_hashes.txt"), "rb") as f:
            self.assertEqual(f.read(), hashes)
        self.tverify(0)
        # An older /boot (counter behind) is not re-signed by KEEP.
        old = os.path.join(self.tmp, "old")
        shutil.copytree(self.boot, old, symlinks=True)
        self.tsign(0, None, "--keep", "--keyring", Keys.keyring)
        shutil.rmtree(self.boot)
        shutil.copytree(old, self.boot, symlinks=True)
        r = self.tsign(1, None, "--keep", "--keyring", Keys.keyring)
        self.assertIn("counter BEHIND", r.stderr)

    def test_required_counter_must_be_this_machines(self):
        self.tsign()
        cfg = os.path.join(self.tmp, "config.user")
        with open(cfg, "w") as f:
            f.write('export CONFIG_BOOT_REQ_ROLLBACK="y"\nexport CONFIG_ROLLBACK_COUNTER='
                    '"0x1234567"\n')
        r = self.tverify(1, None, "--config", cfg)
        self.assertIn("this machine's counter is 0x1234567", r.stderr)

    def test_counter_file_tampered(self):
        self.tsign()
        with open(self.p("kexec_rollback.txt")) as f:
            line = f.read()
        with open(self.p("kexec_rollback.txt"), "w") as f:
            f.write(("1" if line[0] == "0" else "0") + line[1:])
        r = self.tverify(1)
        self.assertIn("signature: BAD", r.stderr)
        self.assertIn("counter: MISMATCH", r.stderr)


class Rollback12(Rollback):
    """The same rollback tests on a TPM 1.2 (swtpm TPM 1.2 mode, our client):
    the counter is a TPM_CreateCounter counter. Tests of TPM 2.0 NV index
    attributes, tpm2-tools and other TPMs' NV indices have no TPM 1.2 form
    and are not in this class."""
    test_counter_replaced_by_ordinary_nv_index = None
    test_lockout_is_reported_as_lockout = None
    # test_required_counter_*: CONFIG_ROLLBACK_COUNTER holds a TPM 1.2
    # counter as 0xbaddNNNN (the reference's label, the TPM's counter id).

    def test_counter_is_named_by_label_and_id(self):
        """The first counter of a TPM 1.2 has TPM_COUNT_ID 0: heads names it
        0xbadd0000 (never 0, which a config reads as "no counter"), in the
        signed kexec_rollback.txt too."""
        r = self.tsign()
        cid = re.search(r"counter OK \(([0-9a-f]+) = ", r.stdout).group(1)
        self.assertRegex(cid, r"^badd[0-9a-f]{4}$")
        with open(self.p("kexec_rollback.txt")) as f:
            self.assertIn("/tmp/counter-" + cid, f.read())

    def setUp(self):
        BootTest.setUp(self)
        self.sw = Swtpm(os.path.join(self.tmp, "tpm-state"), tpm12=True)
        self.addCleanup(self.sw.stop)
        self.own(self.sw)

    def own(self, sw):
        rfd, wfd = os.pipe()
        os.write(wfd, b"\n")  # empty owner passphrase, as tsign gives
        os.close(wfd)
        try:
            r = self.tpm_run("tpm", "reset", "--owner-fd", str(rfd), tpm=sw, pass_fds=(rfd,))
        finally:
            os.close(rfd)
        self.assertEqual(r.returncode, 0, r.stderr)

    def lockout_left(self):
        """Seconds until the next authorization is allowed (`heads tpm
        info`), 0 when the TPM is not locked out."""
        out = self.tpm_run("tpm", "info").stdout
        if re.search(r"lockout: no\b", out):
            return 0
        m = re.search(r"lockout: yes, next try in (\d+) s", out)
        self.assertIsNotNone(m, out)
        return int(m.group(1))

    def lock_out(self, at_least=8):
        """Wrong owner passphrases until the TPM is locked out for at least
        at_least s (libtpms locks 1, 2, 4 ... s: a shorter lock is waited
        out and the next failure doubles it); returns the seconds left."""
        for _ in range(40):
            rfd, wfd = os.pipe()
            os.write(wfd, b"wrong owner\n")
            os.close(wfd)
            try:
                r = self.tpm_run("tpm", "nv", "define", "0x4d49", "--size", "8",
                                 "--owner-fd", str(rfd), pass_fds=(rfd,))
            finally:
                os.close(rfd)
            if r.returncode == 4:
                left = self.lockout_left()
                if left >= at_least:
                    return left
                time.sleep(left + 0.2)
                continue
            self.assertEqual(r.returncode, 3, r.stderr)
        self.fail("no lockout of %d s after 40 wrong owner passphrases" % at_least)

    def test_lockout_blocks_signing_not_verifying(self):
        """ReadCounter needs no authorization on a TPM 1.2: a locked TPM
        still verifies /boot; signing (IncrementCounter, authorized) says
        lockout. Both run between two reads of the DA state that say
        "locked" (a lock only ends by expiring, so it held throughout); when
        the lock expired meanwhile (a slow sanitizer build under load) the
        round proves nothing and is run again with a longer lock."""
        self.tsign()
        at_least = 8
        for _ in range(4):
            self.assertGreaterEqual(self.lock_out(at_least), at_least)
            v = self.tpm_run("boot", "verify", "--boot", self.boot, "--keyring", Keys.keyring)
            rfd, wfd = os.pipe()
            os.write(wfd, b"\n")
            os.close(wfd)
            try:
                s = self.tpm_run("boot", "sign", "--boot", self.boot, "--gnupghome",
                                 Keys.signer, "--owner-fd", str(rfd), pass_fds=(rfd,))
            finally:
                os.close(rfd)
            if self.lockout_left() > 0:
                self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
                self.assertEqual(s.returncode, 1, s.stdout + s.stderr)
                self.assertIn("lockout", s.stderr)
                return
            at_least *= 4
        self.fail("the TPM's lockout never outlasted one verify and one sign")

    def test_new_counter_after_tpm_reset(self):
        self.tsign()
        other = Swtpm(os.path.join(self.tmp, "reset-tpm"), tpm12=True)
        try:
            self.own(other)
            before = self.snapshot()
            r = self.tsign(1, other)
            self.assertIn("cannot read TPM rollback counter", r.stderr)
            self.assertIn("not signed: rollback counter: cannot read TPM counter", r.stderr)
            self.assertNotIn("signing key", r.stderr)  # the counter, not the key
            self.assertEqual(self.snapshot(), before)
            r = self.tsign(0, other, "--new-counter")
            self.tverify(0, other)
        finally:
            other.stop()

    def test_other_tpm_is_refused(self):
        self.tsign()
        other = Swtpm(os.path.join(self.tmp, "another-tpm"), tpm12=True)
        try:
            self.own(other)
            r = self.tverify(1, other)
        finally:
            other.stop()
        self.assertIn("counter: TPM ERROR", r.stderr)


if __name__ == "__main__":
    test_boot.main()
