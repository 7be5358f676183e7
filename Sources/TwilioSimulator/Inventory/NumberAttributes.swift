/// Derives what an inventory number looks like from its hash, so the same number always looks the same.
enum NumberAttributes {
    /// Builds the search result for `digits` (values 0...9) of `area` from its 64-bit `hash`.
    static func make(digits: [UInt8], area: NumberingArea, hash: UInt64) -> AvailableNumber {
        var rng = SeededGenerator(seed: hash)
        let text = String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
        let e164 = "+" + text
        return AvailableNumber(
            phoneNumber: e164,
            friendlyName: area.isNANP ? nanpFriendlyName(text) : e164,
            isoCountry: area.isoCountry, type: area.type, lata: area.lata, locality: area.locality,
            rateCenter: area.rateCenter,
            latitude: area.latitude.map { coordinate($0 + jitter(&rng)) },
            longitude: area.longitude.map { coordinate($0 + jitter(&rng)) },
            region: area.region,
            postalCode: area.postalCodes.isEmpty
                ? nil : area.postalCodes[Int(rng.next() % UInt64(area.postalCodes.count))],
            addressRequirements: area.addressRequirements,
            beta: rng.chance(0.05),
            capabilities: capabilities(for: area, rng: &rng))
    }

    private static func jitter(_ rng: inout SeededGenerator) -> Double {
        Double(Int(rng.next() % 100_001) - 50_000) / 1_000_000
    }

    /// Capability mixes by kind of number: US/CA local mostly voice+SMS+MMS, some fax; toll-free voice, often SMS;
    /// UK landlines voice (rarely SMS); UK mobiles SMS, mostly voice.
    private static func capabilities(for area: NumberingArea, rng: inout SeededGenerator) -> Capabilities {
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
    static func nanpFriendlyName(_ digits: String) -> String {
        let d = Array(digits.dropFirst())
        return "(\(String(d[0..<3]))) \(String(d[3..<6]))-\(String(d[6..<10]))"
    }

    /// A coordinate with exactly six decimals (`"37.774900"`, `"-122.419400"`), as Twilio's strings.
    static func coordinate(_ value: Double) -> String {
        let micro = Int((value * 1_000_000).rounded())
        let sign = micro < 0 ? "-" : ""
        let magnitude = abs(micro)
        let fraction = String(magnitude % 1_000_000)
        return sign + String(magnitude / 1_000_000) + "." + String(repeating: "0", count: 6 - fraction.count)
            + fraction
    }
}
