#!/usr/bin/env python3
"""VM suite, the QEMU board's ROM config area (the board's flash).

Boot 1: a ROM image written on the host (`heads rom add-keyring` with a real
GnuPG home, and a config.user): init extracts /.gnupg and /etc/config.user,
the ROM keyring verifies the owner's signature and holds no secret key, and
the live PCR 7 equals the host's prediction (`heads rom predict-pcr7` from
the base init saved). In the VM a new config.user is written into the ROM
(`heads rom add`, the device found by its serial) and the next boot's PCR 7
predicted there. Boot 2 (same TPM, same ROM, and a disk that must stay
/dev/vda with the ROM after it): the new config.user is in force and PCR 7
equals that prediction.
"""
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

BOOT_TIMEOUT = 300


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pcr7(m):
    return m.shell("cat /sys/class/tpm/tpm0/pcr-sha256/7").strip().lower()


class RomTest(unittest.TestCase):
    def test_rom_keyring_config_and_pcr7_across_boots(self):
        try:
            payload = vm.ensure_payload()
        except vm.SkipVM as e:
            self.skipTest(str(e))
        with tempfile.TemporaryDirectory(prefix="heads-vm-rom-") as tmp:
            home = os.path.join(tmp, "gnupg")
            os.mkdir(home, 0o700)
            env = dict(os.environ, GNUPGHOME=home)
            subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                            "ROM Owner <owner@example.com>", "ed25519", "sign", "never"],
                           env=env, check=True, capture_output=True)
            data = os.path.join(tmp, "data")
            with open(data, "w") as f:
                f.write("signed by the owner\n")
            subprocess.run(["gpg", "--batch", "--armor", "--detach-sign", data], env=env,
                           check=True, capture_output=True)
            rom = vm.board.blank_rom(os.path.join(tmp, "rom.img"))
            cu = os.path.join(tmp, "config.user")
            with open(cu, "w") as f:
                f.write('export CONFIG_ROM_TEST="boot1"\n')
            for args in (["add-keyring", "--gnupghome", home], ["add", f"etc/config.user={cu}"]):
                subprocess.run([vm.HEADS, "rom", *args, "--device", rom], check=True,
                               capture_output=True)
            state = os.path.join(tmp, "tpm")
            kbx = hashlib.sha256(read(os.path.join(home, "pubring.kbx")))

            with vm.VM(payload, firmware="seabios", name="vm-rom", state=state,
                       rom=rom) as m:
                m.recovery_shell(BOOT_TIMEOUT)
                self.assertIn(kbx.hexdigest(), m.shell("sha256sum /.gnupg/pubring.kbx"))
                self.assertEqual(m.shell("cat /etc/config.user").strip(),
                                 'export CONFIG_ROM_TEST="boot1"')
                sig = base64.b64encode(read(data + ".asc")).decode()
                m.shell(f"echo {sig} | base64 -d > /tmp/data.asc")
                m.shell("echo 'signed by the owner' > /tmp/data")
                out = m.shell("GNUPGHOME=/.gnupg gpg --batch --verify /tmp/data.asc "
                              "/tmp/data 2>&1; echo rc=$?")
                self.assertIn("rc=0", out)
                self.assertIn("Good signature", out)
                out = m.shell("GNUPGHOME=/.gnupg gpg --batch --list-secret-keys 2>&1 | "
                              "wc -l")
                self.assertEqual(out.strip(), "0")
                base = m.shell("cat /tmp/pcr7_base.txt").strip()
                live1 = pcr7(m)
                # Written in the VM: the ROM device is found by its serial.
                m.shell("echo 'export CONFIG_ROM_TEST=\"boot2\"' > /tmp/cu")
                out = m.shell("heads rom add etc/config.user=/tmp/cu 2>&1; echo rc=$?")
                self.assertIn("rc=0", out)
                predicted2 = m.shell("heads rom predict-pcr7").strip()
                m.shell("heads tpm shutdown")
                m.send("poweroff -f\n")
                m.qemu.wait(120)

            host = subprocess.run(
                [vm.HEADS, "rom", "predict-pcr7", "--device", rom, "--base", base,
                 "--board", os.path.join(vm.BOARD, "config")],
                check=True, capture_output=True, text=True).stdout.strip()
            self.assertEqual(len(live1), 64)
            # Boot 1's PCR 7 from the ROM as the host wrote it (slot before
            # the VM's write): recompute with the old config.user.
            old = os.path.join(tmp, "rom-boot1.img")
            vm.board.blank_rom(old)
            for args in (["add-keyring", "--gnupghome", home], ["add", f"etc/config.user={cu}"]):
                subprocess.run([vm.HEADS, "rom", *args, "--device", old], check=True,
                               capture_output=True)
            host1 = subprocess.run(
                [vm.HEADS, "rom", "predict-pcr7", "--device", old, "--base", base,
                 "--board", os.path.join(vm.BOARD, "config")],
                check=True, capture_output=True, text=True).stdout.strip()
            self.assertEqual(host1, live1, "PCR 7 of boot 1 vs the host's prediction")
            self.assertEqual(host, predicted2, "host and VM predict the same next PCR 7")
            listing = subprocess.run([vm.HEADS, "rom", "list", "--device", rom],
                                     check=True, capture_output=True, text=True).stdout
            self.assertIn("sequence 3", listing)

            # Boot 2 also has a disk: it must stay /dev/vda (CONFIG_BOOT_DEV
            # names vda1), the ROM after it.
            disk = os.path.join(tmp, "disk.img")
            with open(disk, "wb") as f:
                f.truncate(8 * 1024 * 1024)
            with vm.VM(payload, firmware="seabios", name="vm-rom", state=state,
                       rom=rom, disk=disk) as m:
                m.recovery_shell(BOOT_TIMEOUT)
                self.assertEqual(m.shell("cat /sys/block/vda/size").strip(), "16384")
                self.assertEqual(m.shell("cat /sys/block/vdb/serial").strip(), "heads-rom")
                self.assertEqual(m.shell("cat /etc/config.user").strip(),
                                 'export CONFIG_ROM_TEST="boot2"')
                self.assertEqual(m.shell("cat /tmp/pcr7_base.txt").strip(), base)
                self.assertEqual(pcr7(m), predicted2, "PCR 7 of boot 2 as predicted")


if __name__ == "__main__":
    vm.main()
