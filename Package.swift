// swift-tools-version: 6.1
import PackageDescription

/// libclang from Debian's `libclang-dev` (LLVM 14). Only the generator's targets use it;
/// no library product depends on them, so consumers need neither libclang nor these flags.
let libclangInclude: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I/usr/lib/llvm-14/include"])]

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
        // What the runtime's hot path needs from C: a direct `ioctl` call and a thread-local token.
        .target(name: "CKVMShims", path: "Sources/CKVMShims"),
        // Opt-in fallbacks for hosts without hardware virtualization, whose KVM emulates guest kernel
        // code (PVM): emulator probe, kernel int3/fwait/ldmxcsr/stmxcsr, the user-mode syscall fix-up.
        .target(name: "EmulatedCPL0Fallbacks", dependencies: ["KVM", "KVMBindings"], path: "Sources/EmulatedCPL0Fallbacks"),

        // MARK: Examples (executable documentation, built only on the public runtime API)
        .executableTarget(name: "hello", dependencies: ["KVM"], path: "Sources/Examples/hello", linkerSettings: smallVMM),
        .executableTarget(name: "boot", dependencies: ["KVM", "EmulatedCPL0Fallbacks"], path: "Sources/Examples/boot", linkerSettings: smallVMM),
        .executableTarget(
            name: "long-mode", dependencies: ["KVM", "ExampleSupport"], path: "Sources/Examples/long-mode",
            linkerSettings: smallVMM),
        .executableTarget(
            name: "devices", dependencies: ["KVM", "ExampleSupport"], path: "Sources/Examples/devices",
            linkerSettings: smallVMM),
        // The hand-assembler the examples share, so that each example's guest code reads the same way.
        .target(name: "ExampleSupport", path: "Sources/Examples/ExampleSupport"),

        // MARK: Generator
        .systemLibrary(name: "CClang", path: "Generator/CClang"),
        .target(
            name: "BindgenCore",
            dependencies: ["CClang"],
            path: "Generator/Sources/BindgenCore",
            swiftSettings: libclangInclude
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
            dependencies: ["KVM", "EmulatedCPL0Fallbacks"],
            path: "Tests/KVMTests"
        ),
        // Runs the example executables as subprocesses (SwiftPM builds them with the tests; see
        // Tests/ExamplesTests/ExampleRunner.swift for how the tests find them). Depends on `boot` only for
        // unit tests of its decoders (`@testable import boot`: LZ4, payload formats).
        .testTarget(name: "ExamplesTests", dependencies: ["boot"], path: "Tests/ExamplesTests"),
    ],
    swiftLanguageModes: [.v6]
)
