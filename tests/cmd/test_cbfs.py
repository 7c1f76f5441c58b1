"""heads cbfs list/extract and heads tpm predict-pcr2 against Debian's
cbfstool (coreboot-utils) on small images made by cbfstool here (the built
ROM is compared in tests/vm/test_vm_coreboot.py)."""
import hashlib
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbfs_images  # noqa: E402
from heads_test import TempDirTest, run  # noqa: E402

LINE = re.compile(r"^(?P<name>.+?)\s+0x(?P<off>[0-9a-f]+)\s+(?P<type>.+?)\s+(?P<size>\d+) "
                  r"(?P<comp>\S+)( \((?P<dec>\d+) decompressed\))?$")


def cbfstool_print(rom):
    """[(name, offset, type name, size, comp, decompressed)] of cbfstool print."""
    out = cbfs_images.cbfstool(rom, "print")
    rows = []
    for line in out.splitlines()[2:]:
        m = LINE.match(line.rstrip())
        assert m, f"unparsed cbfstool line {line!r}"
        rows.append((m["name"], int(m["off"], 16), m["type"], int(m["size"]), m["comp"],
                     int(m["dec"]) if m["dec"] else int(m["size"])))
    return rows


def compare_with_cbfstool(test, rom, tmp):
    """Every file: names, offsets, types, sizes, compression, and bytes
    (raw: cbfstool extract -U; content: cbfstool extract of raw files)."""
    r = run("cbfs", "list", "--rom", rom, "--json")
    test.assertEqual(r.returncode, 0, r.stderr)
    ours = json.loads(r.stdout)
    theirs = cbfstool_print(rom)
    test.assertEqual([(f["name"] or "(empty)", f["offset"], f["type_name"], f["size"],
                       f["compression"], f["decompressed_size"]) for f in ours], theirs)
    # The text form is cbfstool's table, line for line.
    r = run("cbfs", "list", "--rom", rom)
    test.assertEqual(r.stdout.splitlines()[2:], cbfs_images.cbfstool(rom, "print").splitlines()[2:])
    names = [f["name"] for f in ours if f["name"] and f["type_name"] not in ("null", "deleted")]
    test.assertGreater(len(names), 3)
    for f in ours:
        if f["name"] not in names:
            continue
        want = os.path.join(tmp, "want")
        cbfs_images.cbfstool(rom, "extract", "-n", f["name"], "-f", want, "-U")
        with open(want, "rb") as fh:
            raw = fh.read()
        got = subprocess.run([os.environ.get("HEADS", "heads"), "cbfs", "extract", "--rom", rom,
                              "--name", f["name"]], capture_output=True).stdout
        test.assertEqual(got, raw, f["name"])
        test.assertEqual(hashlib.sha256(raw).hexdigest(), f["sha256"], f["name"])
        if f["type_name"] == "raw":
            cbfs_images.cbfstool(rom, "extract", "-n", f["name"], "-f", want)
            with open(want, "rb") as fh:
                content = fh.read()
            got = subprocess.run([os.environ.get("HEADS", "heads"), "cbfs", "extract", "--rom",
                                  rom, "--name", f["name"], "--decompress"],
                                 capture_output=True).stdout
            test.assertEqual(got, content, f["name"])
    return ours


def coreboot_log(events):
    """coreboot's cbmem TPM 2.0 log layout (tpm2_log_serialized.h): Spec ID
    event with vendor info "CBT2", then 100-byte TCG_PCR_EVENT2 entries;
    events: [(pcr, sha256 bytes, name)]."""
    import struct
    n = len(events)
    vendor = struct.pack("<BBBIHHI", 0, 1, 0, 0x32544243, 50, n, 100)
    spec = (b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1) +
            struct.pack("<HH", 0xB, 32) + bytes([15]) + vendor)
    out = struct.pack("<II", 0, 3) + bytes(20) + struct.pack("<I", len(spec)) + spec
    for pcr, digest, name in events:
        out += (struct.pack("<IIIH", pcr, 5, 1, 0xB) + digest + struct.pack("<I", 50) +
                name.encode().ljust(50, b"\0"))
    return out + bytes(100 * 3)  # unused slots


def rom_measurements(rom):
    """[(name, sha256)] coreboot would log for rom (Python oracle)."""
    with open(rom, "rb") as fh:
        img = fh.read()
    i = img.index(b"__FMAP__")
    nareas = int.from_bytes(img[i + 54:i + 56], "little")
    out = []
    for k in range(nareas):
        a = img[i + 56 + 42 * k:i + 56 + 42 * (k + 1)]
        if a[8:40].rstrip(b"\0") == b"FMAP":
            off, size = int.from_bytes(a[0:4], "little"), int.from_bytes(a[4:8], "little")
            out.append(("FMAP: FMAP", hashlib.sha256(img[off:off + size]).digest()))
    for name in ("bootblock", "fallback/romstage", "fallback/postcar", "fallback/ramstage",
                 "fallback/payload"):
        r = subprocess.run(["cbfstool", rom, "extract", "-n", name, "-f", "/dev/stdout", "-U"],
                           capture_output=True)
        if r.returncode == 0:
            out.append(("CBFS: " + name, hashlib.sha256(r.stdout).digest()))
    return out


def predict_pcr2_python(rom):
    """Independent oracle: FMAP region + bootblock, romstage, postcar,
    ramstage, payload as stored, extended from zeros."""
    with open(rom, "rb") as fh:
        img = fh.read()
    i = img.index(b"__FMAP__")
    nareas = int.from_bytes(img[i + 54:i + 56], "little")
    areas = {}
    for k in range(nareas):
        a = img[i + 56 + 42 * k:i + 56 + 42 * (k + 1)]
        areas[a[8:40].rstrip(b"\0").decode()] = (int.from_bytes(a[0:4], "little"),
                                                 int.from_bytes(a[4:8], "little"))
    off, size = areas["FMAP"]
    digests = [hashlib.sha256(img[off:off + size]).digest()]
    for name in ("bootblock", "fallback/romstage", "fallback/postcar", "fallback/ramstage",
                 "fallback/payload"):
        r = subprocess.run(["cbfstool", rom, "extract", "-n", name, "-f", "/dev/stdout", "-U"],
                           capture_output=True)
        if r.returncode == 0:
            digests.append(hashlib.sha256(r.stdout).digest())
    pcr = bytes(32)
    for d in digests:
        pcr = hashlib.sha256(pcr + d).digest()
    return pcr.hex(), len(digests)


class TestCbfs(TempDirTest):
    def test_fmap_image_vs_cbfstool(self):
        rom = os.path.join(self.tmp, "f.rom")
        cbfs_images.fmap_image(rom)
        files = cbfs_images.populate(rom, self.tmp)
        ours = compare_with_cbfstool(self, rom, self.tmp)
        self.assertTrue(any(f["compression"] == "LZMA" for f in ours))
        for name, data in files.items():
            r = subprocess.run([os.environ.get("HEADS", "heads"), "cbfs", "extract", "--rom", rom,
                                "--name", name], capture_output=True)
            self.assertEqual(r.stdout, data)

    def test_flat_image_vs_cbfstool(self):
        rom = os.path.join(self.tmp, "flat.rom")
        cbfs_images.cbfstool(rom, "create", "-m", "x86", "-s", "0x20000")
        cbfs_images.populate(rom, self.tmp, region=False)
        compare_with_cbfstool(self, rom, self.tmp)

    def test_predict_pcr2(self):
        rom = os.path.join(self.tmp, "f.rom")
        cbfs_images.fmap_image(rom)
        cbfs_images.populate(rom, self.tmp)
        want, n = predict_pcr2_python(rom)
        self.assertEqual(n, 4)  # FMAP, bootblock, romstage, payload
        r = run("tpm", "predict-pcr2", "--rom", rom)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), want)
        self.assertRegex(r.stdout.strip(), r"^[0-9a-f]{64}$")
        # Changing a file that coreboot does not load leaves PCR 2 alone.
        p = self.write("cfg2", "export CONFIG_X=y\n")
        cbfs_images.cbfstool(rom, "remove", "-r", "COREBOOT", "-n", "heads/initrd/etc/config.user")
        cbfs_images.cbfstool(rom, "add", "-r", "COREBOOT", "-f", p, "-n",
                             "heads/initrd/etc/config.user", "-t", "raw")
        self.assertEqual(run("tpm", "predict-pcr2", "--rom", rom).stdout.strip(), want)

    def test_romcfg_cbfs_backend(self):
        """heads rom reads the owner's files from heads/initrd/ in CBFS and
        writes them there (issue 24's CBFS writer)."""
        rom = os.path.join(self.tmp, "f.rom")
        cbfs_images.fmap_image(rom)
        files = cbfs_images.populate(rom, self.tmp)
        bad = self.write("bad", "x")
        cbfs_images.cbfstool(rom, "add", "-r", "COREBOOT", "-f", bad, "-n",
                             "heads/initrd/etc/shadow", "-t", "raw")
        r = run("rom", "list", "--device", rom)
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("etc/config.user", ".gnupg/pubring.kbx"):
            data = files["heads/initrd/" + name]
            self.assertIn(f"{name} {len(data)} {hashlib.sha256(data).hexdigest()}", r.stdout)
        self.assertNotIn("shadow", r.stdout)
        root = os.path.join(self.tmp, "root")
        r = run("rom", "extract", "--device", rom, "--root", root)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(root, "etc/config.user"), "rb") as fh:
            self.assertEqual(fh.read(), files["heads/initrd/etc/config.user"])
        # Writing: the owner's files replaced with our CBFS writer, the same
        # bytes as cbfstool's removes and adds (other files untouched).
        want_rom = os.path.join(self.tmp, "want.rom")
        with open(rom, "rb") as a, open(want_rom, "wb") as b:
            b.write(a.read())
        for name in ("heads/initrd/etc/config.user", "heads/initrd/.gnupg/pubring.kbx"):
            cbfs_images.cbfstool(want_rom, "remove", "-r", "COREBOOT", "-n", name)
        kbx = self.write("kbx", files["heads/initrd/.gnupg/pubring.kbx"], "wb")
        for src, name in ((kbx, ".gnupg/pubring.kbx"), (bad, "etc/config.user")):
            cbfs_images.cbfstool(want_rom, "add", "-r", "COREBOOT", "-f", src, "-n",
                                 "heads/initrd/" + name, "-t", "raw")
        r = run("rom", "add", "--device", rom, f"etc/config.user={bad}")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(rom, "rb") as a, open(want_rom, "rb") as b:
            self.assertEqual(a.read(), b.read())
        r = run("rom", "list", "--device", rom)
        self.assertIn(f"etc/config.user 1 {hashlib.sha256(b'x').hexdigest()}", r.stdout)
        # LZMA-compressed owner files are read decompressed.
        cfg = self.write("cfg", 'export CONFIG_X="y"\n' * 50)
        cbfs_images.cbfstool(rom, "remove", "-r", "COREBOOT", "-n", "heads/initrd/etc/config.user")
        cbfs_images.cbfstool(rom, "add", "-r", "COREBOOT", "-f", cfg, "-n",
                             "heads/initrd/etc/config.user", "-t", "raw", "-c", "lzma")
        with open(cfg, "rb") as fh:
            want = fh.read()
        r = run("rom", "list", "--device", rom)
        self.assertIn(f"etc/config.user {len(want)} {hashlib.sha256(want).hexdigest()}", r.stdout)

    def test_coreboot_log_vs_rom(self):
        """A saved coreboot log replays; against the ROM it was made from every
        stage is "as in"; against a ROM whose romstage changed, that stage is
        named MOVED (exit 1)."""
        rom = os.path.join(self.tmp, "f.rom")
        cbfs_images.fmap_image(rom)
        cbfs_images.populate(rom, self.tmp)
        m = rom_measurements(rom)
        log = self.write("log.bin", coreboot_log([(2, d, n) for n, d in m]), "wb")
        want, _ = predict_pcr2_python(rom)
        r = run("tpm", "coreboot-log", "--log", log, "--rom", rom)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"PCR 2 replay {want}", r.stdout)
        self.assertIn("CBFS: fallback/romstage: as in", r.stdout)
        p = self.write("rs", "changed romstage")
        cbfs_images.cbfstool(rom, "remove", "-r", "COREBOOT", "-n", "fallback/romstage")
        cbfs_images.cbfstool(rom, "add", "-r", "COREBOOT", "-f", p, "-n", "fallback/romstage",
                             "-t", "raw")
        r = run("tpm", "coreboot-log", "--log", log, "--rom", rom)
        self.assertEqual(r.returncode, 1)
        self.assertIn("CBFS: fallback/romstage: MOVED", r.stdout)
        self.assertIn("CBFS: bootblock: as in", r.stdout)
        # A log that is not coreboot's: refused.
        junk = self.write("junk.bin", b"\0" * 64, "wb")
        self.assertEqual(run("tpm", "coreboot-log", "--log", junk).returncode, 1)

    def test_errors(self):
        junk = self.write("junk", b"\x00" * 4096, "wb")
        r = run("tpm", "predict-pcr2", "--rom", junk)
        self.assertEqual(r.returncode, 1)
        r = run("cbfs", "extract", "--rom", junk, "--name", "x")
        self.assertEqual(r.returncode, 1)
        r = run("cbfs", "list", "--rom", os.path.join(self.tmp, "missing"))
        self.assertEqual(r.returncode, 1)
        r = run("cbfs", "list")
        self.assertEqual(r.returncode, 2)
        # A header whose length runs past the region is refused, not read.
        rom = os.path.join(self.tmp, "f.rom")
        cbfs_images.fmap_image(rom)
        with open(rom, "r+b") as fh:
            fh.seek(0x1000 + 8)
            fh.write((0x7fffffff).to_bytes(4, "big"))
        r = run("cbfs", "list", "--rom", rom)
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    unittest.main()
