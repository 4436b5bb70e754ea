#!/usr/bin/env bash
# Builds swift-kvm's minimal test kernel from Debian's linux-source-6.1 package:
# the patches in Scripts/test-kernel/patches/ applied (one, which lets ACPI load the DSDT without PCI),
# `make ARCH=x86_64 tinyconfig`, then the fragment Scripts/test-kernel/minimal.config merged on top
# (scripts/kconfig/merge_config.sh -n: allnoconfig with both as the starting values), checked: every option the fragment sets must be in
# the final .config, or the build fails naming it.
#
#   Scripts/test-kernel.sh [--force]
#
# Output, in .build/test-kernel/ under the repository root:
#   bzImage      the kernel (64-bit boot protocol; LZ4 payload, which `boot` decompresses on the host)
#   vmlinux      the uncompressed ELF kernel (PVH entry note)
#   System.map   its symbols (for `boot --profile-guest MS --symbols System.map`)
#   config       the final .config
#   source/      the unpacked kernel tree, kept for incremental rebuilds and usr/gen_init_cpio
# A finished build is reused while the source package's version, the fragment, the patches, the compiler
# and this script are unchanged (`stamp` holds a hash of them); --force rebuilds anyway.
#
# Installs what it needs (flex bison bc libelf-dev libssl-dev gcc make patch xz-utils linux-source-6.1) with apt-get
# when missing. Prints the package version it used; all output goes to stderr except the LAST line on
# stdout: the bzImage's absolute path.
#
# Environment: TEST_KERNEL_OUT (default <repo>/.build/test-kernel), TEST_KERNEL_NICE (niceness of the
# compile, default 10: the build shares the machine with the tests), TEST_KERNEL_JOBS (default nproc),
# TEST_KERNEL_EXTRA_PATCHES (space-separated patch files applied after ours, for a benchmark variant
# built into its own TEST_KERNEL_OUT; Benchmarks/boot-vs-qemu.sh uses it).
set -euo pipefail
exec 3>&1 1>&2  # everything to stderr; fd 3 is stdout, for the final path only

root=$(cd "$(dirname "$0")/.." && pwd)
fragment=$root/Scripts/test-kernel/minimal.config
patches=("$root"/Scripts/test-kernel/patches/*.patch)
# A variant for benchmarks: more patches on top (with its own TEST_KERNEL_OUT).
for extra in ${TEST_KERNEL_EXTRA_PATCHES:-}; do
    [ -f "$extra" ] || { echo "test-kernel: error: TEST_KERNEL_EXTRA_PATCHES names $extra, which does not exist" >&2; exit 2; }
    patches+=("$(cd "$(dirname "$extra")" && pwd)/$(basename "$extra")")
done
out=${TEST_KERNEL_OUT:-$root/.build/test-kernel}
niceness=${TEST_KERNEL_NICE:-10}
jobs=${TEST_KERNEL_JOBS:-$(nproc)}
force=0
for argument in "$@"; do
    case $argument in
        --force) force=1 ;;
        *) echo "usage: $0 [--force]"; exit 2 ;;
    esac
done
log() { echo "test-kernel: $*"; }

# 1. Dependencies (Debian 12).
needed=()
for package in flex bison bc libelf-dev libssl-dev gcc make patch xz-utils linux-source-6.1; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || needed+=("$package")
done
if [ ${#needed[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing ${needed[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi
version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
tarball=$(dpkg -L linux-source-6.1 | grep -E '^/usr/src/linux-source-6\.1\.tar\.(xz|bz2|gz)$' | head -1)
[ -n "$tarball" ] && [ -f "$tarball" ] || { log "error: linux-source-6.1 $version installed, but its tarball is missing"; exit 1; }
log "source: Debian linux-source-6.1 $version ($tarball)"

# 2. Reuse a finished build when nothing that decides it changed.
patches_hash=$(cat "${patches[@]}" | sha256sum | cut -d' ' -f1)
stamp=$( { echo "linux-source-6.1 $version"; gcc --version | head -1; sha256sum < "$fragment"; echo "$patches_hash"; sha256sum < "$0"; } | sha256sum | cut -d' ' -f1)
if [ $force -eq 0 ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] \
    && [ -f "$out/bzImage" ] && [ -f "$out/vmlinux" ] && [ -f "$out/System.map" ]; then
    log "reusing the build in $out (stamp $stamp)"
    echo "$out/bzImage" >&3
    exit 0
fi

# 3. The source tree: unpacked once per package version, then built incrementally.
mkdir -p "$out"
rm -f "$out/stamp"
src=$out/source
# The tree is unpacked again when the package or the patches change (a patch is never reverted in place).
source_id="$version patches $patches_hash"
if [ ! -f "$src/.test-kernel-source" ] || [ "$(cat "$src/.test-kernel-source")" != "$source_id" ]; then
    log "unpacking $tarball"
    rm -rf "$src" "$out/source.partial"
    mkdir -p "$out/source.partial"
    tar -xf "$tarball" -C "$out/source.partial" --strip-components=1
    for patch_file in "${patches[@]}"; do
        log "applying $(basename "$patch_file")"
        patch -d "$out/source.partial" -p1 --forward --quiet < "$patch_file" \
            || { log "error: $(basename "$patch_file") does not apply to linux-source-6.1 $version"; exit 1; }
    done
    echo "$source_id" > "$out/source.partial/.test-kernel-source"
    mv "$out/source.partial" "$src"
fi

# 4. Configuration: tinyconfig + the fragment, then check that Kconfig kept every requested option.
make_kernel() { nice -n "$niceness" make -C "$src" ARCH=x86_64 -j"$jobs" "$@"; }
# merge_config.sh -n resolves tinyconfig + fragment with allnoconfig: an option the fragment newly
# makes visible (ACPI's drivers, VT, INPUT, PNP, CPU_FREQ, ...) stays off unless something selects it,
# where olddefconfig would switch on every such option whose default is y.
make_kernel -s tinyconfig >/dev/null
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -n .config "$fragment" >/dev/null)
missing=0
while IFS= read -r line; do
    case $line in
        CONFIG_*=*) want=$line ;;
        "# CONFIG_"*" is not set") want=$line ;;
        *) continue ;;
    esac
    option=${want#\# }; option=${option%%[= ]*}
    if ! grep -qxF -- "$want" "$src/.config"; then
        if [[ $want == "# "* ]] && ! grep -q "^$option=" "$src/.config"; then
            continue  # "not set" and absent altogether (its dependencies are off) both mean off
        fi
        have=$(grep -E "^(# )?$option[= ]" "$src/.config" || echo "absent (a dependency is missing)")
        log "error: the fragment asks for '$want', the final .config has: $have"
        missing=1
    fi
done < "$fragment"
[ $missing -eq 0 ] || { log "error: Kconfig dropped options (see above); fix $fragment"; exit 1; }
log "configuration checked: every option of $(basename "$fragment") is in the final .config"

# 5. Build.
log "building bzImage and vmlinux with make -j$jobs (nice $niceness); about 8 minutes on 2 cores"
started=$(date +%s)
make_kernel -s KBUILD_BUILD_TIMESTAMP="$(date -u -R -r "$tarball")" \
    KBUILD_BUILD_USER=swift-kvm KBUILD_BUILD_HOST=test-kernel bzImage
log "built in $(( $(date +%s) - started )) s"
cp "$src/arch/x86/boot/bzImage" "$out/bzImage.partial" && mv "$out/bzImage.partial" "$out/bzImage"
cp "$src/vmlinux" "$out/vmlinux.partial" && mv "$out/vmlinux.partial" "$out/vmlinux"
cp "$src/System.map" "$out/System.map"
cp "$src/.config" "$out/config"
echo "$stamp" > "$out/stamp"
log "bzImage $(stat -c %s "$out/bzImage") bytes, vmlinux $(stat -c %s "$out/vmlinux") bytes"
echo "$out/bzImage" >&3
