"""heads boot sign|verify|report: tamper matrix and compatibility with
sha256sum -c / gpg --verify / BusyBox find|sort -z (the shell version)."""
import hashlib
import os
import atexit
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import main, run  # noqa: E402

NO_TPM = {"HEADS_TCTI": ""}  # no TPM: rollback not used


def gpg(home, *args, input=None, check=True):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", *args],
                          input=input, capture_output=True, check=check)


def genkey(home, uid, passphrase=""):
    os.makedirs(home, mode=0o700, exist_ok=True)
    gpg(home, "--pinentry-mode", "loopback", "--passphrase", passphrase,
        "--quick-gen-key", uid, "ed25519", "sign", "never")
    out = gpg(home, "--with-colons", "--list-secret-keys").stdout.decode()
    return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")][0]


class Keys:
    """Throwaway keys shared by every test of this file."""
    root = None

    @classmethod
    def setup(cls):
        # A meson timeout sends SIGTERM: still stop our gpg-agents.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        atexit.register(cls.teardown)
        cls.root = tempfile.mkdtemp(prefix="heads-test-boot-keys-")
        cls.signer = os.path.join(cls.root, "signer")
        cls.fpr = genkey(cls.signer, "Boot Signer <signer@example.org>")
        cls.other = os.path.join(cls.root, "other")
        cls.other_fpr = genkey(cls.other, "Intruder <intruder@example.org>")
        cls.pinned = os.path.join(cls.root, "pinned")
        cls.pinned_fpr = genkey(cls.pinned, "PIN Key <pin@example.org>", "123456")
        # The ROM keyring: only the trusted public keys (signer + pinned).
        cls.keyring = os.path.join(cls.root, "keyring")
        os.makedirs(cls.keyring, mode=0o700)
        for home in (cls.signer, cls.pinned):
            pub = gpg(home, "--export", "--armor").stdout
            gpg(cls.keyring, "--import", input=pub)

    @classmethod
    def teardown(cls):
        if not cls.root or not os.path.isdir(cls.root):
            return
        for h in ("signer", "other", "pinned", "keyring"):
            subprocess.run(["gpgconf", "--homedir", os.path.join(cls.root, h), "--kill", "all"],
                           capture_output=True)
        shutil.rmtree(cls.root, ignore_errors=True)


def setUpModule():
    Keys.setup()


def tearDownModule():
    Keys.teardown()


def write(path, data, mode="wb"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def populate(boot):
    """A small /boot shaped like a Debian one."""
    os.makedirs(boot)
    rnd = hashlib.sha256(boot.encode()).digest()
    p = lambda rel: os.path.join(boot, rel)  # noqa: E731
    write(p("vmlinuz-6.1.0-amd64"), rnd * 4000)
    write(p("initrd.img-6.1.0-amd64"), rnd[::-1] * 9000)
    write(p("xen-4.17.gz"), b"xen" * 1000)
    write(p("grub/grub.cfg"), b"menuentry 'Debian' { linux /vmlinuz-6.1.0-amd64 }\n")
    write(p("grub/fonts/unicode.pf2"), b"font")
    os.makedirs(p("efi"))
    write(p("config-6.1.0-amd64"), b"CONFIG_X=y\n")


class BootTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-boot-")
        self.tmp = self._tmp.name
        self.boot = os.path.join(self.tmp, "boot")
        populate(self.boot)

    def tearDown(self):
        self._tmp.cleanup()

    def p(self, rel):
        return os.path.join(self.boot, rel)

    def sign(self, *extra, home=None, expect=0, **kw):
        r = run("boot", "sign", "--boot", self.boot, "--gnupghome", home or Keys.signer,
                "--no-rollback", *extra, env=NO_TPM, **kw)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def verify(self, expect=0, *extra):
        r = run("boot", "verify", "--boot", self.boot, "--keyring", Keys.keyring, *extra,
                env=NO_TPM)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def report(self):
        return run("boot", "report", "--boot", self.boot, "--keyring", Keys.keyring, env=NO_TPM)

    def snapshot(self):
        out = {}
        for d, _, files in os.walk(self.boot):
            for f in files:
                path = os.path.join(d, f)
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, self.boot)] = fh.read()
        return out

    def refused(self, *messages):
        r = self.verify(1)
        for m in messages:
            self.assertIn(m, r.stderr)
        self.assertIn("FAILED integrity verification", r.stderr)
        return r

    def gpg_sign_listing(self, home, listing):
        """Sign a listing the way the shell version does (gpg --detach-sign -a)."""
        r = gpg(home, "--pinentry-mode", "loopback", "--passphrase", "",
                "--digest-algo", "SHA256", "--detach-sign", "-a", input=listing)
        write(self.p("kexec.sig"), r.stdout)

    def listing(self, prefix=""):
        names = sorted(n.encode() for n in os.listdir(self.boot)
                       if n.startswith("kexec") and n.endswith(".txt"))
        out = b""
        for n in names:
            with open(os.path.join(self.boot.encode(), n), "rb") as f:
                out += hashlib.sha256(f.read()).hexdigest().encode() + b"  " + prefix.encode() + n + b"\n"
        return out


class SignVerify(BootTest):
    def test_default_entry_signed_with_boot(self):
        """--default N: the default entry files are written by this signing
        (so they are signed); a new default replaces the old one."""
        with open(self.p("grub/grub.cfg"), "a") as f:
            f.write("menuentry 'Debian (rescue)' { linux /vmlinuz-6.1.0-amd64 single }\n")
        r = self.sign("--default", "1")
        self.assertIn("default entry 1: Debian\n", r.stdout)
        with open(self.p("kexec_default.1.txt")) as f:
            self.assertEqual(f.read(), "Debian|elf|kernel /vmlinuz-6.1.0-amd64\n")
        with open(self.p("kexec_default_hashes.txt")) as f:
            self.assertRegex(f.read(), r"^[0-9a-f]{64}  \./vmlinuz-6\.1\.0-amd64\n$")
        self.verify()
        r = self.sign("--default", "2", "--keep", "--keyring", Keys.keyring)
        self.assertFalse(os.path.exists(self.p("kexec_default.1.txt")))
        with open(self.p("kexec_default.2.txt")) as f:
            self.assertIn("Debian (rescue)|elf|", f.read())
        self.verify()
        r = self.sign("--default", "9", expect=1)
        self.assertIn("no entry 9", r.stderr)

    def test_sign_then_verify_ok(self):
        r = self.sign()
        self.assertIn("signed %s: 6 files" % self.boot, r.stdout)
        self.assertIn(Keys.fpr, r.stdout)
        r = self.verify(0)
        self.assertIn("/boot OK: signature VERIFIED", r.stdout)
        rep = self.report()
        self.assertEqual(rep.returncode, 0, rep.stderr)
        self.assertIn("signature: VERIFIED (key %s" % Keys.fpr, rep.stdout)
        self.assertIn("files: OK (6 checked)", rep.stdout)
        self.assertIn("counter: NOT USED", rep.stdout)
        self.assertIn("result: OK", rep.stdout)

    def test_resign_after_update(self):
        self.sign()
        write(self.p("vmlinuz-6.2"), b"new kernel")
        self.refused("new: ./vmlinuz-6.2")
        self.sign()
        self.verify(0)

    def test_verify_runs_gpg_once_plus_version(self):
        """The signature check costs one `gpg --verify` and GPGME's one
        `gpg --version` (issue 15, performance): the private home goes to
        gpg through GNUPGHOME in the check's child, not the context's engine
        info (which makes GPGME ask gpg for its version a second time)."""
        self.sign()
        bindir = os.path.join(self.tmp, "bin")
        log = os.path.join(self.tmp, "gpg.log")
        os.makedirs(bindir)
        real = shutil.which("gpg")
        with open(os.path.join(bindir, "gpg"), "w") as f:
            f.write("#!/bin/sh\nprintf '%%s|%%s\\n' \"${GNUPGHOME:-}\" \"$*\" >> %s\n"
                    "exec %s \"$@\"\n" % (log, real))
        os.chmod(os.path.join(bindir, "gpg"), 0o755)
        r = run("boot", "verify", "--boot", self.boot, "--keyring", Keys.keyring,
                env=dict(NO_TPM, PATH=bindir + ":" + os.environ["PATH"]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(log) as f:
            calls = f.read().splitlines()
        self.assertEqual(len(calls), 2, calls)
        self.assertTrue(calls[0].endswith("|--version"), calls)
        home, argv = calls[1].split("|", 1)
        self.assertIn("--verify", argv)
        self.assertNotIn("--homedir", argv)
        self.assertRegex(home, r"/heads-gpg-[A-Za-z0-9]{6}$")
        self.assertFalse(os.path.exists(home), "the private home is removed")

    def test_keyring_not_modified(self):
        before = {f: os.stat(os.path.join(Keys.keyring, f)).st_mtime_ns
                  for f in os.listdir(Keys.keyring)}
        self.sign()
        self.verify(0)
        after = {f: os.stat(os.path.join(Keys.keyring, f)).st_mtime_ns
                 for f in os.listdir(Keys.keyring)}
        self.assertEqual(before, after)

    def test_package_trigger_files_not_signed_and_removed(self):
        write(self.p("kexec_package_trigger_pre.txt"), b"CHANGED_FILES=x\n")
        self.sign()
        self.assertFalse(os.path.exists(self.p("kexec_package_trigger_pre.txt")))
        self.verify(0)

    def test_pin_from_fd(self):
        rfd, wfd = os.pipe()
        os.write(wfd, b"123456\n")
        os.close(wfd)
        try:
            r = self.sign("--pin-fd", str(rfd), home=Keys.pinned, pass_fds=(rfd,))
        finally:
            os.close(rfd)
        self.assertIn(Keys.pinned_fpr, r.stdout)
        self.verify(0)

    def test_wrong_pin_leaves_boot_untouched(self):
        self.sign()
        before = self.snapshot()
        write(self.p("vmlinuz-6.1.0-amd64"), b"changed")
        before["vmlinuz-6.1.0-amd64"] = b"changed"
        # gpg-agent caches a good PIN: start from a fresh agent.
        subprocess.run(["gpgconf", "--homedir", Keys.pinned, "--kill", "gpg-agent"],
                       capture_output=True)
        rfd, wfd = os.pipe()
        os.write(wfd, b"000000\n")
        os.close(wfd)
        try:
            r = self.sign("--pin-fd", str(rfd), home=Keys.pinned, pass_fds=(rfd,), expect=1)
        finally:
            os.close(rfd)
        self.assertIn("bad PIN or passphrase", r.stderr)
        self.assertEqual(self.snapshot(), before)  # nothing written, old signature kept
        self.refused("changed: ./vmlinuz-6.1.0-amd64")

    def test_pin_from_terminal_prompt(self):
        """No --pin-fd: the PIN is asked on the controlling terminal, no echo."""
        import pty
        import select
        subprocess.run(["gpgconf", "--homedir", Keys.pinned, "--kill", "gpg-agent"],
                       capture_output=True)
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["HEADS_TCTI"] = ""
            os.execv(os.environ["HEADS"], ["heads", "boot", "sign", "--boot", self.boot,
                                           "--gnupghome", Keys.pinned, "--no-rollback"])
        out = b""
        sent = False
        status = None
        deadline = time.time() + 60
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if not r:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                    break
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not sent and b"GPG signing PIN" in out:
                os.write(fd, b"123456\n")
                sent = True
        if status is None:
            _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertTrue(sent, out)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        self.assertNotIn(b"123456", out)  # not echoed
        self.assertIn(Keys.pinned_fpr.encode(), out)
        self.verify(0)

    def test_too_deep_tree(self):
        deep = self.boot
        for _ in range(70):
            deep = os.path.join(deep, "d")
        os.makedirs(deep)
        r = self.verify(1)
        self.assertIn("boot directory tree is deeper than 64 levels", r.stderr)
        r = self.sign(expect=1)
        self.assertIn("deeper than 64 levels", r.stderr)

    def test_choose_key(self):
        r = self.sign("--key", Keys.fpr)
        self.assertIn(Keys.fpr, r.stdout)
        r = self.sign("--key", "nobody@example.org", expect=1)
        self.assertIn("no usable signing key", r.stderr)

    def test_usage(self):
        r = run("boot", "verify", "--boot", self.boot)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--keyring DIR is required", r.stderr)
        r = run("boot", "sign")
        self.assertEqual(r.returncode, 2)
        r = run("boot", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("heads boot sign", r.stdout)

    def test_ignore_rollback_config(self):
        cfg = os.path.join(self.tmp, "config")
        write(cfg, b'export CONFIG_IGNORE_ROLLBACK="y"\n')
        # A TPM that does not exist is never opened when rollback is off.
        r = run("boot", "sign", "--boot", self.boot, "--gnupghome", Keys.signer,
                "--config", cfg, "--tcti", "swtpm:host=127.0.0.1,port=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("counter DISABLED", r.stdout)
        r = run("boot", "verify", "--boot", self.boot, "--keyring", Keys.keyring,
                "--config", cfg, "--tcti", "swtpm:host=127.0.0.1,port=1")
        self.assertEqual(r.returncode, 0, r.stderr)


class TamperMatrix(BootTest):
    """Each tampering is refused (exit 1) with its own message. One /boot is
    signed and verified once; every test tampers with its own copy."""

    @classmethod
    def setUpClass(cls):
        cls._template = tempfile.TemporaryDirectory(prefix="heads-test-boot-signed-")
        cls.template = os.path.join(cls._template.name, "boot")
        populate(cls.template)
        for sub in ("sign", "verify"):
            args = (["--gnupghome", Keys.signer] if sub == "sign" else ["--keyring", Keys.keyring])
            r = run("boot", sub, "--boot", cls.template, "--no-rollback", *args, env=NO_TPM)
            if r.returncode != 0:
                raise RuntimeError(r.stdout + r.stderr)

    @classmethod
    def tearDownClass(cls):
        cls._template.cleanup()

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-boot-")
        self.tmp = self._tmp.name
        self.boot = os.path.join(self.tmp, "boot")
        shutil.copytree(self.template, self.boot, symlinks=True)

    # --- files --------------------------------------------------------
    def test_01_modify_file(self):
        with open(self.p("initrd.img-6.1.0-amd64"), "r+b") as f:
            f.seek(1000)
            f.write(b"X")
        self.refused("changed: ./initrd.img-6.1.0-amd64")

    def test_02_add_file(self):
        write(self.p("grub/evil.mod"), b"x")
        self.refused("new: ./grub/evil.mod")

    def test_03_remove_file(self):
        os.unlink(self.p("xen-4.17.gz"))
        self.refused("missing: ./xen-4.17.gz")

    def test_04_rename_file(self):
        os.rename(self.p("vmlinuz-6.1.0-amd64"), self.p("vmlinuz-old"))
        self.refused("missing: ./vmlinuz-6.1.0-amd64", "new: ./vmlinuz-old")

    def test_05_add_empty_directory(self):
        os.makedirs(self.p("grub/x86_64-efi"))
        self.refused("new: ./grub/x86_64-efi")

    def test_06_remove_empty_directory(self):
        os.rmdir(self.p("efi"))
        self.refused("missing: ./efi")

    def test_07_swap_file_for_symlink(self):
        # Same content behind the symlink: sha256sum -c is fooled, we are not.
        os.rename(self.p("vmlinuz-6.1.0-amd64"), self.p("../vm"))
        os.symlink("../vm", self.p("vmlinuz-6.1.0-amd64"))
        sc = subprocess.run(["sha256sum", "-c", "kexec_hashes.txt"], cwd=self.boot,
                            capture_output=True)
        self.assertEqual(sc.returncode, 0)
        self.refused("not a regular file: ./vmlinuz-6.1.0-amd64")

    def test_08_swap_directory_for_symlink(self):
        shutil.copytree(self.p("grub"), os.path.join(self.tmp, "grub2"))
        shutil.rmtree(self.p("grub"))
        os.symlink("../grub2", self.p("grub"))
        self.refused("missing: ./grub/grub.cfg", "missing: ./grub/fonts")

    def test_09_swap_contents_of_two_files(self):
        a, b = self.p("vmlinuz-6.1.0-amd64"), self.p("xen-4.17.gz")
        os.rename(a, a + ".t")
        os.rename(b, a)
        os.rename(a + ".t", b)
        self.refused("changed: ./vmlinuz-6.1.0-amd64", "changed: ./xen-4.17.gz")

    def test_10_control_character_name(self):
        write(self.p("grub/evil\nname"), b"x")
        self.refused("new: ./grub/evil\\x0aname")
        r = self.sign(expect=1)
        self.assertIn("./grub/evil\\x0aname: name has a control byte", r.stderr)

    def test_11_backslash_and_high_byte_names_refused_for_signing(self):
        write(self.p("a\\b"), b"x")
        write(os.path.join(self.boot.encode(), b"caf\xe9"), b"x")
        r = self.sign(expect=1)
        self.assertIn("./a\\x5cb: name has a control byte", r.stderr)
        self.assertIn("./caf\\xe9: name has a control byte", r.stderr)
        self.assertIn("2 unsignable names", r.stderr)
        self.refused("new: ./a\\x5cb", "new: ./caf\\xe9")

    # --- the signed kexec*.txt ----------------------------------------
    def test_12_edit_hashes(self):
        with open(self.p("kexec_hashes.txt"), "ab") as f:
            f.write(b"0" * 64 + b"  ./extra\n")
        self.refused("signature: BAD")

    def test_13_edit_tree(self):
        with open(self.p("kexec_tree.txt"), "ab") as f:
            f.write(b"./extra\0")
        self.refused("signature: BAD")

    def test_14_remove_tree(self):
        os.unlink(self.p("kexec_tree.txt"))
        self.refused("signature: BAD", "manifest: kexec_tree.txt is missing")

    def test_15_add_unsigned_kexec_file(self):
        write(self.p("kexec_default.1.txt"), b"Debian|elf|kernel /vmlinuz\n")
        self.refused("signature: BAD")

    def test_16_edit_hashes_consistently_resigned_by_intruder(self):
        write(self.p("evil"), b"x")
        self.sign(home=Keys.other)
        r = self.refused("signature: UNKNOWN KEY (key %s" % Keys.other_fpr)
        self.assertNotIn("new: ./evil", r.stderr)  # the manifest itself is consistent

    # --- kexec.sig ----------------------------------------------------
    def test_17_remove_signature(self):
        os.unlink(self.p("kexec.sig"))
        self.refused("signature: MISSING: kexec.sig is missing")

    def test_18_truncate_signature(self):
        with open(self.p("kexec.sig"), "rb") as f:
            sig = f.read()
        write(self.p("kexec.sig"), sig[: len(sig) // 2])
        self.refused("signature: MALFORMED")

    def test_19_empty_signature(self):
        write(self.p("kexec.sig"), b"")
        self.refused("signature: MALFORMED")

    def test_20_replace_signature_with_other_good_signature(self):
        # A genuine signature by the trusted key, but over other content.
        self.gpg_sign_listing(Keys.signer, b"something else\n")
        self.refused("signature: BAD")

    def test_21_signature_symlink(self):
        os.rename(self.p("kexec.sig"), os.path.join(self.tmp, "sig"))
        os.symlink("../sig", self.p("kexec.sig"))
        self.refused("signature: MALFORMED: kexec.sig cannot be opened: it is a symlink")

    def test_22_kexec_txt_symlink(self):
        os.rename(self.p("kexec_tree.txt"), os.path.join(self.tmp, "t"))
        os.symlink("../t", self.p("kexec_tree.txt"))
        # Named, and not part of the listing: the signature no longer matches.
        self.refused("kexec*.txt not a regular file: ./kexec_tree.txt (a symlink)",
                     "signature: BAD")

    # --- whole /boot --------------------------------------------------
    def test_23_empty_boot(self):
        shutil.rmtree(self.boot)
        os.makedirs(self.boot)
        self.refused("signature: MISSING", "manifest: kexec_hashes.txt is missing")

    def test_24_malformed_manifest_even_if_signed(self):
        write(self.p("kexec_hashes.txt"), b"not a hash line\n")
        self.gpg_sign_listing(Keys.signer, self.listing())
        r = self.refused("manifest: kexec_hashes.txt:1: malformed line")
        self.assertNotIn("signature:", r.stderr)

    def test_25_default_hashes(self):
        with open(self.p("vmlinuz-6.1.0-amd64"), "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()
        write(self.p("kexec_default_hashes.txt"), ("%s  ./vmlinuz-6.1.0-amd64\n" % h).encode())
        # Signed as the shell version does (`heads boot sign` never signs a
        # kexec*.txt it did not write or find signed).
        self.gpg_sign_listing(Keys.signer, self.listing())
        self.verify(0)
        self.sign()  # carried over: it is covered by the verified signature
        self.verify(0)
        write(self.p("vmlinuz-6.1.0-amd64"), b"evil")
        self.refused("default boot file changed: ./vmlinuz-6.1.0-amd64",
                     "changed: ./vmlinuz-6.1.0-amd64")

    def test_26_report_lists_everything(self):
        write(self.p("vmlinuz-6.1.0-amd64"), b"evil")
        os.unlink(self.p("xen-4.17.gz"))
        write(self.p("new"), b"x")
        r = self.report()
        self.assertEqual(r.returncode, 1)
        self.assertIn("signature: VERIFIED", r.stdout)
        self.assertIn("files: ALTERED (1 changed, 1 missing, 1 new, 0 not regular, 0 unreadable)",
                      r.stdout)
        self.assertIn("  changed: ./vmlinuz-6.1.0-amd64", r.stdout)
        self.assertIn("  missing: ./xen-4.17.gz", r.stdout)
        self.assertIn("  new: ./new", r.stdout)
        self.assertIn("result: FAILED", r.stdout)

    def test_27_rollback_file_without_tpm(self):
        # A /boot bound to a TPM counter cannot be accepted without a TPM.
        write(self.p("kexec_rollback.txt"),
              b"0" * 64 + b"  /tmp/counter-1a2b3c4\n")
        self.gpg_sign_listing(Keys.signer, self.listing())
        self.refused("counter: NO TPM")
        # ... unless rollback is explicitly disabled.
        self.verify(0, "--no-rollback")


class ReadOnlyMount(BootTest):
    """/boot mounted read-only: remounted rw only to write, then ro again."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root to mount")
        self.mounted = False
        self.mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "heads-test-boot",
                            self.mnt], capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount tmpfs: %s" % r.stderr.decode())
        self.mounted = True
        for name in os.listdir(self.boot):
            src = os.path.join(self.boot, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(self.mnt, name))
        self.boot = self.mnt
        subprocess.run(["mount", "-o", "remount,ro", self.mnt], check=True)

    def tearDown(self):
        if getattr(self, "mounted", False):
            subprocess.run(["umount", self.mnt], capture_output=True)
        super().tearDown()

    def options(self):
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[4] == self.mnt:
                    return fields[5].split(",")
        self.fail("mount point not found")

    def test_sign_remounts_and_restores_ro(self):
        self.assertIn("ro", self.options())
        r = self.sign()
        self.assertIn("remounted %s read-write" % self.mnt, r.stderr)
        self.assertIn("remounted %s read-only" % self.mnt, r.stderr)
        self.assertIn("ro", self.options())
        self.verify(0)

    def test_subdirectory_of_ro_mount_is_not_remounted(self):
        subprocess.run(["mount", "-o", "remount,rw", self.mnt], check=True)
        os.makedirs(os.path.join(self.mnt, "sub"))
        write(os.path.join(self.mnt, "sub", "f"), b"x")
        subprocess.run(["mount", "-o", "remount,ro", self.mnt], check=True)
        self.boot = os.path.join(self.mnt, "sub")
        r = self.sign(expect=1)
        self.assertIn("is read-only and is not itself a mount point", r.stderr)
        self.assertIn("ro", self.options())


class Issue15(BootTest):
    """The trust chain holes of issue 15 (each test fails on the code before)."""

    def pin_fd_sign(self, pin, expect, *extra):
        rfd, wfd = os.pipe()
        os.write(wfd, pin + b"\n")
        os.close(wfd)
        try:
            return self.sign("--pin-fd", str(rfd), *extra, home=Keys.pinned, pass_fds=(rfd,),
                             expect=expect)
        finally:
            os.close(rfd)

    # --- item 1: the exclusion -----------------------------------------
    def test_kexec_named_directory_is_not_excluded(self):
        self.sign()
        write(self.p("kexec_x/grub.cfg"), b"menuentry 'Evil' { linux /kexec_x/vmlinuz }\n")
        write(self.p("kexec_x/vmlinuz"), b"evil kernel")
        r = self.refused("new: ./kexec_x/grub.cfg", "new: ./kexec_x/vmlinuz")
        self.assertNotIn("signature:", r.stderr)
        # Once signed it is hashed like any file.
        self.sign()
        self.verify(0)
        with open(self.p("kexec_hashes.txt")) as f:
            self.assertIn("  ./kexec_x/grub.cfg\n", f.read())
        write(self.p("kexec_x/grub.cfg"), b"changed")
        self.refused("changed: ./kexec_x/grub.cfg")

    def test_non_regular_kexec_names_are_scanned(self):
        self.sign()
        os.symlink("kexec_hashes.txt", self.p("kexec_evil.txt"))
        os.mkfifo(self.p("kexec_fifo"))
        self.refused("kexec*.txt not a regular file: ./kexec_evil.txt (a symlink)",
                     "new: ./kexec_evil.txt", "new: ./kexec_fifo")

    def test_hotp_counter_not_hashed(self):
        self.sign()
        write(self.p("kexec_hotp_counter"), b"3\n")
        self.verify(0)

    # --- item 3: symlinks -------------------------------------------------
    def link_boot(self):
        os.symlink("vmlinuz-6.1.0-amd64", self.p("vmlinuz"))
        os.symlink("../vmlinuz-6.1.0-amd64", self.p("grub/vmlinuz"))
        self.sign()
        with open(self.p("kexec_links.txt"), "rb") as f:
            self.assertEqual(f.read(), b"./grub/vmlinuz\0../vmlinuz-6.1.0-amd64\0"
                                       b"./vmlinuz\0vmlinuz-6.1.0-amd64\0")
        self.verify(0)

    def test_links_file_empty_when_no_link(self):
        self.sign()
        self.assertEqual(os.path.getsize(self.p("kexec_links.txt")), 0)
        os.symlink("xen-4.17.gz", self.p("xen.gz"))
        self.refused("new: ./xen.gz (symlink -> xen-4.17.gz is not in kexec_links.txt)")

    def test_retargeted_link(self):
        self.link_boot()
        os.unlink(self.p("vmlinuz"))
        os.symlink("xen-4.17.gz", self.p("vmlinuz"))
        self.refused("changed: ./vmlinuz (symlink was -> vmlinuz-6.1.0-amd64, "
                     "now -> xen-4.17.gz)")

    def test_link_replaced_by_file(self):
        self.link_boot()
        with open(self.p("vmlinuz-6.1.0-amd64"), "rb") as f:
            data = f.read()
        os.unlink(self.p("vmlinuz"))
        write(self.p("vmlinuz"), data)  # same bytes as the old target
        self.refused("not a regular file: ./vmlinuz (was a symlink -> vmlinuz-6.1.0-amd64, "
                     "now a regular file)")

    def test_link_removed_and_added(self):
        self.link_boot()
        os.unlink(self.p("grub/vmlinuz"))
        os.symlink("/etc/passwd", self.p("grub/evil"))
        self.refused("missing: ./grub/vmlinuz", "new: ./grub/evil")

    def test_shell_signed_links_are_unbound(self):
        os.symlink("vmlinuz-6.1.0-amd64", self.p("vmlinuz"))
        Compatibility.make_reference_boot(self)
        r = self.verify(0)
        self.assertIn("unbound symlink: ./vmlinuz", r.stderr)
        self.assertIn("unbound symlink: ./vmlinuz", self.report().stdout)

    # --- item 4: signing never launders -----------------------------------
    def test_keep_refuses_tampered_boot(self):
        self.sign()
        with open(self.p("kexec.sig"), "rb") as f:
            sig = f.read()
        write(self.p("vmlinuz-6.1.0-amd64"), b"tampered")
        r = self.sign("--keep", "--keyring", Keys.keyring, expect=1)
        self.assertIn("refusing to sign", r.stderr)
        self.assertIn("changed: ./vmlinuz-6.1.0-amd64", r.stderr)
        with open(self.p("kexec.sig"), "rb") as f:
            self.assertEqual(f.read(), sig)
        self.refused("changed: ./vmlinuz-6.1.0-amd64")
        # A /boot that verifies is signed again unchanged.
        write(self.p("vmlinuz-6.1.0-amd64"), hashlib.sha256(self.boot.encode()).digest() * 4000)
        with open(self.p("kexec_hashes.txt"), "rb") as f:
            hashes = f.read()
        self.sign("--keep", "--keyring", Keys.keyring)
        with open(self.p("kexec_hashes.txt"), "rb") as f:
            self.assertEqual(f.read(), hashes)
        self.verify(0)

    def test_planted_kexec_txt_never_signed(self):
        self.sign()
        write(self.p("kexec_evil.txt"), b"Evil|elf|kernel /evil\n")
        r = self.sign("--keep", "--keyring", Keys.keyring, expect=1)
        self.assertIn("refusing to sign", r.stderr)
        r = self.sign()  # regenerate: the manifests, not the planted file
        self.assertIn("kexec_evil.txt", r.stderr)
        self.assertIn("NOT signed", r.stderr)
        with open(self.p("kexec.sig.listing")) as f:
            self.assertNotIn("kexec_evil.txt", f.read())
        self.refused("kexec*.txt new: ./kexec_evil.txt (not covered by kexec.sig)")
        os.unlink(self.p("kexec_evil.txt"))
        self.verify(0)

    def test_regenerate_carries_only_signed_kexec_files(self):
        write(self.p("kexec_default.1.txt"), b"Debian|elf|kernel /vmlinuz-6.1.0-amd64\n")
        self.sign()  # no signature yet: the default entry is not signed
        self.refused("kexec*.txt new: ./kexec_default.1.txt")
        os.unlink(self.p("kexec_default.1.txt"))
        self.verify(0)

    def test_regenerate_keeps_signed_files_next_to_a_planted_one(self):
        write(self.p("kexec_default.1.txt"), b"Debian|elf|kernel /vmlinuz-6.1.0-amd64\n")
        self.sign()
        self.gpg_sign_listing(Keys.signer, self.listing())  # signed, as the shell does
        self.sign()
        write(self.p("kexec_evil.txt"), b"x")
        r = self.sign()  # the signature is BAD now, but kexec.sig.listing verifies
        self.assertIn("kexec_evil.txt", r.stderr)
        self.refused("kexec*.txt new: ./kexec_evil.txt")
        os.unlink(self.p("kexec_evil.txt"))
        self.verify(0)
        with open(self.p("kexec.sig.listing")) as f:
            self.assertIn("  kexec_default.1.txt\n", f.read())

    # --- item 9: no cached PIN -------------------------------------------
    def test_second_sign_asks_the_pin_again(self):
        self.pin_fd_sign(b"123456", 0)
        r = self.pin_fd_sign(b"000000", 1)
        self.assertIn("bad PIN or passphrase", r.stderr)

    # --- item 11: package triggers, kexec*.txt named ------------------------
    def test_package_trigger_is_not_tampering(self):
        self.sign()
        write(self.p("kexec_package_trigger_post.txt"), b"UPDATE_INITRAMFS_PACKAGE=x\n")
        r = self.verify(0)
        self.assertIn("package trigger present: kexec_package_trigger_post.txt", r.stderr)
        rep = self.report()
        self.assertIn("signature: VERIFIED", rep.stdout)
        self.assertIn("package trigger present: kexec_package_trigger_post.txt", rep.stdout)

    def test_added_and_changed_kexec_txt_named(self):
        self.sign()
        write(self.p("kexec_evil.txt"), b"x")
        r = self.refused("signature: BAD", "kexec*.txt new: ./kexec_evil.txt")
        os.unlink(self.p("kexec_evil.txt"))
        with open(self.p("kexec_hashes.txt"), "ab") as f:
            f.write(b"\n")
        r = self.refused("signature: BAD", "kexec*.txt changed: ./kexec_hashes.txt")
        self.assertNotIn("kexec_tree.txt", r.stderr)
        os.unlink(self.p("kexec_links.txt"))
        self.refused("kexec*.txt missing: ./kexec_links.txt")


class Compatibility(BootTest):
    def test_tools_accept_what_we_write(self):
        self.sign()
        sc = subprocess.run(["sha256sum", "-c", "kexec_hashes.txt"], cwd=self.boot,
                            capture_output=True, text=True)
        self.assertEqual(sc.returncode, 0, sc.stdout + sc.stderr)
        self.assertEqual(sc.stdout.count(": OK"), 6)
        bb = subprocess.run(["busybox", "sha256sum", "-c", "kexec_hashes.txt"], cwd=self.boot,
                            capture_output=True)
        self.assertEqual(bb.returncode, 0)
        # The shell version's check: (cd /boot; sha256sum kexec*.txt) | gpg --verify kexec.sig -
        listing = subprocess.run("sha256sum kexec*.txt", shell=True, cwd=self.boot,
                                 capture_output=True, env={"LC_ALL": "C", "PATH": os.environ["PATH"]}).stdout
        v = gpg(Keys.keyring, "--verify", os.path.join(self.boot, "kexec.sig"), "-",
                input=listing, check=False)
        self.assertEqual(v.returncode, 0, v.stderr)
        # The tree is byte-identical to BusyBox find | sort -z in the C locale.
        tree = subprocess.run("busybox find ./ ! -path './kexec*' -print0 | busybox sort -z",
                              shell=True, cwd=self.boot, capture_output=True,
                              env={"LC_ALL": "C", "PATH": os.environ["PATH"]}).stdout
        with open(self.p("kexec_tree.txt"), "rb") as f:
            self.assertEqual(f.read(), tree)
        # Hashes: the same lines as find -type f | xargs sha256sum (any order).
        ref = subprocess.run("busybox find ./ -type f ! -path './kexec*' -print0 | "
                             "busybox xargs -0 busybox sha256sum", shell=True, cwd=self.boot,
                             capture_output=True).stdout
        with open(self.p("kexec_hashes.txt"), "rb") as f:
            self.assertEqual(sorted(f.read().splitlines()), sorted(ref.splitlines()))

    def make_reference_boot(self, prefix=""):
        """/boot signed exactly as kexec-sign-config.sh does, with no heads."""
        sh = ("busybox find ./ -type f ! -path './kexec*' -print0 | busybox xargs -0 busybox "
              "sha256sum > kexec_hashes.txt && busybox find ./ ! -path './kexec*' -print0 | "
              "busybox sort -z > kexec_tree.txt")
        subprocess.run(sh, shell=True, cwd=self.boot, check=True,
                       env={"LC_ALL": "C", "PATH": os.environ["PATH"]})
        self.gpg_sign_listing(Keys.signer, self.listing(prefix))

    def test_we_accept_what_the_shell_version_writes(self):
        self.make_reference_boot()
        r = self.verify(0)
        self.assertNotIn("legacy", r.stdout)
        write(self.p("grub/grub.cfg"), b"evil")
        self.refused("changed: ./grub/grub.cfg")

    def test_legacy_absolute_names(self):
        self.make_reference_boot("/boot/")
        r = self.verify(0)
        self.assertIn("(legacy names)", r.stdout)
        self.assertIn("[legacy absolute names]", self.report().stdout)
        with open(self.p("kexec_hashes.txt"), "ab") as f:
            f.write(b"\n")
        self.refused("signature: BAD")


if __name__ == "__main__":
    main()
