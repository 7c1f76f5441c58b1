"""heads flash read/write/verify against libflashrom's dummy programmer
(an emulated chip whose content is a file, written back when the
programmer shuts down): whole image, one FMAP region, wrong size and
wrong layout refused, verify finding a difference, a write that does not
take retried (test build's fault hook), and a chip that ignores page
programs (a real dummy failure mode: spi_ignorelist)."""
import hashlib
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbfs_images  # noqa: E402
from heads_test import TempDirTest, main, run  # noqa: E402
from test_cbfs import predict_pcr2_python  # noqa: E402

# 256 KiB: the dummy's VARIABLE_SIZE chip has one erase block, so flashrom
# rewrites the whole chip for every 64 KiB piece.
SIZE = 256 * 1024
PIECE = 64 * 1024


def dummy(image, size=SIZE, extra=""):
    return f"dummy:emulate=VARIABLE_SIZE,size={size},image={image}" + extra


def rand(n, seed):
    return random.Random(seed).randbytes(n)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fmap_rom(path, seed, coreboot=(0x10000, 0x20000)):
    """A 256 KiB image: FMAP at 0 (area FMAP), COREBOOT, and RW_X after it;
    random bytes everywhere else."""
    img = bytearray(rand(SIZE, seed))
    off, sz = coreboot
    f = cbfs_images.fmap(0xffffffff - SIZE + 1, SIZE, "FLASH",
                         [("FMAP", 0, 0x1000, 0), ("COREBOOT", off, sz, 0),
                          ("RW_X", off + sz, SIZE - off - sz, 0)])
    img[0:len(f)] = f
    with open(path, "wb") as fh:
        fh.write(img)
    return bytes(img)


class FlashTest(TempDirTest):
    def chip(self, content):
        p = os.path.join(self.tmp, "chip.bin")
        with open(p, "wb") as f:
            f.write(content)
        return p

    def rom(self, name, content):
        return self.write(name, content, "wb")

    def test_read_write_verify_whole(self):
        old, new = rand(SIZE, 1), bytearray(rand(SIZE, 1))
        new[PIECE + 5] ^= 0xff          # two pieces differ
        new[SIZE - 1] ^= 0x01
        chip = self.chip(old)
        out = os.path.join(self.tmp, "read.bin")
        r = run("flash", "read", "--programmer", dummy(chip), "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(out), old)
        self.assertIn("reading: 100%", r.stderr)
        rom = self.rom("new.rom", bytes(new))
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", rom)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(chip), bytes(new))
        self.assertIn("wrote 2 pieces (0 retries)", r.stdout)
        self.assertIn("next boot: PCR 2 cannot be predicted", r.stdout)
        self.assertIn("writing: 100%", r.stderr)
        r = run("flash", "verify", "--programmer", dummy(chip), "--rom", rom)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The same image again: nothing to write.
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", rom)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("wrote 0 pieces", r.stdout)

    def test_verify_finds_difference(self):
        old = rand(SIZE, 2)
        chip = self.chip(old)
        other = bytearray(old)
        other[0x12345] ^= 0x40
        rom = self.rom("other.rom", bytes(other))
        r = run("flash", "verify", "--programmer", dummy(chip), "--rom", rom)
        self.assertEqual(r.returncode, 1)
        self.assertIn("first at 0x12345, 1 bytes", r.stdout)
        self.assertEqual(read(chip), old)

    def test_wrong_size_refused(self):
        old = rand(SIZE, 3)
        chip = self.chip(old)
        for n in (SIZE // 2, SIZE + 4096):
            rom = self.rom("wrong.rom", rand(n, 4))
            r = run("flash", "write", "--programmer", dummy(chip), "--rom", rom)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"{n} bytes, the chip has {SIZE}: refused", r.stderr)
            self.assertNotIn("writing", r.stderr)
            r = run("flash", "verify", "--programmer", dummy(chip), "--rom", rom)
            self.assertEqual(r.returncode, 1)
        self.assertEqual(read(chip), old)

    def test_region(self):
        a = fmap_rom(os.path.join(self.tmp, "a.rom"), 5)
        b = fmap_rom(os.path.join(self.tmp, "b.rom"), 6)
        chip = self.chip(a)
        r = run("flash", "write", "--programmer", dummy(chip),
                "--rom", os.path.join(self.tmp, "b.rom"), "--region", "COREBOOT")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = read(chip)
        # COREBOOT from b, everything else (FMAP area, RW_X) still a.
        self.assertEqual(got[0x10000:0x30000], b[0x10000:0x30000])
        self.assertEqual(got[:0x10000], a[:0x10000])
        self.assertEqual(got[0x30000:], a[0x30000:])
        r = run("flash", "verify", "--programmer", dummy(chip),
                "--rom", os.path.join(self.tmp, "b.rom"), "--region", "COREBOOT")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("flash", "verify", "--programmer", dummy(chip),
                "--rom", os.path.join(self.tmp, "b.rom"))
        self.assertEqual(r.returncode, 1)
        # An unknown region, and a layout that does not match the chip.
        r = run("flash", "write", "--programmer", dummy(chip),
                "--rom", os.path.join(self.tmp, "b.rom"), "--region", "NOPE")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no FMAP region NOPE", r.stderr)
        c = fmap_rom(os.path.join(self.tmp, "c.rom"), 7, coreboot=(0x20000, 0x10000))
        r = run("flash", "write", "--programmer", dummy(chip),
                "--rom", os.path.join(self.tmp, "c.rom"), "--region", "COREBOOT")
        self.assertEqual(r.returncode, 1)
        self.assertIn("the layout does not match", r.stderr)
        self.assertEqual(read(chip), got)
        del c

    def test_whole_write_needs_fmap_over_fmap(self):
        a = fmap_rom(os.path.join(self.tmp, "a.rom"), 8)
        chip = self.chip(a)
        rom = self.rom("flat.rom", b"\xff" * SIZE)
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", rom)
        self.assertEqual(r.returncode, 1)
        self.assertIn("new image has no FMAP: refused", r.stderr)
        self.assertEqual(read(chip), a)

    def test_failed_write_retried(self):
        old, new = rand(SIZE, 9), rand(SIZE, 10)
        chip = self.chip(old)
        rom = self.rom("new.rom", new)
        # The piece at 0x20000 does not take on its first write.
        r = subprocess.run([os.environ["HEADS_FLASH_TEST"], "flash", "write", "--programmer",
                            dummy(chip), "--rom", rom], capture_output=True, text=True,
                           env=dict(os.environ, HEADS_FLASH_FAULT="0x20010:1"), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0x20000..0x2ffff does not verify after writing (attempt 1 of 3)", r.stderr)
        self.assertIn("0x20000..0x2ffff verified after 1 retry", r.stderr)
        self.assertIn("(1 retry)", r.stdout)
        self.assertEqual(read(chip), new)

    def test_failed_write_restores_old(self):
        old, new = rand(SIZE, 11), rand(SIZE, 12)
        chip = self.chip(old)
        rom = self.rom("new.rom", new)
        # Every try of the piece at 0x30000 fails: pieces 0..2 were written
        # already; all are put back.
        r = subprocess.run([os.environ["HEADS_FLASH_TEST"], "flash", "write", "--programmer",
                            dummy(chip), "--rom", rom], capture_output=True, text=True,
                           env=dict(os.environ, HEADS_FLASH_FAULT="0x30000:3"), timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertIn("holds its previous content again", r.stderr)
        self.assertIn("restoring: 100%", r.stderr)
        self.assertEqual(read(chip), old)

    def test_release_binary_has_no_fault_hook(self):
        old, new = rand(SIZE, 13), rand(SIZE, 14)
        chip = self.chip(old)
        rom = self.rom("new.rom", new)
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", rom,
                env={"HEADS_FLASH_FAULT": "0x0:3"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(0 retries)", r.stdout)
        self.assertEqual(read(chip), new)

    def test_chip_ignoring_page_program(self):
        """A real dummy failure: the emulated W25Q128FV (16 MiB, SPI) with
        the page program command 0x02 ignored erases but never programs."""
        size = 16 * 1024 * 1024
        old = rand(size, 15)
        new = bytearray(old)
        new[0x200000] ^= 0xff
        chip = self.chip(old)
        rom = self.rom("new.rom", bytes(new))
        prog = f"dummy:emulate=W25Q128FV,image={chip},spi_ignorelist=02"
        r = run("flash", "write", "--programmer", prog, "--rom", rom, timeout=300)
        self.assertEqual(r.returncode, 1)
        self.assertIn("0x200000..0x20ffff does not verify after writing (write reported an "
                      "error) (attempt 3 of 3)", r.stderr)
        self.assertNotIn("Please report", r.stderr)
        self.assertIn("the chip holds a partial image; do not power off, write again",
                      r.stderr)
        got = read(chip)
        # Honest about it: that piece is erased, the rest untouched.
        self.assertEqual(got[:0x200000], old[:0x200000])
        self.assertEqual(got[0x210000:], old[0x210000:])
        self.assertNotEqual(got[0x200000:0x210000], old[0x200000:0x210000])
        # Without the fault the same chip takes the image.
        prog = f"dummy:emulate=W25Q128FV,image={chip}"
        r = run("flash", "write", "--programmer", prog, "--rom", rom, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(chip), bytes(new))

    def test_keep_owner_files(self):
        """The owner's keyring and config.user go from the chip into the new
        image (the same bytes cbfstool gets by the same removes and adds)."""
        def cbfs_rom(name, files):
            p = os.path.join(self.tmp, name)
            cbfs_images.fmap_image(p, size=SIZE)
            for n, data in files:
                f = self.write("f", data, "wb")
                cbfs_images.cbfstool(p, "add", "-r", "COREBOOT", "-f", f, "-n", n, "-t", "raw")
            return p
        key, conf = rand(900, 16), b'export CONFIG_BOOT_DEV="/dev/sda1"\n'
        old = cbfs_rom("old.rom", [("fallback/payload", b"old payload" * 50),
                                   ("heads/initrd/.gnupg/pubring.kbx", key),
                                   ("heads/initrd/etc/config.user", conf),
                                   ("heads/initrd/not-owner", b"ignored")])
        new = cbfs_rom("new.rom", [("fallback/payload", b"new payload" * 70),
                                   ("heads/initrd/etc/config.user", b"export X=1\n")])
        want = os.path.join(self.tmp, "want.rom")
        with open(want, "wb") as f:
            f.write(read(new))
        cbfs_images.cbfstool(want, "remove", "-r", "COREBOOT", "-n",
                             "heads/initrd/etc/config.user")
        for n, data in (("heads/initrd/.gnupg/pubring.kbx", key),
                        ("heads/initrd/etc/config.user", conf)):
            f = self.write("f", data, "wb")
            cbfs_images.cbfstool(want, "add", "-r", "COREBOOT", "-f", f, "-n", n, "-t", "raw")
        chip = self.chip(read(old))
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", new,
                "--keep-owner-files")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("kept 2 owner files from the chip", r.stdout)
        self.assertEqual(read(chip), read(want))
        r = subprocess.run([os.environ.get("HEADS", "heads"), "cbfs", "extract", "--rom", chip,
                            "--name", "heads/initrd/.gnupg/pubring.kbx"], capture_output=True)
        self.assertEqual(r.stdout, key)
        # The image file itself is not changed.
        self.assertIn(b"export X=1", read(new))
        # A chip without CBFS: nothing to carry from -> refused, chip as it was.
        flat = rand(SIZE, 17)
        chip = self.chip(flat)
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", new,
                "--keep-owner-files")
        self.assertEqual(r.returncode, 1)
        self.assertIn("could not be carried", r.stderr)
        self.assertEqual(read(chip), flat)

    def test_prediction(self):
        """Before the write: the next boot's PCR 2 (coreboot's measurements
        of what will be on the chip) and PCR 7 (its owner files from the
        base), against independent Python oracles of the flashed chip."""
        def cbfs_rom(name, files):
            p = os.path.join(self.tmp, name)
            cbfs_images.fmap_image(p, size=SIZE)
            for n, data in files:
                f = self.write("f", data, "wb")
                cbfs_images.cbfstool(p, "add", "-r", "COREBOOT", "-f", f, "-n", n, "-t", "raw")
            return p
        stages = [("bootblock", b"BB" * 300), ("fallback/romstage", b"RS" * 513)]
        stages += cbfs_images.build_record()
        owner = [("heads/initrd/.gnupg/pubring.kbx", rand(500, 18)),
                 ("heads/initrd/etc/config.user", b"export CONFIG_A=1\n")]
        old = cbfs_rom("old.rom", stages + [("fallback/payload", b"v1" * 900)] + owner)
        new = cbfs_rom("new.rom", stages + [("fallback/payload", b"v2" * 999)])
        base = rand(32, 19)
        board_text = b'export CONFIG_BOARD="qemu-coreboot"\n'
        board = self.write("config", board_text, "wb")
        chip = self.chip(read(old))

        def pcr7(rom):
            with open(rom, "rb") as f:
                img = f.read()
            files = {}
            for n, _ in owner:
                r = subprocess.run(["cbfstool", rom, "extract", "-r", "COREBOOT", "-n", n, "-f",
                                    "/dev/stdout"], capture_output=True)
                if r.returncode == 0:
                    files[n[len("heads/initrd"):]] = r.stdout
            del img
            events = [b"/etc/config", board_text]
            for n in sorted(files):
                events += [n.encode(), files[n]]
            state = base
            for e in events:
                state = hashlib.sha256(state + hashlib.sha256(e).digest()).digest()
            return state.hex()

        r = run("flash", "write", "--programmer", dummy(chip), "--rom", new, "--keep-owner-files",
                "--pcr7-base", base.hex(), "--board-config", board,
                "--user-config", os.path.join(self.tmp, "none"))
        self.assertEqual(r.returncode, 0, r.stderr)
        now2, next2 = predict_pcr2_python(old)[0], predict_pcr2_python(chip)[0]
        self.assertNotEqual(now2, next2)
        self.assertIn(f"next boot: PCR 2 {next2} (now {now2}): changes", r.stdout)
        # The owner files were carried: PCR 7 stays (same files, same base).
        self.assertEqual(pcr7(chip), pcr7(old))
        self.assertIn(f"next boot: PCR 7 {pcr7(chip)} (now {pcr7(old)}): unchanged", r.stdout)
        # Without them: PCR 7 changes, and that is said.
        chip = self.chip(read(old))
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", new,
                "--pcr7-base", base.hex(), "--board-config", board,
                "--user-config", os.path.join(self.tmp, "none"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"next boot: PCR 7 {pcr7(chip)} (now {pcr7(old)}): changes", r.stdout)
        self.assertNotEqual(pcr7(chip), pcr7(old))
        # An image of another coreboot version (its build record): PCR 2 is
        # not predicted, and the two schemes are named.
        newer = cbfs_rom("newer.rom", stages[:2] + cbfs_images.build_record(version=b"26.09") +
                         [("fallback/payload", b"v3" * 999)])
        chip = self.chip(read(old))
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", newer)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("next boot: PCR 2 cannot be predicted (the image was built to measure "
                      "differently: coreboot 26.09 CONFIG_TPM2=y", r.stdout)
        self.assertIn("; the chip's image: coreboot 26.06 CONFIG_TPM2=y", r.stdout)
        # and one with no build record at all
        bare = cbfs_rom("bare.rom", stages[:2] + [("fallback/payload", b"v4" * 999)])
        chip = self.chip(read(old))
        r = run("flash", "write", "--programmer", dummy(chip), "--rom", bare)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("next boot: PCR 2 cannot be predicted (not a coreboot image this build "
                      "knows: the image carries no coreboot build record (CBFS build_info "
                      "missing)", r.stdout)

    def test_usage(self):
        self.assertEqual(run("flash", "write", "--rom", "x").returncode, 2)
        self.assertEqual(run("flash", "read", "--programmer", "dummy").returncode, 2)
        r = run("flash", "read", "--programmer", "nosuchprogrammer", "--out",
                os.path.join(self.tmp, "o"))
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    main()
