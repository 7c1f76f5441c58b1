"""heads iso verify|entries: ISO images built here with xorriso (GRUB and
isolinux configurations, kernel/initrd placeholders), real gpg keys and
signatures; the real distribution configurations of tests/data/bootcfg put
into ISO images and read back; the words each family gets checked against
that family's documented boot parameters."""
import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import main, run  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "data", "bootcfg")
DEV = "/dev/disk/by-uuid/1234-ABCD"


def gpg(home, *args, input=None, check=True):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", *args],
                          input=input, capture_output=True, check=check)


def genkey(home, uid):
    os.makedirs(home, mode=0o700, exist_ok=True)
    gpg(home, "--pinentry-mode", "loopback", "--passphrase", "",
        "--quick-gen-key", uid, "ed25519", "sign", "never")
    out = gpg(home, "--with-colons", "--list-secret-keys").stdout.decode()
    return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")][0]


def mkiso(root, out, *extra):
    subprocess.run(["xorriso", "-as", "mkisofs", *extra, "-V", "HEADSTEST", "-o", out, root],
                   check=True, capture_output=True)


class Keys:
    root = None

    @classmethod
    def setup(cls):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        atexit.register(cls.teardown)
        cls.root = tempfile.mkdtemp(prefix="heads-test-iso-keys-")
        cls.distro = os.path.join(cls.root, "distro")
        cls.fpr = genkey(cls.distro, "Distro Signing <cd@example.org>")
        cls.other = os.path.join(cls.root, "other")
        cls.other_fpr = genkey(cls.other, "Someone Else <else@example.org>")
        cls.keyring = os.path.join(cls.root, "keyring")  # the ROM keyring
        os.makedirs(cls.keyring, mode=0o700)
        gpg(cls.keyring, "--import", input=gpg(cls.distro, "--export").stdout)
        cls.other_pub = os.path.join(cls.root, "other.asc")
        with open(cls.other_pub, "wb") as f:
            f.write(gpg(cls.other, "--export", "--armor").stdout)

    @classmethod
    def teardown(cls):
        if not cls.root or not os.path.isdir(cls.root):
            return
        for h in ("distro", "other", "keyring"):
            subprocess.run(["gpgconf", "--homedir", os.path.join(cls.root, h), "--kill", "all"],
                           capture_output=True)
        shutil.rmtree(cls.root, ignore_errors=True)


def setUpModule():
    Keys.setup()


def tearDownModule():
    Keys.teardown()


def sign(home, path, out, armor=False, clear=False):
    args = ["--pinentry-mode", "loopback", "--passphrase", ""]
    if clear:
        args += ["--clearsign"]
    else:
        args += ["--detach-sign"] + (["--armor"] if armor else [])
    gpg(home, *args, "-o", out, path)


def build_tree(root, files):
    for rel, content in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(content)


LIVE_GRUB = """set timeout=5
menuentry "Live system (amd64)" {
    linux /live/vmlinuz boot=live components quiet splash findiso=${iso_path}
    initrd /live/initrd.img
}
"""
LIVE_ISOLINUX = """DEFAULT live
LABEL live
  MENU LABEL Live (isolinux)
  KERNEL /live/vmlinuz
  APPEND initrd=/live/initrd.img boot=live components
"""


class IsoCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-iso-")
        self.tmp = self._tmp.name
        self.media = os.path.join(self.tmp, "media")
        os.makedirs(self.media)

    def tearDown(self):
        self._tmp.cleanup()

    def make_iso(self, name="live.iso", files=None, pad_mib=0, extra=("-R", "-J")):
        root = os.path.join(self.tmp, "root-" + name)
        build_tree(root, files or {
            "boot/grub/grub.cfg": LIVE_GRUB,
            "isolinux/isolinux.cfg": LIVE_ISOLINUX,
            "live/vmlinuz": "kernel placeholder\n",
            "live/initrd.img": "initrd placeholder\n",
        })
        if pad_mib:
            with open(os.path.join(root, "live", "filesystem.squashfs"), "wb") as f:
                f.write(os.urandom(pad_mib << 20))
        path = os.path.join(self.media, name)
        mkiso(root, path, *extra)
        return path

    def verify(self, iso, *args, keyring=True):
        a = ["iso", "verify", "--iso", iso]
        if keyring:
            a += ["--keyring", Keys.keyring]
        return run(*a, *args)

    def entries(self, iso, *args, path="/isos/live.iso", device=DEV, fmt=None):
        a = ["iso", "entries", "--iso", iso, "--device", device, "--iso-path", path]
        if fmt:
            a.append(fmt)
        r = run(*a, *args)
        return r

    def rows(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        out = []
        for l in r.stdout.splitlines():
            n, mark, fam, title, cmdline, why = l.split("\t")
            out.append({"mark": mark, "family": fam, "title": title, "cmdline": cmdline.split(),
                        "why": why})
        return out

    def field(self, out, key):
        for l in out.splitlines():
            if l.startswith(key + ": "):
                return l[len(key) + 2:]
        return None


class Verify(IsoCase):
    def test_detached_sig_verifies_and_hash_is_the_files(self):
        iso = self.make_iso(pad_mib=3)
        sign(Keys.distro, iso, iso + ".sig")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.field(r.stdout, "state"), "VERIFIED")
        self.assertEqual(self.field(r.stdout, "signature"), "live.iso.sig")
        self.assertEqual(self.field(r.stdout, "signer"), Keys.fpr)
        with open(iso, "rb") as f:
            self.assertEqual(self.field(r.stdout, "sha256"), hashlib.sha256(f.read()).hexdigest())

    def test_armored_asc_verifies(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".asc", armor=True)
        r = self.verify(iso)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.field(r.stdout, "signature"), "live.iso.asc")

    def test_progress_is_reported(self):
        iso = self.make_iso(pad_mib=4)
        sign(Keys.distro, iso, iso + ".sig")
        r = self.verify(iso, "--progress")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hashing: 100%", r.stderr)

    def test_unsigned_iso_says_so(self):
        iso = self.make_iso()
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "NO SIGNATURE")
        self.assertIn("NO SIGNATURE", r.stderr)

    def test_key_not_in_keyring_is_unknown_key(self):
        iso = self.make_iso()
        sign(Keys.other, iso, iso + ".sig")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "UNKNOWN KEY")
        self.assertIn("UNKNOWN KEY", r.stderr)

    def test_key_file_from_the_medium_is_shown_and_trusted(self):
        iso = self.make_iso()
        sign(Keys.other, iso, iso + ".sig")
        r = self.verify(iso, "--key-file", Keys.other_pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"key-file-key: {Keys.other_fpr} Someone Else <else@example.org>",
                      r.stdout)
        # the keyring itself was not changed
        listed = gpg(Keys.keyring, "--with-colons", "--list-keys").stdout.decode()
        self.assertNotIn(Keys.other_fpr, listed)

    def test_key_file_alone_without_rom_keyring(self):
        iso = self.make_iso()
        sign(Keys.other, iso, iso + ".sig")
        r = self.verify(iso, "--key-file", Keys.other_pub, keyring=False)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_key_file_without_a_key_fails(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".sig")
        junk = os.path.join(self.tmp, "junk.asc")
        with open(junk, "w") as f:
            f.write("not a key\n")
        r = self.verify(iso, "--key-file", junk)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no OpenPGP public key", r.stderr)

    def test_truncated_iso_is_bad_signature(self):
        iso = self.make_iso(pad_mib=2)
        sign(Keys.distro, iso, iso + ".sig")
        os.truncate(iso, os.path.getsize(iso) - 2048)
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "BAD SIGNATURE")

    def test_one_changed_byte_is_bad_signature(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".sig")
        with open(iso, "r+b") as f:
            f.seek(40000)
            b = f.read(1)
            f.seek(40000)
            f.write(bytes([b[0] ^ 1]))
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "BAD SIGNATURE")

    def test_signature_of_another_file_is_bad(self):
        iso = self.make_iso()
        other = self.make_iso("other.iso", files={"a/b.cfg": "other\n"})
        sign(Keys.distro, other, iso + ".sig")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "BAD SIGNATURE")

    def test_garbage_signature_is_malformed(self):
        iso = self.make_iso()
        with open(iso + ".sig", "w") as f:
            f.write("this is not a signature\n")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "MALFORMED")

    def test_symlinked_iso_is_refused(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".sig")
        link = os.path.join(self.media, "link.iso")
        os.symlink(iso, link)
        r = self.verify(link)
        self.assertEqual(r.returncode, 1)

    # -- checksum lists -----------------------------------------------------

    def sums(self, iso, name="SHA256SUMS", digest=None, listed_as=None, sig=".gpg",
             home=None, extra_lines=""):
        with open(iso, "rb") as f:
            d = digest or hashlib.sha256(f.read()).hexdigest()
        path = os.path.join(self.media, name)
        with open(path, "w") as f:
            f.write(extra_lines)
            f.write(f"{'0' * 64}  unrelated.iso\n")
            f.write(f"{d} *{listed_as or os.path.basename(iso)}\n")
        if sig:
            sign(home or Keys.distro, path, path + sig)
        return path

    def test_signed_sha256sums_verifies(self):
        iso = self.make_iso(pad_mib=2)
        for sig in (".gpg", ".sign"):
            with self.subTest(sig=sig):
                for n in os.listdir(self.media):
                    if n.startswith("SHA256SUMS"):
                        os.unlink(os.path.join(self.media, n))
                self.sums(iso, sig=sig, extra_lines="# comment\n\n")
                r = self.verify(iso)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(self.field(r.stdout, "signature"), f"SHA256SUMS + SHA256SUMS{sig}")
                self.assertEqual(self.field(r.stdout, "state"), "VERIFIED")

    def test_sha256sums_hash_mismatch(self):
        iso = self.make_iso()
        self.sums(iso, digest="ab" * 32)
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "HASH MISMATCH")

    def test_sha256sums_modified_iso_mismatch(self):
        iso = self.make_iso()
        self.sums(iso)
        with open(iso, "ab") as f:
            f.write(b"\0" * 2048)
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "HASH MISMATCH")

    def test_sha256sums_not_naming_the_file(self):
        iso = self.make_iso()
        self.sums(iso, listed_as="another.iso")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "NOT LISTED")

    def test_unsigned_sha256sums_is_no_signature(self):
        iso = self.make_iso()
        self.sums(iso, sig=None)
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "NO SIGNATURE")

    def test_sha256sums_signed_by_unknown_key(self):
        iso = self.make_iso()
        self.sums(iso, home=Keys.other)
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "UNKNOWN KEY")

    def test_sha256sums_changed_after_signing_is_bad(self):
        iso = self.make_iso()
        path = self.sums(iso)
        with open(path, "a") as f:
            f.write(f"{'1' * 64}  extra.iso\n")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "BAD SIGNATURE")

    def test_malformed_signed_list(self):
        iso = self.make_iso()
        path = os.path.join(self.media, "SHA256SUMS")
        with open(path, "w") as f:
            f.write("zz-not-hex  live.iso\n")
        sign(Keys.distro, path, path + ".gpg")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "MALFORMED")

    def test_clearsigned_bsd_checksum_file(self):
        iso = self.make_iso()
        with open(iso, "rb") as f:
            d = hashlib.sha256(f.read()).hexdigest()
        plain = os.path.join(self.tmp, "plain")
        with open(plain, "w") as f:
            f.write(f"# live.iso: {os.path.getsize(iso)} bytes\n"
                    f"SHA256 (live.iso) = {d}\n")
        sign(Keys.distro, plain, os.path.join(self.media, "Live-43-x86_64-CHECKSUM"), clear=True)
        r = self.verify(iso)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CHECKSUM (clear-signed)", self.field(r.stdout, "signature"))

    def test_detached_signature_decides_over_a_list(self):
        # a bad FILE.sig is not rescued by a good SHA256SUMS
        iso = self.make_iso()
        self.sums(iso)
        sign(Keys.other, iso, iso + ".sig")
        r = self.verify(iso)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.field(r.stdout, "state"), "UNKNOWN KEY")

    def test_usage_errors(self):
        self.assertEqual(run("iso", "verify", "--iso", "x.iso").returncode, 2)
        self.assertEqual(run("iso", "verify", "--keyring", Keys.keyring).returncode, 2)
        self.assertEqual(run("iso", "bogus").returncode, 2)


class Entries(IsoCase):
    def test_grub_and_isolinux_entries_with_findiso(self):
        iso = self.make_iso()
        rows = self.rows(self.entries(iso))
        self.assertEqual([x["title"] for x in rows], ["Live system (amd64)", "Live (isolinux)"])
        for x in rows:
            self.assertEqual(x["mark"], "[OK]")
            self.assertEqual(x["family"], "live-boot")
            # live-boot(7): findiso=/PATH/TO/IMAGE; the empty findiso=${iso_path} is gone
            self.assertEqual([w for w in x["cmdline"] if w.startswith("findiso")],
                             ["findiso=/isos/live.iso"])
            self.assertIn("boot=live", x["cmdline"])

    def test_json_is_the_entries_schema(self):
        iso = self.make_iso()
        r = self.entries(iso, fmt="--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(len(j), 2)
        for e in j:
            self.assertEqual(sorted(e), ["cmdline", "initrd", "kernel", "kind", "modules", "title"])
            self.assertEqual(e["kernel"], "/live/vmlinuz")
            self.assertEqual(e["initrd"], ["/live/initrd.img"])
            self.assertIn("findiso=/isos/live.iso", e["cmdline"].split())

    def test_joliet_only_image(self):
        iso = self.make_iso(extra=("-J",))
        rows = self.rows(self.entries(iso))
        self.assertEqual(len(rows), 2)

    def test_plain_iso9660_names(self):
        # no Rock Ridge, no Joliet: names are the ISO names, lowercased
        iso = self.make_iso(files={
            "isolinux/isolinux.cfg": "LABEL a\n  KERNEL /live/vmlinuz\n  APPEND boot=live\n",
            "live/vmlinuz": "k\n"}, extra=())
        rows = self.rows(self.entries(iso))
        self.assertEqual([x["title"] for x in rows], ["a"])

    def family_iso(self, name, cmdline, kernel="/k/vmlinuz", title="Entry", more=None):
        files = {
            "boot/grub/grub.cfg": f'menuentry "{title}" {{\n  linux {kernel} {cmdline}\n'
                                  f'  initrd /k/initrd\n}}\n',
            kernel.lstrip("/"): "k\n", "k/initrd": "i\n",
        }
        files.update(more or {})
        return self.make_iso(name, files=files)

    def test_family_words(self):
        P = "/isos/live.iso"
        cases = [
            # (name, cmdline, kernel, title, family, mark, words that must be there)
            ("ubuntu", "--- quiet splash", "/casper/vmlinuz", "Try Ubuntu", "casper", "[OK]",
             # casper(7): iso-scan/filename=/path/to/file.iso
             [f"iso-scan/filename={P}"]),
            ("casper", "boot=casper quiet", "/k/vmlinuz", "Mint", "casper", "[OK]",
             [f"iso-scan/filename={P}"]),
            ("fedora", "root=live:CDLABEL=Fedora-WS-Live-43 rd.live.image quiet", "/k/vmlinuz",
             "Start Fedora", "dracut", "[OK]",
             # dracut.cmdline(7): iso-scan/filename=<isofilename> with root=live:
             [f"iso-scan/filename={P}", "rd.live.image", "root=live:CDLABEL=Fedora-WS-Live-43"]),
            ("suse", "root=live:CDLABEL=openSUSE_Live quiet", "/k/vmlinuz", "openSUSE",
             "dracut", "[OK]", [f"iso-scan/filename={P}", "rd.live.image"]),
            ("centos", "inst.stage2=hd:LABEL=CentOS quiet", "/k/vmlinuz", "Install CentOS",
             "dracut", "[~]", [f"iso-scan/filename={P}", "rd.live.image"]),
            ("arch", "archisobasedir=arch img_dev=UUID=${archiso_img_dev_uuid} img_loop=${iso_path}",
             "/arch/vmlinuz-linux", "Arch", "archiso", "[OK]",
             # archiso's README.bootparams: img_dev= device, img_loop= path on it
             [f"img_dev={DEV}", f"img_loop={P}", "archisobasedir=arch"]),
            ("nixos", "init=/nix/store/abc-nixos-system/init root=LABEL=nixos-minimal",
             "/boot/bzImage", "NixOS", "nixos", "[OK]",
             # NixOS stage 1: findiso=/path
             [f"findiso={P}", "init=/nix/store/abc-nixos-system/init"]),
            ("tails", "boot=live config live-media=removable nopersistent", "/live/vmlinuz2",
             "Tails64", "tails", "[~]",
             # live-boot(7): fromiso=DEVICE/PATH; never together with findiso=
             [f"fromiso={DEV}{P}"]),
            ("unknown", "root=/dev/ram0 quiet", "/k/vmlinuz", "Something", "unknown", "[~]",
             [f"iso-scan/filename={P}", f"findiso={P}", f"img_dev={DEV}", f"img_loop={P}",
              f"live-media={DEV}"]),
            ("d-i", "vga=788 --- quiet", "/install.amd/vmlinuz", "Install", "unknown", "[X]", []),
            ("memtest", "", "/boot/memtest86+x64.bin", "Test memory", "unknown", "[~]", []),
        ]
        for name, cmdline, kernel, title, fam, mark, words in cases:
            with self.subTest(family=name):
                iso = self.family_iso(name + ".iso", cmdline, kernel, title)
                rows = self.rows(self.entries(iso, path=P))
                self.assertEqual(len(rows), 1, rows)
                x = rows[0]
                self.assertEqual((x["family"], x["mark"]), (fam, mark), x)
                for w in words:
                    self.assertIn(w, x["cmdline"], x)
                self.assertFalse([w for w in x["cmdline"] if "$" in w or w.endswith("=")], x)
                self.assertNotIn("---", x["cmdline"])
                if fam == "tails":
                    self.assertFalse([w for w in x["cmdline"] if w.startswith("findiso")])
                if fam != "unknown":
                    self.assertFalse([w for w in x["cmdline"] if w.startswith("live-media=/")])
                if mark == "[X]" or name == "memtest":
                    self.assertFalse([w for w in x["cmdline"] if w.startswith("iso-scan")])

    def test_xen_entry_is_marked_x(self):
        iso = self.make_iso("qubes.iso", files={
            "isolinux/isolinux.cfg": "LABEL q\n  MENU LABEL Install Qubes\n  KERNEL mboot.c32\n"
                                     "  APPEND xen.gz console=none --- vmlinuz inst.stage2=hd:LABEL=Q"
                                     " --- initrd.img\n",
            "isolinux/mboot.c32": "m\n", "isolinux/xen.gz": "x\n",
            "isolinux/vmlinuz": "k\n", "isolinux/initrd.img": "i\n"})
        rows = self.rows(self.entries(iso))
        self.assertEqual([(x["title"], x["mark"]) for x in rows], [("Install Qubes", "[X]")])

    def test_generic_words_carry_the_uuid(self):
        iso = self.family_iso("u.iso", "root=/dev/ram0", "/k/vmlinuz")
        rows = self.rows(self.entries(iso, "--uuid", "1234-ABCD"))
        self.assertIn("iso=1234-ABCD/isos/live.iso", rows[0]["cmdline"])

    def test_iso_path_with_space_is_x(self):
        iso = self.make_iso()
        rows = self.rows(self.entries(iso, path="/my isos/live.iso"))
        self.assertTrue(all(x["mark"] == "[X]" for x in rows))

    def test_add_and_remove(self):
        iso = self.make_iso()
        rows = self.rows(self.entries(iso, "--add", "nomodeset", "--remove", "quiet splash"))
        for x in rows:
            self.assertIn("nomodeset", x["cmdline"])
            self.assertNotIn("quiet", x["cmdline"])
            self.assertNotIn("splash", x["cmdline"])

    def overrides(self, add=None, remove=None, signer=None):
        d = os.path.join(self.media, "kexec_iso", "isos", "live.iso")
        os.makedirs(d, exist_ok=True)
        listing = b""
        for name, text in (("kexec_iso_add.txt", add), ("kexec_iso_remove.txt", remove)):
            if text is not None:
                with open(os.path.join(d, name), "w") as f:
                    f.write(text + "\n")
                with open(os.path.join(d, name), "rb") as f:
                    listing += f"{hashlib.sha256(f.read()).hexdigest()}  {name}\n".encode()
        if signer:
            lp = os.path.join(self.tmp, "listing")
            with open(lp, "wb") as f:
                f.write(listing)
            sign(signer, lp, os.path.join(d, "kexec.sig"), armor=True)
        return d

    def test_signed_overrides_replace_the_words(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".sig")
        d = self.overrides(add="findiso=${ISO_PATH} iso-uuid=$DEV_UUID custom=1",
                           remove="quiet", signer=Keys.distro)
        rows = self.rows(self.entries(iso, "--keyring", Keys.keyring, "--overrides", d,
                                      "--uuid", "1234-ABCD"))
        for x in rows:
            self.assertIn("findiso=/isos/live.iso", x["cmdline"])
            self.assertIn("iso-uuid=1234-ABCD", x["cmdline"])
            self.assertIn("custom=1", x["cmdline"])
            self.assertNotIn("quiet", x["cmdline"])
            self.assertIn("kexec_iso_add.txt", x["why"])

    def test_unsigned_or_foreign_overrides_are_ignored(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".sig")
        for signer in (None, Keys.other):
            with self.subTest(signer=signer):
                d = self.overrides(add="custom=1", remove="quiet", signer=signer)
                r = self.entries(iso, "--keyring", Keys.keyring, "--overrides", d)
                self.assertIn("ISO overrides", r.stderr)
                rows = self.rows(r)
                self.assertIn("quiet", rows[0]["cmdline"])  # the GRUB entry has it
                for x in rows:
                    self.assertNotIn("custom=1", x["cmdline"])
                    self.assertIn("findiso=/isos/live.iso", x["cmdline"])
                shutil.rmtree(d)

    def test_overrides_with_a_shell_expansion_are_refused(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".sig")
        d = self.overrides(add="findiso=$(reboot)", signer=Keys.distro)
        r = self.entries(iso, "--keyring", Keys.keyring, "--overrides", d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("shell expansion", r.stderr)

    def test_keyring_refuses_unsigned(self):
        iso = self.make_iso()
        r = self.entries(iso, "--keyring", Keys.keyring)
        self.assertEqual(r.returncode, 1)
        self.assertIn("NO SIGNATURE", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_keyring_signed_lists(self):
        iso = self.make_iso()
        sign(Keys.distro, iso, iso + ".sig")
        r = self.entries(iso, "--keyring", Keys.keyring)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("state: VERIFIED", r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 2)

    def test_truncated_image_fails_naming_it(self):
        iso = self.make_iso()
        os.truncate(iso, 16 * 2048 + 100)
        r = self.entries(iso)
        self.assertEqual(r.returncode, 1)
        self.assertIn("live.iso", r.stderr)

    def test_not_an_iso(self):
        path = os.path.join(self.media, "x.iso")
        with open(path, "wb") as f:
            f.write(os.urandom(64 * 1024))
        r = self.entries(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a readable ISO 9660 image", r.stderr)


class Kexec(IsoCase):
    """heads iso kexec --dry-run: the plan's files are the image's bytes."""

    def plan(self, iso, *args):
        return run("iso", "kexec", "--iso", iso, "--device", DEV, "--iso-path", "/isos/live.iso",
                   "--dry-run", *args)

    def fields(self, out):
        d = {}
        for l in out.splitlines():
            k, _, v = l.partition(": ")
            d.setdefault(k, v)
        return d

    def test_unverified_plan(self):
        iso = self.make_iso()
        r = self.plan(iso, "--entry", "1", "--board-add", "console=ttyS0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("UNVERIFIED"))
        f = self.fields(r.stdout)
        self.assertEqual(f["verified"], "NO (UNVERIFIED)")
        self.assertEqual(f["kernel-sha256"].split()[0],
                         hashlib.sha256(b"kernel placeholder\n").hexdigest())
        self.assertEqual(f["initrd-sha256"].split()[0],
                         hashlib.sha256(b"initrd placeholder\n").hexdigest())
        self.assertEqual(f["cmdline"].split(),
                         ["findiso=/isos/live.iso", "boot=live", "components", "quiet", "splash",
                          "console=ttyS0"])

    def test_verified_plan(self):
        iso = self.make_iso(pad_mib=3)
        sign(Keys.distro, iso, iso + ".sig")
        r = self.plan(iso, "--entry", "2", "--keyring", Keys.keyring)
        self.assertEqual(r.returncode, 0, r.stderr)
        f = self.fields(r.stdout)
        self.assertEqual(f["verified"], "yes")
        self.assertEqual(f["kernel-sha256"].split()[0],
                         hashlib.sha256(b"kernel placeholder\n").hexdigest())

    def test_unsigned_with_keyring_loads_nothing(self):
        iso = self.make_iso()
        r = self.plan(iso, "--entry", "1", "--keyring", Keys.keyring)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("kernel-sha256", r.stdout)

    def test_entry_out_of_range_and_xen(self):
        iso = self.make_iso()
        self.assertEqual(self.plan(iso, "--entry", "3").returncode, 1)
        self.assertEqual(self.plan(iso).returncode, 2)
        q = self.make_iso("qubes.iso", files={
            "isolinux/isolinux.cfg": "LABEL q\n  KERNEL mboot.c32\n"
                                     "  APPEND xen.gz --- vmlinuz --- initrd.img\n",
            "isolinux/mboot.c32": "m\n", "isolinux/xen.gz": "x\n",
            "isolinux/vmlinuz": "k\n", "isolinux/initrd.img": "i\n"})
        r = self.plan(q, "--entry", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("only Linux entries", r.stderr)


class Fixtures(IsoCase):
    """The real ISO roots of tests/data/bootcfg, made into ISO images: the
    entries read from the image equal `heads entries` on the directory (the
    kernel's file system), apart from the words that find the ISO."""
    FAMILIES = {
        "ubuntu-25.10-desktop-iso-grub": ("casper", "[OK]"),
        "debian-live-13.4-iso-grub": ("live-boot", "[OK]"),
        "debian9-live-iso-grub-isolinux": ("live-boot", "[OK]"),
        "fedora-ws-43-live-iso-grub": ("dracut", "[OK]"),
        "fedora27-live-iso-grub-isolinux": ("dracut", "[OK]"),
        "opensuse-tw-live-iso-grub": ("dracut", "[OK]"),
        "archlinux-2026.03-iso-loopback": ("archiso", "[OK]"),
        "nixos-25.11-iso-grub": ("nixos", "[OK]"),
        "tails-2.x-efi-grub": ("tails", "[~]"),
        "centos7-dvd-iso-efi-grub": ("dracut", "[~]"),
        "qubes32-install-isolinux-mboot": ("unknown", "[X]"),
        "debian10-netinst-isolinux-include": ("unknown", "[X]"),
    }

    def test_fixture_isos(self):
        for case, (fam, mark) in sorted(self.FAMILIES.items()):
            with self.subTest(case=case):
                boot = os.path.join(FIXTURES, case, "boot")
                iso = os.path.join(self.media, case + ".iso")
                mkiso(boot, iso, "-R", "-J")
                d = run("entries", "--boot", boot, "--json")
                self.assertEqual(d.returncode, 0, d.stderr)
                want = json.loads(d.stdout)
                r = self.entries(iso, fmt="--json")
                self.assertEqual(r.returncode, 0, r.stderr)
                got = json.loads(r.stdout)
                self.assertEqual([(e["title"], e["kernel"], e["initrd"]) for e in got],
                                 [(e["title"], e["kernel"], e["initrd"]) for e in want])
                rows = self.rows(self.entries(iso))
                linux = [x for x, e in zip(rows, got) if e["kind"] == "linux" and
                         "memtest" not in e["kernel"]]
                self.assertTrue(linux or mark == "[X]", rows)
                if linux:
                    self.assertEqual(linux[0]["family"], fam, linux[0])
                    self.assertEqual(linux[0]["mark"], mark, linux[0])
                # every original word survives unless it held '$' or was emptied
                for x, e, w in zip(rows, got, want):
                    orig = [t for t in w["cmdline"].split()
                            if "$" not in t and not t.endswith("=") and t != "---"]
                    for t in orig:
                        self.assertIn(t, x["cmdline"], (case, x["title"]))


if __name__ == "__main__":
    main()
