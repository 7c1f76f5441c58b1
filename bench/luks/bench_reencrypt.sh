#!/bin/bash
# Reencrypt a 1 GiB LUKS2 loop device: `heads luks reencrypt` (crash-safe
# default, checksum resilience; and --fast) against the reference's
# `cryptsetup reencrypt --resilience=none --force-offline-reencrypt
# --disable-locks`, in one run, plus `cryptsetup benchmark -c aes-xts-plain64`
# as the upper bound. Needs root (losetup). Not part of any test suite.
#
# Also timed: cryptsetup's own crash-safe default (checksum, default hotzone).
# Raw times per run are printed to stderr.
# usage: bench/luks/bench_reencrypt.sh [HEADS_BINARY] [RUNS]   (default build/heads 3)
set -euo pipefail
HEADS=${1:-build/heads}
RUNS=${2:-3}
SIZE_MIB=${SIZE_MIB:-1024}
dir=$(mktemp -d /var/tmp/heads-bench-luks.XXXXXX)
loop=""
cleanup() { [ -n "$loop" ] && losetup -d "$loop"; rm -rf "$dir"; }
trap cleanup EXIT
printf 'bench passphrase' > "$dir/key"
truncate -s ${SIZE_MIB}M "$dir/disk.img"
loop=$(losetup -f --show "$dir/disk.img")
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$dir/key" "$loop"
data_mib=$(( SIZE_MIB - 16 ))

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: > "$dir/ours"; : > "$dir/fast"; : > "$dir/ref"; : > "$dir/tool"
for i in $(seq "$RUNS"); do
	t "$HEADS" luks reencrypt --drk-fd 3 "$loop" 3<"$dir/key" >> "$dir/ours"
	t "$HEADS" luks reencrypt --fast --drk-fd 3 "$loop" 3<"$dir/key" >> "$dir/fast"
	t cryptsetup reencrypt --resilience=none --force-offline-reencrypt --disable-locks \
		--key-file "$dir/key" "$loop" >> "$dir/ref"
	t cryptsetup reencrypt --resilience=checksum --force-offline-reencrypt \
		--key-file "$dir/key" "$loop" >> "$dir/tool"
done
ours=$(median < "$dir/ours"); fast=$(median < "$dir/fast"); ref=$(median < "$dir/ref")
tool=$(median < "$dir/tool")
# cryptsetup benchmark needs AF_ALG (missing on some hosts): then the
# OpenSSL AES-256-XTS rate, which is the backend libcryptsetup falls back to.
for f in ours fast ref tool; do echo "$f: $(tr '\n' ' ' < "$dir/$f")" >&2; done
bound=$(cryptsetup benchmark -c aes-xts-plain64 -s 512 2>/dev/null | awk '/aes-xts/ {print $(NF-1) " MiB/s (cryptsetup benchmark, decrypt)"}' || true)
if [ -z "$bound" ]; then
	bound=$(openssl speed -evp aes-256-xts -bytes 4096 -seconds 2 2>/dev/null |
		awk '/^AES-256-XTS/ {sub("k","",$2); printf "%.0f MiB/s (openssl speed -evp aes-256-xts, 4 KiB; cryptsetup benchmark: no AF_ALG here)", $2*1000/1048576}' || true)
fi
mibs() { echo "scale=1; $data_mib / $1" | bc; }
echo "data: ${data_mib} MiB on $loop (file on $(df --output=fstype /var/tmp | tail -1)), runs: $RUNS, $(nproc) cores"
echo "heads luks reencrypt (checksum, crash-safe): median ${ours}s = $(mibs "$ours") MiB/s"
echo "heads luks reencrypt --fast (no resilience):  median ${fast}s = $(mibs "$fast") MiB/s"
echo "cryptsetup reencrypt --resilience=none (ref):  median ${ref}s = $(mibs "$ref") MiB/s"
echo "cryptsetup reencrypt --resilience=checksum (its default hotzone): median ${tool}s = $(mibs "$tool") MiB/s"
echo "ratio ours/ref: $(echo "scale=2; $ref / $ours" | bc)  fast/ref: $(echo "scale=2; $ref / $fast" | bc)"
echo "bound, AES-XTS-512 in memory: ${bound}"
