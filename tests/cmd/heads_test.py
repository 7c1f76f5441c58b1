"""Shared helpers for command-level tests: run the built `heads` binary."""
import os
import subprocess
import tempfile
import unittest

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


def main():
    unittest.main(verbosity=2)
