#!/bin/bash
# Reencrypt a 1 GiB LUKS2 loop device: `heads luks reencrypt` (crash-safe
# default, checksum resilience, at several hotzone sizes; and --fast)
# against the reference's `cryptsetup reencrypt --resilience=none
# --force-offline-reencrypt --disable-locks`, in one run, plus the OpenSSL
# AES-XTS rate as the bound. Needs root (losetup). Not part of any test suite.
#
# Also timed, on the same device, interleaved round by round:
# - "ref+sync": the reference followed by `sync` (it never fsyncs; ours
#   fsyncs every hotzone, so its data is on disk when it returns);
# - cryptsetup's own crash-safe default (checksum, its default hotzone);
# - ours on a LUKS1 container of the same size (a second loop device):
#   convert to LUKS2, the same reencryption, LUKS1 header rebuilt.
# Raw times per run go to stderr; the load average before and after too.
# usage: bench/luks/bench_reencrypt.sh [HEADS_BINARY] [RUNS]   (default build/heads 3)
#        HOTZONES="16 64 256" SIZE_MIB=1024 (environment)
set -euo pipefail
HEADS=${1:-build/heads}
RUNS=${2:-3}
SIZE_MIB=${SIZE_MIB:-1024}
HOTZONES=${HOTZONES:-16 64 256}
dir=$(mktemp -d /var/tmp/heads-bench-luks.XXXXXX)
loop=""
loop1=""
cleanup() {
	[ -n "$loop" ] && losetup -d "$loop"
	[ -n "$loop1" ] && losetup -d "$loop1"
	rm -rf "$dir"
}
trap cleanup EXIT
printf 'bench passphrase' > "$dir/key"
truncate -s ${SIZE_MIB}M "$dir/disk.img" "$dir/disk1.img"
loop=$(losetup -f --show "$dir/disk.img")
loop1=$(losetup -f --show "$dir/disk1.img")
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$dir/key" "$loop"
cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 \
	--key-file "$dir/key" "$loop1"
data_mib=$(( SIZE_MIB - 16 ))   # LUKS2 default header: 16 MiB
data1_mib=$(( SIZE_MIB - 2 ))   # LUKS1: 2 MiB

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ref_sync() {
	cryptsetup reencrypt --resilience=none --force-offline-reencrypt --disable-locks \
		--key-file "$dir/key" "$loop" && sync
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
names="fast ref refsync tool luks1"
for hz in $HOTZONES; do names="$names hz$hz"; done
for n in $names; do : > "$dir/$n"; done
sync
for i in $(seq "$RUNS"); do
	for hz in $HOTZONES; do
		t "$HEADS" luks reencrypt --hotzone-mib "$hz" --drk-fd 3 "$loop" 3<"$dir/key" >> "$dir/hz$hz"
	done
	t "$HEADS" luks reencrypt --fast --drk-fd 3 "$loop" 3<"$dir/key" >> "$dir/fast"
	t cryptsetup reencrypt --resilience=none --force-offline-reencrypt --disable-locks \
		--key-file "$dir/key" "$loop" >> "$dir/ref"
	sync
	t ref_sync >> "$dir/refsync"
	t cryptsetup reencrypt --resilience=checksum --force-offline-reencrypt \
		--key-file "$dir/key" "$loop" >> "$dir/tool"
	t "$HEADS" luks reencrypt --tmpdir "$dir" --drk-fd 3 "$loop1" 3<"$dir/key" >> "$dir/luks1"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cryptsetup luksDump "$loop1" | grep -q '^Version:.*1' || { echo "LUKS1 run left no LUKS1 header" >&2; exit 1; }
for n in $names; do echo "$n: $(tr '\n' ' ' < "$dir/$n")" >&2; done
# cryptsetup benchmark needs AF_ALG (missing on some hosts): then the
# OpenSSL AES-256-XTS rate, which is the backend libcryptsetup falls back to.
bound=$(cryptsetup benchmark -c aes-xts-plain64 -s 512 2>/dev/null | awk '/aes-xts/ {print $(NF-1) " MiB/s (cryptsetup benchmark, decrypt)"}' || true)
if [ -z "$bound" ]; then
	bound=$(openssl speed -evp aes-256-xts -bytes 4096 -seconds 2 2>/dev/null |
		awk '/^AES-256-XTS/ {sub("k","",$2); printf "%.0f MiB/s (openssl speed -evp aes-256-xts, 4 KiB; cryptsetup benchmark: no AF_ALG here)", $2*1000/1048576}' || true)
fi
m() { median < "$dir/$1"; }
mibs() { echo "scale=1; $1 / $2" | bc; }
ref=$(m ref); refsync=$(m refsync)
echo "data: ${data_mib} MiB on $loop (file on $(df --output=fstype /var/tmp | tail -1)), runs: $RUNS, $(nproc) cores"
for hz in $HOTZONES; do
	v=$(m hz$hz)
	echo "heads luks reencrypt, checksum, ${hz} MiB hotzone: median ${v}s = $(mibs $data_mib "$v") MiB/s, ours/ref $(echo "scale=2; $ref / $v" | bc), ours/ref+sync $(echo "scale=2; $refsync / $v" | bc)"
done
v=$(m fast); echo "heads luks reencrypt --fast (no resilience):  median ${v}s = $(mibs $data_mib "$v") MiB/s, fast/ref $(echo "scale=2; $ref / $v" | bc)"
echo "cryptsetup reencrypt --resilience=none (ref):  median ${ref}s = $(mibs $data_mib "$ref") MiB/s"
echo "ref + sync:                                    median ${refsync}s = $(mibs $data_mib "$refsync") MiB/s"
v=$(m tool); echo "cryptsetup reencrypt --resilience=checksum (its default hotzone): median ${v}s = $(mibs $data_mib "$v") MiB/s"
v=$(m luks1); echo "heads luks reencrypt on LUKS1 (convert, checksum 16 MiB, rebuild): median ${v}s = $(mibs $data1_mib "$v") MiB/s"
echo "bound, AES-XTS-512 in memory: ${bound}"
