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

    /// The odds of each capability for one kind of number (1: always, 0: never); SMS is drawn first, then voice,
    /// then MMS (only for a number with SMS), then fax, and a certain or impossible capability draws nothing.
    private struct CapabilityOdds {
        var voice: Double
        var sms: Double
        /// The odds of MMS for a number with SMS.
        var mms: Double
        var fax: Double
    }

    /// Capability mixes by kind of number: US/CA local mostly voice+SMS+MMS, some fax; toll-free voice, often SMS,
    /// never MMS; UK landlines voice (rarely SMS); UK mobiles SMS, mostly voice; UK toll-free voice only.
    private static func capabilityOdds(for area: NumberingArea) -> CapabilityOdds {
        switch (area.isNANP, area.type) {
        case (true, .local): CapabilityOdds(voice: 0.95, sms: 0.9, mms: 0.8, fax: 0.3)
        case (true, _): CapabilityOdds(voice: 1, sms: 0.8, mms: 0, fax: 0.2)
        case (false, .mobile): CapabilityOdds(voice: 0.9, sms: 1, mms: 0, fax: 0)
        case (false, .local): CapabilityOdds(voice: 1, sms: 0.1, mms: 0, fax: 0.2)
        case (false, .tollFree): CapabilityOdds(voice: 1, sms: 0, mms: 0, fax: 0)
        }
    }

    /// The capabilities some number of `area` can have: a search asking for one it is false for can match no number
    /// of the area, so the area is never scanned (`SearchFilter.matchesArea`).
    static func possibleCapabilities(for area: NumberingArea) -> Capabilities {
        let odds = capabilityOdds(for: area)
        return Capabilities(
            voice: odds.voice > 0, sms: odds.sms > 0, mms: odds.sms > 0 && odds.mms > 0, fax: odds.fax > 0)
    }

    /// One number's capabilities, drawn by the odds of its area's kind: never one `possibleCapabilities` rules out.
    private static func capabilities(for area: NumberingArea, rng: inout SeededGenerator) -> Capabilities {
        let odds = capabilityOdds(for: area)
        let sms = draw(odds.sms, &rng)
        let voice = draw(odds.voice, &rng)
        let mms = sms && draw(odds.mms, &rng)
        return Capabilities(voice: voice, sms: sms, mms: mms, fax: draw(odds.fax, &rng))
    }

    /// True with odds `p`, drawing from `rng` only when the outcome is uncertain (0 < `p` < 1).
    private static func draw(_ p: Double, _ rng: inout SeededGenerator) -> Bool {
        p >= 1 || (p > 0 && rng.chance(p))
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
