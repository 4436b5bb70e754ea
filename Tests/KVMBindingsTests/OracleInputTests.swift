import Foundation
import Testing

/// The oracle's readers: manifest numbers, C probe output, header scan.
@Suite("Layout oracle: readers")
struct OracleInputTests {
    @Test("manifest integers decode exactly, up to UInt64.max and down to Int64.min")
    func exactNumbers() throws {
        let json = """
            {"header": {"path": "linux/kvm.h", "set": "trixie"}, "includeDirectory": "x", "triple": "t",
             "architecture": "x86_64", "structs": [],
             "ioctls": [{"c": "A", "request": 18446744073709551615}, {"c": "B", "request": 9007199254740993}],
             "constants": [{"c": "MAX", "value": 18446744073709551615}, {"c": "MIN", "value": -9223372036854775808},
                           {"c": "ODD", "value": 9007199254740993}, {"c": "NEG", "value": -1}],
             "skipped": [{"c": "S", "kind": "ioctl", "reason": "r"}]}
            """
        let manifest = try LayoutManifest.decode(Data(json.utf8))
        #expect(manifest.ioctls.map(\.request) == [UInt64.max, 9_007_199_254_740_993])
        #expect(manifest.constants.map(\.value) == [Int128(UInt64.max), Int128(Int64.min), 9_007_199_254_740_993, -1])
        #expect(manifest.skipped.first?.kind == .ioctl)
    }

    @Test("a fractional or out-of-range constant is rejected, not rounded")
    func inexactNumbers() {
        for value in ["1.5", "18446744073709551616", "-9223372036854775809"] {
            let json = """
                {"header": {"path": "p", "set": "s"}, "includeDirectory": "x", "triple": "t", "architecture": "a",
                 "structs": [], "ioctls": [], "constants": [{"c": "X", "value": \(value)}], "skipped": []}
                """
            #expect(throws: (any Error).self, "\(value)") { try LayoutManifest.decode(Data(json.utf8)) }
        }
    }

    @Test("a missing header set fails naming the committed folder")
    func missingHeaderSet() throws {
        let json = """
            {"header": {"path": "linux/kvm.h", "set": "trixie"}, "includeDirectory": "headers/sets/trixie/x86_64/include",
             "triple": "x86_64-unknown-linux-gnu", "architecture": "x86_64", "structs": [], "ioctls": [], "constants": [],
             "skipped": []}
            """
        let manifest = try LayoutManifest.decode(Data(json.utf8))
        let emptyRoot = URL(fileURLWithPath: "/nonexistent-kvm-package-root")
        let include = manifest.includeDirectory(packageRoot: emptyRoot)
        #expect(include.path == "/nonexistent-kvm-package-root/headers/sets/trixie/x86_64/include")
        #expect(
            PackageLocation.missingHeadersMessage(manifest, includeDirectory: include)
                == "header set missing: headers/sets/trixie/x86_64/include is committed with the package; restore it with "
                + "git (headers/fetch.sh imports sets that are not pinned yet)")
    }

    @Test("C probe output parses, and garbage is an error")
    func probeOutput() throws {
        let facts = try CProbeOutput.parse(
            """
            size|struct kvm_regs|-|144
            offset|struct kvm_run|io.port|34
            bits|struct kvm_ioapic_state|redirtbl[0].fields.mask|208|1|1
            bits|struct x|y|-1|0|0
            bits|struct x|z|8|9|2
            const|KVM_REG_ARCH_MASK|-|18374686479671623680
            const|NEG|-|-9223372036854775808

            """)
        #expect(facts[.size, "struct kvm_regs"] == .number(144))
        #expect(facts[.offset, "struct kvm_run", "io.port"] == .number(34))
        #expect(facts[.bits, "struct kvm_ioapic_state", "redirtbl[0].fields.mask"] == .bits(BitRange(offset: 208, width: 1)))
        #expect(facts[.bits, "struct x", "y"] == .bits(BitRange(offset: -1, width: 0, anomaly: "nothing written")))
        #expect(facts[.bits, "struct x", "z"] == .bits(BitRange(offset: 8, width: 9, anomaly: "only 2 of the 9 bits in the range are set")))
        #expect(facts[.constant, "KVM_REG_ARCH_MASK"] == .number(18_374_686_479_671_623_680))
        #expect(facts[.constant, "NEG"] == .number(Int128(Int64.min)))
        #expect(throws: CProbeOutput.ParseError.self) { try CProbeOutput.parse("size|struct x|-|") }
        #expect(throws: CProbeOutput.ParseError.self) { try CProbeOutput.parse("warning: something\n") }
    }

    @Test("header scan: defines, records, enumerators; comments and continuations")
    func headerScan() {
        let scan = HeaderScan.scan(
            """
            /* SPDX */
            #ifndef _UAPI_LINUX_KVM_H
            #define _UAPI_LINUX_KVM_H
            #define KVMIO 0xAE
            #define KVM_ONE (1 << 0)   /* function-like? no: space before the paren */
            #define KVM_MACRO(x) ((x) + 1)
            #define KVM_MULTI (KVM_A | \\
                               KVM_B)
            #define KVM_GET_REGS _IOR(KVMIO, 0x81, struct kvm_regs)
            #define KVM_SET_USER_MEMORY_REGION _IOW(KVMIO, 0x46, \\
                                                    struct kvm_userspace_memory_region)
            #  define KVM_INDENTED	_IO(KVMIO, 0x01)
            #define KVM_ALIAS KVM_GET_REGS
            /* #define KVM_IN_COMMENT 1
               struct kvm_in_comment { int x; }; */
            // #define KVM_LINE_COMMENT 2
            #define KVM_TRAILING 3 // comment
            struct kvm_regs {
                __u64 rax;
                struct kvm_nested { __u8 x; } nested;
                struct {
                    __u8 anonymous;
                } named;
                union kvm_u
                {
                    __u8 a;
                } u;
                struct kvm_other *pointer;
            };
            enum kvm_device_type {
                KVM_DEV_TYPE_FSL_MPIC_20 = 1,
            #define KVM_DEV_TYPE_FSL_MPIC_20 KVM_DEV_TYPE_FSL_MPIC_20
                KVM_DEV_TYPE_X = (1 << 2), /* , */
                KVM_DEV_TYPE_MAX,
            };
            enum { kvm_anon_a, kvm_anon_b };
            #ifdef __KVM_S390
            #define KVM_S390_ONLY 4
            #endif
            #endif /* _UAPI_LINUX_KVM_H */
            """)
        #expect(scan.records == ["struct kvm_regs", "struct kvm_nested", "union kvm_u"])
        #expect(scan.ioctls == ["KVM_GET_REGS", "KVM_SET_USER_MEMORY_REGION", "KVM_INDENTED"])
        #expect(
            scan.macros == [
                "KVMIO", "KVM_ONE", "KVM_MULTI", "KVM_ALIAS", "KVM_TRAILING", "KVM_DEV_TYPE_FSL_MPIC_20", "KVM_S390_ONLY",
            ])
        #expect(scan.enumerators == ["KVM_DEV_TYPE_FSL_MPIC_20", "KVM_DEV_TYPE_X", "KVM_DEV_TYPE_MAX", "kvm_anon_a", "kvm_anon_b"])
        #expect(scan.emptyMacros == ["_UAPI_LINUX_KVM_H"])
        #expect(scan.functionLikeMacros == ["KVM_MACRO"])
    }
}
