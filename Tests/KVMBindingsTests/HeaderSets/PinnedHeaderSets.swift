import Foundation
import Testing

/// One pinned header set × architecture of `headers/sets.json`.
struct PinnedPair: Sendable, Hashable, CustomTestStringConvertible {
    var set: String
    var kernel: String
    var architecture: String
    /// Why sets.json marks the pair unavailable (bullseye has no RISC-V KVM), or nil.
    var unavailableReason: String?

    var testDescription: String { "\(set) (\(kernel)) \(architecture)" }

    /// `headers/sets/<set>/<arch>/include`.
    func includeDirectory(root: URL) -> URL {
        root.appendingPathComponent("headers/sets/\(set)/\(architecture)/include")
    }

}

/// `headers/sets.json`, as far as the per-architecture oracle needs it.
enum PinnedHeaderSets {
    private struct File: Decodable {
        struct Set: Decodable {
            var kernel: String
            var arches: [String: Arch]
        }
        struct Arch: Decodable {
            var available: Bool
            var reason: String?
            var sha256: String?
            var files: [String: String]?
        }
        var arches: [String]
        var sets: [String: Set]
    }

    /// Every set × architecture, by kernel version and then in the manifest's architecture order.
    static func pairs(root: URL = PackageLocation.root()) throws -> [PinnedPair] {
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: root.appendingPathComponent("headers/sets.json")))
        let sets = file.sets.sorted { kernelOrder($0.value.kernel).lexicographicallyPrecedes(kernelOrder($1.value.kernel)) }
        return sets.flatMap { name, set in
            file.arches.compactMap { architecture in
                set.arches[architecture].map { arch in
                    PinnedPair(
                        set: name, kernel: set.kernel, architecture: architecture,
                        unavailableReason: arch.available ? nil : arch.reason ?? "marked unavailable in headers/sets.json")
                }
            }
        }
    }

    /// What sets.json pins for a pair: the files (relative path → sha256) and their combined checksum.
    static func pinnedFiles(_ pair: PinnedPair, root: URL = PackageLocation.root()) throws -> (files: [String: String], sha256: String) {
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: root.appendingPathComponent("headers/sets.json")))
        let arch = file.sets[pair.set]?.arches[pair.architecture]
        return (arch?.files ?? [:], arch?.sha256 ?? "")
    }

    /// The pairs, or none when sets.json cannot be read (the test then fails on its own).
    static let all: [PinnedPair] = (try? pairs()) ?? []

    private static func kernelOrder(_ version: String) -> [Int] {
        version.split(separator: ".").map { Int($0) ?? 0 }
    }
}
