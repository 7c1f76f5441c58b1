"""heads luks reencrypt on LUKS1: convert to LUKS2, crash-safe LUKS2
reencryption, rebuild as LUKS1. Data checked with the independent AES-XTS
oracle (no device-mapper); SIGKILL across the three phases; torn header
writes inside both conversions restored from the tmpfs backups. Suite 'luks'."""
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import HEADS, TempDirTest, main  # noqa: E402
from test_luks_common import (needs_root, reencrypt_killed_at, add_key, dump, encrypt_in_place, heads,  # noqa: E402
                              luks_uuid, opens, oracle_decrypt, oracle_encrypt, sh, used_slots,
                              volume_key)

DRK = b"luks1 recovery key"
DATA = 8 << 20
SEED = int(os.environ.get("LUKS_CRASH_SEED", str(int(time.time()))))
# PBKDF2 iterations high enough that each key-slot operation of the
# conversions takes tens of ms, so kill points can land in them.
SLOW = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "100000"]
KILLS_PER_PHASE = 2


def read(path):
    with open(path, "rb") as f:
        return f.read()


def version(path):
    return int(re.search(r"^Version:\s+(\d)", dump(path), re.M).group(1))


def drk_slot_luks1(path):
    return [s for s in used_slots(path) if opens(path, DRK, s)]


@needs_root
class Luks1Test(TempDirTest):
    DATA = DATA
    SIZE = 24 << 20

    def setUp(self):
        super().setUp()
        self.bk = os.path.join(self.tmp, "bk")  # --tmpdir: the header backups
        os.mkdir(self.bk)
        self.data = random.Random(SEED).randbytes(self.DATA)

    def luks1(self, name, slot=None, pbkdf=None, hash_="sha256", size=None):
        size = size or self.SIZE
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.truncate(size)
        args = ["cryptsetup", "luksFormat", "-q", "--type", "luks1", "--hash", hash_,
                *(pbkdf or ["--pbkdf-force-iterations", "1000"]), "--key-file", "-"]
        if slot is not None:
            args += ["--key-slot", str(slot)]
        sh(*args, p, input=DRK)
        oracle_encrypt(p, DRK, self.data)
        self.assertEqual(oracle_decrypt(p, DRK, self.DATA), self.data)
        return p

    def reencrypt(self, *devs, fast=False):
        return heads("luks", "reencrypt", "--tmpdir", self.bk, *(["--fast"] if fast else []),
                     *devs, fds={"--drk-fd": DRK})

    def assert_done(self, img, slot, first_key, msg=""):
        self.assertEqual(version(img), 1, msg)
        self.assertEqual(drk_slot_luks1(img), [slot], msg)
        self.assertNotEqual(volume_key(img, DRK), first_key, msg)
        self.assertEqual(oracle_decrypt(img, DRK, self.DATA), self.data, msg + ": data differs")
        self.assertEqual(os.listdir(self.bk), [], msg + ": backups left")


class Luks1Reencrypt(Luks1Test):
    def test_reencrypt_keeps_luks1_uuid_slot_hash_iterations(self):
        img = self.luks1("a.img", slot=2, hash_="sha512",
                         pbkdf=["--pbkdf-force-iterations", "4321"])
        add_key(img, DRK, b"d" * 128, 7, pbkdf=["--pbkdf-force-iterations", "1000"])  # DUK
        add_key(img, DRK, b"other passphrase", 4, pbkdf=["--pbkdf-force-iterations", "1000"])
        uuid, k0 = luks_uuid(img), volume_key(img, DRK)
        r = self.reencrypt(img)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{img}: reencrypted, drk slot 2\n")
        self.assertIn("writing the LUKS1 header", r.stderr)
        self.assertIn("MiB/s", r.stderr)
        self.assert_done(img, 2, k0)
        d = dump(img)
        self.assertEqual(luks_uuid(img), uuid)
        self.assertRegex(d, r"Hash spec:\s+sha512")
        self.assertRegex(d, r"Payload offset:\s+4096")
        self.assertRegex(d, r"Key Slot 2: ENABLED\n\s+Iterations:\s+4321\n")
        self.assertEqual(used_slots(img), [2])  # DUK and the other slot dropped
        self.assertFalse(opens(img, b"d" * 128))
        # cryptsetup's own LUKS1 code reads it: convertible both ways again
        l = heads("luks", "list", img)
        self.assertRegex(l.stdout, r"\tLUKS1\tslots=2\t")
        self.assertNotIn("PENDING", l.stdout)

    def test_fast_and_mixed_set_keep_their_versions(self):
        a = self.luks1("a.img")
        b = os.path.join(self.tmp, "b.img")
        encrypt_in_place(b, self.data, DRK)
        ka, kb = volume_key(a, DRK), volume_key(b, DRK)
        r = self.reencrypt(a, b, fast=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("DO NOT POWER DOWN", r.stderr)
        self.assert_done(a, 0, ka)
        self.assertEqual(version(b), 2)
        self.assertNotEqual(volume_key(b, DRK), kb)
        self.assertEqual(oracle_decrypt(b, DRK, self.DATA), self.data)
        # each kept its version, so the DUK rule (one version per set) still
        # refuses this set exactly as before the reencryption
        duk = self.write("duk", os.urandom(128), "wb")
        r = heads("luks", "add-duk", "--duk-file", duk, a, b, fds={"--drk-fd": DRK})
        self.assertEqual(r.returncode, 2)
        self.assertIn("LUKS versions differ", r.stderr)

    def test_full_header_refused_untouched(self):
        img = self.luks1("f.img")
        for s in range(1, 7):
            add_key(img, DRK, b"k%d" % s, s, pbkdf=["--pbkdf-force-iterations", "1000"])
        before = hashlib.sha256(read(img)).hexdigest()
        r = self.reencrypt(img)
        self.assertEqual(r.returncode, 1)
        self.assertIn("needs 2 free key slots", r.stderr)
        self.assertEqual(hashlib.sha256(read(img)).hexdigest(), before)
        self.assertEqual(os.listdir(self.bk), [])

    def test_wrong_drk_changes_nothing(self):
        img = self.luks1("w.img")
        before = hashlib.sha256(read(img)).hexdigest()
        r = heads("luks", "reencrypt", "--tmpdir", self.bk, img, fds={"--drk-fd": b"wrong"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not open", r.stderr)
        self.assertEqual(hashlib.sha256(read(img)).hexdigest(), before)
        self.assertEqual(os.listdir(self.bk), [])


MARKERS = ("converting to LUKS2", "MiB/s", "building the LUKS1 header")


def start(img, bk):
    rfd, w = os.pipe()
    os.write(w, DRK)
    os.close(w)
    p = subprocess.Popen([HEADS, "luks", "reencrypt", "--tmpdir", bk, "--drk-fd", str(rfd),
                          img], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         pass_fds=[rfd], start_new_session=True)
    os.close(rfd)
    return p


class Luks1Killed(Luks1Test):
    def phase_durations(self, img):
        """One full run: seconds from each marker to the next (the
        conversion to LUKS2 + reencryption start, the data, the
        conversion back)."""
        p = start(img, self.bk)
        marks = {}
        t0 = time.monotonic()
        for line in p.stderr:
            for i, m in enumerate(MARKERS):
                if m in line:
                    marks.setdefault(i, time.monotonic() - t0)
        p.stderr.close()
        self.assertEqual(p.wait(), 0)
        marks[3] = time.monotonic() - t0
        self.assertEqual(sorted(marks), [0, 1, 2, 3], marks)
        return [marks[i + 1] - marks[i] for i in range(3)]

    def test_sigkill_in_every_phase_then_resume(self):
        rnd = random.Random(SEED + 7)
        img = self.luks1("k.img", slot=1, pbkdf=SLOW)
        dur = self.phase_durations(img)
        print(f"phase durations: {[round(d, 3) for d in dur]}", file=sys.stderr)
        seen, kills = {}, 0
        for phase in range(3):
            for i in range(KILLS_PER_PHASE):
                key = volume_key(img, DRK)
                # SIGKILL a random time after the phase's marker line
                delay = rnd.uniform(0, dur[phase])
                p = start(img, self.bk)
                for line in p.stderr:
                    if MARKERS[phase] in line:
                        time.sleep(delay)
                        break
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
                    kills += 1
                p.stderr.close()
                p.wait()
                what = f"seed {SEED} phase {phase} kill {i} delay {delay:.3f}"
                lst = heads("luks", "list", img)  # the state left, listed clearly
                state = ("LUKS2, LUKS1-PENDING" if "LUKS1-PENDING" in lst.stdout else
                         "LUKS1" if "\tLUKS1\t" in lst.stdout else
                         f"unreadable ({lst.stderr.strip()})")
                if "reencryption=" in lst.stdout:
                    state += ", " + re.search(r"reencryption=\w+", lst.stdout).group(0)
                seen[state] = seen.get(state, 0) + 1
                r = self.reencrypt(img)
                self.assertEqual(r.returncode, 0, f"{what}: {r.stdout}{r.stderr}")
                self.assertEqual(version(img), 1, what)
                self.assertEqual(drk_slot_luks1(img), [1], what)
                self.assertNotEqual(volume_key(img, DRK), key, what)
                self.assertEqual(oracle_decrypt(img, DRK, self.DATA), self.data, f"{what}: data")
                self.assertEqual(os.listdir(self.bk), [], what)
                print(f"{what}: left {state}; next run resumed {'(resumed)' in r.stdout}",
                      file=sys.stderr)
        print(f"kills {kills}, states left {seen}", file=sys.stderr)
        # SIGKILLs from outside at random times (the sweep below covers
        # every header write); most must have hit a running conversion
        self.assertGreaterEqual(kills, 3)
        self.assertGreaterEqual(sum(v for k, v in seen.items() if "PENDING" in k), 2)


@unittest.skipUnless(shutil.which("strace"), "needs strace")
class Luks1KillSweep(Luks1Test):
    """SIGKILL delivered at the N-th fsync (every 2nd) and the N-th write
    (every 10th) of a whole run, by strace's syscall fault injection: every
    header write boundary of the conversion, each hotzone, libcryptsetup's
    teardown and the conversion back. The next run must finish it."""
    DATA = 4 << 20
    SIZE = 6 << 20  # 4 MiB of data: four 1 MiB hotzones

    def sweep(self, syscall, step):
        img = self.luks1("s.img")
        points = 0
        n = 1
        while True:
            key = volume_key(img, DRK)
            killed, p = reencrypt_killed_at(img, DRK, syscall, n, self.bk)
            if not killed:
                # not killed: the run has fewer such calls, swept them all
                self.assertEqual(p.returncode, 0, f"{syscall} #{n}: {p.stdout}{p.stderr}")
                break
            self.assertLess(n, 1000, "the sweep does not end")
            what = f"SIGKILL at {syscall} #{n}"
            lst = heads("luks", "list", img)
            r = self.reencrypt(img)
            self.assertEqual(r.returncode, 0, f"{what}: left {lst.stdout}{lst.stderr}: "
                             f"{r.stdout}{r.stderr}")
            self.assertEqual(version(img), 1, what)
            self.assertEqual(drk_slot_luks1(img), [0], what)
            self.assertNotEqual(volume_key(img, DRK), key, what)
            self.assertEqual(oracle_decrypt(img, DRK, self.DATA), self.data, f"{what}: data")
            self.assertEqual(os.listdir(self.bk), [], what)
            points += 1
            n += step
        print(f"{syscall}: {points} kill points, each resumed with the data intact",
              file=sys.stderr)
        return points

    def test_sigkill_at_every_second_fsync(self):
        self.assertGreaterEqual(self.sweep("fsync", 2), 15)

    def test_sigkill_at_every_tenth_write(self):
        self.assertGreaterEqual(self.sweep("write", 10), 10)


class Luks1TornHeader(Luks1Test):
    """A crash inside crypt_convert or the final LUKS1 header write leaves a
    torn header: built here from the real before/after images, with the
    backup the interrupted run would have left in --tmpdir."""

    def backup_name(self, img, what):
        return os.path.join(self.bk, "heads-luks1-" + img.replace("/", "_") + "." + what)

    def tear(self, img, new_img, start, end):
        with open(new_img, "rb") as f:
            f.seek(start)
            chunk = f.read(end - start)
        with open(img, "r+b") as f:
            f.seek(start)
            f.write(chunk)

    def test_torn_conversion_to_luks2_restored(self):
        for name, (start, end) in {"areas moved, LUKS1 header left": (32768, 2 << 20),
                                   "primary LUKS2 header half written": (0, 8192)}.items():
            img = self.luks1("t.img", slot=3)
            k0 = volume_key(img, DRK)
            sh("cryptsetup", "luksHeaderBackup", img, "--header-backup-file",
               self.backup_name(img, "luks1"))
            conv = os.path.join(self.tmp, "conv.img")
            shutil.copyfile(img, conv)
            sh("cryptsetup", "convert", "-q", "--type", "luks2", conv)
            self.tear(img, conv, start, end)
            self.assertFalse(opens(img, DRK), name)  # really torn
            r = self.reencrypt(img)
            self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
            self.assertIn("restoring the backup", r.stderr)
            self.assert_done(img, 3, k0, name)
            os.unlink(img)

    def test_torn_conversion_back_to_luks1_restored(self):
        img = self.luks1("t.img", slot=0)
        k0 = volume_key(img, DRK)
        # the state before the conversion back: reencrypted LUKS2 with the
        # marker (made here by cryptsetup from a finished run's result)
        r = self.reencrypt(img)
        self.assertEqual(r.returncode, 0, r.stderr)
        k1 = volume_key(img, DRK)
        final = os.path.join(self.tmp, "final.img")
        shutil.copyfile(img, final)
        sh("cryptsetup", "convert", "-q", "--type", "luks2", img)
        # as libcryptsetup leaves it: the DRK moved to another slot
        add_key(img, DRK, DRK, 1, pbkdf=["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"])
        sh("cryptsetup", "luksKillSlot", "-q", img, "0")
        sh("cryptsetup", "config", img, "--label", "heads: LUKS1, DRK key slot 0",
           "--subsystem", "heads-luks1-reencrypt")
        self.assertIn("LUKS1-PENDING", heads("luks", "list", img).stdout)
        sh("cryptsetup", "luksHeaderBackup", img, "--header-backup-file",
           self.backup_name(img, "luks2"))
        # the LUKS1 header write torn after its first 4 KiB (the phdr, no
        # key material)
        self.tear(img, final, 0, 4096)
        self.assertEqual(version(img), 1)
        self.assertFalse(opens(img, DRK))
        r = self.reencrypt(img)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("restoring the backup", r.stderr)
        self.assertIn("(resumed)", r.stdout)
        self.assertIn("data already reencrypted", r.stderr)
        self.assertEqual(version(img), 1)
        self.assertEqual(drk_slot_luks1(img), [0])
        self.assertEqual(volume_key(img, DRK), k1)  # not reencrypted a second time
        self.assertNotEqual(k1, k0)
        self.assertEqual(oracle_decrypt(img, DRK, self.DATA), self.data)
        self.assertEqual(os.listdir(self.bk), [])


if __name__ == "__main__":
    print(f"LUKS_CRASH_SEED={SEED}", file=sys.stderr)
    main()
