#!/usr/bin/env python3
"""Times the test kernel's boot milestones under a VMM: seconds from the VMM's start to the banner
("Linux version"), to "console [ttyS0] enabled", to "Run /init as init process", to the first line of
the microvm protocol ("@microvm:"), and to the VMM's exit. The numbers in README.md come from it.
Each milestone also gets the CPU time the VMM process had used by then (user + system, which includes
KVM's emulation of guest kernel code): on a shared, loaded host that is steadier than wall time.

    Scripts/test-kernel/measure-boot.py [--log FILE] [--timeout S] -- VMM-COMMAND...

e.g. measure-boot.py -- .build/release/boot --kernel .build/test-kernel/bzImage \
        --initrd .build/test-kernel/initramfs.cpio --memory 128 --cmdline '...'
Prints one line of milestones (and with --log, writes every output line with its time to FILE).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Benchmarks"))
from vmm_process import VMMProcess  # noqa: E402

MILESTONES = [
    ("banner", "Linux version"),
    ("console", "console [ttyS0] enabled"),
    ("run-init", "Run /init as init process"),
    ("microvm", "@microvm:"),
]


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` (all its threads) so far, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    arguments = parser.parse_args()
    command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
    if not command:
        parser.error("no VMM command")
    seen = {}
    log = open(arguments.log, "w") if arguments.log else None
    with VMMProcess(command) as vmm:
        last, last_cpu = 0.0, 0.0
        for seconds, line in vmm.lines(arguments.timeout):
            cpu = cpu_seconds(vmm.pid)
            last, last_cpu = seconds, (cpu if cpu == cpu else last_cpu)
            if log:
                log.write(f"{seconds:8.3f} {cpu:8.2f} {line}\n")
            for name, text in MILESTONES:
                if name not in seen and text in line:
                    seen[name] = (seconds, cpu)
        try:
            status = vmm.process.wait(5)
        except Exception:
            status = None
        if status is None:
            status = "timeout"
    if log:
        log.close()
    fields = [f"{name} {seen[name][0]:.1f}s/{seen[name][1]:.1f}cpu" if name in seen else f"{name} -"
              for name, _ in MILESTONES]
    print("  ".join(fields) + f"  end {last:.1f}s/{last_cpu:.1f}cpu (status {status})")


if __name__ == "__main__":
    main()
