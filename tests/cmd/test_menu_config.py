"""heads menu, the Config Management items of issue 20, through the
scripted UI with a private swtpm, a real gpg key (ownership) and a blank
ROM config area image:

- L Restricted Boot: turning it on needs the GPG challenge (a wrong
  passphrase three times changes nothing), is saved into the ROM's
  etc/config.user, which the PCR 7 prediction then covers; the next boot
  refuses forced boot, the recovery shell and flashing with the reason;
  turning it off needs the challenge and the TPM owner passphrase, erases
  the TOTP/HOTP secret (the next boot shows the TOTP failure) and writes the
  ROM.
- P Basic mode: refused under Restricted Boot; on/off written into the ROM
  (reboot); a Basic start-up runs no check, its default boot is the first
  entry of a /boot whose files changed, unverified, PCR 4 = "unsafe"; A
  makes it the OS boot menu; turned off, the normal start-up is back.
- h System time: a clock before the firmware's date (libfaketime) brings
  the "System Time Incorrect" prompt at start-up; dates are checked (no 30
  February, years 2024-2200) and the dry run says what it would set.
- r reset: (under Restricted Boot after the GPG challenge) the TPM reset
  with a new owner passphrase, every ROM file, the keyring, /boot/kexec*
  and the user settings removed; the next start is a clean boot.
- Options R root hashes, on an ext4 and a btrfs file system (mkfs -d /
  --rootdir, loop devices, mounted read-only by the menu): the signed
  kexec_root_hashes.txt equals sha256sum's lines computed here (symlinks,
  a symlink loop and kexec names left out); after a change, the check names
  the changed, new and missing files. Needs root (loop devices, mounts)."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import main, run  # noqa: E402
from test_menu import MenuTest  # noqa: E402

WITH_SWTPM = os.environ.get("WITH_SWTPM")
HEADS = os.environ.get("HEADS", "heads")


class Tmux:
    """heads menu with the newt UI on a real terminal (tmux): keys in, the
    screen out."""

    def __init__(self, test, argv):
        if not shutil.which("tmux"):
            test.skipTest("tmux not installed (make deps)")
        self.test = test
        self.sock = os.path.join(test.tmp, "tmux.sock")
        test.tmuxes.append(self)  # killed in tearDown, before the socket's dir goes
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "menu", "-x", "120", "-y", "40",
                  "env", "TERM=xterm-256color", "TMPDIR=" + test.tmp, *argv)
        self.tmux("set-option", "-t", "menu", "remain-on-exit", "on")

    def tmux(self, *a):
        return subprocess.run(["tmux", "-S", self.sock, *a], capture_output=True, text=True,
                              check=True).stdout

    def kill(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-S", "-200", "-t", "menu")

    def keys(self, *keys):
        for k in keys:
            self.tmux("send-keys", "-t", "menu", k)
            time.sleep(0.3)

    def wait_for(self, text, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            sc = self.screen()
            if text in sc:
                return sc
            time.sleep(0.2)
        self.test.fail("%r not on screen:\n%s" % (text, self.screen()))


class ConfigItems(MenuTest):
    def setUp(self):
        if not WITH_SWTPM:
            self.skipTest("needs the with-swtpm helper (run through meson test)")
        super().setUp()
        self.tmuxes = []
        self.rom = os.path.join(self.tmp, "rom.img")
        with open(self.rom, "wb") as f:
            f.truncate(1 << 20)  # blank ROM config area

    def tearDown(self):
        for t in self.tmuxes:
            t.kill()
        super().tearDown()

    def rom_user_config(self):
        root = os.path.join(self.tmp, "romroot-%d" % time.monotonic_ns())
        x = run("rom", "extract", "--device", self.rom, "--root", root)
        self.assertEqual(x.returncode, 0, x.stderr)
        p = os.path.join(root, "etc", "config.user")
        if not os.path.exists(p):
            return ""
        with open(p) as f:
            return f.read()

    def predict_pcr7(self):
        x = run("rom", "predict-pcr7", "--device", self.rom, "--base", "00" * 32,
                "--board", self.config)
        self.assertEqual(x.returncode, 0, x.stderr)
        return x.stdout.strip()

    def booted_config(self):
        """The configuration init gives the menu: the board's, then the
        ROM's etc/config.user."""
        with open(self.config) as f:
            return self.write("config.booted", f.read() + self.rom_user_config())

    def test_restricted_boot_toggle(self):
        self.own()
        pcr7_blank = self.predict_pcr7()

        # A wrong passphrase three times: nothing changes.
        r = self.menu(["o", "c", "L", "y", "x", "p"], ["wrong"] * 3,
                      extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("GPG challenge failed (attempt 3 of 3)", r.stderr)
        self.assertIn("GPG authentication failed: nothing was changed.", r.stdout)
        self.assertIn("Restricted Boot: disabled", r.stdout.split("GPG authentication")[1])
        self.assertEqual(self.rom_user_config(), "")

        # Enabled: the challenge passes, the setting goes into the ROM.
        r = self.menu(["o", "c", "L", "y", "y"], ["gpgpassphrase"], extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [warning] Enable Restricted Boot", r.stdout)
        self.assertIn("GPG challenge passed", r.stderr)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertIn('CONFIG_RESTRICTED_BOOT="y"', self.rom_user_config())
        # Measured: the ROM's config.user is in the next boot's PCR 7.
        self.assertNotEqual(self.predict_pcr7(), pcr7_blank)

        # The next boot: what it forbids is refused with the reason.
        cfg = self.booted_config()
        r = self.menu(["o", "b", "i", "o", "x", "o", "f", "f", "o", "c", "x", "p"], config=cfg,
                      extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Restricted Boot is enabled: unsafe boot is not allowed.", r.stdout)
        self.assertIn("Restricted Boot is enabled: the recovery shell is disabled.", r.stdout)
        self.assertIn("Flashing the firmware is disabled by Restricted Boot.", r.stdout)
        self.assertIn("Restricted Boot: ENABLED", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)
        self.assertNotIn("Entering the recovery shell", r.stdout)

        # Disabled: challenge, owner passphrase, TOTP erased, ROM written.
        r = self.menu(["o", "c", "L", "y"], ["gpgpassphrase", "ownerpass"], config=cfg,
                      extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [error] Disable Restricted Boot", r.stdout)
        self.assertIn("TOTP/HOTP secret erased", r.stderr)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertIn('CONFIG_RESTRICTED_BOOT="n"', self.rom_user_config())
        # The evidence: the next boot cannot compute a TOTP.
        r = self.menu(["i", "p"], config=self.booted_config())
        self.assertIn("ERROR: TOTP Generation Failed!", r.stdout)

    def test_restricted_boot_needs_a_key(self):
        self.write("boot/kexec_hashes.txt", "")
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        r = self.menu(["i", "o", "c", "L", "y", "x", "p"], config=cfg, tpm=False,
                      extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Enable Restricted Boot needs the owner's GPG key: the ROM keyring is "
                      "empty.", r.stdout)
        self.assertEqual(self.rom_user_config(), "")


    def test_basic_mode(self):
        self.own()
        # Refused under Restricted Boot, with the reason.
        with open(self.config) as f:
            rcfg = self.write("config.r", f.read() + "CONFIG_RESTRICTED_BOOT=y\n")
        r = self.menu(["o", "c", "P", "x", "p"], config=rcfg, extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Basic mode cannot be enabled while Restricted Boot is enabled", r.stdout)
        self.assertEqual(self.rom_user_config(), "")

        # Enabled: into the ROM, reboot.
        r = self.menu(["o", "c", "P", "y"], extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [error] Enable Basic mode", r.stdout)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertIn('CONFIG_BASIC="y"', self.rom_user_config())

        # A Basic start: no checks; a changed /boot boots unverified, the
        # first entry, after PCR 4 "unsafe".
        with open(os.path.join(self.boot, "vmlinuz-6.1"), "a") as f:
            f.write("changed in basic mode\n")
        cfg = self.booted_config()
        r = self.menu(["d"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Heads Boot Menu (Basic mode)", r.stdout)
        self.assertIn("TOTP: BASIC MODE", r.stdout)
        self.assertNotIn("TOTP Generation Failed", r.stdout)
        self.assertNotIn("Boot Hash Mismatch", r.stdout)
        self.assertIn("heads menu: boot (dry run): Debian GNU/Linux", r.stdout)
        self.assertIn("verified: NO (unsafe boot)", r.stdout)
        pcr4 = re.search(r"^pcr4-value: ([0-9a-f]{64})$", r.stdout, re.M).group(1)
        self.assertEqual(bytes.fromhex(pcr4), hashlib.sha256(
            b"\0" * 32 + hashlib.sha256(b"unsafe").digest()).digest())

        # Restricted Boot cannot be turned on in Basic mode.
        r = self.menu(["o", "c", "L", "x", "p"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Restricted Boot cannot be enabled in Basic mode", r.stdout)

        # A: the default boot is the OS boot menu.
        r = self.menu(["o", "c", "A", "x", "d", "2"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Basic mode: ENABLED (default boot: the OS boot menu)", r.stdout)
        self.assertIn("Basic mode: select your boot option", r.stdout)
        self.assertIn("heads menu: boot (dry run): Debian (recovery mode)", r.stdout)

        # Disabled: into the ROM; the next start is the normal one again,
        # which finds the /boot changed in Basic mode.
        r = self.menu(["o", "c", "P", "y"], config=cfg, extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [warning] Disable Basic mode", r.stdout)
        self.assertIn('CONFIG_BASIC="n"', self.rom_user_config())
        r = self.menu(["d", "m", "p"], config=self.booted_config())
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertNotIn("(Basic mode)", r.stdout)
        self.assertIn("ERROR: Boot Hash Mismatch", r.stdout)
        self.assertIn("vmlinuz-6.1", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)

    def test_reset_configuration(self):
        self.own()
        # The public key and a setting in the ROM, Restricted Boot on.
        pub = self.write("owner.pub.asc", subprocess.run(
            ["gpg", "--homedir", self.keyring, "--batch", "--armor", "--export"],
            capture_output=True, check=True).stdout, "wb")
        r = self.menu(["o", "g", "r", pub, "y"], extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        r = self.menu(["o", "c", "L", "y", "y"], ["gpgpassphrase"], extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        listing = run("rom", "list", "--device", self.rom)
        self.assertIn(".gnupg/pubring.kbx", listing.stdout)
        self.assertIn('CONFIG_RESTRICTED_BOOT="y"', self.rom_user_config())
        cfg = self.booted_config()

        # Declined: nothing changes.
        r = self.menu(["o", "c", "r", "n", "x", "p"], ["gpgpassphrase"], config=cfg,
                      extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [error] Reset Configuration?", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(self.boot, "kexec.sig")))
        self.assertIn(".gnupg/pubring.kbx", run("rom", "list", "--device", self.rom).stdout)

        r = self.menu(["o", "c", "r", "y"], ["gpgpassphrase", "newowner", "newowner"],
                      config=cfg, extra=("--rom", self.rom))
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("GPG challenge passed", r.stderr)
        self.assertIn("heads menu: reboot (dry run: not rebooting)", r.stdout)
        self.assertEqual([f for f in os.listdir(self.boot) if f.startswith("kexec")], [])
        self.assertTrue(os.path.exists(os.path.join(self.boot, "vmlinuz-6.1")))
        self.assertEqual(os.listdir(self.keyring), [])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "config.user")))
        listing = run("rom", "list", "--device", self.rom)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertNotIn(".gnupg", listing.stdout)
        self.assertNotIn("config.user", listing.stdout)
        # The TPM was reset: no TOTP secret, the new owner passphrase.
        t = subprocess.run([WITH_SWTPM, "--state", self.state, "--", HEADS, "totp", "show",
                            "--config", self.config], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(t.returncode, 0, t.stdout)
        # The next start: a clean boot.
        r = self.menu(["n"], config=self.booted_config())
        self.assertIn("Clean Boot Detected - Take Ownership?", r.stdout)

    def root_fs(self, kind):
        """A root file system image on a loop device (detached at cleanup);
        returns (device, image)."""
        src = os.path.join(self.tmp, "rootsrc-" + kind)
        files = {"bin/ls": "ls binary\n", "bin/sh": "shell\n",
                 "usr/lib/libc.so.6": "libc " * 1000, "usr/share/doc/a b.txt": "spaced\n",
                 "usr/sbin/kexec_tool": "excluded by name\n", "etc/passwd": "not hashed\n"}
        for rel, content in files.items():
            p = os.path.join(src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)
        os.symlink("usr/lib", os.path.join(src, "lib"))
        os.symlink("loop", os.path.join(src, "usr", "loop"))  # a symlink loop
        img = os.path.join(self.tmp, "root-%s.img" % kind)
        with open(img, "wb") as f:
            f.truncate(128 << 20)
        mk = (["mkfs.ext4", "-q", "-F", "-d", src, img] if kind == "ext4" else
              ["mkfs.btrfs", "-q", "-f", "--rootdir", src, img])
        subprocess.run(mk, check=True, capture_output=True)
        dev = subprocess.run(["losetup", "-f", "--show", img], check=True,
                             capture_output=True, text=True).stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", dev], capture_output=True)
        return dev

    def expected_lines(self, tree):
        out = []
        for rel in sorted(tree):
            out.append("%s  %s\n" % (hashlib.sha256(tree[rel].encode()).hexdigest(), rel))
        return "".join(out)

    def modify(self, dev, kind):
        mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(mnt, exist_ok=True)
        subprocess.run(["mount", dev, mnt], check=True, capture_output=True)
        try:
            with open(os.path.join(mnt, "bin/ls"), "a") as f:
                f.write("trojan\n")
            os.unlink(os.path.join(mnt, "bin/sh"))
            with open(os.path.join(mnt, "usr/lib/evil.so"), "w") as f:
                f.write("new\n")
        finally:
            subprocess.run(["umount", mnt], check=True, capture_output=True)

    def root_hashes(self, kind):
        if os.geteuid() != 0:
            self.skipTest("needs root (loop devices, mounts)")
        self.own()
        dev = self.root_fs(kind)
        with open(self.config) as f:
            cfg = self.write("config.root", f.read() + 'CONFIG_ROOT_DIRLIST="bin lib usr"\n')
        # Config R sets the device; no hashes yet.
        r = self.menu(["o", "c", "R", dev, "x", "o", "R", "c", "p"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("There are no signed root hashes in /boot yet", r.stdout)
        with open(cfg, "a") as f:
            f.write('CONFIG_ROOT_DEV="%s"\n' % dev)
        r = self.menu(["o", "R", "u", "p"], ["gpgpassphrase"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("(%s) mounted read-only" % kind, r.stderr)
        self.assertIn("/lib: a symbolic link (never followed): not hashed", r.stderr)
        with open(os.path.join(self.boot, "kexec_root_hashes.txt")) as f:
            self.assertEqual(f.read(), self.expected_lines({
                "bin/ls": "ls binary\n", "bin/sh": "shell\n",
                "usr/lib/libc.so.6": "libc " * 1000, "usr/share/doc/a b.txt": "spaced\n"}))
        v = run("boot", "verify", "--boot", self.boot, "--keyring", self.keyring,
                "--no-rollback", "--config", os.devnull)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertNotIn("heads-root", open("/proc/self/mountinfo").read())
        r = self.menu(["o", "R", "c", "p"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Every file of the root hashes matches.", r.stdout)
        # B: the default boot checks the root first; it matches: boots.
        r = self.menu(["o", "c", "B", "x", "d"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("Root check at boot: on", r.stdout)
        self.assertIn("root hashes: 4 checked, 0 changed, 0 new, 0 missing", r.stderr)
        self.assertIn("heads menu: boot (dry run): Debian GNU/Linux", r.stdout)
        # Changed, new, missing: named.
        self.modify(dev, kind)
        r = self.menu(["o", "R", "c", "p"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== textbox [error] ERROR: Root file system changed", r.stdout)
        self.assertIn("1 changed, 1 new, 1 missing:", r.stdout)
        self.assertIn("CHANGED  /bin/ls", r.stdout)
        self.assertIn("NEW      /usr/lib/evil.so", r.stdout)
        self.assertIn("MISSING  /bin/sh", r.stdout)
        # The default boot with the root check is refused.
        r = self.menu(["o", "c", "B", "x", "d", "p"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("ERROR: Root file system changed, boot refused", r.stdout)
        self.assertNotIn("boot (dry run)", r.stdout)

    def test_newt_root_hashes_screens(self):
        """On a terminal: Options R, the check's report naming the files."""
        if os.geteuid() != 0:
            self.skipTest("needs root (loop devices, mounts)")
        self.own()
        dev = self.root_fs("ext4")
        with open(self.config) as f:
            cfg = self.write("config.root", f.read() + 'CONFIG_ROOT_DIRLIST="bin usr"\n'
                             'CONFIG_ROOT_DEV="%s"\n' % dev)
        r = self.menu(["o", "R", "u", "p"], ["gpgpassphrase"], config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.modify(dev, "ext4")
        t = self.newt(cfg, prefix=(WITH_SWTPM, "--state", self.state, "--"))
        t.wait_for("Heads Boot Menu")
        t.keys("o", "Enter")
        t.wait_for("Heads Options")
        t.keys("R", "Enter")
        sc = t.wait_for("Root disk verification")
        self.assertIn("Root device: %s" % dev, sc)
        t.keys("c", "Enter")
        sc = t.wait_for("ERROR: Root file system changed")
        self.assertIn("1 changed, 1 new, 1 missing", sc)
        self.assertIn("CHANGED  /bin/ls", sc)

    def test_root_hashes_100k_files_bounded_memory(self):
        """100 000 files in 1000 directories: hashed, signed, checked; the
        menu's peak memory stays small (paths only, file contents streamed
        through the workers' buffers)."""
        if os.geteuid() != 0:
            self.skipTest("needs root (loop devices, mounts)")
        import resource
        self.own()
        src = os.path.join(self.tmp, "bigsrc")
        for d in range(1000):
            dd = os.path.join(src, "usr", "d%03d" % d)
            os.makedirs(dd)
            for i in range(100):
                with open(os.path.join(dd, "f%03d" % i), "w") as f:
                    f.write("%d/%d\n" % (d, i))
        with open(os.path.join(src, "usr", "big.bin"), "wb") as f:
            f.write(os.urandom(64 << 20))  # larger than any buffer
        img = os.path.join(self.tmp, "big.img")
        with open(img, "wb") as f:
            f.truncate(512 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-N", "110000", "-d", src, img], check=True,
                       capture_output=True)
        shutil.rmtree(src)
        dev = subprocess.run(["losetup", "-f", "--show", img], check=True,
                             capture_output=True, text=True).stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", dev], capture_output=True)
        with open(self.config) as f:
            cfg = self.write("config.root", f.read() + 'CONFIG_ROOT_DIRLIST="usr"\n'
                             'CONFIG_ROOT_DEV="%s"\n' % dev)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        r = self.menu(["o", "R", "u", "o", "R", "c", "p"], ["gpgpassphrase"], config=cfg)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("root hashes: 100001 files", r.stderr)
        self.assertIn("root hashes: 100001 checked, 0 changed, 0 new, 0 missing", r.stderr)
        self.assertIn("Every file of the root hashes matches.", r.stdout)
        with open(os.path.join(self.boot, "kexec_root_hashes.txt")) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 100001)
        self.assertIn("%s  usr/d123/f045" % hashlib.sha256(b"123/45\n").hexdigest(), lines)
        # ru_maxrss (KiB): the largest process waited for so far, heads
        # among them. An ASan build (quarantine, shadow memory) about
        # doubles it: 340 MiB measured there.
        asan = "libasan" in subprocess.run(["ldd", HEADS], capture_output=True,
                                           text=True).stdout
        limit = (512 if asan else 256) * 1024
        self.assertLess(peak, limit, "peak RSS %d KiB (before: %d)" % (peak, before))

    def test_root_hashes_ext4(self):
        self.root_hashes("ext4")

    def test_root_hashes_btrfs(self):
        self.root_hashes("btrfs")

    def menu_at(self, when, answers, config):
        """heads menu (no TPM) with the clock at `when` (libfaketime)."""
        if not shutil.which("faketime"):
            self.skipTest("faketime not installed (make deps)")
        script = self.write("script", "".join(a + "\n" for a in answers))
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
                   ":verify_asan_link_order=0")
        env.pop("HEADS_UI", None)
        return subprocess.run(
            ["faketime", when, HEADS, "menu", "--ui", "script", "--ui-script", script,
             "--boot", self.boot, "--keyring", self.keyring, "--config", config,
             "--secret-dir", self.secret, "--user-config",
             os.path.join(self.tmp, "config.user"), "--no-act"],
            capture_output=True, text=True, env=env, timeout=120)

    def test_system_time(self):
        self.write("boot/kexec_hashes.txt", "")
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        r = self.menu_at("2020-01-02 03:04:05",
                         ["y", "2031-02-30 10:00:00", "2023-05-05 00:00:00", "2027-3-4 5:6:7",
                          "i", "p"], cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("=== yesno [warning] System Time Incorrect", r.stdout)
        self.assertIn("The system time, 2020-01-02 03:04:0", r.stdout)
        self.assertIn("there is no such date or time", r.stdout)
        self.assertIn("the year must be between 2024 and 2200", r.stdout)
        self.assertIn("'2027-3-4 5:6:7' refused: the format is YYYY-MM-DD HH:MM:SS",
                      r.stdout)
        # Three tries used up: back to the start-up, which goes on.
        self.assertNotIn("set time (dry run)", r.stdout)
        self.assertIn("ERROR: GPG keyring empty!", r.stdout)
        # A good date (the prompt answered again at the next start), and
        # Options h on a correct clock.
        r = self.menu_at("2020-01-02 03:04:05", ["y", "2027-03-04 05:06:07", "i", "p"], cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertIn("heads menu: set time (dry run): 2027-03-04 05:06:07 UTC", r.stdout)
        self.assertIn("The system time is now 2027-03-04 05:06:07 UTC.", r.stdout)
        r = self.menu_at("2027-06-01 12:00:00", ["i", "o", "h", "2028-02-29 23:59:59", "p"], cfg)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
        self.assertNotIn("System Time Incorrect", r.stdout)
        self.assertIn("heads menu: set time (dry run): 2028-02-29 23:59:59 UTC", r.stdout)

    def newt_config_menu(self, config):
        """The newt menu with config (no TPM, an empty keyring: its
        warning ignored) taken to Options -> c; returns (tmux, screen)."""
        t = self.newt(config)
        t.wait_for("GPG keyring empty")
        t.keys("i", "Enter")
        t.wait_for("Heads Boot Menu")
        t.keys("o", "Enter")
        t.wait_for("Heads Options")
        t.keys("c", "Enter")
        return t, t.wait_for("Config Management Menu")

    def newt(self, config, extra=(), prefix=()):
        return Tmux(self, [*prefix, HEADS, "menu", "--ui", "newt", "--boot", self.boot, "--keyring",
                           self.keyring, "--config", config, "--secret-dir", self.secret,
                           "--user-config", os.path.join(self.tmp, "config.user"),
                           "--no-act", "--eventlog", os.path.join(self.tmp, "absent"),
                           "--rom", self.rom, *extra])

    def test_newt_restricted_boot_screens(self):
        """On a terminal: the configuration menu says Restricted Boot is on
        and the forced boot is refused in an error box naming it."""
        self.write("boot/kexec_hashes.txt", "")
        cfg = self.write("config.notpm", "CONFIG_TPM=n\nCONFIG_RESTRICTED_BOOT=y\n")
        t, sc = self.newt_config_menu(cfg)
        self.assertIn("Restricted Boot: ENABLED", sc)
        self.assertIn("Enable/Disable Restricted Boot", sc)
        t.keys("x", "Enter")
        t.wait_for("Heads Boot Menu")
        t.keys("o", "Enter")
        t.wait_for("Heads Options")
        t.keys("b", "Enter")
        t.wait_for("Boot Options")
        t.keys("i", "Enter")
        sc = t.wait_for("unsafe boot is not allowed")
        self.assertIn("ERROR: Restricted Boot", sc)


    def test_newt_basic_mode_screens(self):
        """On a terminal: the Basic main menu, and d boots the first entry
        of an unsigned /boot."""
        cfg = self.write("config.basic", "CONFIG_TPM=n\nCONFIG_BASIC=y\n")
        t = self.newt(cfg)
        sc = t.wait_for("Heads Boot Menu (Basic mode)")
        self.assertIn("Basic mode: no verification, no TOTP/HOTP", sc)
        self.assertIn("TOTP: BASIC MODE", sc)
        t.keys("d", "Enter")
        sc = t.wait_for("heads menu: boot (dry run): Debian GNU/Linux")
        self.assertIn("verified: NO (unsafe boot)", sc)


    def test_newt_time_prompt(self):
        """On a terminal: the start-up prompt of a wrong clock, then the
        date entry."""
        if not shutil.which("faketime"):
            self.skipTest("faketime not installed (make deps)")
        self.write("boot/kexec_hashes.txt", "")
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        t = self.newt(cfg, prefix=("ASAN_OPTIONS=verify_asan_link_order=0", "faketime",
                                   "2020-01-02 03:04:05"))
        sc = t.wait_for("System Time Incorrect")
        self.assertIn("The system time, 2020-01-02 03:04:", sc)  # the clock runs on
        t.keys("Enter")  # Yes
        t.wait_for("YYYY-MM-DD HH:MM:SS")
        t.keys("BSpace", *["BSpace"] * 19, "2027-03-04 05:06:07", "Enter")
        t.wait_for("The system time is now 2027-03-04 05:06:07 UTC.")


    def test_newt_reset_screens(self):
        """On a terminal: Config r asks, resets, says so and reboots."""
        self.write("boot/kexec_hashes.txt", "")
        self.write("config.user", 'export CONFIG_BOOT_DEV="/dev/vda1"\n')
        cfg = self.write("config.notpm", "CONFIG_TPM=n\n")
        t, sc = self.newt_config_menu(cfg)
        self.assertIn("Clear GPG keys and reset all user settings", sc)
        t.keys("r", "Enter")
        sc = t.wait_for("Reset Configuration?")
        self.assertIn("resets the TPM", sc)
        t.keys("Enter")  # Yes
        t.wait_for("The configuration was reset. The machine reboots now.")
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec_hashes.txt")))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "config.user")))


if __name__ == "__main__":
    main()
