"""heads menu, Options -> f (issue 24): the Flash / Update BIOS menu with a
ROM file on a USB drive (an ext4 image on a loop device, named with
--media) and the chip behind libflashrom's dummy programmer
(CONFIG_FLASH_PROGRAMMER), TPM = a private swtpm whose state persists, so
each menu run is one boot of the same machine.

Each boot first extends PCR 2 as coreboot does (the FMAP region and the
stages as stored, `heads tpm extend 2 --file` of each, computed here with
cbfstool by the Python oracle of test_cbfs) from the image on the chip.

- f with a prediction: the TOTP is sealed to the new image's PCR 2 before
  the write; after a power cycle of the swtpm with the new image's
  measurements the TOTP code is the new secret's at once (and with the old
  image's measurements it is not: the seal is bound to the prediction).
- f without one (the running firmware did not measure what the chip's
  image gives: PCR 2 left at zero): said, no seal, flash, and after the
  reboot the reference's "TOTP Generation Failed" screen offers the reseal.
- refusals (a ROM of another size, one with another flash layout) leave the
  chip as it was; c (erase settings) flashes without the owner's files.
Needs root (loop device, mount)."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbfs_images  # noqa: E402
from heads_test import main  # noqa: E402
from test_cbfs import predict_pcr2_python  # noqa: E402
import test_luks_common as lc  # noqa: E402
from test_menu import DRK, DUK, HEADS, WITH_SWTPM, MenuTest, totp  # noqa: E402

SIZE = 256 * 1024
ROOT = os.geteuid() == 0
OWN = (["y", "Test Key <test@example.com>", "n", "1", "p"],
       ["ownerpass", "ownerpass", "gpgpassphrase", "gpgpassphrase", "gpgpassphrase"])


def read(path):
    with open(path, "rb") as f:
        return f.read()


def cbfs_extract(rom, name):
    r = subprocess.run(["cbfstool", rom, "extract", "-r", "COREBOOT", "-n", name, "-f",
                        "/dev/stdout", "-U"], capture_output=True)
    return r.stdout if r.returncode == 0 else None


@unittest.skipUnless(ROOT and WITH_SWTPM, "needs root (loop device, mount) and with-swtpm")
class FlashMenu(MenuTest):
    def setUp(self):
        super().setUp()
        self.loops = []
        self.addCleanup(self.detach)
        self.chip = os.path.join(self.tmp, "chip.bin")
        self.stages = [("bootblock", b"BB" * 300), ("fallback/romstage", b"RS" * 513)]
        self.stages += cbfs_images.build_record()
        self.owner_cfg = b'export CONFIG_OWNER_SETTING="kept"\n'
        self.old = self.cbfs_rom("old.rom", self.stages + [
            ("fallback/payload", b"payload v1 " * 90),
            ("heads/initrd/etc/config.user", self.owner_cfg)])
        shutil.copyfile(self.old, self.chip)
        # the update: another payload, and owner files of its own (replaced)
        self.new = self.cbfs_rom("new.rom", self.stages + [
            ("fallback/payload", b"payload v2 " * 99),
            ("heads/initrd/etc/config.user", b'export CONFIG_OWNER_SETTING="vendor"\n')])
        self.config = self.write(
            "config", 'CONFIG_TPM=y\nCONFIG_BOARD_NAME="QEMU Test"\nCONFIG_GPG_ALGO=p256\n'
            f'CONFIG_FLASH_PROGRAMMER="dummy:emulate=VARIABLE_SIZE,size={SIZE},'
            f'image={self.chip}"\n')

    def detach(self):
        for d in reversed(self.loops):
            subprocess.run(["losetup", "-d", d], capture_output=True)

    def cbfs_rom(self, name, files, layout=None):
        p = os.path.join(self.tmp, name)
        cbfs_images.fmap_image(p, size=SIZE, **({"cbfs_off": layout} if layout else {}))
        for n, data in files:
            f = self.write("f", data, "wb")
            cbfs_images.cbfstool(p, "add", "-r", "COREBOOT", "-f", f, "-n", n, "-t", "raw")
        return p

    def usb(self, files):
        """An ext4 USB drive holding files {path: source}; its loop device."""
        root = os.path.join(self.tmp, "usbroot")
        shutil.rmtree(root, ignore_errors=True)
        for rel, src in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            shutil.copyfile(src, os.path.join(root, rel))
        img = os.path.join(self.tmp, "usb.img")
        if os.path.exists(img):
            os.unlink(img)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "USBFW", "-d", root, img, "8M"],
                       check=True, capture_output=True)
        dev = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True,
                             check=True).stdout.strip()
        self.loops.append(dev)
        return dev

    def coreboot_extends(self, rom):
        """heads commands extending PCR 2 as coreboot measures rom."""
        with open(rom, "rb") as fh:
            img = fh.read()
        i = img.index(b"__FMAP__")
        blobs = [img[0:0x1000]]  # area FMAP at 0, 0x1000 bytes (fmap_image)
        self.assertEqual(i, 0)
        for name in ("bootblock", "fallback/romstage", "fallback/postcar",
                     "fallback/ramstage", "fallback/payload"):
            data = cbfs_extract(rom, name)
            if data is not None:
                blobs.append(data)
        cmds, pcr = [], bytes(32)
        for k, b in enumerate(blobs):
            p = self.write(f"measure-{os.path.basename(rom)}-{k}", b, "wb")
            cmds.append([HEADS, "tpm", "extend", "2", "--file", p])
            pcr = hashlib.sha256(pcr + hashlib.sha256(b).digest()).digest()
        self.assertEqual(pcr.hex(), predict_pcr2_python(rom)[0])
        return cmds

    def power_on(self, answers, secrets=(), firmware=None, media=(), luks=()):
        extra = [x for d in media for x in ("--media", d)]
        before = self.coreboot_extends(firmware) if firmware else ()
        return self.menu(answers, list(secrets), extra=extra, before=before, luks=luks)

    def own(self, firmware):
        r = self.power_on(*OWN, firmware=firmware)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        return re.search(r"Secret \(base32\): ([A-Z2-7]+)", r.stdout).group(1)

    def shown_totp(self, r):
        m = re.search(r"^status: QEMU Test \| .* \| TOTP: (\S+)$", r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout[-3000:])
        return m.group(1)

    def test_update_keeps_totp(self):
        old_secret = self.own(self.old)
        now2, next2 = predict_pcr2_python(self.old)[0], predict_pcr2_python(self.new)[0]
        self.assertNotEqual(now2, next2)
        dev = self.usb({"firmware/update.rom": self.new})
        r = self.power_on(["o", "f", "f", "1", "y", "y"], ["ownerpass"], firmware=self.old,
                      media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertIn(f"{dev}:/firmware/update.rom", r.stdout)
        sha = hashlib.sha256(read(self.new)).hexdigest()
        self.assertIn(f"{SIZE} bytes, SHA-256 {sha}", r.stdout)
        self.assertIn("changed fallback/payload", r.stdout)
        self.assertIn("1 file carried into the new image", r.stdout)
        self.assertIn(f"Next boot: PCR 2 {next2} (now {now2}): changes", r.stdout)
        self.assertIn("Keep the TOTP across the update", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        # the new image's stages kept next to the secret (stages.h baseline)
        self.assertIn("PCR 2 stages of the new firmware recorded (4)", r.stdout + r.stderr)
        new_secret = re.search(r"Secret \(base32\): ([A-Z2-7]+)", r.stdout).group(1)
        self.assertNotEqual(new_secret, old_secret)
        # the chip: the new image with the owner's file carried over
        self.assertEqual(cbfs_extract(self.chip, "fallback/payload"),
                         cbfs_extract(self.new, "fallback/payload"))
        self.assertEqual(cbfs_extract(self.chip, "heads/initrd/etc/config.user"),
                         self.owner_cfg)
        self.assertEqual(predict_pcr2_python(self.chip)[0], next2)

        # Power cycle, the new firmware measured: the TOTP works at once.
        t0 = time.time()
        r = self.power_on(["p"], firmware=self.chip)
        t1 = time.time()
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertNotIn("TOTP Generation Failed", r.stdout)
        self.assertIn(self.shown_totp(r), {totp(new_secret, t0), totp(new_secret, t1)})
        # Control: measured as the old firmware, the new seal does not unseal.
        r = self.power_on(["i", "p"], firmware=self.old)
        self.assertIn("ERROR: TOTP Generation Failed!", r.stdout)
        self.assertEqual(self.shown_totp(r), "ERROR")

    def test_update_reseals_disk_unlock_key(self):
        """Ownership with a Disk Unlock Key on two LUKS containers; the
        update reseals the TOTP and then the same DUK (its passphrase, as at
        boot) to the new firmware's PCR 2: no key slot and no /boot file
        changes, so no GPG PIN is asked; after the power cycle on the new
        firmware the default boot unseals the DUK at once."""
        if not shutil.which("cryptsetup"):
            self.skipTest("needs cryptsetup")
        devs = []
        for name in ("a.img", "b.img"):
            path = os.path.join(self.tmp, name)
            lc.luks_format(path, DRK.encode(), size=20 << 20)
            devs.append(path)
        gpg = "gpgpassphrase"
        r = self.power_on(["y", "Test Key <test@example.com>", "n", "1", "y", "p"],
                          ["ownerpass", "ownerpass", gpg, gpg, gpg, DRK, DUK, DUK, gpg],
                          firmware=self.old, luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== textbox [normal] Disk Unlock Key set up", r.stdout)
        slots = [hashlib.sha256(read(d)[:16 << 20]).hexdigest() for d in devs]
        boot_files = {n: read(os.path.join(self.boot, n)) for n in sorted(os.listdir(self.boot))
                      if n.startswith("kexec")}
        dev = self.usb({"update.rom": self.new})
        r = self.power_on(["o", "f", "f", "1", "y", "y", "y"],
                          ["ownerpass", "wrong duk passphrase", DUK], firmware=self.old,
                          media=[dev], luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        after = r.stdout.split("=== textbox [normal] New TOTP secret", 1)[1]
        self.assertIn("Reseal it to the new firmware now (its passphrase, as at boot)?", after)
        self.assertIn("(attempt 2 of 3, blank to abort)", after)  # a wrong one first
        self.assertIn("=== msgbox [normal] Disk Unlock Key resealed", after)
        self.assertIn("=== msgbox [normal] Flash complete", after)
        self.assertNotIn("GPG signing PIN", after)
        # the same key: no key slot and no signed /boot file changed
        self.assertEqual([hashlib.sha256(read(d)[:16 << 20]).hexdigest() for d in devs], slots)
        self.assertEqual({n: read(os.path.join(self.boot, n)) for n in boot_files}, boot_files)
        # New firmware: the DUK unseals at once with its passphrase.
        r = self.power_on(["d"], [DUK], firmware=self.chip, luks=devs)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertNotIn("TOTP Generation Failed", r.stdout)
        self.assertIn("duk: unlocked, key added to the initrd", r.stdout)
        # and no longer on the old firmware (PCR 2 is part of its policy)
        r = self.power_on(["i", "d"], [DUK], firmware=self.old, luks=devs)
        self.assertNotIn("duk: unlocked, key added to the initrd", r.stdout)

    def test_no_prediction_reseal_after_reboot(self):
        # The firmware running at ownership measured nothing into PCR 2:
        # the model does not reproduce this boot, so nothing is predicted.
        self.own(None)
        dev = self.usb({"update.rom": self.new})
        r = self.power_on(["o", "f", "f", "1", "y"], media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertIn("Next boot: PCR 2 cannot be predicted: this firmware does not measure "
                      "what the prediction computes from the chip", r.stdout)
        self.assertIn("No prediction: reseal after the reboot", r.stdout)
        self.assertNotIn("Keep the TOTP across the update", r.stdout)
        self.assertNotIn("Secret (base32)", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertEqual(cbfs_extract(self.chip, "fallback/payload"),
                         cbfs_extract(self.new, "fallback/payload"))
        # After the reboot: the reference's reseal flow.
        r = self.power_on(["i", "p"], firmware=self.chip)
        self.assertIn("ERROR: TOTP Generation Failed!", r.stdout)
        self.assertIn("Generate new TOTP/HOTP secret", r.stdout)

    def test_other_build_not_predicted(self):
        """This boot is predicted right, but the update comes from a build
        whose coreboot measures into the SHA-1 bank (its CBFS config says
        CONFIG_TPM_HASH_SHA1): the SHA-256 PCR 2 it would give is not what
        the model computes, so nothing is sealed to it; the reseal comes
        after the reboot."""
        self.own(self.old)
        sha1 = cbfs_images.MEASURED_SHA256.replace(
            b"# CONFIG_TPM_HASH_SHA1 is not set\nCONFIG_TPM_HASH_SHA256=y\n",
            b"CONFIG_TPM_HASH_SHA1=y\n# CONFIG_TPM_HASH_SHA256 is not set\n")
        self.assertNotEqual(sha1, cbfs_images.MEASURED_SHA256)
        other = self.cbfs_rom("other.rom", self.stages[:2] + cbfs_images.build_record(
            config=sha1) + [("fallback/payload", b"payload v3 " * 77)])
        dev = self.usb({"other.rom": other})
        r = self.power_on(["o", "f", "f", "1", "y"], firmware=self.old, media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        text = " ".join(r.stdout.split())
        self.assertIn("Next boot: PCR 2 cannot be predicted: the new image is not a coreboot "
                      "image whose measurements this build knows: the image's coreboot "
                      "measures into another PCR bank than SHA-256", text)
        self.assertIn("No prediction: reseal after the reboot", r.stdout)
        self.assertNotIn("Keep the TOTP across the update", r.stdout)
        self.assertNotIn("Secret (base32)", r.stdout)
        self.assertEqual(cbfs_extract(self.chip, "fallback/payload"),
                         cbfs_extract(other, "fallback/payload"))
        # Another coreboot version (same options): not predicted either.
        shutil.copyfile(self.old, self.chip)
        newer = self.cbfs_rom("newer.rom", self.stages[:2] + cbfs_images.build_record(
            version=b"26.09") + [("fallback/payload", b"payload v4 " * 77)])
        dev = self.usb({"newer.rom": newer})
        r = self.power_on(["o", "f", "f", "1", "y"], firmware=self.old, media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        text = " ".join(r.stdout.split())
        self.assertIn("the new image comes from a build that measures differently: coreboot "
                      "26.09 CONFIG_TPM2=y CONFIG_TPM_MEASURED_BOOT=y CONFIG_TPM_HASH_SHA256=y; "
                      "this firmware: coreboot 26.06 CONFIG_TPM2=y", text)
        self.assertIn("No prediction: reseal after the reboot", r.stdout)

    def test_board_config_change_not_predicted(self):
        """Old and new images with real SELF payloads (a CODE segment and
        an xz-compressed initramfs): the same /etc/config in both (another
        kernel) is predicted as usual; another /etc/config (measured into
        PCR 7 at boot) is not."""
        import lzma
        def rom(name, config, kernel):
            cpio = cbfs_images.newc({"init": b"#!/bin/sh\n", "etc/config": config})
            xz = lzma.compress(cpio, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
            payload = self.write(name + ".self", cbfs_images.self_payload(xz, kernel), "wb")
            p = self.cbfs_rom(name, self.stages)
            cbfs_images.cbfstool(p, "add", "-r", "COREBOOT", "-f", payload, "-n",
                                 "fallback/payload", "-t", "simple elf")
            return p
        cfg = b'export CONFIG_BOARD_NAME="QEMU Test"\n'
        old = rom("self-old.rom", cfg, b"\xfc" * 600)
        shutil.copyfile(old, self.chip)
        self.own(old)
        same = rom("self-same.rom", cfg, b"\xfd" * 700)
        other = rom("self-other.rom", cfg + b'export CONFIG_NEW="1"\n', b"\xfd" * 700)
        dev = self.usb({"a-same.rom": same, "b-other.rom": other})
        r = self.power_on(["o", "f", "f", "1", "n", "p"], firmware=old, media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertIn(f"Next boot: PCR 2 {predict_pcr2_python(same)[0]}", r.stdout)
        self.assertIn("Next boot: PCR 7 unchanged\n", r.stdout)
        r = self.power_on(["o", "f", "f", "2", "n", "p"], firmware=old, media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertIn("Next boot: PCR 2 cannot be predicted: the new firmware's board "
                      "configuration (/etc/config in its payload) differs from this "
                      "firmware's: PCR 7, which measures it, changes", " ".join(r.stdout.split()))
        self.assertEqual(read(self.chip), read(old))  # "n": nothing written

    def test_refused_and_erase_settings(self):
        self.own(None)
        small = self.write("small.rom", read(self.new)[:SIZE // 2], "wb")
        other = self.cbfs_rom("other.rom", self.stages, layout=0x2000)
        dev = self.usb({"a-small.rom": small, "b-other.rom": other, "c-new.rom": self.new})
        before = read(self.chip)
        r = self.power_on(["o", "f", "f", "1", "o", "f", "f", "2", "o", "f", "c", "3", "y"],
                      media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertIn(f"{dev}:/a-small.rom has {SIZE // 2} bytes; the flash chip has {SIZE}: "
                      "refused, nothing was written.", r.stdout)
        self.assertIn("does not match the flash chip's layout: region COREBOOT: the chip has "
                      f"it at 0x1000 (0x{SIZE - 0x1000:x} bytes), the image at 0x2000", r.stdout)
        # c: no owner files in the new image, nothing sealed, flashed
        self.assertIn("Settings ERASED", r.stdout)
        self.assertIn("removed heads/initrd/etc/config.user", r.stdout)
        self.assertNotEqual(read(self.chip), before)
        self.assertIsNone(cbfs_extract(self.chip, "heads/initrd/etc/config.user"))
        self.assertEqual(cbfs_extract(self.chip, "fallback/payload"),
                         cbfs_extract(self.new, "fallback/payload"))

    def test_zip_package(self):
        """The reference's update package: the .rom inside is used only when
        it matches the package's sha256sum.txt."""
        import zipfile
        self.own(None)
        rom = read(self.new)

        def package(name, listed):
            p = os.path.join(self.tmp, name)
            with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("heads-qemu-v2/heads-qemu-v2.rom", rom)
                z.writestr("heads-qemu-v2/sha256sum.txt",
                           f"{listed}  heads-qemu-v2.rom\n")
            return p
        good = package("good.zip", hashlib.sha256(rom).hexdigest())
        bad = package("bad.zip", hashlib.sha256(rom + b"x").hexdigest())
        dev = self.usb({"a-bad.zip": bad, "b-good.zip": good})
        r = self.power_on(["o", "f", "f", "1", "o", "f", "f", "2", "y"], media=[dev])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr)
        self.assertIn(f"{dev}:/a-bad.zip cannot be used: heads-qemu-v2/heads-qemu-v2.rom "
                      "does not match heads-qemu-v2/sha256sum.txt: SHA-256 "
                      f"{hashlib.sha256(rom).hexdigest()}, listed "
                      f"{hashlib.sha256(rom + b'x').hexdigest()}", r.stdout)
        self.assertIn(f"ROM file: {dev}:/b-good.zip (heads-qemu-v2/heads-qemu-v2.rom, checked "
                      "against its sha256sum.txt)", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertEqual(cbfs_extract(self.chip, "fallback/payload"),
                         cbfs_extract(self.new, "fallback/payload"))

    def test_restricted_and_no_file(self):
        self.own(None)
        cfg = self.write("config.r", read(self.config).decode() +
                         'CONFIG_RESTRICTED_BOOT=y\n')
        dev = self.usb({"notes.txt": self.config})
        r = self.menu(["o", "f", "f", "p"], config=cfg, extra=["--media", dev])
        self.assertIn("Flashing the firmware is disabled by Restricted Boot", r.stdout)
        r = self.power_on(["o", "f", "f", "o", "f", "x", "p"], media=[dev])
        self.assertIn("No ROM file (*.rom) or update package (*.zip) found", r.stdout)
        self.assertEqual(read(self.chip), read(self.old))


if __name__ == "__main__":
    main()
