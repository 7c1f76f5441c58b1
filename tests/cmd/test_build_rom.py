"""tools/rom/build-rom.py's download step: the pinned tarballs are taken from
the download cache or DOWNLOAD_MIRROR only with the board's sha256; a
tampered file is refused (and never reaches the cache), a corrupted cached
copy is replaced from the mirror. No coreboot build here (see
tests/vm/test_vm_coreboot.py)."""
import hashlib
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heads_test import TempDirTest  # noqa: E402

SRCDIR = os.environ.get("HEADS_SRCDIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TOOL = os.path.join(SRCDIR, "tools", "rom", "build-rom.py")


class TestDownloads(TempDirTest):
    def setUp(self):
        super().setUp()
        self.board = os.path.join(self.tmp, "board")
        os.makedirs(self.board)
        self.good = b"a pinned tarball\n"
        sha = hashlib.sha256(self.good).hexdigest()
        with open(os.path.join(self.board, "sources"), "w") as f:
            f.write(f"# test\nsrc.tar.xz {sha} http://127.0.0.1:9/src.tar.xz\n")
        with open(os.path.join(self.board, "coreboot.config"), "w") as f:
            f.write("CONFIG_COREBOOT_ROMSIZE_KB_8192=y\n")
        self.mirror = os.path.join(self.tmp, "mirror")
        self.cache = os.path.join(self.tmp, "cache")
        os.makedirs(self.mirror)
        self.kernel = self.write("bzImage", "k")
        self.initrd = self.write("initrd", "i")

    def build(self):
        env = dict(os.environ, DOWNLOAD_MIRROR=self.mirror, HEADS_DOWNLOAD_CACHE=self.cache,
                   HEADS_ROM_CACHE=os.path.join(self.tmp, "roms"), PATH="/usr/bin:/bin")
        return subprocess.run([sys.executable, TOOL, "--board", self.board, "--kernel",
                               self.kernel, "--initrd", self.initrd, "--out",
                               os.path.join(self.tmp, "out")], capture_output=True, text=True,
                              env=env, timeout=120)

    def test_tampered_mirror_refused(self):
        with open(os.path.join(self.mirror, "src.tar.xz"), "wb") as f:
            f.write(b"a tampered tarball\n")
        r = self.build()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refused", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.cache, "src.tar.xz")))

    def test_good_mirror_cached_and_corrupt_cache_replaced(self):
        with open(os.path.join(self.mirror, "src.tar.xz"), "wb") as f:
            f.write(self.good)
        os.makedirs(self.cache)
        with open(os.path.join(self.cache, "src.tar.xz"), "wb") as f:
            f.write(b"corrupted")
        r = self.build()
        self.assertIn("from the mirror", r.stderr)
        self.assertNotIn("refused", r.stderr)
        with open(os.path.join(self.cache, "src.tar.xz"), "rb") as f:
            self.assertEqual(f.read(), self.good)
        # not a real tarball: the build stops at extraction, after the check
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
