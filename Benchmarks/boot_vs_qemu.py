"""The rows of Benchmarks/boot-vs-qemu.sh: each row boots the same kernel, initrd (and disk) with the same
command line under each VMM in turn (boot, microvm when built, QEMU's microvm machine), interleaved
round by round so that all see the same machine load, and records when each milestone line first
appears (seconds since the VMM process started), where the run stopped and what the guest printed
last, and the VMM's memory beside the guest's (VmRSS minus the resident part of the guest RAM mapping,
from /proc/PID/smaps) at the row's memory milestone.

Driven by the shell script through environment variables (BENCH_*); prints one line per run, then per
row the medians and the ratios of each VMM against QEMU."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmm_process import VMMProcess  # noqa: E402

# Lines after which a run cannot make progress: QEMU stops the vCPU (and keeps the process) on a KVM
# internal error; a panic with panic=-1 resets, which ends QEMU (-no-reboot) and boot.
FAILURES = ("KVM internal error", "emulation failure", "Kernel panic", "boot: guest failure", "boot: timeout",
            "microvm: guest", "microvm: timeout", "microvm: kernel panic")
# Lines that are not the guest's: the VMM's own diagnostics and QEMU's register dump.
VMM_PREFIXES = ("boot:", "microvm:", "qemu-system", "KVM internal error", "emulation failure", "extra data[",
                "RAX=", "RSI=", "R8 =", "R12=", "RIP=", "ES =", "CS =", "SS =", "DS =", "FS =", "GS =", "LDT=",
                "TR =", "GDT=", "IDT=", "CR0=", "DR0=", "DR6=", "EFER=", "Code=", "FCW=", "FPR", "XMM", "YMM")


def smaps_memory(pid, guest_kib):
    """(total RSS, RSS of the guest RAM, private dirty outside guest RAM) in KiB. Guest RAM = the
    mappings of at least the guest's RAM size."""
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
                    if size >= guest_kib:
                        guest += rss
                elif line.startswith("Private_Dirty:") and size < guest_kib:
                    private += int(line.split()[1])
    except OSError:
        return None
    return total, guest, private


def is_guest_line(text):
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith(VMM_PREFIXES)


def measure(command, milestones, memory_at, guest_kib, timeout, log, end_at_last=True):
    """Runs `command`; returns a dict: milestone name -> seconds (None if never seen), 'end' (seconds at
    which the process exited or was stopped), 'stopped' (why), 'last' (the last guest line before the
    end or the first failure line), 'failure' (that line), 'memory' (smaps sample)."""
    seen = {name: None for name, _ in milestones}
    result = {"memory": None, "failure": None, "failure_time": None, "stopped": "timeout", "last": None, "memory_at": None}
    lines = []
    failure_index = None
    with VMMProcess(command) as vmm:
        grace_until = None
        for now, text in vmm.lines(timeout, idle=True):
            if text is None:  # a quiet second: after a failure, the dump has arrived
                if grace_until is not None and now >= grace_until:
                    result["stopped"] = "failure"
                    break
                continue
            lines.append((now, text))
            for name, pattern in milestones:
                if seen[name] is None and pattern in text:
                    seen[name] = now
                    if name == memory_at:
                        result["memory"] = smaps_memory(vmm.pid, guest_kib)
                        result["memory_at"] = name
            if failure_index is None and any(marker in text for marker in FAILURES):
                failure_index = len(lines) - 1
                result["failure"] = text.strip()
                result["failure_time"] = now
                grace_until = now + 1.0  # collect the register dump that follows
            if grace_until is not None and now >= grace_until:
                result["stopped"] = "failure"
                break
            if end_at_last and all(value is not None for value in seen.values()):
                result["stopped"] = "last milestone"
                break
        else:
            if time.monotonic() - vmm.start < timeout:  # the output ended: let the process finish exiting
                try:
                    vmm.process.wait(5)
                except Exception:
                    pass
            if vmm.process.poll() is not None:
                result["stopped"] = f"exit {vmm.process.returncode}"
            elif grace_until is not None:
                result["stopped"] = "failure"
        if result["memory"] is None and vmm.process.poll() is None:
            result["memory"] = smaps_memory(vmm.pid, guest_kib)
            result["memory_at"] = "end"
        result["end"] = time.monotonic() - vmm.start
        if vmm.process.poll() is not None and result["stopped"] == "timeout":
            result["stopped"] = f"exit {vmm.process.returncode}"
    until = failure_index if failure_index is not None else len(lines)
    guest_lines = [text for _, text in lines[:until] if is_guest_line(text)]
    result["last"] = guest_lines[-1].strip() if guest_lines else None
    result.update(seen)
    with open(log, "w") as out:
        out.write(" ".join(command) + "\n")
        out.write("\n".join(f"{now:9.3f} {text}" for now, text in lines) + "\n")
    return result


def fmt(value):
    if value is None:
        return "-"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def main():
    # SIGTERM (e.g. `kill` of a long run) unwinds like an exception, so the VMM being measured is ended.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows = json.loads(os.environ["BENCH_ROWS"])
    repeat = int(os.environ.get("BENCH_REPEAT", "1"))
    work = os.environ["BENCH_WORK"]
    results = {}  # row label -> vmm name -> [result]
    for round_index in range(repeat):
        for row in rows:
            for _ in range(row.get("repeat", 1)):
                for run in row["runs"]:
                    name = run["vmm"]
                    log = os.path.join(work, f"bench-{row['tag']}-{run.get('log', name.split()[0])}-{round_index}.log")
                    result = measure(run["command"], [tuple(m) for m in row["milestones"]], row["memory_at"],
                                     row["memory_mib"] * 1024, float(run.get("timeout", row["timeout"])), log,
                                     row.get("end_at_last", True))
                    if (result.get(row["milestones"][0][0]) is None and run.get("retry_command")
                            and any(s in open(log).read() for s in ("failed to set MSR", "kvm_buf_set_msrs"))):
                        # this host's KVM refuses IA32_ARCH_CAPABILITIES with -cpu host
                        run["command"] = run.pop("retry_command")
                        name = run["vmm"] = run["vmm"].replace("-cpu host", "-cpu host,-arch-capabilities")
                        result = measure(run["command"], [tuple(m) for m in row["milestones"]], row["memory_at"],
                                         row["memory_mib"] * 1024, float(run.get("timeout", row["timeout"])), log,
                                         row.get("end_at_last", True))
                    results.setdefault(row["label"], {}).setdefault(name, []).append(result)
                    times = "  ".join(f"{m} {fmt(result[m])}" for m, _ in row["milestones"])
                    sample = result["memory"]
                    memory = (f"VMM overhead {sample[0] - sample[1]} KiB (RSS {sample[0]}, guest RAM resident {sample[1]},"
                              f" private dirty {sample[2]}; at {result['memory_at']})") if sample else "memory not sampled"
                    print(f"  round {round_index + 1} {row['label']}: {name}: {times}  | stopped: {result['stopped']} at "
                          f"{fmt(result['end'])}; {memory}", flush=True)
                    if result["failure"] or not result["stopped"].startswith(("last", "exit 0")):
                        print(f"      last guest line: {result['last']!r}" + (f"; then at {fmt(result['failure_time'])}: "
                              f"{result['failure']!r}" if result["failure"] else ""), flush=True)

    print("\nboot-vs-qemu: medians, and each VMM's time as a ratio of QEMU's (below 1: faster than QEMU):")
    for row in rows:
        by_vmm = results.get(row["label"], {})
        qemus = [n for n in by_vmm if n.startswith("qemu")]
        print(f"  {row['label']}:")
        for name, runs in by_vmm.items():
            cells = []
            for milestone, _ in row["milestones"]:
                value = median([r[milestone] for r in runs])
                cell = f"{milestone} {fmt(value)}"
                if qemus and not name.startswith("qemu") and value is not None:
                    ratios = []
                    for other in qemus:  # against every QEMU run of the row (e.g. its bzImage and its PVH run)
                        tag = "QEMU" + (" " + other.split("(", 1)[1].rstrip(")") if "(" in other else "")
                        q = median([r[milestone] for r in by_vmm[other]])
                        ratios.append(f"{value / q:.2f}x {tag}" if q is not None else f"{tag} never got there")
                    cell += " (" + ", ".join(ratios) + ")"
                cells.append(cell)
            cells.append(f"end {fmt(median([r['end'] for r in runs]))}")
            overhead = median([r["memory"][0] - r["memory"][1] for r in runs if r["memory"]])
            cells.append("VMM overhead " + ("-" if overhead is None else f"{overhead / 1024:.2f} MiB"))
            stops = sorted({r["stopped"] for r in runs})
            cells.append("stopped: " + ", ".join(stops))
            print(f"    {name:44} " + "; ".join(cells))
            if not any(r["stopped"].startswith(("last", "exit 0")) for r in runs):
                print(f"    {'':44} last guest line: {runs[-1]['last']!r}"
                      + (f"; then at {fmt(runs[-1]['failure_time'])}: {runs[-1]['failure']!r}" if runs[-1]["failure"] else ""))


if __name__ == "__main__":
    main()
