#!/usr/bin/env python3
"""Times the test kernel's boot milestones under a VMM: seconds from the VMM's start to the banner
("Linux version"), to "console [ttyS0] enabled", to "Run /init as init process", to the first line of
the microvm protocol ("@microvm:"), and to the VMM's exit. The numbers in README.md come from it.

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
        last = 0.0
        for seconds, line in vmm.lines(arguments.timeout):
            last = seconds
            if log:
                log.write(f"{seconds:8.3f} {line}\n")
            for name, text in MILESTONES:
                if name not in seen and text in line:
                    seen[name] = seconds
        status = vmm.process.poll()
        if status is None:
            status = "timeout"
    if log:
        log.close()
    fields = [f"{name} {seen[name]:.1f}s" if name in seen else f"{name} -" for name, _ in MILESTONES]
    print("  ".join(fields) + f"  end {last:.1f}s (status {status})")


if __name__ == "__main__":
    main()
