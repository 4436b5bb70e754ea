#!/usr/bin/env bash
# Consumer test, as a user's packages depend on swift-kvm:
# 1. Tests/ConsumerPackage depends on EVERY library product by path, uses each, and runs; building it
#    must not build the generator, and its binary must not link libclang.
# 2. Tests/GitConsumerPackage depends on swift-kvm by a versioned git URL: a clone of this repository's
#    HEAD in a temporary folder, tagged 0.1.0, as `.package(url: "file://…", from: "0.1.0")`.
# Both build in one scratch folder ($CONSUMER_SCRATCH, default .build-consumer), so the dependencies
# swift-kvm itself needs (swift-system, swift-argument-parser) are fetched once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${CONSUMER_SCRATCH:-"$root/.build-consumer"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log="$work/build.log"

# 1. By path. (--disable-build-manifest-caching: a cached build plan misses source files added to
#    swift-kvm since the last run.)
cd "$root/Tests/ConsumerPackage"
swift build --scratch-path "$scratch/path" --cache-path "$scratch/cache" --disable-build-manifest-caching -v >"$log" 2>&1 || { cat "$log"; exit 1; }
if grep -E 'BindgenCore|kvm-bindgen|CClang' "$log" | grep -qE 'swift-frontend|swiftc'; then
    echo "consumer-check: FAILED: building the consumer compiled the generator"; exit 1
fi
binary="$scratch/path/debug/Consumer"
output=$("$binary")
echo "$output"
for expected in 'struct kvm_userspace_memory_region size 32' 'KVM_CREATE_VM 0xae01' 'KVM_EXIT_IO 2 KVM_EXIT_IO' \
    'KVM 0x100000 buffer \[82, 83, 70, 83\]' 'LinuxLoader e820 4 entries, payload xz' 'X86Setup code64 0xaf9b000000ffff' \
    'X86Assembler hlt \[244\]' 'DeviceBus overlap refused' 'LegacyDevices debug exit 1 -> status 3' \
    'ACPITables RSDP DSDT FACP APIC XSDT' 'EmulatedCPL0Fallbacks clearcpuid=popcnt' 'VirtioQueue ' \
    'VirtioMMIO virtio_mmio.device=' 'VirtioDevices 52:54:00:12:34:56'; do
    grep -q "$expected" <<<"$output" || { echo "consumer-check: FAILED: no line matching '$expected'"; exit 1; }
done
if readelf -d "$binary" | grep -i 'NEEDED' | grep -qi clang; then
    echo "consumer-check: FAILED: the consumer links libclang"; exit 1
fi

# 2. By a versioned git URL.
git clone -q "$root" "$work/swift-kvm"
git -C "$work/swift-kvm" tag 0.1.0
cp -R "$root/Tests/GitConsumerPackage" "$work/consumer"
cat >"$work/consumer/Package.swift" <<MANIFEST
// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "GitConsumer",
    dependencies: [.package(url: "file://$work/swift-kvm", from: "0.1.0")],
    targets: [
        .executableTarget(
            name: "GitConsumer",
            dependencies: [.product(name: "KVM", package: "swift-kvm"), .product(name: "X86Setup", package: "swift-kvm")])
    ],
    swiftLanguageModes: [.v6]
)
MANIFEST
cd "$work/consumer"
swift build --scratch-path "$scratch/git" --cache-path "$scratch/cache" -v >"$log" 2>&1 || { cat "$log"; exit 1; }
if grep -E 'BindgenCore|kvm-bindgen|CClang' "$log" | grep -qE 'swift-frontend|swiftc'; then
    echo "consumer-check: FAILED: building the git consumer compiled the generator"; exit 1
fi
# What resolved, printed (the mirror's versions of swift-kvm's own dependencies included).
versions=$(python3 -c 'import json, sys
for pin in json.load(open(sys.argv[1]))["pins"]: print(pin["identity"], pin["state"].get("version"), pin["state"]["revision"][:12])' Package.resolved)
echo "$versions"
grep -q '^swift-kvm 0.1.0 ' <<<"$versions" || { echo "consumer-check: FAILED: swift-kvm did not resolve to 0.1.0"; exit 1; }
output=$("$scratch/git/debug/GitConsumer")
echo "$output"
grep -q 'GitConsumer KVM 0x1000 X86Setup page tables at 0x1000' <<<"$output" || { echo "consumer-check: FAILED: git consumer output"; exit 1; }
echo "consumer-check: 2 passed, 0 failed"
