#!/bin/bash
# Build the Qubes-like demo disk of the QEMU board (a build-time tool, run as
# root on the host): Xen 4.17 + a Debian 12 dom0.
#
#   tools/disk-xen/build-disk-xen.sh OUTDIR
#
# Result: OUTDIR/disk-xen-<recipe hash>.img (raw, sparse) and the symlink
# OUTDIR/xen-disk.img -> it. Rebuilt only when a file of tools/disk-xen/
# changes; a copy is kept in $HEADS_DISK_CACHE (default /var/cache/heads,
# key disk-xen-<hash>.img), the .debs in $HEADS_DEB_CACHE (default
# /var/cache/heads/debootstrap, shared with tools/disk). A separate folder
# from tools/disk so the first demo disk's cache key does not move.
#
# Layout (GPT), the one a Qubes OS 4.2 BTRFS install creates:
#   p1  /boot  ext4: xen-4.17-amd64.gz, vmlinuz-*, initrd.img-*, grub/grub.cfg
#   p2  LUKS2  luks-<uuid>: btrfs root of a minimal Debian 12 (mmdebstrap
#              minbase + xen-hypervisor-4.17-amd64 + linux-image-amd64 +
#              cryptsetup-initramfs + grub2-common for update-grub)
#   p3  LUKS2  luks-<uuid>: swap
# grub.cfg is written by Debian's own update-grub (grub-mkconfig with
# 10_linux and 20_linux_xen; xen-hypervisor-common makes Xen the default).
# The chroot has no block devices and /boot is not a mount point there, so
# two probes are replaced while it runs by stand-ins answering for this
# layout: grub-probe (device, fs, fs_uuid, partmap, ...) and grub-mkrelpath
# (a path under /boot is relative to the boot partition, as on an installed
# system with a separate /boot). /etc/default/grub is Debian's
# (/usr/share/grub/default/grub, as grub-pc's postinst installs it).
# Both containers are in crypttab ("luks,discard,initramfs"): the dom0
# initramfs (cryptsetup-initramfs) unlocks both, so one injected Disk
# Unlock Key opens both. Disk Recovery Key (slot 0 of both, PBKDF2 1000
# iterations; NOT for real use): heads-demo-drk
# Marker (init-bottom script of the dom0 initramfs, printed on the console
# that Xen forwards to com1 from hvc0), what the VM tests wait for:
#   HEADS-XEN-DOM0: hypervisor=xen root=open swap=open
# printed only when /sys/hypervisor/type is "xen" and both mappings exist.
set -euo pipefail

out=${1:?usage: build-disk-xen.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
drk_pass=heads-demo-drk
root_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000c2
swap_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000c3
boot_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000d1
root_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000d2
swap_fs_uuid=6c7f7f6e-1e3a-4c1b-9d0e-0000000000d3
packages=linux-image-amd64,xen-hypervisor-4.17-amd64,cryptsetup,cryptsetup-initramfs,initramfs-tools,systemd-sysv,udev,kmod,btrfs-progs,e2fsprogs,zstd,grub2-common
initramfs_modules="virtio_pci virtio_blk btrfs crc32c_generic ecb xts algif_skcipher"
disk_cache=${HEADS_DISK_CACHE:-/var/cache/heads}
deb_cache=${HEADS_DEB_CACHE:-/var/cache/heads/debootstrap}

if [ "$(id -u)" != 0 ]; then
	echo "build-disk-xen: must run as root (mmdebstrap, chroot)" >&2
	exit 77
fi
for t in mmdebstrap cryptsetup mkfs.ext4 mkfs.btrfs btrfs mkswap sfdisk; do
	command -v "$t" >/dev/null || { echo "build-disk-xen: $t missing: run make deps" >&2; exit 1; }
done

hash=$(cat "$here"/* | sha256sum | cut -c1-16)
mkdir -p "$out" "$disk_cache"
out=$(cd "$out" && pwd)
img="$out/disk-xen-$hash.img"
cache="$disk_cache/disk-xen-$hash.img"
if [ -f "$img" ]; then
	ln -sfn "disk-xen-$hash.img" "$out/xen-disk.img"
	echo "build-disk-xen: up to date: $img"
	exit 0
fi
if [ -f "$cache" ]; then
	cp --sparse=always "$cache" "$img.tmp" && mv "$img.tmp" "$img"
	ln -sfn "disk-xen-$hash.img" "$out/xen-disk.img"
	echo "build-disk-xen: from cache $cache: $img"
	exit 0
fi

mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
	| grep -vE 'security|cloud.google|nodesource' | head -1 | awk '{print $2}' || true)
if [ -z "$mirror" ]; then
	echo "build-disk-xen: no Debian mirror configured for apt (/etc/apt/sources.list*)" >&2
	exit 1
fi

t0=$SECONDS
stage() { echo "build-disk-xen: [$(( SECONDS - t0 )) s] $*"; }
work="$out/disk-xen-work"
rootfs="$work/rootfs"
bootdir="$work/boot"
cleanup() {
	for m in dev/pts dev proc sys; do
		mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m" || true
	done
}
trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$work" "$deb_cache"

dpkgopts=(--dpkgopt=force-unsafe-io)
for p in /usr/share/doc /usr/share/man /usr/share/info /usr/share/locale \
	'/lib/modules/*/kernel/drivers' '/lib/modules/*/kernel/sound' '/lib/modules/*/kernel/net'; do
	dpkgopts+=("--dpkgopt=path-exclude=$p/*")
done
for p in block md virtio char; do
	dpkgopts+=("--dpkgopt=path-include=/lib/modules/*/kernel/drivers/$p/*")
done

stage "mmdebstrap $suite from $mirror (.debs cached in $deb_cache)"
# update-initramfs and update-grub are diverted to no-ops while packages
# install (the kernel, cryptsetup-initramfs and the Xen packages call them);
# each runs once below.
mmdebstrap --mode=root --variant=minbase --include="$packages" "${dpkgopts[@]}" \
	--skip=essential/unlink \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives/"' \
	--setup-hook="sync-in $deb_cache /var/cache/apt/archives/" \
	--essential-hook='for f in /usr/sbin/update-initramfs /usr/sbin/update-grub; do
		chroot "$1" dpkg-divert --quiet --local --rename --add $f
		printf "#!/bin/sh\nexit 0\n" > "$1$f"
		chmod 755 "$1$f"
	done' \
	--customize-hook="sync-out /var/cache/apt/archives $deb_cache" \
	"$suite" "$rootfs" "$mirror" > "$work/mmdebstrap.log" 2>&1 || {
	tail -30 "$work/mmdebstrap.log" >&2
	echo "build-disk-xen: mmdebstrap failed (log: $work/mmdebstrap.log)" >&2
	exit 1
}
for f in /usr/sbin/update-initramfs /usr/sbin/update-grub; do
	rm -f "$rootfs$f"
	chroot "$rootfs" dpkg-divert --quiet --local --rename --remove $f
done
sed -i '/^force-unsafe-io$/d' "$rootfs/etc/dpkg/dpkg.cfg.d/99mmdebstrap"

# --- configure dom0 ----------------------------------------------------------
stage "configuring dom0"
echo heads-xen-demo > "$rootfs/etc/hostname"
echo 6c7f7f6e1e3a4c1b9d0e000000000002 > "$rootfs/etc/machine-id"
cat > "$rootfs/etc/fstab" <<EOF
/dev/mapper/luks-$root_uuid / btrfs defaults 0 0
UUID=$boot_fs_uuid /boot ext4 defaults,nofail 0 2
/dev/mapper/luks-$swap_uuid none swap defaults 0 0
EOF
cat > "$rootfs/etc/crypttab" <<EOF
luks-$root_uuid UUID=$root_uuid none luks,discard,initramfs
luks-$swap_uuid UUID=$swap_uuid none luks,discard,initramfs
EOF
mkdir -p "$rootfs/etc/cryptsetup-initramfs" "$rootfs/etc/initramfs-tools/conf.d" \
	"$rootfs/etc/initramfs-tools/scripts/init-bottom" "$rootfs/etc/default/grub.d"
echo "CRYPTSETUP=y" > "$rootfs/etc/cryptsetup-initramfs/conf-hook"
printf 'MODULES=list\nCOMPRESS=zstd\nRESUME=none\n' > "$rootfs/etc/initramfs-tools/conf.d/heads-xen-demo"
printf '%s\n' $initramfs_modules >> "$rootfs/etc/initramfs-tools/modules"
cat > "$rootfs/etc/initramfs-tools/scripts/init-bottom/heads-xen-marker" <<EOF
#!/bin/sh
# Heads Xen demo: dom0 reached the end of its initramfs.
case "\$1" in prereqs) exit 0 ;; esac
t=\$(cat /sys/hypervisor/type 2>/dev/null || echo none)
r=closed; s=closed
[ -b /dev/mapper/luks-$root_uuid ] && r=open
[ -b /dev/mapper/luks-$swap_uuid ] && s=open
# hvc0 itself: the board's CONFIG_BOOT_KERNEL_ADD (console=ttyS0) comes last
# on dom0's command line, so /dev/console may be a UART Xen keeps for itself
out=/dev/hvc0; [ -c \$out ] || out=/dev/console
if [ "\$t" = xen ] && [ \$r = open ] && [ \$s = open ]; then
	echo "HEADS-XEN-DOM0: hypervisor=\$t root=\$r swap=\$s" > \$out
else
	echo "HEADS-XEN-DOM0-FAILED: hypervisor=\$t root=\$r swap=\$s" > \$out
fi
EOF
chmod 755 "$rootfs/etc/initramfs-tools/scripts/init-bottom/heads-xen-marker"
# GRUB defaults for this board: the dom0 console is hvc0 (Xen forwards it to
# com1, QEMU's first serial port); Linux-only entries use ttyS0.
cat > "$rootfs/etc/default/grub.d/heads-xen-demo.cfg" <<'EOF'
GRUB_TIMEOUT=5
GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0"
GRUB_CMDLINE_LINUX_XEN_REPLACE_DEFAULT="console=hvc0 earlyprintk=xen"
GRUB_CMDLINE_XEN_DEFAULT="console=com1 com1=115200,8n1 dom0_mem=768M,max:768M"
EOF
echo "root:heads" | chroot "$rootfs" chpasswd

kver=$(ls "$rootfs/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
[ -n "$kver" ] || { echo "build-disk-xen: no kernel in dom0" >&2; exit 1; }
ls "$rootfs"/boot/xen-*.gz >/dev/null || { echo "build-disk-xen: no Xen in /boot" >&2; exit 1; }
stage "generating dom0's initramfs once (kernel $kver)"
mount -t proc proc "$rootfs/proc"
mount -t sysfs sysfs "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
chroot "$rootfs" update-initramfs -c -k "$kver" > "$work/initramfs.log" 2>&1 || {
	cat "$work/initramfs.log" >&2
	exit 1
}
chroot "$rootfs" lsinitramfs "/boot/initrd.img-$kver" > "$work/initramfs.list"
for m in $initramfs_modules dm-crypt; do
	grep -q "/$m\.ko\$" "$work/initramfs.list" || {
		echo "build-disk-xen: module $m missing from dom0's initramfs" >&2
		exit 1
	}
done
grep -q "scripts/init-bottom/heads-xen-marker" "$work/initramfs.list"
grep -q "cryptroot/crypttab" "$work/initramfs.list"

# --- update-grub, then /boot ---------------------------------------------------
stage "update-grub (Debian's grub-mkconfig, 10_linux + 20_linux_xen)"
rm -f "$rootfs/boot/vmlinuz" "$rootfs/boot/vmlinuz.old" "$rootfs/boot/initrd.img" \
	"$rootfs/boot/initrd.img.old"
rm -f "$rootfs/vmlinuz" "$rootfs/vmlinuz.old" "$rootfs/initrd.img" "$rootfs/initrd.img.old"
mkdir -p "$rootfs/boot/grub"
[ -f "$rootfs/etc/default/grub" ] || cp "$rootfs/usr/share/grub/default/grub" "$rootfs/etc/default/grub"
for f in /usr/sbin/grub-probe /usr/bin/grub-mkrelpath; do
	chroot "$rootfs" dpkg-divert --quiet --local --rename --add $f
done
cat > "$rootfs/usr/sbin/grub-probe" <<EOF
#!/bin/sh
# build-disk-xen: answers for this disk's layout (no devices in the chroot)
target=; last=
while [ \$# -gt 0 ]; do
	case "\$1" in
	--target=*) target=\${1#--target=} ;;
	-t) shift; target=\$1 ;;
	-*) ;;
	*) last=\$1 ;;
	esac
	shift
done
boot=no
case "\$last" in /boot|/boot/*|/dev/vda1) boot=yes ;; esac
case "\$target" in
device) [ \$boot = yes ] && echo /dev/vda1 || echo /dev/mapper/luks-$root_uuid ;;
fs) [ \$boot = yes ] && echo ext2 || echo btrfs ;;
fs_uuid) [ \$boot = yes ] && echo $boot_fs_uuid || echo $root_fs_uuid ;;
partmap) [ \$boot = yes ] && echo gpt ;;
abstraction) [ \$boot = yes ] || echo "cryptodisk luks2" ;;
cryptodisk_uuid) [ \$boot = yes ] || echo ${root_uuid//-/} ;;
compatibility_hint) [ \$boot = yes ] && echo hd0,gpt1 ;;
*) ;;
esac
exit 0
EOF
cat > "$rootfs/usr/bin/grub-mkrelpath" <<'EOF'
#!/bin/sh
# build-disk-xen: /boot is a separate partition on the target disk
case "$1" in
/boot) echo ;;
/boot/*) echo "${1#/boot}" ;;
*) echo "$1" ;;
esac
EOF
chmod 755 "$rootfs/usr/sbin/grub-probe" "$rootfs/usr/bin/grub-mkrelpath"
chroot "$rootfs" update-grub > "$work/update-grub.log" 2>&1 || {
	cat "$work/update-grub.log" >&2
	exit 1
}
for f in /usr/sbin/grub-probe /usr/bin/grub-mkrelpath; do
	rm -f "$rootfs$f"
	chroot "$rootfs" dpkg-divert --quiet --local --rename --remove $f
done
cleanup
grep -qE "multiboot2[[:space:]]+/xen-4\.17-amd64\.gz" "$rootfs/boot/grub/grub.cfg" || {
	cat "$work/update-grub.log" >&2
	echo "build-disk-xen: update-grub wrote no Xen entry for /xen-4.17-amd64.gz" >&2
	exit 1
}
mkdir -p "$bootdir"
mv "$rootfs/boot/"* "$bootdir/"
grep -E "menuentry|multiboot2|module2" "$bootdir/grub/grub.cfg" | head -16

# --- file systems, then LUKS2 in place ----------------------------------------
export E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-1700000000}
luks_img() { # image passphrase uuid
	printf %s "$2" | cryptsetup reencrypt --encrypt --type luks2 --batch-mode \
		--reduce-device-size 32M --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--uuid "$3" --force-offline-reencrypt --key-file - "$1"
}
stage "file systems (ext4 /boot, btrfs root, swap)"
truncate -s 0 "$work/boot.img"
truncate -s 256M "$work/boot.img"
mkfs.ext4 -q -L boot -U "$boot_fs_uuid" -d "$bootdir" -E root_owner=0:0 "$work/boot.img"
root_mib=$(( $(du -sm "$rootfs" | cut -f1) * 16 / 10 + 256 ))
truncate -s 0 "$work/root.img"
truncate -s "${root_mib}M" "$work/root.img"
# mkfs.btrfs --rootdir may grow the image (it ignored -b here): the file
# system's size is read back and the image made 32 MiB larger than it, the
# room the in-place LUKS2 encryption needs (a file system larger than the
# mapping does not mount: "device total_bytes should be at most ...").
mkfs.btrfs -q -L root -U "$root_fs_uuid" --rootdir "$rootfs" "$work/root.img"
fs_bytes=$(btrfs inspect-internal dump-super "$work/root.img" | awk '$1 == "total_bytes" {print $2}')
[ -n "$fs_bytes" ] || { echo "build-disk-xen: cannot read the btrfs size" >&2; exit 1; }
root_mib=$(( (fs_bytes + 1048575) / 1048576 + 32 ))
truncate -s "${root_mib}M" "$work/root.img"
swap_mib=96
truncate -s 0 "$work/swap.img"
truncate -s "$(( swap_mib - 32 ))M" "$work/swap.img"
mkswap -q -L swap -U "$swap_fs_uuid" "$work/swap.img"
truncate -s "${swap_mib}M" "$work/swap.img"
stage "encrypting root (${root_mib} MiB) and swap in place (LUKS2)"
luks_img "$work/root.img" "$drk_pass" "$root_uuid"
luks_img "$work/swap.img" "$drk_pass" "$swap_uuid"

# --- GPT ------------------------------------------------------------------------
total=$(( 1 + 256 + root_mib + swap_mib + 1 ))
truncate -s 0 "$img.tmp"
truncate -s "${total}M" "$img.tmp"
sfdisk -q "$img.tmp" <<EOF
label: gpt
label-id: 6C7F7F6E-1E3A-4C1B-9D0E-000000000001
start=1MiB, size=256MiB, type=linux, name=boot
size=${root_mib}MiB, type=linux, name=root
size=${swap_mib}MiB, type=swap, name=swap
EOF
dd if="$work/boot.img" of="$img.tmp" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img.tmp" bs=1M seek=257 conv=notrunc,sparse status=none
dd if="$work/swap.img" of="$img.tmp" bs=1M seek=$(( 257 + root_mib )) conv=notrunc,sparse status=none
mv "$img.tmp" "$img"
cp --sparse=always "$img" "$cache.tmp" && mv "$cache.tmp" "$cache"
ln -sfn "disk-xen-$hash.img" "$out/xen-disk.img"
rm -rf "$work"
stage "done: $img (dom0 kernel $kver)"
