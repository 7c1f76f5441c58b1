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
Host: ROMs B (the board's with another coreboot command line, as
vm-coreboot-update) and C (the board's coreboot built with
CONFIG_TPM_HASH_SHA1: another measurement scheme) on a USB stick (xHCI,
usb-storage, removable).
Boot 2: init reads the ROM config area from /dev/mtd0 (the keyring from
CBFS); the TOTP shown is the host's code of the enrolled secret; then
Options -> f -> f with B (issue 24): PCR 2 predicted from B, a new TOTP
secret sealed to it and the same DUK resealed to it (its passphrase, as at
boot; no key slot or /boot change, so no signing: the key of boot 1 was
only in memory), B flashed with the owner's files carried over, reboot.
Boot 3 on B: the TOTP is the new secret's at once; the default boot
verifies /boot with the keyring, the DUK passphrase unseals the resealed
key, it is injected into Debian's initrd and kexec'd: Debian reaches
systemd with both containers opened by the key (no passphrase asked).
Host: coreboot's payload replaced in the flash (cbfstool add-payload: the
same kernel and initrd, another command line), so PCR 2 moves.
Boot 4: the TOTP fails; the "TOTP Generation Failed" screen and the
integrity report say PCR 2 moved and name the one stage that changed since
the secret was sealed (CBFS: fallback/payload), from the baseline the
update recorded (B's predicted stages, cbstages.h). Then the third run:
Options -> f -> f with C: its PCR 2 cannot be predicted (its build record
says SHA-1 bank), so nothing is sealed; flashed, reboot.
Boot 5 on C: PCR 2 of the SHA-256 bank is zero (C measured into SHA-1:
what the SHA-256 model computes from C would have been wrong); the TOTP
fails and the reference's reseal flow works: g, the integrity gate (/boot
verified), owner passphrase, a new secret whose code the menu then shows.
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
import test_vm_coreboot_update as upd  # noqa: E402 (ROMs B and C)

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


def totp_shown(test, m, secret):
    """Power-on to the main menu: the keyring found, the TOTP shown is the
    host's code of secret (base32). Returns the console text."""
    out = m.expect("Heads Boot Menu ====", BOOT_TIMEOUT)
    c0 = time.time()
    out += m.expect("Choose [1-5 or key", 60)
    c1 = time.time()
    test.assertNotIn("GPG keyring empty", out)
    test.assertNotIn("TOTP Generation Failed", out)
    shown = re.findall(r"TOTP: (\d{6})", out)
    test.assertTrue(shown, out[-3000:])
    test.assertIn(shown[-1], {menu.totp(secret, t) for t in (c0 - 30, c0, c1, c1 + 30)})
    return out


def totp_duk_debian(test, m, secret):
    """The boot after ownership: the keyring found, the TOTP shown is the
    host's code of secret, the default boot verifies /boot, the DUK
    passphrase unseals the key, Debian opens both containers with it and
    asks for nothing. Returns the console text up to the main menu."""
    first = totp_shown(test, m, secret)
    m.send("d\n")
    out = duk.enter_until(m, r"attempt 1 of 3, blank to abort\)")
    # the DUK's TOTP box shows the code (computed through the unlock's own
    # TPM context: a TPM 1.2's /dev/tpm0 opens once), never ERROR
    box = re.findall(r"TOTP: (\S+)\s+Compare it with your phone", out)
    test.assertTrue(box, out[-3000:])
    test.assertRegex(box[-1], r"^\d{6}$", out[-3000:])
    duk_debian(test, m)
    return first


def duk_debian(test, m):
    """At the DUK passphrase prompt: the passphrase unseals the key, it is
    injected into Debian's initrd, Debian opens both containers with it and
    asks for nothing."""
    m.send(duk.DUK + "\n")
    out = m.expect("Disk Unlock Key injected into the initrd", STEP)
    test.assertIn("/dev/vda2: opens with the Disk Unlock Key", out)
    test.assertIn("/dev/vda3: opens with the Disk Unlock Key", out)
    out = m.expect(duk.ROOT_MARKER, duk.TARGET_TIMEOUT)
    out += m.expect(duk.HOME_MARKER, duk.TARGET_TIMEOUT)
    test.assertNotIn("Please unlock disk", out)
    test.assertIn("cryptsetup: root_crypt: set up successfully", out)
    test.assertIn("cryptsetup: home_crypt: set up successfully", out)


def choose(title, key):
    """The menu titled title (its "Choose [...]: " prompt): answer key."""
    return (re.escape(title) + r" ====(?:(?!Choose \[|\[y/n\]).)*?Choose \[[^\]]*\]: ", key)


class FlowVM(vm.VM):
    """One boot of the machine: flash, TPM state and disk kept; stick: a USB
    drive image (qemu-xhci + usb-storage, removable: what the Flash menu
    lists), read-only."""

    def __init__(self, flash, disk, state, name, stick=None):
        super().__init__(None, flash=flash, name=name, state=state, snapshot=False,
                         drives=[disk])
        self.stick = stick

    def start(self):
        if not self.stick:
            return super().start()
        orig = vm.cbboard.qemu_argv

        def argv(*a, **kw):
            return orig(*a, **kw, usb=self.stick)
        vm.cbboard.qemu_argv = argv
        try:
            super().start()
        finally:
            vm.cbboard.qemu_argv = orig


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
        secret = [m.secret]
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

        # The firmware updates, on a USB stick: B (another coreboot command
        # line, predictable) and C (another build, SHA-1 bank: not).
        rom_b, rom_c = upd.ensure_update_rom(), upd.ensure_other_build_rom()
        pcr2_b = host("tpm", "predict-pcr2", "--rom", rom_b)
        self.assertNotEqual(pcr2_b, pcr2)
        stick_root = os.path.join(tmp, "stick")
        os.makedirs(stick_root)
        shutil.copyfile(rom_b, os.path.join(stick_root, "b-update.rom"))
        shutil.copyfile(rom_c, os.path.join(stick_root, "c-other-build.rom"))
        stick = os.path.join(tmp, "stick.img")
        duk.run("mkfs.ext4", "-q", "-F", "-L", "USBFW", "-d", stick_root, stick, "24M")

        # Boot 2 (power cycle): keyring from CBFS, TOTP; then Options -> f ->
        # f with B: PCR 2 predicted, a new TOTP secret sealed to it and the
        # same DUK resealed to it (its passphrase), B flashed with the
        # owner's files carried over.
        with FlowVM(flash, disk, state, "vm-coreboot-flow-2", stick) as m:
            totp_shown(self, m, secret[-1])
            m.send("o\n")
            upd_out = converse(m, [
                choose("Heads Options", "f"),
                choose("Firmware Management Menu", "f"),
                choose("Select the ROM file", "1"),
                yes_no("Do not power off until the machine reboots.", "y"),
                yes_no("Keep the TOTP across the update", "y"),
                (re.escape("TPM owner passphrase: "), duk.OWNER),
                yes_no("Reseal it to the new firmware now (its passphrase, as at boot)?", "y"),
                (re.escape("Enter LUKS TPM Disk Unlock Key passphrase (attempt 1 of 3, blank "
                           "to abort): "), duk.DUK),
            ], r"==== Flash complete ====(?:(?!\[Press Enter).)*\[Press Enter to continue\]")
            m.send("\n")
            m.qemu.wait(STEP)
        t2 = time.monotonic()
        flat = " ".join(upd_out.split())
        self.assertIn(f"Next boot: PCR 2 {pcr2_b} (now {pcr2}): changes", flat)
        self.assertIn("Next boot: PCR 7 unchanged", flat)
        self.assertNotIn("(assumed", flat)  # both payloads' /etc/config read, equal
        self.assertIn("Disk Unlock Key resealed", flat)
        self.assertNotIn("GPG signing PIN", flat)  # same key: /boot unchanged
        self.assertIn("The TOTP is sealed to it: it matches right after the reboot", flat)
        secret = re.findall(r"Secret \(base32\): ([A-Z2-7]+)", upd_out)
        self.assertTrue(secret, upd_out[-3000:])
        # the flash: B's firmware, the owner's files carried over
        self.assertEqual(host("tpm", "predict-pcr2", "--rom", flash), pcr2_b)
        self.assertIn(".gnupg/pubring.kbx", host("rom", "list", "--device", flash))

        # Boot 3 (power cycle) on B: the TOTP is the new secret's at once,
        # and the default boot unseals the resealed DUK: Debian opens both
        # containers with it (no Disk Recovery Key typed).
        with FlowVM(flash, disk, state, "vm-coreboot-flow-3") as m:
            on_b = totp_duk_debian(self, m, secret[-1])
            self.assertIn(upd.UPDATE_CMDLINE, on_b)  # B booted
        with open(m.log_path, errors="replace") as f:
            third = f.read()
        self.assertRegex(third, r"ROM config area /dev/mtd0: [2-9] files")
        t3 = time.monotonic()

        # Boot 4: B's payload replaced on the host (same kernel and initrd,
        # another command line: a changed stage that still boots). The TOTP
        # fails; its reason and the integrity report name the stage, from the
        # baseline the update recorded for B (its predicted stages). Then
        # the third run: Options -> f -> f with C, whose PCR 2 cannot be
        # predicted (its build record: the SHA-1 bank): said, nothing sealed,
        # flashed; the reseal is left for after the reboot.
        cbfstool = ["cbfstool", flash]
        duk.run(*cbfstool, "remove", "-r", "COREBOOT", "-n", "fallback/payload")
        duk.run(*cbfstool, "add-payload", "-r", "COREBOOT", "-n", "fallback/payload",
                "-f", os.path.join(vm.CB_OUT, "bzImage"), "-I",
                os.path.join(vm.CB_OUT, "initrd.cpio.xz"), "-C", f"console=ttyS0 {TAG}",
                "-c", "none")
        self.assertNotEqual(host("tpm", "predict-pcr2", "--rom", flash), pcr2_b)
        with FlowVM(flash, disk, state, "vm-coreboot-flow-4", stick) as m:
            failed = m.expect("Choose [1-4 or key", BOOT_TIMEOUT)
            m.send("i\n")
            m.expect("Choose [1-5 or key", 60)
            m.send("o\n")
            m.expect(r"Choose \[1-\d+ or key", 60, regex=True)
            m.send("i\n")
            report = m.expect("[Press Enter to continue]", STEP)
            m.send("\n")
            third_run = converse(m, [
                choose("Heads Boot Menu", "o"),
                choose("Heads Options", "f"),
                choose("Firmware Management Menu", "f"),
                choose("Select the ROM file", "2"),
                yes_no("Do not power off until the machine reboots.", "y"),
            ], r"==== Flash complete ====(?:(?!\[Press Enter).)*\[Press Enter to continue\]")
            m.send("\n")
            m.qemu.wait(STEP)
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
        flat = " ".join(third_run.split())
        self.assertIn("Next boot: PCR 2 cannot be predicted: the new image is not a coreboot "
                      "image whose measurements this build knows: the image's coreboot "
                      "measures into another PCR bank than SHA-256", flat)
        self.assertIn("No prediction: reseal after the reboot", flat)
        self.assertNotIn("Keep the TOTP across the update", flat)
        self.assertNotIn("Secret (base32)", flat)
        self.assertIn("The firmware was updated and verified. The machine reboots now.", flat)
        t4 = time.monotonic()

        # Boot 5 on C: the TOTP fails (PCR 2 of the SHA-256 bank stayed zero:
        # C measures into the SHA-1 bank; the model would have predicted
        # predict-pcr2's value, printed below); the reference's reseal
        # flow: g, the integrity gate (/boot verified by the key from CBFS),
        # owner passphrase, a new secret; the TOTP then shown is its code.
        scheme_blind = host("tpm", "predict-pcr2", "--rom", rom_c)
        with FlowVM(flash, disk, state, "vm-coreboot-flow-5") as m:
            failed = m.expect("Choose [1-4 or key", BOOT_TIMEOUT)
            m.send("g\n")
            reseal = converse(m, [
                yes_no("Proceed with sealing a new TOTP secret?", "y"),
                yes_no("Do you want to proceed?", "y"),
                (re.escape("TPM owner passphrase: "), duk.OWNER),
                yes_no("Reseal the Disk Unlock Key now?", "n"),
            ], r"Heads Boot Menu ====(?:(?!Choose \[).)*Choose \[1-5 or key")
            c1 = time.time()
        self.assertIn(upd.OTHER_CMDLINE, failed)  # C booted
        failed = " ".join(failed.split())
        self.assertIn("TOTP Generation Failed", failed)
        self.assertIn("PCR 2 moved", failed)
        self.assertIn("now 0000000000000000", failed)
        self.assertNotEqual(scheme_blind, "0" * 64)
        flat = " ".join(reseal.split())
        self.assertIn("Integrity Gate Passed", flat)
        secret = re.findall(r"Secret \(base32\): ([A-Z2-7]+)", reseal)
        self.assertTrue(secret, reseal[-3000:])
        shown = re.findall(r"TOTP: (\d{6})", reseal.split("Secret (base32)")[-1])
        self.assertTrue(shown, reseal[-3000:])
        self.assertIn(shown[-1], {menu.totp(secret[-1], t) for t in (c1 - 60, c1 - 30, c1)})
        print(f"vm-coreboot-flow: ownership boot {t1 - t0:.0f} s, update to B {t2 - t1:.0f} s, "
              f"B to Debian {t3 - t2:.0f} s, changed payload + flash C {t4 - t3:.0f} s, "
              f"C's reseal {time.monotonic() - t4:.0f} s; the SHA-256 model would have "
              f"predicted {scheme_blind} for C", flush=True)

if __name__ == "__main__":
    vm.main()
