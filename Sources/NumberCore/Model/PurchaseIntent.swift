import Foundation

/// A durable record of a purchase in progress: it holds the amount and reserves the numbers until it is
/// committed or voided.
public struct PurchaseIntent: Codable, Sendable, Hashable {
    /// Where the saga is.
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// Buying at the provider.
        case open
        /// The purchase failed; numbers bought so far must be released before the intent is voided.
        case compensating
    }

    /// One number to buy and its price.
    public struct Item: Codable, Sendable, Hashable {
        /// E.164.
        public var phoneNumber: String
        /// Setup fee, minor units.
        public var setupFee: Int64
        /// Monthly fee, minor units.
        public var monthlyFee: Int64
        /// What the search said about it (locality, region, ...), if the number was seen in a search.
        public var listing: AvailableNumber?
    }

    /// `PIN_…`.
    public var id: String
    /// The buyer.
    public var accountId: String
    /// The numbers, in request order.
    public var items: [Item]
    /// ISO 3166-1 alpha-2.
    public var country: String
    /// The kind of number.
    public var type: NumberType
    /// Our trunk to assign, if any.
    public var trunkId: String?
    /// ISO 4217 code.
    public var currency: String
    /// The amount held: the sum of setup + first month over the items.
    public var heldAmount: Int64
    /// The request's idempotency key, if any.
    public var idempotencyKey: String?
    /// When it was opened.
    public var createdAt: Date
    /// Where the saga is.
    public var status: Status
    /// Who asked for the purchase (the key of the call that opened it): its debits name it, also when
    /// reconciliation commits it. Nil for intents opened before store format 3, or through the core without a key.
    public var actor: LedgerActor? = nil
}
