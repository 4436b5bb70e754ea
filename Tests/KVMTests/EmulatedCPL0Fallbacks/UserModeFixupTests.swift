import EmulatedCPL0Fallbacks
import KVM
import KVMBindings
import Testing
import X86Assembler
import X86Setup

extension IntegrationTests {
    /// The EmulatedCPL0Fallbacks product on a real VM: the emulator probe's user-mode syscall probe, and
    /// UserModeFixup on a hand-made guest with its kernel in the upper half. Where the probe finds that
    /// user-mode `syscall` arrives in kernel mode (hardware virtualization), the same guests run without
    /// the fix-up and must behave the same, except where the host defect is the point of the test.
    @Suite struct UserModeFixupTests {
        static func probe() throws -> EmulatorProbe.Result {
            let system = try TestMachine.system()
            guard let result = EmulatorProbe.run(system: system, supported: try system.supportedCPUID()) else {
                throw GuestFailure("the probe VM could not be set up")
            }
            return result
        }

        @Test func probeFindsWhereUserSyscallArrives() throws {
            let result = try Self.probe()
            print("emulator probe: failed \(result.failed); \(result.userSyscall)")
            if IntegrationHost.isPVM {
                #expect(result.userSyscall == .arrivesAtCPL3(errorCode: 0x15), "this host's defect: #PF, user fetch of a present supervisor page")
                #expect(result.needsUserModeFixup)
                #expect(result.userCPUIDIsNative, "measured 2026-12-02: user cpuid shows OSXSAVE/AVX the vCPU hides")
            } else {
                #expect(result.userSyscall == .arrivesInKernelMode)
                #expect(!result.needsUserModeFixup)
                #expect(!result.userCPUIDIsNative, "cpuid exits to KVM and reports the vCPU's CPUID")
            }
        }

        /// N user syscalls, then a genuine user page fault the kernel handles, then the exit syscall.
        @Test func userSyscallsAndAGenuinePageFault() throws {
            let count: UInt32 = 2000
            var user = LongModeCode(origin: UserModeGuest.userCodeAddress)
            user.mov(.ebx, count)
            let loop = user.here()
            user.mov(.eax, 1)
            user.emit(0x0F, 0x05)  // syscall
            user.dec(.rbx)
            user.jne(loop)
            user.movabs(.rdi, UserModeGuest.demandPage)
            user.mov(.eax, 0x1234_5678)
            user.store(.rax, at: .rdi)  // #PF: not present; the kernel maps it and returns here
            user.load(.rsi, from: .rdi)
            user.mov(.eax, 60)
            user.emit(0x0F, 0x05)  // syscall 60: the end
            let afterLast = user.here()

            let guest = try UserModeGuest(user: user)
            let probe = try Self.probe()
            let fixup = probe.needsUserModeFixup ? UserModeFixup(vcpu: guest.machine.vcpu, memory: guest.machine.memory) : nil
            fixup?.checkInterval = 0  // look at the IDT at every exit, so both IDT loads are seen
            var consoleExits = 0
            let started = MonotonicClock.now
            let end = try guest.run(fixup: fixup, consoleExits: &consoleExits)
            let seconds = MonotonicClock.now - started

            #expect(end == .port(UserModeGuest.exitPort, cpl: 0), "the exit syscall reached the kernel")
            #expect(consoleExits == 2)
            let registers = try guest.machine.vcpu.registers()
            #expect(registers.r12 == UInt64(count), "the kernel's entry ran once per syscall")
            #expect(registers.r13 == 0x08, "the kernel's entry ran with CS = STAR[47:32], CPL0")
            #expect(registers.r14 == 1, "one genuine page fault, handled by the kernel")
            #expect(registers.rbx == 0)
            #expect(registers.rsi == 0x1234_5678, "the faulting store was retried after the kernel mapped the page")
            #expect(registers.rcx == user.address(of: afterLast)!, "RCX: the address after the last syscall")
            #expect(registers.r11 & 0x202 == 0x202, "R11: the user RFLAGS, IF set")
            #expect(registers.rsp == UserModeGuest.userStackTop, "the user's RSP, unchanged by syscall")
            let special = try guest.machine.vcpu.specialRegisters()
            #expect(special.cs.selector == 0x08 && special.ss.selector == 0x10)

            if let fixup {
                let statistics = fixup.statistics
                #expect(statistics.syscallsCompleted == Int(count) + 1)
                #expect(statistics.pageFaultsPassedOn == 1)
                #expect(fixup.pageFaultHandler == guest.finalPageFaultHandler, "re-derived after the second lidt")
                #expect(statistics.breakpointUpdates >= 3, "early IDT, final IDT, and after the single step")
                print("user-mode fix-up: \(count + 1) syscalls in \(Int(seconds * 1000)) ms, "
                    + "\(Int(seconds / Double(count + 1) * 1e6)) µs each; \(statistics)")
            } else {
                print("native syscalls: \(count + 1) in \(Int(seconds * 1e6)) µs")
            }
        }

        @Test func userInt80IsReportedWhereTheHostDeliversUD() throws {
            var user = LongModeCode(origin: UserModeGuest.userCodeAddress)
            let interrupt = user.here()
            user.emit(0xCD, 0x80)  // int 0x80
            user.hlt()
            let guest = try UserModeGuest(user: user)
            let probe = try Self.probe()
            let fixup = probe.needsUserModeFixup ? UserModeFixup(vcpu: guest.machine.vcpu, memory: guest.machine.memory) : nil
            fixup?.checkInterval = 0  // the guest loads its final IDT and enters user mode within a millisecond
            var consoleExits = 0
            let end = try guest.run(fixup: fixup, consoleExits: &consoleExits)
            print("user int 0x80: \(end)")
            if fixup != nil {
                let expected = HostDefect.userSoftwareInterrupt(
                    vector: 0x80, rip: user.address(of: interrupt)!, mode: "64-bit user mode (CPL3)")
                #expect(end == .hostDefect(expected))
                #expect("\(expected)".contains("`int 0x80` in 64-bit user mode (CPL3)"))
            } else {
                #expect(end == .port(UserModeGuest.int80Port, cpl: 0), "delivered through the DPL-3 gate")
            }
        }

        /// User `out` with IOPL 0 and no I/O bitmap: #GP, as the architecture says. This host was reported
        /// to exit to the VMM instead; here it delivers the #GP (measured 2026-12-02), and the fix-up must
        /// not interfere. Where a host does exit, the fix-up reports it (the next test checks that path).
        @Test func userPortIOWithoutPermissionRaisesGPOrIsReported() throws {
            var user = LongModeCode(origin: UserModeGuest.userCodeAddress)
            user.out(port: 0x70)
            user.hlt()
            let guest = try UserModeGuest(user: user)
            let probe = try Self.probe()
            let fixup = probe.needsUserModeFixup ? UserModeFixup(vcpu: guest.machine.vcpu, memory: guest.machine.memory) : nil
            var consoleExits = 0
            let end = try guest.run(fixup: fixup, consoleExits: &consoleExits)
            print("user out 0x70 without permission: \(end)")
            switch end {
            case .port(UserModeGuest.generalProtectionPort, cpl: 0): break
            case .hostDefect(.userPortIOWithoutPermission(port: 0x70, direction: .out, size: 1, rip: _, iopl: 0, mode: _)):
                #expect(fixup != nil)
            default: Issue.record("expected #GP or a user port I/O report, got \(end)")
            }
        }

        /// User `out` the TSS I/O bitmap allows exits to the VMM (on any host): not a defect. The same exit
        /// with the bitmap then denying the port is reported, naming the instruction and the mode.
        @Test func userPortIOPermissionFollowsTheTSSBitmap() throws {
            var user = LongModeCode(origin: UserModeGuest.userCodeAddress)
            user.out(port: 0x70)
            user.hlt()
            let guest = try UserModeGuest(user: user)
            try guest.useIOBitmap(allowing: 0x70)
            let fixup = UserModeFixup(vcpu: guest.machine.vcpu, memory: guest.machine.memory)
            var consoleExits = 0
            let end = try guest.run(fixup: fixup, consoleExits: &consoleExits)
            #expect(end == .port(0x70, cpl: 3), "permitted user port I/O reaches the VMM")

            try guest.useIOBitmap(allowing: nil)
            var io: PortIO?
            for _ in 0 ..< 4 {  // rerun the same instruction: RIP back on the out
                var registers = try guest.machine.vcpu.registers()
                registers.rip = UserModeGuest.userCodeAddress
                try guest.machine.vcpu.setRegisters(registers)
                try guest.useIOBitmap(allowing: 0x70)
                let exit = try guest.machine.run()
                if case .io(let access) = exit { io = access; break }
            }
            guard let io else {
                Issue.record("no port exit on the second run")
                return
            }
            try guest.useIOBitmap(allowing: nil)  // now the same access is not permitted
            let handling = try fixup.handle(.io(io))
            guard case .hostDefect(let defect) = handling else {
                Issue.record("expected a report, got \(handling)")
                return
            }
            print("report: \(defect)")
            guard case .userPortIOWithoutPermission(let port, let direction, let size, _, let iopl, let mode) = defect else {
                Issue.record("wrong report \(defect)")
                return
            }
            #expect(port == 0x70 && direction == .out && size == 1 && iopl == 0)
            #expect(mode == "64-bit user mode (CPL3)")
            #expect("\(defect)".hasPrefix("`outb` to port 0x70 in 64-bit user mode (CPL3)"))
        }

        @Test func syscallFrameCheckRejectsAUserJumpToLSTAR() {
            let mask = UserModeGuest.syscallMask
            // A real syscall: RFLAGS masked (IF clear), the rest as R11.
            #expect(UserModeFixup.isSyscallEntry(flags: 0x46 | 1 << 16, r11: 0x246, mask: mask))
            // A jump to LSTAR at CPL3: IF still set in the frame.
            #expect(!UserModeFixup.isSyscallEntry(flags: 0x246, r11: 0x246, mask: mask))
            // R11 disagrees with the unmasked bits (ZF).
            #expect(!UserModeFixup.isSyscallEntry(flags: 0x6, r11: 0x246, mask: mask))
        }
    }
}
