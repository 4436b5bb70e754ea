#!/usr/bin/env bash
# Every fuzzing campaign, briefly, inside CI's budget (36-68 s after the build on this 2-core machine):
# 500 random guests per mode, 300 device cases (each 1,024 bus accesses from four threads), 300
# hostile virtio-mmio drivers, 300 loader inputs, 20 generator inputs, 1,000 create/destroy cycles with a 5 s four-vCPU stress.
# Prints each campaign's summary; exits non-zero if any case crashed, hung or broke an invariant
# (the failing cases are saved under .build/fuzz-failures with the seed that reproduces them).
#
#   Scripts/fuzz-ci.sh [--seed S]        (default: a fixed seed, so CI runs are the same every time)
set -uo pipefail
cd "$(dirname "$0")/.."
seed=${2:-20261202}
[[ ${1:-} == --seed || -z ${1:-} ]] || { echo "usage: Scripts/fuzz-ci.sh [--seed S]" >&2; exit 2; }

kvm=yes
if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
    kvm=no
    echo "fuzz-ci.sh: /dev/kvm is absent or not accessible: skipping the guest, devices and resources campaigns (they need KVM); running devices-virtio, loader and generator"
fi
swift build --product kvm-fuzz && swift build --product kvm-bindgen || exit 2
bin_path=$(swift build --show-bin-path)
export KVM_FUZZ_BIN=$bin_path/kvm-fuzz KVM_BINDGEN_BIN=$bin_path/kvm-bindgen

status=0
started=$(date +%s)
run() {
    local began=$(date +%s)
    Scripts/fuzz.sh "$@" --seed "$seed" | sed -n '1,/outcomes (count, key):/p' | sed '$d'
    local result=${PIPESTATUS[0]}
    (( result != 0 )) && status=1
    echo "  ($(( $(date +%s) - began )) s)"
}
if [[ $kvm == yes ]]; then
    run guests-real --iterations 500
    run guests-long0 --iterations 500
    run guests-long3 --iterations 500
    run devices --iterations 300
fi
run devices-virtio --iterations 300
run loader --iterations 300
run generator --iterations 20
[[ $kvm == yes ]] && run resources --iterations 1000 --set stress-seconds=5
echo "fuzz-ci.sh: all campaigns in $(( $(date +%s) - started )) s: $([[ $status == 0 ]] && echo passed || echo FAILED)"
exit $status
