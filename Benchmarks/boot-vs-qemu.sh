#!/usr/bin/env bash
# Side by side, in one run: `boot` and QEMU's microvm machine booting the same Debian cloud kernel with the
# same initramfs and the same command line, as an uncompressed vmlinux (PVH) and as a bzImage. For each
# run: seconds from process start to the kernel banner ("Linux version") and to "printk: console
# [ttyS0] enabled", then the VMM's memory beside the guest's (VmRSS minus the resident part of the guest
# RAM mapping, from /proc/PID/smaps), sampled when the console line arrives; the run is then ended.
# Runs are interleaved (boot, QEMU, boot, QEMU, ...) so both see the same machine load.
#
#   Benchmarks/boot-vs-qemu.sh   (REPEAT=N rounds, default 1; RUN_TIMEOUT seconds per run, default 1500;
#                                 FORMATS="startup pvh bzimage" by default, any subset to save time;
#                                 "bzimage-guest" adds the bzImage with `boot --decompress guest`, the
#                                 kernel's own decompressor running in the guest as under QEMU)
#
# "startup" isolates what the VMM itself adds before the kernel runs: a fake PVH kernel
# (Scripts/fake-kernel.py pvh-halt) that prints one line at its entry point, with the same initrd,
# memory and command line, STARTUP_REPEAT times (default 5) per round; its "banner" is that line.
#
# Uses the images Scripts/boot-linux.sh prepares in BOOT_WORK (it runs it with --prepare-only first);
# installs qemu-system-x86 if missing. On a host whose KVM emulates kernel code (PVM) every boot is
# slow; the ratios are what matter.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BOOT_WORK:-/tmp/swift-kvm-boot}
BOOT_WORK="$work" "$root/Scripts/boot-linux.sh" --prepare-only
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null; }
if [ -z "${BOOT_BIN:-}" ]; then
    (cd "$root" && swift build -c release --product boot >/dev/null)
    BOOT_BIN=$(cd "$root" && swift build -c release --show-bin-path)/boot
fi
sync "$BOOT_BIN"  # a fresh link's pages, dirty in the page cache until written back, count as Private_Dirty
extra=$("$BOOT_BIN" --probe-only)
# cryptomgr.notests: the crypto self-tests are pure computation, minutes of it where KVM emulates
# kernel code; they are not what this boot is testing.
cmdline="console=ttyS0 earlyprintk=ttyS0 reboot=k panic=1 cryptomgr.notests $extra"
memory=${BOOT_MEMORY:-256}
echo "boot-vs-qemu: $(qemu-system-x86_64 --version | head -1); kernel $(cat "$work/kernel-package"); ${memory} MiB, 1 vCPU"
echo "boot-vs-qemu: command line (both): $cmdline"

fake=$(mktemp)
trap 'rm -f "$fake"' EXIT
"$root/Scripts/fake-kernel.py" pvh-halt "$fake"

python3 - "$BOOT_BIN" "$work" "$cmdline" "$memory" "${REPEAT:-1}" "${RUN_TIMEOUT:-1500}" "${FORMATS:-startup pvh bzimage}" \
    "$fake" "${STARTUP_REPEAT:-5}" "$root/Benchmarks" <<'PYTHON'
import os, sys
sys.path.insert(0, sys.argv[10])
from vmm_process import VMMProcess

boot, work, cmdline, memory, repeat, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
formats = sys.argv[7].split()
fake_kernel, startup_repeat = sys.argv[8], int(sys.argv[9])
LINUX_MARKERS = ("Linux version", "printk: console [ttyS0] enabled")
FAKE_MARKERS = ("fake kernel (PVH): hello", "fake kernel (PVH): hello")
initrd = os.path.join(work, "initramfs.cpio.gz")

def smaps_memory(pid):
    """(total RSS, RSS of the guest RAM, private dirty memory) in KiB, from /proc/PID/smaps. Guest RAM =
    the mappings of at least `memory` MiB; private dirty = Private_Dirty outside guest RAM (heap,
    stacks, relocated data: what the VMM alone pins; clean library pages can be shared or dropped)."""
    total = guest = private = 0
    size = 0
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                if line.startswith("Size:"):
                    size = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
                    total += rss
                    if size >= memory * 1024:
                        guest += rss
                elif line.startswith("Private_Dirty:") and size < memory * 1024:
                    private += int(line.split()[1])
    except OSError:
        return None
    return total, guest, private

def qemu_command(kernel, cpu):
    return ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-cpu", cpu, "-m", str(memory), "-smp", "1",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd, "-append", cmdline]

def measure(name, command, log, markers=LINUX_MARKERS):
    banner = console = None
    memory_sample = None
    lines = []
    with VMMProcess(command) as vmm:
        for now, text in vmm.lines(timeout):
            lines.append(f"{now:9.3f} {text}")
            if banner is None and markers[0] in text:
                banner = now
            if console is None and markers[1] in text:
                console = now
                memory_sample = smaps_memory(vmm.pid)
                break
    with open(log, "w") as out:
        out.write("\n".join(lines) + "\n")
    return banner, console, memory_sample, lines

def fmt(value):
    if value is None:
        return "       - "
    return f"{value:8.3f} s" if value < 10 else f"{value:8.1f} s"

results = {}
qemu_cpu = "host"
for round_index in range(repeat):
    for label, tag, kernel, extra in ((("start-up (fake PVH kernel)", "startup", fake_kernel, []),) * startup_repeat
                                      + (("vmlinux (PVH)", "pvh", os.path.join(work, "vmlinux"), []),
                                      ("bzImage", "bzimage", os.path.join(work, "vmlinuz"), []),
                                      ("bzImage, guest decompresses", "bzimage-guest", os.path.join(work, "vmlinuz"),
                                       ["--decompress", "guest"]),)):
        if tag not in formats:
            continue
        markers = FAKE_MARKERS if tag == "startup" else LINUX_MARKERS
        boot_run = measure("boot", [boot, "--kernel", kernel, "--initrd", initrd, "--cmdline", cmdline, "--memory", str(memory),
                                    "--timeout", str(int(timeout))] + extra, os.path.join(work, f"bench-boot-{tag}-{round_index}.log"),
                           markers)
        qemu_run = measure("qemu", qemu_command(kernel, qemu_cpu), os.path.join(work, f"bench-qemu-{tag}-{round_index}.log"), markers)
        if qemu_run[0] is None and any("failed to set MSR" in line or "kvm_buf_set_msrs" in line for line in qemu_run[3]):
            qemu_cpu = "host,-arch-capabilities"  # this host's KVM refuses IA32_ARCH_CAPABILITIES with -cpu host
            qemu_run = measure("qemu", qemu_command(kernel, qemu_cpu), os.path.join(work, f"bench-qemu-{tag}-{round_index}.log"), markers)
        results.setdefault(label, []).append((boot_run, qemu_run))
        for name, run in (("boot", boot_run), (f"qemu -M microvm -cpu {qemu_cpu}", qemu_run)):
            sample = run[2]
            mem = (f"RSS {sample[0]} KiB, guest RAM resident {sample[1]} KiB, VMM overhead {sample[0] - sample[1]} KiB"
                   f" ({sample[2]} KiB private dirty)") if sample else "memory not sampled"
            print(f"  round {round_index + 1} {label:14} {name:36} banner {fmt(run[0])}  console {fmt(run[1])}  {mem}", flush=True)

print("\nboot-vs-qemu: medians (boot / QEMU):")
def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
for label, runs in results.items():
    row = []
    for index, what in ((0, "banner"), (1, "console enabled")):
        b = median([r[0][index] for r in runs])
        q = median([r[1][index] for r in runs])
        ratio = f"{b / q:.2f}x" if b and q else "n/a"
        row.append(f"{what}: boot {fmt(b).strip()} vs QEMU {fmt(q).strip()} = {ratio}")
    overhead_b = median([r[0][2][0] - r[0][2][1] for r in runs if r[0][2]])
    overhead_q = median([r[1][2][0] - r[1][2][1] for r in runs if r[1][2]])
    private_b = median([r[0][2][2] for r in runs if r[0][2]])
    private_q = median([r[1][2][2] for r in runs if r[1][2]])
    kib = lambda value: "-" if value is None else f"{value:.0f} KiB"
    row.append(f"VMM overhead (RSS minus guest RAM): boot {kib(overhead_b)} vs QEMU {kib(overhead_q)};"
               f" private dirty: boot {kib(private_b)} vs QEMU {kib(private_q)}")
    print(f"  {label}: " + "; ".join(row))
PYTHON
