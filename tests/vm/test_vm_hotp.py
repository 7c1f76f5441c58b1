#!/usr/bin/env python3
"""VM suite, HOTP with a USB dongle (issue 17): the Nitrokey Pro device
model of tests/devices (nk_hid_model.c, the code the unit and command
tests drive in-process) as a real USB device inside the QEMU guest, found
by the payload's own stack (usbhid/hidraw, sysfs discovery) as on a laptop.

The device: tests/devices/nk-hid-gadget, a FunctionFS HID function of a
configfs gadget (20a0:4108) on dummy_hcd. It comes with a TEST-ONLY initrd
overlay appended to the payload's initrd (never in the payload): the
gadget program and its libraries, the modules dummy_hcd, libcomposite,
usb_f_fs (+ dependencies, from the same Debian kernel as the payload, and
virtio for the state disk) and /hotp-init, a busybox script started as
rdinit= that loads them, starts the gadget and execs the payload's /init
(heads, PID 1). The model's state (secret, counter, PIN retries) lives on
a raw virtio disk with serial "hotp-model" (a host file kept across the
boots, as the TPM state, the ROM and the disk are).

Boot 1: ownership with the dongle attached (CONFIG_HOTPKEY=y and
CONFIG_AUTO_BOOT_TIMEOUT=5 in the ROM's config.user): the new TOTP/HOTP
secret is written into the dongle with its Admin PIN. Boot 2: "HOTP:
Success", the countdown boots the default entry with no key pressed (the
target's marker). Boot 3: /boot/kexec_hotp_counter rolled back by hand on
the host: "Invalid code", no auto-boot. Boot 4: the payload alone (no
overlay: no dongle): the insert prompt, skip, "No dongle", no auto-boot.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402
import test_vm_menu  # noqa: E402  (make_disk, modify_boot_file, MenuVM, totp)

BOOT_TIMEOUT = 300
STEP = 600
MARKER = test_vm_menu.MARKER
ADMIN_PIN = "12345678"  # the model's factory default
DONGLE_TEST = os.environ.get("HEADS_DONGLE_TEST",
                             os.path.join(vm.BUILDDIR, "tests", "devices", "heads-dongle-test"))
GADGET = os.environ.get("HEADS_NK_HID_GADGET",
                        os.path.join(vm.BUILDDIR, "tests", "devices", "nk-hid-gadget"))
OVERLAY_MODULES = ["virtio_pci", "virtio_blk", "dummy_hcd", "libcomposite", "usb_f_fs"]
NO_AUTOBOOT_WAIT = 15  # s after the main menu: the countdown (5 s) would have begun

HOTP_INIT = """#!/bin/busybox sh
# TEST-ONLY rdinit (tests/vm/test_vm_hotp.py): the Nitrokey Pro model as a USB
# device, then the payload's own /init (heads, PID 1 through exec).
b=/bin/busybox
$b mount -t proc proc /proc
$b mount -t sysfs sysfs /sys
$b mount -t devtmpfs devtmpfs /dev
for m in $($b cat /hotp-model/modules.order); do
  $b insmod /hotp-model/$m || echo "hotp-init: insmod $m failed"
done
/hotp-model/nk-hid-gadget /hotp-model/ffs || echo "hotp-init: the dongle model did not start"
exec /init
"""


def build_payload_module():
    path = os.path.join(vm.SRCDIR, "tools", "payload", "build-payload.py")
    spec = importlib.util.spec_from_file_location("build_payload", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_overlay_payload(payload, out):
    """out/: the payload's vmlinuz and its initrd with the test overlay
    appended (a second xz cpio; the kernel unpacks both, later wins)."""
    bp = build_payload_module()
    _, kver = bp.pick_kernel(None)
    with open(os.path.join(payload, "vmlinuz"), "rb") as f:
        kernel = f.read()
    tree = bp.Tree()
    tree.file("hotp-init", HOTP_INIT.encode(), 0o755)
    tree.host_file("hotp-model/nk-hid-gadget", GADGET, 0o755)
    bp.add_elf_closure(tree, [GADGET])
    order = []
    for i, (rel, _) in enumerate(bp.module_order(kver, [(m, "") for m in OVERLAY_MODULES])):
        name = "%02d-%s" % (i, os.path.basename(rel))
        tree.host_file(f"hotp-model/{name}", f"/lib/modules/{kver}/{rel}", 0o644)
        order.append(name)
    tree.file("hotp-model/modules.order", ("\n".join(order) + "\n").encode())
    tree.dir("hotp-model/ffs")
    tree.add_parents()
    overlay = bp.xz(bp.cpio_newc(tree, 0))
    with open(os.path.join(payload, "initrd.cpio.xz"), "rb") as f:
        base = f.read()
    base += b"\0" * (-len(base) % 4)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vmlinuz"), "wb") as f:
        f.write(kernel)
    with open(os.path.join(out, "initrd.cpio.xz"), "wb") as f:
        f.write(base + overlay)
    return out


class HotpVM(test_vm_menu.MenuVM):
    """One boot of the machine; with state_disk: the dongle model attached."""

    def __init__(self, payload, disk, state, rom, name, state_disk=None):
        super().__init__(payload, disk, state, rom, name)
        if state_disk:
            self.append = "HEADS_UI=line rdinit=/hotp-init"
            self.drives = [(state_disk, "hotp-model")]

    def gadget_started(self, timeout=BOOT_TIMEOUT):
        """The overlay's rdinit brought the dongle model up (or said why not)."""
        out = self.expect("nk-hid-gadget: 20a0:4108 attached|the dongle model did not start",
                          timeout, regex=True)
        if not out.endswith("attached"):
            raise AssertionError("the dongle model did not start:\n" + out[-3000:])
        return out

    def drive(self, steps, until, timeout=STEP):
        """Answer prompts as they come until `until` shows; returns the text.
        steps: [(substring, answer or None)], each at most once, in any order;
        "[Press Enter to continue]" (a message box) is answered every time."""
        todo = list(steps)
        enter = "[Press Enter to continue]"
        text = ""
        while True:
            alts = [until, enter] + [s for s, _ in todo]
            out = self.expect("|".join(re.escape(a) for a in alts), timeout, regex=True)
            text += out
            if out.endswith(until):
                return text
            if out.endswith(enter):
                self.send("\n")
                continue
            for i, (s, a) in enumerate(todo):
                if out.endswith(s):
                    if a is not None:
                        self.send(a + "\n")
                    todo.pop(i)
                    break


class HotpFlow(unittest.TestCase):
    def dongle_check(self, tmp, dongle, secret, n):
        """Does the dongle, as the guest left it (its state disk, written
        over USB), accept oathtool's HOTP code for counter n of the TOTP
        secret truncated to 20 bytes? Asked on a copy (heads-dongle-test
        --test-model reads the same "NKHIDM01" state), so the real state
        does not move. Returns the exit status (0 Success, 1 Invalid code)."""
        if not shutil.which("oathtool"):
            self.fail("oathtool not installed (deps/debian-packages.txt)")
        code = subprocess.run(["oathtool", "--hotp", "--base32", "-c", str(n), secret[:32]],
                              capture_output=True, text=True, check=True).stdout.strip()
        copy = os.path.join(tmp, "dongle-copy.state")
        shutil.copyfile(dongle, copy)
        r = subprocess.run([DONGLE_TEST, "hotp", "check", code, "--test-model", "nkpro:" + copy],
                           capture_output=True, text=True, timeout=60)
        os.unlink(copy)
        return r.returncode

    def test_gadget_enrol_success_autoboot_rollback_nodongle(self):
        try:
            payload = vm.ensure_payload()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        if not os.path.exists(GADGET):
            self.fail(f"{GADGET} not built (ninja -C build)")
        with tempfile.TemporaryDirectory(prefix="heads-vm-hotp-") as tmp:
            state = os.path.join(tmp, "tpm")
            os.makedirs(state)
            disk = test_vm_menu.make_disk(tmp, payload)
            rom = vm.board.blank_rom(os.path.join(tmp, "rom.img"))
            dongle = os.path.join(tmp, "dongle.img")
            with open(dongle, "wb") as f:
                f.truncate(1024 * 1024)  # zeros: a factory-fresh model
            with_dongle = make_overlay_payload(payload, os.path.join(tmp, "payload-dongle"))
            cfg = os.path.join(tmp, "config.user")
            with open(cfg, "w") as f:
                f.write('export CONFIG_HOTPKEY="y"\nexport CONFIG_AUTO_BOOT_TIMEOUT="5"\n')
            subprocess.run([vm.HEADS, "rom", "add", "--device", rom,
                            f"etc/config.user={cfg}"], check=True, capture_output=True)

            # Boot 1: ownership; the HOTP secret goes into the dongle (USB).
            with HotpVM(with_dongle, disk, state, rom, "vm-hotp-1", dongle) as m:
                m.gadget_started()
                out = m.drive([
                    ("Clean Boot Detected - Take Ownership?", "y"),
                    ("New TPM owner passphrase (1-32 characters): ", "owner-pass"),
                    ("Repeat the new TPM owner passphrase: ", "owner-pass"),
                    ("New GPG key passphrase (Admin PIN) (8-25 characters): ", "gpg-pass-123"),
                    ("Repeat the new GPG key passphrase (Admin PIN): ", "gpg-pass-123"),
                    ("Name and e-mail of the key [OEM Key <oem@example.com>]: ", ""),
                    ("Write an encrypted backup of it", "n"),
                    ("Choose [1-1 or key", "1"),
                    ("(attempt 1): ", "gpg-pass-123"),
                    ("Nitrokey Pro Admin PIN (3 tries left): ", ADMIN_PIN),
                ], "The ROM changed: the machine reboots now", STEP)
                secret = re.search(r"Secret \(base32\): ([A-Z2-7]+)", out).group(1)
                n = int(re.search(r"HOTP secret written to the Nitrokey Pro; counter (\d+)",
                                  out).group(1))
                self.assertIn("HOTP enrolled", out)
                self.assertIn("Your Nitrokey Pro now checks the HOTP code at every boot.", out)
                self.assertNotIn("HOTP not enrolled", out)
                m.send("\n")  # each msgbox on the way is answered by Enter
                m.wait_exit(STEP)
            # The secret that went over USB is the TOTP secret (oathtool).
            self.assertEqual(self.dongle_check(tmp, dongle, secret, n), 0)

            # Boot 2: the dongle accepts the code: "HOTP: Success", and the
            # countdown boots the default entry with no key pressed.
            with HotpVM(with_dongle, disk, state, rom, "vm-hotp-2", dongle) as m:
                out = m.gadget_started()
                self.assertIn("model state loaded (slot programmed)", out)
                out = m.drive([], "Automatic boot in 5 seconds", BOOT_TIMEOUT)
                t = time.time()
                self.assertIn("Nitrokey Pro firmware version: 0.15", out)
                self.assertIn("HOTP: counter %d checked by the Nitrokey Pro: Success" % n, out)
                shown = re.findall(r"TOTP: (\d{6}) \| HOTP: Success\r?\n", out)
                self.assertTrue(shown, out[-3000:])
                self.assertIn(shown[-1], {test_vm_menu.totp(secret, t + d) for d in (-60, -30, 0)})
                m.expect(MARKER, STEP)
                m.wait_exit()
            # The dongle moved past n: n is refused (no replay), n + 1 accepted.
            self.assertEqual(self.dongle_check(tmp, dongle, secret, n), 1)
            self.assertEqual(self.dongle_check(tmp, dongle, secret, n + 1), 0)

            # Boot 3: the counter file rolled back on the host (it is not
            # signed): the dongle refuses the code; no auto-boot.
            test_vm_menu.modify_boot_file(tmp, disk, "kexec_hotp_counter", "2\n")
            with HotpVM(with_dongle, disk, state, rom, "vm-hotp-3", dongle) as m:
                m.gadget_started()
                out = m.drive([], "ERROR: HOTP Validation Failed!", BOOT_TIMEOUT)
                out += m.expect("Choose [1-3 or key", 60)
                self.assertIn("HOTP: Invalid code", out)
                self.assertIn("TAMPERING", out)
                m.send("i\n")
                out = m.expect("Choose [1-5 or key", 60)
                self.assertIn("HOTP: Invalid code", out)
                time.sleep(NO_AUTOBOOT_WAIT)
                tail = m.expect(r"[\s\S]*", 5, regex=True)
                self.assertNotIn("Automatic boot", out + tail)
                self.assertNotIn(MARKER, out + tail)

            # Boot 4: the payload alone, no dongle: the insert prompt, skip,
            # "No dongle"; no auto-boot.
            with HotpVM(payload, disk, state, rom, "vm-hotp-4") as m:
                m.expect("Please insert your USB Security dongle", BOOT_TIMEOUT)
                m.answer("[y/n]: ", "n", 60)
                out = m.expect("Choose [1-5 or key", 60)
                self.assertRegex(out, r"TOTP: \d{6} \| HOTP: No dongle")
                time.sleep(NO_AUTOBOOT_WAIT)
                tail = m.expect(r"[\s\S]*", 5, regex=True)
                self.assertNotIn("Automatic boot", out + tail)
                self.assertNotIn(MARKER, out + tail)


if __name__ == "__main__":
    vm.main()
