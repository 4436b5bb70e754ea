#!/usr/bin/env bash
# What each bzImage payload format costs the LinuxLoader product: decompression time of one real kernel
# recompressed in every format, and the code each decoder adds to a fully static VMM.
#
#   Benchmarks/loader-decompression.sh [VMLINUZ]
#
# VMLINUZ defaults to Debian's generic kernel (linux-image-amd64, xz), fetched with `apt-get download`
# into a temporary directory; its package version and SHA-256 are printed. Its payload is decompressed
# once (xz CLI) to the kernel ELF, which is then compressed the way the kernel's build does for each
# format (lz4 -l -9, gzip -9, xz --check=crc32 --x86 --lzma2=dict=32MiB, zstd -22 --ultra; the
# decompressed size appended) and carried by a fake bzImage (Scripts/fake-kernel.py bzimage-payload).
# `boot --dry-run` loads each one (no /dev/kvm needed) and reports the decompression time; the median of
# REPEAT runs (default 5) is printed.
#
# Code size: for liblzma and libzstd, the text and data of a static C program that decodes a stream
# (stream decoder or streaming decompressor), minus those of a static C program that does nothing: what linking the
# library's decoder into a fully static executable adds. For the Swift decoders, the sizes of their
# symbols in the release `boot` (nm -S).
#
# Environment: BOOT_BIN (default: `swift build -c release --product boot`), REPEAT. Needs python3, cc,
# xz-utils, zstd, lz4 and gzip (Debian packages).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
repeat=${REPEAT:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

kernel=${1:-}
if [ -z "$kernel" ]; then
    package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    (cd "$work" && apt-get download -q "$package" >/dev/null 2>&1)
    dpkg-deb -x "$work"/"$package"_*.deb "$work/deb"
    kernel=$(ls "$work"/deb/boot/vmlinuz-*)
    echo "kernel: $package $(dpkg-deb -f "$work"/"$package"_*.deb Version), $(basename "$kernel")"
fi
echo "kernel sha256: $(sha256sum "$kernel" | cut -d' ' -f1)"
echo "load average: $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) CPUs"

if [ -z "${BOOT_BIN:-}" ]; then
    (cd "$root" && swift build -c release --product boot >/dev/null)
    BOOT_BIN="$root/.build/release/boot"
fi

# The kernel ELF, from the bzImage's payload.
python3 - "$kernel" "$work/payload" <<'EOF'
import struct, sys
image = open(sys.argv[1], "rb").read()
sectors = image[0x1F1] or 4
offset = (sectors + 1) * 512 + struct.unpack_from("<I", image, 0x248)[0]
length = struct.unpack_from("<I", image, 0x24C)[0]
open(sys.argv[2], "wb").write(image[offset:offset + length])
EOF
case $(head -c 6 "$work/payload" | od -An -tx1 | tr -d ' \n') in
    fd377a585a00) xz -dc "$work/payload" > "$work/vmlinux" 2>/dev/null || true ;;
    28b52ffd*) zstd -dcq "$work/payload" > "$work/vmlinux" 2>/dev/null || true ;;
    1f8b*) gzip -dc "$work/payload" > "$work/vmlinux" 2>/dev/null || true ;;
    *) echo "the payload is not xz, zstd or gzip: give a kernel with one of those" >&2; exit 1 ;;
esac
size=$(stat -c %s "$work/vmlinux")
echo "kernel ELF: $size bytes"
append_size() { python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<I', $size))"; }

compress() {
    case $1 in
        lz4) lz4 -l -9 -c -q "$work/vmlinux" ;;
        gzip) gzip -9 -n -c "$work/vmlinux" ;;
        xz) xz --format=xz --check=crc32 --x86 --lzma2=dict=32MiB -c "$work/vmlinux" ;;
        zstd) zstd -22 --ultra -q -c "$work/vmlinux" ;;
    esac
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for format in lz4 gzip xz zstd; do
    { compress $format; append_size; } > "$work/payload.$format"
    python3 "$root/Scripts/fake-kernel.py" bzimage-payload "$work/payload.$format" "$work/bzImage.$format"
done
# Interleaved, so that every format sees the same machine load.
for _ in $(seq "$repeat"); do
    for format in lz4 gzip xz zstd; do
        "$BOOT_BIN" --kernel "$work/bzImage.$format" --memory 512 --dry-run 2>&1 >/dev/null \
            | sed -n 's/.*bytes, \([0-9]*\) ms).*/\1/p' >> "$work/times.$format"
    done
done
echo
echo "| format | payload | decompression (median of $repeat) |"
echo "| --- | --- | --- |"
for format in lz4 gzip xz zstd; do
    [ -s "$work/times.$format" ] || { echo "boot did not decompress the $format payload" >&2; exit 1; }
    printf '| %s | %s bytes | %s ms |\n' $format "$(stat -c %s "$work/payload.$format")" "$(median < "$work/times.$format")"
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"

# Code size.
cat > "$work/none.c" <<'EOF'
int main(void) { return 0; }
EOF
cat > "$work/xz.c" <<'EOF'
#include <lzma.h>
int main(int argc, char **argv) {
    lzma_stream s = LZMA_STREAM_INIT; unsigned char out[64];
    if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) return 1;
    s.next_in = (const unsigned char *)argv[0]; s.avail_in = argc; s.next_out = out; s.avail_out = sizeof out;
    int r = lzma_code(&s, LZMA_FINISH); lzma_end(&s); return r;
}
EOF
cat > "$work/zstd.c" <<'EOF'
#include <zstd.h>
int main(int argc, char **argv) {
    ZSTD_DCtx *c = ZSTD_createDCtx(); char out[64];
    ZSTD_DCtx_setParameter(c, ZSTD_d_windowLogMax, 27);
    ZSTD_inBuffer in = { argv[0], (size_t)argc, 0 }; ZSTD_outBuffer o = { out, sizeof out, 0 };
    size_t r = ZSTD_decompressStream(c, &o, &in); ZSTD_freeDCtx(c); return (int)ZSTD_isError(r);
}
EOF
cc -O2 -static "$work/none.c" -o "$work/none"
cc -O2 -static "$work/xz.c" -o "$work/xz" -llzma
cc -O2 -static "$work/zstd.c" -o "$work/zstd" -lzstd
loaded() { size "$1" | awk 'NR == 2 { print $1 + $2 }'; }  # text + data
base=$(loaded "$work/none")
swift_size() {
    nm -S "$BOOT_BIN" | python3 -c "
import re, sys
print(sum(int(f[1], 16) for f in (l.split() for l in sys.stdin) if len(f) == 4 and re.search(sys.argv[1], f[3])))" "$1"
}
echo
echo "| decoder | code added to a static executable |"
echo "| --- | --- |"
echo "| lz4 (Swift, LZ4Legacy) | $(swift_size 'LZ4Legacy') bytes |"
echo "| gzip (Swift, Inflate, HuffmanCode, BitReader) | $(swift_size 'Inflate|HuffmanCode|BitReader') bytes |"
echo "| xz (liblzma $(dpkg-query -W -f '${Version}' liblzma-dev 2>/dev/null), stream decoder) | $(( $(loaded "$work/xz") - base )) bytes |"
echo "| zstd (libzstd $(dpkg-query -W -f '${Version}' libzstd-dev 2>/dev/null), streaming decoder) | $(( $(loaded "$work/zstd") - base )) bytes |"
