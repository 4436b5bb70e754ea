#!/usr/bin/env bash
# Times `kvm-bindgen generate` against Debian's `bindgen` on the same pinned header, side by side in one
# run, and prints the ratio and what each emits. Needs: `bindgen` (apt-get install bindgen); the pinned
# header set is committed, and a release build of kvm-bindgen is made here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
set_name=${1:-trixie}
arch=${2:-x86_64}
runs=${RUNS:-15}
# Both on the same libclang: bindgen 0.60 (Debian 12) mis-names anonymous records with clang >= 16's
# "(unnamed at …)" spelling and aborts, so 14 unless told otherwise.
llvm=${KVM_BINDGEN_LLVM:-14}
export KVM_BINDGEN_LLVM=$llvm LIBCLANG_PATH=/usr/lib/llvm-$llvm/lib
include="$root/headers/sets/$set_name/$arch/include"
[ -f "$include/linux/kvm.h" ] || { echo "no pinned set $set_name/$arch under headers/sets" >&2; exit 1; }
command -v bindgen >/dev/null || { echo "bindgen missing: apt-get install bindgen" >&2; exit 1; }
swift build -c release --product kvm-bindgen --package-path "$root" >/dev/null
ours="$root/.build/release/kvm-bindgen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pkg/headers/sets/$set_name/$arch"
ln -s "$include" "$work/pkg/headers/sets/$set_name/$arch/include"

run_ours() { "$ours" generate --set "$set_name" --arch "$arch" --package-root "$work/pkg" >/dev/null; }
run_bindgen() {
    bindgen "$include/linux/kvm.h" -o "$work/bindgen.rs" -- -nostdinc -isystem "$include" \
        -target x86_64-unknown-linux-gnu 2>/dev/null
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_ours; run_bindgen   # warm the page cache
: >"$work/ours.ns"; : >"$work/bindgen.ns"
for _ in $(seq "$runs"); do   # interleaved, so both see the same machine state
    start=$(now); run_ours; echo $(( $(now) - start )) >>"$work/ours.ns"
    start=$(now); run_bindgen; echo $(( $(now) - start )) >>"$work/bindgen.ns"
done
ours_ms=$(median <"$work/ours.ns" | awk '{printf "%.1f", $1/1e6}')
bindgen_ms=$(median <"$work/bindgen.ns" | awk '{printf "%.1f", $1/1e6}')
manifest="$work/pkg/Sources/KVMBindings/Generated/$arch/KVMBindings.manifest.json"
read -r our_structs our_ioctls our_constants < <(python3 -c "
import json,sys; m=json.load(open('$manifest')); print(len(m['structs']), len(m['ioctls']), len(m['constants']))")
# The record files are named <Header>Records.<arch>.swift (LinuxKVMRecords.x86_64.swift, ...).
records=("$work"/pkg/Sources/KVMBindings/Generated/"$arch"/*Records."$arch".swift)
[ -f "${records[0]}" ] || { echo "no *Records.$arch.swift generated" >&2; exit 1; }
our_types=$(cat "${records[@]}" | grep -c 'public struct ')
bindgen_structs=$(grep -cE '^pub (struct|union) ' "$work/bindgen.rs")
bindgen_consts=$(grep -c '^pub const ' "$work/bindgen.rs")
echo "kvm-bindgen vs bindgen $(bindgen --version | awk '{print $2}') on $set_name/$arch linux/kvm.h, libclang $llvm, median of $runs runs ($(date -u +%Y-%m-%d))"
printf '%-12s %10s %14s %10s %10s\n' tool "time (ms)" "structs/unions" constants ioctls
printf '%-12s %10s %14s %10s %10s\n' kvm-bindgen "$ours_ms" "$our_types" "$our_constants" "$our_ioctls (typed)"
printf '%-12s %10s %14s %10s %10s\n' bindgen "$bindgen_ms" "$bindgen_structs" "$bindgen_consts" "0"
awk -v a="$ours_ms" -v b="$bindgen_ms" 'BEGIN {printf "ratio: kvm-bindgen takes %.2fx the time of bindgen (%.1fx faster)\n", a/b, b/a}'
