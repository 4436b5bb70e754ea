import KVM
import X86Assembler
import KVMBindings
import Synchronization
import Testing

extension IntegrationTests {
    /// Scenario 6a: several vCPUs of one VM, each created and run on its own thread (the VM is
    /// Sendable, a VCPU is not), each writing its own id to a port.
    @Suite struct MultipleVCPUs {
        static let codeAddress: UInt64 = 0x1000
        static let port: UInt8 = 0x10
        static let vcpuCount = 4

        @Test func eachVCPUReportsItsOwnID() throws {
            let machine = try TestMachine(memorySize: 0x1_0000)
            // al = 0x40 + bl (the VMM puts the vCPU id in bl); out; hlt.
            var code = RealModeCode(origin: Self.codeAddress)
            code.mov(.al, 0x40)
            code.add(.al, .bl)
            code.out(port: Self.port)
            code.hlt()
            try machine.load(code.assemble(), at: Self.codeAddress)
            let vm = machine.vm

            let results = Mutex<[UInt: Result<[String], any Error>]>([:])
            let threads = try (1 ... UInt(Self.vcpuCount)).map { id in
                try HostThread {
                    let outcome = Result { try Self.runOwnVCPU(vm: vm, id: id) }
                    results.withLock { $0[id] = outcome }
                }
            }
            threads.forEach { $0.join() }

            let collected = results.withLock { $0 }
            #expect(collected.count == Self.vcpuCount)
            for id in 1 ... UInt(Self.vcpuCount) {
                switch collected[id] {
                case .success(let exits):
                    #expect(exits == ["out \(0x40 + id)", "halt"], "vCPU \(id)")
                case .failure(let error):
                    Issue.record("vCPU \(id) failed: \(error)")
                case nil:
                    Issue.record("vCPU \(id) reported nothing")
                }
            }
        }

        /// On the calling thread: creates vCPU `id`, puts its id in bl, runs it to its hlt, and returns
        /// its exits.
        static func runOwnVCPU(vm: VirtualMachine, id: UInt) throws -> [String] {
            let vcpu = try vm.createVCPU(id: id)
            let watchdog = try Watchdog(stopper: vcpu.stopper, seconds: 10)
            defer { watchdog.cancel() }
            try vcpu.enterRealMode(rip: codeAddress) { $0.rbx = UInt64(id) }
            var exits: [String] = []
            while true {
                let exit = try vcpu.run()
                switch exit {
                case .io(let io) where io.direction == .out && io.port == UInt16(port):
                    exits.append("out \(io.value)")
                case .halt:
                    exits.append("halt")
                    return exits
                case .interrupted:
                    continue
                default:
                    exits.append("unexpected \(exit)")
                    return exits
                }
            }
        }
    }
}
