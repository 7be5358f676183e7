import Foundation
import NumberCore
import Testing

@Suite("Configured limits at their edges")
struct LimitTests {
    @Test("accountsMax, apiKeysMax and descriptionLengthMax")
    func counts() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.accountsMax = 2
        config.limits.apiKeysMax = 1
        config.limits.descriptionLengthMax = 10
        let h = try await Harness(.memory, config: config)
        let account = try await h.service.createAccount(name: "a", currency: "USD")
        _ = try await h.service.createAccount(name: "b", currency: "USD")
        let third = await numberError { _ = try await h.service.createAccount(name: "c", currency: "USD") }
        #expect(third?.code == .resourceExhausted)
        _ = try await h.service.createApiKey(name: "k", scope: .admin, accountId: nil)
        let secondKey = await numberError {
            _ = try await h.service.createApiKey(name: "k2", scope: .admin, accountId: nil)
        }
        #expect(secondKey?.code == .resourceExhausted)
        _ = try await h.service.addFunds(
            accountId: account.id, amount: 1, description: String(repeating: "d", count: 10))
        let long = await numberError {
            _ = try await h.service.addFunds(
                accountId: account.id, amount: 1, description: String(repeating: "d", count: 11))
        }
        #expect(long?.reason == .limitExceeded)
        try await h.check()
    }

    @Test("provider prices are cached for priceTTLSeconds, then fetched again")
    func priceCache() async throws {
        var config = NumberServiceConfig.defaults
        config.caches.priceTTLSeconds = 60
        let h = try await Harness(.memory, config: config)
        _ = try await h.service.quote(country: "US", type: .local)
        h.clock.advance(by: 59)
        _ = try await h.service.quote(country: "US", type: .local)
        #expect(h.provider.calls(.price) == 1)
        h.provider.setPrice(ProviderPrice(country: "US", type: .local, monthlyCostMicros: 3_000_000, currency: "USD"))
        h.clock.advance(by: 1)
        let fresh = try await h.service.quote(country: "US", type: .local)
        #expect(h.provider.calls(.price) == 2 && fresh.monthlyFee == 345)
    }

    @Test("configuration is validated: keys must live at least 24 hours")
    func configValidation() {
        var config = NumberServiceConfig.defaults
        #expect(config.validate().isEmpty)
        config.idempotency.ttlSeconds = 86_399
        #expect(config.validate() == ["idempotency.ttlSeconds must be at least 86400"])
        config = .defaults
        config.limits.pageSizeDefault = 501
        #expect(config.validate().count == 1)
    }

    @Test("a billing run's limits keep each of its decisions within one journal record, at their edges")
    func billingLimitsFitARecord() {
        var config = NumberServiceConfig.defaults
        config.billing.actionsPerRunMax = 512  // 512 × 2 KiB = the 1 MiB record limit
        config.billing.expiredKeysPerRunMax = 3_276  // 256 + 3,276 × 320 bytes ≤ 1 MiB
        #expect(config.validate().isEmpty)
        config.billing.actionsPerRunMax = 513
        #expect(config.validate() == ["billing.actionsPerRunMax must be in 1...512"])
        config.billing.actionsPerRunMax = 0
        #expect(config.validate() == ["billing.actionsPerRunMax must be in 1...512"])
        config.billing.actionsPerRunMax = 1
        config.billing.expiredKeysPerRunMax = 3_277
        #expect(config.validate() == ["billing.expiredKeysPerRunMax must be in 1...3276"])
        config.billing.expiredKeysPerRunMax = 0
        #expect(config.validate() == ["billing.expiredKeysPerRunMax must be in 1...3276"])
    }

    @Test("opening a service with an invalid configuration throws")
    func openRefusesBadConfig() async {
        var config = NumberServiceConfig.defaults
        config.idempotency.ttlSeconds = 3_600
        let error = await numberError {
            _ = try await NumberService.open(store: InMemoryNumberStore(), provider: FakeProvider(), config: config)
        }
        #expect(error?.code == .invalidArgument)
    }
}
