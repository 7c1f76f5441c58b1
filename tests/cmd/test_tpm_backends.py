"""One test list, two backends (issue 19): every `heads tpm` operation that
exists on both TPM versions, run against swtpm TPM 2.0 and swtpm TPM 1.2
(suite 'tpm'). The TPM 1.2 runs go through our own client (tpm12-swtpm:
TCTI, no TrouSerS); the TPM is owned by `heads tpm reset` (TakeOwnership).

Oracles: hashlib replays the PCR arithmetic in the bank's hash (SHA-1 on
1.2, SHA-256 on 2.0) independently of the TPM; tpm2-tools reads the TPM 2.0
DA state.
"""
import hashlib
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import tty

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import Swtpm, TempDirTest, main, run  # noqa: E402

OWNER = "owner passphrase 1"
DUK_PASS = "disk unlock key pass"


class Backend:
    TPM12 = False

    def setUp(self):
        super().setUp()
        self.sw = Swtpm(os.path.join(self.tmp, "state"), tpm12=self.TPM12)
        self.trace = os.path.join(self.tmp, "trace.log")
        self.h = hashlib.sha1 if self.TPM12 else hashlib.sha256
        self.bank = "sha1" if self.TPM12 else "sha256"
        self.dlen = 20 if self.TPM12 else 32

    def tpm(self, *args, input=None, fds=None, binary=False):
        argv = ["tpm", *args]
        pass_fds, to_close = [], []
        for opt, data in (fds or {}).items():
            r, w = os.pipe()
            os.write(w, data.encode())
            os.close(w)
            argv += [opt, str(r)]
            pass_fds.append(r)
            to_close.append(r)
        env = dict(os.environ, HEADS_TCTI=self.sw.tcti, HEADS_MEASURE_TRACE=self.trace,
                   TSS2_LOG="all+NONE")
        try:
            return subprocess.run([os.environ.get("HEADS", "heads"), *argv], input=input,
                                  capture_output=True, text=not binary, env=env,
                                  pass_fds=pass_fds, timeout=120)
        finally:
            for fd in to_close:
                os.close(fd)

    def tearDown(self):
        # before TempDirTest removes the TPM state directory
        try:
            if self.sw.proc:
                self.assert_no_handles()
        finally:
            self.sw.stop()
            super().tearDown()

    def assert_no_handles(self):
        """Nothing left loaded: sessions (OIAP/OSAP on 1.2, failed commands
        included) and transient objects."""
        p = self.tpm("info")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("transient-handles: 0\nloaded-sessions: 0\n", p.stdout)

    def reset(self, *extra):
        p = self.tpm("reset", *extra, fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 0, p.stderr)

    def pcr(self, n):
        p = self.tpm("pcrread", str(n))
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.fullmatch(r"%d: ([0-9a-f]{%d})\n" % (n, 2 * self.dlen), p.stdout)
        self.assertIsNotNone(m, p.stdout)
        return bytes.fromhex(m.group(1))

    def seal(self, handle, pcrs, data, auth=None, owner=OWNER):
        fds = {"--owner-fd": owner + "\n"}
        if auth is not None:
            fds["--auth-fd"] = auth + "\n"
        return self.tpm("seal", handle, "--pcrs", pcrs, input=data, fds=fds, binary=True)

    def unseal(self, handle, auth=None):
        return self.tpm("unseal", handle, fds={"--auth-fd": auth + "\n"} if auth else None,
                        binary=True)

    # --- the list ----------------------------------------------------------
    def test_info_names_version_manufacturer_lockout(self):
        p = self.tpm("info")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "TPM 1.2" if self.TPM12 else "TPM 2.0")
        self.assertRegex(lines[1], r"^manufacturer: .{4}$")
        self.assertEqual(lines[2], "lockout: no")
        # which subcommands this version has: every one of the usage is in
        # exactly one of the two lists, and the help's table has a row for it
        cmds = dict(l.split(":", 1) for l in lines if l.startswith(("commands:",
                                                                     "not-on-this-tpm:")))
        have, lack = cmds["commands"].split(), cmds["not-on-this-tpm"].split()
        h = run("tpm", "--help")
        helptext = h.stdout + h.stderr
        usage = set(re.findall(r"heads tpm ([a-z0-9-]+)", helptext))
        usage |= set(re.findall(r"^ +heads tpm info(?: \| ([a-z]+))(?: \| ([a-z]+))$",
                                helptext, re.M)[0])
        self.assertEqual(set(have) | set(lack), usage)
        self.assertFalse(set(have) & set(lack))
        table = helptext.split("Which command exists for which version")[1]
        rows = set(w for l in table.splitlines() if l.startswith("  ") for w in
                   l[2:14].split())
        self.assertEqual(rows - {"command"}, usage)
        self.assertEqual(lack, ["predict-pcr2", "coreboot-log"] if self.TPM12 else [])
        self.assertIn("seal", have)

    def test_pcr_extend_matches_independent_replay(self):
        start = self.pcr(16)
        f = self.write("measured", "file content\n")
        self.assertEqual(self.tpm("extend", "16", "--string", "usb").returncode, 0)
        self.assertEqual(self.tpm("extend", "16", "--file", f).returncode, 0)
        expect = start
        for m in (b"usb", b"file content\n"):
            expect = self.h(expect + self.h(m).digest()).digest()
        self.assertEqual(self.pcr(16), expect)
        with open(self.trace) as t:
            trace = t.read().splitlines()
        self.assertEqual(trace[-2].split("\t")[1:4],
                         ["16", self.bank, self.h(b"usb").hexdigest()])
        # the other bank: absent on a TPM 1.2, readable on a TPM 2.0
        other = "sha256" if self.TPM12 else "sha1"
        p = self.tpm("pcrread", "16", "--bank", other)
        self.assertEqual(p.returncode, 2 if self.TPM12 else 0, p.stderr)

    def test_seal_unseal_and_pcr_mismatch(self):
        self.reset()
        pcr7 = self.pcr(7)
        p = self.seal("0x81004d47", "0,1,2,3,4,7", b"twenty-byte-secret!!")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.unseal("0x81004d47")
        self.assertEqual((p.returncode, p.stdout), (0, b"twenty-byte-secret!!"), p.stderr)
        self.assertEqual(self.tpm("extend", "5", "--string", "mod").returncode, 0)
        self.assertEqual(self.unseal("0x81004d47").returncode, 0)  # PCR 5 not sealed
        self.assertEqual(self.tpm("extend", "7", "--string", "cfg").returncode, 0)
        p = self.unseal("0x81004d47")
        self.assertEqual((p.returncode, p.stdout), (1, b""))
        self.assertIn(b"PCR values differ from those sealed", p.stderr)
        # the seal record names the PCR that moved, in the bank's width
        # (TPM 1.2: SHA-1 values in NV next to the blob)
        now = self.h(pcr7 + self.h(b"cfg").digest()).digest()
        self.assertIn(("  PCR 7: expected %s, actual %s\n" % (pcr7.hex(), now.hex())).encode(),
                      p.stderr)
        self.assertNotIn(b"PCR 0:", p.stderr)

    def test_seal_record_layout(self):
        """The record next to a sealed secret (NV 0x0148XXXX, 0x0048XXXX on
        a TPM 1.2): "HSR1", the
        PCR mask, the passphrase flag, then the sealed values in the bank's
        width; the report names every PCR of it that moved."""
        self.reset()
        self.assertEqual(self.seal("0x81004d47", "0,4", b"b").returncode, 0)
        rec_idx = "0x00484d47" if self.TPM12 else "0x01484d47"
        p = self.tpm("nv", "read", rec_idx, binary=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        rec = p.stdout
        self.assertEqual(rec[:9], b"HSR1\0\0\0\x11\0")
        self.assertEqual(rec[9:], self.pcr(0) + self.pcr(4))
        self.assertEqual(self.tpm("extend", "0", "--string", "x").returncode, 0)
        self.assertEqual(self.tpm("extend", "4", "--string", "y").returncode, 0)
        p = self.unseal("0x81004d47")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"  PCR 0: expected %s, actual %s\n" % (rec[9:9 + self.dlen].hex().encode(),
                                                           self.pcr(0).hex().encode()), p.stderr)
        self.assertIn(b"  PCR 4: expected ", p.stderr)
        # evict takes the record with it
        self.assertEqual(self.tpm("evict", "0x81004d47",
                                  fds={"--owner-fd": OWNER + "\n"}).returncode, 0)
        self.assertEqual(self.tpm("nv", "read", rec_idx).returncode, 5)

    def test_passphrase_and_owner(self):
        self.reset()
        p = self.seal("0x81000003", "0,1,2,3,4,5,6,7", b"k" * 128, auth=DUK_PASS,
                      owner="not the owner")
        self.assertEqual(p.returncode, 3, p.stderr)
        p = self.seal("0x81000003", "0,1,2,3,4,5,6,7", b"k" * 128, auth=DUK_PASS)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.unseal("0x81000003", DUK_PASS)
        self.assertEqual((p.returncode, p.stdout), (0, b"k" * 128), p.stderr)
        p = self.unseal("0x81000003", "wrong")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(b"wrong passphrase", p.stderr)
        p = self.unseal("0x81000003")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(self.tpm("evict", "0x81000003",
                                  fds={"--owner-fd": OWNER + "\n"}).returncode, 0)
        self.assertEqual(self.unseal("0x81000003", DUK_PASS).returncode, 5)

    def test_counter(self):
        self.reset()
        p = self.tpm("counter", "create", fds={"--owner-fd": OWNER + "\n"})
        self.assertEqual(p.returncode, 0, p.stderr)
        cid, v = p.stdout.strip().split(": ")
        p = self.tpm("counter", "increment", "0x" + cid)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "%s: %016x" % (cid, int(v, 16) + 1))
        p = self.tpm("counter", "read", "0x" + cid)
        self.assertEqual(p.stdout.strip(), "%s: %016x" % (cid, int(v, 16) + 1))

    def test_nv(self):
        self.reset()
        idx = "0x4d48" if self.TPM12 else "0x01234567"
        o = {"--owner-fd": OWNER + "\n"}
        self.assertEqual(self.tpm("nv", "define", idx, "--size", "8", fds=o).returncode, 0)
        p = self.tpm("nv", "write", idx, input="12345678", fds=o)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.tpm("nv", "read", idx)
        self.assertEqual((p.returncode, p.stdout), (0, "12345678"), p.stderr)
        self.assertIn("size: 8", self.tpm("nv", "info", idx).stdout)
        self.assertEqual(self.tpm("nv", "undefine", idx, fds=o).returncode, 0)
        self.assertEqual(self.tpm("nv", "read", idx).returncode, 5)

    def test_totp_codes_match_oathtool(self):
        """heads totp seal|show on both (TPM 2.0: TPM2_HMAC object; TPM 1.2:
        unsealed into a locked buffer, HMAC in software), oathtool as oracle;
        a moved PCR 7 stops the codes."""
        self.reset()
        env = {"HEADS_TCTI": self.sw.tcti, "TSS2_LOG": "all+NONE"}
        r, w = os.pipe()
        os.write(w, (OWNER + "\n").encode())
        os.close(w)
        try:
            p = run("totp", "seal", "--label", "t", "--config", "/dev/null",
                    "--eventlog", os.path.join(self.tmp, "no-log"), "--owner-fd", str(r),
                    env=env, pass_fds=(r,))
        finally:
            os.close(r)
        self.assertEqual(p.returncode, 0, p.stderr)
        b32 = re.search(r"^Secret \(base32\): ([A-Z2-7]{32})$", p.stdout, re.M).group(1)
        p = run("totp", "show", "--config", "/dev/null", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC TOTP: (\d{6})$", p.stdout.strip())
        self.assertIsNotNone(m, p.stdout)
        o = subprocess.run(["oathtool", "--totp", "-b", "-N", m.group(1) + " UTC", b32],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(m.group(2), o.stdout.strip())
        self.assertEqual(self.tpm("extend", "7", "--string", "x").returncode, 0)
        p = run("totp", "show", "--config", "/dev/null", env=env)
        self.assertEqual(p.returncode, 1, p.stdout)
        # the seal record names the PCR that moved (TPM 1.2: the record next
        # to the blob, checked against its digestAtRelease)
        self.assertIn("PCR 7 moved", p.stderr)

    def test_lockout_names_the_wait(self):
        """Wrong passphrases until the TPM locks: the right one is then
        refused as lockout with the seconds to wait (unseal and info agree),
        and works once that time has passed."""
        self.reset(*([] if self.TPM12 else ["--da-max-tries", "3", "--da-recovery", "4"]))
        p = self.seal("0x81000003", "0,1,2,3,4,5,6,7", b"k" * 32, auth=DUK_PASS)
        self.assertEqual(p.returncode, 0, p.stderr)
        # A TPM 1.2 (libtpms) locks for 1 s after its 6th failure, then 2,
        # 4, ... s: fail until the lock is long enough to observe (>= 4 s,
        # for slow sanitizer builds).
        for _ in range(40):
            p = self.unseal("0x81000003", "wrong")
            if p.returncode == 4:
                m = re.search(rb"next try in (\d+) s", p.stderr)
                self.assertIsNotNone(m, p.stderr)
                if int(m.group(1)) >= 4:
                    break
                time.sleep(int(m.group(1)) + 0.2)
                continue
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn(b"wrong passphrase", p.stderr)
        self.assertEqual(p.returncode, 4, p.stderr)
        p = self.unseal("0x81000003", DUK_PASS)
        self.assertEqual(p.returncode, 4, p.stderr)
        m = re.search(rb"dictionary-attack lockout.*: next try in (\d+) s", p.stderr)
        self.assertIsNotNone(m, p.stderr)
        wait = int(m.group(1))
        self.assertGreater(wait, 0)
        # owner authorization is DA-protected too: refused as lockout
        p = self.seal("0x81004d47", "0,7", b"x")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn(b"lockout: next try in", p.stderr)
        info = self.tpm("info").stdout
        m = re.search(r"lockout: yes, next try in (\d+) s\n", info)
        self.assertIsNotNone(m, info)
        self.assertLessEqual(int(m.group(1)), wait)
        self.assertLessEqual(wait, 120, "a test cannot wait that long")
        time.sleep(wait + 0.5)
        p = self.unseal("0x81000003", DUK_PASS)
        self.assertEqual((p.returncode, p.stdout), (0, b"k" * 32), p.stderr)


class Tpm20(Backend, TempDirTest):
    TPM12 = False


class Tpm12(Backend, TempDirTest):
    TPM12 = True

    def test_predict_from_tcpa_log_matches_sha1_replay(self):
        """A TCPA (TPM 1.2, SHA-1) firmware log: `heads tpm predict` equals
        a replay written here from the TCG 1.2 event layout (pcrIndex,
        eventType, digest[20], eventSize, event; little-endian)."""
        src = os.environ.get("HEADS_SRCDIR",
                             os.path.join(os.path.dirname(__file__), "..", ".."))
        log = os.path.join(src, "tests/data/eventlog/tcpa-sha1.bin")
        with open(log, "rb") as f:
            b = f.read()
        pcrs, o = {}, 0
        while o + 32 <= len(b):
            pcr, _typ = struct.unpack_from("<II", b, o)
            n = struct.unpack_from("<I", b, o + 28)[0]
            pcrs[pcr] = hashlib.sha1(pcrs.get(pcr, bytes(20)) + b[o + 8:o + 28]).digest()
            o += 32 + n
        self.assertEqual(o, len(b))
        self.assertGreaterEqual(len(pcrs), 2)
        for pcr, want in pcrs.items():
            p = self.tpm("predict", str(pcr), "--eventlog", log)
            self.assertEqual(p.stdout.strip(), f"{pcr}: {want.hex()}", p.stderr)
        # plus a measurement, as calcfuturepcr 4 <file>
        f = self.write("m", "x")
        p = self.tpm("predict", "4", "--eventlog", log, "--file", f)
        want = hashlib.sha1(pcrs[4] + hashlib.sha1(b"x").digest()).hexdigest()
        self.assertEqual(p.stdout.strip(), "4: " + want)

    def test_device_transport(self):
        """tpm12-device:PATH (what /dev/tpm0 is on a board): one write per
        command, one read per response. A raw pty stands in for the device,
        relayed here to the swtpm command port."""
        start = self.pcr(16)  # before the relay holds swtpm's one connection
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)
        sock = socket.create_connection(("127.0.0.1", self.sw.port))
        done = threading.Event()

        def relay():
            try:
                while not done.is_set():
                    r, _, _ = select.select([master], [], [], 0.1)
                    if not r:
                        continue
                    cmd = os.read(master, 4096)
                    while len(cmd) < 6 or len(cmd) < struct.unpack(">I", cmd[2:6])[0]:
                        cmd += os.read(master, 4096)
                    sock.sendall(cmd)
                    rsp = sock.recv(10)
                    while len(rsp) < 10:
                        rsp += sock.recv(10 - len(rsp))
                    n = struct.unpack(">I", rsp[2:6])[0]
                    while len(rsp) < n:
                        rsp += sock.recv(n - len(rsp))
                    os.write(master, rsp)
            except OSError:
                pass

        th = threading.Thread(target=relay, daemon=True)
        th.start()
        try:
            tcti = "tpm12-device:" + path
            p = self.tpm("extend", "16", "--string", "dev", "--tcti", tcti)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = self.tpm("pcrread", "16", "--tcti", tcti)
            want = hashlib.sha1(start + hashlib.sha1(b"dev").digest()).hexdigest()
            self.assertEqual(p.stdout, f"16: {want}\n", p.stderr)
            p = self.tpm("info", "--tcti", tcti)
            self.assertTrue(p.stdout.startswith("TPM 1.2\n"), p.stdout + p.stderr)
        finally:
            done.set()
            th.join(5)
            sock.close()
            os.close(master)
            os.close(slave)

    def test_forged_record_refused(self):
        """The owner-written record is believed only if the blob was sealed
        to exactly its values (SHA-1 of their TPM_PCR_COMPOSITE equals the
        blob's digestAtRelease): one rewritten with another PCR 7 value is
        refused, and no "expected" value from it is shown."""
        self.reset()
        o = {"--owner-fd": OWNER + "\n"}
        self.assertEqual(self.seal("0x81000003", "0,7", b"a", auth=DUK_PASS).returncode, 0)
        idx = "0x00480003"
        rec = self.tpm("nv", "read", idx, binary=True).stdout
        self.assertEqual(len(rec), 9 + 40)
        forged = rec[:29] + hashlib.sha1(b"forged").digest()
        self.assertEqual(self.tpm("nv", "undefine", idx, fds=o).returncode, 0)
        self.assertEqual(self.tpm("nv", "define", idx, "--size", "49", fds=o).returncode, 0)
        p = self.tpm("nv", "write", idx, input=forged, fds=o, binary=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.tpm("extend", "7", "--string", "x").returncode, 0)
        p = self.unseal("0x81000003", DUK_PASS)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"does not match its sealed blob", p.stderr)
        self.assertNotIn(b"PCR 7: expected", p.stderr)

    def test_operations_not_on_tpm12_say_so(self):
        """`heads tpm --help` lists what a TPM 1.2 lacks; each says so."""
        self.reset()
        p = self.tpm("eventlog", "--file", self.write("empty.log", ""))
        self.assertNotEqual(p.returncode, 0)
        p = self.seal("0x81004d47", "0,7", b"x")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.tpm("seal", "0x81004d47", "--pcrs", "0,4", "--pcr-value", "4=" + "00" * 32,
                     input=b"x",
                     fds={"--owner-fd": OWNER + "\n"}, binary=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"TPM 1.2", p.stderr)
        h = run("tpm", "--help")
        self.assertIn("Which command exists for which version", h.stdout + h.stderr)
        self.assertIn("no --pcr-value", h.stdout + h.stderr)


if __name__ == "__main__":
    main()
