import Foundation
import NumberCore
import Testing

/// Searches go to the provider one request each, and every account's provider calls share one HTTP client: an account
/// may have `searchesInFlightPerAccountMax` searches at the provider at once, and the price cache, when full, makes
/// room by its oldest entry. Found by a review of limits: one read-only key's searches, within its rate limit, filled
/// the client's queue and every other account's purchases, releases and billing failed.
@Suite("Searches in flight per account, and the price cache")
struct SearchLimitTests {
    static let query = ProviderSearchQuery(country: "US", limit: 1)

    /// Runs `body` while one search of each of `holders` is held at the provider (all of them reached it), then lets
    /// them finish and checks each found its number.
    static func withHeldSearches(
        _ h: Harness, of holders: [Account], _ body: () async throws -> Void
    ) async throws {
        h.provider.stock(["+14155550100"])
        h.provider.inject(.hangThenDo(gate: "search"), on: .search, times: holders.count)
        let service = h.service
        try await withThrowingTaskGroup(of: Int.self) { group in
            defer { h.provider.resume("search") }
            for account in holders {
                group.addTask { try await service.search(Self.query, accountId: account.id).numbers.count }
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while h.provider.calls(.search) < holders.count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            try #require(h.provider.calls(.search) == holders.count)
            try await body()
            h.provider.resume("search")
            for try await count in group { #expect(count == 1) }
        }
    }

    /// The last call a revoked key could still have answered after waiting (the fifty-first session's reviews): a
    /// search at the provider. Its answer now checks the key again, as statements, purchases and trunk work do.
    @Test(
        "a search that waited at the provider for a key revoked meanwhile is refused; the account's other key searches")
    func keyRevokedWhileSearching() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account()
        let key = try await h.service.createApiKey(name: "leaked", scope: .readOnly, accountId: account.id).key
        h.provider.stock(["+14155550100"])
        h.provider.inject(.hangThenDo(gate: "search"), on: .search)
        let (service, accountId, keyId) = (h.service, account.id, key.id)
        let searching = Task { try await service.search(Self.query, accountId: accountId, authorizedBy: keyId) }
        await h.provider.waitUntilReached("search")
        _ = try await h.service.revokeApiKey(keyId: key.id)
        h.provider.resume("search")
        let refused = await numberError { _ = try await searching.value }
        #expect(refused?.reason == .invalidCredentials, "\(String(describing: refused))")
        let other = try await h.service.createApiKey(name: "kept", scope: .readOnly, accountId: account.id).key
        let found = try await h.service.search(Self.query, accountId: account.id, authorizedBy: other.id)
        #expect(found.numbers.map(\.number.phoneNumber) == ["+14155550100"])
    }

    @Test("exactly the limit of searches runs at once; the next is refused; another account still searches")
    func searchesInFlightAtTheEdge() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.searchesInFlightPerAccountMax = 3
        let h = try await Harness(.memory, config: config)
        let busy = try await h.account(name: "Busy")
        let other = try await h.account(name: "Other")
        try await Self.withHeldSearches(h, of: [busy, busy, busy]) {
            let refused = await numberError { _ = try await h.service.search(Self.query, accountId: busy.id) }
            #expect(refused?.code == .resourceExhausted && refused?.reason == .searchesBusy)
            #expect(refused?.details["max"] == "3")
            #expect(h.provider.calls(.search) == 3, "refused before the provider")
            let found = try await h.service.search(Self.query, accountId: other.id).numbers.count
            #expect(found == 1)
        }
        // All three ended: the account searches again, as many as before.
        #expect(try await h.service.search(Self.query, accountId: busy.id).numbers.count == 1)
    }

    @Test("the limit for all accounts: exactly it runs at once, the next search of any account is refused")
    func searchesInFlightInAll() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.searchesInFlightMax = 2
        let h = try await Harness(.memory, config: config)
        let first = try await h.account(name: "First")
        let second = try await h.account(name: "Second")
        let third = try await h.account(name: "Third")
        try await Self.withHeldSearches(h, of: [first, second]) {
            let refused = await numberError { _ = try await h.service.search(Self.query, accountId: third.id) }
            #expect(refused?.reason == .searchesBusy && refused?.details["max"] == "2")
            #expect(refused?.message.contains("for all accounts") == true)
        }
        #expect(try await h.service.search(Self.query, accountId: third.id).numbers.count == 1)
    }

    @Test("a failed or refused search gives its place back")
    func failuresGiveThePlaceBack() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.searchesInFlightPerAccountMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account()
        h.provider.stock(["+14155550100"])
        h.provider.inject(.fail(.unavailable), on: .search, times: 2)
        for _ in 0..<2 {
            #expect(
                await numberError { _ = try await h.service.search(Self.query, accountId: account.id) }?.reason
                    == .providerUnavailable)
        }
        #expect(try await h.service.search(Self.query, accountId: account.id).numbers.count == 1)
    }

    @Test("the limit's range is checked")
    func limitRange() {
        var config = NumberServiceConfig.defaults
        for (value, valid) in [(0, false), (1, true), (1000, true), (1001, false)] {
            config.limits.searchesInFlightPerAccountMax = value
            #expect(config.validate().isEmpty == valid, "\(value)")
        }
        config.limits.searchesInFlightPerAccountMax = 8
        for (value, valid) in [(0, false), (1, true), (100_000, true), (100_001, false)] {
            config.limits.searchesInFlightMax = value
            #expect(config.validate().isEmpty == valid, "\(value)")
        }
        config.limits.searchesInFlightMax = 512
        // The limit a search without one gets: 1...searchResultsMax.
        for (value, valid) in [(0, false), (1, true), (100, true), (101, false)] {
            config.limits.searchResultsDefault = value
            #expect(config.validate().isEmpty == valid, "\(value)")
        }
    }

    @Test("a full price cache makes room by its oldest price, not by dropping all of them")
    func priceCacheEvictsTheOldest() async throws {
        var config = NumberServiceConfig.defaults
        config.caches.priceEntriesMax = 2
        config.caches.priceTTLSeconds = 3_600
        let h = try await Harness(.memory, config: config)
        _ = try await h.service.quote(country: "US", type: .local)
        h.clock.advance(by: 1)
        _ = try await h.service.quote(country: "GB", type: .local)
        h.clock.advance(by: 1)
        _ = try await h.service.quote(country: "US", type: .tollFree)
        #expect(h.provider.calls(.price) == 3)
        // GB and US toll-free are still cached; US local, the oldest, went.
        _ = try await h.service.quote(country: "GB", type: .local)
        _ = try await h.service.quote(country: "US", type: .tollFree)
        #expect(h.provider.calls(.price) == 3)
        _ = try await h.service.quote(country: "US", type: .local)
        #expect(h.provider.calls(.price) == 4)
    }
}
