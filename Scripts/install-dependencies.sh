#!/usr/bin/env bash
# Installs what building and testing swift-kvm needs on Debian 12 beyond Swift itself:
# a libclang-dev (the generator), gcc and binutils (the layout oracle's C probe, test-guest encodings),
# clang (compile-only probes), bindgen (the generator benchmark's peer), and the static libc and
# libstdc++ the fully static example VMMs link (Package.swift's `smallVMM`), acpica-tools (`iasl`,
# which the ACPI tests disassemble every table with), liblzma-dev and libzstd-dev (LinuxLoader), iproute2
# (the virtio-net tests' namespaces), and Debian's linux-source-6.1, its build dependencies and
# busybox-static for the minimal test kernel (Scripts/test-kernel.sh). Idempotent.
#
#   Scripts/install-dependencies.sh              everything above
#   Scripts/install-dependencies.sh PACKAGE...   just these Debian packages, where not installed yet
#                                                (the scripts that need a few packages use this)
set -euo pipefail
needed=()
install_missing() {
    [ ${#needed[@]} -gt 0 ] || return 0
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "install-dependencies: installing ${needed[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
}
package_missing() { ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
if [ $# -gt 0 ]; then
    for package in "$@"; do package_missing "$package" && needed+=("$package"); done
    install_missing
    exit 0
fi
# Any libclang-N-dev will do (Package.swift picks KVM_BINDGEN_LLVM or the newest /usr/lib/llvm-N).
ls /usr/lib/llvm-*/include/clang-c/Index.h >/dev/null 2>&1 || needed+=(libclang-dev)
command -v cc >/dev/null || needed+=(gcc)
command -v as >/dev/null || needed+=(binutils)
command -v readelf >/dev/null || needed+=(binutils)
command -v python3 >/dev/null || needed+=(python3)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || needed+=(libc6-dev)
ls /usr/lib/gcc/x86_64-linux-gnu/*/libstdc++.a >/dev/null 2>&1 || needed+=(libstdc++-12-dev)
command -v iasl >/dev/null || needed+=(acpica-tools)
# iproute2 (`ip`): the virtio-net tests make a network namespace of their own with a TAP in it.
command -v ip >/dev/null || needed+=(iproute2)
# LinuxLoader's xz and zstd decompressors (headers, pkg-config files and the static archives the fully
# static examples link).
[ -f /usr/include/lzma.h ] && [ -f /usr/lib/x86_64-linux-gnu/liblzma.a ] || needed+=(liblzma-dev)
[ -f /usr/include/zstd.h ] && [ -f /usr/lib/x86_64-linux-gnu/libzstd.a ] || needed+=(libzstd-dev)
command -v pkg-config >/dev/null || needed+=(pkg-config)
# e2fsprogs (`mke2fs -d`): microvm's virtio test makes an ext4 image for the guest to mount.
command -v mke2fs >/dev/null || needed+=(e2fsprogs)
# The minimal test kernel and its initramfs (Scripts/test-kernel.sh, Scripts/test-initramfs.sh).
for package in make flex bison bc libelf-dev libssl-dev xz-utils linux-source-6.1 busybox-static; do
    package_missing "$package" && needed+=("$package")
done
install_missing
