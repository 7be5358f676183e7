/// Prices per country with the time they were fetched; bounded, oldest fetch evicted first.
struct TwilioPriceCache: Sendable {
    struct Entry: Sendable {
        var prices: [NumberType: ProviderPrice]
        var fetchedAt: ContinuousClock.Instant
    }

    let countriesMax: Int
    private var entries: [String: Entry] = [:]

    init(countriesMax: Int) {
        self.countriesMax = countriesMax
    }

    /// The entry of `country` if fetched less than `ttl` before `now`.
    func fresh(_ country: String, now: ContinuousClock.Instant, ttl: Duration) -> Entry? {
        guard let entry = entries[country], now - entry.fetchedAt < ttl else { return nil }
        return entry
    }

    mutating func store(_ country: String, _ entry: Entry) {
        if entries[country] == nil, entries.count >= countriesMax,
            let oldest = entries.min(by: { $0.value.fetchedAt < $1.value.fetchedAt })?.key
        {
            entries.removeValue(forKey: oldest)
        }
        entries[country] = entry
    }

    var count: Int { entries.count }
}
