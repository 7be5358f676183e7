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
    /// How many more numbers the watch may have to release, each of a watch it replaced (store format 11): the account
    /// bought the number again while a voided purchase's POST could still land and that purchase was voided too, so
    /// two POSTs may land, one after the other's number was released. Each release of a number the watch finds takes
    /// one off; the watch ends with the last (or its window). Ending at the first release, it left the second POST's
    /// number paid at the provider with nobody owning it and nothing watching it. Nil: none (1 or more otherwise).
    public var earlierBuys: Int?

    /// Creates a watch.
    public init(
        phoneNumber: String, accountId: String, intentId: String, since: Date, buyTrunkSid: String? = nil,
        claimedBy: String? = nil, earlierBuys: Int? = nil
    ) {
        self.phoneNumber = phoneNumber
        self.accountId = accountId
        self.intentId = intentId
        self.since = since
        self.buyTrunkSid = buyTrunkSid
        self.claimedBy = claimedBy
        self.earlierBuys = earlierBuys
    }

    /// This watch in place of `replaced`, the number's watch until now: a voided purchase's watch (`PIN_…`), whose rule
    /// takes any number created within its window, also releases what `replaced` — another purchase's, or a released
    /// number's — was still to release (``earlierBuys``), and what its own purchase's earlier watch of the number (a
    /// compensation's later pass watches it again) still counted. Not one claimed by a number (out of its window once
    /// that number's release replaces it: its POST can no longer land), and not into a released number's watch
    /// (`NUM_…`), which releases its own SID only.
    public func replacing(_ replaced: OrphanWatch?) -> OrphanWatch {
        guard let replaced, replaced.claimedBy == nil, intentId.hasPrefix(Identifier.intent) else { return self }
        // The replaced watch's own buy, unless it is this purchase's: the same POST.
        let own = replaced.intentId == intentId ? 0 : 1
        let count = (earlierBuys ?? 0) + own + (replaced.earlierBuys ?? 0)
        var watch = self
        watch.earlierBuys = count > 0 ? count : nil
        return watch
    }

    /// Whether the count is one a watch can carry: none, or at least one in a voided purchase's (``earlierBuys``).
    public var isSoundlyCounted: Bool {
        earlierBuys.map { $0 >= 1 && intentId.hasPrefix(Identifier.intent) } ?? true
    }

    /// The event that records the release of the number found under this watch (its SID `sid`) at `now`: the watch
    /// ends, unless it may still have to release another (``earlierBuys``) — then it goes on with one fewer.
    public func released(sid: String, at now: Date) -> CoreEvent {
        guard let earlierBuys, earlierBuys > 0 else {
            return .orphanWatchEnded(phoneNumber: phoneNumber, outcome: .released(sid: sid), at: now)
        }
        var watch = self
        watch.earlierBuys = earlierBuys > 1 ? earlierBuys - 1 : nil
        return .orphanWatchStarted([watch])
    }
}
