import Foundation

/// One balance change of an account; the balance is always the sum of these.
public struct LedgerTransaction: Codable, Sendable, Hashable {
    /// Why the balance changed.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// An administrator added funds (credit).
        case fundsAdded = "funds_added"
        /// Setup fee + first month of a number (debit).
        case purchase
        /// A monthly fee (debit).
        case renewal
        /// A prorated refund at release (credit).
        case refund
        /// A manual correction (either sign).
        case adjustment
    }

    /// `TXN_…`.
    public var id: String
    /// The account.
    public var accountId: String
    /// Why.
    public var kind: Kind
    /// Signed amount in minor units: credits positive, debits negative.
    public var amount: Int64
    /// The balance right after this transaction.
    public var balanceAfter: Int64
    /// ISO 4217 code.
    public var currency: String
    /// The number it concerns, if any.
    public var numberId: String?
    /// E.g. "Phone number setup: +14155551234".
    public var description: String
    /// When it was posted.
    public var createdAt: Date
    /// The idempotency key of the request that posted it, if any.
    public var idempotencyKey: String?

    /// Creates a transaction.
    public init(
        id: String, accountId: String, kind: Kind, amount: Int64, balanceAfter: Int64, currency: String,
        numberId: String?, description: String, createdAt: Date, idempotencyKey: String?
    ) {
        self.id = id
        self.accountId = accountId
        self.kind = kind
        self.amount = amount
        self.balanceAfter = balanceAfter
        self.currency = currency
        self.numberId = numberId
        self.description = description
        self.createdAt = createdAt
        self.idempotencyKey = idempotencyKey
    }
}
