// swift-tools-version: 6.1
// A consumer of every library product of swift-kvm, as a user's package would depend on them (by path here).
// Building it must not build the generator or need libclang or kernel headers.
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [.package(name: "swift-kvm", path: "../..")],
    targets: [
        .executableTarget(
            name: "Consumer",
            dependencies: [
                "ACPITables", "DeviceBus", "EmulatedCPL0Fallbacks", "KVM", "KVMBindings", "LegacyDevices", "LinuxLoader",
                "VirtioDevices", "VirtioMMIO", "VirtioQueue", "X86Assembler", "X86Setup",
            ].map { .product(name: $0, package: "swift-kvm") }
        )
    ],
    swiftLanguageModes: [.v6]
)
