#!/usr/bin/env bash
# Side by side, in one run: `boot` (and `microvm`, when built) against QEMU's microvm machine
# (`qemu-system-x86_64 -M microvm -enable-kvm`), booting the same kernel with the same initrd (and
# disk) and the same command line. Runs are interleaved (boot, microvm, QEMU, boot, ...) so all see the
# same machine load; for each run: seconds from process start to each milestone line, where and why the
# run stopped, the last line the guest printed, and the VMM's memory beside the guest's (VmRSS minus
# the resident part of the guest RAM mapping, from /proc/PID/smaps) at the row's memory milestone.
# Then the medians, with each VMM's time as a ratio of QEMU's. Logs: BOOT_WORK/bench-ROW-VMM-N.log.
#
#   Benchmarks/boot-vs-qemu.sh   (FORMATS: rows, any subset; default "startup pvh bzimage generic minimal
#                                 virtio-root"; REPEAT=N rounds, default 1; RUN_TIMEOUT seconds per run,
#                                 default 1500; VMMS: default "boot microvm qemu", microvm only if the
#                                 package has it; BOOT_BIN / MICROVM_BIN: built binaries;
#                                 QEMU_BZIMAGE_TIMEOUT bounds QEMU on the minimal bzImage, default RUN_TIMEOUT)
#
# Rows (FORMATS):
#   startup        what the VMM itself adds before the kernel runs: a fake PVH kernel
#                  (Scripts/fake-kernel.py pvh-halt) that prints one line at its entry, STARTUP_REPEAT
#                  times (default 5) per round; its "banner" is that line. boot and QEMU.
#   pvh, bzimage   Debian's cloud kernel (Scripts/boot-linux.sh prepares it) as an uncompressed vmlinux
#                  (PVH entry) and as its bzImage; banner ("Linux version") and "printk: console [ttyS0]
#                  enabled". boot and QEMU. "bzimage-guest": the bzImage with `boot --decompress guest`.
#   generic        Debian's generic linux-image-amd64 (an xz-compressed bzImage, downloaded with apt-get
#                  download; the version is printed): `boot` decompresses xz on the host, QEMU lets the
#                  kernel's own decompressor run in the guest. Banner and console. GENERIC_TIMEOUT
#                  (default RUN_TIMEOUT) bounds each run.
#   minimal        the minimal test kernel (Scripts/test-kernel.sh) and its initramfs
#                  (Scripts/test-initramfs.sh), with the recommended command line of
#                  Scripts/test-kernel/README.md: banner, "Run /init as init process", the command's
#                  output (a token echoed by busybox), and the process's end. boot runs the command
#                  through the initramfs's /init protocol (an appended /microvm archive, as microvm
#                  builds it); microvm gets it after `--` (and --verbose, which shows the kernel log on
#                  stderr, where the milestones are). boot and QEMU also run the same kernel's vmlinux
#                  (PVH entry), so the entry path can be told apart from the VMM. QEMU has no fix-up for this host's user-mode
#                  syscall delivery, so it is expected to stop earlier: the table says where.
#   virtio-root    (microvm and QEMU) the minimal kernel with an ext4 root on virtio-blk and no initrd:
#                  seconds to "VFS: Mounted root (ext4". QEMU: -device virtio-blk-device. The ext4 image is
#                  made with mke2fs -d (busybox inside).
#
# Installs qemu-system-x86 if missing. On a host whose KVM emulates kernel code (PVM) every boot is
# slow and a loaded machine inflates all times; the ratios from interleaved runs are what matter.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BOOT_WORK:-/tmp/swift-kvm-boot}
formats=${FORMATS:-startup pvh bzimage generic minimal virtio-root}
timeout=${RUN_TIMEOUT:-1500}
mkdir -p "$work"
has() { case " $formats " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if has startup || has pvh || has bzimage || has bzimage-guest || has generic; then
    BOOT_WORK="$work" "$root/Scripts/boot-linux.sh" --prepare-only
fi
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null; }
if [ -z "${BOOT_BIN:-}" ]; then
    (cd "$root" && swift build -c release --product boot >/dev/null)
    BOOT_BIN=$(cd "$root" && swift build -c release --show-bin-path)/boot
fi
vmms=${VMMS:-boot microvm qemu}
case " $vmms " in
    *" microvm "*)
        if [ -z "${MICROVM_BIN:-}" ] && grep -q '"microvm"' "$root/Package.swift"; then
            (cd "$root" && swift build -c release --product microvm >/dev/null)
            MICROVM_BIN=$(cd "$root" && swift build -c release --show-bin-path)/microvm
        fi
        [ -n "${MICROVM_BIN:-}" ] || { echo "boot-vs-qemu: no microvm in this package: its rows are left out"; vmms=${vmms/microvm/}; } ;;
esac
sync "$BOOT_BIN" ${MICROVM_BIN:+"$MICROVM_BIN"}  # a fresh link's dirty page-cache pages count as Private_Dirty
probe=$("$BOOT_BIN" --probe-only 2>/dev/null)
memory=${BOOT_MEMORY:-256}
echo "boot-vs-qemu: $(date -u '+%Y-%m-%d %H:%M UTC'), $(qemu-system-x86_64 --version | head -1), host $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "boot-vs-qemu: VMMs: $vmms; rows: $formats; ${REPEAT:-1} round(s)"

# Debian's generic kernel: the linux-image-amd64 metapackage names the real package.
if has generic && [ ! -f "$work/generic/vmlinuz" ]; then
    downloads=$(mktemp -d "$work/generic-download.XXXX")
    chmod 777 "$downloads"  # apt-get download drops privileges to _apt
    (cd "$downloads" && apt-get download -q linux-image-amd64 >/dev/null 2>&1) ||
        { apt-get update -qq && (cd "$downloads" && apt-get download -q linux-image-amd64 >/dev/null); }
    image=$(dpkg-deb -f "$downloads"/linux-image-amd64_*.deb Depends | grep -o 'linux-image-[^ ,]*-amd64' | head -1)
    (cd "$downloads" && apt-get download -q "$image" >/dev/null 2>&1)
    dpkg-deb -x "$downloads/${image}_"*.deb "$downloads/kernel"
    mkdir -p "$work/generic"
    cp "$downloads"/kernel/boot/vmlinuz-* "$work/generic/vmlinuz"
    echo "$image $(dpkg-deb -f "$downloads/${image}_"*.deb Version)" > "$work/generic/package"
    rm -rf "$downloads"
fi
if has generic; then
    payload=$(python3 - "$work/generic/vmlinuz" <<'PYTHON'
import struct, sys
data = open(sys.argv[1], "rb").read()
setup = (data[0x1f1] or 4) + 1
offset, length = struct.unpack_from("<II", data, 0x248)
start = setup * 512 + offset
magic = data[start:start + 6]
names = {b"\xfd7zXZ\x00": "xz", b"\x1f\x8b": "gzip", b"\x02\x21\x4c\x18": "lz4", b"\x28\xb5\x2f\xfd": "zstd"}
print(next((name for key, name in names.items() if magic.startswith(key)), magic.hex()), length)
PYTHON
)
    echo "boot-vs-qemu: generic kernel $(cat "$work/generic/package"): $(stat -c %s "$work/generic/vmlinuz") bytes, payload ${payload% *} (${payload#* } bytes)"
fi

# The minimal test kernel, its initramfs, and the command appended as a /microvm archive (the /init
# protocol of Scripts/test-kernel/README.md, which is what microvm appends).
token=bench-output-$$
# By default the kernel is the test kernel plus Benchmarks/kernel-patches/skip-int3-selftest.patch (built
# into .build/bench-kernel): where KVM emulates kernel code without kernel-mode int3, QEMU stops at the
# kernel's int3 self-test, before any milestone after the banner; without the self-test both VMMs can
# be compared further on the same kernel. BENCH_KERNEL=test uses the test kernel as it is.
if has minimal || has virtio-root; then
    if [ "${BENCH_KERNEL:-int3-free}" = test ]; then
        kernel=$("$root/Scripts/test-kernel.sh" 2>/dev/null | tail -1)
    else
        kernel=$(TEST_KERNEL_OUT="$root/.build/bench-kernel" \
            TEST_KERNEL_EXTRA_PATCHES="$root/Benchmarks/kernel-patches/skip-int3-selftest.patch" "$root/Scripts/test-kernel.sh" 2>/dev/null | tail -1)
    fi
    initramfs=$("$root/Scripts/test-initramfs.sh" 2>/dev/null | tail -1)
    # The microvm row takes the initramfs from beside the kernel.
    [ "$(dirname "$initramfs")" = "$(dirname "$kernel")" ] || cp "$initramfs" "$(dirname "$kernel")/initramfs.cpio"
    python3 - "$initramfs" "$work/minimal-initrd.cpio" "/bin/busybox echo $token" <<'PYTHON'
import sys
source, output, command = sys.argv[1:4]
def entry(name, mode, data=b"", ino=[0x7000]):
    ino[0] += 1
    fields = [ino[0], mode, 0, 0, 2 if mode & 0o40000 else 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % field for field in fields) + name.encode() + b"\0"
    header += b"\0" * (-len(header) % 4)
    return header + data + b"\0" * (-len(data) % 4)
base = open(source, "rb").read()
assert len(base) % 4 == 0, "the initramfs must end on a 4-byte boundary"
archive = (entry("microvm", 0o40755) + entry("microvm/run", 0o100644, (command + "\n").encode())
           + entry("microvm/nonce", 0o100644, b"0badcafe\n") + entry("TRAILER!!!", 0))
open(output, "wb").write(base + archive + b"\0" * (-len(archive) % 512))
PYTHON
    echo "boot-vs-qemu: minimal kernel ${BENCH_KERNEL:-int3-free} $kernel ($(stat -c %s "$kernel") bytes), initramfs $initramfs ($(stat -c %s "$initramfs") bytes) + /microvm/run: /bin/busybox echo $token"
fi
if has virtio-root; then
    rootdir=$(mktemp -d)
    mkdir -p "$rootdir/bin" "$rootdir/sbin" "$rootdir/dev" "$rootdir/proc" "$rootdir/sys"
    busybox=$(command -v busybox || true)
    [ -n "$busybox" ] && file -b "$busybox" | grep -q static || busybox=/bin/busybox
    cp "$busybox" "$rootdir/bin/busybox"; ln -s busybox "$rootdir/bin/sh"
    printf '#!/bin/sh\n/bin/busybox echo %s\n/bin/busybox reboot -f\n' "$token" > "$rootdir/sbin/init"; chmod +x "$rootdir/sbin/init"
    rm -f "$work/root.ext4"
    mke2fs -q -t ext4 -d "$rootdir" -L benchroot "$work/root.ext4" 64M >/dev/null
    rm -rf "$rootdir"
fi

# Command lines. `boot` and microvm add this host's probe parameters (merged into one clearcpuid=);
# they are written out here so that QEMU gets the same line.
merged=$(python3 - "$probe" <<'PYTHON'
import sys
words = sys.argv[1].split()
flags = [f for w in words if w.startswith("clearcpuid=") for f in w[len("clearcpuid="):].split(",")]
rest = [w for w in words if not w.startswith("clearcpuid=")]
for extra in ("erms", "fsrm"):  # the README's recommendation: the kernel honours only the last clearcpuid=
    if extra not in flags:
        flags.append(extra)
print(" ".join(rest + ["clearcpuid=" + ",".join(flags)]))
PYTHON
)
cloud_cmdline="console=ttyS0 earlyprintk=ttyS0 reboot=k panic=1 cryptomgr.notests $probe"
# microvm's own line plus ignore_loglevel (it passes `quiet`, which hides the milestones) and acpi=off,
# the same line for every VMM. acpi=off was needed until 2026-12-02 (with boot's hardware-reduced FADT
# the UART had no IRQ 4 while the test kernel could not load a DSDT); it stays so that these rows
# compare with earlier runs and QEMU's own ACPI tables play no part.
minimal_cmdline="console=ttyS0 reboot=k panic=-1 quiet noreplace-smp rodata=off percpu_alloc=page ignore_loglevel acpi=off $merged"
echo "boot-vs-qemu: command line, cloud and generic rows: $cloud_cmdline"
echo "boot-vs-qemu: command line, minimal rows: $minimal_cmdline"

fake=$(mktemp)
trap 'rm -f "$fake"' EXIT
"$root/Scripts/fake-kernel.py" pvh-halt "$fake"

export BENCH_WORK=$work BENCH_REPEAT=${REPEAT:-1}
BENCH_ROWS=$(python3 - "$formats" "$vmms" "$BOOT_BIN" "${MICROVM_BIN:-}" "$work" "$fake" "$memory" "$timeout" \
    "${GENERIC_TIMEOUT:-$timeout}" "${STARTUP_REPEAT:-5}" "$cloud_cmdline" "$minimal_cmdline" "$token" "${kernel:-}" "${QEMU_BZIMAGE_TIMEOUT:-$timeout}" <<'PYTHON'
import json, sys
(formats, vmms, boot, microvm, work, fake, memory, timeout, generic_timeout, startup_repeat, cloud_cmdline,
 minimal_cmdline, token, minimal_kernel, qemu_bzimage_timeout) = sys.argv[1:16]
formats, vmms, memory = formats.split(), vmms.split(), int(memory)

def qemu(kernel, cmdline, initrd=None, extra=(), mib=memory, note="", machine="microvm"):
    def command(cpu):
        return (["qemu-system-x86_64", "-M", machine, "-enable-kvm", "-cpu", cpu, "-m", str(mib), "-smp", "1",
                 "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-kernel", kernel]
                + (["-initrd", initrd] if initrd else []) + ["-append", cmdline] + list(extra))
    return {"vmm": "qemu -M microvm -cpu host" + note, "command": command("host"), "retry_command": command("host,-arch-capabilities"),
            "log": "qemu" + note.replace(" ", "").replace(",", "-").replace("(", "-").replace(")", "")}

def boot_run(kernel, cmdline, initrd=None, extra=(), mib=memory, limit=timeout):
    return {"vmm": "boot", "command": [boot, "--kernel", kernel] + (["--initrd", initrd] if initrd else [])
            + ["--cmdline", cmdline, "--memory", str(mib), "--timeout", str(int(float(limit)))] + list(extra)}

CLOUD = [["banner", "Linux version"], ["console", "printk: console [ttyS0] enabled"]]
rows = []
initrd = f"{work}/initramfs.cpio.gz"
cloud_rows = [("startup", "start-up (fake PVH kernel)", fake), ("pvh", "cloud vmlinux (PVH)", f"{work}/vmlinux"),
              ("bzimage", "cloud bzImage", f"{work}/vmlinuz"), ("bzimage-guest", "cloud bzImage, guest decompresses", f"{work}/vmlinuz"),
              ("generic", "generic linux-image-amd64 bzImage (xz)", f"{work}/generic/vmlinuz")]
for tag, label, kernel in cloud_rows:
    if tag not in formats:
        continue
    limit = generic_timeout if tag == "generic" else timeout
    extra = ["--decompress", "guest"] if tag == "bzimage-guest" else []
    milestones = [["banner", "fake kernel (PVH): hello"]] if tag == "startup" else CLOUD
    runs = []
    if "boot" in vmms:
        runs.append(boot_run(kernel, cloud_cmdline, initrd, extra, limit=limit))
    if "qemu" in vmms:
        runs.append(qemu(kernel, cloud_cmdline, initrd))
    rows.append({"tag": tag, "label": label, "runs": runs, "milestones": milestones, "timeout": limit,
                 "memory_at": milestones[-1][0], "memory_mib": memory,
                 "repeat": int(startup_repeat) if tag == "startup" else 1})

MINIMAL_MIB = 128  # the test kernel's recommended size (Scripts/test-kernel/README.md)
if "minimal" in formats:
    milestones = [["banner", "Linux version"], ["run-init", "Run /init as init process"], ["output", token]]
    runs = []
    if "boot" in vmms:
        runs.append(boot_run(minimal_kernel, minimal_cmdline, f"{work}/minimal-initrd.cpio", mib=MINIMAL_MIB))
        # and the same kernel's vmlinux through its PVH note, as QEMU's second run below
        runs.append(dict(boot_run(minimal_kernel.rsplit("/", 1)[0] + "/vmlinux", minimal_cmdline, f"{work}/minimal-initrd.cpio",
                                  mib=MINIMAL_MIB), vmm="boot (vmlinux, PVH)", log="boot-pvh"))
    if "microvm" in vmms and microvm:
        runs.append({"vmm": "microvm", "command": [microvm, "--kernel", minimal_kernel, "--initrd",
                     minimal_kernel.rsplit("/", 1)[0] + "/initramfs.cpio", "--memory", str(MINIMAL_MIB),
                     "--append", "ignore_loglevel acpi=off", "--verbose", "--timeout", str(int(float(timeout))), "--",
                     "/bin/busybox", "echo", token]})
    if "qemu" in vmms:
        # The same bzImage (QEMU runs the kernel's own LZ4 decompressor in the guest, emulated here; bounded
        # by QEMU_BZIMAGE_TIMEOUT), and the same kernel's vmlinux through its PVH note (no decompression).
        runs.append(dict(qemu(minimal_kernel, minimal_cmdline, f"{work}/minimal-initrd.cpio", mib=MINIMAL_MIB, note=" (bzImage)"),
                         timeout=qemu_bzimage_timeout))
        runs.append(qemu(minimal_kernel.rsplit("/", 1)[0] + "/vmlinux", minimal_cmdline, f"{work}/minimal-initrd.cpio",
                         mib=MINIMAL_MIB, note=" (vmlinux, PVH)"))
    rows.append({"tag": "minimal", "label": "minimal test kernel, initramfs, command", "runs": runs,
                 "milestones": milestones, "timeout": timeout, "memory_at": "run-init", "memory_mib": MINIMAL_MIB,
                 "end_at_last": False})
if "virtio-root" in formats and "microvm" in vmms and microvm:
    root_cmdline = minimal_cmdline + " root=/dev/vda rootfstype=ext4 ro"
    milestones = [["banner", "Linux version"], ["root-mounted", "VFS: Mounted root (ext4"]]
    runs = [{"vmm": "microvm", "command": [microvm, "--kernel", minimal_kernel, "--memory", str(MINIMAL_MIB),
             "--disk", f"{work}/root.ext4,ro", "--append", "ignore_loglevel acpi=off root=/dev/vda rootfstype=ext4 ro", "--verbose",
             "--timeout", str(int(float(timeout))), "--", "/bin/busybox", "true"]}]
    if "qemu" in vmms:
        disk = ["-drive", f"id=root,file={work}/root.ext4,format=raw,if=none,readonly=on", "-device", "virtio-blk-device,drive=root"]
        # without ACPI, QEMU announces virtio-mmio on the command line; the bzImage and the PVH vmlinux, as above
        runs.append(qemu(minimal_kernel, root_cmdline, None, disk, mib=MINIMAL_MIB, machine="microvm,acpi=off", note=" (bzImage)"))
        runs.append(qemu(minimal_kernel.rsplit("/", 1)[0] + "/vmlinux", root_cmdline, None, disk, mib=MINIMAL_MIB,
                         machine="microvm,acpi=off", note=" (vmlinux, PVH)"))
    rows.append({"tag": "virtio-root", "label": "minimal kernel, ext4 root on virtio-blk", "runs": runs,
                 "milestones": milestones, "timeout": timeout, "memory_at": "root-mounted", "memory_mib": MINIMAL_MIB})
print(json.dumps(rows))
PYTHON
)
export BENCH_ROWS
python3 "$root/Benchmarks/boot_vs_qemu.py"
