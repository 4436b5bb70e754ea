#!/usr/bin/env bash
# Times `kvm-bindgen generate` (release build) for every pinned header set × architecture of
# headers/sets.json: 4 sets × 3 architectures = 12 pairs, of which 11 exist (bullseye, Linux 5.10, has
# no RISC-V KVM: it came in 5.16). Each pair is generated into its own temporary package root; prints
# each pair's median of RUNS runs (default 5), their sum, and the wall time of one pass over all pairs.
# The pinned sets are committed under headers/sets; nothing is downloaded.
#
#   Benchmarks/generate-all-sets.sh            RUNS=9 Benchmarks/generate-all-sets.sh
#   SCRATCH_PATH=.build-bench Benchmarks/generate-all-sets.sh   (a separate build folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}
scratch=${SCRATCH_PATH:-$root/.build}
swift build -c release --product kvm-bindgen --package-path "$root" --scratch-path "$scratch" >/dev/null
tool="$(swift build -c release --show-bin-path --package-path "$root" --scratch-path "$scratch")/kvm-bindgen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "set kernel arch available" per line, sets in kernel order.
mapfile -t pairs < <(python3 - "$root/headers/sets.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for name, s in sorted(m["sets"].items(), key=lambda kv: [int(x) for x in kv[1]["kernel"].split(".")]):
    for arch in m["arches"]:
        a = s["arches"].get(arch)
        if a is not None:
            print(name, s["kernel"], arch, "yes" if a.get("available", True) else "no")
PY
)

generate() {  # set arch
    mkdir -p "$work/$1-$2"
    ln -sfn "$root/headers" "$work/$1-$2/headers"
    "$tool" generate --set "$1" --arch "$2" --package-root "$work/$1-$2" >/dev/null
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for line in "${pairs[@]}"; do   # warm-up pass (page cache, dynamic loader)
    read -r set kernel arch available <<<"$line"
    [ "$available" = yes ] && generate "$set" "$arch"
done
pass_ns=()
for _ in $(seq "$runs"); do
    pass_start=$(now)
    for line in "${pairs[@]}"; do
        read -r set kernel arch available <<<"$line"
        [ "$available" = yes ] || continue
        start=$(now)
        generate "$set" "$arch"
        echo $(($(now) - start)) >>"$work/$set-$arch.ns"
    done
    pass_ns+=($(($(now) - pass_start)))
done

echo "kvm-bindgen generate, release build, every pinned set × architecture, median of $runs runs ($(date -u +%Y-%m-%d), $(nproc) CPUs)"
printf '%-10s %-6s %-8s %9s %8s %7s %10s\n' set kernel arch "time (ms)" structs ioctls constants
total=0
generated=0
for line in "${pairs[@]}"; do
    read -r set kernel arch available <<<"$line"
    if [ "$available" != yes ]; then
        printf '%-10s %-6s %-8s %9s\n' "$set" "$kernel" "$arch" "n/a (not in this kernel's headers)"
        continue
    fi
    ms=$(median <"$work/$set-$arch.ns" | awk '{printf "%.1f", $1/1e6}')
    total=$(awk -v a="$total" -v b="$ms" 'BEGIN {printf "%.1f", a + b}')
    generated=$((generated + 1))
    read -r structs ioctls constants < <(python3 -c "
import json; m = json.load(open('$work/$set-$arch/Sources/KVMBindings/Generated/$arch/KVMBindings.manifest.json'))
print(len(m['structs']), len(m['ioctls']), len(m['constants']))")
    printf '%-10s %-6s %-8s %9s %8s %7s %10s\n' "$set" "$kernel" "$arch" "$ms" "$structs" "$ioctls" "$constants"
done
pass_ms=$(printf '%s\n' "${pass_ns[@]}" | median | awk '{printf "%.0f", $1/1e6}')
echo "total: $generated of ${#pairs[@]} pairs generated; sum of medians $total ms; one pass over all pairs (median) $pass_ms ms"
