#!/usr/bin/env bash
# Boots Debian's stock cloud kernel with `boot`, as a bzImage (64-bit boot protocol) and as an
# uncompressed vmlinux (PVH entry), with a busybox initramfs whose /init prints a marker and powers off.
# Not part of the default test run: on a host whose KVM emulates kernel code it takes many minutes.
#
#   Scripts/boot-linux.sh [--prepare-only] [--no-bench]
#
# Asserts, for each format: the kernel banner ("Linux version") and early boot lines arrive on the
# serial console, and the run ends with a typed, explained outcome (exit 0 = the guest powered off or
# reset, 1 = "boot: guest failure: …" with a register dump, 124 = "boot: timeout: …" saying where each
# vCPU was), never a hang or a crash. Then runs Benchmarks/boot-vs-qemu.sh (unless --no-bench).
#
# Environment: BOOT_WORK (default /tmp/swift-kvm-boot: downloads and images, reused), BOOT_BIN (a built
# `boot`; default: build it in release), PVH_TIMEOUT / BZIMAGE_TIMEOUT (seconds, default 1800 / 2400),
# BOOT_MEMORY (MiB, default 256), BOOT_CPUS (default 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BOOT_WORK:-/tmp/swift-kvm-boot}
prepare_only=0 bench=1
for argument in "$@"; do
    case $argument in
        --prepare-only) prepare_only=1 ;;
        --no-bench) bench=0 ;;
        *) echo "usage: $0 [--prepare-only] [--no-bench]" >&2; exit 2 ;;
    esac
done
mkdir -p "$work"
cd "$work"

need() {  # need COMMAND PACKAGE: install PACKAGE when COMMAND is missing
    command -v "$1" >/dev/null 2>&1 && return
    [ -f /var/lib/apt/lists/lock ] && [ -n "$(ls /var/lib/apt/lists/*Packages 2>/dev/null)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need cpio cpio; need gzip gzip; need lz4 lz4; need unxz xz-utils; need zstd zstd; need bunzip2 bzip2
need python3 python3; need readelf binutils

# 1. Debian's kernel: the linux-image-cloud-amd64 metapackage names the real package.
if [ ! -f vmlinuz ]; then
    downloads=$(mktemp -d "$work/download.XXXX")
    chmod 777 "$downloads"  # apt-get download drops privileges to _apt
    (cd "$downloads" && apt-get download -q linux-image-cloud-amd64 busybox-static >/dev/null 2>&1) || {
        apt-get update -qq && (cd "$downloads" && apt-get download -q linux-image-cloud-amd64 busybox-static >/dev/null)
    }
    image=$(dpkg-deb -f "$downloads"/linux-image-cloud-amd64_*.deb Depends | grep -o 'linux-image-[^ ,]*-cloud-amd64' | head -1)
    (cd "$downloads" && apt-get download -q "$image" >/dev/null 2>&1)
    dpkg-deb -x "$downloads/${image}_"*.deb "$downloads/kernel"
    dpkg-deb -x "$downloads"/busybox-static_*.deb "$downloads/busybox"
    cp "$downloads"/kernel/boot/vmlinuz-* vmlinuz
    cp "$downloads/busybox/bin/busybox" busybox
    echo "$image" > kernel-package
    rm -rf "$downloads"
fi

# 2. vmlinux, the kernel's scripts/extract-vmlinux way: find each compressor's magic in the bzImage,
#    decompress from there, keep the first result that is an ELF file.
if [ ! -f vmlinux ]; then
    try_decompress() {  # MAGIC-AS-PRINTF MAGIC-AS-GREP COMMAND...
        local printf_magic=$1 grep_magic=$2; shift 2
        # tr turns each magic into a newline followed by GREP-MAGIC (other GREP-MAGIC letters become
        # '='), so grep's byte offset of the line is one past the magic: tail's 1-based start.
        for position in $(tr "$printf_magic\n$grep_magic" "\n$grep_magic=" < vmlinuz | grep -abo "^$grep_magic" | cut -d: -f1); do
            tail -c+"$position" vmlinuz | "$@" > vmlinux.tmp 2>/dev/null || true
            if readelf -h vmlinux.tmp >/dev/null 2>&1; then mv vmlinux.tmp vmlinux; return 0; fi
        done
        rm -f vmlinux.tmp
        return 1
    }
    try_decompress '\037\213\010' xy gunzip ||
        try_decompress '\3757zXZ\000' abcde unxz ||
        try_decompress 'BZh' xy bunzip2 ||
        try_decompress '\135\0\0\0' xxx unlzma ||
        try_decompress '\002!L\030' xxx lz4 -d ||
        try_decompress '(\265/\375' xxx unzstd || { echo "boot-linux: no vmlinux found in vmlinuz" >&2; exit 1; }
fi

# 3. The initramfs: busybox and an /init that prints a marker and powers off.
if [ ! -f initramfs.cpio.gz ]; then
    rm -rf initramfs && mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev
    cp busybox initramfs/bin/busybox
    cat > initramfs/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox echo "SWIFT-KVM-INIT: userspace reached on $(/bin/busybox uname -r)"
/bin/busybox poweroff -f
INIT
    chmod +x initramfs/init
    (cd initramfs && find . | cpio -o -H newc --quiet | gzip -9) > initramfs.cpio.gz
fi
echo "boot-linux: kernel $(cat kernel-package): vmlinuz $(stat -c %s vmlinuz) bytes, vmlinux $(stat -c %s vmlinux) bytes; initramfs $(stat -c %s initramfs.cpio.gz) bytes"
[ "$prepare_only" = 1 ] && exit 0

# 4. The VMM.
if [ -z "${BOOT_BIN:-}" ]; then
    (cd "$root" && swift build -c release --product boot >/dev/null)
    BOOT_BIN=$(cd "$root" && swift build -c release --show-bin-path)/boot
fi
sync "$BOOT_BIN"  # a fresh link's pages, dirty in the page cache until written back, count as Private_Dirty
extra=$("$BOOT_BIN" --probe-only)
# cryptomgr.notests: the crypto self-tests are pure computation, minutes of it where KVM emulates
# kernel code; they are not what this boot is testing.
cmdline="console=ttyS0 earlyprintk=ttyS0 reboot=k panic=1 cryptomgr.notests $extra"
echo "boot-linux: host workarounds from the emulator probe: ${extra:-none}"

status=0
run() {  # run NAME KERNEL TIMEOUT
    local name=$1 kernel=$2 timeout=$3 log="$work/$1.log" code=0
    echo "boot-linux: booting the $name ($kernel), timeout ${timeout}s; console in $log"
    "$BOOT_BIN" --kernel "$kernel" --initrd initramfs.cpio.gz --cmdline "$cmdline" --memory "${BOOT_MEMORY:-256}" \
        --cpus "${BOOT_CPUS:-1}" --timeout "$timeout" --verbose --report-memory < /dev/null > "$log" 2> "$log.err" || code=$?
    echo "  exit status $code; $(grep -c . "$log" || true) console lines"
    tail -n 6 "$log" | sed 's/^/  | /'
    { grep -v '^  ' "$log.err" || true; } | sed 's/^/  stderr: /'
    local ok=1
    grep -q 'Linux version' "$log" || { echo "  FAIL: no kernel banner on the console"; ok=0; }
    grep -q 'Command line:' "$log" || { echo "  FAIL: no early boot lines"; ok=0; }
    case $code in
        0) if grep -q 'SWIFT-KVM-INIT' "$log"; then echo "  OK: userspace ran and the guest powered off"
           else echo "  OK: the guest powered off or reset (before the init marker)"; fi ;;
        1) grep -q '^boot: guest failure:' "$log.err" && grep -q 'RIP=' "$log.err" ||
               { echo "  FAIL: exit 1 without an explained failure"; ok=0; }
           echo "  outcome: typed guest failure (see $log.err for the register dump)" ;;
        124) grep -q '^boot: timeout:' "$log.err" || { echo "  FAIL: exit 124 without a timeout report"; ok=0; }
             echo "  outcome: timeout, vCPU positions reported" ;;
        *) echo "  FAIL: exit status $code is neither a clean end nor a typed failure"; ok=0 ;;
    esac
    [ "$ok" = 1 ] || status=1
}
run vmlinux-pvh vmlinux "${PVH_TIMEOUT:-1800}"
run bzImage vmlinuz "${BZIMAGE_TIMEOUT:-2400}"

if [ "$bench" = 1 ]; then
    BOOT_BIN="$BOOT_BIN" BOOT_WORK="$work" "$root/Benchmarks/boot-vs-qemu.sh" || status=1
fi
exit $status
