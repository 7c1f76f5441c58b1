"""heads totp seal|show|wipe and heads hotp code against a private swtpm.

Oracles: oathtool (liboath) for the codes, zbarimg (zbar-tools) for the QR
code as the terminal shows it, tpm2-tools for extends and handle listings.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import Swtpm, TempDirTest, free_port_pair, main, run  # noqa: E402

OWNER = "owner passphrase 1"
SHOW_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC TOTP: (\d{6})\n$")
QUIET = {"TSS2_LOG": "all+NONE"}


def oathtool(*args):
    r = subprocess.run(["oathtool", *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"oathtool {args}: {r.stderr}")
    return r.stdout.strip()


def qr_lines(stdout):
    lines = stdout.splitlines()
    start = lines.index("Scan this QR code with your TOTP app:") + 1
    end = next(i for i, l in enumerate(lines) if l.startswith("Secret (base32): "))
    return lines[start:end]


def terminal_to_pgm(lines, path, bg=4, scale=4):
    """Render half-block text as a light-on-dark console shows it: a glyph's
    half is light, a space and everything around the text is dark."""
    halves = {" ": (0, 0), "\u2588": (1, 1), "\u2580": (1, 0), "\u2584": (0, 1)}
    width = max(len(l) for l in lines)
    rows = []
    for l in lines:
        top, bot = [], []
        for ch in l.ljust(width):
            t, b = halves[ch]
            top.append(t)
            bot.append(b)
        rows += [top, bot]
    h, w = len(rows) + 2 * bg, width + 2 * bg
    img = [[0] * w for _ in range(h)]
    for y, row in enumerate(rows):
        for x, v in enumerate(row):
            img[y + bg][x + bg] = v
    data = bytearray()
    for row in img:
        line = bytearray()
        for v in row:
            line += bytes([255 if v else 0]) * scale
        data += bytes(line) * scale
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (w * scale, h * scale))
        f.write(data)


class Totp(TempDirTest):
    def setUp(self):
        super().setUp()
        os.mkdir(os.path.join(self.tmp, "state"))
        self.tpm = Swtpm(os.path.join(self.tmp, "state"))
        self.addCleanup(self.tpm.stop)

    # --- helpers
    def heads(self, *args, owner=None, input=None):
        fds = ()
        env = dict(QUIET, HEADS_TCTI=self.tpm.tcti)
        if owner is not None:
            rfd, wfd = os.pipe()
            os.write(wfd, owner.encode() + b"\n")
            os.close(wfd)
            args = [*args, "--owner-fd", str(rfd)]
            fds = (rfd,)
        try:
            return run(*args, input=input, env=env, pass_fds=fds)
        finally:
            for fd in fds:
                os.close(fd)

    def take_ownership(self):
        """The TPM core's `heads tpm reset`; until that exists, tpm2-tools
        (test setup only): ECC primary persisted at 0x81000000, owner auth."""
        r = self.heads("tpm", "reset", owner=OWNER)
        if r.returncode == 0:
            return
        ctx = os.path.join(self.tmp, "primary.ctx")
        self.tpm.tools("tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc",
                       "-c", ctx)
        self.tpm.tools("tpm2_evictcontrol", "-Q", "-C", "o", "-c", ctx, "0x81000000")
        self.tpm.tools("tpm2_flushcontext", "-t")
        self.tpm.tools("tpm2_changeauth", "-c", "o", OWNER)

    def seal(self, label="qemu-tpm2"):
        r = self.heads("totp", "seal", "--label", label, "--config", "/dev/null",
                       owner=OWNER)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"^Secret \(base32\): ([A-Z2-7]{32})$", r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout)
        return m.group(1), r

    def show(self):
        return self.heads("totp", "show", "--config", "/dev/null")

    def assert_code_matches(self, b32):
        r = self.show()
        self.assertEqual(r.returncode, 0, r.stderr)
        m = SHOW_RE.match(r.stdout)
        self.assertIsNotNone(m, repr(r.stdout))
        self.assertEqual(m.group(2), oathtool("--totp", "-b", "-N", m.group(1) + " UTC", b32))

    def assert_no_leaks(self):
        for cap in ("handles-transient", "handles-loaded-session"):
            self.assertEqual(self.tpm.tools("tpm2_getcap", cap).strip(), "", cap)

    def extend(self, pcr):
        self.tpm.tools("tpm2_pcrextend", f"{pcr}:sha256=" + "ab" * 32)

    # --- tests
    def test_seal_show_equals_oathtool(self):
        self.take_ownership()
        b32, _ = self.seal()
        for _ in range(3):
            self.assert_code_matches(b32)
        self.assert_no_leaks()

    def test_qr_on_terminal_decodes_to_uri(self):
        self.take_ownership()
        b32, r = self.seal(label="qemu-coreboot-fbwhiptail-tpm2")
        pgm = os.path.join(self.tmp, "term.pgm")
        terminal_to_pgm(qr_lines(r.stdout), pgm)
        z = subprocess.run(["zbarimg", "--raw", "-q", pgm], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(z.returncode, 0, z.stderr)
        self.assertEqual(z.stdout.strip(),
                         f"otpauth://totp/qemu-coreboot-fbwhiptail-tpm2?secret={b32}")

    def test_show_live_redraws_until_enter(self):
        self.take_ownership()
        b32, _ = self.seal()
        env = dict(os.environ, HEADS_TCTI=self.tpm.tcti, **QUIET)
        p = subprocess.Popen([os.environ.get("HEADS", "heads"), "totp", "show", "--live",
                              "--config", "/dev/null"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(2.5)
        self.assertIsNone(p.poll(), "live mode ended before a key was pressed")
        out, err = p.communicate("\n", timeout=30)
        self.assertEqual(p.returncode, 0, err)
        frames = re.findall(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\] \| TOTP code: (\d{6}) \| "
                            r"Press Enter to continue\.\.\.", out)
        self.assertGreaterEqual(len(frames), 2, out)
        self.assertGreaterEqual(len({t for t, _ in frames}), 2, "the clock did not advance")
        for t, code in frames:
            self.assertEqual(code, oathtool("--totp", "-b", "-N", t + " UTC", b32))

    def test_reseal_gives_new_secret(self):
        self.take_ownership()
        a, _ = self.seal()
        b, _ = self.seal()
        self.assertNotEqual(a, b)
        self.assert_code_matches(b)

    def test_extend_outside_policy_keeps_code(self):
        self.take_ownership()
        b32, _ = self.seal()
        self.extend(16)
        self.extend(8)
        self.extend(5)
        self.assert_code_matches(b32)

    def test_extend_inside_policy_breaks_and_names_pcr(self):
        self.take_ownership()
        self.seal()
        self.extend(7)
        r = self.show()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("PCR 7 moved", r.stderr)
        self.assertNotIn("PCR 4 moved", r.stderr)
        self.assert_no_leaks()

    def test_boot_mode_pcr4_breaks(self):
        self.take_ownership()
        self.seal()
        self.tpm.tools("tpm2_pcrextend", "4:sha256=" + "cd" * 32)
        r = self.show()
        self.assertEqual(r.returncode, 1)
        self.assertIn("PCR 4 moved", r.stderr)

    def replay_pcr4_of_log(self, log):
        """Extend swtpm's PCR 4 with the log's PCR 4 sha256 digests (parsed by
        tpm2-tools, an independent parser): the firmware-only value."""
        y = subprocess.run(["tpm2_eventlog", log], capture_output=True, text=True,
                           timeout=60).stdout
        n = 0
        for ev in y.split("- EventNum:")[1:]:
            if not re.search(r"^\s+PCRIndex: 4$", ev, re.M):
                continue
            d = re.search(r"AlgorithmId: sha256\n\s+Digest: \"([0-9a-f]{64})\"", ev).group(1)
            self.tpm.tools("tpm2_pcrextend", f"4:sha256={d}")
            n += 1
        self.assertGreater(n, 0)

    def test_pcr4_predicted_from_event_log(self):
        self.take_ownership()
        log = os.path.join(os.environ["HEADS_SRCDIR"], "tests/data/eventlog/qemu-ovmf-swtpm.bin")
        firmware_pcr4 = "b712ed89cac65a21182c460804bbac44861bc3cb30ed5a3f2179ffc21d75ce20"
        # Sealed now (PCR 4 still zero here): the policy uses the prediction,
        # so no code until PCR 4 reaches the firmware value.
        r = self.heads("totp", "seal", "--eventlog", log, "--config", "/dev/null", owner=OWNER)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no code in this boot", r.stderr)
        b32 = re.search(r"Secret \(base32\): (\S+)", r.stdout).group(1)
        r = self.show()
        self.assertEqual(r.returncode, 1)
        self.assertIn("PCR 4 moved (sealed b712ed89cac65a21..., now 0000000000000000...)", r.stderr)
        self.replay_pcr4_of_log(log)
        self.assertIn(firmware_pcr4, self.tpm.tools("tpm2_pcrread", "sha256:4").replace("0x", "").lower())
        self.assert_code_matches(b32)
        # Heads' own boot-mode extension (recovery) then breaks it.
        self.tpm.tools("tpm2_pcrextend", "4:sha256=" + "ef" * 32)
        r = self.show()
        self.assertEqual(r.returncode, 1)
        self.assertIn("PCR 4 moved (sealed b712ed89", r.stderr)

    def test_pcr4_without_event_log_is_zero(self):
        self.take_ownership()
        self.tpm.tools("tpm2_pcrextend", "4:sha256=" + "ef" * 32)  # e.g. already in recovery
        r = self.heads("totp", "seal", "--eventlog", os.path.join(self.tmp, "none"),
                       "--config", "/dev/null", owner=OWNER)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.show()
        self.assertEqual(r.returncode, 1)
        self.assertIn("PCR 4 moved (sealed 0000000000000000...", r.stderr)

    def test_malformed_event_log_refused(self):
        self.take_ownership()
        bad = self.write("bad.bin", "not an event log at all" * 10)
        r = self.heads("totp", "seal", "--eventlog", bad, "--config", "/dev/null", owner=OWNER)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.bin", r.stderr)
        self.assertNotIn("Secret", r.stdout)

    def test_custom_pcr_list(self):
        self.take_ownership()
        r = self.heads("totp", "seal", "--pcrs", "0,2", "--config", "/dev/null",
                       owner=OWNER)
        self.assertEqual(r.returncode, 0, r.stderr)
        b32 = re.search(r"Secret \(base32\): (\S+)", r.stdout).group(1)
        self.extend(7)  # outside this policy
        r = self.heads("totp", "show", "--pcrs", "0,2", "--config", "/dev/null")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = SHOW_RE.match(r.stdout)
        self.assertEqual(m.group(2), oathtool("--totp", "-b", "-N", m.group(1) + " UTC", b32))
        # Without --pcrs the sealed list (from the TPM record) wins over the
        # default 0,1,2,3,4,7.
        self.assert_code_matches(b32)
        self.write("boot/kexec_hotp_counter", "3\n")
        r = self.heads("hotp", "code", "--boot", os.path.join(self.tmp, "boot"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, oathtool("-b", "-c", "3", b32) + "\n")
        # An explicit list that differs from the sealed one fails closed.
        r = self.heads("totp", "show", "--pcrs", "0,1,2", "--config", "/dev/null")
        self.assertEqual(r.returncode, 1)
        self.assertIn("the PCR list 0,1,2 is not the one the object was sealed with (0,2)",
                      r.stderr)

    def test_hotp_code_advances_counter(self):
        self.take_ownership()
        b32, _ = self.seal()
        boot = os.path.join(self.tmp, "boot")
        counter = self.write("boot/kexec_hotp_counter", "5\n")
        for n in (5, 6, 7):
            r = self.heads("hotp", "code", "--boot", boot)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, oathtool("-b", "-c", str(n), b32) + "\n")
            with open(counter) as f:
                self.assertEqual(f.read(), f"{n + 1}\n")
        self.assert_no_leaks()

    def test_hotp_bad_counter_files(self):
        self.take_ownership()
        self.seal()
        boot = os.path.join(self.tmp, "boot")
        os.mkdir(boot)
        r = self.heads("hotp", "code", "--boot", boot)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no HOTP counter", r.stderr)
        for content, msg in (("", "empty"), ("12 apples\n", "malformed")):
            path = self.write("boot/kexec_hotp_counter", content)
            r = self.heads("hotp", "code", "--boot", boot)
            self.assertEqual(r.returncode, 1)
            self.assertIn(msg, r.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), content)

    def test_hotp_pcr_moved_keeps_counter(self):
        self.take_ownership()
        self.seal()
        counter = self.write("boot/kexec_hotp_counter", "9\n")
        self.extend(2)
        r = self.heads("hotp", "code", "--boot", os.path.dirname(counter))
        self.assertEqual(r.returncode, 1)
        self.assertIn("PCR 2 moved", r.stderr)
        with open(counter) as f:
            self.assertEqual(f.read(), "9\n")

    def test_wipe_removes_object(self):
        self.take_ownership()
        self.seal()
        persistent = self.tpm.tools("tpm2_getcap", "handles-persistent")
        self.assertIn("0x81004D47", persistent)
        r = self.heads("totp", "wipe", owner=OWNER)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("0x81004D47", self.tpm.tools("tpm2_getcap", "handles-persistent"))
        self.assertIn("0x81000000", self.tpm.tools("tpm2_getcap", "handles-persistent"))
        self.assertNotIn("0x1504D47", self.tpm.tools("tpm2_getcap", "handles-nv-index"))
        r = self.show()
        self.assertEqual(r.returncode, 1)
        self.assertIn("not sealed", r.stderr)
        r = self.heads("totp", "wipe", owner=OWNER)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not sealed", r.stderr)

    def test_owner_passphrase_prompt_on_terminal(self):
        import pty
        self.take_ownership()
        self.seal()
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(QUIET, HEADS_TCTI=self.tpm.tcti)
            os.execv(os.environ.get("HEADS", "heads"), ["heads", "totp", "wipe"])
        import select
        import termios

        def read_until(pred, timeout=60):
            buf = b""
            deadline = time.time() + timeout
            while not pred(buf) and time.time() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(fd, 1024)
                    except OSError:  # child closed the terminal
                        break
                    if not chunk:
                        break
                    buf += chunk
            return buf

        try:
            out = read_until(lambda b: b"TPM Owner Passphrase:" in b)
            self.assertIn(b"TPM Owner Passphrase:", out)
            # Type only once echo is off: turning it off flushes type-ahead.
            deadline = time.time() + 60
            while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < deadline:
                time.sleep(0.05)
            os.write(fd, OWNER.encode() + b"\n")
            out += read_until(lambda b: False, timeout=60)
        except BaseException:
            os.kill(pid, 9)
            raise
        for _ in range(200):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        self.assertNotIn(OWNER.encode(), out)  # no echo
        self.assertNotIn("0x81004D47", self.tpm.tools("tpm2_getcap", "handles-persistent"))

    def test_wrong_owner_passphrase(self):
        self.take_ownership()
        r = self.heads("totp", "seal", "--config", "/dev/null", owner="wrong")
        self.assertEqual(r.returncode, 1)
        self.assertIn("owner passphrase", r.stderr)
        self.assertNotIn("Secret (base32)", r.stdout)
        self.assertNotIn("0x81004D47", self.tpm.tools("tpm2_getcap", "handles-persistent"))

    def test_show_before_seal_and_without_primary(self):
        r = self.show()
        self.assertEqual(r.returncode, 1)
        self.assertIn("not sealed", r.stderr)
        r = self.heads("totp", "seal", "--config", "/dev/null", owner="")
        self.assertEqual(r.returncode, 1)
        self.assertIn("primary", r.stderr)
        self.assertNotIn("Secret", r.stdout)

    def test_label_and_pcrs_from_board_config(self):
        self.take_ownership()
        cfg = self.write("config", 'export CONFIG_BOARD_NAME="librem 14"\n'
                                   'export CONFIG_TOTP_PCRS="0,1,2,3"\n')
        r = self.heads("totp", "seal", "--config", cfg, owner=OWNER)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.tpm.tools("tpm2_pcrextend", "4:sha256=" + "cd" * 32)  # not in this policy
        r = self.heads("totp", "show", "--config", cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        pgm = os.path.join(self.tmp, "t.pgm")
        r = self.heads("totp", "seal", "--config", cfg, owner=OWNER)
        terminal_to_pgm(qr_lines(r.stdout), pgm)
        z = subprocess.run(["zbarimg", "--raw", "-q", pgm], capture_output=True, text=True)
        self.assertTrue(z.stdout.startswith("otpauth://totp/librem%2014?secret="), z.stdout)


class NoTpm(unittest.TestCase):
    def test_no_tpm_reason(self):
        port = free_port_pair()
        r = run("totp", "show", "--tcti", f"swtpm:host=127.0.0.1,port={port}",
                "--config", "/dev/null", env=QUIET)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no TPM", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_usage_errors(self):
        for args in (["totp"], ["totp", "show", "--bogus"], ["totp", "show", "extra"],
                     ["totp", "show", "--owner-fd", "0"], ["totp", "seal", "--live"],
                     ["totp", "seal", "--pcrs", "0,99"], ["hotp", "code", "--pcrs", "x"],
                     ["hotp", "nope"]):
            r = run(*args, env=QUIET)
            self.assertEqual(r.returncode, 2, (args, r.stderr))

    def test_help(self):
        r = run("totp", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("heads totp seal", r.stdout)
        r = run("hotp", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("kexec_hotp_counter", r.stdout)


if __name__ == "__main__":
    main()
