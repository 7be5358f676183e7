import Foundation
import NumberAPI

/// Realistic NumberAPI responses to measure: what a purchase and a page of `ListNumbers` carry.
enum BenchmarkMessages {
    /// A number as `ListNumbers` returns it; every third one routed to a trunk.
    static func phoneNumber(_ index: Int) -> PhoneNumber {
        let digits = String(5_551_000 + index)
        let routed = index % 3 == 0
        return PhoneNumber(
            id: "NUM_\(String(0x7a8b_9c0d_1e00 + index, radix: 16))",
            phoneNumber: "+1415\(digits)",
            friendlyName: "+1 (415) \(digits.prefix(3))-\(digits.suffix(4))",
            country: "US",
            region: "CA",
            locality: "San Francisco",
            postalCode: "94105",
            type: .local,
            status: .active,
            trunkId: routed ? "TRK_5f6e7d8c9b0a" : nil,
            trunkName: routed ? "office-pbx" : nil,
            capabilities: Capabilities(voice: true, sms: true, mms: index % 2 == 0, fax: false),
            pricing: Pricing(setupFee: 0, monthlyFee: 115, currency: "USD"),
            purchasedAt: Date(timeIntervalSince1970: Double(1_764_000_000 + index * 3600)),
            billingCycle: .monthly,
            nextBillingDate: Date(timeIntervalSince1970: Double(1_766_592_000 + index * 3600)),
            releasedAt: nil)
    }

    /// `PurchaseNumbers` of one number.
    static let purchase = PurchaseNumbersResponse(
        message: "Phone number purchased successfully",
        numbers: [
            PurchasedNumber(
                number: phoneNumber(0),
                transaction: Transaction(
                    id: "TXN_0a1b2c3d4e5f",
                    kind: .purchase,
                    amount: 115,
                    balanceChange: -115,
                    currency: "USD",
                    balanceAfter: 4_885,
                    numberId: "NUM_7a8b9c0d1e00",
                    phoneNumber: "+14155551000",
                    description: "Purchase +14155551000 (first month)",
                    createdAt: Date(timeIntervalSince1970: 1_764_000_000)))
        ],
        totalCharged: 115,
        currency: "USD",
        balanceAfter: 4_885)

    /// A `ListNumbers` page of 100 numbers.
    static let list = ListNumbersResponse(
        numbers: (0..<100).map(phoneNumber),
        total: 250,
        monthlyCost: 28_750,
        currency: "USD",
        nextPageToken: "cGFnZT0y")
}
