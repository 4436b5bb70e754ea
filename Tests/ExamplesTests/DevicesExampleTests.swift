import Testing

extension ExampleTests {
    /// `devices`: vCPU 0 echoes UART input upper-cased (interrupt-driven, IRQ 4), vCPU 1 posts Fibonacci
    /// numbers to an MMIO mailbox; stdin feeds the UART and its end drops the carrier.
    @Suite struct Devices {
        static let banner = "vCPU 0: UART ready, echoing input in upper case\n"
        static let goodbye = "vCPU 0: carrier lost, goodbye\n"
        static let fibonacci = "mailbox: vCPU 1 posted 25 values: 0 1 1 2 3 5 8 13 21 34 55 89 144 233 377 610 987 1597"
            + " 2584 4181 6765 10946 17711 28657 46368"

        @Test func echoesStandardInputUpperCasedAndRunsBothVCPUs() throws {
            let output = try ExampleRunner.run("devices", input: ["hello\n"])
            #expect(output.status == 0, "stderr: \(output.standardError)\n\(output.standardOutput)")
            let text = output.standardOutput
            #expect(text.contains(Self.banner + "HELLO\n" + Self.goodbye), "\(text)")
            // vCPU 0's port I/O count depends on how the input and the hang-up interleave with its handler.
            #expect(output.lines.contains { $0.hasPrefix("vCPU 0 done, result 6; exits: 1 MMIO (mailbox), ") })
            #expect(output.lines.contains("vCPU 1 done, result 25; exits: 27 MMIO (mailbox)"))
            #expect(output.lines.contains(Substring(Self.fibonacci)))
            #expect(output.lines.contains("mailbox: verified: the first 25 Fibonacci numbers"))
            #expect(output.lines.contains { $0.hasPrefix("uart: vCPU 0 echoed 6 bytes; IRQ 4 raised ") })
        }

        /// Input that arrives in pieces, the way typing does: each piece is a new interrupt.
        @Test func echoesInputThatArrivesLater() throws {
            let output = try ExampleRunner.run("devices", input: ["one\n", "Two 2!\n"], secondsBetweenChunks: 0.5)
            #expect(output.status == 0, "stderr: \(output.standardError)\n\(output.standardOutput)")
            #expect(output.standardOutput.contains(Self.banner + "ONE\nTWO 2!\n" + Self.goodbye), "\(output.standardOutput)")
            let summary = output.lines.first { $0.hasPrefix("uart: vCPU 0 echoed 11 bytes; IRQ 4 raised ") }
            let raised = summary.flatMap { Int($0.split(separator: " ")[9]) }
            #expect((raised ?? 0) >= 2, "\(String(describing: summary))")
        }

        @Test func endsWhenStandardInputIsEmpty() throws {
            let output = try ExampleRunner.run("devices")
            #expect(output.status == 0, "stderr: \(output.standardError)\n\(output.standardOutput)")
            #expect(output.standardOutput.contains(Self.banner + Self.goodbye))
            #expect(output.lines.contains { $0.hasPrefix("uart: vCPU 0 echoed 0 bytes;") })
            #expect(output.lines.contains("mailbox: verified: the first 25 Fibonacci numbers"))
        }
    }
}
