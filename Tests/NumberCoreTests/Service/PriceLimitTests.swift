import Foundation
import NumberCore
import Testing

/// Price protection on purchases: `maxMonthlyFee` / `maxSetupFee` refuse a current price above what the caller
/// agreed to (`PRICE_CHANGED`) before anything is held or bought; at or below them the current price is charged.
/// US local numbers cost 133 a month and no setup fee, toll-free 248 and 200 (the fake provider's costs + 15 %).
@Suite("Purchase price limits")
struct PriceLimitTests {
    /// What a refused purchase must leave untouched: the journal, the ledger and every provider call count.
    struct Untouched: Equatable {
        var events: UInt64
        var balance: BalanceSummary
        var transactions: Int
        var providerCalls: [Int]

        init(_ h: Harness, _ accountId: String) throws {
            events = h.service.durableState().eventCount
            balance = try h.service.balance(accountId: accountId)
            transactions = try h.service.listTransactions(accountId: accountId).total
            providerCalls = [FakeProvider.Operation.search, .price, .buy, .release, .setTrunk, .lookUp].map {
                h.provider.calls($0)
            }
        }
    }

    @Test(
        "a fee above its limit is refused with the current price, before any intent, hold or provider call",
        arguments: StoreKind.allCases)
    func aboveLimitIsRefused(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        // Searched, as a caller that saw a price would have: the listings and the prices are cached, so the refusals
        // below must reach the provider for nothing at all.
        h.provider.stock(["+14155550100"])
        h.provider.stock(["+18005550100"], type: .tollFree)
        _ = try await h.service.search(ProviderSearchQuery(country: "US"), accountId: account.id)
        _ = try await h.service.search(ProviderSearchQuery(country: "US", type: .tollFree), accountId: account.id)
        let before = try Untouched(h, account.id)

        let monthly = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(
                    accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", maxMonthlyFee: 132,
                    maxSetupFee: 0))
        }
        #expect(monthly?.code == .failedPrecondition && monthly?.reason == .priceChanged)
        #expect(
            monthly?.details
                == [
                    "setupFee": "0", "monthlyFee": "133", "currency": "USD", "maxMonthlyFee": "132", "maxSetupFee": "0",
                ])
        #expect(
            monthly?.message
                == "the monthly fee is 1.33 USD per number, above the limit of 1.32 USD (maxMonthlyFee)"
        )

        let setup = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(
                    accountId: account.id, phoneNumbers: ["+18005550100"], country: "US", type: .tollFree,
                    maxSetupFee: 199))
        }
        #expect(setup?.reason == .priceChanged)
        #expect(setup?.details == ["setupFee": "200", "monthlyFee": "248", "currency": "USD", "maxSetupFee": "199"])
        #expect(setup?.message.contains("the setup fee is 2.00 USD per number, above the limit of 1.99 USD") == true)

        let both = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(
                    accountId: account.id, phoneNumbers: ["+18005550100"], country: "US", type: .tollFree,
                    maxMonthlyFee: 0, maxSetupFee: 0))
        }
        #expect(
            both?.message.contains("monthly fee is 2.48 USD") == true
                && both?.message.contains("setup fee is 2.00 USD") == true)

        #expect(try Untouched(h, account.id) == before)
        #expect(h.service.durableState().intents.isEmpty && h.provider.ownedPhoneNumbers.isEmpty)
        try await h.check()
    }

    @Test(
        "a price at or below the limits buys and charges the current price",
        arguments: StoreKind.allCases,
        [(133, 0), (134, 1), (100_000_000, 100_000_000), (nil, 0), (133, nil), (nil, nil)] as [(Int64?, Int64?)])
    func atOrBelowLimitBuys(kind: StoreKind, limits: (Int64?, Int64?)) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        let bought = try await h.service.purchase(
            PurchaseRequest(
                accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", maxMonthlyFee: limits.0,
                maxSetupFee: limits.1))
        #expect(bought.numbers.map(\.monthlyFee) == [133] && bought.numbers.map(\.setupFee) == [0])
        #expect(bought.transactions.map(\.amount) == [-133])
        #expect(try h.service.balance(accountId: account.id).balance == 867)
        try await h.check()
    }

    @Test(
        "the price a search showed protects the purchase after the price cache expires: a rise is refused, a fall is charged",
        arguments: StoreKind.allCases)
    func priceMovesAfterSearch(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        h.provider.stock(["+14155550100", "+14155550101"])
        let shown = try #require(
            try await h.service.search(ProviderSearchQuery(country: "US", areaCode: "415"), accountId: account.id)
                .numbers.first?.price)
        #expect(shown == PricingPolicy.Quote(setupFee: 0, monthlyFee: 133, currency: "USD"))
        let asShown = { (phone: String) in
            PurchaseRequest(
                accountId: account.id, phoneNumbers: [phone], country: "US", maxMonthlyFee: shown.monthlyFee,
                maxSetupFee: shown.setupFee)
        }

        // The provider's cost rises and the hour of the price cache runs out: 3.00 × 1.15 = 3.45.
        h.provider.setPrice(ProviderPrice(country: "US", type: .local, monthlyCostMicros: 3_000_000, currency: "USD"))
        h.clock.advance(by: TimeInterval(h.config.caches.priceTTLSeconds))
        let before = try Untouched(h, account.id)
        let rose = await numberError { _ = try await h.service.purchase(asShown("+14155550100")) }
        #expect(rose?.reason == .priceChanged && rose?.details["monthlyFee"] == "345")
        #expect(try Untouched(h, account.id).events == before.events && h.provider.calls(.buy) == 0)

        // It falls below what was shown: the lower current price is charged.
        h.provider.setPrice(ProviderPrice(country: "US", type: .local, monthlyCostMicros: 1_000_000, currency: "USD"))
        h.clock.advance(by: TimeInterval(h.config.caches.priceTTLSeconds))
        let fell = try await h.service.purchase(asShown("+14155550100"))
        #expect(fell.transactions.map(\.amount) == [-115] && fell.numbers.map(\.monthlyFee) == [115])
        #expect(try h.service.balance(accountId: account.id).balance == 10_000 - 115)
        try await h.check()
    }

    @Test(
        "a negative limit, or one above feeMax, is an invalid argument that charges nothing and asks no provider",
        arguments: StoreKind.allCases)
    func limitValidation(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        let feeMax = h.config.pricing.feeMax
        let request = { (monthly: Int64?, setup: Int64?) in
            PurchaseRequest(
                accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", maxMonthlyFee: monthly,
                maxSetupFee: setup)
        }
        let before = try Untouched(h, account.id)
        let cases: [(PurchaseRequest, NumberError.Reason, [String: String])] = [
            (request(-1, nil), .invalidField, ["field": "max_monthly_fee"]),
            (request(nil, -1), .invalidField, ["field": "max_setup_fee"]),
            (request(Int64.min, 0), .invalidField, ["field": "max_monthly_fee"]),
            (request(feeMax + 1, nil), .limitExceeded, ["field": "max_monthly_fee", "max": String(feeMax)]),
            (request(0, Int64.max), .limitExceeded, ["field": "max_setup_fee", "max": String(feeMax)]),
        ]
        for (bad, reason, details) in cases {
            let error = await numberError { _ = try await h.service.purchase(bad) }
            #expect(error?.code == .invalidArgument && error?.reason == reason, "\(bad)")
            #expect(error?.details == details, "\(bad)")
        }
        #expect(try Untouched(h, account.id) == before)
        // feeMax itself is a limit like any other.
        let bought = try await h.service.purchase(request(feeMax, feeMax))
        #expect(bought.transactions.map(\.amount) == [-133])
        try await h.check()
    }

    @Test(
        "the limits are part of the idempotency key's parameters: the same limits replay (even after a price rise), others are refused",
        arguments: StoreKind.allCases)
    func limitsAreInTheFingerprint(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        h.provider.stock(["+14155550100"])
        var request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "order-7",
            maxMonthlyFee: 133, maxSetupFee: 0)
        let first = try await h.service.purchase(request)
        // A retry after the price rose gets the first purchase, at its price, not PRICE_CHANGED.
        h.provider.setPrice(ProviderPrice(country: "US", type: .local, monthlyCostMicros: 3_000_000, currency: "USD"))
        h.clock.advance(by: TimeInterval(h.config.caches.priceTTLSeconds))
        try await h.restart()
        let retry = try await h.service.purchase(request)
        #expect(retry.replayed && retry.numbers.map(\.id) == first.numbers.map(\.id))
        #expect(retry.transactions.map(\.amount) == [-133])

        for (monthly, setup) in [(200, 0), (nil, 0), (133, nil), (nil, nil), (0, 133)] as [(Int64?, Int64?)] {
            request.maxMonthlyFee = monthly
            request.maxSetupFee = setup
            let reused = await numberError { _ = try await h.service.purchase(request) }
            #expect(
                reused?.reason == .idempotencyKeyReused, "\(String(describing: monthly)) \(String(describing: setup))")
        }
        #expect(h.provider.calls(.buy) == 1)
        try await h.check()
    }

    @Test(
        "a refusal records nothing under its idempotency key: the same key with a higher limit buys",
        arguments: StoreKind.allCases)
    func refusalFreesTheKey(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        var request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "k",
            maxMonthlyFee: 100)
        let refused = await numberError { _ = try await h.service.purchase(request) }
        #expect(refused?.reason == .priceChanged)
        #expect(h.service.durableState().idempotency.isEmpty)
        request.maxMonthlyFee = 133
        let bought = try await h.service.purchase(request)
        #expect(!bought.replayed && bought.transactions.map(\.amount) == [-133])
        try await h.check()
    }

    @Test(
        "a purchase without limits keeps the fingerprint earlier versions journaled, so their keys still replay",
        arguments: StoreKind.allCases)
    func fingerprintWithoutLimitsIsUnchanged(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "before-limits")
        let first = try await h.service.purchase(request)
        // SHA-256 of "purchase|US|local|+14155550100|-|-|", what the versions before price limits wrote.
        let record = try #require(h.service.durableState().idempotency.values.first { $0.key == "before-limits" })
        #expect(record.fingerprint == "854431cd10ce270a356240ad7d67bba4533a11ac6b18c6be66ec774bebd9a5e7")
        try await h.restart()
        let retry = try await h.service.purchase(request)
        #expect(retry.replayed && retry.numbers.map(\.id) == first.numbers.map(\.id))
        try await h.check()
    }
}
