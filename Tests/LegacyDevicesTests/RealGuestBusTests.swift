import DeviceBus
import Glibc
import KVM
import KVMBindings
import LegacyDevices
import Synchronization
import Testing

/// A real guest (16-bit real mode, hand-assembled below) drives the UART, an MMIO device and the
/// debug-exit port through a `MachineBus`: single and string port I/O (`rep outsb`, `rep insb`), a
/// read of a port nobody claims, a 32-bit MMIO read and write, and `outl` to 0xF4.
@Suite(.enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "/dev/kvm is absent or not accessible: this test runs a guest"))
struct RealGuestBusTests {
    static let code: UInt64 = 0x1000
    static let message: UInt64 = 0x1100   // "hi\n"
    static let loopbackBytes: UInt64 = 0x1110  // "xyz"
    static let results: UInt64 = 0x600

    /// The guest. Results: [0x600] scratch read back, [0x601] LSR, [0x602] 16-bit read of port 0x200
    /// (no device), [0x610..0x612] what `rep insb` read from the UART in loopback.
    static let program: [UInt8] = [
        0xBA, 0xFB, 0x03, 0xB0, 0x80, 0xEE,   // mov dx, 0x3FB; mov al, 0x80; out dx, al   (LCR: DLAB)
        0xBA, 0xF8, 0x03, 0xB0, 0x01, 0xEE,   // mov dx, 0x3F8; mov al, 1; out dx, al      (DLL = 1)
        0xBA, 0xFB, 0x03, 0xB0, 0x03, 0xEE,   // mov dx, 0x3FB; mov al, 3; out dx, al      (8N1)
        0xBA, 0xFF, 0x03, 0xB0, 0x5A, 0xEE,   // mov dx, 0x3FF; mov al, 0x5A; out dx, al   (scratch)
        0xEC, 0xA2, 0x00, 0x06,               // in al, dx; mov [0x600], al
        0xBA, 0xF8, 0x03,                     // mov dx, 0x3F8
        0xBE, 0x00, 0x11, 0xB9, 0x03, 0x00,   // mov si, 0x1100; mov cx, 3
        0xFC, 0xF3, 0x6E,                     // cld; rep outsb                            ("hi\n")
        0xBA, 0xFD, 0x03, 0xEC,               // mov dx, 0x3FD; in al, dx                  (LSR)
        0xA2, 0x01, 0x06,                     // mov [0x601], al
        0xBA, 0x00, 0x02, 0xED,               // mov dx, 0x200; in ax, dx                  (nobody there)
        0xA3, 0x02, 0x06,                     // mov [0x602], ax
        0xBA, 0xFA, 0x03, 0xB0, 0x01, 0xEE,   // mov dx, 0x3FA; mov al, 1; out dx, al      (FCR: FIFO on)
        0xBA, 0xFC, 0x03, 0xB0, 0x10, 0xEE,   // mov dx, 0x3FC; mov al, 0x10; out dx, al   (MCR: loopback)
        0xBA, 0xF8, 0x03,                     // mov dx, 0x3F8
        0xBE, 0x10, 0x11, 0xB9, 0x03, 0x00,   // mov si, 0x1110; mov cx, 3
        0xF3, 0x6E,                           // rep outsb                                 ("xyz" → RBR)
        0xBF, 0x10, 0x06, 0xB9, 0x03, 0x00,   // mov di, 0x610; mov cx, 3
        0xF3, 0x6C,                           // rep insb                                  (RBR → [0x610])
        0xB8, 0x00, 0xD0, 0x8E, 0xD8,         // mov ax, 0xD000; mov ds, ax
        0x66, 0xA1, 0x04, 0x00,               // mov eax, [0x0004]                         (MMIO read 0xD0004)
        0x66, 0xA3, 0x08, 0x00,               // mov [0x0008], eax                         (MMIO write 0xD0008)
        0x31, 0xC0, 0x8E, 0xD8,               // xor ax, ax; mov ds, ax
        0xBA, 0xF4, 0x00,                     // mov dx, 0xF4
        0x66, 0xB8, 0x21, 0x00, 0x00, 0x00,   // mov eax, 0x21
        0x66, 0xEF,                           // out dx, eax                               (exit 0x43)
        0xF4,                                 // hlt (not reached)
    ]

    /// A 16-byte MMIO register file: reads of offset 4 return 0xCAFEBABE, writes are recorded.
    final class Registers: BusDevice {
        let written = Mutex<[UInt64: UInt64]>([:])
        func read(at offset: UInt64, size: Int) -> UInt64 { offset == 4 ? 0xCAFE_BABE : 0 }
        func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
            written.withLock { $0[offset] = value }
            return nil
        }
    }

    final class Output: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    @Test func guestDrivesTheUARTAndMMIOThroughTheBusAndExitsThroughTheDebugPort() throws {
        let vm = try KVMSystem().createVM()
        try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
        try vm.memory.write(bytes: Self.program, at: GuestAddress(Self.code))
        try vm.memory.write(bytes: Array("hi\n".utf8), at: GuestAddress(Self.message))
        try vm.memory.write(bytes: Array("xyz".utf8), at: GuestAddress(Self.loopbackBytes))

        let output = Output()
        let uart = Serial16550A { byte in output.bytes.withLock { $0.append(byte) } }
        let registers = Registers()
        var bus = MachineBus()
        try bus.portIO.register(uart, base: 0x3F8, size: Serial16550A.size)
        try bus.portIO.register(DebugExitPort(), base: DebugExitPort.defaultAddress, size: DebugExitPort.size)
        try bus.mmio.register(registers, base: 0xD_0000, size: 0x10)

        let vcpu = try vm.createVCPU(id: 0)
        var special = try vcpu.specialRegisters()
        for segment in [\KVMSRegs.cs, \.ds, \.es, \.ss] as [WritableKeyPath<KVMSRegs, KVMSegment>] {
            special[keyPath: segment].base = 0
            special[keyPath: segment].selector = 0
        }
        try vcpu.setSpecialRegisters(special)
        var state = KVMRegs()
        state.rip = Self.code
        state.rsp = 0x8000
        state.rflags = 0x2
        try vcpu.setRegisters(state)

        var request: MachineRequest?
        var unclaimed: [UnclaimedAccess] = []
        var exits = 0
        running: while exits < 200 {
            exits += 1
            let outcome: MachineBus.Outcome
            switch try vcpu.run() {
            case .io(let io): outcome = try bus.handle(io, on: vcpu)
            case .mmio(let access): outcome = bus.handle(access, on: vcpu)
            case .interrupted: continue
            case let other:
                Issue.record("unexpected exit \(other) at RIP 0x\(String(try vcpu.registers().rip, radix: 16))")
                break running
            }
            switch outcome {
            case .handled: break
            case .unclaimed(let access): unclaimed.append(access)
            case .request(let asked):
                request = asked
                break running
            }
        }
        #expect(request == .exit(status: 0x43), "outl 0x21 to 0xF4: (0x21 << 1) | 1")
        #expect(output.bytes.withLock { $0 } == Array("hi\n".utf8), "rep outsb reached the UART's output")
        #expect(unclaimed == [UnclaimedAccess(address: 0x200, size: 2, reason: .noDevice)])
        let results = try vm.memory.readBytes(at: GuestAddress(Self.results), count: 4)
        #expect(results[0] == 0x5A, "scratch register")
        #expect(results[1] == 0x60, "LSR: THR and transmitter empty, no data")
        #expect(results[2] == 0xFF && results[3] == 0xFF, "a port nobody claims reads all-ones")
        #expect(try vm.memory.readBytes(at: GuestAddress(0x610), count: 3) == Array("xyz".utf8), "rep insb read the loopback FIFO")
        #expect(registers.written.withLock { $0 } == [8: 0xCAFE_BABE], "MMIO read answered, MMIO write delivered")
    }
}
