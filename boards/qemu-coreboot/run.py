#!/usr/bin/env python3
"""Run recipe of the qemu-coreboot board: coreboot + Heads from the flash.

    run.py --out build/qemu-coreboot [--disk IMG] [--state DIR] [--flash IMG] [--rom IMG]
           [--usb IMG]

QEMU q35 (TCG: coreboot does not run under KVM here) with the ROM as
writable system flash (pflash unit 0: the guest writes it with CFI commands
and QEMU keeps the writes in the file), a software TPM 2.0 (swtpm, no
startup-clear: coreboot sends TPM2_Startup), the serial console on this
terminal (Ctrl-A X quits). A guest reset restarts QEMU on the same
flash, disks and TPM state (a new process, so coreboot's first boot path runs
again: a QEMU system_reset came back without ACPI tables); a guest
power-off ends run.py with exit 0 (boards/qemu/run.py run_machine). The flash image (--flash, default
OUT/flash.rom) is a copy of OUT/coreboot.rom made when missing: the
machine's flash, kept across boots (`make run-reset` drops it).
The owner's files (ROM keyring, config.user) are CBFS files of that flash,
written by the menu through /dev/mtd0; --rom IMG attaches a virtio ROM
config area instead (as on boards/qemu), which then wins.

Also imported by the VM test driver (tests/vm/vm.py).
"""
import argparse
import importlib.util
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "board_qemu_run", os.path.join(os.path.dirname(HERE), "qemu", "run.py"))
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)

ROM_SIZE = 8 * 1024 * 1024


def flash_copy(rom, flash):
    """The writable flash image: a copy of the built ROM (made when missing
    or when the ROM was rebuilt since, i.e. newer than the copy)."""
    if not os.path.exists(flash) or os.path.getmtime(rom) > os.path.getmtime(flash):
        shutil.copyfile(rom, flash + ".tmp")
        os.replace(flash + ".tmp", flash)
    return flash


def usb_stick_argv(image):
    """A USB drive (xHCI, usb-storage, removable: what the Flash and USB boot
    menus list), read-only."""
    return ["-device", "qemu-xhci,id=xhci",
            "-drive", f"if=none,id=usbstick,format=raw,readonly=on,file={image}",
            "-device", "usb-storage,bus=xhci.0,drive=usbstick,removable=on"]


def qemu_argv(flash, state, disk=None, interactive=True, memory=1024, snapshot=False,
              rom=None, drives=(), readonly=False, cpu=None, usb=None):
    """cpu: a -cpu model (None: QEMU's default; Xen's PV dom0 needs
    "max,-smap" under TCG, see boards/qemu/run.py); usb: an image attached
    as a USB drive (usb_stick_argv)."""
    argv = ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-m", str(memory),
            *(["-cpu", cpu] if cpu else [])]
    if readonly or os.path.getsize(flash) > ROM_SIZE:
        argv += ["-bios", flash]  # QEMU takes no writable system flash over 8 MiB
    else:
        argv += ["-drive", f"if=pflash,format=raw,unit=0,file={flash}"]
    argv += ["-chardev", f"socket,id=chrtpm,path={os.path.join(state, 'swtpm.sock')}",
             "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
             "-device", "tpm-tis,tpmdev=tpm0",
             "-nic", "none", "-no-reboot"]
    if disk:
        argv += common.virtio_drive(disk, "disk", snapshot=snapshot)
    for i, d in enumerate(drives):
        path, serial = (d, None) if isinstance(d, str) else d
        argv += common.virtio_drive(path, f"drive{i}", serial)
    if rom:
        argv += common.virtio_drive(rom, "rom", common.ROM_SERIAL)
    if usb:
        argv += usb_stick_argv(usb)
    if interactive:
        argv += ["-nographic"]
    else:
        argv += ["-display", "none", "-monitor", "none", "-serial", "stdio"]
    return argv


def main():
    ap = argparse.ArgumentParser(description="Boot coreboot + Heads in QEMU with a software TPM.")
    ap.add_argument("--out", required=True, help="directory with coreboot.rom (make rom)")
    ap.add_argument("--disk", help="raw disk image (the demo disk)")
    ap.add_argument("--state", help="swtpm state directory (default OUT/tpm-state)")
    ap.add_argument("--flash", help="writable flash image (default OUT/flash.rom)")
    ap.add_argument("--rom", help="a virtio ROM config area image (default: none, the "
                    "owner's files are in the flash's CBFS)")
    ap.add_argument("--usb", help="a disk image attached as a USB drive (read-only), e.g. "
                    "an ext4 or vfat image holding a ROM for Options -> f")
    a = ap.parse_args()
    rom = os.path.join(a.out, "coreboot.rom")
    if not os.path.exists(rom):
        sys.exit(f"run: {rom} missing: run `make rom`")
    flash = flash_copy(rom, a.flash or os.path.join(a.out, "flash.rom"))
    state = a.state or os.path.join(a.out, "tpm-state")
    romcfg = common.blank_rom(a.rom) if a.rom else None
    print(f"qemu-coreboot: flash {flash}, TPM state {state}, disk {a.disk or 'none'}")
    print("Serial console on this terminal. Quit QEMU: Ctrl-A then X. "
          "A reboot restarts QEMU; a power-off ends the run.")
    sys.exit(common.run_machine(qemu_argv(flash, state, a.disk, True, rom=romcfg, usb=a.usb), state))


if __name__ == "__main__":
    main()
