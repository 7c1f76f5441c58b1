#!/usr/bin/env python3
"""Benchmark: hash (and verify) a large ISO file.

Ours:    heads iso verify --iso F --keyring K
           (a) signed SHA256SUMS beside F: gpg checks the small list, we
               stream F through SHA-256 (1 MiB pread, OpenSSL EVP);
           (b) F.sig beside F: gpg is fed F through a GPGME callback while
               we hash the same bytes (one read pass, two hashes).
Reference: `gpg --verify F.sig F` (what kexec-iso-init runs).
Bounds:  `openssl speed -evp sha256 -bytes 1048576` (one core's SHA-256,
         1 MiB blocks, no I/O) and `sha256sum F` (coreutils) on the same
         file in the same run.

The file is random data written here (page cache warm: one untimed warm-up
per variant), N timed runs, medians reported.

Usage: bench/iso/bench_iso.py [--heads build/heads] [--runs 5] [--size-mb 1024]
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, **kw)


def timed(args, runs):
    """Median wall time and median CPU time (user+sys of the command and its
    children, e.g. gpg): the CPU figure is what a busy machine distorts least."""
    subprocess.run(args, check=False, capture_output=True)  # warm-up
    t, c = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s = time.perf_counter()
        r = subprocess.run(args, capture_output=True)
        t.append(time.perf_counter() - s)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        if r.returncode != 0:
            sys.exit(f"{args}: exit {r.returncode}: {r.stderr.decode()}")
    return statistics.median(t), statistics.median(c)


def openssl_rate():
    out = sh("openssl", "speed", "-evp", "sha256", "-bytes", "1048576", "-seconds", "3").stdout
    # "sha256   123456.78k" = thousands of bytes per second
    m = re.search(rb"^sha256\s+([\d.]+)k", out, re.M)
    return float(m.group(1)) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", default="build/heads")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=1024)
    a = ap.parse_args()
    heads = os.path.abspath(a.heads)
    tmp = tempfile.mkdtemp(prefix="heads-bench-iso-")
    try:
        home = os.path.join(tmp, "gnupg")
        os.makedirs(home, mode=0o700)
        g = ["gpg", "--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback",
             "--passphrase", ""]
        sh(*g, "--quick-gen-key", "Bench <b@example.org>", "ed25519", "sign", "never")
        media = os.path.join(tmp, "media")
        os.makedirs(media)
        iso = os.path.join(media, "big.iso")
        with open(iso, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(a.size_mb):
                f.write(block[::-1] if _ % 2 else block)
        size = os.path.getsize(iso)

        load0 = os.getloadavg()[0]
        t_sum = timed(["sha256sum", iso], a.runs)
        digest = sh("sha256sum", iso).stdout.split()[0].decode()
        with open(os.path.join(media, "SHA256SUMS"), "w") as f:
            f.write(f"{digest}  big.iso\n")
        sh(*g, "--detach-sign", "-o", os.path.join(media, "SHA256SUMS.gpg"),
           os.path.join(media, "SHA256SUMS"))
        cmd = [heads, "iso", "verify", "--iso", iso, "--keyring", home]
        t_list = timed(cmd, a.runs)
        sh(*g, "--detach-sign", "-o", iso + ".sig", iso)
        t_sig = timed(cmd, a.runs)
        t_gpg = timed(["gpg", "--homedir", home, "--batch", "--quiet", "--verify", iso + ".sig",
                       iso], a.runs)
        one_core = openssl_rate()

        mb = size / 1e6
        print(f"file: {size} bytes ({a.size_mb} MiB), runs: {a.runs} (medians)")
        print(f"openssl speed -evp sha256 (1 MiB blocks, one core): {one_core / 1e6:.0f} MB/s")
        print(f"load average (1 min) at start: {load0:.1f}, at end: {os.getloadavg()[0]:.1f}")
        print("| variant | wall s | MB/s (wall) | wall rate vs one core's SHA-256 | CPU s | "
              "MB per CPU-s | CPU rate vs one core's SHA-256 |")
        print("|---|---|---|---|---|---|---|")
        for name, (t, c) in (("sha256sum (coreutils)", t_sum),
                             ("heads iso verify, signed SHA256SUMS", t_list),
                             ("heads iso verify, detached .sig (gpg hashes too)", t_sig),
                             ("gpg --verify F.sig F alone (the reference's check)", t_gpg)):
            print(f"| {name} | {t:.3f} | {mb / t:.0f} | {mb / t * 1e6 / one_core:.2f} | "
                  f"{c:.3f} | {mb / c:.0f} | {mb / c * 1e6 / one_core:.2f} |")
    finally:
        subprocess.run(["gpgconf", "--homedir", os.path.join(tmp, "gnupg"), "--kill", "all"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
