"""heads flash against linux_mtd: our own MTD backend (MEMGETINFO, MEMERASE,
pread/pwrite), shared piece/verify/retry/restore logic with the libflashrom
path. The host cannot load mtdram or block2mtd (no modules for its
kernel), so the test build heads-flash-test opens the plain file
$HEADS_FLASH_MTD_DIR/mtdN and models the two ioctls on it
(tests/devices/flash_mtd_file.c: erase alignment checked, erased blocks
logged, an erase failure injectable); the real /dev/mtd0 is exercised in
the VM test (vm-coreboot-flash). Also: libflashrom is loaded only for its
programmers (heads runs linux_mtd, and says so clearly, when the library
is absent: a mount namespace hides it here)."""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heads_test import HEADS, TempDirTest, main, run  # noqa: E402
from test_flash import fmap_rom  # noqa: E402

SIZE = 256 * 1024
LIBFLASHROM = "/usr/lib/x86_64-linux-gnu/libflashrom.so.1"


def rand(n, seed):
    return random.Random(seed).randbytes(n)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class FlashMtdTest(TempDirTest):
    def mtd(self, content, dev=0):
        p = os.path.join(self.tmp, f"mtd{dev}")
        with open(p, "wb") as f:
            f.write(content)
        return p

    def erases(self):
        p = os.path.join(self.tmp, "erases.log")
        if not os.path.exists(p):
            return []
        with open(p) as f:
            out = [tuple(int(x, 16) for x in line.split()) for line in f]
        os.unlink(p)
        return out

    def heads(self, *args, erasesize=None, env=None):
        e = dict(os.environ, HEADS_FLASH_MTD_DIR=self.tmp)
        if erasesize:
            e["HEADS_FLASH_MTD_ERASESIZE"] = str(erasesize)
        e.update(env or {})
        return subprocess.run([os.environ["HEADS_FLASH_TEST"], *args], capture_output=True,
                              text=True, env=e, timeout=120)

    def test_whole_write_erase_block_sizes(self):
        # Erase blocks smaller than, equal to and larger than a piece.
        for es in (4096, 64 * 1024, 128 * 1024):
            old, new = rand(SIZE, es), bytearray(rand(SIZE, es))
            new[0x10005] ^= 0xff          # piece 1
            new[SIZE - 1] ^= 0x01         # piece 3
            chip = self.mtd(old)
            out = os.path.join(self.tmp, "read.bin")
            r = self.heads("flash", "read", "--programmer", "linux_mtd:dev=0", "--out", out,
                           erasesize=es)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read(out), old)
            rom = self.write("new.rom", bytes(new), "wb")
            r = self.heads("flash", "write", "--programmer", "linux_mtd:dev=0", "--rom", rom,
                           erasesize=es)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("wrote 2 pieces (0 retries)", r.stdout)
            self.assertEqual(read(chip), bytes(new))
            # Only the erase blocks of the two changed pieces, each once
            # (a 128 KiB block holds two pieces: the other one is kept).
            er = self.erases()
            if es <= 64 * 1024:
                want = [(b, es) for p in (0x10000, 0x30000) for b in range(p, p + 0x10000, es)]
            else:
                want = [(0, es), (0x20000, es)]
            self.assertEqual(er, want)
            r = self.heads("flash", "verify", "--programmer", "linux_mtd:dev=0", "--rom", rom,
                           erasesize=es)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.heads("flash", "write", "--programmer", "linux_mtd:dev=0", "--rom", rom,
                           erasesize=es)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("wrote 0 pieces", r.stdout)
            self.assertEqual(self.erases(), [])

    def test_region_keeps_the_rest(self):
        a = fmap_rom(os.path.join(self.tmp, "a.rom"), 5)
        b = bytearray(fmap_rom(os.path.join(self.tmp, "b.rom"), 6))
        chip = self.mtd(a)
        r = self.heads("flash", "write", "--programmer", "linux_mtd:dev=0", "--rom",
                       os.path.join(self.tmp, "b.rom"), "--region", "COREBOOT",
                       erasesize=128 * 1024)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = read(chip)
        self.assertEqual(got[0x10000:0x30000], bytes(b[0x10000:0x30000]))
        self.assertEqual(got[:0x10000], a[:0x10000])
        self.assertEqual(got[0x30000:], a[0x30000:])
        # COREBOOT (0x10000+0x20000) spans both 128 KiB blocks.
        self.assertEqual(self.erases(), [(0, 0x20000), (0x20000, 0x20000)])

    def test_erase_failure_retried(self):
        old, new = rand(SIZE, 9), rand(SIZE, 10)
        chip = self.mtd(old)
        rom = self.write("new.rom", new, "wb")
        r = self.heads("flash", "write", "--programmer", "linux_mtd:dev=0", "--rom", rom,
                       env={"HEADS_FLASH_MTD_FAIL_ERASE": "0x20010:1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0x20000..0x2ffff does not verify after writing (write reported an "
                      "error) (attempt 1 of 3)", r.stderr)
        self.assertIn("(1 retry)", r.stdout)
        self.assertEqual(read(chip), new)

    def test_erase_failure_restores_old(self):
        old, new = rand(SIZE, 11), rand(SIZE, 12)
        chip = self.mtd(old)
        rom = self.write("new.rom", new, "wb")
        r = self.heads("flash", "write", "--programmer", "linux_mtd:dev=0", "--rom", rom,
                       env={"HEADS_FLASH_MTD_FAIL_ERASE": "0x30000:3"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("holds its previous content again", r.stderr)
        self.assertEqual(read(chip), old)

    def test_wrong_size_refused(self):
        old = rand(SIZE, 3)
        chip = self.mtd(old)
        rom = self.write("wrong.rom", rand(SIZE // 2, 4), "wb")
        r = self.heads("flash", "write", "--programmer", "linux_mtd:dev=0", "--rom", rom)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{SIZE // 2} bytes, the chip has {SIZE}: refused", r.stderr)
        self.assertEqual(read(chip), old)
        self.assertEqual(self.erases(), [])

    def test_bad_devices(self):
        self.mtd(rand(SIZE, 1))
        # Erase blocks that do not divide the device.
        r = self.heads("flash", "read", "--programmer", "linux_mtd:dev=0", "--out",
                       os.path.join(self.tmp, "x"), erasesize=3 * 65536)
        self.assertEqual(r.returncode, 1)
        self.assertIn("erase block 196608", r.stderr)
        for params in ("", ":dev=", ":dev=x", ":dev=1x", ":dev=256", ":foo=0"):
            r = self.heads("flash", "read", "--programmer", "linux_mtd" + params, "--out",
                           os.path.join(self.tmp, "x"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("linux_mtd takes dev=N", r.stderr)
        r = self.heads("flash", "read", "--programmer", "linux_mtd:dev=7", "--out",
                       os.path.join(self.tmp, "x"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("mtd7", r.stderr)

    def test_release_binary_opens_dev_mtd(self):
        # `heads` has no test hooks: linux_mtd is /dev/mtdN, which this
        # host has none of (and never a plain file).
        self.mtd(rand(SIZE, 1))
        r = run("flash", "read", "--programmer", "linux_mtd:dev=0", "--out",
                os.path.join(self.tmp, "x"), env={"HEADS_FLASH_MTD_DIR": self.tmp})
        self.assertEqual(r.returncode, 1)
        self.assertIn("flash: /dev/mtd0:", r.stderr)

    def test_without_libflashrom(self):
        """libflashrom hidden (a mount namespace binds /dev/null over it):
        internal and dummy fail with a clear error, linux_mtd works."""
        old, new = rand(SIZE, 20), rand(SIZE, 21)
        chip = self.mtd(old)
        rom = self.write("new.rom", new, "wb")
        script = (f"mount --bind /dev/null {LIBFLASHROM} && "
                  '"$@"')
        for prog in ("internal", f"dummy:emulate=VARIABLE_SIZE,size={SIZE},image={chip}"):
            r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh",
                                HEADS, "flash", "write", "--programmer", prog,
                                "--rom", rom], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            name = prog.split(":")[0]
            self.assertIn(f"this build carries no libflashrom (libflashrom.so.1): programmer "
                          f"{name} unavailable", r.stderr)
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh",
                            os.environ["HEADS_FLASH_TEST"], "flash", "write", "--programmer",
                            "linux_mtd:dev=0", "--rom", rom], capture_output=True, text=True,
                           env=dict(os.environ, HEADS_FLASH_MTD_DIR=self.tmp), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(chip), new)

    def test_heads_does_not_need_libflashrom(self):
        r = subprocess.run(["readelf", "-d", HEADS], capture_output=True,
                           text=True, check=True)
        self.assertIn("libcrypto", r.stdout)
        self.assertNotIn("flashrom", r.stdout)


if __name__ == "__main__":
    main()
