#!/usr/bin/env bash
# The drift test of the pinned header sets (no network): headers/fetch.sh is fed packages built here from
# the committed trixie x86_64 tree, through `--from DIR`.
#  1. Another package version with the same files (and an unrelated header changed): the report says
#     nothing changes, `--accept` leaves the pin and sets.json byte-for-byte as they were, and the
#     generated bindings are still up to date.
#  2. A package whose linux/kvm.h differs: the report names the file and the API change (kvm-bindgen
#     diff), exits 0 (a report, not a failure), and the pinned tree stays untouched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bindgen=${KVM_BINDGEN:-$(swift build --show-bin-path)/kvm-bindgen}
[ -x "$bindgen" ] || swift build --product kvm-bindgen
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvm-drift.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "header drift: FAIL: $*" >&2; exit 1; }
tree_hash() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1); }

# A package root of our own: the headers (pin + sets.json) and the generated folders, copied.
pkg=$tmp/pkg
mkdir -p "$pkg/Sources/KVMBindings/Generated" "$pkg/Tests/KVMBindingsTests/Generated"
cp -R headers "$pkg/headers"
rm -rf "$pkg/headers/incoming"
cp -R Sources/KVMBindings/Generated/x86_64 "$pkg/Sources/KVMBindings/Generated/"
cp -R Tests/KVMBindingsTests/Generated/x86_64 "$pkg/Tests/KVMBindingsTests/Generated/"
pinned=$pkg/headers/sets/trixie/x86_64/include
before=$(tree_hash "$pkg/headers")

# make_deb VERSION DIR: linux-libc-dev laid out as trixie's (usr/include + usr/include/x86_64-linux-gnu/asm).
make_deb() {
    local version=$1 out=$2 build=$tmp/build-$1
    rm -rf "$build"
    mkdir -p "$build/DEBIAN" "$build/usr/include/x86_64-linux-gnu" "$out"
    cp -R "$pinned/linux" "$pinned/asm-generic" "$build/usr/include/"
    cp -R "$pinned/asm" "$build/usr/include/x86_64-linux-gnu/asm"
    printf 'Package: linux-libc-dev\nVersion: %s\nArchitecture: all\nMaintainer: swift-kvm tests <none@invalid>\nDescription: drift test\n' \
        "$version" >"$build/DEBIAN/control"
    [ -n "${3:-}" ] && "$3" "$build"
    dpkg-deb --build --root-owner-group "$build" "$out/linux-libc-dev_${version}_all.deb" >/dev/null
}
fetch() {
    KVM_BINDGEN=$bindgen KVM_HEADERS_MANIFEST=$pkg/headers/sets.json KVM_HEADERS_SETS_DIR=$pkg/headers/sets \
        KVM_HEADERS_INCOMING_DIR=$tmp/incoming headers/fetch.sh "$@"
}

# 1. Same files, another version; linux/version.h (not among the files clang opens) changed.
bump_version_h() { printf '#define LINUX_VERSION_CODE 396543\n' >"$1/usr/include/linux/version.h"; }
make_deb 6.12.999-1 "$tmp/debs-same" bump_version_h
out=$(fetch --from "$tmp/debs-same" --accept trixie x86_64) || fail "fetch.sh failed on an identical set"
echo "$out" | sed 's/^/  | /'
grep -q "6.12.999-1: the .* files clang opens for linux/kvm.h are identical to the pinned set" <<<"$out" \
    || fail "the report does not say the files are identical"
[ "$(tree_hash "$pkg/headers")" = "$before" ] || fail "--accept of identical content changed the pin or sets.json"
"$bindgen" check --set trixie --arch x86_64 --package-root "$pkg" || fail "the bindings changed for identical content"

# 2. linux/kvm.h differs.
add_capability() { printf '\n#define KVM_CAP_DRIFT_TEST 4095\n' >>"$1/usr/include/linux/kvm.h"; }
make_deb 6.12.1000-1 "$tmp/debs-changed" add_capability
out=$(fetch --from "$tmp/debs-changed" trixie x86_64) || fail "fetch.sh failed (exit $?) on a changed set: a change is a report"
echo "$out" | sed 's/^/  | /'
grep -q "6.12.1000-1 DIFFERS from the pinned set" <<<"$out" || fail "the report does not say the set differs"
grep -q "changed  linux/kvm.h" <<<"$out" || fail "the report does not name linux/kvm.h"
grep -q "KVM_CAP_DRIFT_TEST" <<<"$out" || fail "the API difference does not show the new capability"
grep -q "headers/fetch.sh --accept trixie x86_64" <<<"$out" || fail "the report does not say how to accept"
[ "$(tree_hash "$pkg/headers")" = "$before" ] || fail "the pinned tree or sets.json changed without --accept"
"$bindgen" check --set trixie --arch x86_64 --package-root "$pkg" || fail "the committed bindings no longer check"
echo "header drift: 2 passed, 0 failed"
