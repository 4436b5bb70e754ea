// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// The LLVM whose libclang the generator builds with: `KVM_BINDGEN_LLVM` (a version, `16`, or a prefix,
/// `/usr/lib/llvm-16`) when set, else the newest `/usr/lib/llvm-N` that has `include/clang-c/Index.h`
/// (Debian's and Ubuntu's `libclang-N-dev`, LLVM 14 through 19). Only the generator's targets use it; no
/// library product depends on them, so consumers need neither libclang nor these flags.
let llvmPrefix: String = {
    if let chosen = Context.environment["KVM_BINDGEN_LLVM"], !chosen.isEmpty {
        return chosen.hasPrefix("/") ? chosen : "/usr/lib/llvm-\(chosen)"
    }
    let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? [])
        .filter { $0.hasPrefix("llvm-") && FileManager.default.fileExists(atPath: "/usr/lib/\($0)/include/clang-c/Index.h") }
        .compactMap { Int($0.dropFirst("llvm-".count)) }
    return "/usr/lib/llvm-\(versions.max() ?? 14)"
}()
let libclangInclude: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I\(llvmPrefix)/include"])]
/// `libclang.so` is in the LLVM's own lib folder on every Debian and Ubuntu release.
let libclangLink: [LinkerSetting] = [
    .unsafeFlags(["-L\(llvmPrefix)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(llvmPrefix)/lib"]), .linkedLibrary("clang"),
]

/// How the example VMMs are linked, so that a VMM costs at most a few MiB of resident memory beyond its
/// guest's (Benchmarks/vmm-memory.sh measures it): one fully static executable (`-static-executable`: the
/// Swift runtime, libc and libstdc++ linked in, so no shared library is mapped and no dynamic
/// relocation is done at start-up), linked by lld with the functions the examples execute laid out
/// together (`--symbol-ordering-file`, Sources/Examples/executed-functions.order, which
/// Scripts/update-link-order.sh regenerates), so the pages of code they touch are few and adjacent.
/// Executables only: no library product uses these flags, so consumers of KVM and KVMBindings are
/// unaffected (copy them into a VMM's own executable target to get the same effect). Release builds
/// only: SwiftPM applies a target's linker settings to everything that links it, and the debug test
/// bundle links `boot` (for its decoders' unit tests) together with libclang, which has no static build.
let smallVMM: [LinkerSetting] = [
    .unsafeFlags(
        [
            "-static-executable", "-use-ld=lld",
            "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Sources/Examples/executed-functions.order",
            "-Xlinker", "--no-warn-symbol-ordering",
        ],
        .when(platforms: [.linux], configuration: .release))
]

let package = Package(
    name: "swift-kvm",
    products: [
        .library(name: "KVMBindings", targets: ["KVMBindings"]),
        .library(name: "KVM", targets: ["KVM"]),
        .library(name: "X86Setup", targets: ["X86Setup"]),
        .library(name: "X86Assembler", targets: ["X86Assembler"]),
        .library(name: "DeviceBus", targets: ["DeviceBus"]),
        .library(name: "LegacyDevices", targets: ["LegacyDevices"]),
        .library(name: "ACPITables", targets: ["ACPITables"]),
        .library(name: "VirtioQueue", targets: ["VirtioQueue"]),
        .library(name: "VirtioMMIO", targets: ["VirtioMMIO"]),
        .library(name: "VirtioDevices", targets: ["VirtioDevices"]),
        .library(name: "LinuxLoader", targets: ["LinuxLoader"]),
        .library(name: "EmulatedCPL0Fallbacks", targets: ["EmulatedCPL0Fallbacks"]),
        .executable(name: "kvm-bindgen", targets: ["kvm-bindgen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // MARK: Bindings (generated, committed; no libclang, no kernel headers)
        .target(
            name: "KVMBindings",
            dependencies: [.product(name: "SystemPackage", package: "swift-system")],
            path: "Sources/KVMBindings",
            exclude: ["x86_64", "arm64", "riscv64"].map { "Generated/\($0)/KVMBindings.manifest.json" }
        ),

        // MARK: Runtime (hand-written over the bindings)
        .target(
            name: "KVM",
            dependencies: ["KVMBindings", "CKVMShims", .product(name: "SystemPackage", package: "swift-system")],
            path: "Sources/KVM"
        ),
        // What the runtime needs from C: a direct `ioctl` call and a thread-local token for the hot path, and
        // direct calls to glibc extensions (eventfd, memfd_create, pthread_setname_np) that must link statically.
        .target(name: "CKVMShims", path: "Sources/CKVMShims"),
        // Opt-in fallbacks for hosts without hardware virtualization, whose KVM emulates guest kernel
        // code (PVM): emulator probe, kernel int3/fwait/ldmxcsr/stmxcsr, the user-mode syscall fix-up.
        .target(name: "EmulatedCPL0Fallbacks", dependencies: ["KVM", "KVMBindings", "X86Setup"], path: "Sources/EmulatedCPL0Fallbacks"),

        // MARK: x86 machine setup (descriptors, page tables, entry state, MSRs, CPUID) and the
        // x86 encoder for hand-written guests. Both compile to empty modules on other architectures.
        .target(name: "X86Setup", dependencies: ["KVM", "KVMBindings"], path: "Sources/X86Setup"),
        .target(name: "X86Assembler", path: "Sources/X86Assembler"),

        // MARK: Devices and ACPI (VMM building blocks)
        // Routes port I/O and MMIO exits to devices by address range.
        .target(name: "DeviceBus", dependencies: ["KVM"], path: "Sources/DeviceBus"),
        // The PC's legacy devices: 16550A UART, i8042, CMOS RTC, debug exit, ACPI power control.
        .target(name: "LegacyDevices", dependencies: ["DeviceBus", "KVM"], path: "Sources/LegacyDevices"),
        // ACPI tables (RSDP, XSDT, FADT, MADT, DSDT/SSDT) and an AML encoder; no dependencies.
        .target(name: "ACPITables", path: "Sources/ACPITables"),

        // MARK: Virtio (split virtqueues, the virtio-mmio transport, devices)
        // Split virtqueues over GuestMemory: descriptor chains walked and checked, used ring, suppression.
        .target(name: "VirtioQueue", dependencies: ["KVM"], path: "Sources/VirtioQueue"),
        // The virtio-mmio (version 2) register file as a BusDevice, the VirtioDevice protocol, workers.
        .target(
            name: "VirtioMMIO",
            dependencies: [
                "VirtioQueue", "DeviceBus", "KVM", "CVirtioShims", .product(name: "SystemPackage", package: "swift-system"),
            ], path: "Sources/VirtioMMIO"),
        // epoll, getrandom, fallocate, O_DIRECT and the TAP ioctls, which Swift's Glibc module does not export.
        .target(name: "CVirtioShims", path: "Sources/CVirtioShims"),
        // Block, console, entropy, network (TAP) and vsock devices: configuration + attachment, on VirtioDevice.
        .target(
            name: "VirtioDevices",
            dependencies: [
                "VirtioMMIO", "VirtioQueue", "KVM", "CVirtioShims", .product(name: "SystemPackage", package: "swift-system"),
            ], path: "Sources/VirtioDevices"),

        // MARK: Linux loader (bzImage, PVH vmlinux, multiboot; zero page, start_info, e820, initrd; decompressors)
        .target(name: "LinuxLoader", dependencies: ["KVM", "CLZMA", "CZstd"], path: "Sources/LinuxLoader"),
        // Debian's liblzma-dev and libzstd-dev (static archives too, for the fully static examples).
        .systemLibrary(name: "CLZMA", path: "Sources/CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // MARK: Examples (executable documentation, built only on the public runtime API)
        .executableTarget(name: "hello", dependencies: ["KVM"], path: "Sources/Examples/hello", linkerSettings: smallVMM),
        .executableTarget(
            name: "boot",
            dependencies: ["KVM", "X86Setup", "DeviceBus", "LegacyDevices", "ACPITables", "LinuxLoader", "EmulatedCPL0Fallbacks"],
            path: "Sources/Examples/boot", linkerSettings: smallVMM),
        .executableTarget(
            name: "microvm",
            dependencies: [
                "KVM", "X86Setup", "DeviceBus", "LegacyDevices", "ACPITables", "LinuxLoader", "EmulatedCPL0Fallbacks", "VirtioMMIO",
                "VirtioDevices",
            ],
            path: "Sources/Examples/microvm", linkerSettings: smallVMM),
        .executableTarget(
            name: "long-mode", dependencies: ["KVM", "X86Setup", "X86Assembler"], path: "Sources/Examples/long-mode",
            linkerSettings: smallVMM),
        .executableTarget(
            name: "devices", dependencies: ["KVM", "X86Assembler", "DeviceBus", "LegacyDevices"], path: "Sources/Examples/devices",
            linkerSettings: smallVMM),

        // MARK: Generator
        .systemLibrary(name: "CClang", path: "Generator/CClang"),
        .target(
            name: "BindgenCore",
            dependencies: ["CClang"],
            path: "Generator/Sources/BindgenCore",
            swiftSettings: libclangInclude,
            linkerSettings: libclangLink
        ),
        .executableTarget(
            name: "kvm-bindgen",
            dependencies: [
                "BindgenCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Generator/Sources/kvm-bindgen",
            swiftSettings: libclangInclude
        ),

        // MARK: Plugin
        .plugin(
            name: "RegenerateKVMBindings",
            capability: .command(
                intent: .custom(verb: "regenerate-kvm-bindings", description: "Regenerate the committed KVM bindings"),
                permissions: [.writeToPackageDirectory(reason: "Writes the regenerated bindings into Sources/ and Tests/")]
            ),
            dependencies: ["kvm-bindgen"],
            path: "Plugins/RegenerateKVMBindings"
        ),

        // MARK: Fuzzing (Scripts/fuzz.sh runs it; not a product)
        .executableTarget(
            name: "kvm-fuzz",
            dependencies: ["KVM", "KVMBindings", "X86Setup", "DeviceBus", "LegacyDevices", "LinuxLoader", "KernelImageFixtures",
                "VirtioMMIO", "VirtioDevices", "EmulatedCPL0Fallbacks",
            ],
            path: "Tests/Fuzz"),

        // MARK: Tests
        .testTarget(
            name: "BindgenCoreTests",
            dependencies: ["BindgenCore"],
            path: "Tests/BindgenCoreTests",
            exclude: ["Snippets"],
            swiftSettings: libclangInclude
        ),
        .testTarget(
            name: "KVMBindingsTests",
            // BindgenCore generates every pinned header set × architecture for the per-architecture oracle.
            dependencies: ["KVMBindings", "BindgenCore"],
            path: "Tests/KVMBindingsTests",
            swiftSettings: libclangInclude
        ),
        .testTarget(
            name: "KVMTests",
            dependencies: ["KVM", "X86Setup", "X86Assembler", "EmulatedCPL0Fallbacks", "TestSupport"],
            path: "Tests/KVMTests"
        ),
        // X86Assembler's encodings against GNU `as` (binutils), and X86Setup's tables, walks, CPUID
        // and a real VM entering long mode with them.
        .testTarget(name: "X86AssemblerTests", dependencies: ["X86Assembler"], path: "Tests/X86AssemblerTests"),
        .testTarget(
            name: "X86SetupTests", dependencies: ["X86Setup", "X86Assembler", "KVM", "KVMBindings", "TestSupport"],
            path: "Tests/X86SetupTests"),
        .testTarget(name: "DeviceBusTests", dependencies: ["DeviceBus", "KVM"], path: "Tests/DeviceBusTests"),
        .testTarget(
            name: "LegacyDevicesTests", dependencies: ["LegacyDevices", "DeviceBus", "KVM"], path: "Tests/LegacyDevicesTests"),
        .testTarget(name: "ACPITablesTests", dependencies: ["ACPITables"], path: "Tests/ACPITablesTests"),
        .testTarget(
            name: "VirtioTests", dependencies: ["VirtioQueue", "VirtioMMIO", "VirtioDevices", "DeviceBus", "KVM", "KVMBindings", "TestSupport"],
            path: "Tests/VirtioTests"),
        .testTarget(name: "LinuxLoaderTests", dependencies: ["LinuxLoader", "KVM", "KernelImageFixtures"], path: "Tests/LinuxLoaderTests"),
        // What several test targets share (the seeded generator).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Synthetic kernel images and compressed streams, shared by the loader's unit tests and boot's tests.
        .target(name: "KernelImageFixtures", dependencies: ["LinuxLoader"], path: "Tests/KernelImageFixtures"),
        // Runs the example executables as subprocesses (SwiftPM builds them with the tests; see
        // Tests/ExamplesTests/ExampleRunner.swift for how the tests find them). Depends on `boot` only for
        // unit tests of its profiler (`@testable import boot`).
        .testTarget(name: "ExamplesTests", dependencies: ["boot", "microvm", "KernelImageFixtures", "LinuxLoader"], path: "Tests/ExamplesTests",
            exclude: ["Fixtures"]),
        // The "Build a VMM" article's code (Sources/KVM/KVM.docc/BuildAVMM.md), compiled and run.
        .testTarget(
            name: "DocumentationTests",
            dependencies: ["KVM", "KVMBindings", "X86Setup", "X86Assembler", "DeviceBus", "LegacyDevices", "LinuxLoader", "KernelImageFixtures"],
            path: "Tests/DocumentationTests"),
    ],
    swiftLanguageModes: [.v6]
)
