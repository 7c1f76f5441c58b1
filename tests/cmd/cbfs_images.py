"""Small coreboot-like images for the CBFS tests, made with Debian's cbfstool
(coreboot-utils) on an FMAP written here (the format of coreboot's
fmap_serialized.h: little-endian)."""
import os
import struct
import subprocess


def fmap(base, size, name, areas):
    """areas: [(name, offset, size, flags)]."""
    b = b"__FMAP__" + bytes([1, 1]) + struct.pack("<QI", base, size)
    b += name.encode().ljust(32, b"\0") + struct.pack("<H", len(areas))
    for n, off, sz, fl in areas:
        b += struct.pack("<II", off, sz) + n.encode().ljust(32, b"\0") + struct.pack("<H", fl)
    return b


def empty_cbfs(size):
    """A CBFS region holding one empty (null) file spanning it, as cbfstool
    writes one (header 24 bytes + 16 name bytes, data offset 0x28... but
    aligned names: we use offset 0x40)."""
    hdr = b"LARCHIVE" + struct.pack(">IIII", size - 0x40, 0xffffffff, 0, 0x40)
    hdr = hdr.ljust(0x40, b"\0")
    return hdr + b"\xff" * (size - 0x40)


def fmap_image(path, size=0x10000, cbfs_off=0x1000):
    """An image of size bytes: FMAP area at 0 (0x1000), COREBOOT after it."""
    img = bytearray(b"\xff" * size)
    f = fmap(0xffffffff - size + 1, size, "FLASH",
             [("FMAP", 0, 0x1000, 0), ("COREBOOT", cbfs_off, size - cbfs_off, 0)])
    img[0:len(f)] = f
    img[cbfs_off:size] = empty_cbfs(size - cbfs_off)
    with open(path, "wb") as fh:
        fh.write(img)


def cbfstool(*args):
    r = subprocess.run(["cbfstool", *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"cbfstool {' '.join(args)}: {r.stderr}")
    return r.stdout


def populate(path, tmp, region=True):
    """Add files of several kinds: raw, LZMA raw, a 'bootblock'-named and
    stage-like raw files (for PCR 2), a name under heads/initrd/."""
    r = ["-r", "COREBOOT"] if region else []
    files = {
        "heads/initrd/etc/config.user": b'export CONFIG_BOOT_DEV="/dev/vda1"\n',
        "heads/initrd/.gnupg/pubring.kbx": os.urandom(700),
        "bootblock": b"BB" * 300,
        "fallback/romstage": b"RS" * 513,
        "fallback/payload": b"PL" * 1000,
    }
    for name, data in files.items():
        p = os.path.join(tmp, name.replace("/", "_"))
        with open(p, "wb") as f:
            f.write(data)
        cbfstool(path, "add", *r, "-f", p, "-n", name, "-t", "raw")
    big = os.path.join(tmp, "big")
    with open(big, "wb") as f:
        f.write(b"compressible " * 500)
    cbfstool(path, "add", *r, "-f", big, "-n", "config", "-t", "raw", "-c", "lzma")
    return files


# coreboot's build record in CBFS (build_info, config: CONFIG_INCLUDE_CONFIG_FILE),
# as the PCR 2 prediction reads it: coreboot 26.06 measuring into the SHA-256
# bank (build_record()) or with another .config (build_record(config=...)).
MEASURED_SHA256 = (b"CONFIG_TPM2=y\nCONFIG_TPM_MEASURED_BOOT=y\n"
                   b"# CONFIG_TPM_MEASURED_BOOT_INIT_BOOTBLOCK is not set\n"
                   b'CONFIG_TPM_MEASURED_BOOT_RUNTIME_DATA=""\n'
                   b"# CONFIG_TPM_HASH_SHA1 is not set\nCONFIG_TPM_HASH_SHA256=y\n"
                   b'CONFIG_CMOS_DEFAULT_FILE="src/mainboard/$(MAINBOARDDIR)/cmos.default"\n')


def build_record(version=b"26.06", config=MEASURED_SHA256):
    return [("build_info", b"COREBOOT_VERSION: " + version + b"\nMAINBOARD_VENDOR: Emulation\n"),
            ("config", config)]


def newc(files):
    """A newc cpio of {name: bytes} (regular files, 0644) with its trailer."""
    out = bytearray()
    for ino, (name, data) in enumerate(list(files.items()) + [("TRAILER!!!", b"")], 1):
        n = name.encode() + b"\0"
        mode = 0o100644 if name != "TRAILER!!!" else 0
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(n), 0))
        out += hdr.encode() + n
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def self_payload(initrd, kernel=b"\xfc" * 600):
    """A coreboot SELF as `cbfstool add-payload` makes for Linux: a CODE
    segment, the initramfs as an uncompressed DATA segment, the entry."""
    import struct
    segs = [(0x434F4445, kernel, 0x1000000), (0x44415441, initrd, 0x4000000)]
    off = 28 * (len(segs) + 1)
    head, body = b"", b""
    for t, data, addr in segs:
        head += struct.pack(">IIIQII", t, 0, off + len(body), addr, len(data), len(data))
        body += data
    head += struct.pack(">IIIQII", 0x454E5452, 0, 0, 0x40000, 0, 0)
    return head + body
