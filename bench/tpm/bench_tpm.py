#!/usr/bin/env python3
"""Boot-path TPM work: TPM command count and wall time, heads vs the
tpm2-tools sequence the shell version runs (heads-behaviour.md 2.3-2.6).

Work measured (same TPM state for both, swtpm power-cycled before each run):
  read PCRs 0-7; unseal the TOTP secret (0x81004d47, PCRs 0,1,2,3,4,7);
  unseal the DUK with its passphrase (0x81000003, PCRs 0-7);
  3 extends (PCR 4 "generic", PCR 5 a module digest, PCR 6 "luksDump").

Commands are counted by a proxy between the client and swtpm that parses
every TPM command header on the data socket (swtpm TCTI: data port P,
control port P+1), so both sides are counted the same way.

Usage: bench/tpm/bench_tpm.py [--builddir build-tpm] [--runs 15]
"""
import argparse
import collections
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The test helpers' swtpm (power cycle = restart on the same state) and TPM
# bus recorder (the commands it saw, by code), as the command tests use them.
sys.path.insert(0, os.path.join(ROOT, "tests", "cmd"))
from heads_test import Swtpm  # noqa: E402
from tpm_capture import TpmProxy  # noqa: E402
OWNER = "owner"
DUK_PASS = "duk passphrase 1234"
QUIET = dict(os.environ, TSS2_LOG="all+NONE")


def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, env=QUIET, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{argv}: {p.returncode} {p.stderr.decode(errors='replace')}")
    return p


def with_fd(data):
    r, w = os.pipe()
    os.write(w, data.encode())
    os.close(w)
    return r


def heads_setup(heads, tcti):
    fd = with_fd(OWNER + "\n")
    run([heads, "tpm", "reset", "--tcti", tcti, "--owner-fd", str(fd)], pass_fds=[fd])
    os.close(fd)
    fd = with_fd(OWNER + "\n")
    run([heads, "tpm", "seal", "0x81004d47", "--pcrs", "0,1,2,3,4,7", "--tcti", tcti,
         "--owner-fd", str(fd)], input=b"T" * 20, pass_fds=[fd])
    os.close(fd)
    fd, fa = with_fd(OWNER + "\n"), with_fd(DUK_PASS + "\n")
    run([heads, "tpm", "seal", "0x81000003", "--pcrs", "0-7", "--tcti", tcti,
         "--owner-fd", str(fd), "--auth-fd", str(fa)], input=b"D" * 128, pass_fds=[fd, fa])
    os.close(fd)
    os.close(fa)


def ours_inprocess(exe, tcti, tmp):
    fa = with_fd(DUK_PASS + "\n")
    p = run([exe, tcti, str(fa)], pass_fds=[fa])
    os.close(fa)
    return int(p.stdout.split()[1])


def ours_cli(heads, tcti, tmp):
    tr = os.path.join(tmp, "trace")
    run([heads, "tpm", "pcrread", "0", "1", "2", "3", "4", "5", "6", "7", "--tcti", tcti])
    p = run([heads, "tpm", "unseal", "0x81004d47", "--pcrs", "0,1,2,3,4,7", "--tcti", tcti])
    assert p.stdout == b"T" * 20
    fa = with_fd(DUK_PASS + "\n")
    p = run([heads, "tpm", "unseal", "0x81000003", "--pcrs", "0-7", "--auth-fd", str(fa),
             "--tcti", tcti], pass_fds=[fa])
    os.close(fa)
    assert p.stdout == b"D" * 128
    for n, s in ((4, "generic"), (5, "module"), (6, "luksDump")):
        run([heads, "tpm", "extend", str(n), "--string", s, "--trace", tr, "--tcti", tcti])


def reference(tcti, tmp):
    """The tpm2-tools processes tpmr.sh runs: tpm2_startsession, tpm2_pcrread
    per PCR, tpm2_unseal (unsalted policy session, policypcr [+policyauthvalue],
    unseal -S enc.ctx, flush), tpm2_extend (pcrextend + pcrread of the result)."""
    T = ["-T", tcti]
    sec = tmp
    # tpmr startsession
    for f in ("-t", "-l", "-s"):
        run(["tpm2", "flushcontext", *T, f])
    run(["tpm2", "readpublic", *T, "-c", "0x81000000", "-t", f"{sec}/primary.handle"])
    run(["tpm2", "startauthsession", *T, "-c", f"{sec}/primary.handle", "--hmac-session",
         "-S", f"{sec}/enc.ctx"])
    run(["tpm2", "startauthsession", *T, "-c", f"{sec}/primary.handle", "--hmac-session",
         "-S", f"{sec}/dec.ctx"])
    run(["tpm2", "sessionconfig", *T, "--disable-encrypt", f"{sec}/dec.ctx"])
    # tpmr pcrread N, one per PCR
    for n in range(8):
        run(["tpm2", "pcrread", *T, "-Q", "-o", f"{sec}/pcr{n}", f"sha256:{n}"])
    # tpmr unseal (TOTP, no passphrase)
    for handle, pcrs, pw, expect in (("0x81004d47", "0,1,2,3,4,7", None, b"T" * 20),
                                     ("0x81000003", "0,1,2,3,4,5,6,7", DUK_PASS, b"D" * 128)):
        sess = f"{sec}/policy.session"
        run(["tpm2", "startauthsession", *T, "-Q", "-g", "sha256", "-S", sess,
             "--policy-session"])
        run(["tpm2", "policypcr", *T, "-Q", "-l", f"sha256:{pcrs}", "-S", sess])
        auth = f"session:{sess}"
        if pw:
            run(["tpm2", "policyauthvalue", *T, "-Q", "-S", sess])
            auth += "+hex:" + pw.encode().hex()
        p = run(["tpm2", "unseal", *T, "-Q", "-c", handle, "-p", auth, "-S", f"{sec}/enc.ctx"])
        assert p.stdout == expect, p.stdout
        run(["tpm2", "flushcontext", *T, sess])
    # tpmr extend -ic
    for n, s in ((4, "generic"), (5, "module"), (6, "luksDump")):
        h = hashlib.sha256(s.encode()).hexdigest()
        run(["tpm2", "pcrextend", *T, f"{n}:sha256={h}"])
        run(["tpm2", "pcrread", *T, f"sha256:{n}"])  # tpm2_extend logs the new value
    # the enc/dec HMAC sessions stay loaded in the shell version until
    # kexec_finalize flushes them; flush here (counted) so runs are equal.
    run(["tpm2", "flushcontext", *T, f"{sec}/enc.ctx"])
    run(["tpm2", "flushcontext", *T, f"{sec}/dec.ctx"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.path.join(ROOT, "build-tpm"))
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    heads = os.path.join(a.builddir, "heads")
    tmp = tempfile.mkdtemp(prefix="bench-tpm-")
    exe = os.path.join(tmp, "boot_path")
    libs = subprocess.run(["pkg-config", "--libs", "tss2-esys", "tss2-tctildr", "tss2-mu",
                           "tss2-rc", "libcrypto", "libcryptsetup", "blkid", "gpgme",
                           "libqrencode", "zlib", "liblzma", "libzstd"],
                          capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-I", os.path.join(ROOT, "src"),
                    "-I", os.path.join(ROOT, "src/lib"),
                    os.path.join(ROOT, "bench/tpm/boot_path.c"),
                    os.path.join(a.builddir, "libheads.a"), *libs, "-lnewt", "-lpthread",
                    "-o", exe], check=True)
    os.makedirs(os.path.join(tmp, "state"))
    sw = Swtpm(os.path.join(tmp, "state"))
    heads_setup(heads, f"swtpm:host=127.0.0.1,port={sw.port}")
    run([heads, "tpm", "shutdown", "--tcti", f"swtpm:host=127.0.0.1,port={sw.port}"])
    sw.stop()

    results = {}
    variants = [("heads, one process (boot path)", lambda t: ours_inprocess(exe, t, tmp)),
                ("heads tpm CLI, 6 processes", lambda t: ours_cli(heads, t, tmp)),
                ("reference tpm2-tools sequence", lambda t: reference(t, tmp))]
    for name, fn in variants:
        times, counts, self_counts = [], [], []
        codes = None
        for _ in range(a.runs):
            sw.start()  # power cycle: PCRs back to zero, objects persist
            px = TpmProxy(sw.port)
            t0 = time.perf_counter()
            r = fn(px.tcti)
            dt = time.perf_counter() - t0
            time.sleep(0.05)
            times.append(dt)
            cmds = px.commands()
            counts.append(len(cmds))
            if isinstance(r, int):
                self_counts.append(r)
            codes = collections.Counter(cc for cc, _ in cmds)
            px.close()
            # orderly shutdown (not counted): an unorderly one counts as a
            # dictionary-attack failure and 10 of them lock the TPM out
            run([heads, "tpm", "shutdown", "--tcti", f"swtpm:host=127.0.0.1,port={sw.port}"])
            sw.stop()
        results[name] = (statistics.median(counts), statistics.median(times), self_counts, codes)
    ref = results["reference tpm2-tools sequence"]
    print(f"runs per variant: {a.runs} (median)")
    print(f"{'variant':34} {'TPM cmds':>9} {'wall ms':>9} {'cmds vs ref':>12} {'time vs ref':>12}")
    for name, (c, t, sc, _) in results.items():
        print(f"{name:34} {c:9.0f} {t * 1000:9.1f} {c / ref[0]:12.2f} {t / ref[1]:12.3f}")
    sc = results["heads, one process (boot path)"][2]
    if sc:
        print(f"(tpm_command_count() inside heads: {statistics.median(sc):.0f})")
    print("commands by code (heads one process):",
          {hex(k): v for k, v in sorted(results["heads, one process (boot path)"][3].items())})
    print("commands by code (reference):", {hex(k): v for k, v in sorted(ref[3].items())})
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(main())
