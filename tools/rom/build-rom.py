#!/usr/bin/env python3
"""Build the coreboot ROM of a board with the Heads payload in CBFS.

    build-rom.py --board boards/qemu-coreboot --kernel bzImage --initrd initrd.cpio.xz
                 --out build/qemu-coreboot

Writes OUT/coreboot.rom (CONFIG_COREBOOT_ROMSIZE_KB) and prints its sha256.
A build-time tool (never on the boot path).

Sources: the board's `sources` file (FILE SHA256 URL), taken from the
download cache (HEADS_DOWNLOAD_CACHE, default /var/cache/heads/downloads,
else OUT/../downloads when that is not writable), else copied from the
folder DOWNLOAD_MIRROR, else fetched from URL; the sha256 is always checked.

Toolchain: Debian's gcc/binutils (CONFIG_ANY_TOOLCHAIN). Reproducible:
BUILD_TIMELESS=1, the payload copied to a fixed path inside the tree, git
discovery stopped at the build directory; two builds in different
directories give the same bytes.

Cache: the ROM is kept by a hash of its inputs (this script, the board's
coreboot.config and sources, the payload files, the command line, the
toolchain versions) in HEADS_ROM_CACHE (default /var/cache/heads/coreboot,
else OUT/cache): an unchanged input set is not rebuilt.
"""
import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# sha256_file() and writable_dir() are build-kernel.py's (one copy; that
# file is hashed into the kernel cache key, this one into the ROM's).
_spec = importlib.util.spec_from_file_location(
    "build_kernel", os.path.join(SRCDIR, "tools", "kernel", "build-kernel.py"))
_kernel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kernel)
sha256_file = _kernel.sha256_file
writable_dir = _kernel.writable_dir


def read_sources(board):
    out = []
    with open(os.path.join(board, "sources")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, sha, url = line.split()
                out.append((name, sha, url))
    return out


def fetch(name, sha, url, cache):
    """Path of a verified copy of name in the download cache."""
    dest = os.path.join(cache, name)
    if os.path.exists(dest) and sha256_file(dest) == sha:
        return dest
    tmp = dest + ".part"
    mirror = os.environ.get("DOWNLOAD_MIRROR")
    if mirror and os.path.exists(os.path.join(mirror, name)):
        src = os.path.join(os.path.abspath(mirror), name)
        print(f"build-rom: {name} from the mirror {mirror}", file=sys.stderr)
        shutil.copyfile(src, tmp)
    else:
        print(f"build-rom: fetching {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    got = sha256_file(tmp)
    if got != sha:
        os.unlink(tmp)
        sys.exit(f"build-rom: {name}: sha256 {got}, expected {sha}: refused")
    os.replace(tmp, dest)
    return dest


def tool_version(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "missing"


def config_text(board, cmdline, rom_kb=None):
    lines = []
    with open(os.path.join(board, "coreboot.config")) as f:
        for line in f:
            if line.startswith("CONFIG_LINUX_COMMAND_LINE=") and cmdline is not None:
                continue
            if line.startswith("CONFIG_COREBOOT_ROMSIZE_KB_") and rom_kb:
                line = f"CONFIG_COREBOOT_ROMSIZE_KB_{rom_kb}=y"
            lines.append(line.rstrip("\n"))
    lines.append('CONFIG_PAYLOAD_FILE="payload/bzImage"')
    lines.append('CONFIG_LINUX_INITRD="payload/initrd.cpio.xz"')
    if cmdline is not None:
        lines.append(f'CONFIG_LINUX_COMMAND_LINE="{cmdline}"')
    return "\n".join(lines) + "\n"


def cbfs_report(rom):
    """Sizes of the payload files and the CBFS free space (cbfstool print)."""
    try:
        out = subprocess.run(["cbfstool", rom, "print"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "build-rom: cbfstool (coreboot-utils) missing: no CBFS report"
    free = used = 0
    for line in out.splitlines()[2:]:
        f = line.split()
        size = int(f[-2]) if f[-1] in ("none", "LZMA", "LZ4", "ZSTD") else int(f[-4])
        if line.startswith("(empty)"):
            free += size
        else:
            used += size
    return f"CBFS: {used} bytes in files, {free} bytes free ({free / 1048576:.2f} MiB)"


def report(out, rom):
    """Print the CBFS line and append it to OUT/size-report.txt (the
    payload builder's report, when there)."""
    line = cbfs_report(rom)
    print(line, file=sys.stderr)
    path = os.path.join(out, "size-report.txt")
    if os.path.exists(path):
        with open(path) as f:
            text = [l for l in f if not l.startswith("CBFS: ")]
        with open(path, "w") as f:
            f.writelines(text + [line + "\n"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", required=True)
    ap.add_argument("--kernel", required=True, help="bzImage")
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cmdline", help="kernel command line (default: the board's)")
    ap.add_argument("--no-cache", action="store_true", help="build even if cached (and "
                    "do not store the result)")
    ap.add_argument("--rom-kb", type=int, choices=[8192, 16384],
                    help="ROM size (default: the board's; QEMU's writable flash is <= 8192)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()

    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    sources = read_sources(a.board)
    cfg = config_text(a.board, a.cmdline, a.rom_kb)
    key = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        key.update(f.read())
    key.update(cfg.encode())
    for name, sha, _ in sources:
        key.update(f"{name} {sha}\n".encode())
    for p in (a.kernel, a.initrd):
        key.update(sha256_file(p).encode())
    for argv in (["gcc", "--version"], ["ld", "--version"], ["iasl", "-v"], ["nasm", "-v"]):
        key.update(tool_version(argv).encode())
    key = key.hexdigest()[:16]
    cache = writable_dir(os.environ.get("HEADS_ROM_CACHE", "/var/cache/heads/coreboot"),
                         os.path.join(out, "cache"))
    cached = os.path.join(cache, f"coreboot-{key}.rom")
    rom = os.path.join(out, "coreboot.rom")
    if not a.no_cache and os.path.exists(cached):
        shutil.copyfile(cached, rom + ".tmp")
        os.replace(rom + ".tmp", rom)
        print(f"build-rom: cached ({cached})", file=sys.stderr)
        report(out, rom)
        print(f"{sha256_file(rom)}  {rom}")
        return

    dl = writable_dir(os.environ.get("HEADS_DOWNLOAD_CACHE", "/var/cache/heads/downloads"),
                      os.path.join(out, "downloads"))
    tarballs = [fetch(n, s, u, dl) for n, s, u in sources]
    t0 = time.monotonic()
    # The extracted, configured tree is kept per tree key (everything but the
    # payload): a payload change rebuilds in seconds; --no-cache starts clean.
    tkey = hashlib.sha256(cfg.encode() + open(os.path.abspath(__file__), "rb").read() +
                          "".join(s for _, s, _ in sources).encode()).hexdigest()[:12]
    work = os.path.join(out, f"work-{tkey}")
    tree = os.path.join(work, "coreboot-26.06")
    fresh = a.no_cache or not os.path.exists(os.path.join(work, ".configured"))
    if fresh:
        for old in os.listdir(out):
            if old.startswith("work-"):
                shutil.rmtree(os.path.join(out, old))
        os.makedirs(work)
        for t in tarballs:
            with tarfile.open(t) as tf:
                tf.extractall(work)
        with open(os.path.join(tree, ".coreboot-version"), "w") as f:
            f.write("26.06\n")
        os.makedirs(os.path.join(tree, "payload"))
        with open(os.path.join(tree, "heads.defconfig"), "w") as f:
            f.write(cfg)
    shutil.copyfile(a.kernel, os.path.join(tree, "payload", "bzImage"))
    shutil.copyfile(a.initrd, os.path.join(tree, "payload", "initrd.cpio.xz"))
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=work, LC_ALL="C", TZ="UTC0")
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    mk = ["make", "-C", tree, "BUILD_TIMELESS=1", "KERNELVERSION=26.06"]
    log_path = os.path.join(out, "coreboot-build.log")
    with open(log_path, "w") as log:
        steps = [mk + [f"-j{a.jobs}", f"CPUS={a.jobs}"]]
        if fresh:
            steps.insert(0, mk + ["defconfig", "KBUILD_DEFCONFIG=heads.defconfig"])
        for argv in steps:
            r = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            if r.returncode:
                with open(log_path) as f:
                    full = [l for l in f if "Could not add" in l or "Largest empty" in l]
                sys.exit(f"build-rom: `{' '.join(argv)}` failed; see {log_path}" +
                         ("\n" + "".join(full) if full else ""))
            if "defconfig" in argv and not a.no_cache:
                open(os.path.join(work, ".configured"), "w").close()
    built = os.path.join(tree, "build", "coreboot.rom")
    shutil.copyfile(built, rom + ".tmp")
    os.replace(rom + ".tmp", rom)
    shutil.copyfile(os.path.join(tree, ".config"), os.path.join(out, "coreboot.config"))
    print(f"build-rom: built in {time.monotonic() - t0:.0f} s (log {log_path})", file=sys.stderr)
    if a.no_cache:
        shutil.rmtree(work)
    else:
        shutil.copyfile(rom, cached + ".tmp")
        os.replace(cached + ".tmp", cached)
    report(out, rom)
    print(f"{sha256_file(rom)}  {rom}")


if __name__ == "__main__":
    main()
