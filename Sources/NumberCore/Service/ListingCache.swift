import Foundation

/// Search listings by E.164 for the purchases that follow a search, bounded by a count and a time to live. At the
/// limit the entry seen longest ago makes room, expired or not, so a new listing is always kept; every operation
/// costs O(1) amortized (a full cache used to be filtered whole on each insertion, under the service's lock).
struct ListingCache {
    private var entries: [String: (listing: AvailableNumber, seenAt: Date, serial: UInt64)] = [:]
    /// Insertion order, oldest first from `head`, each position naming the insertion by its serial; a position whose
    /// serial is no longer its entry's (seen again since, or evicted) is skipped.
    private(set) var order: [(phoneNumber: String, serial: UInt64)] = []
    private(set) var head = 0
    private var nextSerial: UInt64 = 0

    /// How many listings are kept.
    var count: Int { entries.count }

    /// The listing of `phoneNumber` if it was seen less than `ttl` seconds before `now`.
    func listing(for phoneNumber: String, now: Date, ttl: TimeInterval) -> AvailableNumber? {
        guard let entry = entries[phoneNumber], entry.seenAt.addingTimeInterval(ttl) > now else { return nil }
        return entry.listing
    }

    /// Keeps `listing` as seen at `now`, evicting the oldest entries beyond `entriesMax` (≥ 1).
    mutating func insert(_ listing: AvailableNumber, at now: Date, entriesMax: Int) {
        precondition(entriesMax >= 1, "listingEntriesMax must be positive")
        nextSerial += 1
        entries[listing.phoneNumber] = (listing, now, nextSerial)
        order.append((listing.phoneNumber, nextSerial))
        while entries.count > entriesMax, head < order.count {
            let oldest = order[head]
            head += 1
            if entries[oldest.phoneNumber]?.serial == oldest.serial { entries.removeValue(forKey: oldest.phoneNumber) }
        }
        compactIfSparse()
    }

    /// Drops the skipped positions once they are most of `order`, so it stays within about twice the entries
    /// however often the same numbers are seen again.
    private mutating func compactIfSparse() {
        let live = order.count - head
        guard live > 2 * entries.count + 64 || head > live else { return }
        order = order[head...].filter { entries[$0.phoneNumber]?.serial == $0.serial }
        head = 0
    }
}
