// swift-tools-version: 6.1
// The Swift peer of the exit round-trip benchmark, built on the public runtime like a user's VMM.
import PackageDescription

let package = Package(
    name: "ExitRoundTrip",
    dependencies: [.package(name: "swift-kvm", path: "../..")],
    targets: [
        .executableTarget(
            name: "swift-out-loop",
            dependencies: [.product(name: "KVM", package: "swift-kvm")]
        )
    ],
    swiftLanguageModes: [.v6]
)
