import Foundation

/// A number whose purchase was voided by reconciliation while its buy request may still be queued at the provider.
/// If that request lands later, the provider holds (and bills) a number nobody owns; the orphan sweep looks each
/// watched number up and releases it at the provider if it landed, until the watch window ends.
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
    /// The voided intent, `PIN_…`.
    public var intentId: String
    /// When the intent was voided.
    public var since: Date

    /// Creates a watch.
    public init(phoneNumber: String, accountId: String, intentId: String, since: Date) {
        self.phoneNumber = phoneNumber
        self.accountId = accountId
        self.intentId = intentId
        self.since = since
    }
}
