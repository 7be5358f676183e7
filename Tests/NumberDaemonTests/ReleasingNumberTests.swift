import Foundation
import NumberAPI
import NumberClient
import Testing
import TwilioSimulator

/// A release whose DELETE never got an answer (every attempt's connection reset at the simulator, the number still
/// listed there) is in doubt until reconciliation settles it. Over the wire the customer sees it as
/// `NUMBER_STATUS_RELEASING` with the time it was asked for: listed, counted in `total`, not in `monthly_cost`, no
/// refund yet — then, once reconciled, `RELEASED` with one refund.
@Suite("numberd end to end: a release in doubt is listed as releasing", .serialized)
struct ReleasingNumberEndToEndTests {
    @Test("RELEASING in ListNumbers (each filter) and GetNumber, not billed; RELEASED with one refund once reconciled")
    func releaseInDoubtOverTheWire() async throws {
        // Reconciliation only when the test runs it.
        try await withNumberd(configure: { $0.reconcileIntervalSeconds = 86_400 }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    let search = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 2))
                    var bought: [PhoneNumber] = []
                    for found in search.numbers {
                        bought += try await client.purchaseNumbers(
                            PurchaseNumbersRequest(country: "US", numbers: [found.phoneNumber])
                        ).numbers.map(\.number)
                    }
                    let (doubtful, kept) = (bought[0], bought[1])
                    let balance = try await client.getBalance(GetBalanceRequest()).balance

                    numberd.simulator.engine.addFault(try FaultRule.parse("releaseNumber:reset"))
                    let error = await #expect(throws: RPCError.self) {
                        try await client.releaseNumber(ReleaseNumberRequest(numberId: doubtful.id))
                    }
                    #expect(error?.reason == "OUTCOME_UNKNOWN", "\(String(describing: error))")
                    #expect(
                        numberd.simulator.engine.ownedNumbers.contains { $0.number.phoneNumber == doubtful.phoneNumber }
                    )

                    let list = try await client.listNumbers(ListNumbersRequest())
                    #expect(list.numbers.map(\.id) == [doubtful.id, kept.id])
                    #expect(list.numbers.map(\.status) == [.releasing, .active])
                    #expect(list.total == 2 && list.monthlyCost == kept.pricing.monthlyFee)
                    let shown = try await client.getNumber(GetNumberRequest(numberId: doubtful.id)).number
                    #expect(shown.status == .releasing && shown.releasedAt == nil)
                    let asked = try #require(shown.releaseRequestedAt)
                    #expect(abs(asked.timeIntervalSinceNow) < 300)
                    #expect(list.numbers[1].releaseRequestedAt == nil)
                    let releasing = try await client.listNumbers(ListNumbersRequest(status: .releasing))
                    #expect(releasing.numbers.map(\.id) == [doubtful.id])
                    #expect(releasing.total == 1 && releasing.monthlyCost == 0)
                    let active = try await client.listNumbers(ListNumbersRequest(status: .active))
                    #expect(active.numbers.map(\.id) == [kept.id] && active.total == 1)
                    #expect(try await client.getBalance(GetBalanceRequest()).balance == balance, "no refund yet")

                    numberd.simulator.engine.clearFaults()
                    let report = await numberd.numberd.service.reconcile()
                    #expect(report.releasesCompleted.count == 1)
                    let settled = try await client.getNumber(GetNumberRequest(numberId: doubtful.id)).number
                    #expect(settled.status == .released && settled.releaseRequestedAt == asked)
                    let after = try await client.listNumbers(ListNumbersRequest())
                    #expect(after.numbers.map(\.id) == [kept.id] && after.monthlyCost == kept.pricing.monthlyFee)
                    let refunds = try await client.listTransactions(ListTransactionsRequest()).transactions.filter {
                        $0.kind == .refund
                    }
                    #expect(refunds.count == 1 && refunds.first?.numberId == doubtful.id)
                    // The refund as of the request, computed here from the purchase: the monthly fee × the whole days
                    // then left of the first cycle / its UTC calendar days (the purchase day included), rounded down.
                    let utcDay = { (date: Date) in Int64((date.timeIntervalSince1970 / 86_400).rounded(.down)) }
                    let cycleDays = utcDay(doubtful.nextBillingDate) - utcDay(doubtful.purchasedAt)
                    let remaining = Int64((doubtful.nextBillingDate.timeIntervalSince(asked) / 86_400).rounded(.down))
                    let expectedRefund = doubtful.pricing.monthlyFee * remaining / cycleDays
                    #expect(expectedRefund > 0 && refunds.first?.amount == expectedRefund, "\(refunds)")
                    #expect(try await client.getBalance(GetBalanceRequest()).balance == balance + expectedRefund)
                }
            }
        }
    }
}
