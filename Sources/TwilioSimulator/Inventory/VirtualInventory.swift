/// Twilio's inventory as a deterministic function of the seed: which numbers of each numbering area the carrier
/// holds, and what each looks like.
///
/// Nothing is materialised. A number belongs to the inventory when its digits are valid for its area and a seeded
/// hash of them falls under `densityPerMille` (default 5 %: about 400 000 numbers per US area code, so vanity
/// searches such as `Contains=STORM` find numbers, as on Twilio). Its attributes (capabilities, beta, postal code,
/// coordinates) derive from the same hash, so a number always looks the same.
public struct VirtualInventory: Sendable {
    /// The seed.
    public let seed: UInt64
    /// Share of valid numbers the carrier holds, per mille (1...1000).
    public let densityPerMille: Int
    /// Every numbering area of every country.
    public let areas: [NumberingArea]
    /// Countries sharing one prefix (NANP toll-free codes serve US and CA); the hash splits such blocks.
    private let sharers: [String: [String]]

    /// Creates the inventory of `countries`.
    public init(seed: UInt64, densityPerMille: Int, countries: [CountryCatalog] = CountryCatalog.all) {
        precondition((1...1000).contains(densityPerMille), "densityPerMille must be 1...1000")
        self.seed = seed
        self.densityPerMille = densityPerMille
        self.areas = countries.flatMap(\.areas)
        var sharers: [String: [String]] = [:]
        for area in areas { sharers[area.prefix, default: []].append(area.isoCountry) }
        self.sharers = sharers.filter { $0.value.count > 1 }
    }

    /// The inventory entry for an E.164 number, or nil when the carrier does not hold it.
    public func lookup(_ phoneNumber: String) -> AvailableNumber? {
        guard let (digits, holding) = areasHolding(phoneNumber) else { return nil }
        for area in holding {
            if let number = entry(digits.map { $0 - 48 }, area: area) { return number }
        }
        return nil
    }

    /// The numbering area an E.164 number falls in (its prefix, and as many digits as the area's numbers have),
    /// whether or not the carrier holds the number; of areas sharing the prefix, the first that has coordinates.
    /// Nil when no area knows it.
    public func area(of phoneNumber: String) -> NumberingArea? {
        guard let (_, holding) = areasHolding(phoneNumber) else { return nil }
        return holding.first { $0.latitude != nil && $0.longitude != nil } ?? holding.first
    }

    /// An E.164 number's ASCII digits and the areas whose prefix and length it has; nil when it is not `+` and digits.
    private func areasHolding(
        _ phoneNumber: String
    ) -> (digits: [UInt8], areas: LazyFilterSequence<[NumberingArea]>)? {
        guard phoneNumber.hasPrefix("+") else { return nil }
        let digits = Array(phoneNumber.utf8.dropFirst())
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return (
            digits,
            areas.lazy.filter {
                digits.count == $0.prefixDigits.count + $0.subscriberDigits && digits.starts(with: $0.prefixDigits)
            }
        )
    }

    /// Visits inventory numbers of `areas` in a seeded, area-interleaved order, matching `pattern` when given,
    /// until `visit` returns false or `scanMax` candidates were examined. Returns the candidates examined.
    @discardableResult
    public func enumerate(
        areas: [NumberingArea], pattern: ContainsPattern?, scanMax: Int, visit: (AvailableNumber) -> Bool
    ) -> Int {
        var streams = areas.flatMap { area in
            CandidateStream.streams(area: area, pattern: pattern, seed: seed)
        }
        var scanned = 0
        while !streams.isEmpty && scanned < scanMax {
            var index = 0
            while index < streams.count && scanned < scanMax {
                guard let digits = streams[index].next() else {
                    streams.remove(at: index)
                    continue
                }
                scanned += 1
                if let number = entry(digits, area: streams[index].area), !visit(number) { return scanned }
                index += 1
            }
        }
        return scanned
    }

    /// The entry for full E.164 digits (values 0...9) of `area`, or nil when not held.
    func entry(_ digits: [UInt8], area: NumberingArea) -> AvailableNumber? {
        guard area.acceptsSubscriber(digits[area.prefix.utf8.count...]) else { return nil }
        let hash = VirtualInventory.hash(digits, seed: seed)
        guard Int((hash >> 40) % 1000) < densityPerMille else { return nil }
        if let countries = sharers[area.prefix], countries[Int(hash % UInt64(countries.count))] != area.isoCountry {
            return nil
        }
        return NumberAttributes.make(digits: digits, area: area, hash: hash)
    }

    /// FNV-1a over the digits, finished with SplitMix64 and the seed.
    static func hash(_ digits: [UInt8], seed: UInt64) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for d in digits {
            h = (h ^ UInt64(d)) &* 0x0000_0100_0000_01B3
        }
        var generator = SeededGenerator(seed: h ^ seed)
        return generator.next()
    }
}

extension NumberingArea {
    /// The prefix as digit values (0...9) for matching; ASCII digits for `lookup`.
    var prefixDigits: [UInt8] { Array(prefix.utf8) }

    /// The prefix as digit values 0...9.
    var prefixValues: [UInt8] { prefix.utf8.map { $0 - 48 } }

    /// True when the subscriber digits are dialable in this area: NANP exchanges 2-9 and never N11 or 555;
    /// London 3/7/8; other UK geographic and free-phone numbers 2-9; mobiles any.
    func acceptsSubscriber(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.count == subscriberDigits, let first = s.first else { return false }
        if isNANP {
            let i = s.startIndex
            return first >= 2 && !(s[i + 1] == 1 && s[i + 2] == 1) && !(s[i] == 5 && s[i + 1] == 5 && s[i + 2] == 5)
        }
        if prefix == "4420" { return first == 3 || first == 7 || first == 8 }
        return type == .mobile || first >= 2
    }
}
