#!/usr/bin/env python3
"""VM suite, LUKS1 reencryption inside QEMU (issue 7): the payload (SeaBIOS,
TCG) with a LUKS1 image of known content as /dev/vda. In the recovery shell
`heads luks reencrypt` runs on it twice: the first run is SIGKILLed from the
shell while it works (the container is then listed as a pending LUKS1
conversion, or already done if the run beat the kill), the second finishes
it. The Disk Recovery Key reaches heads through fd 3 from a tmpfs file
written by the shell's printf builtin (no argv). On the host: the header
is LUKS1 again (same UUID, DRK slot), the volume key is new, and the data
decrypts to the original with the independent AES-XTS oracle.

Not done here: activating the container with dm-crypt inside the VM (the
payload has the dm_crypt module but no tool that activates a mapping).
"""
import os
import random
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "cmd"))
import vm  # noqa: E402
from test_luks_common import dump, luks_uuid, opens, oracle_decrypt, oracle_encrypt, sh, \
    volume_key  # noqa: E402

BOOT_TIMEOUT = 300    # payload boot under TCG on 2 shared cores
RUN_TIMEOUT = 900     # a reencryption of 22 MiB under TCG, loaded host
DRK = "heads-luks1-vm-drk"
DATA = 8 << 20


class Luks1InVM(unittest.TestCase):
    def test_reencrypt_luks1_in_vm(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (cryptsetup on the image)")
        payload = vm.ensure_payload()
        with tempfile.TemporaryDirectory(prefix="heads-vm-luks1-") as d:
            img = os.path.join(d, "luks1.img")
            with open(img, "wb") as f:
                f.truncate(24 << 20)
            sh("cryptsetup", "luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations",
               "1000", "--key-slot", "1", "--key-file", "-", img, input=DRK.encode())
            data = random.Random(7).randbytes(DATA)
            oracle_encrypt(img, DRK.encode(), data)
            uuid, k0 = luks_uuid(img), volume_key(img, DRK.encode())

            with vm.VM(payload, firmware="seabios", drives=[img], name="vm-luks1") as m:
                m.recovery_shell(BOOT_TIMEOUT)
                out = m.shell("heads luks list /dev/vda")
                self.assertRegex(out, rf"/dev/vda\t{uuid}\tLUKS1\tslots=1\t")
                # the DRK into a tmpfs file by a shell builtin, then fd 3
                m.shell(f"umask 077; printf '%s\\n' '{DRK}' > /tmp/drk")
                # first run: SIGKILL a few seconds in (conversion or data)
                m.shell("heads luks reencrypt --drk-fd 3 /dev/vda 3</tmp/drk "
                        ">/tmp/run1.out 2>&1 & p=$!; sleep 4; kill -9 $p; wait $p; "
                        "echo run1 exit $?", RUN_TIMEOUT)
                left = m.shell("heads luks list /dev/vda")
                print(f"after SIGKILL: {left.strip()}")
                self.assertRegex(left, r"\tLUKS[12]\t")
                out = m.shell("heads luks reencrypt --drk-fd 3 /dev/vda 3</tmp/drk; "
                              "echo exit $?", RUN_TIMEOUT)
                print(out)
                self.assertIn("exit 0", out)
                self.assertRegex(out, r"/dev/vda: reencrypted( \(resumed\))?, drk slot 1")
                if "LUKS1-PENDING" in left:
                    self.assertIn("(resumed)", out)
                out = m.shell("heads luks list /dev/vda; heads luks check-drk --drk-fd 3 "
                              "/dev/vda 3</tmp/drk; ls /tmp | grep -c heads-luks1- ; "
                              "rm -f /tmp/drk")
                self.assertRegex(out, rf"/dev/vda\t{uuid}\tLUKS1\tslots=1\t")
                self.assertIn("/dev/vda: ok slot 1", out)
                self.assertNotIn("PENDING", out)
                self.assertRegex(out, r"(?m)^0$")  # no header backup left in /tmp

            # the host checks the image with tools independent of heads
            self.assertRegex(dump(img), r"(?m)^Version:\s+1", "not LUKS1 again")
            self.assertEqual(luks_uuid(img), uuid)
            self.assertTrue(opens(img, DRK.encode(), 1))
            self.assertNotEqual(volume_key(img, DRK.encode()), k0, "volume key unchanged")
            self.assertEqual(oracle_decrypt(img, DRK.encode(), DATA), data, "data differs")
            self.assertIsNotNone(re.search(r"Payload offset:\s+4096", dump(img)))


if __name__ == "__main__":
    vm.main()
