"""heads luks: SIGKILL at random points during passphrase change and
reencryption; every container must still open, data verified with an
independent AES-XTS oracle (no device-mapper). Suite 'luks'."""
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import HEADS, TempDirTest, main  # noqa: E402
from test_luks_common import (TRACED_ENV, needs_root, reencrypt_killed_at, add_key, dump, encrypt_in_place, heads, luks_format,  # noqa: E402
                              opens, oracle_decrypt, spawn, used_slots, volume_key)

ROUNDS = 12
# PBKDF2 with enough iterations that a change takes a few hundred ms, so
# random kill points spread over every step (Argon2 would be slower still).
SLOW_PBKDF = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "10000"]
SEED = int(os.environ.get("LUKS_CRASH_SEED", str(int(time.time()))))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def kill_after(proc, delay):
    """SIGKILL proc after delay seconds; True if it was still running."""
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return running


class ChangePassphraseKilled(TempDirTest):
    def test_sigkill_at_random_points(self):
        rnd = random.Random(SEED)
        imgs = []
        for i in range(3):
            p = os.path.join(self.tmp, f"c{i}.img")
            luks_format(p, b"passphrase-A", size=20 << 20, pbkdf=SLOW_PBKDF)
            imgs.append(p)
        old, new = b"passphrase-A", b"passphrase-B"
        t0 = time.monotonic()
        r = heads("luks", "change-passphrase", *imgs, fds={"--drk-fd": old, "--new-fd": new})
        full = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        old, new = new, old
        interrupted = 0
        for rnd_i in range(ROUNDS):
            delay = rnd.uniform(0, full)
            p = spawn("luks", "change-passphrase", *imgs, fds={"--drk-fd": old, "--new-fd": new})
            if kill_after(p, delay):
                interrupted += 1
            states = []
            for img in imgs:
                o, n = opens(img, old), opens(img, new)
                self.assertTrue(o or n, f"seed {SEED} round {rnd_i} delay {delay:.3f}: "
                                f"{img} opens with neither passphrase")
                states.append("old+new" if o and n else "old" if o else "new")
            # a second run completes every container
            r = heads("luks", "change-passphrase", *imgs, fds={"--drk-fd": old, "--new-fd": new})
            self.assertEqual(r.returncode, 0, f"seed {SEED} round {rnd_i}: {r.stdout}{r.stderr}")
            for img in imgs:
                self.assertTrue(opens(img, new))
                self.assertFalse(opens(img, old))
                # exactly one slot holds the passphrase (a kill inside
                # libcryptsetup's slot destruction can leave a wiped,
                # unusable slot entry behind; it opens with nothing)
                self.assertEqual(len([s for s in used_slots(img) if opens(img, new, s)]), 1)
                self.assertIn("Iterations: 10000", dump(img))  # same PBKDF parameters
            print(f"round {rnd_i}: delay {delay:.3f}/{full:.3f}s states {states}",
                  file=sys.stderr)
            old, new = new, old
        # most kills must have hit a running change, or the test proves nothing
        self.assertGreaterEqual(interrupted, ROUNDS // 2)


@needs_root
class ReencryptKilled(TempDirTest):
    DATA = 8 << 20

    def setUp(self):
        super().setUp()
        self.key = b"recovery key"
        self.data = random.Random(SEED).randbytes(self.DATA)

    def image(self, name):
        p = os.path.join(self.tmp, name)
        encrypt_in_place(p, self.data, self.key)
        self.assertEqual(oracle_decrypt(p, self.key, self.DATA), self.data)
        return p

    def test_sigkill_at_random_points_then_resume(self):
        rnd = random.Random(SEED + 1)
        img = self.image("r.img")
        first_key = volume_key(img, self.key)
        t0 = time.monotonic()
        r = heads("luks", "reencrypt", img, fds={"--drk-fd": self.key})
        full = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(volume_key(img, self.key), first_key)
        self.assertEqual(oracle_decrypt(img, self.key, self.DATA), self.data)
        interrupted = resumed = verified = 0
        attempt = 0
        while verified < ROUNDS:
            attempt += 1
            # Kill points cover the run (the data phase, and often
            # libcryptsetup's teardown: on this small image it is a large
            # part of a run). The teardown windows that session 1 had to
            # tolerate end in a rebuilt header now (ARCHITECTURE.md, luks).
            delay = rnd.uniform(0, 0.8 * full)
            p = spawn("luks", "reencrypt", img, fds={"--drk-fd": self.key})
            if kill_after(p, delay):
                interrupted += 1
            r = heads("luks", "reencrypt", img, fds={"--drk-fd": self.key})
            self.assertEqual(r.returncode, 0,
                             f"seed {SEED} round {attempt} delay {delay:.3f}: {r.stdout}{r.stderr}")
            if "(resumed)" in r.stdout:
                resumed += 1
            d = dump(img)
            self.assertNotIn("reencrypt", d.split("Keyslots:")[1].split("Tokens:")[0])
            self.assertNotIn("Requirements:", d)
            self.assertEqual(oracle_decrypt(img, self.key, self.DATA), self.data,
                             f"seed {SEED} round {attempt} delay {delay:.3f}: data differs")
            verified += 1
            print(f"round {attempt}: delay {delay:.3f}/{full:.3f}s resumed {'(resumed)' in r.stdout}",
                  file=sys.stderr)
        print(f"verified {verified}", file=sys.stderr)
        self.assertGreaterEqual(interrupted, ROUNDS // 2)
        self.assertGreaterEqual(resumed, 1)
        # the oracle can fail: with the first volume key the data is noise
        self.assertNotEqual(oracle_decrypt(img, None, 4096, key=first_key),
                            self.data[:4096])

    def test_sigterm_stops_cleanly_then_resumes(self):
        """SIGTERM during the data phase stops after the hotzone in progress
        ("interrupted", resumable). The signal is delivered by strace at the
        run's 90th fsync (a 44-hotzone run makes about 190, 4 per hotzone
        after the header writes), so it lands mid-run however loaded the
        host is: no timing, no retry."""
        data = random.Random(SEED + 2).randbytes(40 << 20)
        img = os.path.join(self.tmp, "t.img")
        encrypt_in_place(img, data, self.key)
        r, w = os.pipe()
        os.write(w, self.key)
        os.close(w)
        try:
            p = subprocess.run(["strace", "-f", "-o", "/dev/null", "-e", "trace=fsync",
                                "-e", "inject=fsync:signal=SIGTERM:when=90",
                                HEADS, "luks", "reencrypt", "--hotzone-mib", "1",
                                "--drk-fd", str(r), img],
                               capture_output=True, text=True, pass_fds=[r], timeout=300,
                               env=TRACED_ENV)
        finally:
            os.close(r)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(p.stdout, f"{img}: interrupted\n")
        self.assertIn("Requirements:", dump(img))  # stopped mid-run, resumable
        r2 = heads("luks", "reencrypt", img, fds={"--drk-fd": self.key})
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertIn("(resumed)", r2.stdout)
        self.assertEqual(oracle_decrypt(img, self.key, len(data)), data)

    def test_fast_and_several_containers(self):
        a, b = self.image("a.img"), self.image("b.img")
        add_key(a, self.key, b"d" * 128, 31)  # a DUK: not carried over
        ka, kb = volume_key(a, self.key), volume_key(b, self.key)
        r = heads("luks", "reencrypt", "--fast", a, b, fds={"--drk-fd": self.key})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("DO NOT POWER DOWN", r.stderr)
        self.assertIn("MiB/s", r.stderr)  # progress
        self.assertEqual(r.stdout.count("reencrypted"), 2)
        for img, k in ((a, ka), (b, kb)):
            self.assertNotEqual(volume_key(img, self.key), k)
            self.assertEqual(oracle_decrypt(img, self.key, self.DATA), self.data)
            self.assertEqual(len(used_slots(img)), 1)  # only the DRK
        self.assertFalse(opens(a, b"d" * 128))
        self.assertIn("add and seal the Disk Unlock Key again", r.stderr)

    def test_wrong_drk_changes_nothing(self):
        img = self.image("w.img")
        before = hashlib.sha256(read(img)).hexdigest()
        r = heads("luks", "reencrypt", img, fds={"--drk-fd": b"wrong"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not open", r.stderr)
        self.assertEqual(hashlib.sha256(read(img)).hexdigest(), before)


@unittest.skipUnless(shutil.which("strace"), "needs strace")
@needs_root
class ReencryptKillSweep(TempDirTest):
    """LUKS2, 1 MiB hotzones: SIGKILL at every 2nd fsync of a run (strace
    fault injection); the next run must finish with the data intact. This
    covers libcryptsetup's two end-of-run windows (ARCHITECTURE.md, luks):
    resuming a finished-but-not-torn-down run reencrypted the data a second
    time (session 1's code and `cryptsetup reencrypt --resume-only`), and a
    kill while the old key slots were destroyed left it unresumable; both
    now end with a LUKS2 header rebuilt from the new key."""

    def test_sigkill_at_every_second_fsync(self):
        key = b"recovery key"
        data = random.Random(SEED + 3).randbytes(4 << 20)
        img = os.path.join(self.tmp, "s.img")
        bk = os.path.join(self.tmp, "bk")
        os.mkdir(bk)
        encrypt_in_place(img, data, key, reduce_mib=4)
        n, points, rebuilt = 1, 0, 0
        while True:
            k0 = volume_key(img, key)
            killed, p = reencrypt_killed_at(img, key, "fsync", n, bk)
            if not killed:
                # not killed: the run has fewer fsyncs, swept them all
                self.assertEqual(p.returncode, 0, f"fsync #{n}: {p.stdout}{p.stderr}")
                break
            self.assertLess(n, 1000, "the sweep does not end")
            what = f"SIGKILL at fsync #{n}"
            r = heads("luks", "reencrypt", "--tmpdir", bk, img, fds={"--drk-fd": key})
            self.assertEqual(r.returncode, 0, f"{what}: {r.stdout}{r.stderr}")
            if "rebuilding the LUKS2 header" in r.stderr:
                rebuilt += 1
            d = dump(img)
            self.assertNotIn("Requirements:", d, what)
            self.assertEqual(len(used_slots(img)), 1, what)  # only the DRK
            self.assertTrue(opens(img, key), what)
            self.assertNotEqual(volume_key(img, key), k0, what)
            self.assertEqual(oracle_decrypt(img, key, len(data)), data, f"{what}: data")
            self.assertEqual(os.listdir(bk), [], what)
            points += 1
            n += 2
        print(f"{points} kill points resumed with the data intact, {rebuilt} of them at the "
              "end-of-run windows (header rebuilt)", file=sys.stderr)
        self.assertGreaterEqual(points, 10)
        self.assertGreaterEqual(rebuilt, 1)


if __name__ == "__main__":
    print(f"LUKS_CRASH_SEED={SEED}", file=sys.stderr)
    main()
