"""TPM authorizations and secrets never travel in clear (issue 15, item 6).

Every command that hands the TPM a secret runs through a recording proxy
(tpm_capture.TpmProxy) in front of a private swtpm; the capture of both
directions must not contain the owner passphrase, the Disk Unlock Key or its
passphrase, the TOTP secret, nor the TPM's HMAC of the TOTP secret -- in any
form the TPM could be given them: raw bytes (also any 8-byte piece), hex
text, base32 text, and the SHA-256 authValue form (passphrases > 32 bytes).
The DUK path is `heads tpm seal/unseal` with a passphrase: the same
tpm_seal()/tpm_unseal_mask() calls that `heads duk setup/unlock` make.
"""
import base64
import hashlib
import hmac
import os
import re
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import Swtpm, TempDirTest, main  # noqa: E402
from tpm_capture import TpmProxy  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")
OWNER = b"owner passphrase 1"                           # <= 32 bytes: raw authValue
DUK_PASS = b"a disk unlock key passphrase over 32 bytes"  # > 32: SHA-256 authValue


TPM_ST_SESSIONS = 0x8002
TPM_RS_PW = 0x40000009
TPMA_SESSION_DECRYPT = 0x20
CC_HIERARCHY_CHANGE_AUTH = 0x129
# Handles in the handle area of the commands that carry sessions here
# (TPM 2.0 part 3); a command missing from this table fails the test.
N_HANDLES = {0x11f: 2, 0x120: 2, 0x121: 1, 0x122: 2, 0x126: 1, 0x127: 1, 0x129: 1,
             0x12a: 1, 0x131: 1, 0x134: 2, 0x137: 2, 0x139: 1, 0x13a: 1, 0x14e: 2,
             0x153: 1, 0x155: 1, 0x157: 1, 0x15e: 1, 0x182: 1}


def sessions(cmd, cc):
    """(handle, attributes, hmac bytes) of each authorization of a command."""
    if int.from_bytes(cmd[0:2], "big") != TPM_ST_SESSIONS:
        return []
    if cc not in N_HANDLES:
        raise AssertionError(f"command 0x{cc:x} with sessions: add its handle count")
    off = 10 + 4 * N_HANDLES[cc]
    end = off + 4 + int.from_bytes(cmd[off:off + 4], "big")
    off += 4
    out = []
    while off < end:
        h = int.from_bytes(cmd[off:off + 4], "big")
        n = int.from_bytes(cmd[off + 4:off + 6], "big")
        off += 6 + n
        attrs = cmd[off]
        n = int.from_bytes(cmd[off + 1:off + 3], "big")
        out.append((h, attrs, cmd[off + 3:off + 3 + n]))
        off += 3 + n
    return out


def forms(secret):
    """The byte strings that must not appear on the bus for secret."""
    out = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode(),
           "sha256": hashlib.sha256(secret).digest(),
           "base32": base64.b32encode(secret).rstrip(b"=")}
    for i in range(0, max(len(secret) - 8, 0) + 1):
        out[f"raw[{i}:{i + 8}]"] = secret[i:i + 8]
    return out


class TpmSecrets(TempDirTest):
    def setUp(self):
        super().setUp()
        self.sw = Swtpm(os.path.join(self.tmp, "state"))
        self.addCleanup(self.sw.stop)
        self.proxy = TpmProxy(self.sw.port)
        self.addCleanup(self.proxy.close)

    def heads(self, *args, fds=None, stdin=b"", check=True):
        """heads ARGS through the proxy; fds maps an option to bytes fed on a pipe."""
        argv = [HEADS, *args]
        pass_fds = []
        for opt, data in (fds or {}).items():
            r, w = os.pipe()
            os.write(w, data + b"\n")
            os.close(w)
            argv += [opt, str(r)]
            pass_fds.append(r)
        env = dict(os.environ, HEADS_TCTI=self.proxy.tcti, TSS2_LOG="all+NONE",
                   HEADS_MEASURE_TRACE=os.path.join(self.tmp, "trace.log"))
        try:
            p = subprocess.run(argv, input=stdin, capture_output=True, env=env,
                               pass_fds=pass_fds, timeout=120)
        finally:
            for fd in pass_fds:
                os.close(fd)
        if check:
            self.assertEqual(p.returncode, 0, f"{args}: {p.stderr.decode(errors='replace')}")
        return p

    def assert_not_on_bus(self, what, secret):
        caps = self.proxy.captured()
        self.assertGreater(sum(map(len, caps)), 0, "nothing was captured")
        for name, needle in forms(secret).items():
            for i, c in enumerate(caps):
                k = c.find(needle)
                self.assertEqual(k, -1, f"{what} ({name}) on the TPM bus: stream {i} "
                                        f"offset {k}")

    def test_no_secret_on_the_bus(self):
        owner = {"--owner-fd": OWNER}
        # Ownership: HierarchyChangeAuth(owner/endorsement) with the new passphrase.
        self.heads("tpm", "reset", fds=owner)
        # NV and counters with owner auth.
        out = self.heads("tpm", "counter", "create", fds=owner).stdout.decode()
        index = "0x" + re.match(r"^([0-9a-f]{1,8}):", out).group(1)
        self.heads("tpm", "counter", "increment", index)
        self.heads("tpm", "nv", "define", "0x01500001", "--size", "16", fds=owner)
        self.heads("tpm", "nv", "write", "0x01500001", fds=owner, stdin=b"not a secret 123")
        self.heads("tpm", "nv", "undefine", "0x01500001", fds=owner)
        # The DUK: 128 random bytes sealed with a passphrase, then unsealed.
        duk = os.urandom(128)
        self.heads("tpm", "seal", "0x81000003", "--pcrs", "0,1,2,3,7",
                   fds={"--auth-fd": DUK_PASS, **owner}, stdin=duk)
        got = self.heads("tpm", "unseal", "0x81000003", fds={"--auth-fd": DUK_PASS}).stdout
        self.assertEqual(got, duk)
        # A wrong DUK passphrase: refused, and not in clear either.
        wrong = b"wrong passphrase, also secret!"
        p = self.heads("tpm", "unseal", "0x81000003", fds={"--auth-fd": wrong}, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.heads("tpm", "evict", "0x81000003", fds=owner)
        # TOTP: the secret into the TPM, codes by TPM2_HMAC, reseal, wipe.
        out = self.heads("totp", "seal", "--config", "/dev/null", fds=owner).stdout.decode()
        b32 = re.search(r"^Secret \(base32\): ([A-Z2-7]{32})$", out, re.M).group(1)
        totp = base64.b32decode(b32)
        t0 = int(time.time()) // 30
        self.heads("totp", "show", "--config", "/dev/null")
        out = self.heads("totp", "seal", "--config", "/dev/null", fds=owner).stdout.decode()
        totp2 = base64.b32decode(re.search(r"^Secret \(base32\): ([A-Z2-7]{32})$", out,
                                           re.M).group(1))
        self.heads("totp", "wipe", "--config", "/dev/null", fds=owner)
        t1 = int(time.time()) // 30

        self.assert_not_on_bus("the owner passphrase", OWNER)
        self.assert_not_on_bus("the DUK", duk)
        self.assert_not_on_bus("the DUK passphrase", DUK_PASS)
        self.assert_not_on_bus("a wrong DUK passphrase", wrong)
        self.assert_not_on_bus("the TOTP secret", totp)
        self.assert_not_on_bus("the second TOTP secret", totp2)
        for c in range(t0 - 1, t1 + 2):
            mac = hmac.new(totp, struct.pack(">Q", c), hashlib.sha1).digest()
            self.assert_not_on_bus(f"the TPM's HMAC of counter {c}", mac)

    def assert_no_clear_authorization(self):
        """No password session carries a non-empty authorization, and every
        new hierarchy authorization (HierarchyChangeAuth) is encrypted."""
        cmds = self.proxy.commands()
        self.assertGreater(len(cmds), 0)
        for cc, cmd in cmds:
            ss = sessions(cmd, cc)
            for h, attrs, mac in ss:
                if h == TPM_RS_PW:
                    self.assertEqual(mac, b"", f"command 0x{cc:x}: a password in clear")
            if cc == CC_HIERARCHY_CHANGE_AUTH:
                self.assertTrue(ss and ss[0][0] != TPM_RS_PW and ss[0][1] & TPMA_SESSION_DECRYPT,
                                "HierarchyChangeAuth: the new authorization is not encrypted")

    def test_authorizations_encrypted(self):
        """Reset (owner, endorsement, lockout), finalize (platform), seal,
        evict, NV: checked on the parsed commands, since finalize's and the
        lockout's new authorizations are random values no test can know."""
        owner = {"--owner-fd": OWNER}
        self.heads("tpm", "reset", fds=owner)
        self.heads("tpm", "nv", "define", "0x01500001", "--size", "16", fds=owner)
        self.heads("tpm", "nv", "undefine", "0x01500001", fds=owner)
        self.heads("tpm", "seal", "0x81000003", "--pcrs", "0,7",
                   fds={"--auth-fd": DUK_PASS, **owner}, stdin=b"k" * 64)
        self.heads("totp", "seal", "--config", "/dev/null", fds=owner)
        self.heads("tpm", "finalize")
        self.assert_no_clear_authorization()

    def test_owner_auth_refused_in_clear_without_primary(self):
        """No primary to salt with (a cleared TPM): a non-empty owner
        passphrase is refused rather than sent in a password session."""
        self.sw.tools("tpm2_clear", "-c", "p")
        p = self.heads("tpm", "nv", "define", "0x01500002", "--size", "8",
                       fds={"--owner-fd": OWNER}, check=False)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn(b"refusing to send it in clear", p.stderr)
        self.assert_not_on_bus("the owner passphrase", OWNER)


if __name__ == "__main__":
    main()
