#if arch(x86_64)
import KVM
import KVMBindings
import Testing
import X86Setup

@Suite struct CPUIDPolicyTests {
    static func entry(_ function: UInt32, _ index: UInt32 = 0, eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0)
        -> KVMCPUIDEntry2
    {
        var entry = KVMCPUIDEntry2()
        entry.function = function
        entry.index = index
        entry.eax = eax
        entry.ebx = ebx
        entry.ecx = ecx
        entry.edx = edx
        return entry
    }

    /// A plausible KVM_GET_SUPPORTED_CPUID: leaf 1 with XSAVE, leaf 4 (L1d, L2, L3, end), 7.0, 0xB, AMD leaves.
    static let supported = CPUIDEntries([
        entry(0, eax: 0x1F),
        entry(1, eax: 0x906EA, ebx: 0x00FF_0800, ecx: 1 << 26 | 1 << 13, edx: 1 << 28 | 1),
        entry(4, 0, eax: 0x1C00_4121), entry(4, 1, eax: 0x1C00_4143), entry(4, 2, eax: 0x1C03_C163), entry(4, 3, eax: 0),
        entry(7, 0, ebx: 1 << 0 | 1 << 20), entry(7, 1, ebx: 1 << 0),
        entry(0xB, 0), entry(0xB, 1), entry(0xB, 2),
        entry(0x4000_0000, eax: 0x4000_0001, ebx: 0x4B4D_564B),
        entry(0x8000_0008, ecx: 0xF0FF), entry(0x8000_001E),
    ])

    @Test(arguments: [1, 2, 4, 6])
    func topologyPerVCPU(cpuCount: Int) throws {
        for cpu in 0 ..< cpuCount {
            let entries = CPUIDPolicy().entries(for: cpu, cpuCount: cpuCount, from: Self.supported)
            let leaf1 = try #require(entries.entry(function: 1))
            #expect(leaf1.ebx >> 24 == UInt32(cpu), "APIC id")
            #expect((leaf1.ebx >> 16) & 0xFF == UInt32(cpuCount))
            #expect(leaf1.ebx & 0xFFFF == 0x0800, "brand/CLFLUSH fields kept")
            #expect(leaf1.ecx & (1 << 31) != 0, "hypervisor bit")
            #expect((leaf1.edx & (1 << 28) != 0) == (cpuCount > 1), "HTT")
            for level in 0 ..< 3 {
                let cache = try #require(entries.entry(function: 4, index: UInt32(level)))
                #expect(cache.eax >> 26 == UInt32(cpuCount - 1), "cores per package - 1")
                let sharing = (cache.eax >> 14) & 0xFFF
                #expect(sharing == (level == 2 ? UInt32(cpuCount - 1) : 0), "L\(level + 1) sharing")
                #expect(cache.eax & 0x3FFF == Self.supported.entry(function: 4, index: UInt32(level))!.eax & 0x3FFF)
            }
            #expect(entries.entry(function: 4, index: 3)?.eax == 0, "the end of the cache list stays empty")
            let smt = try #require(entries.entry(function: 0xB, index: 0))
            let core = try #require(entries.entry(function: 0xB, index: 1))
            let end = try #require(entries.entry(function: 0xB, index: 2))
            #expect(smt.eax == 0 && smt.ebx == 1 && smt.ecx == 0x100 && smt.edx == UInt32(cpu))
            let bits = cpuCount == 1 ? 0 : UInt32(64 - (cpuCount - 1).leadingZeroBitCount)
            #expect(core.eax == bits && core.ebx == UInt32(cpuCount) && core.ecx == 0x201 && core.edx == UInt32(cpu))
            #expect(end.eax == 0 && end.ebx == 0 && end.ecx == 2 && end.edx == UInt32(cpu))
            #expect(entries.entry(function: 0x8000_0008)?.ecx == bits << 12 | UInt32(cpuCount - 1))
            #expect(entries.entry(function: 0x8000_001E)?.eax == UInt32(cpu))
            #expect(entries.entry(function: 0x4000_0000)?.ebx == 0x4B4D_564B, "the hypervisor leaf passes through")
        }
    }

    /// What an AMD host's KVM_GET_SUPPORTED_CPUID lists for the topology (measured on a family 0x1a host):
    /// leaf 0xB with subleaf 0 only, zeroed; no 0x1F (the maximum basic leaf is 0x1C); AMD's cache leaf
    /// 0x8000001D with the L3 shared by two threads.
    static let amdSupported = CPUIDEntries([
        entry(0, eax: 0x1C),
        entry(1, eax: 0xB00F21, ebx: 0x0102_0800, ecx: 0x8120_2000, edx: 0x078B_FBFF),
        { var leaf = entry(0xB, 0, edx: 1); leaf.flags = 1; return leaf }(),
        entry(0x8000_0008, eax: 0x3030, ebx: 0x5002_0005, ecx: 0x7001),
        entry(0x8000_001D, 0, eax: 0x121), entry(0x8000_001D, 1, eax: 0x122), entry(0x8000_001D, 2, eax: 0x143),
        entry(0x8000_001D, 3, eax: 0x4163), entry(0x8000_001D, 4, eax: 0),
        entry(0x8000_001E),
    ])

    /// CPUID as a vCPU reads it from `entries`: KVM answers a (sub)leaf the table lacks with zeros (on AMD).
    static func cpuid(_ entries: CPUIDEntries, _ function: UInt32, _ index: UInt32) -> KVMCPUIDEntry2 {
        entries.entry(function: function, index: index) ?? entry(function, index)
    }

    /// Linux's detect_extended_topology(): walk leaf 0xB to the first subleaf of type 0; the package id
    /// is the x2APIC id shifted right by the core level's shift (the SMT level's, without a core level).
    static func linuxPackageID(_ entries: CPUIDEntries) -> UInt32 {
        var shift = cpuid(entries, 0xB, 0).eax & 0x1F
        var subleaf: UInt32 = 1
        while true {
            let level = cpuid(entries, 0xB, subleaf)
            let type = (level.ecx >> 8) & 0xFF
            if type == 0 { break }
            if type == 2 { shift = level.eax & 0x1F }
            subleaf += 1
        }
        return cpuid(entries, 0xB, 0).edx >> shift
    }

    /// KVM lists only subleaf 0 of leaf 0xB: without a core level, Linux put vCPU 1 in package 1
    /// ("CPU 1 Converting physical 0 to logical die 1"). Every vCPU must be in package 0.
    @Test(arguments: [2, 3, 4, 8])
    func oneHostPackageOnKVMsTopologyLeaves(cpuCount: Int) {
        for cpu in 0 ..< cpuCount {
            let entries = CPUIDPolicy().entries(for: cpu, cpuCount: cpuCount, from: Self.amdSupported)
            #expect(Self.linuxPackageID(entries) == 0, "vCPU \(cpu) of \(cpuCount)")
            let leafB = entries.filter { $0.function == 0xB }
            #expect(leafB.map(\.index) == [0, 1, 2])
            #expect(leafB.allSatisfy { $0.flags == KVMCPUIDFlags.signifcantIndex.rawValue && $0.edx == UInt32(cpu) })
            #expect(!entries.contains { $0.function == 0x1F }, "no 0x1F where KVM lists none")
            // AMD's cache leaf: L1 and L2 per core, the L3 shared by every vCPU.
            let sharing = (0 ..< 4).map { (Self.cpuid(entries, 0x8000_001D, $0).eax >> 14) & 0xFFF }
            #expect(sharing == [0, 0, 0, UInt32(cpuCount - 1)])
            #expect(Self.cpuid(entries, 0x8000_001D, 3).eax & 0x3FFF == 0x4163 & 0x3FFF)
        }
    }

    /// Where KVM lists 0x1F, it gets the same levels as 0xB.
    @Test func leaf0x1FMirrorsLeafB() throws {
        let supported = CPUIDEntries(Self.amdSupported.entries + [Self.entry(0x1F, 0)])
        let entries = CPUIDPolicy().entries(for: 1, cpuCount: 2, from: supported)
        for subleaf: UInt32 in 0 ..< 3 {
            let b = try #require(entries.entry(function: 0xB, index: subleaf))
            let f = try #require(entries.entry(function: 0x1F, index: subleaf))
            #expect([b.eax, b.ebx, b.ecx, b.edx, b.flags] as [UInt32] == [f.eax, f.ebx, f.ecx, f.edx, f.flags])
        }
    }

    @Test func clearsNamedBits() {
        let policy = CPUIDPolicy(clears: [CPUIDPolicy.xsave, CPUIDPolicy.Clear("7.0.ebx.20")!, CPUIDPolicy.Clear("0x7.ebx.0")!])
        let entries = policy.entries(for: 0, cpuCount: 1, from: Self.supported)
        #expect(entries.entry(function: 1)?.ecx == 1 << 13 | 1 << 31, "XSAVE cleared, CX16 and the hypervisor bit kept")
        #expect(entries.entry(function: 7, index: 0)?.ebx == 0, "SMAP (subleaf 0) and FSGSBASE (every subleaf)")
        #expect(entries.entry(function: 7, index: 1)?.ebx == 0, "no subleaf: every subleaf")
        let onlySubleaf0 = CPUIDPolicy(clears: [CPUIDPolicy.fsgsbase]).cleared(Self.supported)
        #expect(onlySubleaf0.entry(function: 7, index: 1)?.ebx == 1)
    }

    @Test func parsesClears() {
        #expect(CPUIDPolicy.Clear("1.ecx.26") == CPUIDPolicy.xsave)
        #expect(CPUIDPolicy.Clear("0x7.0.EBX.20") == CPUIDPolicy.smap)
        #expect(CPUIDPolicy.Clear("0x80000001.edx.27") == CPUIDPolicy.rdtscp)
        #expect(CPUIDPolicy.smap.description == "0x7.0.ebx.20")
        for bad in ["1.ecx", "1.xyz.3", "1.ecx.32", "1.ecx.-1", "x.ecx.1", "1..ecx.1", "1.2.3.ecx.1", ""] {
            #expect(CPUIDPolicy.Clear(bad) == nil, "\(bad)")
        }
    }
}
#endif
