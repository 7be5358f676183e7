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

    /// The stored values; one allocation shared by every copy until one of them changes.
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
    }

    /// Copy-on-write storage: a copy of the value (into an event, into each copy of the state's tables) is one
    /// reference, not the whole record.
    private final class Storage: @unchecked Sendable {
        var fields: Fields

        init(_ fields: Fields) {
            self.fields = fields
        }
    }

    private var storage: Storage

    /// `TXN_…`.
    public var id: String {
        get { storage.fields.id }
        set { unique().fields.id = newValue }
    }

    /// The account.
    public var accountId: String {
        get { storage.fields.accountId }
        set { unique().fields.accountId = newValue }
    }

    /// Why.
    public var kind: Kind {
        get { storage.fields.kind }
        set { unique().fields.kind = newValue }
    }

    /// Signed amount in minor units: credits positive, debits negative.
    public var amount: Int64 {
        get { storage.fields.amount }
        set { unique().fields.amount = newValue }
    }

    /// The balance right after this transaction.
    public var balanceAfter: Int64 {
        get { storage.fields.balanceAfter }
        set { unique().fields.balanceAfter = newValue }
    }

    /// ISO 4217 code.
    public var currency: String {
        get { storage.fields.currency }
        set { unique().fields.currency = newValue }
    }

    /// The number it concerns, if any.
    public var numberId: String? {
        get { storage.fields.numberId }
        set { unique().fields.numberId = newValue }
    }

    /// E.g. "Phone number setup: +14155551234".
    public var description: String {
        get { storage.fields.description }
        set { unique().fields.description = newValue }
    }

    /// When it was posted.
    public var createdAt: Date {
        get { storage.fields.createdAt }
        set { unique().fields.createdAt = newValue }
    }

    /// The idempotency key of the request that posted it, if any.
    public var idempotencyKey: String? {
        get { storage.fields.idempotencyKey }
        set { unique().fields.idempotencyKey = newValue }
    }

    /// Creates a transaction.
    public init(
        id: String, accountId: String, kind: Kind, amount: Int64, balanceAfter: Int64, currency: String,
        numberId: String?, description: String, createdAt: Date, idempotencyKey: String?
    ) {
        storage = Storage(
            Fields(
                id: id, accountId: accountId, kind: kind, amount: amount, balanceAfter: balanceAfter,
                currency: currency, numberId: numberId, description: description, createdAt: createdAt,
                idempotencyKey: idempotencyKey))
    }

    /// Decodes the same JSON object as the plain struct did (the journal's and snapshots' format).
    public init(from decoder: any Decoder) throws {
        storage = Storage(try Fields(from: decoder))
    }

    /// Encodes the fields as one JSON object, keys in declaration order.
    public func encode(to encoder: any Encoder) throws {
        try storage.fields.encode(to: encoder)
    }

    /// Equal when every field is (at once when both share their storage).
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    /// Hashes every field.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.fields)
    }

    /// The storage, copied first if another value shares it.
    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
        return storage
    }
}
