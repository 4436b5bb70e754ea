// swift-tools-version: 6.1
// A consumer of the KVMBindings and LinuxLoader libraries, as a user's package would depend on it (by path here).
// Building it must not build the generator or need libclang or kernel headers.
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [.package(name: "swift-kvm", path: "../..")],
    targets: [
        .executableTarget(
            name: "Consumer",
            dependencies: [
                .product(name: "KVMBindings", package: "swift-kvm"),
                .product(name: "LinuxLoader", package: "swift-kvm"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
