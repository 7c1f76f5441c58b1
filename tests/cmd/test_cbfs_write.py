"""heads cbfs add/remove (the CBFS writer, src/lib/cbfs_write.c) against
Debian's cbfstool 4.15: the same edits made by both on copies of one image
give byte-identical images; cbfstool reads what we write (print, extract);
we read what cbfstool writes; refusals leave the file untouched; the file
is replaced atomically."""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbfs_images  # noqa: E402
from heads_test import TempDirTest, main, run  # noqa: E402
from test_cbfs import compare_with_cbfstool  # noqa: E402


def read(path):
    with open(path, "rb") as f:
        return f.read()


class CbfsWriteTest(TempDirTest):
    def base(self, name="base.rom", size=0x40000):
        """An FMAP image whose CBFS cbfstool has written once (an add and
        a remove), so its empty entry is cbfstool's own."""
        rom = os.path.join(self.tmp, name)
        cbfs_images.fmap_image(rom, size=size)
        seed = self.write("seed", b"x", "wb")
        cbfs_images.cbfstool(rom, "add", "-r", "COREBOOT", "-f", seed, "-n", "seed", "-t", "raw")
        cbfs_images.cbfstool(rom, "remove", "-r", "COREBOOT", "-n", "seed")
        return rom

    def ours(self, rom, op, name, path=None):
        args = ["cbfs", op, "--rom", rom, "--name", name] + (["--file", path] if path else [])
        return run(*args)

    def theirs(self, rom, op, name, path=None):
        args = [rom, op, "-r", "COREBOOT", "-n", name]
        if path:
            args += ["-f", path, "-t", "raw"]
        return subprocess.run(["cbfstool", *args], capture_output=True, text=True)

    def test_random_edits_match_cbfstool(self):
        rng = random.Random(24)
        a = self.base("a.rom")
        b = os.path.join(self.tmp, "b.rom")
        with open(b, "wb") as f:
            f.write(read(a))
        present = {}
        steps = 0
        for i in range(60):
            if present and (rng.random() < 0.4 or len(present) > 12):
                name = rng.choice(sorted(present))
                r1, r2 = self.ours(a, "remove", name), self.theirs(b, "remove", name)
                del present[name]
            else:
                name = rng.choice(["heads/initrd/etc/config.user",
                                   "heads/initrd/.gnupg/pubring.kbx", "x", "ab", "abc",
                                   "a-much-longer-file-name/with/dirs", f"f{i}"])
                if name in present:
                    continue
                size = rng.choice([0, 1, 3, 4, 27, 28, 29, 36, 63, 64, 100, 700, 4000,
                                   rng.randrange(20000)])
                data = self.write("data", rng.randbytes(size), "wb")
                r1, r2 = self.ours(a, "add", name, data), self.theirs(b, "add", name, data)
                present[name] = size
            steps += 1
            self.assertEqual(r1.returncode, r2.returncode, (i, name, r1.stderr, r2.stderr))
            self.assertEqual(read(a), read(b), f"step {i}: {name}")
        self.assertGreater(steps, 40)
        # cbfstool reads what we wrote, file by file.
        for name, size in present.items():
            out = os.path.join(self.tmp, "out")
            cbfs_images.cbfstool(a, "extract", "-r", "COREBOOT", "-n", name, "-f", out)
            self.assertEqual(len(read(out)), size)

    def test_fill_and_full(self):
        """Files until the region is full: the same refusal as cbfstool at
        the same point, the image unchanged by it."""
        a = self.base("a.rom", size=0x8000)
        b = os.path.join(self.tmp, "b.rom")
        with open(b, "wb") as f:
            f.write(read(a))
        for i in range(40):
            data = self.write("d", bytes([i]) * 1500, "wb")
            r1, r2 = self.ours(a, "add", f"f{i}", data), self.theirs(b, "add", f"f{i}", data)
            self.assertEqual(r1.returncode, r2.returncode, (i, r1.stderr, r2.stderr))
            if r1.returncode:
                self.assertIn("no empty space large enough (image unchanged)", r1.stderr)
                break
            self.assertEqual(read(a), read(b))
        else:
            self.fail("the region never filled")
        self.assertEqual(read(a), read(b))
        # Room again after a remove; the merged hole takes a bigger file.
        for rom, fn in ((a, self.ours), (b, self.theirs)):
            self.assertEqual(fn(rom, "remove", "f3").returncode, 0)
            self.assertEqual(fn(rom, "remove", "f4").returncode, 0)
            data = self.write("d", b"B" * 2900, "wb")
            self.assertEqual(fn(rom, "add", "big", data).returncode, 0)
        self.assertEqual(read(a), read(b))

    def test_cbfstool_edits_read_by_us(self):
        rom = os.path.join(self.tmp, "c.rom")
        cbfs_images.fmap_image(rom, size=0x20000)
        cbfs_images.populate(rom, self.tmp)
        cbfs_images.cbfstool(rom, "remove", "-r", "COREBOOT", "-n", "bootblock")
        data = self.write("d", b"after" * 99, "wb")
        cbfs_images.cbfstool(rom, "add", "-r", "COREBOOT", "-f", data, "-n", "later", "-t", "raw")
        compare_with_cbfstool(self, rom, self.tmp)
        # ... and our edits of the same image read by both.
        self.assertEqual(self.ours(rom, "remove", "fallback/romstage").returncode, 0)
        self.assertEqual(self.ours(rom, "add", "ours", data).returncode, 0)
        compare_with_cbfstool(self, rom, self.tmp)

    def test_replace(self):
        rom = self.base()
        one = self.write("one", b"1" * 100, "wb")
        two = self.write("two", b"2" * 300, "wb")
        r = self.ours(rom, "add", "heads/initrd/etc/config.user", one)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added", r.stdout)
        r = self.ours(rom, "add", "heads/initrd/etc/config.user", two)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("replaced", r.stdout)
        out = os.path.join(self.tmp, "out")
        cbfs_images.cbfstool(rom, "extract", "-r", "COREBOOT", "-n",
                             "heads/initrd/etc/config.user", "-f", out)
        self.assertEqual(read(out), b"2" * 300)
        self.assertEqual(cbfs_images.cbfstool(rom, "print", "-r", "COREBOOT").count("config.user"),
                         1)

    def test_refusals_leave_file_unchanged(self):
        rom = self.base()
        before = read(rom)
        data = self.write("d", b"d", "wb")
        for args, code in (((rom, "remove", "missing"), 1),
                           ((rom, "add", "x" * 201, data), 1),
                           ((rom, "add", "bad\nname", data), 1)):
            r = self.ours(*args)
            self.assertEqual(r.returncode, code, r.stderr)
            self.assertEqual(read(rom), before)
        big = self.write("big", b"\0" * 0x40000, "wb")
        r = self.ours(rom, "add", "big", big)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(read(rom), before)
        self.assertEqual(run("cbfs", "add", "--rom", rom, "--name", "x").returncode, 2)
        junk = self.write("junk.rom", b"\0" * 4096, "wb")
        r = self.ours(junk, "add", "x", data)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(read(junk), b"\0" * 4096)

    def test_atomic_replace(self):
        rom = self.base()
        os.chmod(rom, 0o640)
        ino = os.stat(rom).st_ino
        data = self.write("d", b"d" * 10, "wb")
        self.assertEqual(self.ours(rom, "add", "x", data).returncode, 0)
        st = os.stat(rom)
        self.assertNotEqual(st.st_ino, ino)  # a new file renamed over it
        self.assertEqual(st.st_mode & 0o777, 0o640)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["base.rom", "d", "seed"])


if __name__ == "__main__":
    main()
