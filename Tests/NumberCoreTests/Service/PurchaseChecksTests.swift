import Foundation
import Testing

@testable import NumberCore

/// What a purchase checks before it asks the provider anything, and how many of one account's purchases check their
/// numbers at the provider at once. A purchase any of numberd's own checks refuses — a suspended account, a balance
/// too low, a price over the caller's limit, a number held here — costs no provider call (it used to search or look
/// up every number first, and a refused purchase gives its purchase cap back, so one account could keep the shared
/// HTTP client busy for everyone); past those, at most `purchaseChecksInFlightPerAccountMax` purchases of an account
/// check at the provider at once, the others waiting their turn.
@Suite("Purchases: checks before the provider, and the provider checks in turn")
struct PurchaseChecksTests {
    static let phones = (0..<12).map { "+1415555\(String(format: "%04d", 100 + $0))" }

    /// Why a NUMBER_UNAVAILABLE refusal refused its number: its message after "<number> is not available: ".
    static func why(_ error: NumberError?) -> String? {
        error?.message.split(separator: ": ", maxSplits: 1).last.map(String.init)
    }

    /// A purchase of `phone` for `account`, started in a task of its own.
    static func buying(_ h: Harness, _ account: String, _ phone: String) -> Task<PurchaseResult, any Error> {
        Task { try await h.service.purchase(PurchaseRequest(accountId: account, phoneNumbers: [phone], country: "US")) }
    }

    /// Provider calls a refused purchase made: prices, searches, look-ups, buys.
    static func providerCalls(_ provider: FakeProvider) -> Int {
        provider.calls(.price) + provider.calls(.search) + provider.calls(.lookUp) + provider.calls(.buy)
    }

    @Test(
        "a suspended account, a balance too low, a price over the limit, a number held here: refused, no provider call",
        arguments: StoreKind.allCases)
    func refusedBeforeTheProvider(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let rich = try await h.account(funds: 10_000, name: "Rich")
        let owned = try await h.buy([Self.phones[0]], for: rich.id).numbers[0]
        let poor = try await h.account(funds: 100, name: "Poor")
        let suspended = try await h.account(funds: 10_000, name: "Suspended")
        _ = try await h.service.setAccountStatus(suspended.id, .suspended)
        h.provider.stock(Array(Self.phones[1...]))
        // The price's cache cold (a new numberd): none of these needs it.
        h.clock.advance(by: TimeInterval(h.config.caches.priceTTLSeconds + 1))
        var before = Self.providerCalls(h.provider)

        func refusal(_ accountId: String, _ phones: [String], maxMonthlyFee: Int64? = nil) async -> NumberError? {
            await numberError {
                _ = try await h.service.purchase(
                    PurchaseRequest(
                        accountId: accountId, phoneNumbers: phones, country: "US", maxMonthlyFee: maxMonthlyFee))
            }
        }
        let inactive = await refusal(suspended.id, [Self.phones[1]])
        #expect(inactive?.reason == .accountInactive)
        let mine = await refusal(rich.id, [owned.phoneNumber])
        #expect(mine?.reason == .numberUnavailable && mine?.message.contains("this account owns it already") == true)
        #expect(Self.providerCalls(h.provider) == before, "not even the price")
        // The price (asked once, then cached) is all the rest cost.
        _ = try await h.service.quote(country: "US", type: .local)
        before = Self.providerCalls(h.provider)
        let broke = await refusal(poor.id, [Self.phones[1]])
        #expect(broke?.reason == .insufficientBalance && broke?.details["shortfall"] != nil)
        // Another tenant's number: an account without the money is told so, as for any number (an authorization
        // review: refused NUMBER_UNAVAILABLE before the balance, it told a broke tenant which numbers others hold)...
        let theirs = await refusal(poor.id, [owned.phoneNumber])
        #expect(theirs?.reason == .insufficientBalance, "\(String(describing: theirs))")
        // ... and one with it, in the words a number the provider does not offer gets: nothing says someone holds it.
        let other = try await h.account(funds: 10_000, name: "Other")
        let funded = await refusal(other.id, [owned.phoneNumber])
        #expect(funded?.reason == .numberUnavailable, "\(String(describing: funded))")
        #expect(funded?.message.contains("the provider does not offer it as a US local number") == true)
        let tooDear = await refusal(rich.id, [Self.phones[1]], maxMonthlyFee: 1)
        #expect(tooDear?.reason == .priceChanged, "\(String(describing: tooDear))")
        #expect(Self.providerCalls(h.provider) == before, "no provider call for either")
        // Word for word what a number the provider does not offer gets (a search says so): a hint about +1's other
        // countries once told the two apart.
        let nobodys = await refusal(other.id, ["+14155559999"])
        #expect(nobodys?.reason == .numberUnavailable, "\(String(describing: nobodys))")
        #expect(Self.why(funded) == Self.why(nobodys), "\(String(describing: funded)) \(String(describing: nobodys))")
        // In a request of two, the refusal names the number it would name were the held one not offered: the first
        // refused in the request's order (the held one was refused before any look-up, wherever it stood).
        let heldSecond = await refusal(other.id, ["+14155559999", owned.phoneNumber])
        #expect(heldSecond?.details["phoneNumber"] == "+14155559999", "\(String(describing: heldSecond))")
        let heldFirst = await refusal(other.id, [owned.phoneNumber, "+14155559999"])
        #expect(heldFirst?.details["phoneNumber"] == owned.phoneNumber, "\(String(describing: heldFirst))")
        #expect(Self.why(heldFirst) == Self.why(nobodys), "\(String(describing: heldFirst))")
        try await h.check()
    }

    @Test(
        "another tenant's purchase in progress reads as a number not offered; the account's own as its purchase in progress",
        arguments: StoreKind.allCases)
    func purchaseInProgressIsNotNamed(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let first = try await h.account(funds: 10_000, name: "First")
        let second = try await h.account(funds: 10_000, name: "Second")
        let phone = Self.phones[0]
        h.provider.stock([phone])
        h.provider.inject(.hangThenDo(gate: "buy"), on: .buy, phoneNumber: phone)
        let buying = Self.buying(h, first.id, phone)
        await h.provider.waitUntilReached("buy")
        let notOffered = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: second.id, phoneNumbers: ["+14155559999"], country: "US"))
        }
        for (account, expected) in [
            (second.id, Self.why(notOffered) ?? "not offered"),
            (first.id, "a purchase of it by this account is in progress"),
        ] {
            let refused = await numberError {
                _ = try await h.service.purchase(
                    PurchaseRequest(accountId: account, phoneNumbers: [phone], country: "US"))
            }
            #expect(refused?.reason == .numberUnavailable && Self.why(refused) == expected, "\(account)")
        }
        h.provider.resume("buy")
        #expect(try await buying.value.numbers.count == 1)
        try await h.check()
    }

    @Test(
        "at most 8 of an account's purchases check at the provider at once; the 9th waits its turn, another account not",
        arguments: StoreKind.allCases)
    func checksInTurn(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let busy = try await h.account(funds: 100_000, name: "Busy")
        let other = try await h.account(funds: 100_000, name: "Other")
        h.provider.stock(Self.phones)
        _ = try await h.service.quote(country: "US", type: .local)
        // Each unsearched number is looked up by an anchored search, which waits at the gate.
        h.provider.inject(.hangThenDo(gate: "search"), on: .search, times: 10)
        let purchases = (0..<9).map { index in
            Self.buying(h, busy.id, Self.phones[index])
        }
        try await waitUntil { h.service.purchaseChecks.counts(busy.id) == (holding: 8, waiting: 1) }
        // Another account is not held up by the busy one.
        let elsewhere = Self.buying(h, other.id, Self.phones[9])
        // 8 of the busy account's at Twilio, 1 of the other's: the 9th waits.
        try await waitUntil { h.provider.calls(.search) == 9 }
        #expect(h.service.purchaseChecks.counts(busy.id) == (holding: 8, waiting: 1))
        h.provider.resume("search")
        for purchase in purchases { #expect(try await purchase.value.numbers.count == 1) }
        #expect(try await elsewhere.value.numbers.count == 1)
        #expect(h.service.purchaseChecks.counts(busy.id) == (holding: 0, waiting: 0))
        #expect(h.provider.calls(.search) == 10)
        try await h.check()
    }

    @Test(
        "a purchase waiting its turn whose caller goes away leaves the queue, nothing held",
        arguments: StoreKind.allCases)
    func cancelledWhileWaiting(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.purchaseChecksInFlightPerAccountMax = 1
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 10_000)
        h.provider.stock(Self.phones)
        _ = try await h.service.quote(country: "US", type: .local)
        h.provider.inject(.hangThenDo(gate: "search"), on: .search, times: 2)
        let first = Self.buying(h, account.id, Self.phones[0])
        try await waitUntil { h.service.purchaseChecks.counts(account.id) == (holding: 1, waiting: 0) }
        let waiting = Self.buying(h, account.id, Self.phones[1])
        try await waitUntil { h.service.purchaseChecks.counts(account.id) == (holding: 1, waiting: 1) }
        waiting.cancel()
        let cancelled = await numberError { _ = try await waiting.value }
        #expect(cancelled?.code == .cancelled, "\(String(describing: cancelled))")
        #expect(h.service.purchaseChecks.counts(account.id) == (holding: 1, waiting: 0))
        h.provider.resume("search")
        #expect(try await first.value.numbers.count == 1)
        #expect(h.provider.calls(.search) == 1, "the cancelled purchase asked nothing")
        #expect(try h.service.balance(accountId: account.id).held == 0)
        try await h.check()
    }

    @Test(
        "past the waiting limit a purchase is refused RESOURCE_EXHAUSTED / PURCHASES_BUSY at once",
        arguments: StoreKind.allCases)
    func queueFull(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.purchaseChecksInFlightPerAccountMax = 1
        config.limits.purchaseChecksWaitingPerAccountMax = 0
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 10_000)
        h.provider.stock(Self.phones)
        _ = try await h.service.quote(country: "US", type: .local)
        h.provider.inject(.hangThenDo(gate: "search"), on: .search)
        let first = Self.buying(h, account.id, Self.phones[0])
        try await waitUntil { h.service.purchaseChecks.counts(account.id) == (holding: 1, waiting: 0) }
        let refused = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [Self.phones[1]], country: "US"))
        }
        #expect(
            refused?.code == .resourceExhausted && refused?.reason == .purchasesBusy, "\(String(describing: refused))")
        h.provider.resume("search")
        #expect(try await first.value.numbers.count == 1)
        try await h.check()
    }

    /// The checks that refuse a purchase come after its replay: a keyed retry of a purchase that went through still
    /// answers its result once the account is suspended or its balance spent.
    @Test(
        "a keyed retry of a finished purchase replays after the account was suspended or drained",
        arguments: StoreKind.allCases)
    func replayComesFirst(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        h.provider.stock([Self.phones[0]])
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: [Self.phones[0]], country: "US", idempotencyKey: "buy-once")
        let first = try await h.service.purchase(request)
        let balance = try h.service.balance(accountId: account.id).available
        _ = try await h.service.adjustBalance(accountId: account.id, amount: -balance, reason: "drained")
        _ = try await h.service.setAccountStatus(account.id, .suspended)
        let before = Self.providerCalls(h.provider)
        let again = try await h.service.purchase(request)
        #expect(again.replayed && again.numbers.map(\.id) == first.numbers.map(\.id))
        #expect(Self.providerCalls(h.provider) == before)
        try await h.check()
    }

    @Test("the limits' ranges are checked")
    func limitRanges() {
        var config = NumberServiceConfig.defaults
        config.limits.purchaseChecksInFlightPerAccountMax = 0
        config.limits.purchaseChecksInFlightMax = 100_001
        config.limits.purchaseChecksWaitingPerAccountMax = -1
        config.limits.purchaseChecksWaitingMax = 1_000_001
        #expect(config.validate().filter { $0.contains("purchaseChecks") }.count == 4)
        #expect(NumberServiceConfig.defaults.validate().isEmpty)
    }
}
