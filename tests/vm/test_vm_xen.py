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
"""
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402
import test_vm_duk as duk  # noqa: E402 (helpers only)

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
    OVMF (HEADS_XEN_FIRMWARE=ovmf, measured 2026-12-07) the machine resets
    right after "kexec_core: Starting new kernel", before Xen's banner."""

    def __init__(self, payload, disk, state, rom, name):
        super().__init__(payload, firmware=os.environ.get("HEADS_XEN_FIRMWARE", "seabios"),
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


class XenFlow(unittest.TestCase):
    def test_xen_duk_choice_default_tamper(self):
        try:
            payload = vm.ensure_payload()
            disk_img = vm.ensure_xen_disk()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        for tool in ("gpg", "debugfs", "sfdisk"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} not installed")
        with tempfile.TemporaryDirectory(prefix="heads-vm-xen-") as tmp:
            self.flow(tmp, payload, disk_img)

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

    def flow(self, tmp, payload, disk_img):
        disk = os.path.join(tmp, "disk.img")
        run("cp", "--sparse=always", disk_img, disk)
        secret_key, rom = vm.owner_key_and_rom(self, tmp, "Xen Test <xen@example.org>")
        state = os.path.join(tmp, "tpm")

        # Boot 1: ownership pieces, the Xen entry as default, the DUK.
        with XenVM(payload, disk, state, rom, "vm-xen-1") as m:
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
        with XenVM(payload, disk, state, rom, "vm-xen-2") as m:
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
            secs = self.xen_boot(m, t_choice)
            print(f"vm-xen: menu choice -> dom0 marker: {secs:.1f} s (includes the DUK "
                  "passphrase prompt, answered at once)", flush=True)

        # Boot 3: the saved default (the Xen entry) boots the same way.
        with XenVM(payload, disk, state, rom, "vm-xen-3") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            t_choice = time.monotonic()
            m.send("d\n")
            secs = self.xen_boot(m, t_choice)
            print(f"vm-xen: default boot -> dom0 marker: {secs:.1f} s", flush=True)

        # Boot 4: a changed byte in the signed .gz: refused, nothing loaded.
        change_xen_byte(tmp, disk)
        with XenVM(payload, disk, state, rom, "vm-xen-4") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            m.send("d\n")
            out = m.expect("ERROR: Boot Hash Mismatch", STEP)
            out += m.expect("Choose [1-3 or key", 60)
            self.assertIn(XEN_GZ, out)
            self.assertNotIn("attempt 1 of 3", out)
            self.assertNotIn("Disk Unlock Key injected", out)
            self.assertNotIn("Xen version", out)


if __name__ == "__main__":
    vm.main()
