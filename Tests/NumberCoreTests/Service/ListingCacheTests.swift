import Foundation
import Testing

@testable import NumberCore

@Suite("The search listings cache: bounded, newest kept, O(1) per listing")
struct ListingCacheTests {
    static let start = Date(timeIntervalSince1970: 1_736_000_000)

    static func listing(_ index: Int) -> AvailableNumber {
        let phone = "+1415555" + String(format: "%04d", index)
        return AvailableNumber(
            phoneNumber: phone, friendlyName: phone, country: "US", type: .local,
            capabilities: NumberCapabilities(voice: true))
    }

    @Test("at the limit the oldest listing makes room: a new one is always kept", arguments: [1, 3, 100])
    func limit(entriesMax: Int) {
        var cache = ListingCache()
        for index in 0..<(entriesMax + 5) {
            cache.insert(Self.listing(index), at: Self.start.addingTimeInterval(Double(index)), entriesMax: entriesMax)
            #expect(cache.count == min(index + 1, entriesMax))
        }
        let now = Self.start.addingTimeInterval(1_000)
        for index in 0..<(entriesMax + 5) {
            let kept = cache.listing(for: Self.listing(index).phoneNumber, now: now, ttl: 3_600) != nil
            #expect(kept == (index >= 5), "listing \(index)")
        }
    }

    @Test("seen again at the same instant (a frozen clock, one search's page) is still the newest")
    func sameInstant() {
        var cache = ListingCache()
        for index in [0, 1, 0, 2] { cache.insert(Self.listing(index), at: Self.start, entriesMax: 2) }
        #expect(cache.count == 2)
        #expect(cache.listing(for: Self.listing(0).phoneNumber, now: Self.start, ttl: 60) != nil)
        #expect(cache.listing(for: Self.listing(1).phoneNumber, now: Self.start, ttl: 60) == nil)
        #expect(cache.listing(for: Self.listing(2).phoneNumber, now: Self.start, ttl: 60) != nil)
    }

    @Test("a listing seen again is the newest: it outlives older ones at the limit, and it expires from then")
    func seenAgain() {
        var cache = ListingCache()
        for index in 0..<3 { cache.insert(Self.listing(index), at: Self.start, entriesMax: 3) }
        let later = Self.start.addingTimeInterval(600)
        cache.insert(Self.listing(0), at: later, entriesMax: 3)
        cache.insert(Self.listing(3), at: later, entriesMax: 3)
        let phones = (0..<4).map { Self.listing($0).phoneNumber }
        #expect(cache.listing(for: phones[0], now: later, ttl: 3_600) != nil)
        #expect(cache.listing(for: phones[1], now: later, ttl: 3_600) == nil)
        #expect(cache.listing(for: phones[2], now: later, ttl: 3_600) != nil)
        // Expiry counts from the last sighting: at start + 3600 s the first sighting is an hour old, the second not.
        let hour = Self.start.addingTimeInterval(3_600)
        #expect(cache.listing(for: phones[0], now: hour, ttl: 3_600) != nil)
        #expect(cache.listing(for: phones[2], now: hour, ttl: 3_600) == nil)
        #expect(cache.listing(for: phones[0], now: later.addingTimeInterval(3_600), ttl: 3_600) == nil)
    }

    @Test(
        "the same numbers seen over and over keep the insertion order within about twice the entries, the clock still or not",
        arguments: [1.0, 0.0])
    func orderStaysBounded(secondsPerRound: Double) {
        var cache = ListingCache()
        var longest = 0
        for round in 0..<20_000 {
            let at = Self.start.addingTimeInterval(Double(round) * secondsPerRound)
            cache.insert(Self.listing(round % 10), at: at, entriesMax: 10_000)
            longest = max(longest, cache.order.count - cache.head)
        }
        #expect(cache.count == 10)
        #expect(longest <= 2 * 10 + 64 + 1)
        #expect(cache.order.count <= 2 * (2 * 10 + 64 + 1))
    }
}
