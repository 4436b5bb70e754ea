// Kernel-mode int3 on a host whose KVM emulates CPL0 code and cannot emulate int3 (it reports an
// emulation failure): the VMM performs the exception delivery the CPU would have done, through the
// guest's own IDT. 64-bit mode only, which is where Linux uses int3 (text_poke_bp, static calls,
// kprobes): read gate 3, pick the stack (IST from the TSS, or the current one), push SS, RSP,
// RFLAGS, CS and the address after the int3, clear TF/NT/RF (and IF for an interrupt gate), jump.
// On hardware virtualization the guest's int3 never reaches the VMM and this never runs.
//
// The same host's emulator also lacks `fwait` (0x9B), which Linux executes after x87 state changes:
// with no unmasked x87 exception pending (FSW.ES clear) it does nothing, so the VMM steps over it;
// and `ldmxcsr`/`stmxcsr` (0F AE /2, /3), which kernel_fpu_begin() runs: the VMM moves the 32-bit
// value between guest memory and MXCSR (through KVM_GET/SET_XSAVE: on that host KVM_GET/SET_FPU do
// not carry MXCSR).

import KVM
import KVMBindings
import X86Setup

/// Completes, in the VMM, the kernel-mode instructions a host's KVM instruction emulator reports as
/// emulation failures (`KVM_EXIT_INTERNAL_ERROR`): kernel `int3`, `fwait`, `ldmxcsr` and `stmxcsr`.
///
/// Call ``complete(on:memory:instructionBytes:)`` from the run loop when `VCPU.run()` returns
/// `.internalError`; on `.delivered` or `.completed`, run the vCPU again. On hardware virtualization
/// these instructions never exit, so this is never called.
public enum KernelInstructionFallback {
    /// What ``complete(on:memory:instructionBytes:)`` did.
    public enum Outcome: Equatable, Sendable {
        /// A kernel int3: #BP was delivered through the guest's IDT to `handler`.
        case delivered(handler: UInt64)
        /// An instruction the VMM completed itself: `"fwait"` stepped over, `"ldmxcsr"`/`"stmxcsr"` performed.
        case completed(String)
        /// Not an instruction handled here (or not at CPL0 in 64-bit mode): a real failure.
        case notHandled
        /// An instruction handled here whose completion would fault (explains why).
        case undeliverable(String)
    }

    static let int3: UInt8 = 0xCC
    static let fwait: UInt8 = 0x9B
    static let vector: UInt64 = 3

    /// Finishes the instruction at RIP if it is one handled here (int3: deliver #BP; fwait: step over;
    /// ldmxcsr/stmxcsr: perform), at CPL0 in 64-bit mode.
    ///
    /// - Parameters:
    ///   - vcpu: The vCPU that exited with the emulation failure, on its own thread.
    ///   - memory: The VM's guest memory, read and written through the guest's page tables.
    ///   - instructionBytes: What KVM reported with the emulation failure
    ///     (`InternalError.instructionBytes`, may be empty: the bytes are then read at RIP).
    public static func complete(on vcpu: VCPU, memory: GuestMemory, instructionBytes: [UInt8]) -> Outcome {
        guard var registers = try? vcpu.registers(), var special = try? vcpu.specialRegisters() else {
            return .undeliverable("cannot read the vCPU's registers")
        }
        guard special.efer & ExtendedFeatureEnable.longModeActive.rawValue != 0, special.cs.l == 1, special.cs.selector & 3 == 0 else { return .notHandled }
        let guest = GuestVirtualMemory(vcpu: vcpu, memory: memory, special: special)
        let bytes = instructionBytes.count >= 15 ? instructionBytes : guest.read(registers.rip, count: 15)
        let opcode = bytes.first
        if opcode == fwait, let fpu = try? vcpu.fpu(), fpu.fsw & 0x80 == 0 {
            registers.rip &+= 1
            guard (try? vcpu.setRegisters(registers)) != nil else { return .undeliverable("KVM_SET_REGS failed") }
            return .completed("fwait")
        }
        if let decoded = InstructionDecoder.decodeTwoByteModRM(bytes, registers: registers, special: special),
            decoded.opcode == [0x0F, 0xAE], decoded.reg & 7 == 2 || decoded.reg & 7 == 3, let address = decoded.address,
            let current = mxcsr(of: vcpu)
        {
            if decoded.reg & 7 == 2 {  // ldmxcsr m32
                let value = guest.read(address, count: 4)
                guard let mxcsr = LittleEndianReader(value).read(UInt32.self, at: 0), mxcsr & 0xFFFF_0000 == 0 else {
                    return .undeliverable("ldmxcsr operand at \(hex(address)) is unmapped or invalid")
                }
                guard setMXCSR(mxcsr, on: vcpu) else { return .undeliverable("MXCSR could not be set (KVM_SET_XSAVE/KVM_SET_FPU)") }
            } else {  // stmxcsr m32
                guard guest.write(LittleEndianBuffer.bytes(of: current), at: address) else {
                    return .undeliverable("stmxcsr operand at \(hex(address)) is unmapped")
                }
            }
            registers.rip &+= UInt64(decoded.length)
            guard (try? vcpu.setRegisters(registers)) != nil else { return .undeliverable("KVM_SET_REGS failed") }
            return .completed(decoded.reg & 7 == 2 ? "ldmxcsr" : "stmxcsr")
        }
        guard opcode == int3 else { return .notHandled }

        guard UInt64(special.idt.limit) >= vector * 16 + 15 else { return .undeliverable("IDT limit \(special.idt.limit) excludes vector 3") }
        guard let gate = guest.gate(vector: 3) else {
            return .undeliverable("IDT entry 3 at \(hex(special.idt.base + 48)) is not mapped")
        }
        guard gate.isPresentInterruptOrTrapGate else {
            return .undeliverable("IDT entry 3 is not a present interrupt or trap gate (type \(gate.type), present \(gate.present))")
        }
        let handler = gate.offset
        let selector = gate.selector
        let ist = UInt64(gate.interruptStackTable)

        var stack = registers.rsp
        if ist != 0 {
            guard let value = guest.words(special.tr.base + 0x24 + (ist - 1) * 8, count: 1)?.first else {
                return .undeliverable("TSS IST\(ist) is not readable")
            }
            stack = value
        }
        stack &= ~0xF
        // The return address (after the int3), CS, RFLAGS, RSP, SS.
        let frame = [registers.rip &+ 1, UInt64(special.cs.selector), registers.rflags, registers.rsp, UInt64(special.ss.selector)]
            .flatMap { LittleEndianBuffer.bytes(of: $0) }
        let top = stack &- UInt64(frame.count)
        guard guest.write(frame, at: top) else {
            return .undeliverable("the exception stack at \(hex(top)) is not mapped")
        }
        if selector != special.cs.selector {
            guard let code = codeSegment(selector, guest: guest) else {
                return .undeliverable("gate selector \(hex(selector)) is not a 64-bit code segment")
            }
            special.cs = code
            guard (try? vcpu.setSpecialRegisters(special)) != nil else { return .undeliverable("KVM_SET_SREGS failed") }
        }
        var flags = registers.rflags & ~FlagsRegister([.trap, .nestedTask, .resume, .virtual8086Mode]).rawValue
        if gate.type == .interruptGate { flags &= ~FlagsRegister.interruptEnable.rawValue }  // interrupt gate: IF off
        registers.rflags = flags
        registers.rsp = top
        registers.rip = handler
        guard (try? vcpu.setRegisters(registers)) != nil else { return .undeliverable("KVM_SET_REGS failed") }
        return .delivered(handler: handler)
    }

    /// MXCSR, from the XSAVE image where KVM has KVM_GET_XSAVE (some hosts' KVM_GET_FPU does not
    /// report it), else from KVM_GET_FPU.
    public static func mxcsr(of vcpu: VCPU) -> UInt32? {
        if let area = try? vcpu.xsave() { return area.mxcsr }
        return (try? vcpu.fpu())?.mxcsr
    }

    /// Sets MXCSR through KVM_SET_XSAVE, else KVM_SET_FPU.
    public static func setMXCSR(_ value: UInt32, on vcpu: VCPU) -> Bool {
        if var area = try? vcpu.xsave() {
            area.mxcsr = value
            if (try? vcpu.setXSave(area)) != nil { return mxcsr(of: vcpu) == value }
        }
        guard var fpu = try? vcpu.fpu() else { return false }
        fpu.mxcsr = value
        return (try? vcpu.setFPU(fpu)) != nil
    }

    /// The 64-bit code segment `selector` names in the GDT.
    private static func codeSegment(_ selector: UInt16, guest: GuestVirtualMemory) -> KVMSegment? {
        guard let descriptor = guest.descriptor(selector: selector), descriptor.isCode, descriptor.long else { return nil }
        return descriptor.segment(selector: selector)
    }
}
