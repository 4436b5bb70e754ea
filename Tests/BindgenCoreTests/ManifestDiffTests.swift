import BindgenCore
import Foundation
import Testing

/// `kvm-bindgen diff` on real header sets: 5.10 (bullseye) → 6.12 (trixie), x86_64, each generated in
/// memory from the pinned sets committed under `headers/sets/`.
@Suite
struct ManifestDiffTests {
    static let diff = Result { ManifestDiff(from: try PinnedSets.manifest("bullseye"), to: try PinnedSets.manifest("trixie")) }

    @Test func sidesAreNamed() throws {
        let diff = try Self.diff.get()
        #expect(diff.from.set == "bullseye" && diff.to.set == "trixie")
        #expect(diff.from.sha256.count == 64 && diff.to.sha256.count == 64 && diff.from.sha256 != diff.to.sha256)
        #expect(diff.from.triple == "x86_64-unknown-linux-gnu")
    }

    @Test func userMemoryRegion2IsNewIn6_12() throws {
        let diff = try Self.diff.get()
        let ioctl = try #require(diff.ioctls.added.first { $0.name == "KVM_SET_USER_MEMORY_REGION2" })
        #expect(ioctl.argument == "struct kvm_userspace_memory_region2")
        #expect(ioctl.direction == "write")
        #expect(ioctl.skipped == nil, "5.10 does not declare it at all")
        let record = try #require(diff.structs.added.first { $0.name == "struct kvm_userspace_memory_region2" })
        #expect(record.size == 160 && record.alignment == 8)
        #expect(diff.capabilities.added.first { $0.name == "KVM_CAP_USER_MEMORY2" }?.value == ExactInteger(231))
        #expect(diff.exitReasons.added.first { $0.name == "KVM_EXIT_MEMORY_FAULT" }?.value == ExactInteger(39))
        // The first version is in both: neither removed nor changed.
        let both = diff.ioctls.removed.map(\.name) + diff.ioctls.changed.map(\.name) + diff.structs.removed.map(\.name)
        #expect(!both.contains("KVM_SET_USER_MEMORY_REGION") && !both.contains("struct kvm_userspace_memory_region"))
    }

    @Test func legacyAPIsAreRemoved() throws {
        let diff = try Self.diff.get()
        // Gone from the header: the pre-2.6.29 memory API, PCI device assignment.
        let region = try #require(diff.ioctls.removed.first { $0.name == "KVM_SET_MEMORY_REGION" })
        #expect(region.skipped == nil)
        #expect(diff.structs.removed.contains { $0.name == "struct kvm_assigned_pci_dev" })
        // Still declared by 6.12's linux/kvm.h, but its struct moved to s390's asm/kvm.h: not bound on x86_64.
        let memop = try #require(diff.ioctls.removed.first { $0.name == "KVM_S390_MEM_OP" })
        #expect(memop.skipped?.contains("struct kvm_s390_mem_op") == true)
        #expect(diff.capabilities.removed.isEmpty, "capability numbers are never retired")
    }

    @Test func layoutChangesAreReported() throws {
        let diff = try Self.diff.get()
        let clock = try #require(diff.structs.changed.first { $0.name == "struct kvm_clock_data" })
        #expect(clock.size == nil, "kvm_clock_data kept its size: the new fields took the padding")
        #expect(clock.fieldsAdded.map(\.name) == ["pad0", "realtime", "host_tsc"])
        let pad = try #require(clock.fieldsChanged.first { $0.name == "pad" })
        #expect(pad.offset?.from == 12 && pad.offset?.to == 32)
        #expect(pad.size?.from == 36 && pad.size?.to == 16)
        let events = try #require(diff.structs.changed.first { $0.name == "struct kvm_vcpu_events" })
        #expect(events.fieldsAdded.contains { $0.name == "triple_fault.pending" && $0.offset == 28 })
        // 5.10 spells flexible arrays `entries[0]`, 6.12 `entries[]`: the same API, so no change.
        #expect(!diff.structs.changed.contains { $0.name == "struct kvm_msrs" })
        #expect(diff.constants.changed.first { $0.name == "KVM_DEV_TYPE_MAX" }?.value.to == ExactInteger(12))
    }

    @Test func markdownAndJSON() throws {
        let diff = try Self.diff.get()
        let markdown = DiffRenderer.markdown(diff)
        #expect(markdown.hasPrefix("# KVM API changes: bullseye → trixie (x86_64-unknown-linux-gnu)"))
        #expect(markdown.contains("- `KVM_SET_USER_MEMORY_REGION2`: 0x40a0ae49, write, `struct kvm_userspace_memory_region2`"))
        #expect(markdown.contains("| ioctls | \(diff.ioctls.added.count) | \(diff.ioctls.removed.count) | \(diff.ioctls.changed.count) |"))
        let json = try DiffRenderer.json(diff)
        #expect(try JSONDecoder().decode(ManifestDiff.self, from: Data(json.utf8)) == diff)
    }

    @Test func sameSetHasNoChanges() throws {
        let trixie = try PinnedSets.manifest("trixie")
        #expect(ManifestDiff(from: trixie, to: trixie).isEmpty)
    }
}

/// The pinned x86_64 header sets of `headers/sets/`, generated in memory.
enum PinnedSets {
    static let packageRoot: String = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/", !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            directory.deleteLastPathComponent()
        }
        return directory.path
    }()

    static func manifest(_ set: String) throws -> BindingsManifest {
        let selection = try HeaderSelection(set: set, triple: try TargetTriple.named("x86_64"), packageRoot: packageRoot)
        return try BindingsManifest.decode(from: selection.generate().files)
    }
}
