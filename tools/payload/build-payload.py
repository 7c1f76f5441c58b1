#!/usr/bin/env python3
"""Assemble the Heads payload for a board: kernel + reproducible initramfs.

    build-payload.py --board boards/qemu --heads build/heads --out build/qemu

Writes OUT/vmlinuz, OUT/initrd.cpio.xz and OUT/size-report.txt, and prints the
initrd's sha256. A build-time tool (never on the boot path).

Reproducibility: entries sorted by path, uid/gid 0, mtime SOURCE_DATE_EPOCH
(default: the last commit's time, else 0), inode numbers by position, xz with
a CRC32 check (the kernel's decoder does not do CRC64/SHA-256) and fixed filters.
The same inputs give the same bytes.

Contents:
  /init -> /bin/heads (PID 1), its shared libraries found by ELF inspection
  (DT_NEEDED, recursively, plus PT_INTERP) and the dlopen()ed ones listed in
  DLOPENED and the board's `dlopened` file; gpg, gpg-agent, gpgconf,
  gpg-connect-agent, scdaemon (GPGME drives them); kexec;
  busybox (static) with its applet links, for the recovery shell only;
  the board's kernel modules and their modules.dep dependencies, with
  /etc/modules listing them in load order; /etc/config from the board.
"""
import argparse
import atexit
import shutil
import hashlib
import lzma
import os
import re
import struct
import subprocess
import sys
import tempfile

LIBDIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"]
LIB_DEST = "usr/lib/x86_64-linux-gnu"
# dlopen()ed at run time, invisible to DT_NEEDED: the TCTI tctildr loads (the
# payload talks to the TPM through the kernel's device only: /dev/tpmrm0),
# and libgcc_s (pthread_cancel/unwinding, multi-threaded argon2 in libcryptsetup).
DLOPENED = ["libtss2-tcti-device.so.0", "libgcc_s.so.1"]
# A board adds its own dlopen()ed libraries in a `dlopened` file (one soname
# a line): libflashrom.so.1 on a board flashed with the `internal`
# programmer (heads loads it only then; linux_mtd is heads' own code, so the
# QEMU boards carry no libflashrom, libpci, libusb, libftdi or libjaylink).
# (host path, initramfs path)
PROGRAMS = [
    ("/usr/bin/gpg", "usr/bin/gpg"),
    ("/usr/bin/gpg-agent", "usr/bin/gpg-agent"),
    ("/usr/bin/gpgconf", "usr/bin/gpgconf"),
    # `gpgconf --launch gpg-agent` runs it (the card session, gpg/card.h)
    ("/usr/bin/gpg-connect-agent", "usr/bin/gpg-connect-agent"),
    ("/usr/lib/gnupg/scdaemon", "usr/lib/gnupg/scdaemon"),
    ("/usr/sbin/kexec", "usr/sbin/kexec"),
    ("/bin/busybox", "usr/bin/busybox"),
]
DIRS = ["dev", "proc", "sys", "tmp", "run", "boot", "mnt", "media", "root", "etc",
        "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib/gnupg", LIB_DEST, "lib64", "var",
        "var/log"]
SYMLINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "init": "/bin/heads"}

S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000


# --- ELF inspection ---------------------------------------------------------

def elf_info(path):
    """Return (interp or None, [DT_NEEDED sonames]) of a 64-bit LE ELF file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 0x20)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 0x36)
    interp = None
    loads = []
    dyn = None
    for i in range(e_phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from(
            "<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 3:  # PT_INTERP
            interp = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
        elif p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:  # PT_DYNAMIC
            dyn = (p_offset, p_filesz)
    if dyn is None:
        return interp, []  # static

    def vaddr_to_off(v):
        for vaddr, off, size in loads:
            if vaddr <= v < vaddr + size:
                return v - vaddr + off
        raise ValueError(f"{path}: address {v:#x} not in a PT_LOAD segment")

    needed, strtab = [], None
    for off in range(dyn[0], dyn[0] + dyn[1], 16):
        tag, val = struct.unpack_from("<qQ", data, off)
        if tag == 0:
            break
        if tag == 1:
            needed.append(val)
        elif tag == 5:
            strtab = vaddr_to_off(val)
    names = []
    for n in needed:
        end = data.index(b"\0", strtab + n)
        names.append(data[strtab + n:end].decode())
    return interp, names


def find_lib(soname):
    for d in LIBDIRS:
        p = os.path.join(d, soname)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"shared library {soname} not found in {LIBDIRS}")


# --- the file list ----------------------------------------------------------

class Tree:
    def __init__(self):
        self.entries = {}  # path -> (mode, data bytes | link target | (major, minor))

    def dir(self, path):
        self.entries[path] = (S_IFDIR | 0o755, b"")

    def file(self, path, data, mode=0o644):
        self.entries[path] = (S_IFREG | mode, data)

    def host_file(self, path, src, mode=None):
        with open(src, "rb") as f:
            data = f.read()
        if mode is None:
            mode = 0o755 if os.stat(src).st_mode & 0o111 else 0o644
        self.file(path, data, mode)

    def symlink(self, path, target):
        self.entries[path] = (S_IFLNK | 0o777, target.encode())

    def add_parents(self):
        for path in list(self.entries):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                self.entries.setdefault("/".join(parts[:i]), (S_IFDIR | 0o755, b""))

    def chardev(self, path, major, minor, mode=0o600):
        self.entries[path] = (S_IFCHR | mode, (major, minor))


def add_elf_closure(tree, binaries):
    """binaries: host paths of ELF files already placed; add their libraries."""
    todo = list(binaries)
    seen_libs = set()
    while todo:
        path = todo.pop()
        interp, needed = elf_info(path)
        if interp:
            real = os.path.realpath(interp)
            name = os.path.basename(real)
            if name not in seen_libs:
                seen_libs.add(name)
                tree.host_file(f"{LIB_DEST}/{name}", real, 0o755)
                tree.symlink(interp.lstrip("/"), f"/{LIB_DEST}/{name}")
        for soname in needed:
            if soname in seen_libs:
                continue
            seen_libs.add(soname)
            src = STUBS.get(soname) or find_lib(soname)
            tree.host_file(f"{LIB_DEST}/{soname}", os.path.realpath(src), 0o755)
            todo.append(os.path.realpath(src))
    return seen_libs


# soname -> built stand-in library (board file `stubs`)
STUBS = {}


def dynsyms(path, defined):
    r = subprocess.run(["nm", "-D", "--defined-only" if defined else "--undefined-only", path],
                       capture_output=True, text=True, check=True)
    return {l.split()[-1].split("@")[0] for l in r.stdout.splitlines() if l.strip()}


def build_stubs(board, workdir):
    """Compile the stand-ins a board lists (`stubs`: SONAME SOURCE [VERSION-SCRIPT],
    paths relative to tools/payload/stubs) into workdir."""
    path = os.path.join(board, "stubs")
    if not os.path.exists(path):
        return
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs")
    with open(path) as f:
        for line in f:
            w = line.split("#", 1)[0].split()
            if not w:
                continue
            out = os.path.join(workdir, w[0])
            argv = ["gcc", "-shared", "-fPIC", "-Os", "-s", "-Wall", "-Werror",
                    f"-Wl,-soname,{w[0]}", "-Wl,--build-id=none", "-o", out,
                    os.path.join(here, w[1])]
            if len(w) > 2:
                argv.append(f"-Wl,--version-script={os.path.join(here, w[2])}")
            subprocess.run(argv, check=True)
            STUBS[w[0]] = out


def check_stubs(tree_files):
    """Every symbol a payload program takes from a stubbed library must be
    defined by the stand-in (else the loader would fail at boot): the ones it
    imports, and the data objects it copies into its own image at load time
    (copy relocations: listed as defined in the program, e.g. gpg's
    rl_instream), so every dynamic symbol of the program that the real
    library defines."""
    for soname, stub in STUBS.items():
        real = dynsyms(os.path.realpath(find_lib(soname)), True)
        have = dynsyms(stub, True)
        for host in tree_files:
            _, needed = elf_info(host)
            if soname in needed:
                taken = dynsyms(host, False) | dynsyms(host, True)
                missing = (taken & real) - have
                if missing:
                    sys.exit(f"build-payload: stub {soname} lacks {sorted(missing)} "
                             f"(imported by {host})")


# --- kernel and modules -----------------------------------------------------

def stripped(path):
    """The file's bytes without symbols/debug info (binutils strip; deterministic)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "stripped")
        subprocess.run(["strip", "--strip-unneeded", "-o", out, path], check=True)
        with open(out, "rb") as f:
            return f.read()


def version_key(v):
    return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", v)]


def pick_kernel(kernel_opt):
    if kernel_opt:
        m = re.search(r"vmlinuz-(.+)$", kernel_opt)
        if not m:
            sys.exit(f"build-payload: cannot tell the version of {kernel_opt}")
        return kernel_opt, m.group(1)
    versions = []
    for name in os.listdir("/boot"):
        if name.startswith("vmlinuz-"):
            v = name[len("vmlinuz-"):]
            if os.path.exists(f"/lib/modules/{v}/modules.dep"):
                versions.append(v)
    if not versions:
        sys.exit("build-payload: no /boot/vmlinuz-* with /lib/modules/*/modules.dep: "
                 "install linux-image-amd64 (make deps)")
    v = max(versions, key=version_key)
    return f"/boot/vmlinuz-{v}", v


def norm(name):
    return name.replace("-", "_")


def read_modules_dep(kver):
    base = f"/lib/modules/{kver}"
    deps, paths = {}, {}
    with open(f"{base}/modules.dep") as f:
        for line in f:
            mod, _, rest = line.partition(":")
            name = norm(os.path.basename(mod).split(".ko")[0])
            paths[name] = mod
            deps[name] = [norm(os.path.basename(d).split(".ko")[0]) for d in rest.split()]
    builtin = set()
    with open(f"{base}/modules.builtin") as f:
        for line in f:
            builtin.add(norm(os.path.basename(line.strip()).split(".ko")[0]))
    return paths, deps, builtin


def module_order(kver, wanted):
    """wanted: [(name, args)] from the board. Returns [(relpath, args)] in load
    order (dependencies first), built-ins dropped, each module once."""
    paths, deps, builtin = read_modules_dep(kver)
    order, seen = [], set()

    def visit(name, args, chain):
        if name in seen:
            return
        if name in chain:
            sys.exit(f"build-payload: module dependency cycle: {' -> '.join(chain + [name])}")
        for d in deps[name]:
            visit(d, "", chain + [name])
        seen.add(name)
        order.append((paths[name], args))

    for name, args in wanted:
        n = norm(name)
        if n in builtin:
            continue
        if n not in paths:
            sys.exit(f"build-payload: module {name} is neither in modules.dep nor built in "
                     f"(kernel {kver})")
        visit(n, args, [])
    return order


def read_board_modules(path):
    wanted = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, args = line.partition(" ")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                sys.exit(f"{path}:{i}: bad module name '{name}'")
            wanted.append((name, args.strip()))
    return wanted


# --- cpio (newc) and xz -----------------------------------------------------

def cpio_newc(tree, mtime):
    out = bytearray()

    def pad4():
        out.extend(b"\0" * (-len(out) % 4))

    def entry(ino, name, mode, nlink, body, rdev=(0, 0)):
        nb = name.encode() + b"\0"
        out.extend(b"070701" + "".join(f"{v:08X}" for v in (
            ino, mode, 0, 0, nlink, mtime, len(body), 0, 0, rdev[0], rdev[1],
            len(nb), 0)).encode())
        out.extend(nb)
        pad4()
        out.extend(body)
        pad4()

    for ino, path in enumerate(sorted(tree.entries), 1):
        mode, data = tree.entries[path]
        if mode & 0o170000 == S_IFCHR:
            entry(ino, path, mode, 1, b"", data)
        else:
            entry(ino, path, mode, 2 if mode & 0o170000 == S_IFDIR else 1, data)
    entry(0, "TRAILER!!!", 0, 1, b"")
    return bytes(out)


def xz(data):
    # BCJ x86 + LZMA2: the kernel's XZ decoder supports both (CONFIG_XZ_DEC_X86);
    # CRC32 is the check it requires.
    filters = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 9}]
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, filters=filters)


def component_report(tree, programs):
    """Every regular file of the initrd assigned to one component: each
    program with the libraries it is the first (in this order) to need,
    then kernel modules, then the rest. Sizes uncompressed and alone with
    xz -9 (an estimate of its share of the initrd)."""
    owner = {}
    for name, src, dst in programs:
        owner.setdefault(dst, name)
        todo, seen = [src], set()
        while todo:
            interp, needed = elf_info(todo.pop())
            for so in needed + ([os.path.basename(os.path.realpath(interp))] if interp else []):
                if so in seen:
                    continue
                seen.add(so)
                owner.setdefault(f"{LIB_DEST}/{so}", name)
                try:
                    todo.append(os.path.realpath(find_lib(so)))
                except FileNotFoundError:
                    pass
    groups = {}
    for path, (mode, data) in tree.entries.items():
        if mode & 0o170000 != S_IFREG:
            continue
        g = owner.get(path) or ("modules" if "/modules/" in path else "other")
        groups.setdefault(g, []).append(path)
    lines = ["initrd by component (uncompressed, alone with xz -9; every file):"]
    for g, paths in sorted(groups.items(), key=lambda kv: -sum(len(tree.entries[p][1])
                                                               for p in kv[1])):
        raw = b"".join(tree.entries[p][1] for p in sorted(paths))
        lines.append(f"  {g:<12} {human(len(raw)):>11} {human(len(xz(raw))):>11}  "
                     f"{len(paths)} files")
        for p in sorted(paths, key=lambda p: -len(tree.entries[p][1])):
            lines.append(f"      {human(len(tree.entries[p][1])):>11}  /{p}")
    return lines


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def source_date_epoch(srcdir):
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        out = subprocess.run(["git", "-C", srcdir, "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 0


def human(n):
    return f"{n / 1048576:.2f} MiB" if n >= 1048576 else f"{n / 1024:.1f} KiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", required=True, help="board directory (config, modules)")
    ap.add_argument("--heads", required=True, help="the built heads binary")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--kernel", help="vmlinuz to use (default: newest /boot/vmlinuz-*)")
    ap.add_argument("--cpio-only", action="store_true",
                    help="also keep the uncompressed initrd.cpio (for inspection)")
    a = ap.parse_args()

    srcdir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    epoch = source_date_epoch(srcdir)
    # A board without a `modules` file has every driver built into its own
    # kernel (boards/qemu-coreboot): no modules, any kernel file name.
    has_modules = os.path.exists(os.path.join(a.board, "modules"))
    if has_modules:
        kernel, kver = pick_kernel(a.kernel)
    else:
        if not a.kernel:
            sys.exit("build-payload: a board without modules needs --kernel")
        kernel, kver = a.kernel, "board"
    # Programs the board leaves out (`exclude`: one host path a line).
    excluded = set()
    if os.path.exists(os.path.join(a.board, "exclude")):
        with open(os.path.join(a.board, "exclude")) as f:
            excluded = {l.split("#", 1)[0].strip() for l in f} - {""}
    tree = Tree()
    for d in DIRS:
        tree.dir(d)
    for p, t in SYMLINKS.items():
        tree.symlink(p, t)
    # The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    tree.chardev("dev/console", 5, 1)
    tree.chardev("dev/null", 1, 3, 0o666)

    # heads is built with debug info (debugoptimized): strip it for the payload.
    tree.file("usr/bin/heads", stripped(a.heads), 0o755)
    elves = [a.heads]
    # Programs the board adds (`programs`: HOST-PATH INITRAMFS-PATH a line).
    programs = [(src, dst) for src, dst in PROGRAMS if src not in excluded]
    if os.path.exists(os.path.join(a.board, "programs")):
        with open(os.path.join(a.board, "programs")) as f:
            for l in f:
                l = l.split("#", 1)[0].split()
                if l:
                    programs.append((l[0], l[1]))
    for src, dst in programs:
        if not os.path.exists(src):
            sys.exit(f"build-payload: {src} missing: run `make deps`")
        tree.host_file(dst, src, 0o755)
        elves.append(src)
    # Data files the board adds (`files`: HOST-PATH INITRAMFS-PATH a line;
    # symlinks followed: libccid's Info.plist is one into /etc).
    if os.path.exists(os.path.join(a.board, "files")):
        with open(os.path.join(a.board, "files")) as f:
            for l in f:
                l = l.split("#", 1)[0].split()
                if l:
                    if not os.path.exists(l[0]):
                        sys.exit(f"build-payload: {l[0]} missing: run `make deps`")
                    tree.host_file(l[1], os.path.realpath(l[0]))
    stubdir = tempfile.mkdtemp(prefix="heads-stubs-")
    atexit.register(shutil.rmtree, stubdir, True)
    build_stubs(a.board, stubdir)
    libs = add_elf_closure(tree, elves)
    extra = []
    dlopened = list(DLOPENED)
    if os.path.exists(os.path.join(a.board, "dlopened")):
        with open(os.path.join(a.board, "dlopened")) as f:
            dlopened += [l.strip() for l in f if l.strip() and not l.startswith("#")]
    for soname in dlopened:
        if soname not in libs:
            src = os.path.realpath(find_lib(soname))
            tree.host_file(f"{LIB_DEST}/{soname}", src, 0o755)
            libs.add(soname)
            extra.append(src)
    add_elf_closure(tree, extra)
    if STUBS:
        hosts = list(elves)
        for path in tree.entries:
            name = os.path.basename(path)
            if path.startswith(LIB_DEST + "/") and ".so" in name and name not in STUBS:
                try:
                    hosts.append(os.path.realpath(find_lib(name)))
                except FileNotFoundError:
                    pass
        check_stubs(hosts)

    # busybox applets, for the recovery shell only (never on the boot path).
    applets = [] if "/bin/busybox" in excluded else subprocess.run(
        ["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for ap_path in applets:
        name = os.path.basename(ap_path)
        dest = f"usr/bin/{name}"
        if ap_path.startswith(("sbin/", "usr/sbin/")):
            dest = f"usr/sbin/{name}"
        if dest not in tree.entries and name not in ("init", "linuxrc"):
            tree.symlink(dest, "/usr/bin/busybox")

    # Board config and modules.
    tree.host_file("etc/config", os.path.join(a.board, "config"), 0o644)
    mods = module_order(kver, read_board_modules(os.path.join(a.board, "modules"))) \
        if has_modules else []
    lines = []
    for rel, args in mods:
        dest = f"lib/modules/{kver}/{rel}"
        tree.host_file("usr/" + dest, f"/lib/modules/{kver}/{rel}", 0o644)
        lines.append(f"/{dest}" + (f" {args}" if args else ""))
    tree.file("etc/modules",
              ("# kernel modules loaded by heads init, in this order (dependencies first),\n"
               "# each measured into PCR 5: the arguments (if any), then the .ko file.\n" +
               "".join(l + "\n" for l in lines)).encode())
    tree.file("etc/heads-release", f"kernel={kver}\n".encode())

    tree.add_parents()
    cpio = cpio_newc(tree, epoch)
    initrd = xz(cpio)
    os.makedirs(a.out, exist_ok=True)
    with open(kernel, "rb") as f:
        kdata = f.read()
    write_atomic(os.path.join(a.out, "vmlinuz"), kdata)
    write_atomic(os.path.join(a.out, "initrd.cpio.xz"), initrd)
    if a.cpio_only:
        write_atomic(os.path.join(a.out, "initrd.cpio"), cpio)

    sizes = sorted(((len(v[1]), p) for p, v in tree.entries.items()
                    if v[0] & 0o170000 == S_IFREG), reverse=True)
    components = component_report(tree, [("heads", a.heads, "usr/bin/heads")] +
                                  [(os.path.basename(s_), s_, d) for s_, d in programs])
    sha = hashlib.sha256(initrd).hexdigest()
    report = [
        f"kernel        {kernel} ({kver}): {human(len(kdata))}",
        f"initrd        {human(len(initrd))} xz ({len(initrd)} bytes), "
        f"{human(len(cpio))} cpio, {len(tree.entries)} entries, {len(mods)} modules",
        f"initrd sha256 {sha}",
        f"SOURCE_DATE_EPOCH {epoch}",
        "ten largest contributors (uncompressed; alone with xz -0, an estimate):",
    ]
    for size, p in sizes[:10]:
        alone = len(lzma.compress(tree.entries[p][1], preset=0))
        report.append(f"  {human(size):>11}  {human(alone):>11}  /{p}")
    report += components
    text = "\n".join(report) + "\n"
    write_atomic(os.path.join(a.out, "size-report.txt"), text.encode())
    sys.stdout.write(text)
    goal = 8 * 1048576
    if len(initrd) > goal:
        print(f"NOTE: initrd is over the {human(goal)} goal", file=sys.stderr)
    print(f"{sha}  {os.path.join(a.out, 'initrd.cpio.xz')}")


if __name__ == "__main__":
    main()
