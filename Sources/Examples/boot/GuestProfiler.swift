// `--profile-guest MS`: where the guest spends its time, by sampling. A sampler thread stops every vCPU
// every MS milliseconds through its `VCPUStopper`; the vCPU thread, seeing a stop while the machine is
// still running, reads RIP and the CPL, records them and runs on. At exit the samples are folded into
// functions with `--symbols PATH` (a System.map: "ADDRESS TYPE NAME" lines, e.g. from the kernel's -dbg
// package), or into RIPs without it, and printed to stderr: the whole run, then a timeline of windows
// (each with its busiest functions), so a slow boot phase can be matched with the console's output.
//
// A sample costs one exit to the VMM plus two register reads; at 1 ms that is a few percent of a vCPU.
// A halted vCPU is sampled too (its RIP is after the hlt): idle time shows as the idle function.

import Glibc
import KVM
import LinuxLoader

/// A sorted symbol table from a System.map.
struct SymbolTable {
    struct Symbol {
        var address: UInt64
        var name: String
    }

    let symbols: [Symbol]

    /// Parses System.map text; lines that are not "HEX TYPE NAME" are skipped. Only text symbols
    /// (types t/T/w/W) are kept: samples are instruction addresses.
    init(systemMap text: String) {
        var symbols: [Symbol] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let address = UInt64(fields[0], radix: 16), "tTwW".contains(fields[1]) else { continue }
            symbols.append(Symbol(address: address, name: String(fields[2])))
        }
        self.symbols = symbols.sorted { $0.address < $1.address }
    }

    /// Reads a System.map file.
    init(path: String) throws(ImageError) {
        let file = try ImageFile(path: path)
        guard let bytes = file.bytes(at: 0, count: file.size) else { throw .readFailed(path: path, errno: 0) }
        self.init(systemMap: String(decoding: bytes, as: UTF8.self))
    }

    /// The symbol at or below `address` (nil below the first), as "name" or "name+0xOFFSET" when asked.
    func name(for address: UInt64) -> String? {
        var low = 0
        var high = symbols.count
        while low < high {  // first symbol above `address`
            let middle = (low + high) / 2
            if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : symbols[low - 1].name
    }
}

/// Samples of guest RIPs from every vCPU, and their report.
final class GuestProfiler: @unchecked Sendable {
    // @unchecked: `samples` is guarded by `lock`; the rest is immutable.
    struct Sample {
        var seconds: Double
        var vcpu: Int
        var rip: UInt64
        var userMode: Bool
    }

    let intervalSeconds: Double
    let symbols: SymbolTable?
    let started: Double
    private let lock = Lock()
    private var samples: [Sample] = []

    init(intervalMilliseconds: Int, symbols: SymbolTable?, started: Double = monotonicNow()) {
        intervalSeconds = Double(intervalMilliseconds) / 1000
        self.symbols = symbols
        self.started = started
    }

    /// Reads the stopped vCPU's RIP and CPL and records them.
    func sample(_ vcpu: VCPU, index: Int) {
        guard let registers = try? vcpu.registers(), let special = try? vcpu.specialRegisters() else { return }
        add(Sample(seconds: monotonicNow() - started, vcpu: index, rip: registers.rip, userMode: special.cs.selector & 3 == 3))
    }

    func add(_ sample: Sample) { lock.withLock { samples.append(sample) } }

    /// Stops every vCPU each interval until `running()` turns false.
    func runSampler(stoppers: () -> [VCPUStopper], running: () -> Bool) {
        var pause = timespec(tv_sec: Int(intervalSeconds), tv_nsec: Int((intervalSeconds - Double(Int(intervalSeconds))) * 1e9))
        while running() {
            nanosleep(&pause, nil)
            for stopper in stoppers() { stopper.stop() }
        }
    }

    /// What a sample is attributed to: its function, its RIP without symbols, or "user mode".
    func label(_ sample: Sample) -> String {
        if sample.userMode { return "(user mode)" }
        return symbols?.name(for: sample.rip) ?? hex(sample.rip)
    }

    /// The report: totals per function (top `limit`), then a timeline of `windows` windows.
    func report(limit: Int = 25, windows: Int = 20) -> String {
        let samples = lock.withLock { self.samples }
        guard let last = samples.last else { return "guest profile: no samples" }
        let duration = max(last.seconds, intervalSeconds)
        var text = "guest profile: \(samples.count) samples, one every \(Int(intervalSeconds * 1000)) ms per vCPU, over "
            + "\(fixed(duration, 1)) s" + (symbols == nil ? " (no --symbols: raw RIPs)" : "")
        text += "\n  where the time went (share of samples, samples, function):"
        for (name, count) in Self.ranked(samples.map(label)).prefix(limit) {
            text += "\n  \(percent(count, samples.count)) \(pad(count, 7))  \(name)"
        }
        let width = max(1, (duration / Double(windows)).rounded(.up))
        text += "\n  timeline (\(fixed(width, 0)) s windows from the VMM's start; top functions in each):"
        var start = 0.0
        while start < duration {
            let inWindow = samples.filter { $0.seconds >= start && $0.seconds < start + width }
            if !inWindow.isEmpty {
                let top = Self.ranked(inWindow.map(label)).prefix(3).map { "\($0.name) \(percent($0.count, inWindow.count).trimmingLeadingSpaces)" }
                text += "\n  \(pad(fixed(start, 0), 5))-\(fixed(start + width, 0)) s: " + top.joined(separator: ", ")
            }
            start += width
        }
        return text
    }

    static func ranked(_ labels: [String]) -> [(name: String, count: Int)] {
        var counts: [String: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        return counts.map { (name: $0.key, count: $0.value) }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }
    }
}

private func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    guard digits > 0 else { return "\(scaled)" }
    let fraction = String(abs(scaled) % Int(scale))
    return "\(scaled / Int(scale)).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}

private func percent(_ count: Int, _ total: Int) -> String { pad(fixed(100 * Double(count) / Double(max(total, 1)), 1) + "%", 6) }

private func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
    let text = value.description
    return String(repeating: " ", count: max(0, width - text.count)) + text
}

extension String {
    fileprivate var trimmingLeadingSpaces: String { String(drop { $0 == " " }) }
}
