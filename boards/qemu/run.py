#!/usr/bin/env python3
"""Run recipe of the QEMU board: boot the Heads payload with a software TPM.

    run.py --payload build/qemu [--disk IMG] [--state DIR] [--rom IMG]
           [--firmware ovmf|seabios] [--tpm 2.0|1.2]

Starts swtpm (TPM 2.0, its state in --state, default PAYLOAD/tpm-state) on a
unix control socket, then QEMU (TCG, -m 1024) with the TPM (tpm-tis), the
payload as -kernel/-initrd and the serial console on this terminal
(-nographic: quit with Ctrl-A X). QEMU runs with -no-reboot and a QMP
socket: when the guest resets the machine (QMP SHUTDOWN, reason
guest-reset) QEMU is started again with the same argv (firmware, disks,
ROM) and the same TPM state, so a reboot comes back to Heads with the TPM
state kept; a guest power-off ends run.py with exit 0, a quit (Ctrl-A X)
with QEMU's status. Every swtpm and QEMU it started is stopped by its pid. Firmware: OVMF (default) measures the kernel and, via
the EFI stub, the initrd into PCRs 4 and 9 and writes a TCG event log;
SeaBIOS boots faster and measures nothing of the payload. The ROM config
area (--rom, default PAYLOAD/rom.img, 1 MiB, created blank) is the board's
flash: the owner's ROM keyring and config.user, kept across boots (see
`heads rom --help`).

--tpm 1.2 (`make run TPM=1.2`): swtpm in TPM 1.2 mode instead (its own
state, default PAYLOAD/tpm12-state, given an endorsement key on first use
by swtpm_setup, as a TPM leaves the factory; never owned), on the same
tpm-tis device; the payload is the same (heads finds the version in
/sys/class/tpm/tpm0/tpm_version_major). Firmware: OVMF leaves physical
presence usable, so `heads tpm reset` clears and owns the TPM (ForceClear,
TakeOwnership); SeaBIOS asserts presence at POST and then locks it for the
boot (physicalPresenceLock), so there a reset can own an unowned TPM but not
clear an owned one (`make run-reset` gives a fresh one). vm-tpm12 runs OVMF.

Also imported by the VM test driver (tests/vm/vm.py) for the same argv.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

OVMF = "/usr/share/ovmf/OVMF.fd"
SEABIOS = "/usr/share/seabios/bios-256k.bin"
CMDLINE = "console=ttyS0"
ROM_SERIAL = "heads-rom"
ROM_SIZE = 1024 * 1024


def swtpm_argv(state, tpm12=False):
    os.makedirs(state, mode=0o700, exist_ok=True)
    return ["swtpm", "socket", *([] if tpm12 else ["--tpm2"]),
            "--tpmstate", f"dir={state}",
            "--ctrl", f"type=unixio,path={os.path.join(state, 'swtpm.sock')}",
            "--log", f"file={os.path.join(state, 'swtpm.log')},level=1",
            "--terminate"]


def virtio_drive(path, ident, serial=None, snapshot=False):
    """A raw image as a virtio disk (the serial is a device property)."""
    return ["-drive", f"file={path},format=raw,if=none,id={ident}" +
            (",snapshot=on" if snapshot else ""),
            "-device", f"virtio-blk-pci,drive={ident}" + (f",serial={serial}" if serial else "")]


def qemu_argv(payload, state, disk=None, firmware="ovmf", interactive=True,
              append="", memory=1024, snapshot=False, rom=None, drives=(), cpu=None):
    """rom: the board's ROM config area image (virtio, serial "heads-rom");
    drives: further raw images, virtio, in order after the disk (vdb, ...),
    each a path or (path, serial); cpu: a -cpu model (None: QEMU's default;
    Xen's PV dom0 needs "max,-smap" under TCG, see the Xen demo disk)."""
    fw = OVMF if firmware == "ovmf" else SEABIOS
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(memory),
            *(["-cpu", cpu] if cpu else []),
            "-bios", fw,
            "-kernel", os.path.join(payload, "vmlinuz"),
            "-initrd", os.path.join(payload, "initrd.cpio.xz"),
            "-append", (CMDLINE + " " + append).strip(),
            "-chardev", f"socket,id=chrtpm,path={os.path.join(state, 'swtpm.sock')}",
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-device", "tpm-tis,tpmdev=tpm0",
            "-nic", "none", "-no-reboot"]
    # Explicit devices in order: QEMU creates `if=virtio` drives after all
    # -device ones, which would put the ROM before the disk.
    if disk:
        argv += virtio_drive(disk, "disk", snapshot=snapshot)
    for i, d in enumerate(drives):
        path, serial = (d, None) if isinstance(d, str) else d
        argv += virtio_drive(path, f"drive{i}", serial)
    if rom:
        # Last, after the disk (/dev/vda) and the drives; init finds it by
        # its serial, not by its name.
        argv += virtio_drive(rom, "rom", ROM_SERIAL)
    if interactive:
        argv += ["-nographic"]
    else:
        argv += ["-display", "none", "-monitor", "none", "-serial", "stdio"]
    return argv


def blank_rom(path):
    """Create a blank ROM config area image (zeros) unless it exists."""
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.truncate(ROM_SIZE)
    return path


def manufacture_tpm12(state):
    """A TPM 1.2 state with an endorsement key (TakeOwnership encrypts to
    it), made once: swtpm_setup --createek, no owner."""
    os.makedirs(state, mode=0o700, exist_ok=True)
    if any(n.startswith("tpm-") for n in os.listdir(state)):
        return
    subprocess.run(["swtpm_setup", "--tpmstate", state, "--createek", "--config", "/dev/null"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)


def start_swtpm(state, tpm12=False):
    """Start swtpm for state; returns the Popen once its socket exists."""
    if tpm12:
        manufacture_tpm12(state)
    sock = os.path.join(state, "swtpm.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen(swtpm_argv(state, tpm12), stdin=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            return p
        if p.poll() is not None:
            raise RuntimeError(f"swtpm exited ({p.returncode}); see {state}/swtpm.log")
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("swtpm did not create its socket in 5 s")


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


QMP_LINE_MAX = 1 << 20


def qmp_connect(path, qemu, timeout=30):
    """Connect to QEMU's QMP server socket (QEMU waits for us before it starts
    the guest: no event is missed); None if QEMU ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if qemu.poll() is not None:
            return None
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.05)
    raise RuntimeError(f"QEMU's QMP socket {path} did not answer in {timeout} s")


def shutdown_reason(sock):
    """Read QMP until QEMU closes it; returns the reason of the last SHUTDOWN
    event (guest-reset, guest-shutdown, host-qmp-quit, ...), or None."""
    reason = None
    f = sock.makefile("rb")
    f.readline(QMP_LINE_MAX)  # the greeting
    sock.sendall(b'{"execute": "qmp_capabilities"}\n')
    for line in iter(lambda: f.readline(QMP_LINE_MAX), b""):
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("event") == "SHUTDOWN":
            reason = (msg.get("data") or {}).get("reason")
    return reason


def dongle_argv(dongle, sock):
    """QEMU arguments for `--dongle`: "model" = the OpenPGP card model of the
    tests (tests/devices/openpgp_card.py, on the host) behind QEMU's USB
    CCID reader (its passthru chardev on sock); "usb-host:VVVV:PPPP" = a
    real USB security dongle of the host passed through (vendor and product
    id in hex, as lsusb shows them)."""
    if dongle == "model":
        return ["-device", "qemu-xhci,id=cardxhci",
                "-chardev", f"socket,id=ccid,path={sock},server=on,wait=off",
                "-device", "usb-ccid,bus=cardxhci.0",
                "-device", "ccid-card-passthru,chardev=ccid"]
    m = re.fullmatch(r"usb-host:([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", dongle)
    if not m:
        raise ValueError(f"--dongle {dongle}: model or usb-host:VVVV:PPPP")
    return ["-device", "qemu-xhci,id=dongxhci",
            "-device", f"usb-host,bus=dongxhci.0,vendorid=0x{m.group(1)},"
                       f"productid=0x{m.group(2)}"]


def start_card_model(state, sock, apdu_log=None):
    """The card model connected to QEMU's passthru socket (state: its JSON
    file, kept: the card keeps its keys across boots; apdu_log: every APDU
    pair appended there)."""
    model = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "tests", "devices", "openpgp_card.py")
    for _ in range(300):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"QEMU never created {sock}")
    log = ["--log", apdu_log] if apdu_log else []
    return subprocess.Popen([sys.executable, model, "--state", state, *log, "vscard",
                             "--socket", sock], stdin=subprocess.DEVNULL)


def run_machine(argv, state, log=print, tpm12=False, card=None):
    """Run QEMU (argv, with -no-reboot) on a swtpm with its state in state
    until the guest powers off or the user quits; a guest reset starts the
    same argv again (same firmware flash, disks and TPM state: a reboot in
    place). QEMU's TPM emulator sends swtpm CMD_SHUTDOWN when QEMU ends, so
    each QEMU gets its own swtpm on the same state directory (the TPM's NV
    and persistent objects are kept; PCRs start over, as on a reset).
    Returns the exit status: 0 on a guest power-off, else QEMU's.
    SIGTERM/SIGHUP stop QEMU and swtpm (by their pids) first."""
    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    with tempfile.TemporaryDirectory(prefix="heads-qmp-") as tmp:
        qmp = os.path.join(tmp, "qmp.sock")
        while True:
            sw = start_swtpm(state, tpm12)
            qemu = model = None
            try:
                qemu = subprocess.Popen(argv + ["-qmp", f"unix:{qmp},server=on,wait=on"])
                sock = qmp_connect(qmp, qemu)
                if card:  # (card state, passthru socket): the model, per QEMU
                    model = start_card_model(*card)
                reason = None
                if sock:
                    with sock:
                        reason = shutdown_reason(sock)
                rc = qemu.wait()
            finally:
                stop(qemu)
                stop(model)
                stop(sw)
            if os.path.exists(qmp):
                os.unlink(qmp)
            if reason == "guest-reset":
                log("run: the guest reset the machine: QEMU starts again "
                    "(same flash, disks and TPM state)")
                continue
            return 0 if reason == "guest-shutdown" else rc


def main():
    ap = argparse.ArgumentParser(description="Boot Heads in QEMU with a software TPM.")
    ap.add_argument("--payload", required=True, help="directory with vmlinuz, initrd.cpio.xz")
    ap.add_argument("--disk", help="raw disk image (the demo disk)")
    ap.add_argument("--state", help="swtpm state directory (default PAYLOAD/tpm-state)")
    ap.add_argument("--firmware", choices=["ovmf", "seabios"], default="ovmf")
    ap.add_argument("--append", default="", help="extra kernel command line words")
    ap.add_argument("--rom", help="ROM config area image (default PAYLOAD/rom.img, "
                    "created blank: the board's flash, kept across boots)")
    ap.add_argument("--memory", type=int, default=1024, help="guest RAM in MiB")
    ap.add_argument("--cpu", help="QEMU -cpu model (Xen demo disk: max,-smap)")
    ap.add_argument("--tpm", choices=["2.0", "1.2"], default="2.0",
                    help="swtpm's TPM version (1.2: TPM 1.2 mode, state PAYLOAD/tpm12-state)")
    ap.add_argument("--dongle", help="a USB security dongle: model (the OpenPGP card "
                    "model, state PAYLOAD/card.json) or usb-host:VVVV:PPPP (a real one)")
    a = ap.parse_args()
    tpm12 = a.tpm == "1.2"
    state = a.state or os.path.join(a.payload, "tpm12-state" if tpm12 else "tpm-state")
    rom = a.rom or os.path.join(a.payload, "rom.img")
    blank_rom(rom)
    for f in ("vmlinuz", "initrd.cpio.xz"):
        if not os.path.exists(os.path.join(a.payload, f)):
            sys.exit(f"run: {a.payload}/{f} missing: run `make payload`")
    print(f"QEMU board: firmware {a.firmware}, TPM {a.tpm} state {state}, "
          f"disk {a.disk or 'none'}")
    print("Serial console on this terminal. Quit QEMU: Ctrl-A then X. "
          "A reboot restarts QEMU; a power-off ends the run.")
    argv = qemu_argv(a.payload, state, a.disk, a.firmware, True, a.append,
                     memory=a.memory, rom=rom, cpu=a.cpu)
    card = None
    if a.dongle:
        sock = os.path.join(a.payload, "ccid.sock")
        argv += dongle_argv(a.dongle, sock)
        if a.dongle == "model":
            card = (os.path.join(a.payload, "card.json"), sock)
    sys.exit(run_machine(argv, state, tpm12=tpm12, card=card))


if __name__ == "__main__":
    main()
