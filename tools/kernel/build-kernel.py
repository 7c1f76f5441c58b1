#!/usr/bin/env python3
"""Build a board's kernel from Debian's linux-source-6.1 package.

    build-kernel.py --board boards/qemu-coreboot --out build/qemu-coreboot

`make allnoconfig` with the board's linux.config as KCONFIG_ALLCONFIG (every
option the file does not name is off), then bzImage; writes OUT/bzImage and
OUT/linux.config (the full .config) and prints the bzImage's sha256. A
build-time tool. The tree is kept in BUILD/kernel/ (incremental rebuilds);
the result is cached by a hash of the inputs (this script, linux.config, the
source tarball's sha256, gcc's version) in HEADS_KERNEL_CACHE (default
/var/cache/heads/kernel, else OUT/cache). Reproducible: fixed build
timestamp, user and host.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time

SOURCE = "/usr/src/linux-source-6.1.tar.xz"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def writable_dir(path, fallback):
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    os.makedirs(fallback, exist_ok=True)
    return fallback


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tree", help="kernel build tree (default OUT/../kernel)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    if not os.path.exists(SOURCE):
        sys.exit(f"build-kernel: {SOURCE} missing: apt-get install linux-source-6.1 (make deps)")
    frag = os.path.abspath(os.path.join(a.board, "linux.config"))
    key = hashlib.sha256()
    for p in (os.path.abspath(__file__), frag):
        with open(p, "rb") as f:
            key.update(f.read())
    src_sha = sha256_file(SOURCE)
    key.update(src_sha.encode())
    key.update(subprocess.run(["gcc", "--version"], capture_output=True,
                              text=True).stdout.splitlines()[0].encode())
    key = key.hexdigest()[:16]
    cache = writable_dir(os.environ.get("HEADS_KERNEL_CACHE", "/var/cache/heads/kernel"),
                         os.path.join(out, "cache"))
    cached = os.path.join(cache, f"bzImage-{key}")
    dest = os.path.join(out, "bzImage")
    if os.path.exists(cached):
        shutil.copyfile(cached, dest + ".tmp")
        os.replace(dest + ".tmp", dest)
        if os.path.exists(cached + ".config"):
            shutil.copyfile(cached + ".config", os.path.join(out, "linux.config"))
        print(f"build-kernel: cached ({cached})", file=sys.stderr)
        print(f"{sha256_file(dest)}  {dest}")
        return

    t0 = time.monotonic()
    top = os.path.abspath(a.tree or os.path.join(out, "..", "kernel"))
    tree = os.path.join(top, "linux-source-6.1")
    stamp = os.path.join(top, "source.sha256")
    if not (os.path.exists(stamp) and open(stamp).read().strip() == src_sha):
        if os.path.exists(tree):
            shutil.rmtree(tree)
        os.makedirs(top, exist_ok=True)
        subprocess.run(["tar", "-C", top, "-xJf", SOURCE], check=True)
        with open(stamp, "w") as f:
            f.write(src_sha + "\n")
    env = dict(os.environ, KBUILD_BUILD_TIMESTAMP="1970-01-01", KBUILD_BUILD_USER="heads",
               KBUILD_BUILD_HOST="heads", KBUILD_BUILD_VERSION="1", LC_ALL="C")
    env.pop("MAKEFLAGS", None)
    log_path = os.path.join(out, "kernel-build.log")
    with open(log_path, "w") as log:
        for argv in (["make", "-C", tree, f"KCONFIG_ALLCONFIG={frag}", "allnoconfig"],
                     ["make", "-C", tree, f"-j{a.jobs}", "bzImage"]):
            if subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env).returncode:
                sys.exit(f"build-kernel: `{' '.join(argv)}` failed; see {log_path}")
    # Every option the board asks for must have been taken.
    have = {}
    with open(os.path.join(tree, ".config")) as f:
        for line in f:
            if line.startswith("CONFIG_"):
                k, _, v = line.rstrip("\n").partition("=")
                have[k] = v
    missing = []
    with open(frag) as f:
        for line in f:
            line = line.strip()
            if line.startswith("CONFIG_"):
                k, _, v = line.partition("=")
                if have.get(k) != v:
                    missing.append(f"{k}={v} (got {have.get(k, 'unset')})")
            elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
                k = line[2:-len(" is not set")]
                if k in have:
                    missing.append(f"{k} unset (got {have[k]})")
    if missing:
        sys.exit("build-kernel: options not taken (dependencies?):\n  " + "\n  ".join(missing))
    shutil.copyfile(os.path.join(tree, "arch/x86/boot/bzImage"), dest + ".tmp")
    os.replace(dest + ".tmp", dest)
    shutil.copyfile(os.path.join(tree, ".config"), os.path.join(out, "linux.config"))
    shutil.copyfile(dest, cached + ".tmp")
    os.replace(cached + ".tmp", cached)
    shutil.copyfile(os.path.join(tree, ".config"), cached + ".config")
    print(f"build-kernel: built in {time.monotonic() - t0:.0f} s (log {log_path})",
          file=sys.stderr)
    print(f"{sha256_file(dest)}  {dest}")


if __name__ == "__main__":
    main()
