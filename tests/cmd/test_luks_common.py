"""Shared helpers for the `luks` suite: LUKS images, loop devices, an
independent data oracle (no device-mapper needed)."""
import os
import re
import signal
import subprocess
import time
import unittest

from heads_test import HEADS

# Reencryption (`cryptsetup reencrypt`, `heads luks reencrypt`) takes
# libcryptsetup's reencryption lock in /run/cryptsetup: root only. Without
# root these classes skip by name (the summary lists them; under CI, a failure).
needs_root = unittest.skipUnless(os.geteuid() == 0,
                                 "reencryption locks in /run/cryptsetup: needs root")

CHEAP = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]
ARGON_CHEAP = ["--pbkdf", "argon2id", "--pbkdf-memory", "32768",
               "--pbkdf-force-iterations", "4", "--pbkdf-parallel", "1"]


def sh(*args, input=None, check=True):
    return subprocess.run(list(args), input=input, capture_output=True,
                          check=check)


def _pipes(fds):
    """{"--drk-fd": bytes} -> (extra argv, fds to pass); the data is written
    into a pipe and its read end passed."""
    argv, pass_fds = [], []
    for opt, data in (fds or {}).items():
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        argv += [opt, str(r)]
        pass_fds.append(r)
    return argv, pass_fds


def heads(*args, fds=None, timeout=300):
    """Run heads without a controlling terminal; fds: {"--drk-fd": bytes}."""
    argv, pass_fds = _pipes(fds)
    sub = list(args[:2])
    try:
        return subprocess.run([HEADS, *sub, *argv, *args[2:]], capture_output=True,
                              text=True, pass_fds=pass_fds, timeout=timeout,
                              start_new_session=True, stdin=subprocess.DEVNULL)
    finally:
        for fd in pass_fds:
            os.close(fd)


def spawn(*args, fds):
    """Start heads in the background (for kill tests)."""
    argv, pass_fds = _pipes(fds)
    p = subprocess.Popen([HEADS, *args[:2], *argv, *args[2:]], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, pass_fds=pass_fds,
                         start_new_session=True, stdin=subprocess.DEVNULL)
    for fd in pass_fds:
        os.close(fd)
    return p


def luks_format(path, passphrase, version=2, slot=None, pbkdf=CHEAP, size=None):
    if size is not None and not path.startswith("/dev/"):
        with open(path, "wb") as f:
            f.truncate(size)
    args = ["cryptsetup", "luksFormat", "-q", "--type", f"luks{version}",
            *pbkdf, "--key-file", "-"]
    if slot is not None:
        args += ["--key-slot", str(slot)]
    sh(*args, path, input=passphrase)


def add_key(path, existing, new, slot, pbkdf=CHEAP):
    kf = path + f".k{slot}"
    with open(kf, "wb") as f:
        f.write(new)
    try:
        sh("cryptsetup", "luksAddKey", "-q", *pbkdf, "--key-file", "-",
           "--new-key-slot", str(slot), path, kf, input=existing)
    finally:
        os.unlink(kf)


def opens(path, passphrase, slot=None):
    args = ["cryptsetup", "open", "--test-passphrase", "--key-file", "-"]
    if slot is not None:
        args += ["--key-slot", str(slot)]
    return sh(*args, path, input=passphrase, check=False).returncode == 0


def dump(path):
    return sh("cryptsetup", "luksDump", path).stdout.decode()


def used_slots(path):
    d = dump(path)
    if re.search(r"^Version:\s+1", d, re.M):
        return [int(m) for m in re.findall(r"^Key Slot (\d+): ENABLED", d, re.M)]
    return [int(m) for m in re.findall(r"^\s+(\d+): luks2", d, re.M)]


def luks_uuid(path):
    return sh("cryptsetup", "luksUUID", path).stdout.decode().strip()


class Loops:
    """Loop devices attached by this test, detached by name."""

    def __init__(self):
        self.devs = []

    def attach(self, image, offset=None, size=None, partscan=False):
        args = ["losetup", "-f", "--show"]
        if offset is not None:
            args += ["--offset", str(offset), "--sizelimit", str(size)]
        if partscan:
            args.append("-P")
        dev = sh(*args, image).stdout.decode().strip()
        self.devs.append(dev)
        return dev

    def detach_all(self):
        for d in reversed(self.devs):
            subprocess.run(["losetup", "-d", d], capture_output=True)
        self.devs = []


def gpt_partitions(loops, image, count, part_mib):
    """A GPT disk image with count partitions; returns one block device per
    partition: the -P partition nodes if they appear, else one loop device
    per partition with --offset/--sizelimit."""
    with open(image, "wb") as f:
        f.truncate((count * part_mib + 2) << 20)
    script = "label: gpt\n" + "".join(f"size={part_mib}MiB\n" for _ in range(count))
    sh("sfdisk", "-q", image, input=script.encode())
    layout = sh("sfdisk", "-J", image).stdout.decode()
    import json
    parts = json.loads(layout)["partitiontable"]["partitions"]
    whole = loops.attach(image, partscan=True)
    nodes = [f"{whole}p{i + 1}" for i in range(count)]
    for _ in range(20):
        if all(os.path.exists(n) for n in nodes):
            return nodes, whole
        time.sleep(0.05)
    return [loops.attach(image, p["start"] * 512, p["size"] * 512) for p in parts], None


def volume_key(path, passphrase, slot=None):
    extra = ["--key-slot", str(slot)] if slot is not None else []
    out = sh("cryptsetup", "luksDump", "--dump-volume-key", "-q", *extra, "--key-file", "-",
             path, input=passphrase).stdout.decode()
    m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s+)+)", out)
    return bytes.fromhex("".join(m.group(1).split()))


def data_offset(path):
    """Byte offset of the data segment (LUKS1 or LUKS2)."""
    d = dump(path)
    m = re.search(r"^Payload offset:\s*(\d+)", d, re.M)
    if m:
        return int(m.group(1)) * 512
    return int(re.search(r"offset:\s*(\d+) \[bytes\]", d).group(1))


def _xts(key, data, decrypt):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    out = bytearray()
    for sector in range(len(data) // 512):
        c = Cipher(algorithms.AES(key), modes.XTS(sector.to_bytes(16, "little")))
        c = c.decryptor() if decrypt else c.encryptor()
        out += c.update(data[sector * 512:(sector + 1) * 512]) + c.finalize()
    return bytes(out)


def oracle_decrypt(path, passphrase, length, key=None):
    """Decrypt the first length bytes of the data segment with an
    independent AES-XTS-plain64 implementation (python3-cryptography)."""
    if key is None:
        key = volume_key(path, passphrase)
    d = dump(path)
    if "aes-xts-plain64" not in d and not re.search(r"Cipher mode:\s*xts-plain64", d):
        raise AssertionError("oracle supports aes-xts-plain64 only")
    with open(path, "rb") as f:
        f.seek(data_offset(path))
        data = f.read(length)
    return _xts(key, data, True)


def oracle_encrypt(path, passphrase, plaintext):
    """Write plaintext into the data segment, encrypted with the volume key
    by the same independent AES-XTS-plain64 (for LUKS1, which cryptsetup
    cannot encrypt in place without device-mapper)."""
    key = volume_key(path, passphrase)
    with open(path, "r+b") as f:
        f.seek(data_offset(path))
        f.write(_xts(key, plaintext, False))


def encrypt_in_place(path, plaintext, passphrase, reduce_mib=8):
    """A file of known content encrypted in place by cryptsetup (LUKS2)."""
    with open(path, "wb") as f:
        f.write(plaintext)
        f.truncate(len(plaintext) + (reduce_mib << 20))
    sh("cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "-q",
       "--reduce-device-size", f"{reduce_mib}M", *CHEAP, "--force-offline-reencrypt",
       "--key-file", "-", path, input=passphrase)


# LeakSanitizer cannot run under ptrace (strace): it exits non-zero at the
# end of an ASan build's run. The sweeps only need the exit status.
TRACED_ENV = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
                  ":detect_leaks=0")


def reencrypt_killed_at(img, key, syscall, n, tmpdir):
    """`heads luks reencrypt` (1 MiB hotzones) SIGKILLed by strace's fault
    injection at the n-th `syscall`. Returns (killed, CompletedProcess):
    not killed means the run made fewer such calls and ran to its end."""
    rfd, w = os.pipe()
    os.write(w, key)
    os.close(w)
    try:
        p = subprocess.run(["strace", "-f", "-o", "/dev/null", "-e", f"trace={syscall}",
                            "-e", f"inject={syscall}:signal=SIGKILL:when={n}", HEADS,
                            "luks", "reencrypt", "--hotzone-mib", "1", "--tmpdir", tmpdir,
                            "--drk-fd", str(rfd), img], capture_output=True, text=True,
                           pass_fds=[rfd], timeout=120, env=TRACED_ENV)
    finally:
        os.close(rfd)
    return p.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), p
