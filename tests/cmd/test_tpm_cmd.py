"""heads tpm ... against a private swtpm per test (suite 'tpm').

Oracles: hashlib for PCR arithmetic, tpm2-tools (tpm2_pcrread, tpm2_getcap)
as an independent reader of the same TPM, the committed QEMU+OVMF event log
with its live PCR values.
"""
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import Swtpm, TempDirTest, main, run  # noqa: E402

SRC = os.environ.get("HEADS_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
LOG = os.path.join(SRC, "tests/data/eventlog/qemu-ovmf-swtpm.bin")
LOG_PCRS = os.path.join(SRC, "tests/data/eventlog/qemu-ovmf-swtpm.pcrs-sha256.txt")
OWNER = "owner passphrase 1"
PCR_LINE = re.compile(r"^(\d+): ([0-9a-f]{64})$")


def sha256(b):
    return hashlib.sha256(b).digest()


class TpmCmdTest(TempDirTest):
    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.tmp, "state"))
        self.sw = Swtpm(os.path.join(self.tmp, "state"))
        self.trace = os.path.join(self.tmp, "trace.log")

    def tearDown(self):
        try:
            if self.sw.proc:
                self.assert_no_handles()
        finally:
            self.sw.stop()
            super().tearDown()

    # --- helpers ---------------------------------------------------------
    def tpm(self, *args, input=None, fds=None, text=True):
        """Run heads tpm ARGS; fds maps an option name to the bytes fed on a pipe."""
        argv = ["tpm", *args]
        pass_fds = []
        to_close = []
        for opt, data in (fds or {}).items():
            r, w = os.pipe()
            os.write(w, data.encode() if isinstance(data, str) else data)
            os.close(w)
            argv += [opt, str(r)]
            pass_fds.append(r)
            to_close.append(r)
        env = {"HEADS_TCTI": self.sw.tcti, "HEADS_MEASURE_TRACE": self.trace,
               "TSS2_LOG": "all+NONE"}
        try:
            if text:
                return run(*argv, input=input, env=env, pass_fds=pass_fds)
            e = dict(os.environ)
            e.update(env)
            return subprocess.run([os.environ.get("HEADS", "heads"), *argv], input=input,
                                  capture_output=True, env=e, pass_fds=pass_fds, timeout=120)
        finally:
            for fd in to_close:
                os.close(fd)

    def pcrs(self, *n):
        p = self.tpm("pcrread", *[str(x) for x in n])
        self.assertEqual(p.returncode, 0, p.stderr)
        out = {}
        for line in p.stdout.splitlines():
            m = PCR_LINE.match(line)
            self.assertIsNotNone(m, line)
            out[int(m.group(1))] = bytes.fromhex(m.group(2))
        return out

    def reset(self):
        p = self.tpm("reset", fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 0, p.stderr)

    def seal(self, handle, pcrs, data, auth=None, extra=()):
        fds = {"--owner-fd": OWNER + "\n"}
        if auth is not None:
            fds["--auth-fd"] = auth + "\n"
        p = self.tpm("seal", handle, "--pcrs", pcrs, *extra, input=data, fds=fds, text=False)
        p.stderr = p.stderr.decode(errors="replace")
        return p

    def unseal(self, handle, auth=None):
        fds = {"--auth-fd": auth + "\n"} if auth is not None else None
        return self.tpm("unseal", handle, fds=fds)

    def assert_no_handles(self):
        p = self.tpm("info")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("transient-handles: 0\n", p.stdout)
        self.assertIn("loaded-sessions: 0\n", p.stdout)
        # independent oracle: tpm2-tools
        for cap in ("handles-transient", "handles-loaded-session"):
            q = subprocess.run(["tpm2_getcap", "-T", self.sw.tcti, cap],
                               capture_output=True, text=True,
                               env=dict(os.environ, TSS2_LOG="all+NONE"))
            self.assertEqual(q.returncode, 0, q.stderr)
            self.assertEqual(q.stdout.strip(), "", f"{cap} leaked: {q.stdout}")

    # --- tests -----------------------------------------------------------
    def test_pcrread_format_and_tpm2_tools_agree(self):
        v = self.pcrs()
        self.assertEqual(sorted(v), list(range(24)))
        self.assertEqual(v[0], bytes(32))
        self.assertEqual(v[17], b"\xff" * 32)  # PC Client: DRTM PCRs start at ones
        p = self.tpm("pcrread", "7", "--bank", "sha1")
        self.assertEqual(p.stdout, "7: " + "00" * 20 + "\n")
        self.assertEqual(self.tpm("pcrread", "24").returncode, 2)
        self.assertEqual(self.tpm("pcrread", "x").returncode, 2)

    def test_extend_string_and_file_as_reference(self):
        before = self.pcrs(4, 5)[4]
        p = self.tpm("extend", "4", "--string", "usb")
        self.assertEqual(p.returncode, 0, p.stderr)
        expect = sha256(before + sha256(b"usb"))
        self.assertEqual(self.pcrs(4)[4], expect)
        # tpm2-tools reads the same value
        q = subprocess.run(["tpm2_pcrread", "-T", self.sw.tcti, "sha256:4"],
                           capture_output=True, text=True, env=dict(os.environ, TSS2_LOG="all+NONE"))
        self.assertIn("0x" + expect.hex().upper(), q.stdout)
        f = self.write("mod.ko", b"\x7fELF module\n\x00", mode="wb")
        p = self.tpm("extend", "5", "--file", f)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.pcrs(5)[5], sha256(bytes(32) + sha256(b"\x7fELF module\n\x00")))
        with open(self.trace) as t:
            lines = t.read().splitlines()
        self.assertEqual(lines[0], "MEASURE\t4\tsha256\t" + sha256(b"usb").hex() + "\tusb")
        self.assertEqual(lines[1].split("\t")[:4],
                         ["MEASURE", "5", "sha256", sha256(b"\x7fELF module\n\x00").hex()])
        self.assertEqual(lines[1].split("\t")[4], f)
        # usage errors
        self.assertEqual(self.tpm("extend", "4").returncode, 2)
        self.assertEqual(self.tpm("extend", "4", "--string", "a", "--file", f).returncode, 2)
        self.assertEqual(self.tpm("extend", "4", "--file", "/nonexistent").returncode, 2)
        self.assertEqual(self.pcrs(4)[4], expect)

    def test_seal_unseal_roundtrip_and_pcr_mismatch(self):
        self.reset()
        p = self.seal("0x81004d47", "0,1,2,3,4,7", b"twenty-byte-secret!!")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.tpm("unseal", "0x81004d47", text=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"twenty-byte-secret!!")
        # unselected PCR: still fine
        self.assertEqual(self.tpm("extend", "5", "--string", "mod").returncode, 0)
        self.assertEqual(self.unseal("0x81004d47").returncode, 0)
        before = self.pcrs(7)[7]
        self.assertEqual(self.tpm("extend", "7", "--string", "cfg").returncode, 0)
        after = self.pcrs(7)[7]
        p = self.unseal("0x81004d47")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn(f"PCR 7: expected {before.hex()}, actual {after.hex()}", p.stderr)
        self.assertNotIn("PCR 4:", p.stderr)

    def test_passphrase_wrong_then_lockout(self):
        self.reset()
        p = self.seal("0x81000003", "0,1,2,3,4,5,6,7", b"k" * 128, auth="disk unlock key pass")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.tpm("unseal", "0x81000003", fds={"--auth-fd": "disk unlock key pass\n"}, text=False)
        self.assertEqual((p.returncode, p.stdout), (0, b"k" * 128))
        p = self.unseal("0x81000003")  # no passphrase given
        self.assertEqual(p.returncode, 3)
        p = self.unseal("0x81000003", "wrong")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("wrong passphrase", p.stderr)
        for _ in range(9):
            self.assertEqual(self.unseal("0x81000003", "wrong").returncode, 3)
        p = self.unseal("0x81000003", "disk unlock key pass")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("lockout", p.stderr)
        self.assertIn("3600 s", p.stderr)
        self.assertIn("lockout: yes", self.tpm("info").stdout)

    def test_lockout_names_the_wait_then_recovers(self):
        """Issue 19: a locked TPM says so with the seconds to wait (in unseal,
        counter and info), the right passphrase is refused as lockout, never
        as a wrong one, and works again once the recovery interval passed."""
        p = self.tpm("reset", "--da-max-tries", "3", "--da-recovery", "2",
                     fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 0, p.stderr)
        info = self.tpm("info").stdout
        self.assertIn("lockout: no\n", info)
        self.assertIn("max-tries: 3\n", info)
        self.assertIn("recovery-seconds: 2\n", info)
        p = self.tpm("counter", "create", fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 0, p.stderr)
        counter = p.stdout.split(":")[0]
        p = self.seal("0x81000003", "0,1,2,3,4,5,6,7", b"k" * 32, auth="disk unlock key pass")
        self.assertEqual(p.returncode, 0, p.stderr)
        for _ in range(3):
            p = self.unseal("0x81000003", "wrong")
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("wrong passphrase", p.stderr)
        p = self.unseal("0x81000003", "disk unlock key pass")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("dictionary-attack lockout", p.stderr)
        self.assertIn("next try in 2 s", p.stderr)
        self.assertNotIn("wrong passphrase", p.stderr)
        self.assertIn("lockout: yes, next try in 2 s\n", self.tpm("info").stdout)
        p = self.tpm("counter", "read", "0x" + counter)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("lockout: next try in 2 s", p.stderr)
        # independent oracle: tpm2-tools sees the same DA state
        caps = self.sw.tools("tpm2_getcap", "properties-variable")
        self.assertRegex(caps, r"inLockout:\s+1")
        time.sleep(2.5)  # one failure forgiven
        self.assertIn("lockout: no\n", self.tpm("info").stdout)
        p = self.tpm("unseal", "0x81000003", fds={"--auth-fd": "disk unlock key pass\n"},
                     text=False)
        self.assertEqual((p.returncode, p.stdout), (0, b"k" * 32), p.stderr)
        self.assertEqual(self.tpm("counter", "read", "0x" + counter).returncode, 0)

    def test_da_policy_options_only_for_reset(self):
        p = self.tpm("info", "--da-recovery", "2")
        self.assertEqual(p.returncode, 2)
        p = self.tpm("reset", "--da-max-tries", "0", fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 2)

    def test_sealed_to_predicted_value(self):
        self.reset()
        dump = self.write("luksDump.txt", "abc  /tmp/lukshdr-_dev_sda2\n")
        p = self.seal("0x81000003", "0,1,2,3,4,6,7", b"duk", auth="passphrase12",
                      extra=["--future-file", f"6={dump}", "--future", "4", "--no-eventlog"])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.tpm("predict", "6", "--no-eventlog", "--file", dump)
        with open(dump, "rb") as f:
            content = f.read()
        self.assertEqual(p.stdout.strip(), "6: " + sha256(bytes(32) + sha256(content)).hex())
        self.assertEqual(self.unseal("0x81000003", "passphrase12").returncode, 1)
        self.assertEqual(self.tpm("extend", "6", "--file", dump).returncode, 0)
        p = self.tpm("unseal", "0x81000003", fds={"--auth-fd": "passphrase12\n"}, text=False)
        self.assertEqual((p.returncode, p.stdout), (0, b"duk"), p.stderr)
        # explicit values: a wrong one makes unseal fail on that PCR only
        p = self.seal("0x81000003", "0,6", b"x", extra=["--pcr-value", "0=" + "11" * 32])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.unseal("0x81000003")
        self.assertEqual(p.returncode, 1)
        self.assertIn("PCR 0: expected " + "11" * 32, p.stderr)
        self.assertNotIn("PCR 6:", p.stderr)

    def test_outcomes_no_object_no_primary_no_tpm(self):
        self.reset()
        p = self.unseal("0x81004d47")
        self.assertEqual(p.returncode, 5)
        self.assertIn("nothing is sealed", p.stderr)
        self.assertEqual(self.tpm("evict", "0x81000000", fds={"--owner-fd": OWNER + "\n"}).returncode, 0)
        p = self.seal("0x81004d47", "0", b"x")
        self.assertEqual(p.returncode, 7, p.stderr)
        p = self.unseal("0x81004d47")
        self.assertEqual(p.returncode, 7)
        self.assertIn("must be reset", p.stderr)
        p = run("tpm", "unseal", "0x81004d47", "--tcti", "swtpm:host=127.0.0.1,port=1",
                env={"TSS2_LOG": "all+NONE"})
        self.assertEqual(p.returncode, 6)
        # wrong owner passphrase
        self.reset()
        p = self.tpm("seal", "0x81004d47", "--pcrs", "0", input=b"x".decode(),
                     fds={"--owner-fd": "not the owner\n"})
        self.assertEqual(p.returncode, 3, p.stderr)
        # usage
        self.assertEqual(self.tpm("seal", "0x81004d47").returncode, 2)
        self.assertEqual(self.tpm("seal", "0x01000000", "--pcrs", "0").returncode, 2)
        self.assertEqual(self.seal("0x81004d47", "0", b"x" * 129).returncode, 2)

    def test_counter_strictly_increases_across_restart(self):
        self.reset()
        p = self.tpm("counter", "create", fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.match(r"^(1[0-9a-f]{6}): ([0-9a-f]{16})\n$", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        idx, v0 = "0x" + m.group(1), int(m.group(2), 16)
        p = self.tpm("counter", "increment", idx)
        self.assertEqual(p.returncode, 0, p.stderr)
        v1 = int(p.stdout.split(": ")[1], 16)
        self.assertGreater(v1, v0)
        self.sw.restart()
        p = self.tpm("counter", "read", idx)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreaterEqual(int(p.stdout.split(": ")[1], 16), v1)
        p = self.tpm("counter", "increment", idx)
        self.assertGreater(int(p.stdout.split(": ")[1], 16), v1)
        self.assertEqual(self.tpm("counter", "read", "0x01ffff00").returncode, 5)
        self.assertEqual(self.tpm("counter", "read", "0x81000000").returncode, 2)

    def test_nv_define_write_read_undefine(self):
        self.reset()
        own = {"--owner-fd": OWNER + "\n"}
        p = self.tpm("nv", "define", "0x01500002", "--size", "600", fds=own)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.tpm("nv", "info", "0x01500002")
        self.assertIn("size: 600\n", p.stdout)
        attrs = int(re.search(r"attributes: 0x([0-9a-f]{8})", p.stdout).group(1), 16)
        self.assertTrue(attrs & 0x2)         # TPMA_NV_OWNERWRITE
        self.assertTrue(attrs & 0x02000000)  # TPMA_NV_NO_DA
        data = bytes(range(256)) * 2 + b"\x00" * 88
        p = self.tpm("nv", "write", "0x01500002", input=data, text=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.tpm("nv", "read", "0x01500002", text=False)
        self.assertEqual((p.returncode, p.stdout), (0, data))
        self.assertEqual(self.tpm("nv", "define", "0x01500002", "--size", "8", fds=own).returncode, 8)
        self.assertEqual(self.tpm("nv", "undefine", "0x01500002",
                                  fds={"--owner-fd": "wrong\n"}).returncode, 3)
        self.assertEqual(self.tpm("nv", "undefine", "0x01500002", fds=own).returncode, 0)
        self.assertEqual(self.tpm("nv", "read", "0x01500002").returncode, 5)
        self.assertEqual(self.tpm("nv", "define", "0x01500002", fds=own).returncode, 2)

    def test_eventlog_lists_and_compares(self):
        p = self.tpm("eventlog", "--file", LOG, "--no-compare")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("crypto-agile", p.stdout)
        with open(LOG_PCRS) as f:
            for line in f:
                n, v = line.strip().split(": ")
                if v != "00" * 32:
                    self.assertIn(f"PCR {n}: replay {v}\n", p.stdout)
        self.assertIn("EV_SEPARATOR", p.stdout)
        # this swtpm did not boot with that firmware: replay differs
        p = self.tpm("eventlog", "--file", LOG)
        self.assertEqual(p.returncode, 1)
        self.assertIn("differs from the live value", p.stdout)
        bad = self.write("bad.bin", b"\x00" * 40, mode="wb")
        self.assertEqual(self.tpm("eventlog", "--file", bad).returncode, 2)
        # predict = firmware replay + extra measurements
        with open(LOG_PCRS) as f:
            v4 = [line.split(": ")[1] for line in f if line.startswith("4: ")][0]
        p = self.tpm("predict", "4", "--eventlog", LOG, "--string", "usb")
        self.assertEqual(p.stdout, "4: " + sha256(bytes.fromhex(v4.strip()) + sha256(b"usb")).hex() + "\n")

    def test_finalize_locks_platform_and_shutdown(self):
        # never-owned TPM, platform locked: reset falls back to the (empty)
        # lockout authorization
        self.assertEqual(self.tpm("finalize").returncode, 0)
        self.reset()
        self.assertEqual(self.seal("0x81004d47", "0", b"x").returncode, 0)
        # owned now (random lockout auth), platform still locked: a second
        # finalize finds an authorization it does not know, which is what
        # it would set (locked: 0), and reset is refused
        p = self.tpm("finalize")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("already has an authorization we do not know", p.stderr)
        p = self.tpm("reset", fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("lockout authorization is not empty", p.stderr)
        p = self.tpm("unseal", "0x81004d47", text=False)
        self.assertEqual((p.returncode, p.stdout), (0, b"x"))  # nothing was cleared
        self.assertEqual(self.tpm("shutdown").returncode, 0)


if __name__ == "__main__":
    main()
