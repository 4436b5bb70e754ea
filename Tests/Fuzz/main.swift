// kvm-fuzz: the fuzzing campaigns' runner. Scripts/fuzz.sh drives it, one child process per batch of
// cases, so that a crash (a Swift trap, a signal) or a hang of the code under test ends only that
// process and is reported with the seed and case that caused it.
//
//   kvm-fuzz run CAMPAIGN --seed S --start I --count N [--deadline UNIX_SECONDS] [--progress FILE]
//            [--results FILE] [--failures DIR] [--hang-seconds H] [--set KEY=VALUE ...]
//   kvm-fuzz describe CAMPAIGN --seed S --iteration I     (the case's input as JSON, not run)
//
// Campaigns: guests-real, guests-long0, guests-long3, devices, devices-virtio, loader, generator, resources.

import Foundation
import Glibc

struct Arguments {
    var command = ""
    var campaign = ""
    var seed: UInt64 = 1
    var start = 0
    var count = 1
    var deadline: Double?
    var progress: String?
    var results: String?
    var failures = ".build/fuzz-failures"
    var hangSeconds = 20.0
    var settings: [String: String] = [:]

    init(_ list: [String]) {
        var items = list.dropFirst()
        func value(_ name: String) -> String {
            guard let next = items.popFirst() else { usage("\(name) needs a value") }
            return next
        }
        command = items.popFirst() ?? ""
        campaign = items.popFirst() ?? ""
        while let item = items.popFirst() {
            switch item {
            case "--seed": seed = Arguments.number(value(item))
            case "--start", "--iteration": start = Int(Arguments.number(value(item)))
            case "--count": count = Int(Arguments.number(value(item)))
            case "--deadline": deadline = Double(value(item))
            case "--progress": progress = value(item)
            case "--results": results = value(item)
            case "--failures": failures = value(item)
            case "--hang-seconds": hangSeconds = Double(value(item)) ?? 20
            case "--set":
                let pair = value(item).split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else { usage("--set takes KEY=VALUE") }
                settings[pair[0]] = pair[1]
            default: usage("unknown argument \(item)")
            }
        }
    }

    static func number(_ text: String) -> UInt64 {
        if text.hasPrefix("0x"), let value = UInt64(text.dropFirst(2), radix: 16) { return value }
        guard let value = UInt64(text) else { usage("not a number: \(text)") }
        return value
    }
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("kvm-fuzz: \(message)\nusage: kvm-fuzz run|describe CAMPAIGN --seed S ...\n".utf8))
    exit(2)
}

func makeCampaign(_ arguments: Arguments) throws -> any Campaign {
    let settings = CampaignSettings(arguments.settings)
    switch arguments.campaign {
    case "guests-real": return try GuestCampaign(mode: .real, settings: settings)
    case "guests-long0": return try GuestCampaign(mode: .long0, settings: settings)
    case "guests-long3": return try GuestCampaign(mode: .long3, settings: settings)
    case "devices": return try DeviceCampaign(settings: settings)
    case "devices-virtio": return try VirtioCampaign(settings: settings)
    case "resources": return try ResourceCampaign(settings: settings)
    case "generator": return try GeneratorCampaign(settings: settings)
    case "loader": return try LoaderCampaign(settings: settings)
    default: usage("unknown campaign \(arguments.campaign)")
    }
}

/// `--set KEY=VALUE` options, read by each campaign.
struct CampaignSettings {
    let values: [String: String]
    init(_ values: [String: String]) { self.values = values }
    func int(_ key: String, default value: Int) -> Int { values[key].flatMap { Int($0) } ?? value }
    func double(_ key: String, default value: Double) -> Double { values[key].flatMap { Double($0) } ?? value }
    func string(_ key: String, default value: String) -> String { values[key] ?? value }
}

func writeAtomically(_ text: String, to path: String) {
    let temporary = path + ".tmp"
    try? text.write(toFile: temporary, atomically: false, encoding: .utf8)
    rename(temporary, path)
}

let arguments = Arguments(CommandLine.arguments)

switch arguments.command {
case "describe":
    let campaign = try makeCampaign(arguments)
    var random = FuzzRandom(seed: arguments.seed, iteration: arguments.start)
    print(campaign.describe(iteration: arguments.start, random: &random))
case "run":
    let campaign: any Campaign
    do {
        campaign = try makeCampaign(arguments)
    } catch {
        FileHandle.standardError.write(Data("kvm-fuzz: cannot set up \(arguments.campaign): \(error)\n".utf8))
        exit(3)
    }
    let tally = Tally()
    let progress = ProgressMarker(path: arguments.progress, hangSeconds: arguments.hangSeconds)
    progress.startMonitor()
    var done = 0
    var violations = 0
    var lastSnapshot = Clock.seconds
    func snapshot() {
        guard let path = arguments.results else { return }
        var lines = ["done \(done)", "violations \(violations)"]
        for (key, count) in tally.counts.sorted(by: { $0.key < $1.key }) { lines.append("outcome \(count) \(key)") }
        for (name, value) in campaign.figures() { lines.append("figure \(name) \(value)") }
        writeAtomically(lines.joined(separator: "\n") + "\n", to: path)
    }
    for iteration in arguments.start..<(arguments.start + arguments.count) {
        if let deadline = arguments.deadline, Date().timeIntervalSince1970 >= deadline { break }
        progress.begin(iteration)
        var random = FuzzRandom(seed: arguments.seed, iteration: iteration)
        // The harness's own check: a case that traps or never returns must be caught by fuzz.sh.
        if arguments.settings["inject-crash"] == String(iteration) { fatalError("kvm-fuzz: injected trap in case \(iteration)") }
        if arguments.settings["inject-hang"] == String(iteration) { while true { Clock.sleep(microseconds: 1_000_000) } }
        do {
            tally.add(try campaign.run(iteration: iteration, random: &random))
        } catch let violation as Violation {
            violations += 1
            tally.add("VIOLATION")
            var again = FuzzRandom(seed: arguments.seed, iteration: iteration)
            let input = campaign.describe(iteration: iteration, random: &again)
            try? FileManager.default.createDirectory(atPath: arguments.failures, withIntermediateDirectories: true)
            let path = "\(arguments.failures)/\(arguments.campaign)-\(arguments.seed)-\(iteration).json"
            let record = """
                {"campaign": "\(arguments.campaign)", "seed": \(arguments.seed), "iteration": \(iteration), \
                "kind": "violation", "message": \(jsonString(violation.description)), \
                "replay": "Scripts/fuzz.sh \(arguments.campaign) --seed \(arguments.seed) --start \(iteration) --iterations 1", \
                "input": \(input)}
                """
            writeAtomically(record + "\n", to: path)
            FileHandle.standardError.write(Data("kvm-fuzz: VIOLATION in case \(iteration): \(violation)\n  saved \(path)\n".utf8))
        } catch {
            tally.add("error: \(error)")
        }
        progress.end()
        done += 1
        if Clock.seconds - lastSnapshot > 1 {
            snapshot()
            lastSnapshot = Clock.seconds
        }
    }
    do {
        try campaign.finish()
    } catch {
        violations += 1
        tally.add("VIOLATION")
        FileHandle.standardError.write(Data("kvm-fuzz: VIOLATION at the end of the batch: \(error)\n".utf8))
    }
    snapshot()
    exit(violations == 0 ? 0 : 1)
default:
    usage("unknown command \(arguments.command)")
}

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}

func jsonBytes(_ bytes: [UInt8]) -> String { "\"" + bytes.map { String(format: "%02x", $0) }.joined() + "\"" }
func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }
