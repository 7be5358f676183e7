import Foundation

/// A request to buy specific numbers, all or nothing.
public struct PurchaseRequest: Sendable, Hashable {
    /// The buyer.
    public var accountId: String
    /// E.164 numbers, usually from a search.
    public var phoneNumbers: [String]
    /// ISO 3166-1 alpha-2 country of the numbers.
    public var country: String
    /// The kind of number (prices differ by kind).
    public var type: NumberType
    /// Our trunk to route the numbers to, if any.
    public var trunkId: String?
    /// The currency the caller expects to pay in; must be the account's when given.
    public var currency: String?
    /// A retry with the same key returns the first result.
    public var idempotencyKey: String?
    /// Capabilities every number must have (the seed's `voice`/`sms` flags); empty = no requirement.
    public var requiredCapabilities: Set<Capability>
    /// The most the caller agrees to pay as each number's monthly fee, in minor units of the account's currency
    /// (usually what its search showed); nil = no limit. A higher current price is refused with `PRICE_CHANGED`
    /// before anything is held or bought; a price at or below it is charged as it is.
    public var maxMonthlyFee: Int64?
    /// The most the caller agrees to pay as each number's setup fee; as ``maxMonthlyFee``.
    public var maxSetupFee: Int64?
    /// The id of the API key the caller authenticated with, if any: the intent (and its hold) opens only while that
    /// key is still active, so a key revoked while the purchase was at the provider (its search) buys nothing.
    public var authorizedBy: String?
    /// Set by a caller that did not charge this request to the account's purchase cap because its idempotency key
    /// stood for an earlier purchase of the same request (``NumberService/isPurchaseRetry(_:)``): it may only replay
    /// that purchase. Should the key's record be gone when the purchase looks under the decision lock (expired since,
    /// or dropped with a first attempt that failed), it is refused `ABORTED` / `IDEMPOTENCY_KEY_GONE` and buys nothing,
    /// so the caller can charge it as the new purchase it now is. Not part of the request's fingerprint.
    public var replayOnly = false

    /// Creates a request.
    public init(
        accountId: String, phoneNumbers: [String], country: String, type: NumberType = .local, trunkId: String? = nil,
        currency: String? = nil, idempotencyKey: String? = nil, requiredCapabilities: Set<Capability> = [],
        maxMonthlyFee: Int64? = nil, maxSetupFee: Int64? = nil, authorizedBy: String? = nil
    ) {
        self.requiredCapabilities = requiredCapabilities
        self.maxMonthlyFee = maxMonthlyFee
        self.maxSetupFee = maxSetupFee
        self.authorizedBy = authorizedBy
        self.accountId = accountId
        self.phoneNumbers = phoneNumbers
        self.country = country
        self.type = type
        self.trunkId = trunkId
        self.currency = currency
        self.idempotencyKey = idempotencyKey
    }
}

extension PurchaseRequest {
    /// SHA-256 hex of the parameters that make two requests the same purchase: an idempotency key reused with
    /// another fingerprint is refused. The price limits are parameters too (a retry that changes them is another
    /// request), but they join only when given: a request without them fingerprints exactly as before they existed,
    /// so an idempotency record written by an earlier version still matches its retry.
    var fingerprint: String {
        var parts = [
            "purchase", country, type.rawValue, phoneNumbers.joined(separator: ","),
            trunkId ?? "-", currency ?? "-",
            requiredCapabilities.map { $0.rawValue }.sorted().joined(separator: "+"),
        ]
        if maxMonthlyFee != nil || maxSetupFee != nil {
            parts.append(
                "max:" + [maxMonthlyFee, maxSetupFee].map { $0.map { String($0) } ?? "-" }.joined(separator: "/"))
        }
        return Crypto.sha256Hex(parts.joined(separator: "|"))
    }
}
