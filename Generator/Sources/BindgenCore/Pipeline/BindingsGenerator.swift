import Foundation

/// The whole pipeline: model → plans → Swift sources, manifest and layout table.
public struct BindingsGenerator {
    public var model: BindingModel
    /// The include directories as the manifest records them, as given (relative to the package root for
    /// pinned sets); a system's `/usr/include` is searched after its multiarch folder.
    public var includeDirectoriesForManifest: [String]
    /// The command that regenerates these files, for their headers and for `check`'s message.
    public var regenerateCommand: String

    public init(model: BindingModel, includeDirectoriesForManifest: [String], regenerateCommand: String) {
        self.model = model
        self.includeDirectoriesForManifest = includeDirectoriesForManifest
        self.regenerateCommand = regenerateCommand
    }

    public static func sourcesDirectory(architecture: String) -> String { "Sources/KVMBindings/Generated/\(architecture)" }
    public static func testsDirectory(architecture: String) -> String { "Tests/KVMBindingsTests/Generated/\(architecture)" }
    /// Both folders one architecture's generation owns.
    public static func generatedDirectories(architecture: String) -> [String] {
        [sourcesDirectory(architecture: architecture), testsDirectory(architecture: architecture)]
    }
    /// The architectures whose bindings are committed under `root` (folders of `Sources/KVMBindings/Generated`).
    public static func committedArchitectures(under root: String) -> [String] {
        let directory = root + "/" + sourcesDirectory(architecture: "")
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { FileManager.default.fileExists(atPath: directory + $0 + "/KVMBindings.manifest.json") }.sorted()
    }

    /// `linux/kvm.h` → `LinuxKVMRecords`, `asm/kvm.h` → `ArchKVMRecords`, `asm/ptrace.h` → `ArchPtraceRecords`.
    static func recordsFileName(header: String) -> String {
        let parts = header.split(separator: "/").map(String.init)
        let directory = parts.count > 1 ? parts[0] : ""
        let stem = (parts.last ?? header).replacingOccurrences(of: ".h", with: "")
        let prefix = directory == "asm" ? "Arch" : SwiftNames.typeName(directory.replacingOccurrences(of: "-", with: "_"))
        return prefix + SwiftNames.typeName(stem) + "Records"
    }

    public func generate(headerLines: [Substring]) throws(BindgenError) -> [GeneratedFile] {
        let architecture = model.triple.architecture
        var plans: [TypePlan] = []
        for record in model.records {
            guard let tag = record.tag else { continue }
            let name = SwiftNames.typeName(tag)
            plans.append(
                try TypePlanner(topLevelTag: tag).plan(
                    record: record, name: name, qualifiedName: name, cDescription: "\(record.kind.rawValue) \(tag)"))
        }
        let plansByTag = Dictionary(uniqueKeysWithValues: zip(model.records.compactMap(\.tag), plans))
        let sections = ResolvedIoctl.sections(in: headerLines)
        var ioctls: [ResolvedIoctl] = []
        var model = model
        for ioctl in model.ioctls {
            do {
                ioctls.append(try ResolvedIoctl.resolve(ioctl, plans: plansByTag, sections: sections))
            } catch .argumentUnavailable(let reason) {
                model.skipped.append(
                    SkippedDeclaration(name: ioctl.name, kind: .ioctl, reason: "`\(ioctl.definition)`: \(reason)", location: ioctl.location))
            }
        }
        model.ioctls = ioctls.map(\.ioctl)
        let constants = try ConstantRenderer().render(model.constants)
        let groupNames = ConstantGroups.all.map(\.typeName)
        if let clash = plans.map(\.name).first(where: groupNames.contains) {
            throw .overrideMismatch("struct \(clash) and the constant group \(clash) would share a Swift name; rename the group")
        }

        let recordRenderer = RecordRenderer()
        var files: [GeneratedFile] = []
        for file in Set(plans.map(\.record.location.file)).sorted() {
            var source = SwiftSource()
            for plan in plans where plan.record.location.file == file {
                recordRenderer.render(plan, isTopLevel: true, into: &source)
                recordRenderer.renderFlexibleArrayConformance(
                    plan, count: plan.record.tag.flatMap { FlexibleArrayCounts.table[$0] }, into: &source)
                source.line()
            }
            files.append(swiftFile(Self.recordsFileName(header: file), imports: [], body: source, input: file))
        }
        files.append(swiftFile("Constants", imports: [], body: constants.source, input: model.header.path))
        files.append(swiftFile("Ioctls", imports: [], body: IoctlRenderer().renderDescriptors(ioctls), input: model.header.path))
        files.append(
            swiftFile(
                "IoctlWrappers", imports: ["SystemPackage"], body: IoctlRenderer().renderWrappers(ioctls),
                input: model.header.path))
        files.append(
            GeneratedFile(
                path: Self.sourcesDirectory(architecture: architecture) + "/KVMBindings.manifest.json",
                contents: ManifestRenderer().render(
                    model: model, includeDirectories: includeDirectoriesForManifest, plans: plans, ioctls: ioctls,
                    constantExpressions: constants.expressions)))
        let table = LayoutTableRenderer().render(
            plans: plans, ioctls: ioctls,
            constantExpressions: model.constants.compactMap { constant in
                constants.expressions[constant.name].map { (constant.name, $0) }
            },
            architecture: architecture)
        var tableFile = swiftFile("SwiftLayoutTable", imports: ["@testable import KVMBindings"], body: table, input: model.header.path)
        tableFile.path = Self.testsDirectory(architecture: architecture) + "/"
            + Self.swiftFileName("SwiftLayoutTable", architecture: architecture)
        files.append(tableFile)
        return files
    }

    /// `Constants.arm64.swift`: one target holds every architecture's files, and SwiftPM needs their
    /// names to differ (it names object files after them).
    static func swiftFileName(_ base: String, architecture: String) -> String { "\(base).\(architecture).swift" }

    private func swiftFile(_ base: String, imports: [String], body: SwiftSource, input: String) -> GeneratedFile {
        var text = """
            // DO NOT EDIT. Generated by kvm-bindgen from \(input) (header set \(model.header.set), \
            \(model.header.files.count) files, sha256 \(model.header.sha256)) for \(model.triple.triple).
            // Regenerate with: \(regenerateCommand)

            #if arch(\(model.triple.swiftArchitecture))

            """
        for module in imports {
            text += (module.hasPrefix("@") ? module : "import \(module)") + "\n"
        }
        if !imports.isEmpty { text += "\n" }
        var trimmed = body.text
        while trimmed.hasSuffix("\n") { trimmed.removeLast() }
        text += trimmed.isEmpty ? "" : trimmed + "\n"
        text += "\n#endif\n"
        let architecture = model.triple.architecture
        return GeneratedFile(
            path: Self.sourcesDirectory(architecture: architecture) + "/" + Self.swiftFileName(base, architecture: architecture),
            contents: text)
    }
}
