"""heads luks: multi-container DRK/DUK/passphrase/measure on real LUKS
images and loop devices (suite 'luks', root)."""
import hashlib
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import TempDirTest, main  # noqa: E402
from test_luks_common import (ARGON_CHEAP, Loops, add_key, dump, gpt_partitions,  # noqa: E402
                              heads, luks_format, luks_uuid, opens, sh, used_slots)

DRK = b"correct horse battery"
OTHER = b"another passphrase"
NEW = b"brand new recovery key"
ROOT = os.geteuid() == 0


def read(path):
    with open(path, "rb") as f:
        return f.read()


@unittest.skipUnless(ROOT, "needs root for loop devices")
class MultiContainer(TempDirTest):
    """3 x LUKS2 on one GPT disk image, one device per partition."""

    def setUp(self):
        super().setUp()
        self.loops = Loops()
        self.addCleanup(self.loops.detach_all)
        self.devs, self.whole = gpt_partitions(self.loops, os.path.join(self.tmp, "disk.img"),
                                               3, 20)
        for d in self.devs:
            luks_format(d, DRK)
        self.duk = os.path.join(self.tmp, "duk.key")
        with open(self.duk, "wb") as f:
            f.write(os.urandom(128))

    def test_list_shows_uuid_version_slots_parent(self):
        r = heads("luks", "list", *self.devs)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3)
        for d, line in zip(self.devs, lines):
            f = line.split("\t")
            self.assertEqual(f[0], d)
            self.assertEqual(f[1], luks_uuid(d))
            self.assertEqual(f[2], "LUKS2")
            self.assertEqual(f[3], "slots=0")
            parent = os.path.basename(self.whole) if self.whole else os.path.basename(d)
            self.assertEqual(f[4], "parent=" + parent)

    def test_discovery_finds_every_container(self):
        # no DEVICE: libblkid discovery over every block device (other
        # containers on this host may be listed too)
        r = heads("luks", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = {l.split("\t")[0]: l for l in r.stdout.splitlines()}
        for d in self.devs:
            self.assertIn(d, listed)
            self.assertIn(luks_uuid(d), listed[d])

    def test_check_drk_all_ok_then_one_wrong(self):
        r = heads("luks", "check-drk", *self.devs, fds={"--drk-fd": DRK + b"\n"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [f"{d}: ok slot 0" for d in self.devs])
        # the middle container gets another DRK
        luks_format(self.devs[1], OTHER)
        r = heads("luks", "check-drk", *self.devs, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.splitlines(), [
            f"{self.devs[0]}: ok slot 0", f"{self.devs[1]}: fails",
            f"{self.devs[2]}: ok slot 0"])
        # add-duk refuses to change anything when one container fails
        r = heads("luks", "add-duk", "--duk-file", self.duk, *self.devs, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 1)
        for d in self.devs:
            self.assertNotIn(31, used_slots(d))

    def test_add_duk_slot31_then_change_passphrase(self):
        r = heads("luks", "add-duk", "--duk-file", self.duk, *self.devs, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(),
                         [f"{d}: duk slot 31 drk slot 0" for d in self.devs])
        duk = read(self.duk)
        for d in self.devs:
            self.assertEqual(used_slots(d), [0, 31])
            self.assertTrue(opens(d, duk, 31))
            self.assertIn("pbkdf2", dump(d).split("31: luks2")[1].split("Digest ID")[0])
            self.assertIn("sha512", dump(d).split("31: luks2")[1].split("Digest ID")[0])

        r = heads("luks", "change-passphrase", *self.devs,
                  fds={"--drk-fd": DRK, "--new-fd": NEW})
        self.assertEqual(r.returncode, 0, r.stderr)
        for d in self.devs:
            self.assertTrue(opens(d, NEW))
            self.assertFalse(opens(d, DRK))
            self.assertTrue(opens(d, duk, 31))
        # again: nothing left to do, reported per device
        r = heads("luks", "change-passphrase", *self.devs,
                  fds={"--drk-fd": DRK, "--new-fd": NEW})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(all("already changed" in l for l in r.stdout.splitlines()))

        # re-adding the DUK after the DRK moved: the old DUK slot is
        # replaced, the moved DRK slot kept
        r = heads("luks", "add-duk", "--duk-file", self.duk, *self.devs, fds={"--drk-fd": NEW})
        self.assertEqual(r.returncode, 0, r.stderr)
        for d in self.devs:
            self.assertTrue(opens(d, NEW))
            self.assertTrue(opens(d, duk, 31))

    def test_measure_ordered_by_uuid_reference_format(self):
        out = os.path.join(self.tmp, "luksDump.txt")
        r = heads("luks", "measure", "--output", out, "--tmpdir", self.tmp, *self.devs)
        self.assertEqual(r.returncode, 0, r.stderr)
        listing = read(out).decode()
        self.assertEqual(listing, r.stdout)
        ordered = sorted(self.devs, key=luks_uuid)
        expect = ""
        for d in ordered:
            bk = os.path.join(self.tmp, "ref-" + os.path.basename(d))
            sh("cryptsetup", "luksHeaderBackup", d, "--header-backup-file", bk)
            h = hashlib.sha256(read(bk)).hexdigest()
            os.unlink(bk)
            expect += f"{h}  {self.tmp}/lukshdr-{d.replace('/', '_')}\n"
        self.assertEqual(listing, expect)
        # the backups themselves are gone
        self.assertEqual([f for f in os.listdir(self.tmp) if f.startswith("lukshdr-")], [])
        # same order whatever the argument order
        r2 = heads("luks", "measure", "--output", out, "--tmpdir", self.tmp,
                   *reversed(self.devs))
        self.assertEqual(r2.stdout, listing)

    def test_mixed_versions_refused(self):
        luks_format(self.devs[2], DRK, version=1)
        r = heads("luks", "add-duk", "--duk-file", self.duk, *self.devs, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 2)
        self.assertIn("LUKS versions differ", r.stderr)
        self.assertIn("is LUKS1", r.stderr)
        for d in self.devs[:2]:
            self.assertEqual(used_slots(d), [0])

    def test_devices_file_selection(self):
        f = self.write("kexec_key_devices.txt",
                       "".join(f"{d} {luks_uuid(d)}\n" for d in self.devs))
        r = heads("luks", "check-drk", "--devices-file", f, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 3)
        bad = self.write("bad.txt", f"{self.devs[0]} 00000000-0000-0000-0000-000000000000\n")
        r = heads("luks", "check-drk", "--devices-file", bad, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 1)
        self.assertIn("differs", r.stderr)
        bad = self.write("bad2.txt", "relative/dev\n")
        r = heads("luks", "check-drk", "--devices-file", bad, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 1", r.stderr)


@unittest.skipUnless(os.environ.get("WITH_SWTPM"), "needs the with-swtpm helper")
class MeasurePcr6(TempDirTest):
    def test_extend_pcr6_with_the_listing(self):
        imgs = []
        for i in range(2):
            p = os.path.join(self.tmp, f"m{i}.img")
            luks_format(p, DRK, size=20 << 20)
            imgs.append(p)
        out = os.path.join(self.tmp, "luksDump.txt")
        trace = os.path.join(self.tmp, "pcr6.txt")
        # inside one swtpm lifetime: measure, then read PCR 6 with tpm2-tools
        script = (
            "import os, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:4] + ['--output', sys.argv[4], '--tmpdir', "
            "os.path.dirname(sys.argv[4])] + sys.argv[6:])\n"
            "if r.returncode: sys.exit(r.returncode)\n"
            "env = dict(os.environ, TPM2TOOLS_TCTI=os.environ['HEADS_TCTI'])\n"
            "p = subprocess.run(['tpm2_pcrread', 'sha256:6'], env=env, capture_output=True,"
            " text=True, check=True)\n"
            "open(sys.argv[5], 'w').write(p.stdout)\n")
        r = subprocess.run([os.environ["WITH_SWTPM"], "--", sys.executable, "-c", script,
                            os.environ.get("HEADS", "heads"), "luks", "measure", out, trace,
                            "--extend", *imgs], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        listing = read(out)
        expect = hashlib.sha256(b"\0" * 32 + hashlib.sha256(listing).digest()).hexdigest()
        self.assertIn("0x" + expect.upper(), read(trace).decode())


class SlotRules(TempDirTest):
    """DUK slot rules on image files (no root needed)."""

    def duk(self):
        p = os.path.join(self.tmp, "duk.key")
        with open(p, "wb") as f:
            f.write(os.urandom(128))
        return p

    def test_drk_in_slot_31_duk_goes_to_highest_free(self):
        img = os.path.join(self.tmp, "a.img")
        luks_format(img, DRK, slot=31, size=20 << 20)
        add_key(img, DRK, OTHER, 0)       # a user slot: kept without confirmation
        add_key(img, DRK, b"legacy duk", 1)  # legacy DUK slot: wiped silently
        r = heads("luks", "add-duk", "--duk-file", self.duk(), img, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{img}: duk slot 30 drk slot 31\n")
        self.assertEqual(used_slots(img), [0, 30, 31])
        self.assertTrue(opens(img, DRK, 31))
        self.assertTrue(opens(img, OTHER, 0))
        self.assertIn("not wiping", r.stderr)
        # previous DUK slot 30 is replaced silently next time; --yes wipes slot 0
        r = heads("luks", "add-duk", "--duk-file", self.duk(), "--prev-duk-slot", "30",
                  "--yes", img, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(used_slots(img), [30, 31])
        self.assertTrue(opens(img, DRK, 31))

    def test_luks1_all_slots_full(self):
        img = os.path.join(self.tmp, "l1.img")
        luks_format(img, DRK, version=1, slot=7, size=20 << 20)
        for s in range(7):
            add_key(img, DRK, b"user key %d" % s, s)
        self.assertEqual(used_slots(img), list(range(8)))
        # crash-safe change needs a free slot: refused, nothing changed
        r = heads("luks", "change-passphrase", img, fds={"--drk-fd": DRK, "--new-fd": NEW})
        self.assertEqual(r.returncode, 1)
        self.assertIn("no free key slot", r.stderr)
        self.assertTrue(opens(img, DRK, 7))
        # DUK: slot 7 holds the DRK -> slot 1 (wiped silently) is the
        # highest free slot; the others are kept without confirmation
        r = heads("luks", "add-duk", "--duk-file", self.duk(), img, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{img}: duk slot 1 drk slot 7\n")
        self.assertTrue(opens(img, DRK, 7))
        self.assertEqual(used_slots(img), list(range(8)))
        # with --yes every slot but the DRK is wiped; DUK in the highest free (6)
        r = heads("luks", "add-duk", "--duk-file", self.duk(), "--yes", img,
                  fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{img}: duk slot 6 drk slot 7\n")
        self.assertEqual(used_slots(img), [6, 7])

    def test_duk_must_be_128_bytes(self):
        img = os.path.join(self.tmp, "a.img")
        luks_format(img, DRK, size=20 << 20)
        short = self.write("short.key", "x" * 127)
        r = heads("luks", "add-duk", "--duk-file", short, img, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 2)
        self.assertEqual(used_slots(img), [0])

    def test_argon2_guard(self):
        img = os.path.join(self.tmp, "argon.img")
        luks_format(img, DRK, size=20 << 20,
                    pbkdf=["--pbkdf", "argon2id", "--pbkdf-memory", "65536",
                           "--pbkdf-force-iterations", "4", "--pbkdf-parallel", "1"])
        r = heads("luks", "change-passphrase", "--unlock-ram-mib", "100", img,
                  fds={"--drk-fd": DRK, "--new-fd": NEW})
        self.assertEqual(r.returncode, 1)
        self.assertIn("Argon2 memory cost 65536 KiB exceeds half", r.stderr)
        self.assertTrue(opens(img, DRK))
        self.assertFalse(opens(img, NEW))
        r = heads("luks", "change-passphrase", "--unlock-ram-mib", "200", img,
                  fds={"--drk-fd": DRK, "--new-fd": NEW})
        self.assertEqual(r.returncode, 0, r.stderr)
        d = dump(img)
        self.assertIn("argon2id", d)
        self.assertIn("Memory:     65536", d)
        self.assertTrue(opens(img, NEW))

    def test_new_passphrase_too_short_and_no_tty(self):
        img = os.path.join(self.tmp, "a.img")
        luks_format(img, DRK, size=20 << 20)
        r = heads("luks", "change-passphrase", img, fds={"--drk-fd": DRK, "--new-fd": b"short"})
        self.assertEqual(r.returncode, 2)
        r = heads("luks", "check-drk", img)  # no fd, no terminal
        self.assertEqual(r.returncode, 1)
        self.assertIn("no terminal", r.stderr)
        self.assertTrue(opens(img, DRK))

    def test_not_luks_and_usage(self):
        junk = self.write("junk.img", "x" * 4096)
        r = heads("luks", "list", junk)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{junk}: not a LUKS container", r.stderr)
        r = heads("luks", "add-duk", junk, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([os.environ.get("HEADS", "heads"), "luks", "check-drk",
                            "--drk-fd", "99", junk], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--drk-fd", r.stderr)


if __name__ == "__main__":
    main()
