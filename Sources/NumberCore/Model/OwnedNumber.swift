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

    /// What the customer sees of a number: its billing status, except that a number whose release was asked for and
    /// not yet recorded (``releaseRequestedAt`` set, ``status`` still active or past due: the provider's DELETE is
    /// running, or its outcome is in doubt until reconciliation settles it) is `releasing`. Derived, never stored:
    /// the store keeps `status` and `releaseRequestedAt` as before, so stores written before it read the same.
    public enum ListingStatus: String, Sendable, Hashable, CaseIterable {
        /// Paid for the current cycle.
        case active
        /// The renewal could not be paid; released after the grace period unless funds arrive.
        case pastDue = "past_due"
        /// Given back at the customer's (or the grace period's) request, not yet confirmed by the provider: never
        /// billed again, and not counted in the monthly cost or the account's number limit; its refund (computed at
        /// the request) is credited once, when the release is recorded. A release is never withdrawn once its outcome
        /// is in doubt; only one the provider refused outright, while its call still runs, goes back to the status
        /// it had.
        case releasing
        /// Given back to the provider; final.
        case released

        /// Whether a number of this status is billed each month (and counted in a listing's monthly cost).
        public var isBilled: Bool { self == .active || self == .pastDue }
    }

    /// The status the customer sees (``ListingStatus``).
    public var listingStatus: ListingStatus {
        switch status {
        case .released: .released
        case _ where releaseRequestedAt != nil: .releasing
        case .pastDue: .pastDue
        case .active: .active
        }
    }

    /// The stored values.
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
        var releaseRequestedBy: LedgerActor?
        var releaseRequestKey: String?
        var routeRequest: RouteRequest?
    }

    /// Shared by every copy until one of them changes: a copy into an event or into each copy of the state's
    /// tables is one reference, not the whole record.
    private var storage: CopyOnWrite<Fields>

    /// `NUM_…`.
    public var id: String {
        get { storage.value.id }
        set { storage.value.id = newValue }
    }

    /// The owning account.
    public var accountId: String {
        get { storage.value.accountId }
        set { storage.value.accountId = newValue }
    }

    /// E.164.
    public var phoneNumber: String {
        get { storage.value.phoneNumber }
        set { storage.value.phoneNumber = newValue }
    }

    /// Display form.
    public var friendlyName: String {
        get { storage.value.friendlyName }
        set { storage.value.friendlyName = newValue }
    }

    /// ISO 3166-1 alpha-2.
    public var country: String {
        get { storage.value.country }
        set { storage.value.country = newValue }
    }

    /// Region, if known from the search.
    public var region: String? {
        get { storage.value.region }
        set { storage.value.region = newValue }
    }

    /// Locality, if known from the search.
    public var locality: String? {
        get { storage.value.locality }
        set { storage.value.locality = newValue }
    }

    /// Postal code, if known from the search.
    public var postalCode: String? {
        get { storage.value.postalCode }
        set { storage.value.postalCode = newValue }
    }

    /// The kind of number.
    public var type: NumberType {
        get { storage.value.type }
        set { storage.value.type = newValue }
    }

    /// What it can do.
    public var capabilities: NumberCapabilities {
        get { storage.value.capabilities }
        set { storage.value.capabilities = newValue }
    }

    /// Billing status.
    public var status: Status {
        get { storage.value.status }
        set { storage.value.status = newValue }
    }

    /// The trunk it routes to.
    public var trunkId: String? {
        get { storage.value.trunkId }
        set { storage.value.trunkId = newValue }
    }

    /// Setup fee charged at purchase, minor units.
    public var setupFee: Int64 {
        get { storage.value.setupFee }
        set { storage.value.setupFee = newValue }
    }

    /// Monthly fee, minor units.
    public var monthlyFee: Int64 {
        get { storage.value.monthlyFee }
        set { storage.value.monthlyFee = newValue }
    }

    /// ISO 4217 code.
    public var currency: String {
        get { storage.value.currency }
        set { storage.value.currency = newValue }
    }

    /// The provider's id (`PN…`).
    public var providerSid: String {
        get { storage.value.providerSid }
        set { storage.value.providerSid = newValue }
    }

    /// When it was bought.
    public var purchasedAt: Date {
        get { storage.value.purchasedAt }
        set { storage.value.purchasedAt = newValue }
    }

    /// The day of month (UTC) billing dates fall on, clamped to shorter months.
    public var billingAnchorDay: Int {
        get { storage.value.billingAnchorDay }
        set { storage.value.billingAnchorDay = newValue }
    }

    /// When the current (last paid) cycle started.
    public var cycleStart: Date {
        get { storage.value.cycleStart }
        set { storage.value.cycleStart = newValue }
    }

    /// When the next monthly fee is due (00:00 UTC).
    public var nextBillingDate: Date {
        get { storage.value.nextBillingDate }
        set { storage.value.nextBillingDate = newValue }
    }

    /// When the billing run that found its renewal unpaid marked it past due (normally within a run's interval of the
    /// due date); the grace period counts from here. A past-due number a run renews for some of the cycles it owes, not
    /// the next, keeps the later of its mark and that next cycle's start: a partial payment does not start the grace
    /// period again.
    public var pastDueSince: Date? {
        get { storage.value.pastDueSince }
        set { storage.value.pastDueSince = newValue }
    }

    /// When a release was requested (and the provider call may be in progress).
    public var releaseRequestedAt: Date? {
        get { storage.value.releaseRequestedAt }
        set { storage.value.releaseRequestedAt = newValue }
    }

    /// When it was released.
    public var releasedAt: Date? {
        get { storage.value.releasedAt }
        set { storage.value.releasedAt = newValue }
    }

    /// The refund transaction, if a refund was credited (at most one, ever).
    public var refundTransactionId: String? {
        get { storage.value.refundTransactionId }
        set { storage.value.refundTransactionId = newValue }
    }

    /// Who asked for the release (``releaseRequestedAt``): the refund it posts names it, also when reconciliation
    /// records the release later. Kept after the release, cleared with a withdrawn request; nil for requests made
    /// before store format 3.
    public var releaseRequestedBy: LedgerActor? {
        get { storage.value.releaseRequestedBy }
        set { storage.value.releaseRequestedBy = newValue }
    }

    /// The idempotency record (``IdempotencyRecord/storageKey``) of the keyed call that asked for the release, so a
    /// retry under that key knows the release for its own (another request's, made after its own was withdrawn, is
    /// not). Kept after the release, cleared with a withdrawn request; nil for unkeyed requests and those before store
    /// format 6 recorded it.
    public var releaseRequestKey: String? {
        get { storage.value.releaseRequestKey }
        set { storage.value.releaseRequestKey = newValue }
    }

    /// A trunk change of the number that may have reached the provider and is not recorded yet (store format 8):
    /// recorded before the change is sent, cleared when its outcome is
    /// (``CoreEvent/numberTrunkChanged(numberId:trunkId:)`` with the trunk the provider routes it to) or the number is
    /// released. A crash or a lost answer leaves it open — as does an answered change while a change sent without an
    /// answer (it, or one it replaced) may still land —, and reconciliation settles it from what the provider shows
    /// once none can (``NumberService/reconcile()``); meanwhile the trunks it and the open requests it replaced asked
    /// for cannot be deleted. Nil when none is open, and in records before
    /// format 8.
    public var routeRequest: RouteRequest? {
        get { storage.value.routeRequest }
        set { storage.value.routeRequest = newValue }
    }

    /// Creates a number.
    public init(
        id: String, accountId: String, phoneNumber: String, friendlyName: String, country: String,
        region: String?, locality: String?, postalCode: String?, type: NumberType,
        capabilities: NumberCapabilities, status: Status, trunkId: String?, setupFee: Int64, monthlyFee: Int64,
        currency: String, providerSid: String, purchasedAt: Date, billingAnchorDay: Int, cycleStart: Date,
        nextBillingDate: Date
    ) {
        storage = CopyOnWrite(
            Fields(
                id: id, accountId: accountId, phoneNumber: phoneNumber, friendlyName: friendlyName, country: country,
                region: region, locality: locality, postalCode: postalCode, type: type, capabilities: capabilities,
                status: status, trunkId: trunkId, setupFee: setupFee, monthlyFee: monthlyFee, currency: currency,
                providerSid: providerSid, purchasedAt: purchasedAt, billingAnchorDay: billingAnchorDay,
                cycleStart: cycleStart, nextBillingDate: nextBillingDate, pastDueSince: nil, releaseRequestedAt: nil,
                releasedAt: nil, refundTransactionId: nil, releaseRequestedBy: nil, releaseRequestKey: nil,
                routeRequest: nil))
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

/// A trunk change of a number asked of the provider and not yet recorded (``OwnedNumber/routeRequest``).
public struct RouteRequest: Codable, Sendable, Hashable {
    /// The trunk asked for; nil takes the number off its trunk.
    public var trunkId: String?
    /// When it was recorded, just before it was sent.
    public var at: Date
    /// What the changes it replaced asked for, still open when it was made (each may still land at the provider): trunk
    /// ids, `""` for off its trunk; sorted, each once (the request's own too, when a change repeated it). Derived when
    /// the request is applied over an open one (``CoreEvent/numberRouteRequested(numberId:trunkId:at:)``), so the
    /// events need not carry it; snapshots do (`"earlier"`, absent when empty).
    public var earlier: [String]

    /// A request for `trunkId` recorded at `at`, replacing open requests that asked for `earlier`.
    public init(trunkId: String?, at: Date, earlier: [String] = []) {
        self.trunkId = trunkId
        self.at = at
        self.earlier = earlier
    }

    /// This request replaced by one for `trunkId` at `at`: what this one and those before it asked for become the new
    /// one's `earlier`.
    func replaced(by trunkId: String?, at: Date) -> RouteRequest {
        RouteRequest(trunkId: trunkId, at: at, earlier: Set(earlier).union([self.trunkId ?? ""]).sorted())
    }

    /// The trunks the provider may route the number to because of it: the one asked for and the earlier ones.
    var trunkIds: Set<String> { Set(earlier.filter { !$0.isEmpty } + (trunkId.map { [$0] } ?? [])) }

    private enum CodingKeys: String, CodingKey { case trunkId, at, earlier }

    /// Reads a request; `earlier` may be absent (none).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        trunkId = try container.decodeIfPresent(String.self, forKey: .trunkId)
        at = try container.decode(Date.self, forKey: .at)
        earlier = try container.decodeIfPresent([String].self, forKey: .earlier) ?? []
    }

    /// Writes the request, `trunkId` and `earlier` only when there are any.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(trunkId, forKey: .trunkId)
        try container.encode(at, forKey: .at)
        if !earlier.isEmpty { try container.encode(earlier, forKey: .earlier) }
    }
}
