import Foundation
import NumberAPI
import NumberClient
import NumberCore
import NumberServer
import Synchronization
import TestSupport
import Testing

/// A PurchaseNumbers request whose idempotency key stands for an earlier purchase is not charged to the account's
/// purchase cap (it can only replay that purchase, so a client at its cap still learns its result). A review found two
/// ways past the cap: the check that a request is such a retry did not compare the request (a key reused with other
/// numbers counted as a retry until the purchase refused it), and it was made before, not with, the purchase's own
/// look-up of the key — a key that expired between the two bought the numbers uncharged. A retry now runs as
/// replay-only: should the key be gone by the time the purchase looks, it buys nothing and is charged as new.
@Suite("The purchase cap and keyed retries")
struct PurchaseCapRetryTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// A clock that moves by the next of `steps` after each reading.
    final class ScriptedClock: NumberClock {
        private let state = Mutex((now: Date(timeIntervalSince1970: 1_767_225_600), steps: [TimeInterval]()))

        func now() -> Date {
            state.withLock { state in
                let now = state.now
                if !state.steps.isEmpty { state.now += state.steps.removeFirst() }
                return now
            }
        }

        func set(_ date: Date, thenStep steps: [TimeInterval] = []) { state.withLock { $0 = (date, steps) } }
    }

    /// A provider of a few numbers that can be bought, released and bought again.
    final class StockProvider: NumberProvider {
        let stock = ["+14155550100", "+14155550101"]
        let owned = Mutex<[String: String]>([:])

        private func listing(_ phone: String) -> NumberCore.AvailableNumber {
            NumberCore.AvailableNumber(
                phoneNumber: phone, friendlyName: phone, country: "US", type: .local,
                capabilities: NumberCapabilities(voice: true))
        }

        func search(_ query: ProviderSearchQuery) async throws -> [NumberCore.AvailableNumber] {
            let owned = owned.withLock { $0 }
            return stock.filter { owned[$0] == nil && $0.hasPrefix(query.contains ?? "") }.map(listing)
        }

        func price(country: String, type: NumberCore.NumberType) async throws -> ProviderPrice {
            ProviderPrice(country: "US", type: .local, monthlyCostMicros: 1_150_000, currency: "USD")
        }

        func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber {
            let sid = "PN" + String(repeating: "0", count: 20) + phoneNumber.dropFirst()
            owned.withLock { $0[phoneNumber] = sid }
            return ProvisionedNumber(
                sid: sid, phoneNumber: phoneNumber, friendlyName: phoneNumber, trunkSid: trunkSid,
                capabilities: NumberCapabilities(voice: true), dateCreated: Date())
        }

        func release(sid: String) async throws { owned.withLock { $0 = $0.filter { $0.value != sid } } }
        func setTrunk(sid: String, trunkSid: String?) async throws {}

        func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? {
            guard let sid = owned.withLock({ $0[phoneNumber] }) else { return nil }
            return ProvisionedNumber(
                sid: sid, phoneNumber: phoneNumber, friendlyName: phoneNumber,
                capabilities: NumberCapabilities(voice: true), dateCreated: Date())
        }
    }

    /// A core with a cap of one number an hour, served over TLS; `body` gets the clock, the core and a client of an
    /// account that bought +14155550100 with key K and released it.
    func withBoughtAndReleased(
        _ body: (ScriptedClock, NumberService, NumbersClient, String) async throws -> Void
    ) async throws {
        let clock = ScriptedClock()
        let provider = StockProvider()
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: provider, clock: clock, logger: quietLogger)
        let account = try await service.createAccount(name: "Capped", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        let key = try await service.createApiKey(name: "k", scope: .account, accountId: account.id)
        var router = RPCRouter()
        NumbersAPI(service: service, rateLimiter: RateLimiter(limits: .init(purchasedNumbersPerHour: 1)))
            .register(into: &router)
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port, apiKey: key.secret)) { client in
                let bought = try await client.purchaseNumbers(
                    PurchaseNumbersRequest(country: "US", numbers: [provider.stock[0]]),
                    options: CallOptions(idempotencyKey: "K"))
                #expect(!bought.replayed)
                _ = try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.numbers[0].number.id))
                try await body(clock, service, client, account.id)
            }
        }
    }

    @Test(
        "a key whose record expires between the cap's check and the purchase's is charged: PURCHASE_CAP, nothing bought"
    )
    func keyExpiringMidwayIsCharged() async throws {
        try await withBoughtAndReleased { clock, service, client, accountId in
            let record = try #require(service.durableState().idempotency.values.first { $0.key == "K" })
            let balance = try service.balance(accountId: accountId).balance
            // The cap's check reads the clock a millisecond before the key's end, the purchase's own look-ups after.
            clock.set(record.createdAt.addingTimeInterval(86_400 - 0.001), thenStep: [0.002])
            let refused = await #expect(throws: RPCError.self) {
                try await client.purchaseNumbers(
                    PurchaseNumbersRequest(country: "US", numbers: ["+14155550100"]),
                    options: CallOptions(idempotencyKey: "K"))
            }
            #expect(refused?.reason == "PURCHASE_CAP", "\(String(describing: refused))")
            let state = service.durableState()
            #expect(state.phoneOwners.isEmpty && state.intents.isEmpty, "bought past the cap")
            #expect(try service.balance(accountId: accountId).balance == balance)
        }
    }

    @Test("a key reused with other numbers is no retry: charged to the cap (PURCHASE_CAP at the cap)")
    func keyReusedWithOtherNumbersIsCharged() async throws {
        try await withBoughtAndReleased { _, service, client, _ in
            let refused = await #expect(throws: RPCError.self) {
                try await client.purchaseNumbers(
                    PurchaseNumbersRequest(country: "US", numbers: ["+14155550101"]),
                    options: CallOptions(idempotencyKey: "K"))
            }
            #expect(refused?.reason == "PURCHASE_CAP", "\(String(describing: refused))")
            #expect(service.durableState().phoneOwners.isEmpty)
        }
    }

    @Test("a retry of the same request within the key's life replays its first result, uncharged, at the cap")
    func retryReplaysAtTheCap() async throws {
        try await withBoughtAndReleased { _, service, client, accountId in
            let balance = try service.balance(accountId: accountId).balance
            let replayed = try await client.purchaseNumbers(
                PurchaseNumbersRequest(country: "US", numbers: ["+14155550100"]),
                options: CallOptions(idempotencyKey: "K"))
            #expect(replayed.numbers.map(\.number.phoneNumber) == ["+14155550100"])
            // The first purchase's charge, the price of the number: $1.15 at cost + 15 %, no setup fee.
            #expect(replayed.totalCharged == 133 && replayed.numbers.map(\.transaction.amount) == [133])
            // Said so on the wire: nothing bought or charged now; balance_after is the one after the first purchase.
            #expect(replayed.replayed && replayed.balanceAfter == 10_000 - 133)
            #expect(try service.balance(accountId: accountId).balance == balance, "nothing charged by the replay")
        }
    }
}
