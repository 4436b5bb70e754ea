import Testing

extension ExampleTests {
    /// `hello`: one real-mode vCPU writes a greeting to a port.
    @Suite struct Hello {
        @Test func printsTheGuestsGreeting() throws {
            let output = try ExampleRunner.run("hello")
            #expect(output.status == 0, "stderr: \(output.standardError)")
            #expect(output.standardOutput == "Hello from a KVM guest!\n")
        }
    }
}
