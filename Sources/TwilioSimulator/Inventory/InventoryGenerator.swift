/// Builds the simulated carrier inventory from a seed: the same seed always gives the same numbers.
public struct InventoryGenerator: Sendable {
    /// The seed of the generator.
    public var seed: UInt64
    /// How many numbers each numbering area holds.
    public var numbersPerArea: Int

    /// Creates a generator; `numbersPerArea` must be positive and small enough to fit the block.
    public init(seed: UInt64, numbersPerArea: Int) {
        precondition(numbersPerArea > 0 && numbersPerArea <= 10_000, "numbersPerArea out of range")
        self.seed = seed
        self.numbersPerArea = numbersPerArea
    }

    /// Every number of every country, grouped by country and type, each group in a seeded shuffled order
    /// (so an unfiltered search spreads over areas, as Twilio's does).
    public func generate(countries: [CountryCatalog]) -> [AvailableNumber] {
        var rng = SeededGenerator(seed: seed)
        var seen = Set<String>()
        var result: [AvailableNumber] = []
        for country in countries {
            for type in country.types {
                var group: [AvailableNumber] = []
                for area in country.areas where area.type == type {
                    group += numbers(in: area, seen: &seen, rng: &rng)
                }
                group.shuffle(using: &rng)
                result += group
            }
        }
        return result
    }

    private func numbers(
        in area: NumberingArea, seen: inout Set<String>, rng: inout SeededGenerator
    ) -> [AvailableNumber] {
        var made: [AvailableNumber] = []
        while made.count < numbersPerArea {
            let digits = area.prefix + subscriber(for: area, rng: &rng)
            guard seen.insert(digits).inserted else { continue }
            made.append(number(digits: digits, area: area, rng: &rng))
        }
        return made
    }

    private func subscriber(for area: NumberingArea, rng: inout SeededGenerator) -> String {
        var text = ""
        if area.isNANP {
            // NXX exchange: first digit 2-9, never an N11 service code or the fictional 555.
            repeat {
                text = String([rng.digit(2...9), rng.digit(), rng.digit()])
            } while text.hasSuffix("11") || text == "555"
        } else if area.prefix == "4420" {
            text = String(["3", "7", "8"].randomElement(using: &rng)!)
        } else {
            text = String(rng.digit(area.type == .mobile ? 0...9 : 2...9))
        }
        while text.count < area.subscriberDigits {
            text.append(rng.digit())
        }
        return text
    }

    private func number(digits: String, area: NumberingArea, rng: inout SeededGenerator) -> AvailableNumber {
        let e164 = "+" + digits
        return AvailableNumber(
            phoneNumber: e164,
            friendlyName: area.isNANP ? InventoryGenerator.nanpFriendlyName(digits) : e164,
            isoCountry: area.isoCountry, type: area.type, lata: area.lata, locality: area.locality,
            rateCenter: area.rateCenter,
            latitude: area.latitude.map { InventoryGenerator.coordinate($0 + jitter(&rng)) },
            longitude: area.longitude.map { InventoryGenerator.coordinate($0 + jitter(&rng)) },
            region: area.region,
            postalCode: area.postalCodes.isEmpty ? nil : area.postalCodes.randomElement(using: &rng),
            addressRequirements: area.addressRequirements,
            beta: rng.chance(0.05),
            capabilities: capabilities(for: area, rng: &rng))
    }

    private func jitter(_ rng: inout SeededGenerator) -> Double {
        Double(Int.random(in: -50_000...50_000, using: &rng)) / 1_000_000
    }

    private func capabilities(for area: NumberingArea, rng: inout SeededGenerator) -> Capabilities {
        switch (area.isNANP, area.type) {
        case (true, .local):
            let sms = rng.chance(0.9)
            return Capabilities(voice: rng.chance(0.95), sms: sms, mms: sms && rng.chance(0.8), fax: rng.chance(0.3))
        case (true, _):
            return Capabilities(voice: true, sms: rng.chance(0.8), mms: false, fax: rng.chance(0.2))
        case (false, .mobile):
            return Capabilities(voice: rng.chance(0.9), sms: true, mms: false, fax: false)
        case (false, .local):
            return Capabilities(voice: true, sms: rng.chance(0.1), mms: false, fax: rng.chance(0.2))
        case (false, .tollFree):
            return Capabilities(voice: true, sms: false, mms: false, fax: false)
        }
    }

    /// `(415) 555-0123` for the E.164 digits `14155550123`.
    public static func nanpFriendlyName(_ digits: String) -> String {
        let d = Array(digits.dropFirst())
        return "(\(String(d[0..<3]))) \(String(d[3..<6]))-\(String(d[6..<10]))"
    }

    /// A coordinate with exactly six decimals (`"37.774900"`, `"-122.419400"`), as Twilio's strings.
    public static func coordinate(_ value: Double) -> String {
        let micro = Int((value * 1_000_000).rounded())
        let sign = micro < 0 ? "-" : ""
        let magnitude = abs(micro)
        let fraction = String(magnitude % 1_000_000)
        return sign + String(magnitude / 1_000_000) + "." + String(repeating: "0", count: 6 - fraction.count)
            + fraction
    }
}
