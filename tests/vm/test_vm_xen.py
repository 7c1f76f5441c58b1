#!/usr/bin/env python3
"""VM suite, Qubes-style Xen boots (issue 25): the payload in QEMU (board qemu
with SeaBIOS, TCG, -cpu max,-smap, 2 GiB) with a private swtpm, a ROM config area and a private
copy of the Xen demo disk (tools/disk-xen: Debian 12 dom0 + Xen 4.17, grub.cfg
by Debian's update-grub, btrfs root and swap in two LUKS2 containers), all kept
across boots (one machine).

Boot 1, recovery shell: `heads tpm reset`, `heads totp seal`, /boot signed
with the Xen entry as the default (kexec_default.N.txt, as the ownership
wizard's default choice), `heads duk setup` on both containers: the crypttab
overrides come from the dom0 initrd (module 2 of the Xen entry).
Boot 2, menu: the Xen entry chosen from the boot menu (the confirmation
shows the hypervisor and its modules) -> TOTP, DUK passphrase -> unsealed,
injected into the dom0 initrd, the .gz Xen decoded in memory and kexec'd via
kexec-tools (multiboot2) from /proc/self/fd -> Xen starts, dom0's initramfs
opens both containers with the injected key (no passphrase asked) and prints
HEADS-XEN-DOM0 (/sys/hypervisor/type = xen, both mappings open). The time
from the menu choice to that marker is printed (bench/RESULTS.md).
Boot 3, menu: the default boot (the saved Xen entry) boots the same way.
Boot 4: one byte of xen-4.17-amd64.gz changed on the host: the default boot
is refused (Boot Hash Mismatch naming the file), no DUK passphrase is asked,
nothing starts.

    test_vm_xen.py [XenFlow | CorebootXenFlow | OvmfXenRefused]

XenFlow (vm-xen-duk): board qemu, SeaBIOS.
OvmfXenRefused (vm-xen-ovmf-refused): board qemu on OVMF (UEFI): boot 1,
then the menu refuses the Xen entry with the reason before the DUK
(kexec_plan_firmware_refusal()).
CorebootXenFlow (vm-coreboot-xen): the same four boots on board
qemu-coreboot (coreboot's ACPI tables and e820 map under Xen after the
kexec), from a copy of the built ROM (test_flash()).
"""
import os
import re
import shutil
import sys
import subprocess
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402
import test_vm_duk as duk  # noqa: E402 (helpers only)
import test_vm_coreboot as tcb  # noqa: E402 (the coreboot ROM builder)
cbrun = tcb.cbrun

BOOT_TIMEOUT = 300
STEP = 600
DOM0_TIMEOUT = 300     # Xen + the dom0 initramfs under TCG (measured: 20-40 s)
DRK = "heads-demo-drk"
DUK = "duk-test-passphrase-1"
OWNER = "owner-pass"
DOM0_MARKER = "HEADS-XEN-DOM0: hypervisor=xen root=open swap=open"
XEN_GZ = "xen-4.17-amd64.gz"
XEN_TITLE = "Debian GNU/Linux, with Xen hypervisor"
check, enter_until, run = duk.check, duk.enter_until, duk.run


class XenVM(vm.VM):
    """One machine; the disk first among the drives (/dev/vda, the board's
    CONFIG_BOOT_DEV vda1), the ROM after it. SeaBIOS, like coreboot, puts
    the ACPI RSDP in the legacy F segment, where Xen looks for it after a
    kexec: kexec-tools' multiboot2 loader passes no ACPI or EFI tags. On
    OVMF (HEADS_XEN_FIRMWARE=ovmf, measured 2026-12-07) the machine reset
    right after "kexec_core: Starting new kernel", before Xen's banner: the
    menu now refuses Xen there (OvmfXenRefused)."""

    def __init__(self, payload, disk, state, rom, name, firmware=None):
        super().__init__(payload, firmware=firmware or os.environ.get("HEADS_XEN_FIRMWARE",
                                                                      "seabios"),
                         append="HEADS_UI=line", name=name,
                         state=state, snapshot=False, rom=rom, drives=[disk],
                         memory=2048, cpu="max,-smap")


def change_xen_byte(tmp, img):
    """One byte of /boot/xen-4.17-amd64.gz flipped on the host (debugfs)."""
    part = duk.partitions(img)[0]
    boot = os.path.join(tmp, "boot.part")
    duk.extract(img, part, boot)
    src = os.path.join(tmp, "xen.gz")
    run("debugfs", "-R", f"dump {XEN_GZ} {src}", boot)
    with open(src, "r+b") as f:
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0x01]))
    run("debugfs", "-w", "-R", f"rm {XEN_GZ}", boot)
    run("debugfs", "-w", "-R", f"write {src} {XEN_GZ}", boot)
    duk.write_back(img, part, boot)
    os.unlink(boot)


class CorebootXenVM(vm.VM):
    """The same machine on board qemu-coreboot: coreboot + Heads from a
    private flash image (pflash, kept across boots), the disk first
    (/dev/vda), the ROM config area after it; -cpu max,-smap, 2 GiB.
    coreboot keeps a copy of the ACPI RSDP in the legacy F segment, where
    Xen finds it after the kexec."""

    def __init__(self, flash, disk, state, rom, name):
        super().__init__(None, disk=disk, name=name, state=state, snapshot=False, rom=rom,
                         memory=2048, cpu="max,-smap")
        self.flash_image = flash

    def start(self):
        self.swtpm = vm.board.start_swtpm(self.state)
        argv = cbrun.qemu_argv(self.flash_image, self.state, self.disk, interactive=False,
                               memory=self.memory, snapshot=False, rom=self.rom,
                               cpu=self.cpu)
        vm.log("starting: " + " ".join(argv))
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.qemu = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.t0 = time.monotonic()
        threading.Thread(target=self._reader, daemon=True).start()


# The board has no busybox (its recovery shell is dash alone); boot 1's setup
# shell needs these, so the test's flash carries busybox-static for them.
SETUP_TOOLS = ("mount", "umount", "mkdir", "cat", "base64", "sync", "poweroff", "dmesg")


def setup_tools_cpio(tmp):
    """An xz cpio (CRC32, as the kernel's decoder wants) with the host's
    static busybox as /usr/bin/busybox and SETUP_TOOLS linked to it."""
    root = os.path.join(tmp, "tools-root")
    os.makedirs(os.path.join(root, "usr", "bin"))
    shutil.copyfile("/bin/busybox", os.path.join(root, "usr", "bin", "busybox"))
    os.chmod(os.path.join(root, "usr", "bin", "busybox"), 0o755)
    for t in SETUP_TOOLS:
        os.symlink("busybox", os.path.join(root, "usr", "bin", t))
    names = "usr\nusr/bin\nusr/bin/busybox\n" + "".join(f"usr/bin/{t}\n" for t in SETUP_TOOLS)
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--owner", "0:0", "--quiet"],
                          input=names.encode(), cwd=root, capture_output=True, check=True).stdout
    return subprocess.run(["xz", "--check=crc32", "-6", "-c"], input=cpio,
                          capture_output=True, check=True).stdout


def test_flash(rom, out, tmp):
    """A copy of the built ROM for this test: its Linux payload is the same
    bzImage and initrd, with HEADS_UI=line added to the board's kernel
    command line (the menu talks line mode on the serial console, as on
    board qemu; the command line is inside the ROM) and a second initrd
    archive appended (the kernel unpacks concatenated archives) holding
    busybox for boot 1's setup shell. heads, kexec-tools and the kernel are
    the board's. cbfstool replaces fallback/payload, uncompressed as the
    board builds it; nothing else moves."""
    cmdline = None
    with open(os.path.join(tcb.BOARD, "coreboot.config")) as f:
        for line in f:
            if line.startswith("CONFIG_LINUX_COMMAND_LINE="):
                cmdline = line.split("=", 1)[1].strip().strip('"')
    if cmdline is None:
        raise RuntimeError("boards/qemu-coreboot/coreboot.config: no CONFIG_LINUX_COMMAND_LINE")
    with open(os.path.join(out, "initrd.cpio.xz"), "rb") as f:
        initrd = f.read()
    initrd += bytes(-len(initrd) % 4) + setup_tools_cpio(tmp)
    initrd_path = os.path.join(tmp, "initrd-test.cpio.xz")
    with open(initrd_path, "wb") as f:
        f.write(initrd)
    flash = os.path.join(tmp, "flash.rom")
    shutil.copyfile(rom, flash)
    run("cbfstool", flash, "remove", "-n", "fallback/payload")
    run("cbfstool", flash, "add-payload", "-n", "fallback/payload", "-c", "none",
        "-f", os.path.join(out, "bzImage"), "-I", initrd_path,
        "-C", cmdline + " HEADS_UI=line")
    return flash


class XenFlow(unittest.TestCase):
    """Board qemu (SeaBIOS; HEADS_XEN_FIRMWARE=ovmf to try OVMF)."""
    tag = "vm-xen"
    refused = False
    firmware = {}  # XenVM's firmware argument (the default: SeaBIOS)

    def test_xen_duk_choice_default_tamper(self):
        try:
            payload = vm.ensure_payload()
            disk_img = vm.ensure_xen_disk()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        for tool in ("gpg", "debugfs", "sfdisk"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} not installed")
        with tempfile.TemporaryDirectory(prefix=f"heads-{self.tag}-") as tmp:
            self.machine = lambda disk, state, rom, name: XenVM(payload, disk, state, rom, name,
                                                                **self.firmware)
            self.flow(tmp, disk_img)


    def xen_boot(self, m, t_choice):
        """After the menu choice: DUK passphrase, then Xen and dom0."""
        enter_until(m, r"attempt 1 of 3, blank to abort\)")
        m.send(DUK + "\n")
        out = m.expect("Disk Unlock Key injected into the initrd", STEP)
        self.assertIn("/dev/vda2: opens with the Disk Unlock Key", out)
        self.assertIn("/dev/vda3: opens with the Disk Unlock Key", out)
        # fail fast on the ways this can go wrong (kexec refused, Xen or
        # dom0 crashed, a passphrase asked)
        out = m.expect(r"Xen version 4\.17|Entering the recovery shell", DOM0_TIMEOUT,
                       regex=True)
        self.assertIn("Xen version 4.17", out)
        out += m.expect(r"HEADS-XEN-DOM0(-FAILED)?: [^\r\n]*|Panic on CPU|Dom0 crashed|"
                        r"Kernel panic|Please unlock disk", DOM0_TIMEOUT, regex=True)
        self.assertIn(DOM0_MARKER, out)
        # (dom0's /dev/console is the board's console=ttyS0, which Xen keeps:
        # the marker, written to hvc0, is the evidence that both opened)
        self.assertNotIn("Please unlock disk", out)
        return time.monotonic() - t_choice

    def flow(self, tmp, disk_img):
        disk = os.path.join(tmp, "disk.img")
        run("cp", "--sparse=always", disk_img, disk)
        secret_key, rom = vm.owner_key_and_rom(self, tmp, "Xen Test <xen@example.org>")
        state = os.path.join(tmp, "tpm")

        # Boot 1: ownership pieces, the Xen entry as default, the DUK.
        with self.machine(disk, state, rom, f"{self.tag}-1") as m:
            m.recovery_shell(BOOT_TIMEOUT)
            vm.owner_setup(self, m, secret_key, OWNER, DRK, DUK, STEP)
            listing = m.shell("heads entries --boot /boot 2>/dev/null")
            xen = re.search(r"^(\d+)\txen\t" + re.escape(XEN_TITLE) + r"\s*$", listing, re.M)
            self.assertIsNotNone(xen, listing)
            overrides = vm.sign_and_duk_setup(self, m, xen.group(1), STEP)
            default = m.shell("cat /boot/kexec_default.*.txt")
            self.assertIn(f"{XEN_TITLE}|xen|kernel /{XEN_GZ}", default)
            self.assertRegex(overrides, r"cryptroot/crypttab:luks-\S+c2 UUID=\S+ /secret.key")
            self.assertRegex(overrides, r"cryptroot/crypttab:luks-\S+c3 UUID=\S+ /secret.key")
            vm.power_off(m)

        # Boot 2: the Xen entry chosen from the boot menu.
        with self.machine(disk, state, rom, f"{self.tag}-2") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            m.send("o\n")
            m.expect(r"Choose \[1-\d+ or key", 60, regex=True)
            m.send("b\n")
            m.expect(r"Choose \[1-\d+ or key", 60, regex=True)
            m.send("m\n")
            out = m.expect(r"Choose \[1-\d+ or key", STEP, regex=True)
            n = re.search(r"^\s*(\d+)\) \S*\s+" + re.escape(XEN_TITLE) + r"\s*$", out, re.M)
            self.assertIsNotNone(n, out)
            m.send(n.group(1) + "\n")
            out = m.expect("Choose [1-3 or key", 60)
            self.assertIn(f"Hypervisor: /{XEN_GZ}", out)
            self.assertRegex(out, r"Module 1: /vmlinuz-\S+\s+arguments: placeholder\s")
            self.assertRegex(out, r"Module 2: /initrd\.img-\S+")
            t_choice = time.monotonic()
            m.send("y\n")
            if self.refused:
                out = m.expect("ERROR: Boot refused", STEP)
                out += m.expect("[Press Enter to continue]", 60)
                flat = " ".join(out.split())  # the line UI folds the text
                self.assertIn("Xen cannot start on this machine: its firmware is UEFI", flat)
                self.assertIn("Xen entries boot on coreboot.", flat)
                self.assertNotIn("attempt 1 of 3", out)
                self.assertNotIn("Starting new kernel", out)
                m.send("\n")
                m.expect(r"Choose \[1-\d+ or key", 60, regex=True)  # still in the menu
                return
            secs = self.xen_boot(m, t_choice)
            print(f"{self.tag}: menu choice -> dom0 marker: {secs:.1f} s (includes the DUK "
                  "passphrase prompt, answered at once)", flush=True)

        # Boot 3: the saved default (the Xen entry) boots the same way.
        with self.machine(disk, state, rom, f"{self.tag}-3") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            t_choice = time.monotonic()
            m.send("d\n")
            secs = self.xen_boot(m, t_choice)
            print(f"{self.tag}: default boot -> dom0 marker: {secs:.1f} s", flush=True)

        # Boot 4: a changed byte in the signed .gz: refused, nothing loaded.
        change_xen_byte(tmp, disk)
        with self.machine(disk, state, rom, f"{self.tag}-4") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            m.send("d\n")
            out = m.expect("ERROR: Boot Hash Mismatch", STEP)
            out += m.expect("Choose [1-3 or key", 60)
            self.assertIn(XEN_GZ, out)
            self.assertNotIn("attempt 1 of 3", out)
            self.assertNotIn("Disk Unlock Key injected", out)
            self.assertNotIn("Xen version", out)



class OvmfXenRefused(XenFlow):
    """Board qemu on OVMF (UEFI): boot 1 as above, then the Xen entry chosen
    from the menu is refused with the reason (kexec_plan_firmware_refusal)
    before the DUK passphrase is asked, and the machine stays in the menu
    (no kexec, no reset)."""
    tag = "vm-xen-ovmf"
    refused = True
    firmware = {"firmware": "ovmf"}


class CorebootXenFlow(XenFlow):
    """Board qemu-coreboot: the same flow with coreboot's ACPI tables and
    memory map under Xen (the ROM as tests/vm/test_vm_coreboot.py builds it,
    with HEADS_UI=line and the setup shell's busybox: test_flash())."""
    tag = "vm-coreboot-xen"

    def test_xen_duk_choice_default_tamper(self):
        try:
            disk_img = vm.ensure_xen_disk()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        for tool in ("qemu-system-x86_64", "swtpm", "gpg", "debugfs", "sfdisk", "cbfstool",
                     "cpio", "xz"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} not installed")
        rom = tcb.ensure_rom()
        with tempfile.TemporaryDirectory(prefix="heads-vm-cb-xen-") as tmp:
            flash = test_flash(rom, tcb.OUT, tmp)
            self.machine = lambda disk, state, rom, name: CorebootXenVM(flash, disk, state,
                                                                        rom, name)
            self.flow(tmp, disk_img)


if __name__ == "__main__":
    vm.main()
