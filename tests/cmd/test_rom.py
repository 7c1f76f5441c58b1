"""`heads rom`: the ROM configuration area (QEMU board's flash) on image
files: slots, sequence, fallback to the previous slot on corruption,
allowlisted names, keyring storage from a real GnuPG home, extraction, and
the PCR 7 prediction init's measurements must match (computed here
independently with hashlib)."""
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import TempDirTest, main, run  # noqa: E402

SIZE = 1024 * 1024


class RomArea(TempDirTest):
    def setUp(self):
        super().setUp()
        self.rom = os.path.join(self.tmp, "rom.img")
        with open(self.rom, "wb") as f:
            f.truncate(SIZE)

    def rom_ok(self, *args):
        r = run("rom", *args, "--device", self.rom)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def slot_seq(self):
        first = self.rom_ok("list").splitlines()[0]
        return first

    def test_blank_add_list_alternating_slots(self):
        self.assertEqual(self.rom_ok("list"), f"{self.rom}: blank\n")
        cu = self.write("cu", 'export CONFIG_AUTO_BOOT_TIMEOUT="5"\n')
        self.rom_ok("add", f"etc/config.user={cu}")
        out = self.rom_ok("list")
        self.assertIn("slot 0 sequence 1, 1 files", out)
        digest = hashlib.sha256(open(cu, "rb").read()).hexdigest()
        self.assertIn(f"etc/config.user {os.path.getsize(cu)} {digest}", out)
        cu2 = self.write("cu2", 'export CONFIG_AUTO_BOOT_TIMEOUT="9"\n')
        self.rom_ok("add", f"etc/config.user={cu2}")
        self.assertIn("slot 1 sequence 2, 1 files", self.rom_ok("list"))
        self.rom_ok("remove", "etc/config.user")
        self.assertIn("slot 0 sequence 3, 0 files", self.rom_ok("list"))

    def corrupt(self, slot, offset=100):
        with open(self.rom, "r+b") as f:
            f.seek(slot * SIZE // 2 + offset)
            b = f.read(1)
            f.seek(slot * SIZE // 2 + offset)
            f.write(bytes([b[0] ^ 0x01]))

    def test_corrupt_active_slot_falls_back_to_previous(self):
        a = self.write("a", 'export CONFIG_A="old"\n')
        b = self.write("b", 'export CONFIG_A="new"\n')
        self.rom_ok("add", f"etc/config.user={a}")   # slot 0, seq 1
        self.rom_ok("add", f"etc/config.user={b}")   # slot 1, seq 2
        self.corrupt(1)                              # a write cut short
        r = run("rom", "list", "--device", self.rom)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("slot 0 sequence 1", r.stdout)
        self.assertIn("slot 1 is invalid", r.stderr)
        out = os.path.join(self.tmp, "root")
        self.rom_ok("extract", "--root", out)
        self.assertEqual(open(os.path.join(out, "etc/config.user")).read(),
                         'export CONFIG_A="old"\n')
        # The next write goes over the broken slot, not over the good one.
        self.rom_ok("add", f"etc/config.user={b}")
        self.assertIn("slot 1 sequence 2", self.rom_ok("list"))

    def test_both_slots_corrupt_is_an_error(self):
        a = self.write("a", "x=1\n")
        self.rom_ok("add", f"etc/config.user={a}")
        self.rom_ok("add", f"etc/config.user={a}")
        self.corrupt(0, 8)   # version field
        self.corrupt(1, 70)  # payload: checksum mismatch
        r = run("rom", "list", "--device", self.rom)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no valid ROM config slot", r.stderr)
        self.assertIn(self.rom, r.stderr)

    def test_names_outside_the_allowlist_refused(self):
        a = self.write("a", "x\n")
        for name in ("etc/passwd", ".gnupg/private-keys-v1.d/x.key", "../etc/config.user",
                     "/etc/config.user", ".gnupg/../init"):
            r = run("rom", "add", "--device", self.rom, f"{name}={a}")
            self.assertEqual(r.returncode, 2, name)
        self.assertEqual(self.rom_ok("list"), f"{self.rom}: blank\n")

    def test_too_big_for_a_slot(self):
        big = os.path.join(self.tmp, "big")
        with open(big, "wb") as f:
            f.write(os.urandom(SIZE // 2))
        r = run("rom", "add", "--device", self.rom, f".gnupg/pubring.kbx={big}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("do not fit", r.stderr)

    def test_not_an_area(self):
        small = self.write("small", "x")
        r = run("rom", "list", "--device", small)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a ROM config area", r.stderr)

    def test_keyring_from_gnupg_home_verifies_a_signature(self):
        home = os.path.join(self.tmp, "gnupg")
        os.mkdir(home, 0o700)
        env = dict(os.environ, GNUPGHOME=home)
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                        "ROM Test <rom@example.com>", "ed25519", "sign", "never"],
                       env=env, check=True, capture_output=True)
        data = self.write("data", "signed content\n")
        subprocess.run(["gpg", "--batch", "--detach-sign", data], env=env, check=True,
                       capture_output=True)
        self.rom_ok("add-keyring", "--gnupghome", home)
        names = [l.split()[0] for l in self.rom_ok("list").splitlines()[1:]]
        self.assertIn(".gnupg/pubring.kbx", names)
        self.assertFalse([n for n in names if "private" in n])
        root = os.path.join(self.tmp, "root")
        self.rom_ok("extract", "--root", root)
        ring = os.path.join(root, ".gnupg")
        self.assertEqual(os.stat(ring).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(os.path.join(ring, "pubring.kbx")).st_mode & 0o777, 0o600)
        # The extracted ROM keyring verifies the owner's signature and holds
        # no secret key.
        renv = dict(os.environ, GNUPGHOME=ring)
        v = subprocess.run(["gpg", "--batch", "--verify", data + ".sig", data], env=renv,
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stderr)
        s = subprocess.run(["gpg", "--batch", "--list-secret-keys"], env=renv,
                           capture_output=True, text=True)
        self.assertEqual(s.stdout.strip(), "")

    def test_predict_pcr7_is_init_measurement_order(self):
        board = self.write("config", 'export CONFIG_BOARD="qemu"\n')
        user_initramfs = self.write("config.user", 'export CONFIG_X="initramfs"\n')
        base = bytes(range(32))

        def fold(state, items):
            for desc, content in items:
                for blob in (desc.encode(), content):
                    d = hashlib.sha256(blob).digest()
                    state = hashlib.sha256(state + d).digest()
            return state

        def predict():
            return self.rom_ok("predict-pcr7", "--base", base.hex(), "--board", board,
                               "--user", user_initramfs).strip()

        # Blank ROM: board config, then the initramfs' config.user.
        self.assertEqual(predict(), fold(base, [
            ("/etc/config", open(board, "rb").read()),
            ("/etc/config.user", open(user_initramfs, "rb").read())]).hex())
        # A ROM config.user replaces the initramfs one; ROM files in name order.
        home = os.path.join(self.tmp, "g")
        os.mkdir(home, 0o700)
        kbx = b"\x00keybox-bytes"
        with open(os.path.join(home, "pubring.kbx"), "wb") as f:
            f.write(kbx)
        rom_user = self.write("rom-user", 'export CONFIG_X="rom"\n')
        self.rom_ok("add-keyring", "--gnupghome", home)
        self.rom_ok("add", f"etc/config.user={rom_user}")
        self.assertEqual(predict(), fold(base, [
            ("/etc/config", open(board, "rb").read()),
            ("/.gnupg/pubring.kbx", kbx),
            ("/etc/config.user", open(rom_user, "rb").read())]).hex())


if __name__ == "__main__":
    main()
