#!/usr/bin/env bash
# Consumer test: a package that depends on the KVMBindings product by path builds and runs without the
# generator being built, and its binary does not link libclang.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${CONSUMER_SCRATCH:-"$root/.build-consumer"}
cd "$root/Tests/ConsumerPackage"
log=$(mktemp)
swift build --scratch-path "$scratch" -v >"$log" 2>&1 || { cat "$log"; exit 1; }
if grep -E 'BindgenCore|kvm-bindgen|CClang' "$log" | grep -qE 'swift-frontend|swiftc'; then
    echo "consumer-check: FAILED: building the consumer compiled the generator"; exit 1
fi
binary="$scratch/debug/Consumer"
output=$("$binary")
echo "$output"
grep -q 'struct kvm_userspace_memory_region size 32' <<<"$output"
grep -q 'KVM_CREATE_VM 0xae01' <<<"$output"
grep -q 'KVM_EXIT_IO 2 KVM_EXIT_IO' <<<"$output"
grep -q 'LinuxLoader e820 4 entries, payload xz' <<<"$output"
if readelf -d "$binary" | grep -i 'NEEDED' | grep -qi clang; then
    echo "consumer-check: FAILED: the consumer links libclang"; exit 1
fi
echo "consumer-check: 1 passed, 0 failed"
