import Foundation

/// A number the provider may hold (and bill) while nobody owns it through numberd: a purchase voided while its buy
/// request may still be queued at the provider, or a number whose release the provider did not confirm (its DELETE
/// answered 404, which Twilio also answers for a number it sold moments ago). The orphan sweep looks each watched
/// number up and releases it at the provider if it shows up, until the watch window ends.
public struct OrphanWatch: Codable, Sendable, Hashable {
    /// How a watch ended.
    public enum Outcome: Codable, Sendable, Hashable {
        /// The buy had landed with nobody owning the number: released at the provider (its SID).
        case released(sid: String)
        /// A later purchase through numberd owns the number: nothing to do.
        case claimed
        /// The window passed without the number appearing at the provider.
        case expired
    }

    /// E.164.
    public var phoneNumber: String
    /// The account of the voided purchase.
    public var accountId: String
    /// What started the watch: the voided intent (`PIN_…`), or the released number (`NUM_…`).
    public var intentId: String
    /// When the intent was voided or the release recorded.
    public var since: Date
    /// The provider trunk SID the voided purchase's buy (its POST) carried, `""` when it carried none: a late POST
    /// lands as an update routing the number there (twilio-api.md §8.7), so until it can no longer land the
    /// account buys the number again only on that trunk. Nil in a released number's watch and in a record written
    /// before it was kept (not known: such a purchase is refused until the window ends).
    public var buyTrunkSid: String?
    /// The number (`NUM_…`) the watch's own account bought through numberd while the voided purchase's buy could still
    /// land (store format 10): the watch stays beside it, kept by the sweep while that number is owned and the buy may
    /// land, and watches again once the number is released — a late POST then buys a number nobody owns, which the
    /// sweep releases. Ended with the watch, a release of it within the window left that POST's number paid at the
    /// provider with nobody owning it and nothing watching it. Nil otherwise.
    public var claimedBy: String?

    /// Creates a watch.
    public init(
        phoneNumber: String, accountId: String, intentId: String, since: Date, buyTrunkSid: String? = nil,
        claimedBy: String? = nil
    ) {
        self.phoneNumber = phoneNumber
        self.accountId = accountId
        self.intentId = intentId
        self.since = since
        self.buyTrunkSid = buyTrunkSid
        self.claimedBy = claimedBy
    }
}
