#!/usr/bin/env python3
"""VM suite, board qemu-coreboot: coreboot 26.06 + Heads from an 8 MiB flash.

    test_vm_coreboot.py [RomTest | BootTest ...]

RomTest: the ROM (tools/kernel, tools/payload, tools/rom; cached by input
hash) is exactly 8 MiB, a clean rebuild in another directory gives the same
sha256, and our CBFS reader agrees with Debian's cbfstool on every file.
BootTest: boots it (pflash, swtpm) to our init's recovery shell; PCR 2 read
live = the replay of coreboot's TPM log read from cbmem in the guest = the
host's prediction from the ROM file (`heads tpm predict-pcr2`).

The pinned coreboot tarballs come from the download cache
(/var/cache/heads/downloads, filled by `make rom`) or DOWNLOAD_MIRROR.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cmd"))
import vm  # noqa: E402
os.environ.setdefault("HEADS", vm.HEADS)
import test_cbfs  # noqa: E402
import importlib.util  # noqa: E402

BOARD = os.path.join(vm.SRCDIR, "boards", "qemu-coreboot")
OUT = os.path.join(vm.BUILDDIR, "qemu-coreboot")
_spec = importlib.util.spec_from_file_location("board_cb_run", os.path.join(BOARD, "run.py"))
cbrun = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cbrun)

BOOT_TIMEOUT = 300
ROM_SIZE = 8 * 1024 * 1024


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tool(*argv):
    r = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{r.stdout}{r.stderr}")
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.stdout


def ensure_rom():
    """build/qemu-coreboot/coreboot.rom from the current heads (each step
    cached by its inputs)."""
    os.environ.setdefault("HEADS_SRCDIR", vm.SRCDIR)
    tool(os.path.join(vm.SRCDIR, "tools/kernel/build-kernel.py"), "--board", BOARD, "--out", OUT)
    tool(os.path.join(vm.SRCDIR, "tools/payload/build-payload.py"), "--board", BOARD,
         "--heads", vm.HEADS, "--kernel", os.path.join(OUT, "bzImage"), "--out", OUT)
    tool(os.path.join(vm.SRCDIR, "tools/rom/build-rom.py"), "--board", BOARD, "--kernel",
         os.path.join(OUT, "bzImage"), "--initrd", os.path.join(OUT, "initrd.cpio.xz"),
         "--out", OUT)
    return os.path.join(OUT, "coreboot.rom")


class RomTest(unittest.TestCase):
    def test_rom(self):
        rom = ensure_rom()
        self.assertEqual(os.path.getsize(rom), ROM_SIZE)
        print(f"ROM sha256 {sha256_file(rom)}")
        with tempfile.TemporaryDirectory(prefix="heads-cbfs-") as d:
            ours = test_cbfs.compare_with_cbfstool(self, rom, d)
        names = [f["name"] for f in ours]
        for n in ("bootblock", "fallback/romstage", "fallback/postcar", "fallback/ramstage",
                  "fallback/payload"):
            self.assertIn(n, names)
        want, n = test_cbfs.predict_pcr2_python(rom)
        self.assertEqual(n, 6)
        r = subprocess.run([vm.HEADS, "tpm", "predict-pcr2", "--rom", rom],
                           capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), want)
        free = sum(f["size"] for f in ours if f["type_name"] == "null")
        print(f"CBFS free: {free} bytes")

    def test_reproducible(self):
        """A clean build in another directory gives the same ROM."""
        rom = ensure_rom()
        with tempfile.TemporaryDirectory(prefix="heads-rom-", dir=vm.BUILDDIR) as d:
            tool(os.path.join(vm.SRCDIR, "tools/rom/build-rom.py"), "--board", BOARD,
                 "--kernel", os.path.join(OUT, "bzImage"), "--initrd",
                 os.path.join(OUT, "initrd.cpio.xz"), "--out", d, "--no-cache")
            self.assertEqual(sha256_file(os.path.join(d, "coreboot.rom")), sha256_file(rom))


class CorebootVM(vm.VM):
    """vm.VM on the coreboot board: the ROM as pflash (a private copy)."""

    def __init__(self, flash, **kw):
        super().__init__(payload=None, flash=flash, **kw)


class BootTest(unittest.TestCase):
    def test_pcr2(self):
        rom = ensure_rom()
        with tempfile.TemporaryDirectory(prefix="heads-cb-") as d:
            flash = os.path.join(d, "flash.rom")
            with open(rom, "rb") as src, open(flash, "wb") as dst:
                dst.write(src.read())
            predicted = subprocess.run([vm.HEADS, "tpm", "predict-pcr2", "--rom", flash],
                                       capture_output=True, text=True, check=True).stdout.strip()
            with CorebootVM(flash, name="vm-coreboot") as m:
                m.expect("coreboot-26.06", BOOT_TIMEOUT)
                t_cb = m.elapsed()
                m.recovery_shell(BOOT_TIMEOUT)
                t_shell = m.elapsed()
                live = m.shell("heads tpm pcrread 2").split()[-1]
                sysfs = m.shell("read v < /sys/class/tpm/tpm0/pcr-sha256/2; echo $v").split()[-1]
                log = m.shell("heads tpm coreboot-log --rom /dev/mtd0; echo rc=$?")
                m.send("exit\n")
            print(log)
            print(f"coreboot banner at {t_cb:.1f} s, recovery shell at {t_shell:.1f} s")
            replay = [ln.split()[-1] for ln in log.splitlines() if ln.startswith("PCR 2 replay")]
            names = [ln.split("\t")[-1] for ln in log.splitlines() if ln.startswith("PCR 2\t")]
            self.assertEqual(names[:2], ["FMAP: FMAP", "CBFS: bootblock"])
            self.assertIn("CBFS: fallback/payload", names)
            # every stage as in the flash the guest reads through MTD
            self.assertIn("rc=0", log)
            self.assertIn("CBFS: fallback/payload: as in /dev/mtd0", log)
            self.assertNotIn("MOVED", log)
            self.assertEqual(live.lower(), sysfs.lower())
            self.assertEqual(replay, [live.lower()])
            self.assertEqual(predicted, live.lower())

    def test_romcfg_cbfs(self):
        """The owner's files as CBFS files heads/initrd/... in the flash: init
        reads them from /dev/mtd0, extracts them and measures them into PCR 7
        (live = the host's prediction from the flash image); PCR 2 does not
        move (coreboot does not load them)."""
        rom = ensure_rom()
        with tempfile.TemporaryDirectory(prefix="heads-cb-") as d:
            flash = os.path.join(d, "flash.rom")
            with open(rom, "rb") as src, open(flash, "wb") as dst:
                dst.write(src.read())
            cfg = os.path.join(d, "config.user")
            with open(cfg, "w") as f:
                f.write('export CONFIG_CB_TEST="from-cbfs"\n')
            kbx = os.path.join(d, "pubring.kbx")
            with open(kbx, "wb") as f:
                f.write(os.urandom(500) * 6)  # compressible: stored LZMA
            for src, name, comp in ((cfg, "etc/config.user", []),
                                    (kbx, ".gnupg/pubring.kbx", ["-c", "lzma"])):
                subprocess.run(["cbfstool", flash, "add", "-r", "COREBOOT", "-f", src, "-n",
                                "heads/initrd/" + name, "-t", "raw", *comp], check=True)
            pcr2 = [subprocess.run([vm.HEADS, "tpm", "predict-pcr2", "--rom", x],
                                   capture_output=True, text=True, check=True).stdout.strip()
                    for x in (rom, flash)]
            self.assertEqual(pcr2[0], pcr2[1])
            with CorebootVM(flash, name="vm-coreboot-romcfg") as m:
                m.recovery_shell(BOOT_TIMEOUT)
                value = m.shell("heads config get CONFIG_CB_TEST --file /etc/config.user")
                kbx_sum = m.shell("heads rom list").strip()
                base = m.shell("read b < /tmp/pcr7_base.txt; echo $b").split()[-1]
                live7 = m.shell("heads tpm pcrread 7").split()[-1]
                live2 = m.shell("heads tpm pcrread 2").split()[-1]
                m.send("exit\n")
            with open(m.log_path, errors="replace") as f:
                self.assertIn("ROM config area /dev/mtd0: 2 files", f.read())
            self.assertIn("from-cbfs", value)
            with open(kbx, "rb") as f:
                self.assertIn(hashlib.sha256(f.read()).hexdigest(), kbx_sum)
            want7 = subprocess.run([vm.HEADS, "rom", "predict-pcr7", "--device", flash,
                                    "--base", base, "--board",
                                    os.path.join(BOARD, "config")],
                                   capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(live7.lower(), want7)
            self.assertEqual(live2.lower(), pcr2[0])


if __name__ == "__main__":
    vm.main()
