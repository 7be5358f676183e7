import Foundation
import NumberAPI
import NumberClient
import NumberCore
import NumberServer
import TestSupport
import Testing

/// numberd stamps its transactions in whole milliseconds; a period bound a nanosecond beside a stamp, as a peer that
/// keeps nanoseconds sends it, puts the transaction on the side the bound says, in ListTransactions and GetStatement
/// alike, over TLS. The Double nearest such a bound is often the stamp itself.
@Suite("Period bounds a nanosecond beside a stamp, over TLS")
struct PeriodBoundTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// A Timestamp as its two fields, as a peer writes it.
    struct RawTimestamp: Codable, Hashable, Sendable {
        enum CodingKeys: Int, CodingKey { case seconds = 1, nanos }
        var seconds: Int64
        var nanos: Int32
    }

    /// ListTransactionsRequest with its period (fields 4 and 5) as raw Timestamps.
    struct RawListing: Codable, Hashable, Sendable {
        enum CodingKeys: Int, CodingKey { case startTime = 4, endTime }
        var startTime: RawTimestamp?
        var endTime: RawTimestamp?
    }

    /// GetStatementRequest with its period (fields 2 and 3) as raw Timestamps.
    struct RawStatement: Codable, Hashable, Sendable {
        enum CodingKeys: Int, CodingKey { case startTime = 2, endTime }
        var startTime: RawTimestamp
        var endTime: RawTimestamp
    }

    @Test("a bound 1 ns after a transaction's stamp leaves it before the period; 1 ns before puts it in")
    func nanosecondBesideAStamp() async throws {
        // 2026-07-25T12:29:19.221Z: the Double nearest 1 ns after its stamp is the stamp itself.
        let second: Int64 = 1_784_982_559
        let stamp = Date(timeIntervalSince1970: Double(second * 1000 + 221) / 1000)
        let oneAfter = RawTimestamp(seconds: second, nanos: 221_000_001)
        let oneBefore = RawTimestamp(seconds: second, nanos: 220_999_999)
        let later = RawTimestamp(seconds: second + 60, nanos: 0)
        let clock = PurchaseCapRetryTests.ScriptedClock()
        clock.set(Date(timeIntervalSince1970: 1_784_982_559.2215))
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: PurchaseCapRetryTests.StockProvider(), clock: clock,
            logger: quietLogger)
        let account = try await service.createAccount(name: "Bounds", currency: "USD")
        let credit = try await service.addFunds(accountId: account.id, amount: 10_000)
        #expect(credit.createdAt == stamp)
        let key = try await service.createApiKey(name: "k", scope: .account, accountId: account.id)
        var router = RPCRouter()
        NumbersAPI(service: service, rateLimiter: RateLimiter(limits: .defaults)).register(into: &router)
        let listing = MethodDescriptor<RawListing, ListTransactionsResponse>(
            service: "numbers.v1.Numbers", method: "ListTransactions")
        let statement = MethodDescriptor<RawStatement, GetStatementResponse>(
            service: "numbers.v1.Numbers", method: "GetStatement")
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port, apiKey: key.secret)) { client in
                // Every transaction of the account is stamped at that millisecond.
                let startingAfter = try await client.call(listing, RawListing(startTime: oneAfter))
                #expect(startingAfter.transactions.isEmpty)
                let endingAfter = try await client.call(listing, RawListing(endTime: oneAfter))
                #expect(endingAfter.transactions.map(\.id).contains(credit.id))
                let startingBefore = try await client.call(listing, RawListing(startTime: oneBefore))
                #expect(startingBefore.transactions.map(\.id).contains(credit.id))
                let endingBefore = try await client.call(listing, RawListing(endTime: oneBefore))
                #expect(endingBefore.transactions.isEmpty)

                let after = try await client.call(statement, RawStatement(startTime: oneAfter, endTime: later))
                #expect(after.openingBalance == 10_000 && after.credits == 0 && after.transactionCount == 0)
                // The period goes back as it came, after the stamp (not as the stamp itself).
                #expect(after.startTime > stamp)
                let before = try await client.call(statement, RawStatement(startTime: oneBefore, endTime: later))
                #expect(before.openingBalance == 0 && before.credits == 10_000 && before.closingBalance == 10_000)
                #expect(before.startTime < stamp)
            }
        }
    }
}
