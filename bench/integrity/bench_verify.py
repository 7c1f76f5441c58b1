#!/usr/bin/env python3
"""Benchmark: verify a ~200 MB /boot.

Ours:   heads boot verify --boot B --keyring K --no-rollback
Shell:  what the shell version runs for the same check, in one process tree:
          cd B && (sha256sum kexec*.txt | gpg --verify kexec.sig -) \
               && sha256sum -c kexec_hashes.txt \
               && find ./ ! -path './kexec*' -print0 | sort -z | cmp - kexec_tree.txt
        (GNU coreutils; `--busybox` uses BusyBox applets as on the device)
Bound:  `openssl speed -evp sha256` (16 KiB blocks) x online CPUs, i.e. the
        fastest any SHA-256 of this data could go on this machine.

Both run on a warm page cache (one untimed warm-up each), N timed runs,
medians reported. Peak memory: max RSS of `heads` (/usr/bin/time -v).

Usage: bench/integrity/bench_verify.py [--heads build/heads] [--runs 5]
                                       [--size-mb 200] [--busybox]
"""
import argparse
import hashlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True,
                          capture_output=True, **kw)


def make_boot(boot, total_mb):
    """Kernels, initrds, a Xen image, grub files: sizes like a real /boot."""
    layout = [  # (name, share of total)
        ("vmlinuz-6.1.0-18-amd64", 0.04), ("vmlinuz-6.1.0-17-amd64", 0.04),
        ("initrd.img-6.1.0-18-amd64", 0.30), ("initrd.img-6.1.0-17-amd64", 0.30),
        ("xen-4.17-amd64.gz", 0.01), ("System.map-6.1.0-18-amd64", 0.03),
        ("System.map-6.1.0-17-amd64", 0.03), ("config-6.1.0-18-amd64", 0.002),
        ("config-6.1.0-17-amd64", 0.002), ("memtest86+x64.bin", 0.001),
        ("efi/EFI/debian/grubx64.efi", 0.01), ("efi/EFI/debian/shimx64.efi", 0.005),
    ]
    used = sum(s for _, s in layout)
    for i in range(200):  # grub modules
        layout.append(("grub/x86_64-efi/mod%03d.mod" % i, (1 - used) / 200))
    seed = hashlib.sha256(b"heads-bench").digest()
    block = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(256)) * 128  # 1 MiB
    for name, share in layout:
        path = os.path.join(boot, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        size = int(total_mb * (1 << 20) * share)
        with open(path, "wb") as f:
            while size > 0:
                n = min(size, len(block))
                f.write(block[:n])
                size -= n
    with open(os.path.join(boot, "grub/grub.cfg"), "w") as f:
        f.write("menuentry 'Debian' { linux /vmlinuz-6.1.0-18-amd64 }\n")


def cpu_children():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(cmd, env=None, cpu=None):
    """Wall time of cmd; CPU time (user+sys of the whole process tree) is
    appended to cpu: it is what matters when the machine is shared."""
    c = cpu_children()
    t = time.perf_counter()
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit("command failed (%d): %s\n%s" % (r.returncode, cmd, r.stderr.decode()))
    if cpu is not None:
        cpu.append(cpu_children() - c)
    return dt


def openssl_bound():
    out = sh(["openssl", "speed", "-evp", "sha256", "-seconds", "2", "-bytes", "16384"]).stdout.decode()
    # last line: "sha256   <bytes/s in 1000s of bytes>k"
    line = [l for l in out.splitlines() if l.lower().startswith("sha256")][-1]
    kb = float(line.split()[-1].rstrip("k"))
    per_core = kb * 1000 / (1 << 20)  # MiB/s
    return per_core, per_core * os.cpu_count()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", default="build/heads")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--busybox", action="store_true")
    a = ap.parse_args()
    heads = os.path.abspath(a.heads)

    root = tempfile.mkdtemp(prefix="heads-bench-integrity-")
    home = os.path.join(root, "gnupg")
    keyring = os.path.join(root, "keyring")
    boot = os.path.join(root, "boot")
    try:
        os.makedirs(home, mode=0o700)
        os.makedirs(keyring, mode=0o700)
        os.makedirs(boot)
        sh(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
            "--quick-gen-key", "Bench <bench@example.org>", "rsa3072", "sign", "never"])
        pub = sh(["gpg", "--homedir", home, "--export"]).stdout
        subprocess.run(["gpg", "--homedir", keyring, "--batch", "--import"], input=pub,
                       capture_output=True, check=True)
        make_boot(boot, a.size_mb)
        env = dict(os.environ, HEADS_TCTI="")
        sh([heads, "boot", "sign", "--boot", boot, "--gnupghome", home, "--no-rollback"], env=env)
        total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(boot) for f in fs)
        nfiles = sum(len(fs) for _, _, fs in os.walk(boot))

        bb = "busybox " if a.busybox else ""
        shell = ("cd %s && (%ssha256sum kexec*.txt | gpg --homedir %s --batch --verify kexec.sig -) "
                 "&& %ssha256sum -c kexec_hashes.txt >/dev/null && %sfind ./ ! -path './kexec*' "
                 "-print0 | %ssort -z | cmp - kexec_tree.txt"
                 % (boot, bb, keyring, bb, bb, bb))
        shell_env = dict(os.environ, LC_ALL="C")
        ours = [heads, "boot", "verify", "--boot", boot, "--keyring", keyring, "--no-rollback"]

        timed(shell, shell_env)
        timed(ours, env)
        t_shell, t_ours, c_shell, c_ours = [], [], [], []
        for _ in range(a.runs):  # interleaved so both see the same machine load
            t_shell.append(timed(shell, shell_env, c_shell))
            t_ours.append(timed(ours, env, c_ours))
        r = subprocess.run(["/usr/bin/time", "-v", *ours], capture_output=True, env=env)
        rss_kb = int(re.search(rb"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
        per_core, bound = openssl_bound()

        ms, mo = statistics.median(t_shell), statistics.median(t_ours)
        mib = total / (1 << 20)
        print("machine: %d CPUs, %s" % (os.cpu_count(), sh("uname -srm").stdout.decode().strip()))
        print("/boot: %.1f MiB in %d files" % (mib, nfiles))
        print("shell pipeline (%s): median %.3f s  (%.0f MiB/s)  runs %s"
              % ("busybox" if a.busybox else "coreutils", ms, mib / ms,
                 " ".join("%.3f" % x for x in t_shell)))
        print("heads boot verify      : median %.3f s  (%.0f MiB/s)  runs %s"
              % (mo, mib / mo, " ".join("%.3f" % x for x in t_ours)))
        print("speed-up vs shell      : %.2fx (wall)" % (ms / mo))
        cs, co = statistics.median(c_shell), statistics.median(c_ours)
        print("CPU time (user+sys)    : shell %.3f s, heads %.3f s (%.2fx less)" % (cs, co, cs / co))
        print("load average at end    : %s" % " ".join("%.1f" % x for x in os.getloadavg()))
        print("SHA-256 bound          : %.0f MiB/s per core x %d = %.0f MiB/s -> %.3f s"
              % (per_core, os.cpu_count(), bound, mib / bound))
        print("fraction of bound      : %.2f" % ((mib / mo) / bound))
        print("peak RSS heads verify  : %.1f MiB" % (rss_kb / 1024))
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        subprocess.run(["gpgconf", "--homedir", keyring, "--kill", "all"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
