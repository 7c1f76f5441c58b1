"""The primary key is pinned (issue 15, item 7) and seal records are
owner-written only and checked (item 8), against a private swtpm.

Oracles: tpm2-tools as an independent client (tpm2_readpublic for the
primary's Name; tpm2_evictcontrol/tpm2_createprimary to put another key at
0x81000000; tpm2_nvdefine/tpm2_nvwrite as "the attacker" defining and
writing a record index).
"""
import hashlib
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import Swtpm, TempDirTest, main  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")
OWNER = b"owner passphrase 1"
PASS = b"duk passphrase"
PIN_RE = re.compile(r'^CONFIG_TPM_PRIMARY_NAME="([0-9a-f]+)"$', re.M)
CHANGED = "not the one recorded at ownership"
EXIT_PRIMARY_CHANGED = 9
EXIT_FOREIGN_RECORD = 10


class Base(TempDirTest):
    def setUp(self):
        super().setUp()
        self.sw = Swtpm(os.path.join(self.tmp, "state"))
        self.addCleanup(self.sw.stop)

    def heads(self, *args, fds=None, stdin=b"", check=None):
        argv = [HEADS, *args]
        pass_fds = []
        for opt, data in (fds or {}).items():
            r, w = os.pipe()
            os.write(w, data + b"\n")
            os.close(w)
            argv += [opt, str(r)]
            pass_fds.append(r)
        env = dict(os.environ, HEADS_TCTI=self.sw.tcti, TSS2_LOG="all+NONE",
                   HEADS_MEASURE_TRACE=os.path.join(self.tmp, "trace.log"))
        try:
            p = subprocess.run(argv, input=stdin, capture_output=True, env=env,
                               pass_fds=pass_fds, timeout=120)
        finally:
            for fd in pass_fds:
                os.close(fd)
        p.stdout_text = p.stdout.decode(errors="replace")
        p.stderr_text = p.stderr.decode(errors="replace")
        if check is not None:
            self.assertEqual(p.returncode, check, f"{args}: {p.stderr_text}")
        return p

    def reset(self):
        """heads tpm reset; the Name it prints (None if none)."""
        p = self.heads("tpm", "reset", fds={"--owner-fd": OWNER}, check=0)
        m = PIN_RE.search(p.stdout_text)
        return m and m.group(1)

    def tools_name(self):
        out = self.sw.tools("tpm2_readpublic", "-c", "0x81000000")
        return re.search(r"^name: ([0-9a-f]+)$", out, re.M).group(1)

    def swap_primary(self):
        """Someone with the owner passphrase (or a test) puts another key
        at 0x81000000: same hierarchy, another template (RSA)."""
        ctx = os.path.join(self.tmp, "other.ctx")
        auth = "-P" + OWNER.decode()
        self.sw.tools("tpm2_evictcontrol", "-Q", "-C", "o", auth, "-c", "0x81000000")
        self.sw.tools("tpm2_createprimary", "-Q", "-C", "o", auth, "-g", "sha256",
                      "-G", "rsa2048", "-c", ctx)
        self.sw.tools("tpm2_evictcontrol", "-Q", "-C", "o", auth, "-c", ctx, "0x81000000")
        self.sw.tools("tpm2_flushcontext", "-t")

    def seal(self, handle="0x81000003", pcrs="0,1,2,3,7", data=b"the disk unlock key",
             pin=None, check=0):
        extra = ["--primary-name", pin] if pin else []
        return self.heads("tpm", "seal", handle, "--pcrs", pcrs, *extra,
                          fds={"--auth-fd": PASS, "--owner-fd": OWNER}, stdin=data,
                          check=check)

    def unseal(self, handle="0x81000003", pin=None, check=None):
        extra = ["--primary-name", pin] if pin else []
        return self.heads("tpm", "unseal", handle, *extra, fds={"--auth-fd": PASS},
                          check=check)


class PinnedPrimary(Base):
    def test_reset_prints_the_name(self):
        name = self.reset()
        self.assertIsNotNone(name)
        self.assertEqual(name, self.tools_name())
        self.assertEqual(len(name), 68)  # sha256 nameAlg + digest

    def test_matching_name_works(self):
        pin = self.reset()
        self.seal(pin=pin)
        self.assertEqual(self.unseal(pin=pin, check=0).stdout, b"the disk unlock key")

    def test_other_key_refused(self):
        pin = self.reset()
        self.seal(pin=pin)
        self.swap_primary()
        self.assertNotEqual(self.tools_name(), pin)
        # Unseal (a session salted with the primary): refused.
        p = self.unseal(pin=pin, check=EXIT_PRIMARY_CHANGED)
        self.assertIn(CHANGED, p.stderr_text)
        self.assertIn("TPM swapped or reset?", p.stderr_text)
        self.assertEqual(p.stdout, b"")
        # Seal under it: refused, nothing replaced.
        p = self.seal(data=b"new", pin=pin, check=EXIT_PRIMARY_CHANGED)
        self.assertIn(CHANGED, p.stderr_text)
        # Owner-authorized commands (salted owner sessions): refused.
        p = self.heads("tpm", "nv", "define", "0x01500001", "--size", "8", "--primary-name",
                       pin, fds={"--owner-fd": OWNER}, check=EXIT_PRIMARY_CHANGED)
        self.assertIn(CHANGED, p.stderr_text)
        p = self.heads("tpm", "evict", "0x81000003", "--primary-name", pin,
                       fds={"--owner-fd": OWNER}, check=EXIT_PRIMARY_CHANGED)
        # The sealed secret is still there and (without a pin) unseals.
        self.assertEqual(self.unseal(check=0).stdout, b"the disk unlock key")

    def test_totp_refuses_other_key(self):
        pin = self.reset()
        cfg = self.write("config.user", f'CONFIG_TPM_PRIMARY_NAME="{pin}"\n')
        self.heads("totp", "seal", "--config", cfg, fds={"--owner-fd": OWNER}, check=0)
        self.heads("totp", "show", "--config", cfg, check=0)
        self.swap_primary()
        p = self.heads("totp", "show", "--config", cfg, check=1)
        self.assertIn(CHANGED, p.stderr_text)
        self.assertEqual(p.stdout, b"")
        p = self.heads("totp", "seal", "--config", cfg, fds={"--owner-fd": OWNER}, check=1)
        self.assertIn(CHANGED, p.stderr_text)
        self.assertNotIn(b"Secret (base32)", p.stdout)

    def test_hotp_refuses_other_key(self):
        pin = self.reset()
        self.heads("totp", "seal", "--config", "/dev/null", fds={"--owner-fd": OWNER}, check=0)
        boot = os.path.join(self.tmp, "boot")
        counter = self.write("boot/kexec_hotp_counter", "5\n")
        self.heads("hotp", "code", "--boot", boot, "--primary-name", pin, check=0)
        self.swap_primary()
        p = self.heads("hotp", "code", "--boot", boot, "--primary-name", pin, check=1)
        self.assertIn(CHANGED, p.stderr_text)
        with open(counter) as f:
            self.assertEqual(f.read(), "6\n")  # not advanced by the refused code

    def test_malformed_pin_is_a_usage_error(self):
        self.reset()
        p = self.unseal(pin="00zz")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("bad --primary-name", p.stderr_text)


def sealrec(mask, values, with_auth=True):
    b = b"HSR1" + struct.pack(">I", mask) + bytes([1 if with_auth else 0])
    for i in range(24):
        if mask & (1 << i):
            b += values[i]
    return b


class SealRecords(Base):
    """Item 8: the record 0x0148XXXX is owner-written only and checked."""
    INDEX = "0x01480003"

    def test_record_has_no_authwrite(self):
        self.reset()
        self.seal()
        p = self.heads("tpm", "nv", "info", self.INDEX, check=0)
        attrs = int(re.search(r"attributes: 0x([0-9a-f]+)", p.stdout_text).group(1), 16)
        TPMA_NV_AUTHWRITE = 0x4
        TPMA_NV_OWNERWRITE = 0x2
        self.assertEqual(attrs & TPMA_NV_AUTHWRITE, 0, hex(attrs))
        self.assertTrue(attrs & TPMA_NV_OWNERWRITE, hex(attrs))
        # Nobody without the owner passphrase can write it.
        r = subprocess.run(["tpm2_nvwrite", "-C", self.INDEX, "-i", "-", self.INDEX],
                           input=b"x", capture_output=True,
                           env=dict(os.environ, TPM2TOOLS_TCTI=self.sw.tcti,
                                    TSS2_LOG="all+NONE"))
        self.assertNotEqual(r.returncode, 0)

    def attacker_record(self, record, attrs="ownerwrite|ownerread|authread|authwrite|no_da"):
        """Replace the record with one defined by someone else (here with the
        owner passphrase, as a previous version or a tool would have), then
        written with the index's own (empty) authorization."""
        auth = "-P" + OWNER.decode()
        subprocess.run(["tpm2_nvundefine", "-C", "o", auth, self.INDEX],
                       capture_output=True, env=dict(os.environ, TPM2TOOLS_TCTI=self.sw.tcti,
                                                     TSS2_LOG="all+NONE"))
        self.sw.tools("tpm2_nvdefine", "-C", "o", auth, "-s", str(len(record)), "-a", attrs,
                      self.INDEX)
        path = self.write("rec.bin", "")
        with open(path, "wb") as f:
            f.write(record)
        writer = "o" if "authwrite" not in attrs else self.INDEX
        args = ["tpm2_nvwrite", "-C", writer, "-i", path, self.INDEX]
        if writer == "o":
            args[3:3] = [auth]
        self.sw.tools(*args)

    def pcrs_now(self):
        out = self.sw.tools("tpm2_pcrread", "sha256:0,1,2,3,7")
        vals = {}
        for m in re.finditer(r"^\s+(\d+)\s*:\s*0x([0-9A-F]{64})$", out, re.M):
            vals[int(m.group(1))] = bytes.fromhex(m.group(2))
        return vals

    def test_authwrite_index_refused(self):
        self.reset()
        self.seal(pcrs="0,1,2,3,7")
        # The same record, but in an index anyone may write: refused.
        v = self.pcrs_now()
        self.attacker_record(sealrec(0x8f, v))
        p = self.unseal(check=EXIT_FOREIGN_RECORD)
        self.assertIn("was not defined by heads", p.stderr_text)
        self.assertEqual(p.stdout, b"")
        # Sealing again replaces the foreign index with an owner-only one.
        self.seal(pcrs="0,1,2,3,7")
        self.assertEqual(self.unseal(check=0).stdout, b"the disk unlock key")

    def test_platform_predefined_index_refused(self):
        """Someone with the (still empty) platform authorization, before
        finalize, pre-defines the record index with AUTHWRITE: the owner
        cannot remove it; sealing says so and the unseal refuses the index."""
        self.reset()
        self.sw.tools("tpm2_nvdefine", "-C", "p", "-s", "169", "-a",
                      "ppwrite|ppread|ownerwrite|ownerread|authread|authwrite|platformcreate|no_da",
                      self.INDEX)
        p = self.seal(pcrs="0,1,2,3,7", check=None)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"cannot remove NV index {self.INDEX}", p.stderr_text)
        p = self.unseal(check=EXIT_FOREIGN_RECORD)
        self.assertIn("was not defined by heads", p.stderr_text)
        self.assertEqual(p.stdout, b"")

    def test_forged_mask_refused(self):
        """A record with another PCR mask (written by the owner-auth holder
        with heads' own attributes) does not match the object's policy."""
        self.reset()
        self.seal(pcrs="0,1,2,3,7")
        v = self.pcrs_now()
        self.attacker_record(sealrec(0x1, v), attrs="ownerwrite|ownerread|authread|no_da")
        p = self.unseal(check=8)
        self.assertIn("does not match its policy", p.stderr_text)
        self.assertEqual(p.stdout, b"")
        # A forged "no passphrase needed" flag is refused the same way.
        self.attacker_record(sealrec(0x8f, v, with_auth=False),
                             attrs="ownerwrite|ownerread|authread|no_da")
        p = self.unseal(check=8)
        self.assertIn("does not match its policy", p.stderr_text)

    def test_totp_record_authwrite_refused(self):
        self.reset()
        self.heads("totp", "seal", "--config", "/dev/null", fds={"--owner-fd": OWNER}, check=0)
        self.sw.tools("tpm2_pcrextend", "7:sha256=" + "ab" * 32)
        p = self.heads("totp", "show", "--config", "/dev/null", check=1)
        self.assertIn("PCR 7 moved", p.stderr_text)
        # The TOTP record redefined by someone else with AUTHWRITE, with the
        # same (true) content: the index is not heads', so it is not believed.
        auth = "-P" + OWNER.decode()
        rec_index = "0x01504d47"
        env = dict(os.environ, TPM2TOOLS_TCTI=self.sw.tcti, TSS2_LOG="all+NONE")
        rec = subprocess.run(["tpm2_nvread", "-C", rec_index, rec_index], capture_output=True,
                             env=env, check=True).stdout
        self.assertTrue(rec.startswith(b"HOTR"), rec)
        self.sw.tools("tpm2_nvundefine", "-C", "o", auth, rec_index)
        self.sw.tools("tpm2_nvdefine", "-C", "o", auth, "-s", str(len(rec)), "-a",
                      "ownerwrite|ownerread|authread|authwrite|no_da", rec_index)
        path = self.write("hotr.bin", "")
        with open(path, "wb") as f:
            f.write(rec)
        self.sw.tools("tpm2_nvwrite", "-C", rec_index, "-i", path, rec_index)
        p = self.heads("totp", "show", "--config", "/dev/null", check=1)
        self.assertNotIn("PCR 7 moved", p.stderr_text)
        self.assertIn("was not defined by heads", p.stderr_text)


if __name__ == "__main__":
    main()
