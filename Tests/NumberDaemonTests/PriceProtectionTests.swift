import Foundation
import NumberAPI
import NumberClient
import Testing

/// Price protection end to end over real TLS through the client library: a purchase limited to the price a search
/// showed. The simulator's prices are fixed, so a limit below the shown price stands in for a price that rose.
@Suite("Purchase price limits end to end", .serialized)
struct PriceProtectionTests {
    @Test("a limit below the current price is refused with PRICE_CHANGED and nothing done; the searched price buys")
    func searchedPriceProtectsThePurchase() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Careful", funds: 10_000)
                try await withNumbersClient(numberd.client(key: account.key)) { client in
                    let search = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 2))
                    let chosen = search.numbers[0]
                    let price = chosen.pricing
                    #expect(price.currency == "USD" && price.monthlyFee > 0)
                    let engine = numberd.simulator.engine
                    engine.clearRequestLog()

                    // The price is above the limit: refused before anything is held, bought or asked at the provider.
                    let refused = await #expect(throws: RPCError.self) {
                        try await client.purchaseNumbers(
                            PurchaseNumbersRequest(
                                country: "US", numbers: [chosen.phoneNumber], currency: "USD",
                                maxMonthlyFee: price.monthlyFee - 1, maxSetupFee: price.setupFee))
                    }
                    #expect(refused?.code == .failedPrecondition)
                    #expect(refused?.reason == "PRICE_CHANGED")
                    #expect(
                        refused?.details == [
                            "setupFee": "\(price.setupFee)", "monthlyFee": "\(price.monthlyFee)", "currency": "USD",
                            "maxMonthlyFee": "\(price.monthlyFee - 1)", "maxSetupFee": "\(price.setupFee)",
                        ])
                    #expect(
                        refused?.message.contains(
                            "monthly fee is \(CurrencyMinorUnits.format(price.monthlyFee, "USD"))") == true)
                    let asked = engine.requestLog.map(\.endpoint)
                    #expect(!asked.contains(.buyNumber) && !asked.contains(.searchNumbers), "\(asked)")
                    #expect(engine.purchaseCount(chosen.phoneNumber) == 0)
                    let untouched = try await client.getBalance(GetBalanceRequest())
                    #expect(untouched.balance == 10_000 && untouched.held == 0)
                    #expect(try await client.listTransactions(ListTransactionsRequest()).transactions.count == 1)
                    #expect(try await client.listNumbers(ListNumbersRequest()).total == 0)

                    // A negative limit is the caller's mistake.
                    let negative = await #expect(throws: RPCError.self) {
                        try await client.purchaseNumbers(
                            PurchaseNumbersRequest(country: "US", numbers: [chosen.phoneNumber], maxSetupFee: -1))
                    }
                    #expect(negative?.code == .invalidArgument && negative?.details["field"] == "max_setup_fee")

                    // The price the search showed: bought and charged exactly that.
                    let bought = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(
                            country: "US", numbers: [chosen.phoneNumber], currency: "USD",
                            maxMonthlyFee: price.monthlyFee, maxSetupFee: price.setupFee))
                    #expect(bought.totalCharged == price.setupFee + price.monthlyFee)
                    #expect(bought.numbers.first?.number.pricing == price)
                    #expect(bought.balanceAfter == 10_000 - price.setupFee - price.monthlyFee)
                    #expect(engine.purchaseCount(chosen.phoneNumber) == 1)

                    // A limit above the price charges the current price, not the limit.
                    let other = search.numbers[1]
                    let roomy = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(
                            country: "US", numbers: [other.phoneNumber], maxMonthlyFee: price.monthlyFee + 500,
                            maxSetupFee: price.setupFee + 500))
                    #expect(roomy.totalCharged == other.pricing.setupFee + other.pricing.monthlyFee)
                }
            }
        }
    }
}
