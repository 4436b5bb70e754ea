import ArgumentParser
import BindgenCore
import Foundation

struct DumpModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-model", abstract: "Print the parsed model (the pipeline's middle stage) as JSON.")

    @OptionGroup var headers: HeaderSetOptions

    func run() throws {
        do {
            let model = try headers.resolve().parser.parse()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(model))
            print()
        } catch let error as BindgenError {
            throw ValidationFailure(error.description)
        }
    }
}
