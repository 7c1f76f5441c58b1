"""Shared helpers for command-level tests: run the built `heads` binary."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers"))
import heads_tap  # noqa: E402

HEADS = os.environ.get("HEADS", "heads")


def run(*args, input=None, env=None, pass_fds=(), timeout=120):
    """Run heads with args; returns CompletedProcess (text mode)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([HEADS, *args], input=input, capture_output=True,
                          text=True, env=e, pass_fds=pass_fds, timeout=timeout)


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, content, mode="w"):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode) as f:
            f.write(content)
        return path


def free_port_pair():
    """A free loopback port P with P+1 free too (swtpm server + control)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p >= 65535:
            continue
        s2 = socket.socket()
        try:
            s2.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            s2.close()
    raise RuntimeError("no free port pair")


class Swtpm:
    """A private swtpm on loopback, kept running across commands (as a real
    TPM is), stopped by its own pid only. State persists in state_dir, so
    restart() is a power cycle."""

    def __init__(self, state_dir, tpm12=False):
        """tpm12: swtpm in TPM 1.2 mode (no --tpm2), given an endorsement key
        on first use (swtpm_setup --createek, as a TPM leaves the factory),
        never owned; its TCTI is tpm12-swtpm:host=...,port=..."""
        os.makedirs(state_dir, exist_ok=True)
        self.state = state_dir
        self.tpm12 = tpm12
        self.proc = None
        if tpm12 and not os.listdir(state_dir):
            subprocess.run(["swtpm_setup", "--tpmstate", state_dir, "--createek",
                            "--config", "/dev/null"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        self.start()

    def start(self):
        self.port = free_port_pair()
        self.proc = subprocess.Popen(
            ["swtpm", "socket", *([] if self.tpm12 else ["--tpm2"]),
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
             "--flags", "not-need-init,startup-clear",
             "--tpmstate", f"dir={self.state}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.tcti = (("tpm12-" if self.tpm12 else "")
                     + f"swtpm:host=127.0.0.1,port={self.port}")
        for _ in range(200):
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                time.sleep(0.05)
                if self.proc.poll() is None:
                    return
                break  # that port belongs to someone else
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("swtpm did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def tools(self, *args, check=True):
        """Run a tpm2-tools command against this TPM (an independent client)."""
        env = dict(os.environ, TPM2TOOLS_TCTI=self.tcti, TSS2_LOG="all+NONE")
        r = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{args}: {r.stderr}")
        return r.stdout


def main():
    """Every test file ends with this: each case reported in TAP, exit 1 on
    a failure, 77 when every case skipped (tests/helpers/heads_tap.py)."""
    heads_tap.main()
