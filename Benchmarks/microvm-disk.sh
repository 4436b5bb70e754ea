#!/usr/bin/env bash
# microvm's virtio-blk throughput as the guest sees it: sequential write and read of a raw image with
# busybox `dd` inside the minimal test kernel (Scripts/test-kernel.sh, test-initramfs.sh), one boot.
# Prints dd's own lines (bytes, seconds, rate), the guest's view, then the image's checksum check
# (the pattern written by the guest, read back on the host after microvm exits).
#
#   Benchmarks/microvm-disk.sh   (SIZE_MIB per transfer, default 64; BLOCK, default 1M; MICROVM_BIN: a
#                                 built microvm; RUN_TIMEOUT seconds, default 900)
#
# The write is `dd if=/dev/zero of=/dev/vda bs=BLOCK count=N conv=fsync` (every byte reaches the image
# file before dd reports); the read is after `echo 3 > /proc/sys/vm/drop_caches`, with iflag=direct
# where busybox's dd supports it, so that it comes from the device, not the guest's page cache.
# On a host whose KVM emulates guest kernel code (PVM), the guest's block layer, virtio driver and
# memcpy run instruction by instruction at about 1 µs each: that, not the VMM's file I/O, dominates.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${SIZE_MIB:-64}
block=${BLOCK:-1M}
if [ -z "${MICROVM_BIN:-}" ]; then
    (cd "$root" && swift build -c release --product microvm >/dev/null)
    MICROVM_BIN=$(cd "$root" && swift build -c release --show-bin-path)/microvm
fi
kernel=$("$root/Scripts/test-kernel.sh" 2>/dev/null | tail -1)
initrd=$("$root/Scripts/test-initramfs.sh" 2>/dev/null | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s "$((size + 16))M" "$work/disk.img"
count=$((size * 1024 * 1024 / $(numfmt --from=iec "$block")))
echo "microvm-disk: $(date -u '+%Y-%m-%d %H:%M UTC'), host $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); ${size} MiB in ${block} blocks"
# Busybox's dd prints no rate: the guest times each transfer with /proc/uptime (10 ms resolution, the
# guest's kvmclock) and prints "RESULT NAME BYTES SECONDS"; the rates are computed here.
script="
measure() { name=\$1; shift; echo 3 > /proc/sys/vm/drop_caches; t0=\$(cut -d' ' -f1 /proc/uptime)
    dd \"\$@\" 2>&1 | grep -v 'records in'; t1=\$(cut -d' ' -f1 /proc/uptime); echo RESULT \$name $((count * $(numfmt --from=iec "$block"))) \$t0 \$t1; }
measure write if=/dev/zero of=/dev/vda bs=$block count=$count conv=fsync
measure read-direct if=/dev/vda of=/dev/null bs=$block count=$count iflag=direct
measure read if=/dev/vda of=/dev/null bs=$block count=$count
printf 'microvm-disk-pattern' | dd of=/dev/vda bs=512 seek=$((size * 2048)) conv=fsync 2>/dev/null
"
start=$(date +%s.%N)
"$MICROVM_BIN" --kernel "$kernel" --initrd "$initrd" --memory 128 --disk "$work/disk.img" --timeout "${RUN_TIMEOUT:-900}" \
    -- /bin/busybox sh -c "$script" > "$work/output" && status=0 || status=$?
sed 's/^/  guest: /' "$work/output"
awk '$1 == "RESULT" { seconds = $5 - $4; printf "microvm-disk: %-11s %d MiB in %.2f s = %.2f MiB/s (guest clock)\n", $2, $3 / 1048576, seconds, (seconds > 0 ? $3 / 1048576 / seconds : 0) }' "$work/output"
echo "microvm-disk: microvm exited $status after $(echo "$(date +%s.%N) - $start" | bc) s"
[ "$status" = 0 ] || exit 1
if [ "$(dd if="$work/disk.img" bs=512 skip=$((size * 2048)) count=1 2>/dev/null | head -c 20)" = microvm-disk-pattern ]; then
    echo "microvm-disk: the guest's last write is in the image file (checked on the host)"
else
    echo "microvm-disk: the guest's last write is NOT in the image file"; exit 1
fi
