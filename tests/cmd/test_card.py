"""heads card: the owner's OpenPGP card (issue 16) against the card model
(tests/devices/openpgp_card.py) behind a private pcscd + vsmartcard-vpcd,
reached by the real gpg-agent and scdaemon (card_env.py)."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import card_env  # noqa: E402

card_env.ensure_private_run()

from heads_test import main, run  # noqa: E402

NO_TPM = {"HEADS_TCTI": ""}
PIN, ADMIN = "123456", "12345678"


def populate(boot):
    os.makedirs(os.path.join(boot, "grub"))
    with open(os.path.join(boot, "vmlinuz-6.1.0-amd64"), "wb") as f:
        f.write(os.urandom(50000))
    with open(os.path.join(boot, "initrd.img-6.1.0-amd64"), "wb") as f:
        f.write(os.urandom(90000))
    with open(os.path.join(boot, "grub/grub.cfg"), "w") as f:
        f.write("menuentry 'Debian' { linux /vmlinuz-6.1.0-amd64 }\n")


def listing(boot):
    """What kexec.sig signs: `sha256sum kexec*.txt` in /boot."""
    out = b""
    for n in sorted(n.encode() for n in os.listdir(boot)
                    if n.startswith("kexec") and n.endswith(".txt")):
        with open(os.path.join(boot.encode(), n), "rb") as f:
            out += hashlib.sha256(f.read()).hexdigest().encode() + b"  " + n + b"\n"
    return out


class Fds:
    """Secrets for heads on pipes (never argv): Fds("123456", ...) -> args."""

    def __init__(self, **secrets):
        self.fds, self.args = [], []
        for opt, value in secrets.items():
            r, w = os.pipe()
            os.write(w, value.encode() + b"\n")
            os.close(w)
            self.fds.append(r)
            self.args += ["--" + opt.replace("_", "-"), str(r)]

    def close(self):
        for fd in self.fds:
            os.close(fd)


class CardTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-card-")
        self.tmp = self._tmp.name
        self.addCleanup(self._tmp.cleanup)
        self.card = card_env.CardEnv(self.tmp)
        self.addCleanup(self.card.close)
        self.home = self.card.home
        self.boot = os.path.join(self.tmp, "boot")
        populate(self.boot)
        self.keyring = os.path.join(self.tmp, "romkeys")
        os.makedirs(self.keyring, mode=0o700)

        self.addCleanup(self.kill_agents)

    def kill_agents(self):
        for h in (self.home, self.keyring):
            subprocess.run(["gpgconf", "--homedir", h, "--kill", "all"], capture_output=True)

    def heads(self, *args, expect=0, **secrets):
        fds = Fds(**secrets)
        try:
            r = run("card", args[0], "--gnupghome", self.home, *fds.args, *args[1:],
                    env=NO_TPM, pass_fds=fds.fds, timeout=300)
        finally:
            fds.close()
        if expect is not None:
            self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def status(self, *extra):
        return self.heads("status", *extra).stdout

    def generate(self, algo="ed25519"):
        r = self.heads("generate", "--algo", algo, "--name", "Heads Owner",
                       "--email", "owner@example.org", pin_fd=PIN, admin_fd=ADMIN)
        fpr = r.stdout.split("generated on the card: ")[1].split()[0]
        self.assertRegex(fpr, "^[0-9A-F]{40}$")
        return fpr

    def to_rom(self):
        """The card's public key into the ROM keyring (as ownership does)."""
        pub = self.card.gpg("--export", "--armor").stdout
        self.assertIn("BEGIN PGP PUBLIC KEY BLOCK", pub)
        subprocess.run(["gpg", "--homedir", self.keyring, "--batch", "--import"],
                       input=pub, text=True, capture_output=True, check=True)

    def sign_boot(self, pin=PIN, expect=0):
        fds = Fds(pin_fd=pin)
        try:
            r = run("card", "sign-boot", "--gnupghome", self.home, "--keyring", self.keyring,
                    "--", "--boot", self.boot, "--no-rollback", *fds.args,
                    env=NO_TPM, pass_fds=fds.fds, timeout=300)
        finally:
            fds.close()
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def gpg_verify_boot(self):
        """kexec.sig checked by gpg itself over the sha256sum listing."""
        data = os.path.join(self.tmp, "listing")
        with open(data, "wb") as f:
            f.write(listing(self.boot))
        r = subprocess.run(["gpg", "--homedir", self.keyring, "--batch", "--status-fd", "1",
                            "--verify", os.path.join(self.boot, "kexec.sig"), data],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("[GNUPG:] GOODSIG", r.stdout)
        return r.stdout

    def set_forcesig(self, forced):
        """gpg's own card editor toggles "signature PIN forced" (Admin PIN),
        until the card says so (the previous session's scdaemon may still
        hold the reader when gpg starts: then gpg may fail, or toggle late
        in the session and still exit 2; the card's state decides)."""
        p = None
        for _ in range(10):
            if self.card.card_json()["pw1_multi"] == (not forced):
                return
            p = subprocess.run(["gpg", "--homedir", self.home, "--no-tty", "--command-fd",
                                "0", "--status-fd", "2", "--pinentry-mode", "loopback",
                                "--card-edit"],
                               input="admin\nforcesig\n%s\nquit\n" % ADMIN, text=True,
                               capture_output=True, timeout=120)
            self.card.kill_agent()
            time.sleep(0.5)
        self.fail("forcesig not set: %s" % (p.stderr if p else ""))


class Status(CardTest):
    def test_fresh_card(self):
        out = self.status()
        self.assertIn("card: OpenPGP 3.4, serial 00000001, manufacturer test card", out)
        self.assertIn("cardholder: [not set]", out)
        self.assertIn("signature key: [none] (rsa2048)", out)
        self.assertIn("PIN retry counters: User 3, Reset code 0, Admin 3", out)

    def test_no_card(self):
        self.card.remove_card()
        r = self.heads("status", expect=3)
        self.assertIn("no OpenPGP card", r.stderr)
        r = self.heads("check-rom-key", "--keyring", self.keyring, expect=3)
        self.assertIn("dongle key: NO DONGLE", r.stdout)
        self.card.insert_card()
        self.assertIn("serial 00000001", self.status())

    def test_not_provisioned(self):
        r = self.heads("check-rom-key", "--keyring", self.keyring, expect=4)
        self.assertIn("dongle key: NOT PROVISIONED", r.stdout)
        r = self.sign_boot(expect=4)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))

    def test_name_and_persistence(self):
        r = self.heads("name", "--surname", "Owner", "--given", "Heads", admin_fd=ADMIN)
        self.assertIn("cardholder: Heads Owner", r.stdout)
        # pulled and plugged again: a card keeps what it was given
        self.card.remove_card()
        self.card.insert_card()
        self.assertIn("cardholder: Heads Owner", self.status())
        r = self.heads("name", "--surname", "Owner$(x)", "--given", "Heads", admin_fd=ADMIN,
                       expect=2)


class Generate(CardTest):
    def check_generated(self, algo, slots):
        fpr = self.generate(algo)
        out = self.status()
        self.assertIn("signature key: %s (%s)" % (fpr, slots[0]), out)
        self.assertIn("(%s)" % slots[1], out.split("encryption key: ")[1].splitlines()[0])
        self.assertIn("(%s)" % slots[2], out.split("authentication key: ")[1].splitlines()[0])
        self.assertNotIn("[none]", out)
        # the public key gpg made from the card's answers
        keys = self.card.gpg("--with-colons", "--list-keys").stdout
        self.assertIn(fpr, keys)
        # PIN counters untouched by a generation with the right PINs
        self.assertIn("User 3, Reset code 0, Admin 3", out)
        return fpr

    def test_generate_ed25519_sign_boot(self):
        fpr = self.check_generated("ed25519", ("ed25519", "cv25519", "ed25519"))
        r = self.heads("check-rom-key", "--keyring", self.keyring, expect=5)
        self.assertIn("dongle key: NOT ROM-TRUSTED", r.stdout)
        self.sign_boot(expect=5)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))
        self.to_rom()
        r = self.heads("status", "--keyring", self.keyring)
        self.assertIn("dongle key: MATCHES", r.stdout)
        count = self.card.card_json()["sig_count"]
        r = self.sign_boot()
        self.assertIn("signed %s" % self.boot, r.stdout)
        self.assertIn("User PIN tries left: 3", r.stdout)
        self.assertEqual(self.card.card_json()["sig_count"], count + 1)
        self.assertIn(fpr, self.gpg_verify_boot())
        r = run("boot", "verify", "--boot", self.boot, "--keyring", self.keyring, env=NO_TPM)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # an OS update changes a kernel: verification fails until signed again
        with open(os.path.join(self.boot, "vmlinuz-6.1.0-amd64"), "ab") as f:
            f.write(b"update")
        r = run("boot", "verify", "--boot", self.boot, "--keyring", self.keyring, env=NO_TPM)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.sign_boot()
        self.gpg_verify_boot()

    def test_generate_rsa2048_sign_boot(self):
        fpr = self.check_generated("rsa2048", ("rsa2048", "rsa2048", "rsa2048"))
        self.to_rom()
        self.sign_boot()
        self.assertIn(fpr, self.gpg_verify_boot())

    def test_boot_sign_and_card_sign_boot_same_files(self):
        """sign-boot is `heads boot sign` with the card's key: the same
        kexec*.txt files, byte for byte, and a kexec.sig over them."""
        self.generate("ed25519")
        self.to_rom()
        self.sign_boot()
        names = sorted(n for n in os.listdir(self.boot) if n.startswith("kexec"))
        self.assertEqual(names, ["kexec.sig", "kexec.sig.listing", "kexec_hashes.txt",
                                 "kexec_links.txt", "kexec_tree.txt"])
        # and kexec.sig.listing is what gpg verified
        with open(os.path.join(self.boot, "kexec.sig.listing"), "rb") as f:
            self.assertEqual(f.read(), listing(self.boot))
        with open(os.path.join(self.boot, "kexec_hashes.txt")) as f:
            hashes = f.read()
        self.assertIn("./vmlinuz-6.1.0-amd64", hashes)

    def test_factory_reset(self):
        self.generate("ed25519")
        r = self.heads("factory-reset", expect=2)
        r = self.heads("factory-reset", "--yes")
        out = self.status()
        self.assertIn("signature key: [none]", out)
        self.assertIn("PIN retry counters: User 3, Reset code 0, Admin 3", out)
        self.assertEqual(self.card.card_json()["keys"], [None, None, None])
        # the default PINs work again: generate anew
        self.generate("rsa2048")


class Pins(CardTest):
    def setUp(self):
        super().setUp()
        self.fpr = self.generate("ed25519")
        self.to_rom()

    def test_no_pin_cached_between_signings(self):
        """Even with the card's "signature PIN forced" off (the PIN stays
        verified on the card for many signatures), a second signing asks
        for the PIN again: the card session ends after each one."""
        self.set_forcesig(False)
        self.assertIn("(signature PIN not forced)", self.status())
        self.sign_boot()
        before = open(os.path.join(self.boot, "kexec.sig"), "rb").read()
        r = self.sign_boot(pin="000000", expect=1)
        self.assertIn("bad PIN or passphrase", r.stderr)
        self.assertIn("User PIN tries left: 2", r.stdout)
        self.assertEqual(open(os.path.join(self.boot, "kexec.sig"), "rb").read(), before)
        self.assertEqual(self.card.card_json()["tries"]["pw1"], 2)

    def test_blocked_pin_reported_and_unblocked(self):
        for left in (2, 1):
            r = self.sign_boot(pin="000000", expect=1)
            self.assertIn("User PIN tries left: %d" % left, r.stdout)
        r = self.sign_boot(pin="000000", expect=6)
        self.assertIn("User PIN BLOCKED (0 tries left)", r.stdout)
        self.assertIn("PIN retry counters: User 0, Reset code 0, Admin 3", self.status())
        # blocked: refused before gpg is asked to sign, the right PIN included
        r = self.sign_boot(pin=PIN, expect=6)
        self.assertIn("User PIN is blocked (0 tries left)", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))
        # the Admin PIN sets a new User PIN and unblocks it
        r = self.heads("passwd", "--unblock", old_fd=ADMIN, new_fd="246810")
        self.assertIn("User PIN: 3,".replace(": ", " ") if False else "User 3,", self.status())
        self.sign_boot(pin="246810")
        self.gpg_verify_boot()

    def test_change_pins(self):
        self.heads("passwd", "--user", old_fd=PIN, new_fd="112233")
        self.sign_boot(pin=PIN, expect=1)
        self.sign_boot(pin="112233")
        self.heads("passwd", "--admin", old_fd=ADMIN, new_fd="87654321")
        self.heads("name", "--surname", "Owner", "--given", "Heads", admin_fd=ADMIN, expect=1)
        self.heads("name", "--surname", "Owner", "--given", "Heads", admin_fd="87654321")
        out = self.status()
        self.assertIn("cardholder: Heads Owner", out)
        # one wrong Admin PIN above, then a right one: back to 3
        self.assertIn("Admin 3", out)
        self.heads("passwd", "--user", old_fd="112233", new_fd="123", expect=2)


class KeyToCard(CardTest):
    """Keys made in memory, backed up (encrypted, checked by decrypting it
    back), then the signing, encryption and authentication subkeys moved
    to the card: the card signs /boot, and without the card the backup
    does."""
    KEYPASS, BACKUP_PASS = "key passphrase 1", "backup passphrase 2"

    def make_key(self, algo):
        g = ["gpg", "--homedir", self.home, "--batch", "--pinentry-mode", "loopback",
             "--passphrase", self.KEYPASS]
        subprocess.run(g + ["--quick-gen-key", "Heads Owner <owner@example.org>", algo,
                            "cert", "never"], check=True, capture_output=True)
        fpr = self.fprs()[0]
        for use, a in (("sign", algo), ("encr", "cv25519" if algo == "ed25519" else algo),
                       ("auth", algo)):
            subprocess.run(g + ["--quick-add-key", fpr, a, use, "never"], check=True,
                           capture_output=True)
        self.card.kill_agent()
        return self.fprs()

    def fprs(self):
        out = self.card.gpg("--with-colons", "--list-keys").stdout
        return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")]

    def keytocard(self, fpr, backup=None):
        extra = ["--backup", backup] if backup else []
        return self.heads("keytocard", "--key", fpr, *extra, pin_fd=self.KEYPASS,
                          admin_fd=ADMIN, **({"backup_pass_fd": self.BACKUP_PASS}
                                             if backup else {}))

    def decrypt_with_card(self, enc):
        """The card's encryption key deciphers (PSO:DECIPHER; the model's
        ECDH or RSA): gpg encrypts to the subkey, the card decrypts."""
        msg = "for the card only %s" % enc
        ct = self.card.gpg("--trust-model", "always", "--armor", "--encrypt", "-r", enc + "!",
                           input=msg).stdout
        for _ in range(10):
            r = self.card.gpg("--pinentry-mode", "loopback", "--passphrase", PIN, "--decrypt",
                              input=ct, check=False)
            # the last session's scdaemon may still hold the reader
            if not any(m in r.stderr for m in ("No such device", "Card not present",
                                                "Card removed")):
                break
            self.card.kill_agent()
            time.sleep(0.5)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, msg)
        self.card.kill_agent()

    def test_ed25519_backup_keytocard_sign(self):
        primary, sig, enc, aut = self.make_key("ed25519")
        backup = os.path.join(self.tmp, "subkeys.sec.asc")
        r = self.keytocard(primary, backup)
        self.assertIn("backup written and checked: " + backup, r.stdout)
        out = self.status()
        self.assertIn("signature key: %s (ed25519)" % sig, out)
        self.assertIn("encryption key: %s (cv25519)" % enc, out)
        self.assertIn("authentication key: %s (ed25519)" % aut, out)
        secret = self.card.gpg("--with-colons", "--list-secret-keys").stdout
        # the subkeys are on the card now (serial in field 15), the primary stays
        ssb = [l for l in secret.splitlines() if l.startswith("ssb:")]
        self.assertEqual(len(ssb), 3)
        for l in ssb:
            self.assertEqual(l.split(":")[14], "D2760001240103040000000000010000", l)
        self.decrypt_with_card(enc)
        self.to_rom()
        self.sign_boot()
        v = self.gpg_verify_boot()
        self.assertIn("VALIDSIG %s" % sig, v)
        # no card now: the backup signs
        self.card.remove_card()
        os.unlink(os.path.join(self.boot, "kexec.sig"))
        fds = Fds(backup_pass_fd=self.BACKUP_PASS)
        pin = Fds(pin_fd=self.KEYPASS)
        try:
            r = run("card", "sign-backup", "--backup", backup, "--keyring", self.keyring,
                    *fds.args, "--", "--boot", self.boot, "--no-rollback", *pin.args,
                    env=NO_TPM, pass_fds=fds.fds + pin.fds, timeout=300)
        finally:
            fds.close()
            pin.close()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VALIDSIG %s" % sig, self.gpg_verify_boot())

    def test_rsa2048_keytocard(self):
        primary, sig, enc, aut = self.make_key("rsa2048")
        self.keytocard(primary)
        out = self.status()
        for slot, f in (("signature", sig), ("encryption", enc), ("authentication", aut)):
            self.assertIn("%s key: %s (rsa2048)" % (slot, f), out)
        self.decrypt_with_card(enc)
        self.to_rom()
        self.sign_boot()
        self.assertIn("VALIDSIG %s" % sig, self.gpg_verify_boot())

    def test_backup_that_fails_moves_nothing(self):
        primary, sig, _, _ = self.make_key("ed25519")
        backup = os.path.join(self.tmp, "nested", "no-such-dir", "b.asc")
        r = self.heads("keytocard", "--key", primary, "--backup", backup,
                       pin_fd=self.KEYPASS, admin_fd=ADMIN, backup_pass_fd=self.BACKUP_PASS,
                       expect=1)
        self.assertIn("nothing moved to the card", r.stderr)
        self.assertIn("signature key: [none]", self.status())


class VSCardFrontEnd(unittest.TestCase):
    """The model's QEMU front-end against QEMU's own ccid-card-passthru
    (usb-ccid on xHCI, CPU stopped: no guest): QEMU's Init arrives and the
    reader and the card's ATR are each acknowledged with Error 0, and QEMU
    finds nothing to complain about in the ATR. (APDUs through a guest's
    libccid are the VM suite's part.)"""

    def test_handshake(self):
        with tempfile.TemporaryDirectory(prefix="heads-test-vscard-") as tmp:
            sock, log, qlog = (os.path.join(tmp, n) for n in ("ccid.sock", "apdu.log",
                                                               "qemu.log"))
            with open(qlog, "w") as ql:
                qemu = subprocess.Popen(
                    ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-S",
                     "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "none",
                     "-chardev", "socket,id=ccid,path=%s,server=on,wait=off" % sock,
                     "-device", "qemu-xhci", "-device", "usb-ccid",
                     "-device", "ccid-card-passthru,chardev=ccid,debug=1"],
                    stdout=ql, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            model = None
            try:
                for _ in range(100):
                    if os.path.exists(sock):
                        break
                    time.sleep(0.1)
                model = subprocess.Popen([sys.executable, card_env.MODEL, "--state",
                                          os.path.join(tmp, "card.json"), "--log", log,
                                          "vscard", "--socket", sock],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                lines = []
                for _ in range(100):
                    if os.path.exists(log):
                        with open(log) as f:
                            lines = f.read().split()
                    if lines.count("00000000") >= 2:
                        break
                    time.sleep(0.1)
            finally:
                for p in (model, qemu):
                    if p:
                        p.terminate()
                        p.wait(10)
            # "VSC1" Init from QEMU: magic "VSCD", version 2
            self.assertIn("56534331", lines)
            self.assertEqual(lines[lines.index("56534331") + 2], "565343440000000200000000")
            # "VSC2" Error acks, code 0, for ReaderAdd and ATR
            self.assertEqual(lines.count("56534332"), 2, lines)
            self.assertEqual(lines.count("00000000"), 2, lines)
            with open(qlog) as f:
                self.assertNotIn("atr", f.read().lower())


class Backup(unittest.TestCase):
    """No card: the key from its encrypted backup (ownership's format: the
    secret key export, protected by its passphrase, symmetrically
    encrypted with the backup passphrase), for one signing."""
    KEYPASS, BACKUP_PASS = "key passphrase 1", "backup passphrase 2"

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-card-backup-")
        self.addCleanup(self._tmp.cleanup)
        self.tmp = self._tmp.name
        self.keyhome = os.path.join(self.tmp, "owner")
        self.keyring = os.path.join(self.tmp, "romkeys")
        self.scratch = os.path.join(self.tmp, "scratch")  # TMPDIR of heads
        for d in (self.keyhome, self.keyring, self.scratch):
            os.makedirs(d, mode=0o700)
        self.addCleanup(lambda: [subprocess.run(["gpgconf", "--homedir", h, "--kill", "all"],
                                                capture_output=True)
                                 for h in (self.keyhome, self.keyring)])
        g = ["gpg", "--homedir", self.keyhome, "--batch", "--pinentry-mode", "loopback",
             "--passphrase", self.KEYPASS]
        subprocess.run(g + ["--quick-gen-key", "Heads Owner <owner@example.org>", "ed25519",
                            "cert", "never"], check=True, capture_output=True)
        out = subprocess.run(["gpg", "--homedir", self.keyhome, "--with-colons",
                              "--list-keys"], capture_output=True, text=True).stdout
        self.primary = [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")][0]
        subprocess.run(g + ["--quick-add-key", self.primary, "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        out = subprocess.run(["gpg", "--homedir", self.keyhome, "--with-colons",
                              "--list-keys"], capture_output=True, text=True).stdout
        self.subkey = [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")][1]
        sec = subprocess.run(g + ["--armor", "--export-secret-keys", self.primary],
                             check=True, capture_output=True).stdout
        enc = subprocess.run(["gpg", "--homedir", self.keyhome, "--batch", "--pinentry-mode",
                              "loopback", "--passphrase", self.BACKUP_PASS, "--armor",
                              "--compress-algo", "none", "--symmetric"],
                             input=sec, check=True, capture_output=True).stdout
        self.backup = os.path.join(self.tmp, "subkeys.sec.asc")
        with open(self.backup, "wb") as f:
            f.write(enc)
        pub = subprocess.run(["gpg", "--homedir", self.keyhome, "--armor", "--export"],
                             capture_output=True, check=True).stdout
        subprocess.run(["gpg", "--homedir", self.keyring, "--batch", "--import"], input=pub,
                       capture_output=True, check=True)
        # the owner's home is gone, as after a power off: only the backup
        subprocess.run(["gpgconf", "--homedir", self.keyhome, "--kill", "all"],
                       capture_output=True)
        shutil.rmtree(self.keyhome)
        os.makedirs(self.keyhome, mode=0o700)
        self.boot = os.path.join(self.tmp, "boot")
        populate(self.boot)

    def sign(self, backup_pass=None, keypass=None, expect=0, keyring=None):
        fds = Fds(backup_pass_fd=backup_pass or self.BACKUP_PASS)
        pin = Fds(pin_fd=keypass or self.KEYPASS)
        try:
            r = run("card", "sign-backup", "--backup", self.backup,
                    "--keyring", keyring or self.keyring, *fds.args, "--",
                    "--boot", self.boot, "--no-rollback", *pin.args,
                    env=dict(NO_TPM, TMPDIR=self.scratch), pass_fds=fds.fds + pin.fds,
                    timeout=300)
        finally:
            fds.close()
            pin.close()
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        # the private home with the imported key is gone, whatever happened
        self.assertEqual(os.listdir(self.scratch), [])
        return r

    def test_sign_from_backup(self):
        r = self.sign()
        self.assertIn("backup key: %s MATCHES the ROM keyring" % self.subkey, r.stdout)
        data = os.path.join(self.tmp, "listing")
        with open(data, "wb") as f:
            f.write(listing(self.boot))
        v = subprocess.run(["gpg", "--homedir", self.keyring, "--batch", "--status-fd", "1",
                            "--verify", os.path.join(self.boot, "kexec.sig"), data],
                           capture_output=True, text=True)
        self.assertIn("[GNUPG:] GOODSIG", v.stdout)
        self.assertIn(self.subkey, v.stdout)  # VALIDSIG names the signing subkey
        r = run("boot", "verify", "--boot", self.boot, "--keyring", self.keyring, env=NO_TPM)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # nothing cached: a second signing with a wrong key passphrase fails
        before = open(os.path.join(self.boot, "kexec.sig"), "rb").read()
        r = self.sign(keypass="wrong", expect=1)
        self.assertIn("bad PIN or passphrase", r.stderr)
        self.assertEqual(open(os.path.join(self.boot, "kexec.sig"), "rb").read(), before)

    def test_wrong_backup_passphrase(self):
        r = self.sign(backup_pass="not it", expect=1)
        self.assertIn("wrong backup passphrase", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))

    def test_backup_key_not_in_rom(self):
        other = os.path.join(self.tmp, "otherkeys")
        os.makedirs(other, mode=0o700)
        subprocess.run(["gpg", "--homedir", other, "--batch", "--passphrase", "",
                        "--quick-gen-key", "Other <o@example.org>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        self.addCleanup(lambda: subprocess.run(["gpgconf", "--homedir", other, "--kill", "all"],
                                               capture_output=True))
        r = self.sign(keyring=other, expect=5)
        self.assertIn("backup key: NOT ROM-TRUSTED", r.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.boot, "kexec.sig")))

    def test_not_a_backup(self):
        with open(self.backup, "w") as f:
            f.write("-----BEGIN PGP MESSAGE-----\n\nbm90IGEga2V5\n-----END PGP MESSAGE-----\n")
        r = self.sign(expect=1)
        self.assertIn(self.backup, r.stderr)


if __name__ == "__main__":
    main()
