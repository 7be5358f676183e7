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

    /// `NUM_…`.
    public var id: String
    /// The owning account.
    public var accountId: String
    /// E.164.
    public var phoneNumber: String
    /// Display form.
    public var friendlyName: String
    /// ISO 3166-1 alpha-2.
    public var country: String
    /// Region, if known from the search.
    public var region: String?
    /// Locality, if known from the search.
    public var locality: String?
    /// Postal code, if known from the search.
    public var postalCode: String?
    /// The kind of number.
    public var type: NumberType
    /// What it can do.
    public var capabilities: NumberCapabilities
    /// Billing status.
    public var status: Status
    /// The trunk it routes to.
    public var trunkId: String?
    /// Setup fee charged at purchase, minor units.
    public var setupFee: Int64
    /// Monthly fee, minor units.
    public var monthlyFee: Int64
    /// ISO 4217 code.
    public var currency: String
    /// The provider's id (`PN…`).
    public var providerSid: String
    /// When it was bought.
    public var purchasedAt: Date
    /// The day of month (UTC) billing dates fall on, clamped to shorter months.
    public var billingAnchorDay: Int
    /// When the current (last paid) cycle started.
    public var cycleStart: Date
    /// When the next monthly fee is due (00:00 UTC).
    public var nextBillingDate: Date
    /// When the unpaid renewal made it past due.
    public var pastDueSince: Date?
    /// When a release was requested (and the provider call may be in progress).
    public var releaseRequestedAt: Date?
    /// When it was released.
    public var releasedAt: Date?
    /// The refund transaction, if a refund was credited (at most one, ever).
    public var refundTransactionId: String?

    /// Creates a number.
    public init(
        id: String, accountId: String, phoneNumber: String, friendlyName: String, country: String,
        region: String?, locality: String?, postalCode: String?, type: NumberType,
        capabilities: NumberCapabilities, status: Status, trunkId: String?, setupFee: Int64, monthlyFee: Int64,
        currency: String, providerSid: String, purchasedAt: Date, billingAnchorDay: Int, cycleStart: Date,
        nextBillingDate: Date
    ) {
        self.id = id
        self.accountId = accountId
        self.phoneNumber = phoneNumber
        self.friendlyName = friendlyName
        self.country = country
        self.region = region
        self.locality = locality
        self.postalCode = postalCode
        self.type = type
        self.capabilities = capabilities
        self.status = status
        self.trunkId = trunkId
        self.setupFee = setupFee
        self.monthlyFee = monthlyFee
        self.currency = currency
        self.providerSid = providerSid
        self.purchasedAt = purchasedAt
        self.billingAnchorDay = billingAnchorDay
        self.cycleStart = cycleStart
        self.nextBillingDate = nextBillingDate
    }
}
