final class GeneratorCampaign: Campaign {
    init(settings: CampaignSettings) throws { throw Violation("not yet") }
    func run(iteration: Int, random: inout FuzzRandom) throws -> String { "" }
    func describe(iteration: Int, random: inout FuzzRandom) -> String { "{}" }
    func figures() -> [(String, String)] { [] }
}
