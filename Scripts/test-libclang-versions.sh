#!/usr/bin/env bash
# The generator on two libclang versions: builds kvm-bindgen against the default LLVM (the newest
# /usr/lib/llvm-N) and against a second one (LLVM 14 unless that is the default; installed from Debian's
# packages if missing), generates every pinned set × architecture with both into scratch package roots,
# and requires byte-identical output; then `check --all` with the second build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
newest() { ls -d /usr/lib/llvm-*/include/clang-c 2>/dev/null | sed -n 's|/usr/lib/llvm-\([0-9]*\)/.*|\1|p' | sort -n | tail -1; }
default=${KVM_BINDGEN_LLVM:-$(newest)}
second=14
[ "$default" = 14 ] && second=16
[ -f "/usr/lib/llvm-$second/include/clang-c/Index.h" ] || Scripts/install-dependencies.sh "libclang-$second-dev"
swift build --product kvm-bindgen >/dev/null
first_bin=$(swift build --show-bin-path)/kvm-bindgen
KVM_BINDGEN_LLVM=$second swift build --scratch-path ".build-llvm$second" --product kvm-bindgen >/dev/null
second_bin=$(KVM_BINDGEN_LLVM=$second swift build --scratch-path ".build-llvm$second" --show-bin-path)/kvm-bindgen
ldd "$first_bin" | grep -o 'libclang-[0-9]*' | head -1 | sed 's/^/libclang versions: default build links /'
ldd "$second_bin" | grep -o "libclang-$second" >/dev/null || { echo "libclang versions: FAIL: second build does not link libclang-$second" >&2; exit 1; }
echo "libclang versions: second build links libclang-$second"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvm-libclang.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pairs=$(python3 -c '
import json
m = json.load(open("headers/sets.json"))
for s, v in m["sets"].items():
    for a, x in v["arches"].items():
        if x.get("available", True): print(s, a)')
count=0
while read -r set arch; do
    for side in first second; do
        mkdir -p "$tmp/$side/$set-$arch"
        ln -s "$root/headers" "$tmp/$side/$set-$arch/headers"
        bin=$first_bin; [ $side = second ] && bin=$second_bin
        "$bin" generate --set "$set" --arch "$arch" --package-root "$tmp/$side/$set-$arch" >/dev/null
        rm "$tmp/$side/$set-$arch/headers"
    done
    diff -r "$tmp/first/$set-$arch" "$tmp/second/$set-$arch" >/dev/null \
        || { echo "libclang versions: FAIL: $set $arch differs between libclang $default and $second" >&2; diff -r "$tmp/first/$set-$arch" "$tmp/second/$set-$arch" | head -20 >&2; exit 1; }
    count=$((count + 1))
done <<<"$pairs"
"$second_bin" check --all
echo "libclang versions: $count pinned pairs byte-identical with libclang $default and $second"
echo "libclang versions: 1 passed, 0 failed"
