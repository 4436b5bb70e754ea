#!/usr/bin/env bash
# Builds swift-kvm's test initramfs: an UNCOMPRESSED newc cpio (a compressed one is unpacked by the
# guest kernel, which costs minutes on a host that emulates kernel code) holding Debian's
# busybox-static as /bin/busybox and /bin/sh, /dev/console, /dev/null, and the /init in
# Scripts/test-kernel/init (the microvm protocol is described there).
#
#   Scripts/test-initramfs.sh [--all-links]
#
# Only /bin/sh links to busybox: Debian's busybox shell runs its applets by name without links
# (FEATURE_SH_STANDALONE), so `ls`, `cat`, ... work in scripts and at the prompt, and every file in
# the archive costs the guest kernel time to unpack where KVM emulates it (the ~270 applet links
# cost several seconds there; see Scripts/test-kernel/README.md). --all-links adds a link per applet
# (/bin/ls, /sbin/reboot, ...), for programs that exec applets by path. The output name is the same.
#
# Output: .build/test-kernel/initramfs.cpio under the repository root (TEST_KERNEL_OUT overrides the
# directory). The archive is made by the kernel's usr/gen_init_cpio from a file list: no root, no
# device-node tricks, and the same bytes for the same busybox package and init (all mtimes are fixed).
# gen_init_cpio comes from the tree Scripts/test-kernel.sh unpacked, else from the linux-source-6.1
# tarball. Installs busybox-static (and linux-source-6.1, gcc) when missing. Prints the busybox-static
# version it used; all output goes to stderr except the LAST line on stdout: the cpio's absolute path.
set -euo pipefail
exec 3>&1 1>&2

root=$(cd "$(dirname "$0")/.." && pwd)
out=${TEST_KERNEL_OUT:-$root/.build/test-kernel}
init=$root/Scripts/test-kernel/init
log() { echo "test-initramfs: $*"; }
all_links=0
for argument in "$@"; do
    case $argument in
        --all-links) all_links=1 ;;
        *) echo "usage: $0 [--all-links]"; exit 2 ;;
    esac
done

"$root/Scripts/install-dependencies.sh" busybox-static gcc linux-source-6.1 xz-utils
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
busybox=$(dpkg -L busybox-static | grep -E '^/bin/busybox$|^/usr/bin/busybox$' | head -1)
[ -n "$busybox" ] && [ -x "$busybox" ] || { log "error: busybox-static $busybox_version has no busybox binary"; exit 1; }
log "busybox: Debian busybox-static $busybox_version ($busybox)"

mkdir -p "$out"
work=$(mktemp -d "$out/initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT

# gen_init_cpio: one C file, built with the host compiler.
source_file=$out/source/usr/gen_init_cpio.c
if [ ! -f "$source_file" ]; then
    tarball=$(dpkg -L linux-source-6.1 | grep -E '^/usr/src/linux-source-6\.1\.tar\.(xz|bz2|gz)$' | head -1)
    log "extracting usr/gen_init_cpio.c from $tarball"
    tar -xf "$tarball" -C "$work" --wildcards '*/usr/gen_init_cpio.c'
    source_file=$(find "$work" -name gen_init_cpio.c | head -1)
fi
gcc -O2 -o "$work/gen_init_cpio" "$source_file"

# Staged copies with a fixed mtime (gen_init_cpio takes regular files' mtimes from the files).
epoch=0
install -m 0755 "$busybox" "$work/busybox"
install -m 0755 "$init" "$work/init"
touch -d "@$epoch" "$work/busybox" "$work/init"

{
    echo "dir /bin 0755 0 0"
    echo "dir /sbin 0755 0 0"
    echo "dir /usr 0755 0 0"
    echo "dir /usr/bin 0755 0 0"
    echo "dir /usr/sbin 0755 0 0"
    echo "dir /dev 0755 0 0"
    echo "nod /dev/console 0600 0 0 c 5 1"
    echo "nod /dev/null 0666 0 0 c 1 3"
    echo "dir /proc 0555 0 0"
    echo "dir /sys 0555 0 0"
    echo "dir /tmp 1777 0 0"
    echo "dir /root 0700 0 0"
    echo "dir /etc 0755 0 0"
    echo "dir /mnt 0755 0 0"
    echo "file /bin/busybox $work/busybox 0755 0 0"
    echo "file /init $work/init 0755 0 0"
    echo "slink /bin/sh /bin/busybox 0777 0 0"
    if [ $all_links -eq 1 ]; then
        # One link per applet, where busybox --install would put it (/bin/ls, /sbin/reboot, ...).
        "$work/busybox" --list-full | sort | while read -r applet; do
            case $applet in bin/busybox|bin/sh) continue ;; esac
            echo "slink /$applet /bin/busybox 0777 0 0"
        done
    fi
} > "$work/list"

"$work/gen_init_cpio" -t "$epoch" "$work/list" > "$work/initramfs.cpio"
mv "$work/initramfs.cpio" "$out/initramfs.cpio"
log "initramfs.cpio: $(stat -c %s "$out/initramfs.cpio") bytes, $(grep -c . "$work/list") entries, sha256 $(sha256sum < "$out/initramfs.cpio" | cut -d' ' -f1)"
echo "$out/initramfs.cpio" >&3
