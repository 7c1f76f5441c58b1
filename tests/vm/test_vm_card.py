#!/usr/bin/env python3
"""VM test, board qemu: the daily loop with the owner's OpenPGP card
(issue 16). One machine: a private swtpm state, a blank ROM config area, a
private copy of the cached Debian demo disk (root and /home in LUKS2) and
the card: the model tests/devices/openpgp_card.py runs on the host (never
in the payload), its state in a JSON file kept across boots, plugged in as
QEMU's USB CCID reader (qemu-xhci + usb-ccid + ccid-card-passthru, vm.VM
card=). In the guest: pcscd + libccid (started by init, CONFIG_CARD_PCSCD)
and gpg-agent + scdaemon, through which heads talks to the card.

Host, before boot 1: CONFIG_GPG_ALGO="ed25519" into the ROM's config.user.
Boot 1, menu, line mode: "Clean Boot Detected" -> ownership: TPM reset, the
dongle found -> keys generated on the card (after its factory reset), its
User and Admin PINs and cardholder set, the public key into the ROM
keyring, the default entry, /boot signed by the card (User PIN typed), the
TOTP sealed, the Disk Unlock Key on both containers (signed by the card
again); the ROM changed: power off.
Host: the card holds the new PINs and a signing key whose fingerprint is in
the ROM keyring; two signatures made.
Host, between boots: a kernel in /boot changed as an OS update does (bytes
appended to the kernel image: still a kernel, another hash).
Boot 2: the default boot refuses the changed /boot ("Boot Hash Mismatch");
"Update checksums now" signs it with the card (PIN typed); the default's
own hashes are stale, so the entry is chosen again from the verified boot
menu, made default (signed by the card again) and booted: /boot verifies,
the DUK passphrase unseals the key, Debian reaches systemd with both
containers opened by it (no passphrase asked).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vm  # noqa: E402
import test_vm_duk as duk  # noqa: E402 (disk helpers, passphrases, markers)
from test_vm_coreboot_flow import converse, duk_debian, yes_no  # noqa: E402

BOOT_TIMEOUT = 300
STEP = 900
USER_PIN, ADMIN_PIN = "24681357", "87654321x"
PIN_PROMPT = r"User PIN of the USB security dongle \(card [^)]*\): "
CHOOSE = r"Choose \[1-\d+ or key[^\]]*\]: "


class CardVM(vm.VM):
    """One boot of the machine: TPM state, ROM, disk and card kept."""

    def __init__(self, payload, disk, state, rom, card, name):
        super().__init__(payload, firmware="seabios", append="HEADS_UI=line", name=name,
                         state=state, snapshot=False, rom=rom, drives=[disk], card=card)

    def step(self, before, prompt, answer, timeout=STEP):
        """Wait for the text before, then the prompt (a regex) after it;
        answer it. Returns the text seen."""
        out = self.expect(before, timeout) if before else ""
        out += self.expect(prompt, timeout, regex=True)
        self.send(answer + "\n")
        return out


def grow_kernel(tmp, img):
    """An OS update of the kernel, on the host: the /boot partition's
    vmlinuz-* gets 4 KiB of zeros appended (a bzImage ignores trailing
    bytes, as it does an appended signature); returns its name."""
    part = duk.partitions(img)[0]
    boot = os.path.join(tmp, "boot.part")
    duk.extract(img, part, boot)
    names = duk.run("debugfs", "-R", "ls -p /", boot).stdout.decode()
    kernel = sorted(re.findall(r"/(vmlinuz-[^/]+)/", names))[-1]
    data = duk.run("debugfs", "-R", f"cat /{kernel}", boot).stdout
    new = os.path.join(tmp, "kernel.new")
    with open(new, "wb") as f:
        f.write(data + bytes(4096))
    duk.run("debugfs", "-w", "-R", f"rm /{kernel}", boot)
    duk.run("debugfs", "-w", "-R", f"write {new} /{kernel}", boot)
    duk.write_back(img, part, boot)
    os.unlink(boot)
    return kernel


class CardLoop(unittest.TestCase):
    def test_ownership_on_card_os_update_sign_duk_boot(self):
        try:
            payload = vm.ensure_payload()
            demo = vm.ensure_disk()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        if not shutil.which("debugfs"):
            self.fail("debugfs not installed (deps/debian-packages.txt)")
        with tempfile.TemporaryDirectory(prefix="heads-vm-card-") as tmp:
            self.loop(tmp, payload, demo)

    def loop(self, tmp, payload, demo):
        disk = os.path.join(tmp, "disk.img")
        duk.run("cp", "--sparse=always", demo, disk)
        state = os.path.join(tmp, "tpm")
        os.makedirs(state)
        card = os.path.join(tmp, "card.json")
        rom = vm.board.blank_rom(os.path.join(tmp, "rom.img"))
        cfg = os.path.join(tmp, "config.user")
        with open(cfg, "w") as f:
            f.write('export CONFIG_GPG_ALGO="ed25519"\n')
        duk.run(vm.HEADS, "rom", "add", "--device", rom, f"etc/config.user={cfg}")

        # Boot 1: ownership with the keys generated on the card.
        t0 = time.monotonic()
        with CardVM(payload, disk, state, rom, card, "vm-card-1") as m:
            out = converse(m, [
                yes_no("Clean Boot Detected - Take Ownership?", "y"),
                (re.escape("New TPM owner passphrase (1-32 characters): "), duk.OWNER),
                (re.escape("Repeat the new TPM owner passphrase: "), duk.OWNER),
                (r"Where should the owner's signing key be made\?" + r"(?:(?!\]: ).)*" + CHOOSE,
                 "c"),
                yes_no("Factory reset the dongle?", "y"),
                (re.escape("New User PIN of the dongle (6-25 characters): "), USER_PIN),
                (re.escape("Repeat the new User PIN of the dongle: "), USER_PIN),
                (re.escape("New Admin PIN of the dongle (8-25 characters): "), ADMIN_PIN),
                (re.escape("Repeat the new Admin PIN of the dongle: "), ADMIN_PIN),
                (r"Cardholder name on the dongle[^\r\n]*: ", "Alice Owner"),
                (re.escape("Name and e-mail of the key [OEM Key <oem@example.com>]: "), ""),
                (r"Choose the entry booted by 'Default boot'(?:(?!\]: ).)*" + CHOOSE, "1"),
                (PIN_PROMPT, USER_PIN),
                yes_no("Disk Unlock Key (optional)", "y"),
                (r"Disk Recovery Key \(DRK\) passphrase that opens:\r?\n(?:  \S+ \(LUKS\d\)\r?\n)+: ",
                 duk.DRK),
                (re.escape("New LUKS TPM Disk Unlock Key passphrase (at least 12 characters; "
                           "typed at every boot): "), duk.DUK),
                (re.escape("Repeat the Disk Unlock Key passphrase: "), duk.DUK),
            ], r"The ROM changed: the machine reboots now[^\[]*\[Press Enter to continue\]"
               r"|New GPG key passphrase \(Admin PIN\)|ERROR: USB security dongle",
                BOOT_TIMEOUT + STEP)
            # no dongle seen, or the dongle failed: stop here, not at a timeout
            self.assertNotRegex(out[-300:], r"New GPG key passphrase|ERROR: USB security dongle",
                                out[-3000:])
            m.send("\n")
            m.qemu.wait(STEP)
        t1 = time.monotonic()
        self.assertIn("keys generated on it", out)
        self.assertIn("Disk Unlock Key set up", out)
        fpr = re.search(r"GPG key: ([0-9A-F]{40})", out).group(1)
        with open(card) as f:
            c = json.load(f)
        self.assertEqual((c["pw1"], c["pw3"]), (USER_PIN, ADMIN_PIN))
        self.assertEqual(c["fpr"][0].upper(), fpr)  # generated on the card: its primary
        signed = c["sig_count"]  # key generation's self-signatures, /boot twice
        root = os.path.join(tmp, "romroot")
        duk.run(vm.HEADS, "rom", "extract", "--device", rom, "--root", root)
        home = os.path.join(root, ".gnupg")
        self.addCleanup(subprocess.run, ["gpgconf", "--homedir", home, "--kill", "all"],
                        capture_output=True)
        keys = subprocess.run(["gpg", "--homedir", home, "--batch", "--with-colons",
                               "--list-keys"], capture_output=True, text=True).stdout
        self.assertIn("fpr:::::::::%s:" % fpr, keys)

        # The OS updates its kernel.
        kernel = grow_kernel(tmp, disk)

        # Boot 2: the changed /boot refused, signed with the card, the
        # entry made default again (signed), verified, DUK, Debian.
        with CardVM(payload, disk, state, rom, card, "vm-card-2") as m:
            m.step("Heads Boot Menu ====", CHOOSE, "d", BOOT_TIMEOUT)
            out = m.step("ERROR: Boot Hash Mismatch", CHOOSE, "u")
            self.assertIn(kernel, out)
            m.step("What signing now would trust", r"\[Press Enter to continue\]", "")
            m.step("Update Checksums and sign all files in /boot", r"\[y/n\]: ", "y")
            out = m.step(None, PIN_PROMPT, USER_PIN)
            out += m.step("/boot has been signed.", r"\[Press Enter to continue\]", "")
            m.step("Heads Boot Menu ====", CHOOSE, "o", 60)
            m.step(None, CHOOSE, "b", 60)
            m.step(None, CHOOSE, "m", 60)
            m.step("Select your boot option", CHOOSE, "1", STEP)
            m.step("Confirm boot details", CHOOSE, "d", 60)
            m.step(None, PIN_PROMPT, USER_PIN)
            duk.enter_until(m, r"attempt 1 of 3, blank to abort\)")
            duk_debian(self, m)
        t2 = time.monotonic()
        with open(card) as f:
            self.assertEqual(json.load(f)["sig_count"], signed + 2)  # boot 2 signed twice
        print("# boot 1 %.0f s, boot 2 %.0f s" % (t1 - t0, t2 - t1))


if __name__ == "__main__":
    vm.main()
