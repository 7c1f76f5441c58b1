#!/bin/bash
# Build the QEMU board's demo disk (a build-time tool, run as root on the host).
#
#   tools/disk/build-disk.sh OUTDIR
#
# Result: OUTDIR/disk-<recipe hash>.img (raw, sparse) and the symlink
# OUTDIR/demo-disk.img -> it. The image is rebuilt only when a file of
# tools/disk/ changes (the hash); a copy is kept in /var/cache/heads/ so a
# fresh clone on the same machine does not debootstrap again, and debootstrap
# keeps its .debs in /var/cache/heads/debootstrap.
#
# Layout (GPT):
#   p1  /boot  ext4, label "boot": the target's vmlinuz, initrd.img, grub/grub.cfg
#   p2  LUKS2  "root_crypt": ext4 root of a minimal Debian 12 (debootstrap
#              minbase + linux-image-amd64 + cryptsetup-initramfs + systemd)
#   p3  LUKS2  "home_crypt": a second container (ext4, /home, noauto)
# Demo passphrases (cheap PBKDF2, 1000 iterations; NOT for real use):
#   root: heads-demo-root    home: heads-demo-home
#
# There is no device-mapper on the host, so LUKS cannot be opened here: each
# file system is made from a directory (mkfs.ext4 -d) in an image file whose
# last 32 MiB are left free, then encrypted in place with
# `cryptsetup reencrypt --encrypt --reduce-device-size 32M` (offline, no dm).
# Packages come only from the configured Debian mirror (debootstrap).
set -euo pipefail

out=${1:?usage: build-disk.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
root_pass=heads-demo-root
home_pass=heads-demo-home
root_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000a2
home_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000a3
boot_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000b1
root_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000b2
home_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000b3
packages=linux-image-amd64,cryptsetup,cryptsetup-initramfs,initramfs-tools,systemd-sysv,udev,kmod,e2fsprogs

if [ "$(id -u)" != 0 ]; then
	echo "build-disk: must run as root (debootstrap, chroot)" >&2
	exit 77
fi
for t in debootstrap cryptsetup mkfs.ext4 sfdisk; do
	command -v "$t" >/dev/null || { echo "build-disk: $t missing: run make deps" >&2; exit 1; }
done

hash=$(cat "$here"/* | sha256sum | cut -c1-16)
mkdir -p "$out" /var/cache/heads
out=$(cd "$out" && pwd)
img="$out/disk-$hash.img"
cache="/var/cache/heads/disk-$hash.img"
if [ -f "$img" ]; then
	ln -sfn "disk-$hash.img" "$out/demo-disk.img"
	echo "build-disk: up to date: $img"
	exit 0
fi
if [ -f "$cache" ]; then
	cp --sparse=always "$cache" "$img.tmp" && mv "$img.tmp" "$img"
	ln -sfn "disk-$hash.img" "$out/demo-disk.img"
	echo "build-disk: from cache $cache: $img"
	exit 0
fi

# The Debian mirror apt is configured with (deb822 URIs: or a deb line).
mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
	| grep -vE 'security|cloud.google|nodesource' | head -1 | awk '{print $2}' || true)
if [ -z "$mirror" ]; then
	echo "build-disk: no Debian mirror configured for apt (/etc/apt/sources.list*)" >&2
	exit 1
fi

work="$out/disk-work"
rootfs="$work/rootfs"
cleanup() {
	for m in dev/pts dev proc sys; do
		mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m" || true
	done
}
trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$work" /var/cache/heads/debootstrap

echo "build-disk: debootstrap $suite from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$packages" \
	--cache-dir=/var/cache/heads/debootstrap \
	"$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 || {
	tail -20 "$work/debootstrap.log" >&2
	echo "build-disk: debootstrap failed (log: $work/debootstrap.log)" >&2
	exit 1
}

# --- configure the target -------------------------------------------------
echo heads-demo > "$rootfs/etc/hostname"
cat > "$rootfs/etc/fstab" <<EOF
/dev/mapper/root_crypt / ext4 errors=remount-ro 0 1
UUID=$boot_fs_uuid /boot ext4 defaults,nofail 0 2
/dev/mapper/home_crypt /home ext4 noauto,nofail 0 2
EOF
cat > "$rootfs/etc/crypttab" <<EOF
root_crypt UUID=$root_uuid none luks,initramfs
home_crypt UUID=$home_uuid none luks,noauto
EOF
mkdir -p "$rootfs/etc/cryptsetup-initramfs"
echo "CRYPTSETUP=y" > "$rootfs/etc/cryptsetup-initramfs/conf-hook"
# A marker the VM tests wait for once the target's own init (systemd) runs.
cat > "$rootfs/etc/systemd/system/heads-demo-marker.service" <<'EOF'
[Unit]
Description=Heads demo target marker
DefaultDependencies=no
After=local-fs.target

[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/console
ExecStart=/bin/echo HEADS-DEMO-TARGET: systemd reached local-fs on the LUKS2 root

[Install]
WantedBy=sysinit.target
EOF
mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants"
ln -sf ../heads-demo-marker.service "$rootfs/etc/systemd/system/sysinit.target.wants/"
echo "root:heads" | chroot "$rootfs" chpasswd
mkdir -p "$rootfs/home/demo"
echo "The second LUKS2 container (home_crypt) of the Heads demo disk." > "$rootfs/home/demo/README"

mount -t proc proc "$rootfs/proc"
mount -t sysfs sysfs "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
chroot "$rootfs" update-initramfs -u -k all > "$work/initramfs.log" 2>&1 || {
	cat "$work/initramfs.log" >&2
	exit 1
}
cleanup
kver=$(ls "$rootfs/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
[ -n "$kver" ] || { echo "build-disk: no kernel in the target" >&2; exit 1; }

# --- /boot ------------------------------------------------------------------
bootdir="$work/boot"
homedir="$work/home"
mkdir -p "$bootdir/grub" "$homedir"
mv "$rootfs/boot/"* "$bootdir/"
mv "$rootfs/home/"* "$homedir/"
rm -f "$bootdir/vmlinuz" "$bootdir/vmlinuz.old" "$bootdir/initrd.img" "$bootdir/initrd.img.old"
rm -f "$rootfs/vmlinuz" "$rootfs/vmlinuz.old" "$rootfs/initrd.img" "$rootfs/initrd.img.old"
cat > "$bootdir/grub/grub.cfg" <<EOF
# Heads demo disk: a Debian 12 target on a LUKS2 root.
set default="0"
set timeout=5
menuentry 'Debian GNU/Linux (LUKS2 root)' --class debian --class gnu-linux {
	insmod ext2
	search --no-floppy --fs-uuid --set=root $boot_fs_uuid
	echo 'Loading Linux $kver ...'
	linux /vmlinuz-$kver root=/dev/mapper/root_crypt ro console=ttyS0
	echo 'Loading initial ramdisk ...'
	initrd /initrd.img-$kver
}
EOF

# --- file systems, then LUKS2 in place ----------------------------------------
export E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-1700000000}
mkfs_img() { # image size_mib label uuid dir
	truncate -s 0 "$1"
	truncate -s "${2}M" "$1"
	mkfs.ext4 -q -L "$3" -U "$4" -d "$5" -E root_owner=0:0 "$1" "$(( $2 - 32 ))M"
}
luks_img() { # image passphrase uuid
	printf %s "$2" | cryptsetup reencrypt --encrypt --type luks2 --batch-mode \
		--reduce-device-size 32M --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--uuid "$3" --force-offline-reencrypt --key-file - "$1"
}
root_mib=$(( $(du -sm "$rootfs" | cut -f1) * 13 / 10 + 160 ))
mkfs_img "$work/boot.img" 288 boot "$boot_fs_uuid" "$bootdir"
# The boot partition is not encrypted: drop the 32 MiB reserve.
truncate -s 256M "$work/boot.img"
mkfs_img "$work/root.img" "$root_mib" root "$root_fs_uuid" "$rootfs"
mkfs_img "$work/home.img" 64 home "$home_fs_uuid" "$homedir"
echo "build-disk: encrypting root (${root_mib} MiB) and home in place (LUKS2)"
luks_img "$work/root.img" "$root_pass" "$root_uuid"
luks_img "$work/home.img" "$home_pass" "$home_uuid"

# --- GPT ------------------------------------------------------------------------
total=$(( 1 + 256 + root_mib + 64 + 1 ))
truncate -s 0 "$img.tmp"
truncate -s "${total}M" "$img.tmp"
sfdisk -q "$img.tmp" <<EOF
label: gpt
label-id: 6C7F7F6E-1E3A-4C1B-9D0E-000000000000
start=1MiB, size=256MiB, type=linux, name=boot
size=${root_mib}MiB, type=linux, name=root
size=64MiB, type=linux, name=home
EOF
dd if="$work/boot.img" of="$img.tmp" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img.tmp" bs=1M seek=257 conv=notrunc,sparse status=none
dd if="$work/home.img" of="$img.tmp" bs=1M seek=$(( 257 + root_mib )) conv=notrunc,sparse status=none
mv "$img.tmp" "$img"
cp --sparse=always "$img" "$cache.tmp" && mv "$cache.tmp" "$cache"
ln -sfn "disk-$hash.img" "$out/demo-disk.img"
rm -rf "$work"
echo "build-disk: $img (target kernel $kver)"
