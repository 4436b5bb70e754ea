import KVM
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 5b: guest state KVM rejects comes back as a typed value (a thrown `KVMRuntimeError`
    /// naming the ioctl, or a `VCPUExit`), never a crash, and leaves the vCPU usable.
    @Suite struct InvalidState {
        static let setSRegsEINVAL = KVMRuntimeError.system(KVMError(ioctl: KVMIoctl.setSRegs, errno: .invalidArgument))

        /// A machine halted at a real-mode `hlt` at 0x1000.
        func haltingMachine() throws -> TestMachine {
            let machine = try TestMachine(memorySize: 0x1_0000)
            try machine.load([0xF4], at: 0x1000)
            try machine.enterRealMode(rip: 0x1000)
            return machine
        }

        /// Sets `modify(sregs)` and returns what KVM_SET_SREGS threw, if anything.
        func setSpecialRegisters(_ machine: TestMachine, _ modify: (inout KVMSRegs) -> Void) throws -> KVMRuntimeError? {
            var special = try machine.vcpu.specialRegisters()
            modify(&special)
            do {
                try machine.vcpu.setSpecialRegisters(special)
                return nil
            } catch {
                return error
            }
        }

        @Test func setSRegsRejectsInconsistentControlRegisters() throws {
            let machine = try haltingMachine()
            let before = try machine.vcpu.specialRegisters()

            // CR0.PG without CR0.PE.
            let pagingWithoutProtection = try setSpecialRegisters(machine) { $0.cr0 = 0x8000_0000 }
            print("CR0.PG without PE: \(pagingWithoutProtection.map { "\($0)" } ?? "accepted")")
            #expect(pagingWithoutProtection == Self.setSRegsEINVAL)

            // A 64-bit code segment outside long mode.
            let longCodeInRealMode = try setSpecialRegisters(machine) { $0.cs.l = 1 }
            print("CS.L without EFER.LMA: \(longCodeInRealMode.map { "\($0)" } ?? "accepted")")
            #expect(longCodeInRealMode == Self.setSRegsEINVAL)

            // The rejected calls changed nothing: the guest still runs to its hlt.
            let after = try machine.vcpu.specialRegisters()
            #expect(after.cr0 == before.cr0 && after.cs.l == before.cs.l)
            try machine.runExpectingHalt("(after rejected KVM_SET_SREGS)")
        }

        @Test func setSRegsRejectsLongModeWithoutPAE() throws {
            let machine = try TestMachine()
            try machine.load([0xF4], at: 0x9000)
            try machine.enterLongMode(rip: 0x9000, rsp: 0xB000)
            let error = try setSpecialRegisters(machine) { $0.cr4 = 0 }
            print("EFER.LMA without CR4.PAE: \(error.map { "\($0)" } ?? "accepted")")
            #expect(error == Self.setSRegsEINVAL)
            try machine.runExpectingHalt("(after rejected KVM_SET_SREGS)")
        }

        /// State KVM_SET_SREGS accepts but that VMX refuses at entry (CS with both L and D set in
        /// 64-bit mode). Hosts differ: VMX reports a failed entry, KVM's emulator (PVM runs CPL0 code
        /// in it) ignores D. Whatever happens must be typed.
        @Test func inconsistentCodeSegmentGivesATypedOutcome() throws {
            let machine = try TestMachine()
            try machine.load([0xF4], at: 0x9000)
            try machine.enterLongMode(rip: 0x9000, rsp: 0xB000)
            let rejected = try setSpecialRegisters(machine) { $0.cs.db = 1 }
            let outcome: String
            if let rejected {
                outcome = "KVM_SET_SREGS threw \(rejected)"
                #expect(rejected == Self.setSRegsEINVAL)
            } else {
                do {
                    let exit = try machine.run()
                    outcome = "run() returned \(exit)"
                    switch exit {
                    case .failEntry, .internalError, .halt, .shutdown: break
                    default: Issue.record("unexpected exit \(exit)")
                    }
                } catch {
                    outcome = "run() threw \(error)"
                    guard case .system(let failure) = error, failure.operation == "KVM_RUN" else {
                        Issue.record("expected a KVM_RUN error, got \(error)")
                        return
                    }
                }
            }
            print("CS with L and D set: \(outcome)")
        }

        /// An instruction KVM's emulator cannot handle at CPL0 (here `int 0x80` in long mode, which PVM
        /// emulates) is `.internalError` with the emulation suberror and the instruction's bytes; hosts
        /// that run CPL0 natively deliver the interrupt instead, which with no IDT is a triple fault.
        @Test func unemulatableInstructionIsAnInternalError() throws {
            let machine = try TestMachine()
            try machine.load([0xCD, 0x80, 0xF4], at: 0x9000)  // int 0x80; hlt
            try machine.enterLongMode(rip: 0x9000, rsp: 0xB000)
            var special = try machine.vcpu.specialRegisters()
            special.idt.limit = 0
            try machine.vcpu.setSpecialRegisters(special)
            let exit = try machine.run()
            print("int 0x80 at CPL0: \(exit)")
            switch exit {
            case .internalError(let error):
                #expect(error.suberror == .emulation)
                #expect(error.instructionBytes.starts(with: [0xCD, 0x80]))
            case .shutdown:
                #expect(!IntegrationHost.isPVM, "PVM emulates CPL0 and cannot emulate int in long mode")
            default:
                Issue.record("expected .internalError or .shutdown, got \(exit)")
            }
        }
    }
}
