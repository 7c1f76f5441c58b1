#!/usr/bin/env python3
"""Disk Unlock Key, in the VM: unlock time and peak memory of the demo
target's LUKS open with our DUK key slot vs a default argon2id key slot,
both measured in the same QEMU guest (TCG, 1 GiB, the QEMU board).

    sudo HEADS_BUILDDIR=build-x python3 bench/duk/bench_vm_unlock.py [--runs N]

The payload boots the demo disk (tools/disk, a snapshot: nothing written),
kexecs into the Debian target (the Disk Recovery Key typed for both
containers), logs in as root on the serial console and, in /run (tmpfs):
  ours  a 20 MiB LUKS2 container made by the target's cryptsetup with its
        defaults (DRK in slot 0: argon2id, benchmarked in this guest, as a
        distro installer makes it; volume-key digest iterations benchmarked
        too) plus a 128-byte DUK in slot 31 as `heads duk setup` adds it
        (luks_add_duk: PBKDF2-SHA512, 1000 iterations, priority "prefer")
  ours-digest1000  the same, but the container made with
        `--pbkdf pbkdf2 --pbkdf-force-iterations 1000` (as the demo disk's
        containers are): the volume-key digest then costs 1000 iterations
        too, so this is our slot's own cost plus the fixed costs
  ref   the ours container with the DUK added as the reference's
        kexec-seal-key.sh does: `cryptsetup luksAddKey` with the defaults
        (argon2id, benchmarked in this guest), slot 31
and opens each with `cryptsetup open --test-passphrase --key-file duk.key`
(what the target's initramfs runs with the injected /secret.key; "any" =
cryptsetup tries the slots itself, as there; "31" = --key-slot 31), N runs,
each in a fresh process: wall time (CLOCK_MONOTONIC) and the process's
peak RSS (wait4 rusage) by bench/duk/vm_open.pl. The baseline is the same
CLI doing `cryptsetup --version`. Prints the luksDump PBKDF lines, the
medians and the ratios. --host also runs the same setup and opens natively
on the host (same cryptsetup 2.6.1; argon2id benchmarked by the host), in
a temporary directory, for the TCG emulation factor.
"""
import argparse
import base64
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "vm"))
import vm  # noqa: E402

DRK = "heads-demo-drk"
TIMEOUT = 900

SETUP = """set -e
mkdir -p /run/duk-bench && cd /run/duk-bench
head -c 128 /dev/urandom > duk.key
printf %s 'bench recovery passphrase' > drk
for s in ours ref; do truncate -s 20M $s.img; cryptsetup luksFormat -q --type luks2 --key-file drk $s.img; done
truncate -s 20M ours-digest1000.img
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file drk ours-digest1000.img
for s in ours ours-digest1000; do cryptsetup luksAddKey -q --key-file drk --key-slot 31 --pbkdf pbkdf2 --hash sha512 --pbkdf-force-iterations 1000 $s.img duk.key; cryptsetup config --priority prefer --key-slot 31 $s.img; done
cryptsetup luksAddKey -q --key-file drk --key-slot 31 ref.img duk.key
set +e"""


def boot_target(m):
    m.expect("Run /init as init process", TIMEOUT)
    m.send("r")
    m.expect("Entering the recovery shell", TIMEOUT)
    m.send("dmesg -n 1\n")
    m.shell("mount -o ro -t ext4 /dev/vda1 /boot")
    m.send("heads kexec --boot /boot --default --exec\n")
    for c in ("root_crypt", "home_crypt"):
        m.expect(f"Please unlock disk {c}", TIMEOUT)
        m.send(DRK + "\n")
    m.expect("heads-demo login:", TIMEOUT)
    m.send("root\n")
    m.expect("Password:", 120)
    m.send("heads\n")
    m.expect("root@heads-demo", 120)
    m.send("dmesg -n 1; export PS1='# '\n")


def measure(m, runs, args):
    out = m.shell(f"perl /run/duk-bench/vm_open.pl {runs} {args}", TIMEOUT)
    rows = [l.split() for l in out.splitlines() if re.match(r"^\d+\.\d+ \d+ \d+$", l.strip())]
    if len(rows) != runs or any(r[2] != "0" for r in rows):
        raise RuntimeError(f"{args}: unexpected output:\n{out}")
    return [float(r[0]) for r in rows], [int(r[1]) / 1024 for r in rows]


SETUPS = ("ours", "ours-digest1000", "ref")


def measure_all(run_one):
    """run_one(args) -> (times, mems); returns baseline and [(setup, slot, t, mem)]."""
    base = run_one("cryptsetup --version")
    results = []
    for setup in SETUPS:
        for slot in ("any", "31"):
            opt = "" if slot == "any" else "--key-slot 31 "
            t, mem = run_one("cryptsetup open --test-passphrase --key-file "
                             f"/run/duk-bench/duk.key {opt}/run/duk-bench/{setup}.img")
            results.append((setup, slot, t, mem))
    return base, results


def host_run(runs):
    """The same setup and opens on the host (/run/duk-bench -> a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="duk-bench-") as d:
        script = SETUP.replace("/run/duk-bench", d)
        subprocess.run(["bash", "-c", script], check=True, capture_output=True)

        def run_one(args):
            argv = ["perl", os.path.join(HERE, "vm_open.pl"), str(runs)]
            argv += args.replace("/run/duk-bench", d).split()
            out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
            rows = [l.split() for l in out.splitlines()
                    if re.match(r"^\d+\.\d+ \d+ \d+$", l.strip())]
            return [float(r[0]) for r in rows], [int(r[1]) / 1024 for r in rows]
        return measure_all(run_one)


def report(title, base, results):
    base_t, base_m = base
    print(f"\n{title}: baseline `cryptsetup --version`: median "
          f"{statistics.median(base_t):.3f} s, peak {statistics.median(base_m):.1f} MiB\n")
    print("| setup | slot | median s | min s | peak MiB (process) | peak MiB above baseline |")
    print("|---|---|---|---|---|---|")
    med = {}
    for setup, slot, t, mem in results:
        med[(setup, slot)] = (statistics.median(t), statistics.median(mem))
        print(f"| {setup} | {slot} | {statistics.median(t):.3f} | {min(t):.3f} | "
              f"{statistics.median(mem):.1f} | "
              f"{statistics.median(mem) - statistics.median(base_m):.1f} |")
    for slot in ("any", "31"):
        (ot, om), (rt, rm) = med[("ours", slot)], med[("ref", slot)]
        print(f"ref/ours slot {slot}: time {rt / ot:.1f}x, memory {rm / om:.1f}x")
    return med


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--host", action="store_true",
                    help="also measure the same opens natively on the host")
    a = ap.parse_args()
    payload = vm.ensure_payload()
    disk = vm.ensure_disk()
    load0 = os.getloadavg()
    with vm.VM(payload, firmware="seabios", disk=disk, name="bench-duk-vm") as m:
        boot_target(m)
        with open(os.path.join(HERE, "vm_open.pl"), "rb") as f:
            script = base64.b64encode(f.read()).decode()
        for line in SETUP.splitlines():
            m.shell(line, TIMEOUT)
        m.shell(f"echo {script} | base64 -d > /run/duk-bench/vm_open.pl")
        info = m.shell("cryptsetup --version; echo cpus: $(nproc); grep MemTotal /proc/meminfo;"
                       " cd /run/duk-bench && for s in ours ours-digest1000 ref; do echo == $s;"
                       " cryptsetup luksDump $s.img | grep -E '^  [0-9]+: (luks2|pbkdf2)|"
                       "PBKDF:|Time cost|Memory:|Threads:|Iterations:|Priority:'; done",
                       TIMEOUT)
        print(info.strip())
        base, results = measure_all(lambda args: measure(m, a.runs, args))
    load1 = os.getloadavg()
    print(f"\nhost load average: start {load0[0]:.1f}, end {load1[0]:.1f} "
          f"({os.cpu_count()} cores); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    vm_med = report("In the VM (TCG guest)", base, results)
    if a.host:
        base, results = host_run(a.runs)
        host_med = report("On the host (native)", base, results)
        for k in sorted(vm_med):
            print(f"TCG/native {k[0]} slot {k[1]}: {vm_med[k][0] / host_med[k][0]:.1f}x time")


if __name__ == "__main__":
    try:
        main()
    except vm.SkipVM as e:
        print(f"SKIP: {e}")
        sys.exit(77)
