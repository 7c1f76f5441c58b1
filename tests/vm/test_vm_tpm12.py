#!/usr/bin/env python3
"""VM test, TPM 1.2 (issue 19): the whole flow of vm-coreboot-flow on the
TPM 1.2 board variant (`make run TPM=1.2`: board qemu, swtpm in TPM 1.2
mode), with the same two dialogues (test_vm_coreboot_flow.ownership_with_duk
and totp_duk_debian: one test body, the TPM version and board a parameter).

    test_vm_tpm12.py

One machine: board qemu with OVMF, a private swtpm state in TPM 1.2 mode
(given an endorsement key by swtpm_setup, never owned: as a TPM 1.2 leaves
the factory), a blank ROM config area (the board's flash) and a private
copy of the Debian demo disk (two LUKS2 containers), all kept across boots.

Firmware: OVMF. SeaBIOS asserts physical presence at POST and then locks
it (TSC_PhysicalPresence NOTPRESENT|LOCK, physicalPresenceLock, cleared
only by the next TPM_Startup(ST_CLEAR)), so the payload's `heads tpm reset`
cannot assert presence for ForceClear (measured: TPM_BAD_PARAMETER);
OVMF leaves it unlocked, as coreboot does on the TPM 1.2 Heads laptops.

Boot 1, menu, line mode: "Clean Boot Detected" -> ownership: the TPM 1.2
reset (physical presence, ForceClear, TakeOwnership with the owner
passphrase), a GPG key, its public key into the ROM config area, the
default entry, /boot signed, the TOTP secret sealed (TPM_Seal, SHA-1 PCRs)
to the next boot's PCR 7 (predicted in the SHA-1 bank), the Disk Unlock
Key on both containers; "the machine reboots now": QEMU exits.
Boot 2: the TOTP shown is the host's code of the enrolled secret; the
default boot verifies /boot, the DUK passphrase unseals the key (TPM 1.2
sealed to PCRs 0-7 of this boot as predicted by boot 1 from OVMF's SHA-1
event log), Debian opens both containers with it and asks for nothing.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vm  # noqa: E402
import test_vm_coreboot_flow as flow  # noqa: E402 (the flow's dialogues)
import test_vm_duk as duk  # noqa: E402


class Tpm12VM(vm.VM):
    """One boot of the machine: TPM 1.2 state, ROM and disk kept; line UI.
    The disk is the first of `drives` (/dev/vda, CONFIG_BOOT_DEV vda1)."""

    def __init__(self, payload, disk, state, rom, name):
        super().__init__(payload, firmware="ovmf", append="HEADS_UI=line", name=name,
                         state=state, snapshot=False, rom=rom, drives=[disk], tpm12=True)


class Tpm12Flow(unittest.TestCase):
    def test_ownership_totp_duk_debian(self):
        try:
            payload = vm.ensure_payload()
            demo = vm.ensure_disk()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        for tool in ("swtpm_setup", "sfdisk"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} not installed")
        with tempfile.TemporaryDirectory(prefix="heads-vm-tpm12-") as tmp:
            self.flow(tmp, payload, demo)

    def flow(self, tmp, payload, demo):
        disk = os.path.join(tmp, "disk.img")
        duk.run("cp", "--sparse=always", demo, disk)
        rom = vm.board.blank_rom(os.path.join(tmp, "rom.img"))
        state = os.path.join(tmp, "tpm12")

        t0 = time.monotonic()
        with Tpm12VM(payload, disk, state, rom, "vm-tpm12-1") as m:
            flow.ownership_with_duk(self, m)
        t1 = time.monotonic()
        secret = m.secret
        with open(m.log_path, errors="replace") as f:
            first = f.read()
        # a TPM 1.2: init measured the board config into PCR 7 with SHA-1
        # digests (40 hex digits), and nothing failed to measure
        self.assertRegex(first, r"Extending PCR\[7\] with /etc/config \(hash: [0-9a-f]{40}\)")
        self.assertNotIn("measuring into PCR 7 failed", first)
        self.assertNotIn("Device or resource busy", first)
        listing = subprocess.run([vm.HEADS, "rom", "list", "--device", rom],
                                 capture_output=True, text=True, check=True).stdout
        self.assertIn(".gnupg/pubring.kbx", listing)
        self.assertIn("etc/config.user", listing)

        with Tpm12VM(payload, disk, state, rom, "vm-tpm12-2") as m:
            flow.totp_duk_debian(self, m, secret)
        with open(m.log_path, errors="replace") as f:
            self.assertNotIn("Device or resource busy", f.read())  # /dev/tpm0 opens once
        print(f"vm-tpm12: ownership boot {t1 - t0:.0f} s, second boot to Debian "
              f"{time.monotonic() - t1:.0f} s", flush=True)


if __name__ == "__main__":
    vm.main()
