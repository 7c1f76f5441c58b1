"""heads duk setup|unlock on the host: LUKS2 image files, a private swtpm
that is power-cycled between "boots", a real gpg key for /boot signing.

Covered: setup on two containers (slot 31, PBKDF2, signed files in the
reference formats); unseal with the predicted PCRs after a power cycle
(PCR 5 = only the modules of the board list, PCR 6 = the new headers);
a changed LUKS header refused (exit 4) with PCR 4 still extended; three
wrong passphrases -> the DRK fallback (exit 3); a second unseal in the same
boot fails after the PCR 4 "generic" extension; setup refusals.

One test list, two backends (issue 19): every case runs on swtpm TPM 2.0
(SHA-256 bank) and on swtpm TPM 1.2 (SHA-1 bank, our own client; the DUK
sealed with TPM_Seal into NV), the PCR values checked by hashlib in the
bank's hash."""
import hashlib
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import HEADS, Swtpm, TempDirTest, main  # noqa: E402

DRK = b"recovery passphrase 1"
DUK = b"duk passphrase twelve+"
OWNER = b"owner passphrase"
CHEAP = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]


def sh(*args, input=None, check=True):
    return subprocess.run(list(args), input=input, capture_output=True, check=check)


def heads(tpm, *args, fds=None, timeout=120):
    """Run heads with HEADS_TCTI=tpm; fds: {"--duk-fd": bytes}, each a pipe."""
    argv, pass_fds = [], []
    for opt, data in (fds or {}).items():
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        argv += [opt, str(r)]
        pass_fds.append(r)
    env = dict(os.environ, HEADS_TCTI=tpm.tcti if tpm else "", HEADS_UI="line")
    try:
        return subprocess.run([HEADS, *args[:2], *argv, *args[2:]], capture_output=True,
                              text=True, pass_fds=pass_fds, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        for fd in pass_fds:
            os.close(fd)


def newc(files):
    """A newc cpio archive of {name: bytes}."""
    out = b""
    for ino, (name, data) in enumerate(list(files.items()) + [("TRAILER!!!", b"")], 1):
        n = name.encode() + b"\0"
        mode = 0o100644 if name != "TRAILER!!!" else 0
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(n), 0))
        out += hdr.encode() + n
        out += b"\0" * ((4 - len(out) % 4) % 4) + data
        out += b"\0" * ((4 - len(out) % 4) % 4)
    return out + b"\0" * ((512 - len(out) % 512) % 512)


class DukTest:
    TPM12 = False

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("LUKS images need root (cryptsetup)")
        for tool in ("swtpm", "cryptsetup", "gpg"):
            if not shutil.which(tool):
                raise unittest.SkipTest(f"{tool} not installed")

    def setUp(self):
        super().setUp()
        self.h = hashlib.sha1 if self.TPM12 else hashlib.sha256
        self.dlen = self.h().digest_size
        self.generic = self.h(bytes(self.dlen) + self.h(b"generic").digest()).digest()
        self.tpm = Swtpm(os.path.join(self.tmp, "tpmstate"), tpm12=self.TPM12)
        self.addCleanup(self.tpm.stop)
        r = heads(self.tpm, "tpm", "reset", fds={"--owner-fd": OWNER})
        self.assertEqual(r.returncode, 0, r.stderr)
        # Two LUKS2 containers with the DRK in slot 0 and a stray slot 1.
        self.devs = []
        for i in range(2):
            img = os.path.join(self.tmp, f"disk{i}.img")
            with open(img, "wb") as f:
                f.truncate(20 << 20)
            sh("cryptsetup", "luksFormat", "-q", "--type", "luks2", *CHEAP, "--key-file", "-",
               img, input=DRK)
            self.devs.append(img)
        self.uuids = [sh("cryptsetup", "luksUUID", d).stdout.decode().strip() for d in self.devs]
        # /boot: one entry, its initrd holds a crypttab, default saved.
        self.boot = os.path.join(self.tmp, "boot")
        os.makedirs(os.path.join(self.boot, "grub"))
        self.write("boot/grub/grub.cfg", "menuentry 'Debian' {\n  linux /vmlinuz root=/dev/"
                   "mapper/root ro quiet\n  initrd /initrd.img\n}\n")
        self.write("boot/vmlinuz", "kernel\n")
        crypttab = f"# <target> <source> <key> <options>\nroot UUID={self.uuids[0]} none luks\n"
        self.write("boot/initrd.img", newc({"etc/crypttab": crypttab.encode(),
                                            "init": b"#!/bin/sh\n"}), mode="wb")
        self.write("boot/kexec_default.1.txt",
                   "Debian|elf|kernel /vmlinuz|initrd /initrd.img|append root=/dev/mapper/root"
                   " ro quiet\n")
        # gpg: a signing key and the "ROM" keyring with its public key.
        self.gnupg = os.path.join(self.tmp, "gnupg")
        self.keyring = os.path.join(self.tmp, "keyring")
        for h in (self.gnupg, self.keyring):
            os.makedirs(h, mode=0o700)
            self.addCleanup(subprocess.run, ["gpgconf", "--homedir", h, "--kill", "all"],
                            capture_output=True)
        sh("gpg", "--homedir", self.gnupg, "--batch", "--pinentry-mode", "loopback",
           "--passphrase", "", "--quick-gen-key", "Signer <s@example.org>", "ed25519", "sign",
           "never")
        pub = sh("gpg", "--homedir", self.gnupg, "--export").stdout
        sh("gpg", "--homedir", self.keyring, "--batch", "--import", input=pub)
        self.sign_boot()
        # The board's module list and this boot's measurement trace (as init
        # writes it): a.ko is on the list, extra.ko was loaded later.
        self.mods = {}
        for name in ("a", "extra"):
            self.mods[name] = self.write(f"mods/{name}.ko", f"module {name}\n")
        self.modlist = self.write("modules", self.mods["a"] + "\n")
        self.trace = os.path.join(self.tmp, "trace.log")
        self.init_boot(extra=True)

    def sign_boot(self):
        """/boot signed before any DUK setup (setup only adds its files to a
        /boot that verifies): manifests by heads, then the listing of every
        kexec*.txt (the saved default too) signed as the shell version does."""
        r = heads(None, "boot", "sign", "--boot", self.boot, "--gnupghome", self.gnupg,
                  "--no-rollback")
        self.assertEqual(r.returncode, 0, r.stderr)
        listing = b""
        for n in sorted(n for n in os.listdir(self.boot)
                        if n.startswith("kexec") and n.endswith(".txt")):
            with open(os.path.join(self.boot, n), "rb") as f:
                listing += hashlib.sha256(f.read()).hexdigest().encode() + b"  " + n.encode() + b"\n"
        sig = sh("gpg", "--homedir", self.gnupg, "--batch", "--pinentry-mode", "loopback",
                 "--passphrase", "", "--detach-sign", "-a", input=listing).stdout
        with open(os.path.join(self.boot, "kexec.sig"), "wb") as f:
            f.write(sig)
        v = heads(None, "boot", "verify", "--boot", self.boot, "--keyring", self.keyring,
                  "--no-rollback", "--config", os.devnull)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

    def init_boot(self, extra=False):
        """What heads init does at each boot: PCR 5 <- the listed modules."""
        for name in ["a"] + (["extra"] if extra else []):
            r = heads(self.tpm, "tpm", "extend", "5", "--file", self.mods[name],
                      "--trace", self.trace)
            self.assertEqual(r.returncode, 0, r.stderr)

    def setup_duk(self, *extra, duk=DUK, again=None):
        again = duk if again is None else again
        return heads(self.tpm, "duk", "setup", "--boot", self.boot, *self.devs,
                     "--gnupghome", self.gnupg, "--keyring", self.keyring,
                     "--no-eventlog", "--trace", self.trace,
                     "--modules", self.modlist, "--config", os.devnull, *extra,
                     fds={"--drk-fd": DRK, "--duk-fd": duk + b"\n" + again + b"\n",
                          "--owner-fd": OWNER})

    def setup_duk_file(self, devfile):
        """heads duk setup --devices-file devfile (instead of DEVICE args)."""
        return heads(self.tpm, "duk", "setup", "--boot", self.boot, "--devices-file", devfile,
                     "--gnupghome", self.gnupg, "--keyring", self.keyring, "--no-eventlog",
                     "--trace", self.trace, "--modules", self.modlist, "--config", os.devnull,
                     fds={"--drk-fd": DRK, "--duk-fd": DUK + b"\n" + DUK + b"\n",
                          "--owner-fd": OWNER})

    def unlock(self, *passes, fallback="no"):
        return heads(self.tpm, "duk", "unlock", "--boot", self.boot, "--no-act",
                     "--keyring", self.keyring,
                     "--drk-fallback", fallback, "--config", os.devnull,
                     fds={"--duk-fd": b"".join(p + b"\n" for p in passes)})

    def pcr(self, n):
        r = heads(self.tpm, "tpm", "pcrread", str(n))
        self.assertEqual(r.returncode, 0, r.stderr)
        return bytes.fromhex(r.stdout.split(":")[1].strip())

    def read(self, name):
        with open(os.path.join(self.boot, name)) as f:
            return f.read()

    def set_up_and_reboot(self):
        r = self.setup_duk()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.tpm.restart()
        self.init_boot()
        return r

    # --- setup ------------------------------------------------------------

    def test_setup_files_slots_signature(self):
        r = self.set_up_and_reboot()
        for d in self.devs:
            self.assertIn(f"{d}: duk slot 31 drk slot 0", r.stdout)
            dump = sh("cryptsetup", "luksDump", d).stdout.decode()
            slot31 = dump.split("  31: luks2")[1].split("Digests:")[0]
            self.assertIn("PBKDF:      pbkdf2", slot31)
            self.assertIn("Iterations: 1000", slot31)
            self.assertIn("Priority:   preferred", slot31)  # tried first by any-slot opens
        self.assertEqual(self.read("kexec_key_devices.txt"),
                         "".join(f"{d} {u}\n" for d, u in zip(self.devs, self.uuids)))
        # Reference format: sha256sum of the header backups, one per device.
        lines = self.read("kexec_lukshdr_hash.txt").splitlines()
        self.assertEqual(len(lines), 2)
        for d in self.devs:
            self.assertTrue(any(l.endswith("/tmp/lukshdr-" + d.replace("/", "_"))
                                for l in lines), lines)
        # From the default entry's initrd: "none" key field -> /secret.key.
        self.assertIn("crypttab: from the default initrd", r.stdout)
        self.assertEqual(self.read("kexec_initrd_crypttab_overrides.txt"),
                         f"etc/crypttab:root UUID={self.uuids[0]} /secret.key luks\n")
        # Signed with the rest of /boot, rollback counter advanced.
        v = heads(self.tpm, "boot", "verify", "--boot", self.boot, "--keyring", self.keyring)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

    def test_setup_refused_on_tampered_boot(self):
        """Issue 15 item 4: a DUK setup never re-blesses a tampered kernel:
        refused before any change, /boot's signature left as it was."""
        with open(os.path.join(self.boot, "kexec.sig"), "rb") as f:
            sig = f.read()
        self.write("boot/vmlinuz", "evil kernel\n")
        dumps = [sh("cryptsetup", "luksDump", d).stdout for d in self.devs]
        r = self.setup_duk()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("does not verify", r.stderr)
        with open(os.path.join(self.boot, "kexec.sig"), "rb") as f:
            self.assertEqual(f.read(), sig)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec_key_devices.txt")))
        self.assertEqual([sh("cryptsetup", "luksDump", d).stdout for d in self.devs], dumps)
        # A planted kexec*.txt is refused the same way.
        self.write("boot/vmlinuz", "kernel\n")
        self.write("boot/kexec_evil.txt", "x\n")
        r = self.setup_duk()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("does not verify", r.stderr)

    def test_setup_generic_crypttab_without_one_in_initrd(self):
        """An OS initrd without crypttab: the reference's generic lines, one per
        container, for etc/crypttab and cryptroot/crypttab."""
        self.write("boot/initrd.img", newc({"init": b"#!/bin/sh\n"}), mode="wb")
        with open(os.path.join(self.boot, "kexec.sig"), "rb") as f:
            sig = f.read()
        r = self.setup_duk("--no-sign")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("crypttab: generic", r.stdout)
        self.assertIn("files written unsigned", r.stdout)
        want = "".join(f"{f}:luks-{u} UUID={u} /secret.key luks,discard\n"
                       for f in ("etc/crypttab", "cryptroot/crypttab") for u in self.uuids)
        self.assertEqual(self.read("kexec_initrd_crypttab_overrides.txt"), want)
        with open(os.path.join(self.boot, "kexec.sig"), "rb") as f:
            self.assertEqual(f.read(), sig)  # not signed again

    def test_setup_refusals(self):
        r = self.setup_duk(duk=b"short pass", again=b"short pass")
        self.assertEqual(r.returncode, 1)
        self.assertIn("at least 12 characters", r.stderr)
        r = self.setup_duk(duk=DUK, again=DUK + b"x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("differ", r.stderr)
        r = heads(self.tpm, "duk", "setup", "--boot", self.boot, *self.devs, "--no-sign",
                  "--config", os.devnull,
                  fds={"--drk-fd": b"wrong recovery key", "--duk-fd": DUK + b"\n" + DUK + b"\n",
                       "--owner-fd": OWNER})
        self.assertEqual(r.returncode, 1)
        self.assertIn("opens none", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec_key_devices.txt")))

    def test_setup_refused_where_the_board_disables_it(self):
        """Issue 21: `heads duk setup` runs the menu's flow, so the board's
        CONFIG_TPM_NO_LUKS_DISK_UNLOCK=y refuses it there too (the menu
        did, the command did not), before any key slot is written."""
        cfg = self.write("nodisk", 'CONFIG_TPM_NO_LUKS_DISK_UNLOCK="y"\n')
        r = self.setup_duk("--no-sign", "--config", cfg)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("disabled on this board (CONFIG_TPM_NO_LUKS_DISK_UNLOCK)", r.stderr)
        for d in self.devs:
            self.assertNotIn("  31: luks2", sh("cryptsetup", "luksDump", d).stdout.decode())
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec_key_devices.txt")))

    def test_setup_devices_file_uuid_checked(self):
        """Issue 21: `heads duk setup --devices-file` checks each line's
        UUID against the container as `heads luks` and the menu do: a file
        naming a container that now has another UUID is refused, naming
        it, before any key slot or /boot file is written."""
        wrong = self.uuids[1]  # the other container's UUID
        devfile = self.write("devices", f"{self.devs[0]} {wrong}\n{self.devs[1]} {self.uuids[1]}\n")
        r = self.setup_duk_file(devfile)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{self.devs[0]}: UUID {self.uuids[0]} differs from {wrong} in {devfile}",
                      r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec_key_devices.txt")))
        for d in self.devs:
            dump = sh("cryptsetup", "luksDump", d).stdout.decode()
            self.assertNotIn("31: luks2", dump)
        # The right UUIDs: set up.
        self.write("devices", f"{self.devs[0]} {self.uuids[0]}\n{self.devs[1]} {self.uuids[1]}\n")
        r = self.setup_duk_file(devfile)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # --- unlock -----------------------------------------------------------

    def test_unlock_after_reboot_then_second_unseal_fails(self):
        self.set_up_and_reboot()
        r = self.unlock(DUK)
        self.assertIn("duk: unlocked: 2 containers open with the Disk Unlock Key", r.stdout,
                      r.stderr)
        self.assertEqual(self.pcr(4), self.generic)
        # PCR 6 = the headers, measured once.
        listing = self.read("kexec_lukshdr_hash.txt").encode()
        self.assertEqual(self.pcr(6), self.h(bytes(self.dlen) + self.h(listing).digest()).digest())
        # Same boot, after the extension: refused, with the PCRs named.
        r = self.unlock(DUK)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("PCRs it was sealed to have changed", r.stdout)
        self.assertIn("PCR 4 expected", r.stdout)

    def test_unlock_boots_default_with_injected_initrd(self):
        self.set_up_and_reboot()
        r = self.unlock(DUK)
        self.assertIn("duk: unlocked", r.stdout, r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("kernel: %s/vmlinuz\n" % self.boot, r.stdout)
        self.assertIn("verified: yes\n", r.stdout)
        size = int(r.stdout.split("initrd-injected: ")[1].split()[0])
        self.assertGreater(size, os.path.getsize(os.path.join(self.boot, "initrd.img")) + 128)

    def test_unlock_verifies_boot_with_keyring(self):
        """--keyring: the signed DUK files are trusted only once /boot
        verifies; a tampered crypttab override refuses before any unseal."""
        self.set_up_and_reboot()
        path = os.path.join(self.boot, "kexec_initrd_crypttab_overrides.txt")
        with open(path, "a") as f:
            f.write("etc/crypttab:evil UUID=x /secret.key luks\n")
        r = heads(self.tpm, "duk", "unlock", "--boot", self.boot, "--no-act", "--keyring",
                  self.keyring, "--drk-fallback", "no", "--config", os.devnull,
                  fds={"--duk-fd": DUK + b"\n"})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("does not verify", r.stderr)
        self.assertNotIn("duk: unlocked", r.stdout)
        self.assertEqual(self.pcr(4), bytes(self.dlen))  # nothing unsealed, nothing extended
        with open(path) as f:
            good = f.read().replace("etc/crypttab:evil UUID=x /secret.key luks\n", "")
        with open(path, "w") as f:
            f.write(good)
        r = heads(self.tpm, "duk", "unlock", "--boot", self.boot, "--no-act", "--keyring",
                  self.keyring, "--drk-fallback", "no", "--config", os.devnull,
                  fds={"--duk-fd": DUK + b"\n"})
        self.assertIn("duk: unlocked", r.stdout, r.stderr)

    def test_pcr5_extra_module_in_this_boot_is_not_sealed(self):
        """Setup ran in a boot that also loaded extra.ko: the next boot loads
        only the listed module and still unseals (10.2 #19 fixed)."""
        self.set_up_and_reboot()
        self.assertNotEqual(self.pcr(5), bytes(self.dlen))
        r = self.unlock(DUK)
        self.assertIn("duk: unlocked", r.stdout, r.stderr)

    def test_changed_header_refused(self):
        self.set_up_and_reboot()
        # A DRK change / reencryption / new key slot changes the header.
        kf = os.path.join(self.tmp, "newkey")
        with open(kf, "wb") as f:
            f.write(b"another passphrase")
        sh("cryptsetup", "luksAddKey", "-q", *CHEAP, "--key-file", "-", "--new-key-slot", "5",
           self.devs[1], kf, input=DRK)
        r = self.unlock(DUK)
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("Encrypted disk keys have changed", r.stdout)
        self.assertIn(f"{self.devs[1]}: LUKS header changed", r.stdout)
        self.assertNotIn(f"{self.devs[0]}: LUKS header changed", r.stdout)
        self.assertIn("heads duk setup", r.stdout)
        self.assertEqual(self.pcr(4), self.generic)  # extended all the same
        # Resealing in this boot (no devices given: the configured ones),
        # then a reboot, unlocks again.
        r = heads(self.tpm, "duk", "setup", "--boot", self.boot, "--gnupghome", self.gnupg,
                  "--keyring", self.keyring, "--config", os.devnull,
                  "--no-eventlog", "--trace", self.trace, "--modules", self.modlist,
                  "--no-rollback", fds={"--drk-fd": DRK, "--duk-fd": DUK + b"\n" + DUK + b"\n",
                                        "--owner-fd": OWNER})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("resealing for the containers of", r.stderr)
        for d in self.devs:
            self.assertIn(f"{d}: duk slot 31", r.stdout)
        self.tpm.restart()
        self.init_boot()
        r = self.unlock(DUK)
        self.assertIn("duk: unlocked", r.stdout, r.stderr)

    def test_drk_change_and_reencryption_invalidate(self):
        """Issue 9 item 3: a DRK passphrase change or a reencryption after
        setup is detected at the next boot (header change) and a reseal is
        asked for."""
        self.set_up_and_reboot()
        r = heads(self.tpm, "luks", "change-passphrase", self.devs[0],
                  fds={"--drk-fd": DRK, "--new-fd": b"new recovery passphrase"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.unlock(DUK)
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn(f"{self.devs[0]}: LUKS header changed", r.stdout)
        self.assertIn("Reseal", r.stdout)
        self.tpm.restart()
        self.init_boot()
        r = heads(self.tpm, "luks", "reencrypt", "--fast", self.devs[1],
                  fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.unlock(DUK)
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn(f"{self.devs[1]}: LUKS header changed", r.stdout)

    def test_changed_header_drk_fallback(self):
        """The command and the menu take the same road (flow/duk_boot.h):
        with the headers changed nothing is unsealed, and booting with the
        Disk Recovery Key typed into the OS is the person's explicit choice
        (--drk-fallback yes), PCR 4 extended all the same."""
        self.set_up_and_reboot()
        kf = os.path.join(self.tmp, "newkey")
        with open(kf, "wb") as f:
            f.write(b"another passphrase")
        sh("cryptsetup", "luksAddKey", "-q", *CHEAP, "--key-file", "-", "--new-key-slot", "5",
           self.devs[0], kf, input=DRK)
        r = self.unlock(DUK, fallback="yes")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn(f"{self.devs[0]}: LUKS header changed", r.stdout)
        self.assertIn("booting without the Disk Unlock Key", r.stdout)
        self.assertIn("verified: yes\n", r.stdout)
        self.assertNotIn("initrd-injected", r.stdout)
        self.assertEqual(self.pcr(4), self.generic)

    def test_three_wrong_passphrases_drk_fallback(self):
        self.set_up_and_reboot()
        r = self.unlock(b"wrong one 1111", b"wrong two 2222", b"wrong three 33", DUK,
                        fallback="yes")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(r.stderr.count("wrong passphrase (attempt"), 3)
        self.assertIn("Retry count exceeded", r.stderr)
        self.assertIn("Wrong Disk Unlock Key passphrase", r.stdout)
        self.assertIn("booting without the Disk Unlock Key", r.stdout)
        self.assertIn("kernel: %s/vmlinuz\n" % self.boot, r.stdout)
        self.assertIn("verified: yes\n", r.stdout)
        self.assertNotIn("initrd-injected", r.stdout)
        self.assertEqual(self.pcr(4), self.generic)
        # The fourth (right) line was never read: the right passphrase now
        # fails on PCR 4, not on the passphrase.
        r = self.unlock(DUK)
        self.assertIn("PCRs it was sealed to have changed", r.stdout)

    def test_fallback_declined_and_blank_aborts(self):
        self.set_up_and_reboot()
        r = self.unlock(b"")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("entry aborted", r.stdout)
        self.assertIn("boot aborted", r.stdout)
        self.assertEqual(self.pcr(4), self.generic)

    def test_scripted_ui_setup_and_unlock(self):
        """The interactive paths through the UI (scripted back-end): the DRK
        does not open a third container -> asked, answered "continue with
        the unlockable ones"; at boot the TOTP screen comes before every
        passphrase prompt and a wrong first passphrase is retried."""
        other = os.path.join(self.tmp, "other.img")
        with open(other, "wb") as f:
            f.truncate(20 << 20)
        sh("cryptsetup", "luksFormat", "-q", "--type", "luks2", *CHEAP, "--key-file", "-",
           other, input=b"a different recovery key")
        script = self.write("setup.script", "# continue with the unlockable devices?\ny\n")
        r_fd, w_fd = os.pipe()
        os.write(w_fd, DRK + b"\n" + DUK + b"\n" + DUK + b"\n")
        os.close(w_fd)
        env = dict(os.environ, HEADS_TCTI=self.tpm.tcti, HEADS_UI="script",
                   HEADS_UI_SCRIPT=script, HEADS_UI_SECRET_FD=str(r_fd))
        o_r, o_w = os.pipe()
        os.write(o_w, OWNER)
        os.close(o_w)
        p = subprocess.run([HEADS, "duk", "setup", "--boot", self.boot, *self.devs, other,
                            "--owner-fd", str(o_r), "--gnupghome", self.gnupg,
                            "--keyring", self.keyring, "--no-eventlog",
                            "--trace", self.trace, "--modules", self.modlist,
                            "--config", os.devnull],
                           pass_fds=[r_fd, o_r], capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=120)
        os.close(r_fd)
        os.close(o_r)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Continue with only the unlockable devices", p.stdout)
        self.assertIn(f"does not open: {other}", p.stdout)
        self.assertNotIn(other, self.read("kexec_key_devices.txt"))
        self.assertEqual(len(self.read("kexec_key_devices.txt").splitlines()), 2)

        self.tpm.restart()
        self.init_boot()
        script = self.write("unlock.script", "")
        r_fd, w_fd = os.pipe()
        os.write(w_fd, b"not the passphrase\n" + DUK + b"\n")
        os.close(w_fd)
        env.update(HEADS_TCTI=self.tpm.tcti, HEADS_UI_SCRIPT=script, HEADS_UI_SECRET_FD=str(r_fd))
        p = subprocess.run([HEADS, "duk", "unlock", "--boot", self.boot, "--no-act",
                            "--keyring", self.keyring, "--config", os.devnull],
                           pass_fds=[r_fd], capture_output=True,
                           text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)
        os.close(r_fd)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.count("TOTP: unavailable"), 2)  # no TOTP sealed here
        self.assertIn("Wrong Disk Unlock Key passphrase.", p.stdout)
        self.assertIn("duk: unlocked: 2 containers", p.stdout)

    def test_not_set_up(self):
        r = self.unlock(DUK)
        self.assertEqual(r.returncode, 1)
        self.assertIn("No Disk Unlock Key is set up", r.stdout)


class DukTpm20(DukTest, TempDirTest):
    TPM12 = False

    def test_pinned_primary_refused_before_any_slot(self):
        """Issue 15 item 7: a config pinning another primary key: setup is
        refused before a key slot is written, unlock before any unseal."""
        other = self.write("pinned", 'CONFIG_TPM_PRIMARY_NAME="000b' + "00" * 32 + '"\n')
        r = self.setup_duk("--no-sign", "--config", other)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not the one recorded at ownership", r.stderr)
        for d in self.devs:
            self.assertNotIn("  31: luks2", sh("cryptsetup", "luksDump", d).stdout.decode())
        self.set_up_and_reboot()
        r = heads(self.tpm, "duk", "unlock", "--boot", self.boot, "--no-act",
                  "--keyring", self.keyring, "--drk-fallback", "no", "--config", other,
                  fds={"--duk-fd": DUK + b"\n"})
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("duk: unlocked", r.stdout)
        self.assertIn("not the one recorded at ownership", r.stdout + r.stderr)


class DukTpm12(DukTest, TempDirTest):
    TPM12 = True

    def test_board_of_the_other_tpm_version_refused(self):
        """Issue 19: CONFIG_TPM2_TOOLS="y" says the board's TPM is a 2.0: a
        TPM 1.2 in its place is refused before any key slot or unseal, for
        setup and unlock, naming both versions."""
        board = self.write("board20", 'CONFIG_TPM2_TOOLS="y"\n')
        before = [sh("cryptsetup", "luksDump", d).stdout for d in self.devs]
        r = self.setup_duk("--no-sign", "--config", board)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("the board expects a TPM 2.0 (CONFIG_TPM2_TOOLS=y) but this TPM is a "
                      "TPM 1.2", r.stderr)
        self.assertEqual([sh("cryptsetup", "luksDump", d).stdout for d in self.devs], before)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec_key_devices.txt")))
        r = heads(self.tpm, "duk", "unlock", "--boot", self.boot, "--no-act", "--keyring",
                  self.keyring, "--drk-fallback", "no", "--config", board)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("the board expects a TPM 2.0", r.stderr)
        # the same TPM with the board that says so ("n": a TPM 1.2) is used
        board12 = self.write("board12", 'CONFIG_TPM2_TOOLS="n"\n')
        r = self.setup_duk("--no-sign", "--config", board12)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_setup_refused_on_tpm_without_owner(self):
        """TPM 1.2: no owner = no SRK to seal under: refused before any key
        slot is written (as a missing primary on TPM 2.0)."""
        self.tpm.stop()
        shutil.rmtree(os.path.join(self.tmp, "tpmstate"))
        self.tpm = Swtpm(os.path.join(self.tmp, "tpmstate"), tpm12=True)
        self.addCleanup(self.tpm.stop)
        r = self.setup_duk("--no-sign")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("has no owner", r.stderr)
        for d in self.devs:
            self.assertNotIn("  31: luks2", sh("cryptsetup", "luksDump", d).stdout.decode())


if __name__ == "__main__":
    main()
