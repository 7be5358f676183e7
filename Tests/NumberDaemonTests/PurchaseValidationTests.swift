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
}
