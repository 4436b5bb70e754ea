#!/usr/bin/env bash
# Exit round trip: the same guest (a tight `out` loop) under the Swift runtime and under a minimal C
# loop over raw ioctls, side by side in one run. Prints the ratio of wall time per exit (median of
# interleaved runs) and of user-space instructions per exit (valgrind --tool=callgrind, which counts
# instructions repeatably: the difference between a long and a short run, divided by the extra exits).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
exits=${EXITS:-20000}
rounds=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -r /dev/kvm ] || { echo "exit-roundtrip: /dev/kvm not accessible" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "exit-roundtrip: valgrind missing (apt-get install valgrind)" >&2; exit 1; }

cc -O2 -o "$work/c-out-loop" "$here/ExitRoundTrip/c-out-loop.c"
swift build -c release --package-path "$here/ExitRoundTrip" --scratch-path "$root/.build-bench" >/dev/null
# Valgrind 3.19 cannot read the DWARF 5 that clang 21 emits for the runtime's C shims ("possibly
# corrupted debuginfo file"); instruction counts need symbols at most, so run a copy without debug info.
swift_bin="$work/swift-out-loop"
objcopy --strip-debug "$root/.build-bench/release/swift-out-loop" "$swift_bin"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for _ in $(seq "$rounds"); do
    "$work/c-out-loop" "$exits" | awk '{print $4}' >>"$work/c.ns"
    "$swift_bin" "$exits" | awk '{print $4}' >>"$work/swift.ns"
done
c_ns=$(median <"$work/c.ns")
swift_ns=$(median <"$work/swift.ns")

instructions() {  # total instructions of one run under callgrind
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" >/dev/null 2>"$work/cg.err"
    grep -E '^(summary|totals):' "$work/cg.out" | tail -1 | awk '{print $2}'
}
short=1000
long=3000
c_per_exit=$(( ($(instructions "$work/c-out-loop" $long) - $(instructions "$work/c-out-loop" $short)) / (long - short) ))
swift_per_exit=$(( ($(instructions "$swift_bin" $long) - $(instructions "$swift_bin" $short)) / (long - short) ))

echo "exit round trip, real-mode 'out' loop, $exits exits × $rounds interleaved rounds ($(date -u +%Y-%m-%d))"
printf '%-8s %16s %26s\n' peer "wall ns/exit" "user instructions/exit"
printf '%-8s %16s %26s\n' C "$c_ns" "$c_per_exit"
printf '%-8s %16s %26s\n' Swift "$swift_ns" "$swift_per_exit"
awk -v s="$swift_ns" -v c="$c_ns" -v si="$swift_per_exit" -v ci="$c_per_exit" \
    'BEGIN {printf "ratio Swift/C: wall %.3f (%+.1f%%), instructions %.2fx\n", s/c, (s/c-1)*100, si/ci}'
