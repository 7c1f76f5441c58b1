"""VM test driver (Python standard library only).

Boots the payload in QEMU (TCG) with a private swtpm, talks to the serial
console through pipes, and matches markers as substrings (escape codes and
kernel messages may surround them). Only the qemu and swtpm this driver
started are ever stopped, by their pid.

    with VM(payload_dir, firmware="ovmf", disk=img) as vm:
        vm.expect("heads>", 180)
        vm.send("p\n")

Builders used by the tests: ensure_payload() (tools/payload, rebuilt when an
input is newer than the initrd) and ensure_disk() (tools/disk, cached by
recipe hash; needs root).
"""
import base64
import hashlib
import importlib.util
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers"))
import heads_tap  # noqa: E402

SRCDIR = os.environ.get("HEADS_SRCDIR",
                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILDDIR = os.environ.get("HEADS_BUILDDIR", os.path.join(SRCDIR, "build"))
HEADS = os.environ.get("HEADS", os.path.join(BUILDDIR, "heads"))
BOARD = os.path.join(SRCDIR, "boards", "qemu")
QEMU_DIR = os.path.join(BUILDDIR, "qemu")

_spec = importlib.util.spec_from_file_location("board_qemu_run", os.path.join(BOARD, "run.py"))
board = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board)

# Board qemu-coreboot: coreboot + Heads from an 8 MiB flash image (pflash).
CB_BOARD = os.path.join(SRCDIR, "boards", "qemu-coreboot")
CB_OUT = os.path.join(BUILDDIR, "qemu-coreboot")
_spec = importlib.util.spec_from_file_location("board_cb_run", os.path.join(CB_BOARD, "run.py"))
cbboard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cbboard)


def _board_name():
    for a in sys.argv[1:]:
        if a.startswith("--board="):
            return a.split("=", 1)[1]
    return os.environ.get("HEADS_VM_BOARD", "qemu")


# The board a test file runs on when it runs on either (`--board=qemu-coreboot`
# among its arguments, or HEADS_VM_BOARD): "qemu" (SeaBIOS/OVMF, -kernel,
# the virtio ROM config area) or "qemu-coreboot" (coreboot.rom as pflash,
# the owner's files in its CBFS).
BOARD_NAME = _board_name()


def on_coreboot():
    return BOARD_NAME == "qemu-coreboot"


def coreboot_flash(path, settings='export CONFIG_HEADS_UI="line"\n'):
    """The machine's flash for board qemu-coreboot: a private copy of the
    built ROM (test_vm_coreboot.ensure_rom: built when an input changed)
    whose CBFS holds etc/config.user = settings (the serial line UI by
    default: coreboot's kernel command line is inside the ROM)."""
    import test_vm_coreboot
    with open(test_vm_coreboot.ensure_rom(), "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    if settings:
        cfg = path + ".config.user"
        with open(cfg, "w") as f:
            f.write(settings)
        subprocess.run([HEADS, "rom", "add", "--device", path, f"etc/config.user={cfg}"],
                       check=True, capture_output=True)
    return path


class SkipVM(Exception):
    """The VM suite cannot run here (missing tool, not root)."""


def log(msg):
    print(f"[vm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- builders ---------------------------------------------------------------

def payload_inputs():
    files = [HEADS, os.path.join(SRCDIR, "tools", "payload", "build-payload.py")]
    files += [os.path.join(BOARD, f) for f in os.listdir(BOARD)]
    return files


def build_payload(out):
    r = subprocess.run([sys.executable, os.path.join(SRCDIR, "tools", "payload", "build-payload.py"),
                        "--board", BOARD, "--heads", HEADS, "--out", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"payload build failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def ensure_payload(out=QEMU_DIR):
    for tool in ("qemu-system-x86_64", "swtpm"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            raise SkipVM(f"{tool} not installed (make deps)")
    initrd = os.path.join(out, "initrd.cpio.xz")
    if os.path.exists(initrd):
        t = os.path.getmtime(initrd)
        if all(os.path.getmtime(f) <= t for f in payload_inputs() if os.path.exists(f)):
            return out
    log(f"building the payload into {out}")
    sys.stdout.write(build_payload(out))
    return out


def build_disk(script, what, image, out=QEMU_DIR):
    """Run a disk recipe (tools/<dir>/<script>, as root: mmdebstrap, chroot;
    cached by recipe hash) into out; returns out/image."""
    if os.geteuid() != 0:
        raise SkipVM(f"the {what} is built as root (mmdebstrap, chroot)")
    log(f"building the {what} (mmdebstrap on the first run: minutes)")
    r = subprocess.run([os.path.join(SRCDIR, "tools", script), out],
                       capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode == 77:
        raise SkipVM(r.stderr.strip())
    if r.returncode != 0:
        raise RuntimeError(f"{what} build failed:\n{r.stderr}")
    return os.path.join(out, image)


def ensure_disk(out=QEMU_DIR):
    """The demo disk (tools/disk): Debian, root and /home in LUKS2."""
    return build_disk("disk/build-disk.sh", "demo disk", "demo-disk.img", out)


def ensure_xen_disk(out=QEMU_DIR):
    """The Qubes-like demo disk (tools/disk-xen): Xen 4.17 + a Debian dom0,
    btrfs root and swap in two LUKS2 containers."""
    return build_disk("disk-xen/build-disk-xen.sh", "Xen demo disk", "xen-disk.img", out)


# --- the VM -----------------------------------------------------------------

class VM:
    """One boot of a QEMU board. state: a TPM state directory kept across
    boots (default: a private one for this boot); snapshot: the disk's writes
    are dropped at exit; rom: the ROM config area image (kept, it is the
    machine's flash); drives: further images (see board.qemu_argv).
    flash: boot board qemu-coreboot from this flash image (pflash, written
    by the guest; payload, firmware, append and cpu are then unused: the
    kernel command line is inside the ROM)."""

    def __init__(self, payload, firmware="ovmf", disk=None, append="", name="vm",
                 state=None, snapshot=True, rom=None, drives=(), memory=1024, cpu=None,
                 tpm12=False, flash=None, card=None):
        self.payload, self.firmware, self.disk, self.append = payload, firmware, disk, append
        # card: the OpenPGP card model's JSON state file (tests/devices/
        # openpgp_card.py, on the host): plugged in as a USB CCID reader
        # (qemu-xhci + usb-ccid + ccid-card-passthru); None: no dongle
        self.card, self.card_proc = card, None
        self.tpm12 = tpm12  # swtpm in TPM 1.2 mode (board.start_swtpm)
        self.flash = flash  # a coreboot flash image: board qemu-coreboot
        self.snapshot, self.rom, self.drives = snapshot, rom, drives
        self.memory, self.cpu = memory, cpu
        self._tmp = tempfile.TemporaryDirectory(prefix=f"heads-{name}-")
        self.state = state or os.path.join(self._tmp.name, "tpm-state")
        self.log_path = os.path.join(BUILDDIR, "meson-logs", f"{name}-console.log")
        self.buf = bytearray()
        self.pos = 0
        self.lock = threading.Lock()
        self.swtpm = self.qemu = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        self.swtpm = board.start_swtpm(self.state, self.tpm12)
        if self.flash:
            argv = cbboard.qemu_argv(self.flash, self.state, self.disk, interactive=False,
                                     memory=self.memory, snapshot=self.snapshot, rom=self.rom,
                                     drives=self.drives)
        else:
            argv = board.qemu_argv(self.payload, self.state, self.disk, self.firmware,
                                   interactive=False, append=self.append,
                                   snapshot=self.snapshot, rom=self.rom, drives=self.drives,
                                   memory=self.memory, cpu=self.cpu)
        if self.card:
            sock = os.path.join(self._tmp.name, "ccid.sock")
            argv += card_argv(sock)
        self.spawn(argv)
        if self.card:
            self.card_proc = start_card(self.card, sock, self.log_path + ".apdu")

    def spawn(self, argv):
        """Start argv (QEMU, or what runs it) with the console on pipes,
        logged to log_path; self.qemu is that process."""
        log("starting: " + " ".join(argv))
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.qemu = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.t0 = time.monotonic()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        out = self.qemu.stdout
        while True:
            b = out.read1(65536)
            if not b:
                break
            with self.lock:
                self.buf += b
            self._log.write(b)
            self._log.flush()

    def elapsed(self):
        return time.monotonic() - self.t0

    def expect(self, marker, timeout, regex=False):
        """Wait for marker after the last match; returns the text from the
        last match up to and including it. Raises TimeoutError."""
        pat = re.compile(marker.encode() if regex else re.escape(marker.encode()))
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                m = pat.search(self.buf, self.pos)
                if m:
                    text = bytes(self.buf[self.pos:m.end()])
                    self.pos = m.end()
                    return text.decode(errors="replace")
                tail = bytes(self.buf[-2000:])
            if self.qemu.poll() is not None:
                raise TimeoutError(f"QEMU exited ({self.qemu.returncode}) before {marker!r}; "
                                   f"console tail:\n{tail.decode(errors='replace')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {marker!r} within {timeout} s; console tail:\n"
                                   f"{tail.decode(errors='replace')}")
            time.sleep(0.1)

    def send(self, text):
        self.qemu.stdin.write(text.encode())
        self.qemu.stdin.flush()

    def recovery_shell(self, timeout=300):
        """From power-on: `r` at init's one-key prompt (buffered in the tty
        until init reads it), then the recovery shell, kernel messages off."""
        self.expect("Run /init as init process", timeout)
        self.send("r")
        self.expect("heads init: measured boot done", timeout)
        self.expect("Entering the recovery shell", timeout)
        self.send("dmesg -n 1\n")

    def shell(self, command, timeout=60):
        """Run a command in the recovery shell; returns its output (between
        unique markers, so the echoed command line is not in it)."""
        tag = hashlib.sha256(os.urandom(8)).hexdigest()[:8]
        # The markers are made by the shell ($((...))), so the echo of the
        # command line does not match them.
        self.send(f"echo BEGIN-{tag}-$((6*7)); {command}; echo END-{tag}-$((6*7))\n")
        self.expect(f"BEGIN-{tag}-42", timeout)
        out = self.expect(f"END-{tag}-42", timeout)
        return out[:-len(f"END-{tag}-42")].replace("\r", "")

    def close(self):
        if self.qemu:
            if self.qemu.poll() is None:
                self.qemu.kill()
                self.qemu.wait()
            for f in (self.qemu.stdin, self.qemu.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        if self.card_proc:
            self.card_proc.terminate()
            try:
                self.card_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.card_proc.kill()
                self.card_proc.wait()
            self.card_proc = None
        board.stop(self.swtpm)
        if getattr(self, "_log", None):
            self._log.close()
        self._tmp.cleanup()


# --- the owner's OpenPGP card (issue 16) ------------------------------------

def card_argv(sock):
    """QEMU arguments of a USB CCID reader (usb-ccid on an xHCI controller)
    whose card is whatever speaks QEMU's passthru protocol on sock (the
    board's `--dongle model`)."""
    return board.dongle_argv("model", sock)


def start_card(state, sock, apdu_log):
    """The card model (tests/devices/openpgp_card.py, on the host; never in
    the payload) on QEMU's passthru socket, its state in the JSON file
    state (kept across boots), its APDUs logged to apdu_log."""
    return board.start_card_model(state, sock, apdu_log)


# --- the owner, for the flows that start from the recovery shell ----------

def owner_key_and_rom(test, tmp, uid):
    """The owner's signing key made on the host (GnuPG home in tmp, its
    agent killed at the test's cleanup) and its public keyring written into
    a blank ROM config area image; returns (the secret key export in
    base64, for the console; the ROM image path)."""
    home = os.path.join(tmp, "gnupg")
    os.mkdir(home, 0o700)
    test.addCleanup(subprocess.run, ["gpgconf", "--homedir", home, "--kill", "all"],
                    capture_output=True)
    gpg = ["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
           "--passphrase", ""]
    subprocess.run([*gpg, "--quick-gen-key", uid, "ed25519", "sign", "never"], check=True,
                   capture_output=True)
    secret_key = base64.b64encode(subprocess.run([*gpg, "--export-secret-keys"], check=True,
                                                 capture_output=True).stdout).decode()
    rom = board.blank_rom(os.path.join(tmp, "rom.img"))
    subprocess.run([HEADS, "rom", "add-keyring", "--gnupghome", home, "--device", rom],
                   check=True, capture_output=True)
    return secret_key, rom


def check(m, command, timeout=600):
    """Run command in the VM's recovery shell; returns (exit status, output)."""
    out = m.shell(f"{command}; echo rc=$?", timeout)
    rc = re.findall(r"rc=(\d+)", out)
    return int(rc[-1]) if rc else None, out


def owner_setup(test, m, secret_key, owner, drk, duk, timeout=600):
    """In the recovery shell: the passphrases in /tmp/t (owner, drk, duk
    twice: new and repeat), the TPM reset with the owner passphrase, a TOTP
    sealed, /boot (vda1) mounted, the owner's secret key imported into
    /tmp/t/gnupg (a tmpfs GnuPG home)."""
    m.shell("mkdir -m 700 /tmp/t && cd /tmp/t && "
            f"echo '{owner}' > owner && echo '{drk}' > drk && "
            f"echo '{duk}' > duk && echo '{duk}' >> duk && cd /")
    for command in ("heads tpm reset --owner-fd 3 3</tmp/t/owner",
                    "heads totp seal --owner-fd 3 3</tmp/t/owner >/dev/null"):
        rc, out = check(m, command, timeout)
        test.assertEqual(rc, 0, out)
    m.shell("mount -t ext4 /dev/vda1 /boot")
    m.shell(f"mkdir -m 700 /tmp/t/gnupg && echo {secret_key} | base64 -d > /tmp/t/sk")
    rc, out = check(m, "gpg --homedir /tmp/t/gnupg --batch --import /tmp/t/sk 2>&1", timeout)
    test.assertEqual(rc, 0, out)


def sign_and_duk_setup(test, m, default, timeout=600):
    """After owner_setup: /boot signed with entry number `default` as the
    default, then `heads duk setup` on both containers (/dev/vda2,
    /dev/vda3: DUK in slot 31, the DRK in slot 0, crypttab from the
    default initrd); returns the crypttab overrides it wrote."""
    rc, out = check(m, "heads boot sign --boot /boot --gnupghome /tmp/t/gnupg "
                       f"--default {default} --owner-fd 5 5</tmp/t/owner 2>&1", timeout)
    test.assertEqual(rc, 0, out)
    rc, out = check(m, "heads duk setup --boot /boot /dev/vda2 /dev/vda3 --yes "
                       "--gnupghome /tmp/t/gnupg --keyring /.gnupg --drk-fd 3 "
                       "--duk-fd 4 --owner-fd 5 "
                       "3</tmp/t/drk 4</tmp/t/duk 5</tmp/t/owner 2>&1", timeout)
    test.assertEqual(rc, 0, out)
    test.assertIn("/dev/vda2: duk slot 31 drk slot 0", out)
    test.assertIn("/dev/vda3: duk slot 31 drk slot 0", out)
    test.assertIn("crypttab: from the default initrd", out)
    return m.shell("cat /boot/kexec_initrd_crypttab_overrides.txt")


def power_off(m):
    """/boot unmounted, the guest powered off from the shell, QEMU gone."""
    m.shell("umount /boot; sync")
    m.send("poweroff -f\n")
    m.qemu.wait(120)


# --- TCG event log (crypto-agile, TCG PC Client Platform Firmware Profile) ---

EV_NO_ACTION = 3
ALG_SHA256 = 0x000B


def replay_eventlog(data):
    """Replay the SHA-256 bank of a crypto-agile TCG event log; returns
    {pcr: 32-byte value} for every PCR the log touches."""
    pcrs = {}
    # First event: TCG_PCR_EVENT (SHA-1 layout) carrying the Spec ID event.
    _, etype, = struct.unpack_from("<II", data, 0)
    size, = struct.unpack_from("<I", data, 28)
    spec = data[32:32 + size]
    if not spec.startswith(b"Spec ID Event03"):
        raise ValueError("not a crypto-agile event log")
    nalg, = struct.unpack_from("<I", spec, 24)
    sizes = {}
    for i in range(nalg):
        alg, dsize = struct.unpack_from("<HH", spec, 28 + 4 * i)
        sizes[alg] = dsize
    off = 32 + size
    while off + 12 <= len(data):
        pcr, etype, count = struct.unpack_from("<III", data, off)
        off += 12
        digest = None
        for _ in range(count):
            alg, = struct.unpack_from("<H", data, off)
            off += 2
            if alg == ALG_SHA256:
                digest = data[off:off + 32]
            off += sizes[alg]
        esize, = struct.unpack_from("<I", data, off)
        off += 4
        event = data[off:off + esize]
        off += esize
        if etype == EV_NO_ACTION:
            if event.startswith(b"StartupLocality\0"):
                pcrs[0] = bytes(31) + event[16:17]
            continue
        pcrs[pcr] = hashlib.sha256(pcrs.get(pcr, bytes(32)) + digest).digest()
    return pcrs


def parse_trace(text):
    """MEASURE lines of the measurement trace -> [(pcr, digest bytes, description)]."""
    out = []
    for line in text.splitlines():
        f = line.strip().split("\t")
        if len(f) >= 5 and f[0] == "MEASURE" and f[2] == "sha256":
            out.append((int(f[1]), bytes.fromhex(f[3]), f[4]))
    return out


def extend(value, digest):
    return hashlib.sha256(value + digest).digest()


def b64(text):
    return base64.b64decode("".join(text.split()))


def main():
    """The entry point of a VM test file: each case reported in TAP, exit 1
    on a failure, 77 when every case skipped (tests/helpers/heads_tap.py)."""
    heads_tap.main()
