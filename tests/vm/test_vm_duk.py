#!/usr/bin/env python3
"""VM suite, the Disk Unlock Key end to end (issue 9): the payload in QEMU
(SeaBIOS, TCG) with a private swtpm, a ROM config area and a private copy of
the demo disk, all kept across boots (one machine).

Host: a test GPG key (temporary GNUPGHOME); its public keyring into the ROM
image (`heads rom add-keyring`); a second boot entry whose kernel is not a
kernel (added to the demo disk's grub.cfg with debugfs) to make a boot fail
after the unseal.
Boot 1, recovery shell: `heads tpm reset`, `heads totp seal`, the default
entry (kexec_default.1.txt + hashes), the signing key imported into a tmpfs
GNUPGHOME through the console, `heads duk setup` on /dev/vda2 and /dev/vda3
(Disk Recovery Key, DUK passphrase, seal, /boot signed). Passphrases reach
the commands through fds from tmpfs files, never argv.
Boot 2, menu: default boot -> TOTP, DUK passphrase -> unsealed, injected,
kexec: the target reaches both markers (root and /home) and never asks
for a passphrase.
Boot 3, menu: the broken entry -> the DUK unseals (PCR 4 "generic") and the
kexec fails -> recovery shell: a second unseal in the same boot is refused
(PCR 4 moved), with the correct passphrase.
Boot 4, menu: three wrong DUK passphrases -> the Disk Recovery Key fallback:
the target asks for it (once per container) and reaches both markers.
Boot 5: a key slot added to home_crypt on the host: the default boot refuses
the DUK, the message names /dev/vda3.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

BOOT_TIMEOUT = 300     # payload boot under TCG on 2 shared cores
STEP = 600             # a step that may sign /boot or seal under TCG
TARGET_TIMEOUT = 600   # the target's initramfs + systemd under TCG
DRK = "heads-demo-drk"              # the demo disk's Disk Recovery Key
DUK = "duk-test-passphrase-1"       # >= 12 characters
OWNER = "owner-pass"
ROOT_MARKER = "HEADS-DEMO-TARGET: systemd reached"
HOME_MARKER = "HEADS-DEMO-HOME: /home mounted from home_crypt"
BROKEN_TITLE = "Broken kernel (test)"


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


def partitions(img):
    """[(start_byte, size_bytes)] of the GPT partitions, in order."""
    t = json.loads(run("sfdisk", "-J", img).stdout)["partitiontable"]
    return [(p["start"] * 512, p["size"] * 512) for p in t["partitions"]]


def extract(img, part, path):
    start, size = part
    with open(img, "rb") as src, open(path, "wb") as dst:
        src.seek(start)
        dst.write(src.read(size))


def write_back(img, part, path):
    start, size = part
    with open(path, "rb") as src, open(img, "r+b") as dst:
        data = src.read()
        assert len(data) == size
        dst.seek(start)
        dst.write(data)


def add_broken_entry(tmp, img):
    """/boot of the disk: a second grub entry whose kernel is a text file
    (kexec_file_load refuses it), with the real initrd."""
    part = partitions(img)[0]
    boot = os.path.join(tmp, "boot.part")
    extract(img, part, boot)
    cfg = run("debugfs", "-R", "cat grub/grub.cfg", boot).stdout.decode()
    initrd = re.search(r"initrd (/initrd\.img-\S+)", cfg).group(1)
    cfg += (f"menuentry '{BROKEN_TITLE}' {{\n\tlinux /broken-kernel root=/dev/mapper/root_crypt"
            f" ro console=ttyS0\n\tinitrd {initrd}\n}}\n")
    for name, data in (("grub/grub.cfg", cfg), ("broken-kernel", "not a kernel\n")):
        src = os.path.join(tmp, "newfile")
        with open(src, "w") as f:
            f.write(data)
        if name == "grub/grub.cfg":
            run("debugfs", "-w", "-R", f"rm {name}", boot)
        run("debugfs", "-w", "-R", f"write {src} {name}", boot)
    write_back(img, part, boot)
    os.unlink(boot)


def add_keyslot(tmp, img, index):
    """Add a key slot to the LUKS container of partition index (host side:
    the partition is copied out, changed with cryptsetup, written back)."""
    part = partitions(img)[index]
    path = os.path.join(tmp, f"part{index}.img")
    extract(img, part, path)
    keys = os.path.join(tmp, "keys")
    os.makedirs(keys, mode=0o700, exist_ok=True)
    old, new = os.path.join(keys, "old"), os.path.join(keys, "new")
    with open(old, "w") as f:
        f.write(DRK)
    with open(new, "w") as f:
        f.write("an-added-passphrase")
    run("cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2",
        "--pbkdf-force-iterations", "1000", "--key-file", old, path, new)
    write_back(img, part, path)
    os.unlink(path)


check = vm.check


def enter_until(m, pattern, timeout=STEP):
    """Answer every "[Press Enter to continue]" until pattern shows;
    returns the text seen."""
    seen = ""
    while True:
        out = m.expect(r"\[Press Enter to continue\]|" + pattern, timeout, regex=True)
        seen += out
        if out.endswith("[Press Enter to continue]"):
            m.send("\n")
            continue
        return seen


class DukVM(vm.VM):
    """One machine: TPM state, ROM and disk kept across boots; line-mode UI.
    The disk goes in as the first of `drives` (-device virtio-blk-pci, like
    the ROM): QEMU creates `if=virtio` drives after every -device, so with
    disk= the ROM would take /dev/vda (CONFIG_BOOT_DEV is /dev/vda1)."""

    def __init__(self, payload, disk, state, rom, name):
        super().__init__(payload, firmware="seabios", append="HEADS_UI=line", name=name,
                         state=state, snapshot=False, rom=rom, drives=[disk])


class DukFlow(unittest.TestCase):
    def test_duk_setup_unlock_second_unseal_fallback_header_change(self):
        try:
            payload = vm.ensure_payload()
            demo = vm.ensure_disk()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        for tool in ("gpg", "debugfs", "cryptsetup", "sfdisk"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} not installed")
        with tempfile.TemporaryDirectory(prefix="heads-vm-duk-") as tmp:
            self.flow(tmp, payload, demo)

    def flow(self, tmp, payload, demo):
        disk = os.path.join(tmp, "disk.img")
        run("cp", "--sparse=always", demo, disk)
        add_broken_entry(tmp, disk)
        # The owner's key (host), its public keyring into the ROM image.
        secret_key, rom = vm.owner_key_and_rom(self, tmp, "DUK Test <duk@example.org>")
        state = os.path.join(tmp, "tpm")

        # Boot 1: ownership and the DUK setup from the recovery shell.
        with DukVM(payload, disk, state, rom, "vm-duk-1") as m:
            m.recovery_shell(BOOT_TIMEOUT)
            vm.owner_setup(self, m, secret_key, OWNER, DRK, DUK, STEP)
            # /boot signed with the first entry as the default (as the
            # ownership wizard does), then the DUK files signed with it.
            overrides = vm.sign_and_duk_setup(self, m, 1, STEP)
            self.assertIn("Debian GNU/Linux (LUKS2 root)|elf|",
                          m.shell("cat /boot/kexec_default.1.txt"))
            self.assertIn("cryptroot/crypttab:root_crypt UUID=", overrides)
            self.assertIn("cryptroot/crypttab:home_crypt UUID=", overrides)
            rc, out = check(m, "heads boot verify --boot /boot --keyring /.gnupg 2>&1")
            self.assertEqual(rc, 0, out)
            vm.power_off(m)

        # Boot 2: the default boot unseals the DUK; the target opens both
        # containers with it and asks for nothing.
        with DukVM(payload, disk, state, rom, "vm-duk-2") as m:
            out = m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            out += m.expect("Choose [1-5 or key", 60)
            self.assertNotIn("TOTP Generation Failed", out)
            self.assertNotIn("GPG keyring empty", out)
            m.send("d\n")
            out = enter_until(m, r"attempt 1 of 3, blank to abort\)")
            self.assertIn("TOTP: ", out)
            m.send(DUK + "\n")
            out = m.expect("Disk Unlock Key injected into the initrd", STEP)
            self.assertIn("/dev/vda2: opens with the Disk Unlock Key (key slot 31)", out)
            self.assertIn("/dev/vda3: opens with the Disk Unlock Key (key slot 31)", out)
            out = m.expect(ROOT_MARKER, TARGET_TIMEOUT)
            out += m.expect(HOME_MARKER, TARGET_TIMEOUT)
            self.assertNotIn("Please unlock disk", out)
            self.assertIn("cryptsetup: root_crypt: set up successfully", out)
            self.assertIn("cryptsetup: home_crypt: set up successfully", out)

        # Boot 3: the DUK unseals for the broken entry, whose kexec fails;
        # in the recovery shell a second unseal is refused (PCR 4 moved).
        with DukVM(payload, disk, state, rom, "vm-duk-3") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            m.send("o\n")
            m.expect("Choose [1-15 or key", 60)
            m.send("b\n")
            m.expect("Choose [1-4 or key", 60)
            m.send("m\n")
            out = m.expect("Choose [1-2 or key", STEP)
            self.assertIn(BROKEN_TITLE, out)
            m.send("2\n")
            m.expect("Choose [1-3 or key", 60)
            m.send("y\n")
            enter_until(m, r"attempt 1 of 3, blank to abort\)")
            m.send(DUK + "\n")
            out = enter_until(m, "Entering the recovery shell")
            self.assertIn("Disk Unlock Key injected into the initrd", out)
            self.assertIn(f"Cannot boot '{BROKEN_TITLE}'", out)
            m.send("dmesg -n 1\n")
            trace = vm.parse_trace(m.shell("cat /tmp/measuring_trace.log"))
            pcr4 = [d for p, _, d in trace if p == 4]
            self.assertEqual(pcr4, ["generic", "recovery"])
            m.shell(f"mkdir -m 700 /tmp/t && echo '{DUK}' > /tmp/t/duk")
            m.shell("mountpoint -q /boot || mount -o ro -t ext4 /dev/vda1 /boot")
            rc, out = check(m, "heads duk unlock --boot /boot --keyring /.gnupg --no-act "
                               "--drk-fallback no --duk-fd 3 3</tmp/t/duk 2>&1")
            self.assertEqual(rc, 1, out)
            self.assertNotIn("duk: unlocked", out)
            self.assertIn("PCR 4 expected", out)
            m.send("poweroff -f\n")
            m.qemu.wait(120)

        # Boot 4: three wrong DUK passphrases -> the Disk Recovery Key,
        # typed into the target for each container.
        with DukVM(payload, disk, state, rom, "vm-duk-4") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            m.send("d\n")
            for attempt in (1, 2, 3):
                enter_until(m, rf"attempt {attempt} of 3, blank to abort\)")
                m.send(f"wrong passphrase {attempt}\n")
            out = enter_until(m, r"boot and use the LUKS Disk Recovery Key\?")
            self.assertIn("Wrong Disk Unlock Key passphrase", out)
            m.send("y\n")
            m.expect("Please unlock disk root_crypt", TARGET_TIMEOUT)
            m.send(DRK + "\n")
            m.expect("Please unlock disk home_crypt", TARGET_TIMEOUT)
            m.send(DRK + "\n")
            m.expect(ROOT_MARKER, TARGET_TIMEOUT)
            m.expect(HOME_MARKER, TARGET_TIMEOUT)

        # Boot 5: home_crypt's header changed on the host (a key slot added):
        # the DUK is refused before any passphrase, naming the device.
        add_keyslot(tmp, disk, 2)
        with DukVM(payload, disk, state, rom, "vm-duk-5") as m:
            m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
            m.expect("Choose [1-5 or key", 60)
            m.send("d\n")
            out = enter_until(m, r"boot and use the LUKS Disk Recovery Key\?")
            self.assertIn("Encrypted disk keys have changed", out)
            self.assertIn("/dev/vda3: LUKS header changed", out)
            self.assertNotIn("/dev/vda2: LUKS header changed", out)
            self.assertIn("Reseal the Disk Unlock Key", out)
            self.assertNotIn("attempt 1 of 3", out)
            m.send("n\n")
            m.expect("Entering the recovery shell", STEP)


if __name__ == "__main__":
    vm.main()
