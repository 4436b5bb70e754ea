import Glibc
import Testing
@testable import KVM

/// A function whose code is in the test executable's text.
private let codeProbe: @convention(c) (Int32) -> Int32 = { $0 &+ 1 }
/// Writable data of the test executable, which no region may include.
nonisolated(unsafe) private var writableGlobal: [UInt64] = [1, 2, 3]

@Suite struct ExecutableCodeTests {
    typealias Header = ExecutableCode.ProgramHeader

    /// The layout lld gives the fully static examples: R, RX, RW (RELRO), RW.
    @Test func regionsFromProgramHeaders() {
        let headers = [
            Header(type: Header.load, flags: 4, start: 0x20_0000, size: 0x1C_E420),
            Header(type: Header.load, flags: 5, start: 0x3C_F440, size: 0x73_64E0),
            Header(type: Header.load, flags: 6, start: 0xB0_6920, size: 0x4_96E0),
            Header(type: Header.load, flags: 6, start: 0xB5_0D80, size: 0x1D_D868),
            Header(type: 7, flags: 4, start: 0xB0_6920, size: 0x160),  // PT_TLS: not a region
            Header(type: Header.relocationReadOnly, flags: 4, start: 0xB0_6920, size: 0x4_96E0),
            Header(type: Header.load, flags: 4, start: 0x100_0100, size: 0x100),  // no whole page inside
        ]
        let regions = ExecutableCode.regions(of: headers, pageSize: 0x1000)
        #expect(regions == [
            .init(kind: .readOnlyData, addresses: 0x20_0000..<0x3C_E000),  // the partial last page left out
            .init(kind: .code, addresses: 0x3D_0000..<0xB0_5000),  // the partial first and last pages left out
            .init(kind: .readOnlyAfterRelocation, addresses: 0xB0_6000..<0xB5_0000),  // as the loader protects it
        ])
    }

    @Test func regionsDescribeThisExecutable() {
        let regions = ExecutableCode.regions
        let page = UInt(hostPageSize)
        #expect(!regions.isEmpty)
        for region in regions {
            #expect(region.addresses.lowerBound % page == 0 && region.addresses.upperBound % page == 0)
            #expect(!region.addresses.isEmpty)
        }
        for (earlier, later) in zip(regions, regions.dropFirst()) {
            #expect(earlier.addresses.upperBound <= later.addresses.lowerBound)
        }
        let code = unsafe unsafeBitCast(codeProbe, to: UInt.self)
        #expect(regions.contains { $0.kind == .code && $0.addresses.contains(code) })
        var local = 0
        let addresses = unsafe [
            withUnsafePointer(to: &writableGlobal) { UInt(bitPattern: $0) },
            writableGlobal.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) },  // heap
            withUnsafePointer(to: &local) { UInt(bitPattern: $0) },  // stack
        ]
        for address in addresses {
            #expect(!regions.contains { $0.addresses.contains(address) })
        }
    }

    @Test func disablesFaultAroundForTheCode() throws {
        do {
            try ExecutableCode.disableFaultAround()
        } catch {
            // A host without the feature (before 6.7, seccomp): the documented failures only.
            let expected: Set<String> = ["userfaultfd", "UFFDIO_API"]
            #expect(expected.contains(error.operation ?? ""), "\(error)")
            return
        }
        try ExecutableCode.disableFaultAround()  // again: nothing more to do
        // smaps' "uw": the mapping is registered for userfaultfd write-protect tracking, which is
        // what turns fault-around off for it.
        let code = unsafe unsafeBitCast(codeProbe, to: UInt.self)
        let flags = try #require(vmFlags(containing: code))
        #expect(flags.contains("uw"), "VmFlags of the code: \(flags)")
        #expect(codeProbe(41) == 42)
    }

    @Test func unmapsMappedCodeAndKeepsRunning() throws {
        #expect(codeProbe(1) == 2)
        // At least the page running this call is mapped from the file: it is unmapped, and faulted
        // back in when the call returns.
        let unmapped = try ExecutableCode.unmapCleanPages()
        #expect(unmapped >= hostPageSize)
        #expect(unmapped % hostPageSize == 0)
        #expect(codeProbe(2) == 3)
        #expect(writableGlobal == [1, 2, 3])
    }

    @Test func pagemapEntries() {
        typealias Entry = ExecutableCode.PagemapEntry
        #expect(Entry(1 << 63 | 1 << 61 | 0x1234).isMappedFilePage)  // present, page cache
        #expect(!Entry(1 << 63 | 0x1234).isMappedFilePage)  // present, private anonymous (a written copy)
        #expect(!Entry(1 << 61).isMappedFilePage)  // not present
        #expect(!Entry(1 << 62).isMappedFilePage)  // swapped out
        #expect(!Entry(0).isMappedFilePage)
    }

    /// The VmFlags line of the /proc/self/smaps entry whose range holds `address`.
    private func vmFlags(containing address: UInt) -> [String]? {
        guard let file = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        var inside = false
        while unsafe fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard let first = fields.first else { continue }
            if !first.hasSuffix(":") {
                let bounds = first.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && (bounds[0]..<bounds[1]).contains(address)
            } else if inside, first == "VmFlags:" {
                return fields.dropFirst().map(String.init)
            }
        }
        return nil
    }
}
