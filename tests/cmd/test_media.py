"""heads media scan on real block devices (loop devices over images made
here: ext4 filled with mkfs.ext4 -d, a dd-written ISO from xorriso, vfat
from mkfs.vfat), and heads iso entries finding its own device and path on
a mounted medium. Needs root (loop devices, mounts)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import HEADS, main, run  # noqa: E402

ROOT = os.geteuid() == 0


def sh(*args, input=None, check=True):
    return subprocess.run(list(args), input=input, capture_output=True, check=check)


def build_tree(root, files):
    for rel, content in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)


GRUB = 'menuentry "USB OS" {\n  linux /k/vmlinuz root=/dev/sda2 ro\n  initrd /k/initrd\n}\n'


@unittest.skipUnless(ROOT, "needs root for loop devices and mounts")
class MediaScan(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="heads-test-media-")
        self.tmp = self._tmp.name
        self.loops = []
        self.addCleanup(self.detach)

    def tearDown(self):
        self._tmp.cleanup()

    def detach(self):
        for d in reversed(self.loops):
            subprocess.run(["losetup", "-d", d], capture_output=True)

    def attach(self, image, offset=None, size=None):
        args = ["losetup", "-f", "--show"]
        if offset is not None:
            args += ["--offset", str(offset), "--sizelimit", str(size)]
        dev = sh(*args, image).stdout.decode().strip()
        self.loops.append(dev)
        return dev

    def ext4(self, files, label="USBSTICK", mib=16):
        self.n = getattr(self, "n", 0) + 1
        root = os.path.join(self.tmp, f"ext4-root{self.n}")
        build_tree(root, files)
        img = os.path.join(self.tmp, f"ext4-{self.n}.img")
        with open(img, "wb") as f:
            f.truncate(mib << 20)
        sh("mkfs.ext4", "-q", "-L", label, "-d", root, img)
        return img

    def scan(self, *devs):
        a = ["media", "scan", "--json"]
        for d in devs:
            a += ["--device", d]
        r = run(*a)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def assert_unmounted(self, dev):
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(dev + " ", f.read())
        # the loop device is not held by a leftover mount anywhere
        sh("losetup", "-d", dev)
        self.loops.remove(dev)

    def test_ext4_stick_isos_and_boot_config(self):
        files = {
            "isos/debian-live.iso": b"\0" * 4096,
            "isos/debian-live.iso.sig": b"sig",
            "isos/new/ubuntu.ISO": b"\0" * 100,
            "isos/new/SHA256SUMS": "0" * 64 + "  ubuntu.ISO\n",
            "isos/readme.txt": "not an iso\n",
            "a/b/c/d/e/f/g/h/i/deep.iso": b"x",  # beyond 8 levels
            "boot/grub/grub.cfg": GRUB,
            "k/vmlinuz": "kernel\n",
            "k/initrd": "initrd\n",
        }
        img = self.ext4(files)
        root = os.path.join(self.tmp, "ext4-root1")
        os.symlink("isos/debian-live.iso", os.path.join(root, "link.iso"))
        sh("mkfs.ext4", "-q", "-F", "-L", "USBSTICK", "-d", root, img)
        dev = self.attach(img)
        vols = self.scan(dev)
        self.assertEqual(len(vols), 1)
        v = vols[0]
        self.assertEqual((v["device"], v["whole_disk"], v["fstype"], v["label"], v["status"]),
                         (dev, True, "ext4", "USBSTICK", "ok"))
        self.assertEqual(v["size"], 16 << 20)
        # reverse path order, as the reference's menu; no symlink, not too deep
        self.assertEqual([(i["path"], i["size"], i["signature"]) for i in v["isos"]],
                         [("/isos/new/ubuntu.ISO", 100, "SHA256SUMS"),
                          ("/isos/debian-live.iso", 4096, "debian-live.iso.sig")])
        self.assertTrue(v["isos_truncated"])
        self.assertEqual([(e["title"], e["kernel"], e["cmdline"]) for e in v["entries"]],
                         [("USB OS", "/k/vmlinuz", "root=/dev/sda2 ro")])
        self.assert_unmounted(dev)

    def test_iso_count_is_bounded(self):
        files = {f"many/{i:03d}.iso": b"" for i in range(300)}
        dev = self.attach(self.ext4(files))
        v = self.scan(dev)[0]
        self.assertEqual(len(v["isos"]), 256)
        self.assertTrue(v["isos_truncated"])
        paths = [i["path"] for i in v["isos"]]
        self.assertEqual(paths, sorted(paths, reverse=True))
        self.assertEqual(len(set(paths)), 256)
        self.assertTrue(set(paths) <= {f"/many/{i:03d}.iso" for i in range(300)})

    def test_dd_written_iso_is_read_without_mounting(self):
        root = os.path.join(self.tmp, "iso-root")
        build_tree(root, {
            "boot/grub/grub.cfg": 'menuentry "Live" {\n linux /live/vmlinuz boot=live\n'
                                  ' initrd /live/initrd.img\n}\n',
            "live/vmlinuz": "k\n", "live/initrd.img": "i\n"})
        iso = os.path.join(self.tmp, "live.iso")
        # a hybrid image (MBR partition table + iso9660), as distributions ship
        sh("xorriso", "-as", "mkisofs", "-R", "-J", "-V", "LIVE_2026", "-partition_offset", "16",
           "-o", iso, root)
        dev = self.attach(iso)
        v = self.scan(dev)[0]
        self.assertEqual((v["fstype"], v["label"], v["status"], v["whole_disk"]),
                         ("iso9660", "LIVE_2026", "ok", True))
        self.assertEqual([(e["title"], e["cmdline"]) for e in v["entries"]],
                         [("Live", "boot=live")])
        self.assertEqual(v["isos"], [])

    def test_partition_by_offset_and_empty_device(self):
        # a GPT disk whose ext4 partition is reached by an offset loop (no
        # partition nodes in this container), and a device with no file system
        img = self.ext4({"x.iso": b"1"}, mib=8)
        disk = os.path.join(self.tmp, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(12 << 20)
        sh("sfdisk", "-q", disk, input=b"label: gpt\nstart=2048, size=16384\n")
        with open(img, "rb") as s, open(disk, "r+b") as d:
            d.seek(2048 * 512)
            d.write(s.read())
        part = self.attach(disk, 2048 * 512, 8 << 20)
        blank = os.path.join(self.tmp, "blank.img")
        with open(blank, "wb") as f:
            f.truncate(1 << 20)
        empty = self.attach(blank)
        vols = self.scan(part, empty)
        self.assertEqual([(v["device"], v["fstype"], v["status"]) for v in vols],
                         [(part, "ext4", "ok"), (empty, None, "no-filesystem")])
        self.assertEqual([i["path"] for i in vols[0]["isos"]], ["/x.iso"])

    def test_vfat_is_probed(self):
        img = os.path.join(self.tmp, "vfat.img")
        with open(img, "wb") as f:
            f.truncate(8 << 20)
        sh("mkfs.vfat", "-n", "STICK", img)
        dev = self.attach(img)
        r = run("media", "scan", "--json", "--device", dev)
        v = json.loads(r.stdout)[0]
        self.assertEqual((v["fstype"], v["label"]), ("vfat", "STICK"))
        with open("/proc/filesystems") as f:
            known = "\tvfat\n" in f.read()
        if known:  # mounted read-only and walked
            self.assertEqual((r.returncode, v["status"], v["isos"]), (0, "ok", []))
        else:      # this kernel has no vfat: said so, not an error of the scan
            self.assertEqual((r.returncode, v["status"]), (0, "unsupported"))
            self.assertIn("vfat not supported by this kernel", v["error"])

    def test_text_output(self):
        dev = self.attach(self.ext4({"a.iso": b"1", "a.iso.asc": b"s",
                                     "boot/grub/grub.cfg": GRUB, "k/vmlinuz": "k",
                                     "k/initrd": "i"}))
        r = run("media", "scan", "--device", dev)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            f"{dev}\text4\tUSBSTICK\tok",
            "  iso\t/a.iso\t1\ta.iso.asc",
            "  entry\t1\tlinux\tUSB OS",
        ])

    def test_not_a_block_device(self):
        r = run("media", "scan", "--device", os.path.join(self.tmp))
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a block device", r.stderr)

    def test_iso_entries_finds_its_device_and_path(self):
        # the ISO on a mounted medium: /dev/disk/by-uuid/<UUID> and the path
        # inside the medium come from the descriptor, not from options
        iso_root = os.path.join(self.tmp, "iso-root")
        build_tree(iso_root, {
            "boot/grub/grub.cfg": 'menuentry "Live" {\n linux /live/vmlinuz boot=live\n}\n',
            "live/vmlinuz": "k\n"})
        iso = os.path.join(self.tmp, "live.iso")
        sh("xorriso", "-as", "mkisofs", "-R", "-o", iso, iso_root)
        with open(iso, "rb") as f:
            img = self.ext4({"isos/live.iso": f.read()}, mib=8)
        uuid = sh("blkid", "-o", "value", "-s", "UUID", img).stdout.decode().strip()
        dev = self.attach(img)
        mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(mnt)
        r = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -o ro "$1" "$2" && exec "$3" iso entries --iso "$2/isos/live.iso"',
             "sh", dev, mnt, HEADS], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        cmdline = r.stdout.split("\t")[4].split()
        self.assertIn("findiso=/isos/live.iso", cmdline)
        self.assertEqual(r.stdout.split("\t")[1], "[OK]")
        self.assertTrue(uuid)
        # the generic words would carry the device: check it with a family-less entry
        build_tree(iso_root, {"boot/grub/grub.cfg":
                              'menuentry "X" {\n linux /live/vmlinuz root=/dev/ram0\n}\n'})
        sh("xorriso", "-as", "mkisofs", "-R", "-o", iso, iso_root)
        with open(iso, "rb") as f:
            img = self.ext4({"isos/live.iso": f.read()}, mib=8)
        uuid = sh("blkid", "-o", "value", "-s", "UUID", img).stdout.decode().strip()
        dev = self.attach(img)
        r = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -o ro "$1" "$2" && exec "$3" iso entries --iso "$2/isos/live.iso"',
             "sh", dev, mnt, HEADS], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        cmdline = r.stdout.split("\t")[4].split()
        self.assertIn(f"img_dev=/dev/disk/by-uuid/{uuid}", cmdline)
        self.assertIn(f"iso={uuid}/isos/live.iso", cmdline)


if __name__ == "__main__":
    main()
