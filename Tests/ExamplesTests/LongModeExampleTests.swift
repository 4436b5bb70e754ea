import Testing

extension ExampleTests {
    /// `long-mode`: a 64-bit guest prints from CPL0 (port I/O) and CPL3 (MMIO), counts primes at CPL3
    /// and returns the count through MMIO; the VMM verifies it and tabulates the exits.
    @Suite struct LongMode {
        @Test func countsPrimesInUserModeAndVerifiesTheResult() throws {
            let output = try ExampleRunner.run("long-mode")
            #expect(output.status == 0, "stderr: \(output.standardError)\n\(output.standardOutput)")
            let lines = output.lines
            // The VMM labels each line with the CPL it found the vCPU at (KVM_GET_SREGS): iretq worked.
            #expect(lines.contains("guest (CPL0): Hello from 64-bit kernel mode, port 0xE9"))
            #expect(lines.contains("guest (CPL3): Hello from user mode, MMIO console"))
            #expect(lines.contains("result: 216816 primes below 3000000 (guest), 216816 (Swift): verified"))
            #expect(lines.contains { $0.hasPrefix("guest compute (CPL3, native): ") && $0.contains(" ms in one KVM_RUN") })

            // One row per exit kind: the counts follow from the guest's code (one exit per character
            // printed, one read of the bound, one hlt), and every round trip took some time.
            let table = exitTable(lines)
            #expect(table["port I/O out (CPL0)"]?.count == 41)   // "Hello from 64-bit kernel mode, port 0xE9\n"
            #expect(table["halt (CPL0)"]?.count == 1)
            #expect(table["MMIO write (CPL3)"]?.count == 35)     // "Hello from user mode, MMIO console\n"
            #expect(table["MMIO read (CPL3)"]?.count == 1)
            #expect(table.count == 4, "\(table)")
            for (kind, row) in table { #expect(row.meanMicroseconds > 0 && row.minimumMicroseconds > 0, "\(kind)") }
        }

        @Test func takesTheBoundFromTheCommandLine() throws {
            let output = try ExampleRunner.run("long-mode", arguments: ["100000"])
            #expect(output.status == 0, "stderr: \(output.standardError)\n\(output.standardOutput)")
            #expect(output.lines.contains("result: 9592 primes below 100000 (guest), 9592 (Swift): verified"))
        }

        @Test func rejectsABadBound() throws {
            let output = try ExampleRunner.run("long-mode", arguments: ["2"])
            #expect(output.status == 2)
            #expect(output.standardOutput.hasPrefix("usage: long-mode"))
        }

        struct Row: CustomStringConvertible {
            var count: Int
            var meanMicroseconds: Double
            var minimumMicroseconds: Double
            var description: String { "\(count) × \(meanMicroseconds) µs (min \(minimumMicroseconds))" }
        }

        /// The rows under the "exit kind" header: name (24 columns), count, mean µs, min µs.
        func exitTable(_ lines: [Substring]) -> [String: Row] {
            guard let header = lines.firstIndex(where: { $0.hasPrefix("exit kind") }) else { return [:] }
            var rows: [String: Row] = [:]
            for line in lines[(header + 1)...] where line.count > 24 {
                let name = line.prefix(24).trimmingCharacters(in: .whitespaces)
                let fields = line.dropFirst(24).split(separator: " ")
                guard fields.count == 3, let count = Int(fields[0]), let mean = Double(fields[1]),
                      let minimum = Double(fields[2]) else { continue }
                rows[name] = Row(count: count, meanMicroseconds: mean, minimumMicroseconds: minimum)
            }
            return rows
        }
    }
}
