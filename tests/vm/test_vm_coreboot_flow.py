#!/usr/bin/env python3
"""VM test, board qemu-coreboot: the whole flow (issue 23) on coreboot.

    test_vm_coreboot_flow.py

One machine: a private copy of the built ROM as the pflash, a private swtpm
state (blank: never provisioned) and a private copy of the cached Debian
demo disk (two LUKS2 containers, root and /home), all kept across boots.
The machine is vm.VM with flash= (vm.py runs either board); the dialogue
helpers are the ones of vm-menu and vm-duk.

Host, before boot 1: the flash holds only etc/config.user with
CONFIG_HEADS_UI="line" (coreboot's kernel command line is inside the ROM,
so the board's settings choose the serial line UI; added with `heads rom
add --device FLASH`, the CBFS writer).
Boot 1, menu, line mode: "Clean Boot Detected" -> ownership: TPM reset with
an owner passphrase, a GPG key generated, its public key written into the
flash's CBFS by the guest (romcfg -> /dev/mtd0, our MTD backend), the
default entry chosen, /boot signed, the rollback settings into the ROM, a
TOTP secret sealed to the next boot's PCR 7 (QR + base32 shown), then the
optional Disk Unlock Key on both containers (DRK, DUK passphrase, sealed to
the next boot, /boot re-signed); "the machine reboots now": QEMU exits
(-no-reboot) and is started again on the same flash file and TPM state (a
power cycle, as vm-coreboot-flash does).
Host: the flash now has heads/initrd/.gnupg/pubring.kbx and
heads/initrd/etc/config.user (ours and cbfstool's reading), PCR 2's
prediction did not change (coreboot does not load the owner's files).
Boot 2: init reads the ROM config area from /dev/mtd0 (the keyring from
CBFS); the TOTP shown is the host's code of the enrolled secret; the
default boot verifies /boot with that keyring, the TOTP and the DUK
passphrase unseal the key, it is injected into Debian's initrd and kexec'd:
Debian reaches systemd with both containers opened by the key (no
passphrase asked).
Host: coreboot's payload replaced in the flash (cbfstool add-payload: the
same kernel and initrd, another command line), so PCR 2 moves.
Boot 3: the TOTP fails; the "TOTP Generation Failed" screen and the
integrity report say PCR 2 moved and name the one stage that changed since
the secret was sealed (CBFS: fallback/payload), from the baseline kept in
the TPM at ownership (cbstages.h).
"""
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
import test_vm_coreboot as tcb  # noqa: E402
import test_vm_duk as duk  # noqa: E402 (dialogue helpers, passphrases, markers)
import test_vm_menu as menu  # noqa: E402 (totp)

BOOT_TIMEOUT = tcb.BOOT_TIMEOUT
STEP = 900             # one step of ownership under TCG (key, TPM, signing, MTD)
GPG = "gpg-pass-123"
TAG = "heads.stage-test=1"   # on the replaced payload's command line


def host(*argv):
    return subprocess.run([vm.HEADS, *argv], capture_output=True, text=True,
                          check=True).stdout.strip()


def yes_no(title, answer):
    """The [y/n] prompt of the dialogue titled title (not spanning another
    prompt)."""
    return (re.escape(title) + r"(?:(?!\[y/n\]|\[Press Enter to continue\]).)*?\[y/n\]: ",
            answer)


def converse(m, answers, until, timeout=STEP):
    """Answer the dialogues of answers ([(regex, reply)]) and every "[Press
    Enter to continue]" in whatever order they come, until the regex until;
    returns everything seen. A prompt with no answer here runs into the
    timeout (the test fails naming it)."""
    pats = [rx for rx, _ in answers]
    alt = "|".join(f"(?:{p})" for p in pats + [r"\[Press Enter to continue\]", until])
    seen = ""
    while True:
        out = m.expect(f"(?s:{alt})", timeout, regex=True)
        seen += out
        if re.search(f"(?s:{until})$", out):
            return seen
        if out.endswith("[Press Enter to continue]"):
            m.send("\n")
            continue
        for rx, reply in answers:
            if re.search(f"(?s:{rx})$", out):
                m.send(reply + "\n")
                break


# The whole flow's two dialogues, shared by the boards and TPM versions
# (vm-coreboot-flow: coreboot, TPM 2.0; vm-tpm12: board qemu, TPM 1.2).

def ownership_with_duk(test, m):
    """From power-on with a blank TPM: "Clean Boot Detected" -> ownership
    (TPM reset, GPG key, ROM keyring, default entry, /boot signed, TOTP
    sealed to the next boot) and the Disk Unlock Key on both containers of
    the demo disk, up to "the machine reboots now" and QEMU's exit. Sets
    m.secret (the TOTP secret, base32); returns the console text."""
    out = converse(m, [
        yes_no("Clean Boot Detected - Take Ownership?", "y"),
        (re.escape("New TPM owner passphrase (1-32 characters): "), duk.OWNER),
        (re.escape("Repeat the new TPM owner passphrase: "), duk.OWNER),
        (re.escape("New GPG key passphrase (Admin PIN) (8-25 characters): "), GPG),
        (re.escape("Repeat the new GPG key passphrase (Admin PIN): "), GPG),
        (re.escape("Name and e-mail of the key [OEM Key <oem@example.com>]: "), ""),
        yes_no("Write an encrypted backup of it", "n"),
        (r"Choose \[1-\d+ or key[^\]]*\]: ", "1"),
        (r"\(attempt \d+\): ", GPG),
        yes_no("Disk Unlock Key (optional)", "y"),
        (r"Disk Recovery Key \(DRK\) passphrase that opens:\r?\n(?:  \S+ \(LUKS\d\)\r?\n)+: ",
         duk.DRK),
        (re.escape("New LUKS TPM Disk Unlock Key passphrase (at least 12 characters; "
                   "typed at every boot): "), duk.DUK),
        (re.escape("Repeat the Disk Unlock Key passphrase: "), duk.DUK),
    ], r"The ROM changed: the machine reboots now[^\[]*\[Press Enter to continue\]",
        BOOT_TIMEOUT + STEP)
    m.send("\n")
    m.qemu.wait(STEP)
    secret = re.findall(r"Secret \(base32\): ([A-Z2-7]+)", out)
    test.assertTrue(secret, out[-3000:])
    test.assertIn("Disk Unlock Key set up", out)
    test.assertRegex(out, r"/dev/vda2: Disk Unlock Key in key slot \d+")
    test.assertRegex(out, r"/dev/vda3: Disk Unlock Key in key slot \d+")
    m.secret = secret[-1]
    return out


def totp_duk_debian(test, m, secret):
    """The boot after ownership: the keyring found, the TOTP shown is the
    host's code of secret, the default boot verifies /boot, the DUK
    passphrase unseals the key, Debian opens both containers with it and
    asks for nothing."""
    out = m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
    c0 = time.time()
    out += m.expect("Choose [1-5 or key", 60)
    c1 = time.time()
    test.assertNotIn("GPG keyring empty", out)
    test.assertNotIn("TOTP Generation Failed", out)
    shown = re.findall(r"TOTP: (\d{6})", out)
    test.assertTrue(shown, out[-3000:])
    test.assertIn(shown[-1], {menu.totp(secret, t) for t in (c0 - 30, c0, c1, c1 + 30)})
    m.send("d\n")
    out = duk.enter_until(m, r"attempt 1 of 3, blank to abort\)")
    # the DUK's TOTP box shows the code (computed through the unlock's own
    # TPM context: a TPM 1.2's /dev/tpm0 opens once), never ERROR
    box = re.findall(r"TOTP: (\S+)\s+Compare it with your phone", out)
    test.assertTrue(box, out[-3000:])
    test.assertRegex(box[-1], r"^\d{6}$", out[-3000:])
    m.send(duk.DUK + "\n")
    out = m.expect("Disk Unlock Key injected into the initrd", STEP)
    test.assertIn("/dev/vda2: opens with the Disk Unlock Key", out)
    test.assertIn("/dev/vda3: opens with the Disk Unlock Key", out)
    out = m.expect(duk.ROOT_MARKER, duk.TARGET_TIMEOUT)
    out += m.expect(duk.HOME_MARKER, duk.TARGET_TIMEOUT)
    test.assertNotIn("Please unlock disk", out)
    test.assertIn("cryptsetup: root_crypt: set up successfully", out)
    test.assertIn("cryptsetup: home_crypt: set up successfully", out)


class FlowVM(vm.VM):
    """One boot of the machine: flash, TPM state and disk kept."""

    def __init__(self, flash, disk, state, name):
        super().__init__(None, flash=flash, name=name, state=state, snapshot=False,
                         drives=[disk])


class CorebootFlow(unittest.TestCase):
    def test_first_boot_reboot_totp_duk_debian(self):
        try:
            demo = vm.ensure_disk()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        for tool in ("cbfstool", "sfdisk"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} not installed")
        with tempfile.TemporaryDirectory(prefix="heads-cbflow-") as tmp:
            self.flow(tmp, demo)

    def flow(self, tmp, demo):
        flash = vm.coreboot_flash(os.path.join(tmp, "flash.rom"))
        disk = os.path.join(tmp, "disk.img")
        duk.run("cp", "--sparse=always", demo, disk)
        pcr2 = host("tpm", "predict-pcr2", "--rom", flash)
        state = os.path.join(tmp, "tpm")
        os.makedirs(state)

        # Boot 1: ownership from a blank TPM; the key into CBFS by the guest.
        t0 = time.monotonic()
        with FlowVM(flash, disk, state, "vm-coreboot-flow-1") as m:
            ownership_with_duk(self, m)
        t1 = time.monotonic()
        secret = m.secret
        with open(m.log_path, errors="replace") as f:
            first = f.read()
        self.assertIn("ROM config area /dev/mtd0: 1 files", first)

        # The flash as the guest left it: the owner's files in CBFS.
        listing = host("rom", "list", "--device", flash)
        self.assertIn(".gnupg/pubring.kbx", listing)
        self.assertIn("etc/config.user", listing)
        cbfs = subprocess.run(["cbfstool", flash, "print", "-r", "COREBOOT"],
                              capture_output=True, text=True, check=True).stdout
        self.assertIn("heads/initrd/.gnupg/pubring.kbx", cbfs)
        self.assertIn("heads/initrd/etc/config.user", cbfs)
        self.assertEqual(host("tpm", "predict-pcr2", "--rom", flash), pcr2)
        host("rom", "extract", "--device", flash, "--root", os.path.join(tmp, "x"))
        with open(os.path.join(tmp, "x", "etc", "config.user")) as f:
            text = f.read()
        self.assertIn('CONFIG_HEADS_UI="line"', text)
        self.assertIn("CONFIG_BOOT_REQ_ROLLBACK", text)

        # Boot 2 (power cycle): keyring from CBFS, TOTP, DUK, Debian.
        with FlowVM(flash, disk, state, "vm-coreboot-flow-2") as m:
            totp_duk_debian(self, m, secret)
        with open(m.log_path, errors="replace") as f:
            second = f.read()
        self.assertRegex(second, r"ROM config area /dev/mtd0: [2-9] files")
        t2 = time.monotonic()

        # Boot 3: coreboot's payload replaced on the host (same kernel and
        # initrd, another command line: a changed stage that still boots).
        # The TOTP fails; its reason and the integrity report name the stage.
        cbfstool = ["cbfstool", flash]
        duk.run(*cbfstool, "remove", "-r", "COREBOOT", "-n", "fallback/payload")
        duk.run(*cbfstool, "add-payload", "-r", "COREBOOT", "-n", "fallback/payload",
                "-f", os.path.join(vm.CB_OUT, "bzImage"), "-I",
                os.path.join(vm.CB_OUT, "initrd.cpio.xz"), "-C", f"console=ttyS0 {TAG}",
                "-c", "none")
        self.assertNotEqual(host("tpm", "predict-pcr2", "--rom", flash), pcr2)
        with FlowVM(flash, disk, state, "vm-coreboot-flow-3") as m:
            failed = m.expect("Choose [1-4 or key", BOOT_TIMEOUT)
            m.send("i\n")
            m.expect("Choose [1-5 or key", 60)
            m.send("o\n")
            m.expect(r"Choose \[1-\d+ or key", 60, regex=True)
            m.send("i\n")
            report = m.expect("[Press Enter to continue]", STEP)
        self.assertIn(TAG, failed)  # the new payload booted
        failed = " ".join(failed.split())
        report = " ".join(report.split())
        self.assertIn("TOTP Generation Failed", failed)
        for text in (failed, report):
            self.assertIn("PCR 2 moved", text)
            self.assertIn("[firmware stages changed since sealing: CBFS: fallback/payload: "
                          "changed]", text)
            self.assertNotIn("PCR 7 moved", text)
        self.assertIn("Measured Integrity Report", report)
        self.assertIn("TOTP: ERROR - the firmware measurements changed", report)
        print(f"vm-coreboot-flow: ownership boot {t1 - t0:.0f} s, second boot to Debian "
              f"{t2 - t1:.0f} s, third boot to the report {time.monotonic() - t2:.0f} s",
              flush=True)


if __name__ == "__main__":
    vm.main()
