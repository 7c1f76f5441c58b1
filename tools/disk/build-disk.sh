#!/bin/bash
# Build the QEMU board's demo disk (a build-time tool, run as root on the host).
#
#   tools/disk/build-disk.sh OUTDIR
#
# Result: OUTDIR/disk-<recipe hash>.img (raw, sparse) and the symlink
# OUTDIR/demo-disk.img -> it. The image is rebuilt only when a file of
# tools/disk/ changes (the hash); a copy is kept in $HEADS_DISK_CACHE
# (default /var/cache/heads) so a fresh clone on the same machine does not
# build it again, and the .debs are kept in $HEADS_DEB_CACHE (default
# /var/cache/heads/debootstrap). Point both at a temporary directory to
# measure a cold build without touching the shared caches.
#
# Layout (GPT):
#   p1  /boot  ext4, label "boot": the target's vmlinuz, initrd.img, grub/grub.cfg
#   p2  LUKS2  "root_crypt": ext4 root of a minimal Debian 12 (mmdebstrap
#              minbase + linux-image-amd64 + cryptsetup-initramfs + systemd)
#   p3  LUKS2  "home_crypt": a second container (ext4, /home)
# Both containers are unlocked by the target's initramfs (crypttab
# "luks,initramfs"), so one injected Disk Unlock Key opens both at boot.
# Disk Recovery Key, the same demo passphrase in slot 0 of both containers
# (cheap PBKDF2, 1000 iterations; NOT for real use):
#   heads-demo-drk
# The target prints two markers on its console (the VM tests wait for them):
#   HEADS-DEMO-TARGET: ...   systemd runs on the unlocked root
#   HEADS-DEMO-HOME: ...     /home is mounted from home_crypt
#
# Speed (a cold build must fit in CI's budget): one apt run (mmdebstrap) with
# dpkg's unsafe I/O, no docs/man/locales and only the kernel modules the
# target uses; update-initramfs diverted to a no-op while packages install,
# then the initramfs is generated ONCE (MODULES=list, zstd).
#
# There is no device-mapper on the host, so LUKS cannot be opened here: each
# file system is made from a directory (mkfs.ext4 -d) in an image file whose
# last 32 MiB are left free, then encrypted in place with
# `cryptsetup reencrypt --encrypt --reduce-device-size 32M` (offline, no dm).
# Packages come only from the configured Debian mirror.
set -euo pipefail

out=${1:?usage: build-disk.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
drk_pass=heads-demo-drk
root_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000a2
home_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000a3
boot_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000b1
root_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000b2
home_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000b3
packages=linux-image-amd64,cryptsetup,cryptsetup-initramfs,initramfs-tools,systemd-sysv,udev,kmod,e2fsprogs,zstd
# What the target's initramfs loads (MODULES=list; cryptroot adds dm_crypt,
# aes, xts and friends itself): the QEMU board's virtio disk and ext4.
initramfs_modules="virtio_pci virtio_blk ext4 crc32c_generic ecb xts algif_skcipher"
disk_cache=${HEADS_DISK_CACHE:-/var/cache/heads}
deb_cache=${HEADS_DEB_CACHE:-/var/cache/heads/debootstrap}

if [ "$(id -u)" != 0 ]; then
	echo "build-disk: must run as root (mmdebstrap, chroot)" >&2
	exit 77
fi
for t in mmdebstrap cryptsetup mkfs.ext4 sfdisk; do
	command -v "$t" >/dev/null || { echo "build-disk: $t missing: run make deps" >&2; exit 1; }
done

hash=$(cat "$here"/* | sha256sum | cut -c1-16)
mkdir -p "$out" "$disk_cache"
out=$(cd "$out" && pwd)
img="$out/disk-$hash.img"
cache="$disk_cache/disk-$hash.img"
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

t0=$SECONDS
stage() { echo "build-disk: [$(( SECONDS - t0 )) s] $*"; }
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
mkdir -p "$work" "$deb_cache"

# Kernel modules outside these trees are not unpacked (the target is the
# QEMU board: virtio, dm-crypt, ext4); neither are docs, man pages, locales.
dpkgopts=(--dpkgopt=force-unsafe-io)
for p in /usr/share/doc /usr/share/man /usr/share/info /usr/share/locale \
	'/lib/modules/*/kernel/drivers' '/lib/modules/*/kernel/sound' '/lib/modules/*/kernel/net'; do
	dpkgopts+=("--dpkgopt=path-exclude=$p/*")
done
for p in block md virtio char; do
	dpkgopts+=("--dpkgopt=path-include=/lib/modules/*/kernel/drivers/$p/*")
done

stage "mmdebstrap $suite from $mirror (.debs cached in $deb_cache)"
# update-initramfs is diverted to a no-op before the kernel, initramfs-tools
# and cryptsetup-initramfs are installed (each would build an initramfs).
mmdebstrap --mode=root --variant=minbase --include="$packages" "${dpkgopts[@]}" \
	--skip=essential/unlink \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives/"' \
	--setup-hook="sync-in $deb_cache /var/cache/apt/archives/" \
	--essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
		printf "#!/bin/sh\nexit 0\n" > "$1/usr/sbin/update-initramfs"
		chmod 755 "$1/usr/sbin/update-initramfs"' \
	--customize-hook="sync-out /var/cache/apt/archives $deb_cache" \
	"$suite" "$rootfs" "$mirror" > "$work/mmdebstrap.log" 2>&1 || {
	tail -30 "$work/mmdebstrap.log" >&2
	echo "build-disk: mmdebstrap failed (log: $work/mmdebstrap.log)" >&2
	exit 1
}
rm -f "$rootfs/usr/sbin/update-initramfs"
chroot "$rootfs" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
# The target's dpkg keeps the path excludes, not the unsafe I/O.
sed -i '/^force-unsafe-io$/d' "$rootfs/etc/dpkg/dpkg.cfg.d/99mmdebstrap"

# --- configure the target -------------------------------------------------
stage "configuring the target"
echo heads-demo > "$rootfs/etc/hostname"
# A fixed machine id: an empty one would make systemd treat the boot as a
# first boot.
echo 6c7f7f6e1e3a4c1b9d0e000000000001 > "$rootfs/etc/machine-id"
cat > "$rootfs/etc/fstab" <<EOF
/dev/mapper/root_crypt / ext4 errors=remount-ro 0 1
UUID=$boot_fs_uuid /boot ext4 defaults,nofail 0 2
/dev/mapper/home_crypt /home ext4 defaults,nofail 0 2
EOF
cat > "$rootfs/etc/crypttab" <<EOF
root_crypt UUID=$root_uuid none luks,initramfs
home_crypt UUID=$home_uuid none luks,initramfs
EOF
mkdir -p "$rootfs/etc/cryptsetup-initramfs" "$rootfs/etc/initramfs-tools/conf.d"
echo "CRYPTSETUP=y" > "$rootfs/etc/cryptsetup-initramfs/conf-hook"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$rootfs/etc/initramfs-tools/conf.d/heads-demo"
printf '%s\n' $initramfs_modules >> "$rootfs/etc/initramfs-tools/modules"
# Markers the VM tests wait for once the target's own init (systemd) runs.
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
cat > "$rootfs/etc/systemd/system/heads-demo-home.service" <<'EOF'
[Unit]
Description=Heads demo /home marker
DefaultDependencies=no
RequiresMountsFor=/home

[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/console
ExecStart=/bin/sh -c 'test "$$(findmnt -n -o SOURCE /home)" = /dev/mapper/home_crypt && echo "HEADS-DEMO-HOME: /home mounted from home_crypt"'

[Install]
WantedBy=local-fs.target
EOF
mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants" "$rootfs/etc/systemd/system/local-fs.target.wants"
ln -sf ../heads-demo-marker.service "$rootfs/etc/systemd/system/sysinit.target.wants/"
ln -sf ../heads-demo-home.service "$rootfs/etc/systemd/system/local-fs.target.wants/"
echo "root:heads" | chroot "$rootfs" chpasswd
mkdir -p "$rootfs/home/demo"
echo "The second LUKS2 container (home_crypt) of the Heads demo disk." > "$rootfs/home/demo/README"

kver=$(ls "$rootfs/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
[ -n "$kver" ] || { echo "build-disk: no kernel in the target" >&2; exit 1; }
stage "generating the target's initramfs once (kernel $kver)"
mount -t proc proc "$rootfs/proc"
mount -t sysfs sysfs "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
chroot "$rootfs" update-initramfs -c -k "$kver" > "$work/initramfs.log" 2>&1 || {
	cat "$work/initramfs.log" >&2
	exit 1
}
cleanup
chroot "$rootfs" lsinitramfs "/boot/initrd.img-$kver" > "$work/initramfs.list"
for m in $initramfs_modules dm-crypt; do
	grep -q "/$m\.ko\$" "$work/initramfs.list" || {
		echo "build-disk: module $m missing from the target's initramfs" >&2
		exit 1
	}
done

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
stage "file systems (mkfs.ext4 -d)"
root_mib=$(( $(du -sm "$rootfs" | cut -f1) * 13 / 10 + 160 ))
mkfs_img "$work/boot.img" 288 boot "$boot_fs_uuid" "$bootdir"
# The boot partition is not encrypted: drop the 32 MiB reserve.
truncate -s 256M "$work/boot.img"
mkfs_img "$work/root.img" "$root_mib" root "$root_fs_uuid" "$rootfs"
mkfs_img "$work/home.img" 64 home "$home_fs_uuid" "$homedir"
stage "encrypting root (${root_mib} MiB) and home in place (LUKS2)"
luks_img "$work/root.img" "$drk_pass" "$root_uuid"
luks_img "$work/home.img" "$drk_pass" "$home_uuid"

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
stage "done: $img (target kernel $kver)"
