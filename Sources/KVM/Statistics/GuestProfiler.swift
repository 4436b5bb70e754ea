#if arch(x86_64)
// A sampling profiler for guests: which guest functions the vCPUs were in, sampled through the
// runtime's vCPU stop (no guest cooperation, no tracing).

import Glibc
import Synchronization

/// A guest kernel's text symbols, sorted, from a System.map ("ADDRESS TYPE NAME" lines, e.g. from the
/// kernel's -dbg package or its build tree), for naming sampled RIPs.
public struct GuestSymbolTable: Sendable {
    public struct Symbol: Hashable, Sendable {
        public var address: UInt64
        public var name: String
    }

    public let symbols: [Symbol]

    /// Parses System.map text; lines that are not "HEX TYPE NAME" are skipped. Only text symbols
    /// (types t/T/w/W) are kept: samples are instruction addresses.
    public init(systemMap text: String) {
        var symbols: [Symbol] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let address = UInt64(fields[0], radix: 16), "tTwW".contains(fields[1]) else { continue }
            symbols.append(Symbol(address: address, name: String(fields[2])))
        }
        self.symbols = symbols.sorted { $0.address < $1.address }
    }

    /// The symbol at or below `address` (nil below the first), as "name" or "name+0xOFFSET" when asked.
    public func name(for address: UInt64) -> String? {
        var low = 0
        var high = symbols.count
        while low < high {  // first symbol above `address`
            let middle = (low + high) / 2
            if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : symbols[low - 1].name
    }
}

/// Where a guest spends its time, by sampling: ``runSampler(stoppers:running:)`` stops every vCPU each
/// interval through its ``VCPUStopper``; the vCPU's thread, seeing ``VCPUExit/stopped`` while the
/// machine is still running, calls ``sample(_:index:)`` (RIP and CPL) and runs on. ``report(limit:windows:)``
/// folds the samples into functions (with a ``GuestSymbolTable``) or raw RIPs: the whole run, then a
/// timeline of windows with their busiest functions.
///
/// A sample costs one exit to the VMM plus two register reads; at 1 ms that is a few percent of a
/// vCPU. A halted vCPU is sampled too (its RIP is after the `hlt`): idle time shows as the idle function.
public final class GuestProfiler: Sendable {
    public struct Sample: Hashable, Sendable {
        /// Seconds since the profiler's start.
        public var seconds: Double
        public var vcpu: Int
        public var rip: UInt64
        public var userMode: Bool

        public init(seconds: Double, vcpu: Int, rip: UInt64, userMode: Bool) {
            self.seconds = seconds
            self.vcpu = vcpu
            self.rip = rip
            self.userMode = userMode
        }
    }

    public let intervalSeconds: Double
    public let symbols: GuestSymbolTable?
    /// CLOCK_MONOTONIC seconds the samples' times count from.
    public let started: Double
    private let samples = Mutex<[Sample]>([])

    public init(intervalMilliseconds: Int, symbols: GuestSymbolTable?, started: Double = ConditionLock.monotonicNow()) {
        intervalSeconds = Double(intervalMilliseconds) / 1000
        self.symbols = symbols
        self.started = started
    }

    /// Reads the stopped vCPU's RIP and CPL and records them.
    public func sample(_ vcpu: VCPU, index: Int) {
        guard let registers = try? vcpu.registers(), let special = try? vcpu.specialRegisters() else { return }
        add(Sample(seconds: ConditionLock.monotonicNow() - started, vcpu: index, rip: registers.rip, userMode: special.cs.selector & 3 == 3))
    }

    public func add(_ sample: Sample) { samples.withLock { $0.append(sample) } }

    /// Stops every vCPU each interval until `running()` turns false.
    public func runSampler(stoppers: () -> [VCPUStopper], running: () -> Bool) {
        var pause = timespec(tv_sec: Int(intervalSeconds), tv_nsec: Int((intervalSeconds - Double(Int(intervalSeconds))) * 1e9))
        while running() {
            // SAFETY: nanosleep reads the local timespec; the remainder pointer is nil.
            unsafe nanosleep(&pause, nil)
            for stopper in stoppers() { stopper.stop() }
        }
    }

    /// What a sample is attributed to: its function, its RIP without symbols, or "user mode".
    public func label(_ sample: Sample) -> String {
        if sample.userMode { return "(user mode)" }
        return symbols?.name(for: sample.rip) ?? "0x" + String(sample.rip, radix: 16)
    }

    /// The report: totals per function (top `limit`), then a timeline of `windows` windows.
    public func report(limit: Int = 25, windows: Int = 20) -> String {
        let samples = self.samples.withLock { $0 }
        guard let last = samples.last else { return "guest profile: no samples" }
        let duration = max(last.seconds, intervalSeconds)
        var text = "guest profile: \(samples.count) samples, one every \(Int(intervalSeconds * 1000)) ms per vCPU, over "
            + "\(fixed(duration, 1)) s" + (symbols == nil ? " (no symbols: raw RIPs)" : "")
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

#endif
