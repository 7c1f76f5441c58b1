#!/usr/bin/env python3
"""Disk Unlock Key: unlock time and peak memory of opening a LUKS2 container
with the 128-byte DUK, our key slot vs the reference's.

    sudo python3 bench/duk/bench_unlock.py [--runs N] [--out FILE]

Setups (each a 20 MiB LUKS2 image file, DRK in slot 0):
  ours       DUK in slot 31 as `heads duk setup` adds it (luks_add_duk:
             PBKDF2-SHA512, 1000 iterations; key slot priority "prefer"),
             DRK slot 0 with cryptsetup's default argon2id (what a distro
             installer creates)
  ours-no-priority  the same without the "prefer" priority
  reference  DUK added as kexec-seal-key.sh does: `cryptsetup luksAddKey`
             without PBKDF options -> cryptsetup's default argon2id, slot 31;
             DRK slot 0 default argon2id too
Opens (test only, no device-mapper): libcryptsetup
crypt_activate_by_passphrase(cd, NULL, slot, DUK) through ctypes, each in a
fresh child process, and the shell pipeline's `cryptsetup open
--test-passphrase --key-file` (what the OS initramfs runs). "slot 31" names
the key slot (cryptsetup --key-slot); "any slot" lets cryptsetup try the
slots itself, as the OS initramfs does with crypttab's key file.
Peak memory is the child's ru_maxrss minus that of the same child doing
everything but the open (the baseline is printed). Medians (and minima:
the machine may be shared) of N runs.
"""
import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
HEADS = os.environ.get("HEADS", os.path.join(SRC, "build", "heads"))
DRK = b"bench recovery passphrase"


def sh(*args, input=None):
    return subprocess.run(list(args), input=input, capture_output=True, check=True)


def child_open(img, key, slot, do_open):
    """In a child: load libcryptsetup, open (test) img with key; exit status 0 ok."""
    pid = os.fork()
    if pid == 0:
        try:
            lib = ctypes.CDLL("libcryptsetup.so.12")
            cd = ctypes.c_void_p()
            if lib.crypt_init(ctypes.byref(cd), img.encode()) < 0:
                os._exit(3)
            if lib.crypt_load(cd, None, None) < 0:
                os._exit(4)
            r = 0
            if do_open:
                r = lib.crypt_activate_by_passphrase(cd, None, ctypes.c_int(slot), key,
                                                     ctypes.c_size_t(len(key)), 0)
            lib.crypt_free(cd)
            os._exit(0 if r >= 0 else 1)
        except BaseException:
            os._exit(5)
    t0 = time.perf_counter()
    _, status, ru = os.wait4(pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"libcryptsetup open of {img} slot {slot} failed ({status})")
    return dt, ru.ru_maxrss


def cli_open(img, keyfile, slot):
    args = ["cryptsetup", "open", "--test-passphrase", "--key-file", keyfile]
    if slot >= 0:
        args += ["--key-slot", str(slot)]
    t0 = time.perf_counter()
    p = subprocess.Popen(args + [img], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"cryptsetup open of {img} failed")
    return dt, ru.ru_maxrss


def make(d, name, duk_keyfile, ours, prefer=True):
    img = os.path.join(d, name + ".img")
    with open(img, "wb") as f:
        f.truncate(20 << 20)
    # DRK: cryptsetup's defaults (argon2id, benchmarked), as an installer does.
    sh("cryptsetup", "luksFormat", "-q", "--type", "luks2", "--key-file", "-", img, input=DRK)
    if ours:
        # heads' own code path: luks_add_duk() through `heads luks add-duk`.
        r, w = os.pipe()
        os.write(w, DRK + b"\n")
        os.close(w)
        p = subprocess.run([HEADS, "luks", "add-duk", "--drk-fd", str(r), "--duk-file",
                            duk_keyfile, "--yes", img], pass_fds=[r], capture_output=True,
                           text=True)
        os.close(r)
        if p.returncode != 0:
            raise RuntimeError(f"heads luks add-duk failed: {p.stdout}{p.stderr}")
        if prefer:
            # what duk_setup() adds on LUKS2 (prefer_slot in src/lib/duk.c)
            sh("cryptsetup", "config", "--priority", "prefer", "--key-slot", "31", img)
    else:
        # kexec-seal-key.sh: luksAddKey --key-file recovery.key --new-key-slot 31 dev secret.key
        drkf = os.path.join(d, "drk")
        with open(drkf, "wb") as f:
            f.write(DRK)
        sh("cryptsetup", "luksAddKey", "-q", "--key-file", drkf, "--new-key-slot", "31", img,
           duk_keyfile)
    return img


def slot_info(img, slot):
    dump = sh("cryptsetup", "luksDump", img).stdout.decode()
    part = dump.split(f"  {slot}: luks2")[1].split("Digests:")[0].split("\n  ")[0]
    kv = {}
    for line in part.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            kv[k.strip()] = v.strip()
    return kv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", help="also write the table to this file")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (cryptsetup on image files)")
    if not os.path.exists(HEADS):
        sys.exit(f"{HEADS} not built (set HEADS=...)")
    lines = []

    def out(s=""):
        print(s, flush=True)
        lines.append(s)

    with tempfile.TemporaryDirectory(prefix="heads-bench-duk-", dir="/dev/shm") as d:
        keyfile = os.path.join(d, "duk.key")
        key = os.urandom(128)
        with open(keyfile, "wb") as f:
            f.write(key)
        imgs = {"ours": make(d, "ours", keyfile, True),
                "ours-no-priority": make(d, "ours-no-priority", keyfile, True, prefer=False),
                "reference": make(d, "reference", keyfile, False)}
        base = [child_open(imgs["ours"], key, 31, False)[1] for _ in range(a.runs)]
        baseline = statistics.median(base)
        out(f"host: {os.uname().release}, {os.cpu_count()} cpus, load average "
            f"{os.getloadavg()[0]:.1f} at start; runs per row: {a.runs}; "
            f"libcryptsetup child baseline RSS {baseline / 1024:.1f} MiB")
        dump = sh("cryptsetup", "luksDump", imgs["ours"]).stdout.decode()
        dig = dump.split("Digests:")[1].split("Iterations:")[1].split()[0]
        out(f"volume-key digest (set by luksFormat, checked on every successful open): "
            f"PBKDF2 {dig} iterations")
        for name, img in imgs.items():
            s = slot_info(img, 31)
            s0 = slot_info(img, 0)
            out(f"{name}: DUK slot 31 {s.get('PBKDF')} "
                f"{'iterations ' + s['Iterations'] if 'Iterations' in s else 'memory ' + s.get('Memory', '?') + ' KiB time ' + s.get('Time cost', '?')}"
                f"; DRK slot 0 {s0.get('PBKDF')} memory {s0.get('Memory', '-')} KiB")
        out()
        out("| setup | opener | slot | median s | min s | peak MiB (above baseline) |")
        out("|---|---|---|---|---|---|")
        results = {}
        for name, img in imgs.items():
            for opener in ("libcryptsetup", "cryptsetup CLI"):
                for slot in (31, -1):
                    ts, ms = [], []
                    for _ in range(a.runs):
                        if opener == "libcryptsetup":
                            t, m = child_open(img, key, slot, True)
                            m -= baseline
                        else:
                            t, m = cli_open(img, keyfile, slot)
                        ts.append(t)
                        ms.append(m)
                    mt, mm = statistics.median(ts), statistics.median(ms) / 1024
                    results[(name, opener, slot)] = (mt, mm)
                    out(f"| {name} | {opener} | {'31' if slot >= 0 else 'any'} | {mt:.3f} | "
                        f"{min(ts):.3f} | "
                        f"{mm:.1f}{'' if opener == 'libcryptsetup' else ' (whole process)'} |")
        out()
        for opener in ("libcryptsetup", "cryptsetup CLI"):
            for slot in (31, -1):
                o, r = results[("ours", opener, slot)], results[("reference", opener, slot)]
                out(f"ratio reference/ours, {opener}, slot {'31' if slot >= 0 else 'any'}: "
                    f"time {r[0] / o[0]:.1f}x, memory {r[1] / max(o[1], 0.1):.1f}x")
    out(f"load average at end {os.getloadavg()[0]:.1f}")
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
