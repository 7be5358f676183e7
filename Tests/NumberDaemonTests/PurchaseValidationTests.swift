import Foundation
import NumberAPI
import NumberClient
import Testing

/// A PurchaseNumbers request is checked (how many numbers, their form, duplicates: whatever needs no state) before
/// its numbers are charged to the account's purchase cap. A request that can never succeed used to be charged first:
/// over the cap it got RESOURCE_EXHAUSTED `PURCHASE_CAP` with a `retryAfterMs` after which it would still fail (the
/// CLI exits 8, "rate limited", instead of 3), and under it took the cap's share away while it ran.
@Suite("PurchaseNumbers: checked before the purchase cap", .serialized)
struct PurchaseValidationTests {
    static func numbers(_ count: Int) -> [String] {
        (0..<count).map { "+1415555" + String(1000 + $0) }
    }

    @Test(
        "a request that can never succeed is INVALID_ARGUMENT, not PURCHASE_CAP, and leaves the cap whole",
        arguments: [
            ("101 numbers, cap 100", 100, numbers(101), "LIMIT_EXCEEDED"),
            ("21 numbers, cap 20", 20, numbers(21), "LIMIT_EXCEEDED"),
            ("a number twice, cap 1", 1, ["+14155551000", "+14155551000"], "INVALID_FIELD"),
            ("a malformed number, cap 1", 1, ["+14155551000", "4155551001x"], "INVALID_FIELD"),
        ])
    func invalidBeforeCap(name: String, cap: Double, numbers: [String], reason: String) async throws {
        try await withNumberd(configure: { $0.rateLimits.purchasedNumbersPerHour = cap }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Buyer", funds: 100_000)
                try await withNumbersClient(numberd.client(key: account.key)) { client in
                    let refused = await #expect(throws: RPCError.self, "\(name)") {
                        try await client.purchaseNumbers(PurchaseNumbersRequest(country: "US", numbers: numbers))
                    }
                    #expect(refused?.code == .invalidArgument, "\(name): \(String(describing: refused))")
                    #expect(refused?.reason == reason, "\(name)")
                    #expect(refused?.details["retryAfterMs"] == nil)
                    // Nothing was taken from the cap (with a cap of 1 a single number shows it).
                    let found = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 1))
                    let bought = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(country: "US", numbers: [found.numbers[0].phoneNumber]))
                    #expect(bought.numbers.count == 1)
                }
            }
        }
    }

    /// The purchase cap is the account's, whoever buys for it. It used to be charged to the buying key: an admin key
    /// buying for many accounts had one cap for all of them, and what it bought for an account left that account's
    /// own cap untouched.
    @Test("the purchase cap is charged to the account bought for, also when an admin key buys")
    func capIsTheAccounts() async throws {
        try await withNumberd(configure: { $0.rateLimits.purchasedNumbersPerHour = 2 }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let first = try await makeAccount(admin, name: "First", funds: 100_000)
                let second = try await makeAccount(admin, name: "Second", funds: 100_000)
                let found = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: first.id, country: "US", areaCode: "415", limit: 4)
                ).numbers.map(\.phoneNumber)
                try #require(found.count == 4)
                // The admin key takes the first account's whole cap, then buys for the second: not its own cap.
                _ = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(accountId: first.id, country: "US", numbers: Array(found[0..<2])))
                let forSecond = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(accountId: second.id, country: "US", numbers: [found[2]]))
                #expect(forSecond.numbers.count == 1)
                // The first account's own key finds its cap spent by what the admin key bought for it.
                try await withNumbersClient(numberd.client(key: first.key)) { client in
                    let refused = await #expect(throws: RPCError.self) {
                        try await client.purchaseNumbers(PurchaseNumbersRequest(country: "US", numbers: [found[3]]))
                    }
                    #expect(refused?.reason == "PURCHASE_CAP")
                }
            }
        }
    }

    /// Currency codes are compared in upper case, as CreateAccount keeps them: AddFunds with "usd" on a USD account
    /// was refused CURRENCY_MISMATCH ("is USD, not usd") and a purchase with "usd" INVALID_ARGUMENT.
    @Test("currency codes in AddFunds and PurchaseNumbers are matched in upper case; another currency is refused")
    func currencyCase() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Lower", funds: 0)
                let added = try await admin.addFunds(
                    AddFundsRequest(accountId: account.id, amount: 10_000, currency: "usd"))
                #expect(added.balance == 10_000)
                let other = await #expect(throws: RPCError.self) {
                    try await admin.addFunds(AddFundsRequest(accountId: account.id, amount: 1, currency: "eur"))
                }
                #expect(other?.code == .failedPrecondition)
                #expect(other?.reason == "CURRENCY_MISMATCH")
                #expect(other?.details["expected"] == "USD")
                let found = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: account.id, country: "US", areaCode: "415", limit: 1))
                let bought = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(
                        accountId: account.id, country: "us", numbers: [found.numbers[0].phoneNumber],
                        currency: "usd"))
                #expect(bought.numbers.count == 1)
            }
        }
    }
}
