#!/usr/bin/env bash
# The VMM's own memory, side by side in one run, against the 5 MiB target (Firecracker's specification):
# resident memory (RSS) minus the resident part of guest RAM, from /proc/PID/smaps. Every resident page
# counts, library and program code included (shared or not), not just private memory.
#
#   Benchmarks/vmm-memory.sh [--kernel VMLINUX [--initrd INITRD] [--cmdline STR]]
#
# Runs, each measured at a point where the VMM has done its work:
#   hello            the smallest VMM (64 KiB guest): at exit, stopped by ptrace (PTRACE_O_TRACEEXIT)
#                    after its last instruction, with every mapping still in place
#   boot, fake       `boot --memory 256` on a synthetic PVH kernel (Scripts/fake-kernel.py pvh-halt)
#                    entered as Linux is, which prints a line and halts: sampled 0.5 s after the line
#   QEMU, fake       `qemu-system-x86_64 -M microvm` on the same image, sampled the same way
#   boot / QEMU, real kernel (with --kernel): sampled when the banner ("Linux version") appears, or
#                    the line MARKER names (e.g. MARKER="printk: console [ttyS0] enabled", ~85 s on PVM)
#   microvm, every device (when the package has microvm, or MICROVM_BIN is set; MICROVM=0 leaves it
#                    out): the minimal test kernel (Scripts/test-kernel.sh, test-initramfs.sh) with
#                    --disk (a 64 MiB image), --disk ...,ro, --net tap=... (a TAP in a network namespace
#                    of its own, removed afterwards), --vsock, --rng and --console hvc0, running
#                    `echo TOKEN; sleep`: sampled 0.5 s after TOKEN, when every driver has probed
#                    and userspace runs. Same guest RAM as boot (BOOT_MEMORY).
# Guest RAM is recognized by size: the anonymous mappings of at least the guest's RAM (exactly 64 KiB
# for hello). The breakdown under each run groups the rest by mapping (file and permissions).
#
# Environment: HELLO_BIN / BOOT_BIN (built binaries; default: `swift build -c release`), BOOT_MEMORY
# (MiB, default 256), QEMU=0 to leave QEMU out (it runs when qemu-system-x86_64 is installed), RUN_TIMEOUT
# (seconds per run, default 120). On a host whose KVM emulates kernel code (PVM) the banner takes ~20 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel="" initrd="" cmdline=""
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) kernel=$2; shift 2 ;;
        --initrd) initrd=$2; shift 2 ;;
        --cmdline) cmdline=$2; shift 2 ;;
        *) echo "usage: $0 [--kernel VMLINUX [--initrd INITRD] [--cmdline STR]]" >&2; exit 2 ;;
    esac
done
command -v python3 >/dev/null 2>&1 || { echo "vmm-memory: needs python3" >&2; exit 2; }
if [ -z "${HELLO_BIN:-}" ] || [ -z "${BOOT_BIN:-}" ]; then
    # One product at a time: the examples share their dependencies, so the second build only links.
    (cd "$root" && swift build -c release --product hello >/dev/null && swift build -c release --product boot >/dev/null)
    bin=$(cd "$root" && swift build -c release --show-bin-path)
    HELLO_BIN=${HELLO_BIN:-$bin/hello} BOOT_BIN=${BOOT_BIN:-$bin/boot}
fi
if [ "${MICROVM:-1}" != 0 ] && [ -z "${MICROVM_BIN:-}" ] && grep -q '"microvm"' "$root/Package.swift"; then
    (cd "$root" && swift build -c release --product microvm >/dev/null)
    MICROVM_BIN=$(cd "$root" && swift build -c release --show-bin-path)/microvm
fi
[ "${MICROVM:-1}" != 0 ] || MICROVM_BIN=""
# Pages a fresh link left dirty in the page cache would show as Private_Dirty until written back.
sync "$HELLO_BIN" "$BOOT_BIN" ${MICROVM_BIN:+"$MICROVM_BIN"}
work=$(mktemp -d)
netns=""
cleanup() {
    [ -z "$netns" ] || ip netns del "$netns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
microvm_command=""
if [ -n "${MICROVM_BIN:-}" ]; then
    # Every device microvm has: two disks (one read-only), a TAP (in a namespace of its own: nothing
    # leaves it), vsock, entropy, the console on hvc0.
    test_kernel=$("$root/Scripts/test-kernel.sh" 2>/dev/null | tail -1)
    test_initrd=$("$root/Scripts/test-initramfs.sh" 2>/dev/null | tail -1)
    truncate -s 64M "$work/disk0.img" "$work/disk1.img"
    netns=swiftkvm-mem-$$
    ip netns add "$netns"
    ip -n "$netns" tuntap add dev tap0 mode tap
    ip -n "$netns" link set tap0 up
    microvm_command="ip netns exec $netns $MICROVM_BIN --kernel $test_kernel --initrd $test_initrd --memory ${BOOT_MEMORY:-256}"
    microvm_command+=" --disk $work/disk0.img --disk $work/disk1.img,ro --net tap=tap0,mac=52:54:00:12:34:56"
    microvm_command+=" --vsock cid=3,path=$work/vsock.sock --rng --console hvc0 --timeout ${RUN_TIMEOUT:-120}"
    microvm_command+=" -- /bin/busybox sh -c 'echo microvm-memory-token; sleep 60'"
fi
"$root/Scripts/fake-kernel.py" pvh-halt "$work/fake-pvh"
qemu=""
if [ "${QEMU:-1}" != 0 ] && command -v qemu-system-x86_64 >/dev/null 2>&1; then qemu=qemu-system-x86_64; fi
if [ -n "$kernel" ] && [ -z "$cmdline" ]; then
    # What Benchmarks/boot-vs-qemu.sh boots with, so the two VMMs see the same kernel parameters.
    cmdline="console=ttyS0 earlyprintk=ttyS0 reboot=k panic=1 cryptomgr.notests $("$BOOT_BIN" --probe-only)"
fi
echo "vmm-memory: $(date -u +%Y-%m-%d), $(uname -r), target: VMM overhead at most 5 MiB (5120 KiB)"
for binary in "$HELLO_BIN" "$BOOT_BIN" ${MICROVM_BIN:+"$MICROVM_BIN"}; do
    echo "vmm-memory: $(basename "$binary"): $(file -b "$binary" | cut -d, -f1,4 | tr -s ' '), $(du -k "$binary" | cut -f1) KiB on disk"
done

python3 - "$HELLO_BIN" "$BOOT_BIN" "$work/fake-pvh" "${BOOT_MEMORY:-256}" "$qemu" "$kernel" "$initrd" "$cmdline" \
    "${RUN_TIMEOUT:-120}" "${MARKER:-Linux version}" "$root/Benchmarks" "$microvm_command" <<'PYTHON'
import ctypes, os, shlex, signal, sys, time
sys.path.insert(0, sys.argv[11])
microvm_command = shlex.split(sys.argv[12])
from vmm_process import VMMProcess

hello, boot, fake, memory_mib, qemu, kernel, initrd, cmdline, timeout, marker = sys.argv[1:11]
memory_mib, timeout = int(memory_mib), float(timeout)
TARGET_KIB = 5 * 1024

def smaps(pid, guest_kib, at_least):
    """Resident KiB in total, in guest RAM, private dirty outside guest RAM, and per mapping (name and
    permissions) outside guest RAM. Guest RAM: the unnamed anonymous mappings of at least the guest's
    size (`at_least`: 256 MiB is bigger than anything else a VMM maps, and the kernel may merge the
    guest's mapping with a neighbour) or of exactly its size (hello's 64 KiB: if it was merged, its few
    resident pages count as overhead, which errs on the side of the target)."""
    total = guest = private = 0
    groups = {}
    name, size, is_guest = "", 0, False
    with open(f"/proc/{pid}/smaps") as lines:
        for line in lines:
            fields = line.split()
            if not fields[0].endswith(":"):  # a mapping's header: "start-end perms offset dev inode [name]"
                name = fields[5] if len(fields) > 5 else "[anonymous]"
                key = f"{os.path.basename(name) if name.startswith('/') else name} {fields[1]}"
                size, is_guest = 0, False
                continue
            if fields[0] == "Size:":
                size = int(fields[1])
                anonymous = name == "[anonymous]"
                is_guest = anonymous and (size >= guest_kib if at_least else size == guest_kib)
            elif fields[0] == "Rss:":
                rss = int(fields[1])
                total += rss
                if is_guest:
                    guest += rss
                elif rss:
                    groups[key] = groups.get(key, 0) + rss
            elif fields[0] == "Private_Dirty:" and not is_guest:
                private += int(fields[1])
    return {"total": total, "guest": guest, "private": private, "groups": groups}

# hello exits at once: stop it at exit with ptrace, when everything it mapped is still mapped.
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
PTRACE_TRACEME, PTRACE_CONT, PTRACE_SETOPTIONS = 0, 7, 0x4200
PTRACE_O_TRACEEXIT, PTRACE_O_EXITKILL, PTRACE_EVENT_EXIT = 0x40, 0x100000, 6

def at_exit(command, guest_kib):
    devnull = os.open(os.devnull, os.O_WRONLY)
    pid = os.fork()
    if pid == 0:
        os.dup2(devnull, 1)
        libc.ptrace(PTRACE_TRACEME, 0, None, None)
        os.execv(command[0], command)
    sample = None
    _, status = os.waitpid(pid, 0)  # the SIGTRAP of execve
    libc.ptrace(PTRACE_SETOPTIONS, pid, None, ctypes.c_void_p(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL))
    libc.ptrace(PTRACE_CONT, pid, None, None)
    while True:
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            break
        signal_number = os.WSTOPSIG(status)
        if signal_number == signal.SIGTRAP and status >> 16 == PTRACE_EVENT_EXIT:
            sample = smaps(pid, guest_kib, False)
            signal_number = 0
        libc.ptrace(PTRACE_CONT, pid, None, ctypes.c_void_p(signal_number))
    os.close(devnull)
    return sample, "at exit"

def at_line(command, marker, guest_kib, at_least, settle):
    """Starts `command`, waits for `marker` on its output, waits `settle` seconds, samples, ends it."""
    sample, when, seen = None, "never (marker not seen)", []
    with VMMProcess(command) as vmm:
        for now, text in vmm.lines(timeout):
            seen.append(text)
            if marker in text:
                time.sleep(settle)
                sample = smaps(vmm.pid, guest_kib, at_least)
                when = f"at \"{marker}\" (+{time.monotonic() - vmm.start:.1f} s)"
                break
    if sample is None:
        sys.stdout.write("\n".join(seen)[-2000:] + "\n")
    return sample, when

def qemu_command(image, extra):
    return [qemu, "-M", "microvm", "-enable-kvm", "-cpu", "host,-arch-capabilities", "-m", str(memory_mib),
            "-smp", "1", "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", image] + extra

guest_kib = memory_mib * 1024
runs = [("hello", lambda: at_exit([hello], 64))]
runs.append(("boot, fake kernel", lambda: at_line(
    [boot, "--kernel", fake, "--memory", str(memory_mib), "--timeout", str(int(timeout))], "fake kernel", guest_kib, True, 0.5)))
if qemu:
    runs.append(("QEMU microvm, fake kernel", lambda: at_line(qemu_command(fake, []), "fake kernel", guest_kib, True, 0.5)))
if kernel:
    boot_real = [boot, "--kernel", kernel, "--cmdline", cmdline, "--memory", str(memory_mib), "--timeout", str(int(timeout))]
    qemu_extra = ["-append", cmdline]
    if initrd:
        boot_real += ["--initrd", initrd]
        qemu_extra += ["-initrd", initrd]
    runs.append(("boot, real kernel", lambda: at_line(boot_real, marker, guest_kib, True, 0)))
    if qemu:
        runs.append(("QEMU microvm, real kernel", lambda: at_line(qemu_command(kernel, qemu_extra), marker, guest_kib, True, 0)))

if microvm_command:
    runs.append(("microvm, every device", lambda: at_line(microvm_command, "microvm-memory-token", guest_kib, True, 0.5)))

def mib(kib):
    return f"{kib / 1024:5.2f} MiB"

rows = []
for label, run in runs:
    sample, when = run()
    if sample is None:
        print(f"  {label}: not measured (sampled {when})")
        continue
    overhead = sample["total"] - sample["guest"]
    verdict = "meets" if overhead <= TARGET_KIB else "misses"
    rows.append((label, overhead, verdict))
    print(f"  {label:28} {when}: RSS {sample['total']} KiB, guest RAM resident {sample['guest']} KiB, VMM overhead "
          f"{overhead} KiB = {mib(overhead).strip()} ({sample['private']} KiB private dirty): {verdict} the 5 MiB target")
    top = sorted(sample["groups"].items(), key=lambda item: -item[1])
    shown = ", ".join(f"{name} {kib}" for name, kib in top[:6])
    rest = sum(kib for _, kib in top[6:])
    print(f"      KiB by mapping: {shown}" + (f", other {rest}" if rest else ""))

print("\nvmm-memory: VMM overhead (RSS minus resident guest RAM) vs the 5 MiB target:")
for label, overhead, verdict in rows:
    print(f"  {label:28} {mib(overhead)}  {verdict} (target 5.00 MiB)")
PYTHON
