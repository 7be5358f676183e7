import Foundation
import NumberAPI
import NumberClient
import Testing

@testable import NumberCore

/// The seed's flow end to end over real TLS on 127.0.0.1, through the client library, against numberd on its
/// embedded defaults (Twilio simulator through the real adapter and libcurl), with every value asserted.
@Suite("numberd end to end", .serialized)
struct SeedFlowTests {
    private static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }

    /// Same day next month at 00:00 UTC, clamped to the month's end.
    private func nextBillingDate(after date: Date) -> Date {
        let calendar = Self.utc
        let day = calendar.component(.day, from: date)
        let start = calendar.date(from: calendar.dateComponents([.year, .month], from: date))!
        let nextMonth = calendar.date(byAdding: .month, value: 1, to: start)!
        let daysInNext = calendar.range(of: .day, in: .month, for: nextMonth)!.count
        return calendar.date(byAdding: .day, value: min(day, daysInNext) - 1, to: nextMonth)!
    }

    @Test("search US 415 → purchase with a trunk → list → release with the prorated refund")
    func seedFlow() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    // A SIP trunk the operator set up at Twilio, registered to the account by an admin (an account
                    // key may not name a provider trunk SID: another tenant's could be named).
                    let providerTrunk = try await numberd.createProviderTrunk(name: "Production SIP Trunk")
                    let denied = await #expect(throws: RPCError.self) {
                        try await client.createTrunk(
                            CreateTrunkRequest(name: "Production SIP Trunk", providerTrunkSid: providerTrunk))
                    }
                    #expect(denied?.code == .permissionDenied && denied?.reason == "SCOPE_DENIED")
                    let trunk = try await admin.createTrunk(
                        CreateTrunkRequest(
                            accountId: acme.id, name: "Production SIP Trunk", providerTrunkSid: providerTrunk)
                    ).trunk
                    #expect(trunk.accountId == acme.id)
                    #expect(trunk.id.hasPrefix("TRK_"))

                    // Search: country=US&area_code=415&limit=10
                    let search = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 10))
                    #expect(search.numbers.count == 10)
                    #expect(search.totalFound >= 10)
                    for number in search.numbers {
                        #expect(number.phoneNumber.hasPrefix("+1415"))
                        #expect(number.locality == "San Francisco")
                        #expect(number.region == "CA")
                        #expect(number.country == "US")
                        #expect(number.type == .local)
                        #expect(!number.postalCode.isEmpty)
                        #expect(number.pricing.currency == "USD")
                        #expect(number.pricing.monthlyFee > 0)
                        #expect(number.friendlyName.contains(String(number.phoneNumber.suffix(4))))
                    }

                    // Purchase the first with the trunk: setup fee + first month, atomically.
                    let chosen = search.numbers[0]
                    let charge = chosen.pricing.setupFee + chosen.pricing.monthlyFee
                    let before = Date()
                    let purchase = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(
                            country: "US", numbers: [chosen.phoneNumber], voice: chosen.capabilities.voice,
                            currency: "USD", trunkId: trunk.id))
                    let after = Date()
                    #expect(purchase.message == "Phone number purchased successfully")
                    #expect(purchase.numbers.count == 1)
                    #expect(purchase.totalCharged == charge)
                    #expect(purchase.currency == "USD")
                    #expect(purchase.balanceAfter == 10_000 - charge)
                    let bought = purchase.numbers[0].number
                    #expect(bought.id.hasPrefix("NUM_"))
                    #expect(bought.phoneNumber == chosen.phoneNumber)
                    #expect(bought.friendlyName == chosen.friendlyName)
                    #expect(bought.locality == "San Francisco")
                    #expect(bought.region == "CA")
                    #expect(bought.postalCode == chosen.postalCode)
                    #expect(bought.capabilities == chosen.capabilities)
                    #expect(bought.pricing == chosen.pricing)
                    #expect(bought.status == .active)
                    #expect(bought.trunkId == trunk.id)
                    #expect(bought.trunkName == "Production SIP Trunk")
                    #expect(bought.billingCycle == .monthly)
                    #expect(bought.purchasedAt >= before.addingTimeInterval(-1) && bought.purchasedAt <= after)
                    #expect(bought.nextBillingDate == nextBillingDate(after: bought.purchasedAt))
                    let transaction = purchase.numbers[0].transaction
                    #expect(transaction.id.hasPrefix("TXN_"))
                    #expect(transaction.kind == .purchase)
                    #expect(transaction.amount == charge)
                    #expect(transaction.balanceChange == -charge)
                    #expect(transaction.currency == "USD")
                    #expect(transaction.description == "Phone number setup: \(chosen.phoneNumber)")
                    #expect(transaction.balanceAfter == 10_000 - charge)

                    // At the provider: owned once, on the trunk.
                    let owned = numberd.simulator.engine.ownedNumbers.first {
                        $0.number.phoneNumber == chosen.phoneNumber
                    }
                    #expect(owned?.trunkSid == providerTrunk)
                    #expect(numberd.simulator.engine.purchaseCount(chosen.phoneNumber) == 1)

                    // A second number without a trunk; the list sums the monthly fees.
                    let second = search.numbers[1]
                    _ = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(country: "US", numbers: [second.phoneNumber]))
                    let list = try await client.listNumbers(ListNumbersRequest())
                    #expect(list.total == 2)
                    #expect(list.monthlyCost == chosen.pricing.monthlyFee + second.pricing.monthlyFee)
                    #expect(list.currency == "USD")
                    let listed = try #require(list.numbers.first { $0.id == bought.id })
                    #expect(listed.trunkName == "Production SIP Trunk")
                    #expect(list.numbers.first { $0.phoneNumber == second.phoneNumber }?.trunkId == nil)

                    // Release: refund = monthly fee × remaining whole days / days in cycle, rounded down.
                    let balanceBefore = try await client.getBalance(GetBalanceRequest()).balance
                    let dryRun = try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id, dryRun: true))
                    #expect(dryRun.dryRun)
                    #expect(dryRun.transaction == nil)
                    let balanceAfterDryRun = try await client.getBalance(GetBalanceRequest())
                    #expect(balanceAfterDryRun.balance == balanceBefore)
                    let release = try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id))
                    #expect(release.message == "Phone number released successfully")
                    #expect(release.id == bought.id)
                    #expect(release.phoneNumber == bought.phoneNumber)
                    // The cycle's UTC calendar days, the purchase day included (however late in it the purchase was).
                    let utcDay = { (date: Date) in Int64((date.timeIntervalSince1970 / 86_400).rounded(.down)) }
                    let cycleDays = utcDay(bought.nextBillingDate) - utcDay(bought.purchasedAt)
                    let remaining = Int64(
                        Self.utc.dateComponents([.day], from: release.releasedAt, to: bought.nextBillingDate).day!)
                    let expectedRefund = chosen.pricing.monthlyFee * remaining / cycleDays
                    #expect(release.finalBilling.proratedRefund == expectedRefund)
                    #expect(release.finalBilling.remainingDays == Int32(remaining))
                    #expect(release.finalBilling.daysInCycle == Int32(cycleDays))
                    #expect(release.finalBilling.currency == "USD")
                    #expect(
                        release.finalBilling.description
                            == "Prorated refund for \(remaining) days remaining in billing cycle")
                    #expect(release.transaction?.kind == .refund)
                    #expect(release.transaction?.amount == expectedRefund)
                    let balanceAfterRelease = try await client.getBalance(GetBalanceRequest())
                    #expect(balanceAfterRelease.balance == balanceBefore + expectedRefund)
                    #expect(
                        !numberd.simulator.engine.ownedNumbers.contains { $0.number.phoneNumber == bought.phoneNumber })

                    // Releasing twice never refunds twice.
                    let again = await #expect(throws: RPCError.self) {
                        try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id))
                    }
                    #expect(again?.code == .failedPrecondition)
                    let balanceAfterSecondRelease = try await client.getBalance(GetBalanceRequest())
                    #expect(balanceAfterSecondRelease.balance == balanceBefore + expectedRefund)

                    // The ledger explains the balance.
                    let ledger = try await client.listTransactions(ListTransactionsRequest())
                    #expect(ledger.transactions.map(\.kind) == [.refund, .purchase, .purchase, .fundsAdded])
                    // Each row names its number's E.164, the released one included.
                    #expect(
                        ledger.transactions.map(\.phoneNumber)
                            == [bought.phoneNumber, second.phoneNumber, bought.phoneNumber, ""])
                    #expect(ledger.transactions.reduce(0) { $0 + $1.balanceChange } == balanceBefore + expectedRefund)
                }
            }
        }
    }

    @Test("insufficient balance, an unavailable number, a batch with one bad number: nothing charged or kept")
    func failuresChargeNothing() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let poor = try await makeAccount(admin, name: "Poor", funds: 0)
                let rich = try await makeAccount(admin, name: "Rich", funds: 100_000)
                let search = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: rich.id, country: "US", areaCode: "212", limit: 2))
                let good = search.numbers[0]

                try await withNumbersClient(numberd.client(key: poor.key)) { client in
                    let error = await #expect(throws: RPCError.self) {
                        try await client.purchaseNumbers(
                            PurchaseNumbersRequest(country: "US", numbers: [good.phoneNumber]))
                    }
                    #expect(error?.code == .failedPrecondition)
                    #expect(error?.reason == "INSUFFICIENT_BALANCE")
                    let charge = good.pricing.setupFee + good.pricing.monthlyFee
                    #expect(error?.details["shortfall"] == "\(charge)")
                    let poorBalance = try await client.getBalance(GetBalanceRequest())
                    #expect(poorBalance.balance == 0)
                    #expect(numberd.simulator.engine.purchaseCount(good.phoneNumber) == 0)
                }

                try await withNumbersClient(numberd.client(key: rich.key)) { client in
                    // Unavailable at the carrier.
                    let taken = "+12125550000"
                    #expect(!numberd.simulator.engine.isAvailable(taken))
                    let unavailable = await #expect(throws: RPCError.self) {
                        try await client.purchaseNumbers(PurchaseNumbersRequest(country: "US", numbers: [taken]))
                    }
                    #expect(unavailable?.code == .failedPrecondition)
                    #expect(unavailable?.reason == "NUMBER_UNAVAILABLE")

                    // A batch whose second number fails at the buy itself (Twilio's magic +15005550000, 21422, as
                    // if sold since a search listed it): the first is bought, then released; nothing is charged.
                    // (With a number not on offer the purchase is refused before any buy, which shows nothing.)
                    let soldMeanwhile = "+15005550000"
                    numberd.numberd.service.remember([
                        NumberCore.AvailableNumber(
                            phoneNumber: soldMeanwhile, friendlyName: soldMeanwhile, country: "US", type: .local,
                            capabilities: NumberCapabilities(voice: true))
                    ])
                    let batch = await #expect(throws: RPCError.self) {
                        try await client.purchaseNumbers(
                            PurchaseNumbersRequest(country: "US", numbers: [good.phoneNumber, soldMeanwhile]))
                    }
                    #expect(batch?.reason == "NUMBER_UNAVAILABLE")
                    #expect(numberd.simulator.engine.purchaseCount(good.phoneNumber) == 1, "the first was bought")
                    #expect(numberd.simulator.engine.releaseCount(good.phoneNumber) == 1, "and released")
                    #expect(
                        !numberd.simulator.engine.ownedNumbers.contains { $0.number.phoneNumber == good.phoneNumber })
                    let balance = try await client.getBalance(GetBalanceRequest())
                    #expect(balance.balance == 100_000)
                    #expect(balance.held == 0)
                    let owned = try await client.listNumbers(ListNumbersRequest())
                    #expect(owned.total == 0)
                    let ledger = try await client.listTransactions(ListTransactionsRequest())
                    #expect(ledger.transactions.count == 1)
                }
            }
        }
    }
}
