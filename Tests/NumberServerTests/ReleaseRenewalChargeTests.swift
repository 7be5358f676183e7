import Foundation
import NumberAPI
import NumberClient
import NumberCore
import NumberServer
import TestSupport
import Testing

/// A release of a number whose billing date passed before a billing run renewed it bills the new cycle first, in the
/// release's own decision, and refunds that cycle's whole days left: over TLS, the dry run shows the charge
/// (`final_billing.renewal_charge`) and the release answers it with the renewal's transaction (`renewals`).
@Suite("ReleaseNumber past the billing date, over TLS")
struct ReleaseRenewalChargeTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// A service on a scripted clock (2026-01-01 00:00) and a stock provider, with one USD account holding `funds`,
    /// served over TLS to a client with that account's key.
    func serving(
        funds: Int64,
        _ body: (
            NumberService, PurchaseCapRetryTests.ScriptedClock, PurchaseCapRetryTests.StockProvider, NumberCore.Account,
            NumbersClient
        ) async throws -> Void
    ) async throws {
        let clock = PurchaseCapRetryTests.ScriptedClock()
        let provider = PurchaseCapRetryTests.StockProvider()
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: provider, clock: clock, logger: quietLogger)
        let account = try await service.createAccount(name: "Billed", currency: "USD")
        if funds > 0 { _ = try await service.addFunds(accountId: account.id, amount: funds) }
        let key = try await service.createApiKey(name: "k", scope: .account, accountId: account.id)
        var router = RPCRouter()
        NumbersAPI(service: service, rateLimiter: RateLimiter(limits: .defaults)).register(into: &router)
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port, apiKey: key.secret)) { client in
                try await body(service, clock, provider, account, client)
            }
        }
    }

    @Test("the dry run shows the renewal charge; the release answers it with the renewal transaction")
    func releaseAnswersTheRenewal() async throws {
        try await serving(funds: 10_000) { _, clock, provider, _, client in
            // Bought 2026-01-01 00:00; due 2026-02-01 00:00. Released Feb 1 at 06:00, before any billing run.
            let bought = try await client.purchaseNumbers(
                PurchaseNumbersRequest(country: "US", numbers: [provider.stock[0]])
            ).numbers[0].number
            #expect(bought.nextBillingDate == Date(timeIntervalSince1970: 1_769_904_000))
            clock.set(Date(timeIntervalSince1970: 1_769_904_000 + 6 * 3_600))
            let fee = bought.pricing.monthlyFee
            let before = try await client.getBalance(GetBalanceRequest()).balance
            let preview = try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id, dryRun: true))
            #expect(preview.finalBilling.renewalCharge == fee && preview.renewals.isEmpty)
            #expect(preview.finalBilling.remainingDays == 27 && preview.finalBilling.daysInCycle == 28)
            #expect(preview.finalBilling.proratedRefund == fee * 27 / 28)
            #expect(try await client.getBalance(GetBalanceRequest()).balance == before)
            let release = try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id))
            #expect(release.finalBilling.renewalCharge == fee)
            #expect(release.finalBilling.proratedRefund == fee * 27 / 28)
            let renewal = try #require(release.renewals.first)
            #expect(release.renewals.count == 1 && renewal.balanceChange == -fee && renewal.kind == .renewal)
            #expect(renewal.phoneNumber == bought.phoneNumber && renewal.numberId == bought.id)
            #expect(renewal.actor == "system:billing")
            #expect(release.transaction?.balanceChange == fee * 27 / 28)
            let after = try await client.getBalance(GetBalanceRequest()).balance
            #expect(after == before - fee + fee * 27 / 28)
            // The ledger holds the renewal before the refund.
            let ledger = try await client.listTransactions(ListTransactionsRequest()).transactions
            #expect(ledger.prefix(2).map(\.id) == [release.transaction?.id, renewal.id].compactMap { $0 })
        }
    }

    /// An operator's walk: a past-due number said nothing of when numberd would release it, and its dry run's
    /// "Prorated refund for 0 days remaining" read as a rounding. Over TLS: GetNumber and ListNumbers give
    /// `grace_ends_at` (the mark plus the 7-day grace period), the dry run says no refund is due and why, and a
    /// renewal paid meanwhile clears it.
    @Test("a past-due number says when its grace period ends; its dry run says why no refund; paid, neither")
    func pastDueGraceEnd() async throws {
        try await serving(funds: 0) { service, clock, provider, account, client in
            let price = try await client.searchNumbers(SearchNumbersRequest(country: "US")).numbers[0].pricing
            _ = try await service.addFunds(accountId: account.id, amount: price.setupFee + price.monthlyFee)
            // Bought 2026-01-01 00:00; due 2026-02-01 00:00, with nothing left to pay it.
            let bought = try await client.purchaseNumbers(
                PurchaseNumbersRequest(country: "US", numbers: [provider.stock[0]])
            ).numbers[0].number
            #expect(bought.graceEndsAt == nil)
            let marked = Date(timeIntervalSince1970: 1_769_904_000 + 60)
            clock.set(marked)
            #expect(try await service.runBilling().markedPastDue == 1)
            let shown = try await client.getNumber(GetNumberRequest(numberId: bought.id)).number
            let graceEnd = marked.addingTimeInterval(
                TimeInterval(NumberServiceConfig.defaults.billing.gracePeriodSeconds))
            #expect(shown.status == .pastDue && shown.graceEndsAt == graceEnd, "\(shown)")
            let listed = try await client.listNumbers(ListNumbersRequest()).numbers
            #expect(listed.map(\.graceEndsAt) == [graceEnd])
            let preview = try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id, dryRun: true))
            #expect(preview.finalBilling.proratedRefund == 0)
            #expect(preview.finalBilling.description == "No refund: past due, no paid cycle left")
            // Paid: renewed by the next run, no grace period any more.
            _ = try await service.addFunds(accountId: account.id, amount: price.monthlyFee)
            #expect(try await service.runBilling().renewed == 1)
            let renewed = try await client.getNumber(GetNumberRequest(numberId: bought.id)).number
            #expect(renewed.status == .active && renewed.graceEndsAt == nil, "\(renewed)")
        }
    }
}
