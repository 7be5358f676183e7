import Foundation

/// A phone number an account owns (or owned: released numbers stay for the record).
public struct OwnedNumber: Codable, Sendable, Hashable {
    /// Billing status.
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// Paid for the current cycle.
        case active
        /// The renewal could not be paid; released after the grace period unless funds arrive.
        case pastDue = "past_due"
        /// Given back to the provider; final.
        case released
    }

    /// The stored values; one allocation shared by every copy until one of them changes.
    private struct Fields: Codable, Sendable, Hashable {
        var id: String
        var accountId: String
        var phoneNumber: String
        var friendlyName: String
        var country: String
        var region: String?
        var locality: String?
        var postalCode: String?
        var type: NumberType
        var capabilities: NumberCapabilities
        var status: Status
        var trunkId: String?
        var setupFee: Int64
        var monthlyFee: Int64
        var currency: String
        var providerSid: String
        var purchasedAt: Date
        var billingAnchorDay: Int
        var cycleStart: Date
        var nextBillingDate: Date
        var pastDueSince: Date?
        var releaseRequestedAt: Date?
        var releasedAt: Date?
        var refundTransactionId: String?
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

    /// `NUM_…`.
    public var id: String {
        get { storage.fields.id }
        set { unique().fields.id = newValue }
    }

    /// The owning account.
    public var accountId: String {
        get { storage.fields.accountId }
        set { unique().fields.accountId = newValue }
    }

    /// E.164.
    public var phoneNumber: String {
        get { storage.fields.phoneNumber }
        set { unique().fields.phoneNumber = newValue }
    }

    /// Display form.
    public var friendlyName: String {
        get { storage.fields.friendlyName }
        set { unique().fields.friendlyName = newValue }
    }

    /// ISO 3166-1 alpha-2.
    public var country: String {
        get { storage.fields.country }
        set { unique().fields.country = newValue }
    }

    /// Region, if known from the search.
    public var region: String? {
        get { storage.fields.region }
        set { unique().fields.region = newValue }
    }

    /// Locality, if known from the search.
    public var locality: String? {
        get { storage.fields.locality }
        set { unique().fields.locality = newValue }
    }

    /// Postal code, if known from the search.
    public var postalCode: String? {
        get { storage.fields.postalCode }
        set { unique().fields.postalCode = newValue }
    }

    /// The kind of number.
    public var type: NumberType {
        get { storage.fields.type }
        set { unique().fields.type = newValue }
    }

    /// What it can do.
    public var capabilities: NumberCapabilities {
        get { storage.fields.capabilities }
        set { unique().fields.capabilities = newValue }
    }

    /// Billing status.
    public var status: Status {
        get { storage.fields.status }
        set { unique().fields.status = newValue }
    }

    /// The trunk it routes to.
    public var trunkId: String? {
        get { storage.fields.trunkId }
        set { unique().fields.trunkId = newValue }
    }

    /// Setup fee charged at purchase, minor units.
    public var setupFee: Int64 {
        get { storage.fields.setupFee }
        set { unique().fields.setupFee = newValue }
    }

    /// Monthly fee, minor units.
    public var monthlyFee: Int64 {
        get { storage.fields.monthlyFee }
        set { unique().fields.monthlyFee = newValue }
    }

    /// ISO 4217 code.
    public var currency: String {
        get { storage.fields.currency }
        set { unique().fields.currency = newValue }
    }

    /// The provider's id (`PN…`).
    public var providerSid: String {
        get { storage.fields.providerSid }
        set { unique().fields.providerSid = newValue }
    }

    /// When it was bought.
    public var purchasedAt: Date {
        get { storage.fields.purchasedAt }
        set { unique().fields.purchasedAt = newValue }
    }

    /// The day of month (UTC) billing dates fall on, clamped to shorter months.
    public var billingAnchorDay: Int {
        get { storage.fields.billingAnchorDay }
        set { unique().fields.billingAnchorDay = newValue }
    }

    /// When the current (last paid) cycle started.
    public var cycleStart: Date {
        get { storage.fields.cycleStart }
        set { unique().fields.cycleStart = newValue }
    }

    /// When the next monthly fee is due (00:00 UTC).
    public var nextBillingDate: Date {
        get { storage.fields.nextBillingDate }
        set { unique().fields.nextBillingDate = newValue }
    }

    /// When the unpaid renewal made it past due.
    public var pastDueSince: Date? {
        get { storage.fields.pastDueSince }
        set { unique().fields.pastDueSince = newValue }
    }

    /// When a release was requested (and the provider call may be in progress).
    public var releaseRequestedAt: Date? {
        get { storage.fields.releaseRequestedAt }
        set { unique().fields.releaseRequestedAt = newValue }
    }

    /// When it was released.
    public var releasedAt: Date? {
        get { storage.fields.releasedAt }
        set { unique().fields.releasedAt = newValue }
    }

    /// The refund transaction, if a refund was credited (at most one, ever).
    public var refundTransactionId: String? {
        get { storage.fields.refundTransactionId }
        set { unique().fields.refundTransactionId = newValue }
    }

    /// Creates a number.
    public init(
        id: String, accountId: String, phoneNumber: String, friendlyName: String, country: String,
        region: String?, locality: String?, postalCode: String?, type: NumberType,
        capabilities: NumberCapabilities, status: Status, trunkId: String?, setupFee: Int64, monthlyFee: Int64,
        currency: String, providerSid: String, purchasedAt: Date, billingAnchorDay: Int, cycleStart: Date,
        nextBillingDate: Date
    ) {
        storage = Storage(
            Fields(
                id: id, accountId: accountId, phoneNumber: phoneNumber, friendlyName: friendlyName, country: country,
                region: region, locality: locality, postalCode: postalCode, type: type, capabilities: capabilities,
                status: status, trunkId: trunkId, setupFee: setupFee, monthlyFee: monthlyFee, currency: currency,
                providerSid: providerSid, purchasedAt: purchasedAt, billingAnchorDay: billingAnchorDay,
                cycleStart: cycleStart, nextBillingDate: nextBillingDate, pastDueSince: nil, releaseRequestedAt: nil,
                releasedAt: nil, refundTransactionId: nil))
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
