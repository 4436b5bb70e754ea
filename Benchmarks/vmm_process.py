"""A VMM run for the benchmarks (boot-vs-qemu.sh, vmm-memory.sh): its output line by line with the time
since it started, and a clean end (SIGTERM, then SIGKILL after 5 s) however the caller leaves."""
import os
import selectors
import signal
import subprocess
import time


class VMMProcess:
    def __init__(self, command):
        self.start = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.process.pid

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.end()
        return False

    def lines(self, timeout, idle=False):
        """Yields (seconds since start, line) for each output line (stdout and stderr) until the output
        ends, the process exits, or `timeout` seconds after the start; with `idle`, also (seconds, None)
        after each quiet second, so that the caller can give up on a process that went silent."""
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        buffer = b""
        while time.monotonic() - self.start < timeout:
            if not selector.select(timeout=1.0):
                if self.process.poll() is not None:
                    break
                if idle:
                    yield time.monotonic() - self.start, None
                continue
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield time.monotonic() - self.start, line.decode("utf-8", "replace")
        if buffer:
            yield time.monotonic() - self.start, buffer.decode("utf-8", "replace")

    def end(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
