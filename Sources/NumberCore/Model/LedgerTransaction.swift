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

    /// The stored values.
    private struct Fields: Codable, Sendable, Hashable {
        var id: String
        var accountId: String
        var kind: Kind
        var amount: Int64
        var balanceAfter: Int64
        var currency: String
        var numberId: String?
        var description: String
        var createdAt: Date
        var idempotencyKey: String?
        var actor: LedgerActor?
    }

    /// Shared by every copy until one of them changes: a copy into an event or into each copy of the state's
    /// tables is one reference, not the whole record.
    private var storage: CopyOnWrite<Fields>

    /// `TXN_…`.
    public var id: String {
        get { storage.value.id }
        set { storage.value.id = newValue }
    }

    /// The account.
    public var accountId: String {
        get { storage.value.accountId }
        set { storage.value.accountId = newValue }
    }

    /// Why.
    public var kind: Kind {
        get { storage.value.kind }
        set { storage.value.kind = newValue }
    }

    /// Signed amount in minor units: credits positive, debits negative.
    public var amount: Int64 {
        get { storage.value.amount }
        set { storage.value.amount = newValue }
    }

    /// The balance right after this transaction.
    public var balanceAfter: Int64 {
        get { storage.value.balanceAfter }
        set { storage.value.balanceAfter = newValue }
    }

    /// ISO 4217 code.
    public var currency: String {
        get { storage.value.currency }
        set { storage.value.currency = newValue }
    }

    /// The number it concerns, if any.
    public var numberId: String? {
        get { storage.value.numberId }
        set { storage.value.numberId = newValue }
    }

    /// E.g. "Phone number setup: +14155551234".
    public var description: String {
        get { storage.value.description }
        set { storage.value.description = newValue }
    }

    /// When it was posted.
    public var createdAt: Date {
        get { storage.value.createdAt }
        set { storage.value.createdAt = newValue }
    }

    /// The idempotency key of the request that posted it, if any.
    public var idempotencyKey: String? {
        get { storage.value.idempotencyKey }
        set { storage.value.idempotencyKey = newValue }
    }

    /// Who caused it: the API key whose call posted it, or numberd itself (``LedgerActor``); nil for transactions
    /// posted before store format 3 recorded it.
    public var actor: LedgerActor? {
        get { storage.value.actor }
        set { storage.value.actor = newValue }
    }

    /// Creates a transaction.
    public init(
        id: String, accountId: String, kind: Kind, amount: Int64, balanceAfter: Int64, currency: String,
        numberId: String?, description: String, createdAt: Date, idempotencyKey: String?, actor: LedgerActor? = nil
    ) {
        storage = CopyOnWrite(
            Fields(
                id: id, accountId: accountId, kind: kind, amount: amount, balanceAfter: balanceAfter,
                currency: currency, numberId: numberId, description: description, createdAt: createdAt,
                idempotencyKey: idempotencyKey, actor: actor))
    }

    /// Decodes the same JSON object as the plain struct did (the journal's and snapshots' format).
    public init(from decoder: any Decoder) throws {
        storage = try CopyOnWrite(from: decoder)
    }

    /// Encodes the fields as one JSON object, keys in declaration order.
    public func encode(to encoder: any Encoder) throws {
        try storage.encode(to: encoder)
    }
}
