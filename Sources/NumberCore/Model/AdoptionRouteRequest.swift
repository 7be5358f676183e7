import Foundation

/// An adoption's routing of a number to a trunk, recorded before it is sent to the provider (store format 9): until
/// it can no longer land there, the trunk is not deleted and only an adoption of the number for the same account on
/// the same trunk is taken (``NumberService/adoptNumber(_:)``). Durable so that a restart keeps holding it: a routing
/// that got no answer may land after numberd stopped, and a new process holds every recorded one until the late-buy
/// window (``NumberService/lateBuySeconds``) has passed since the latest its call can have ended
/// (``NumberService/inheritedCallsEnded(startedAt:from:calls:horizon:)``). Ended by the adoption's record when nothing
/// else it sent may still land, or by reconciliation once it can no longer land.
public struct AdoptionRouteRequest: Codable, Sendable, Hashable {
    /// E.164: the number being adopted (not owned through numberd when the routing was sent).
    public var phoneNumber: String
    /// The account the adoption is for.
    public var accountId: String
    /// The account's trunk the routing asks for.
    public var trunkId: String
    /// When it was recorded, just before it was sent.
    public var at: Date

    /// Creates a request.
    public init(phoneNumber: String, accountId: String, trunkId: String, at: Date) {
        self.phoneNumber = phoneNumber
        self.accountId = accountId
        self.trunkId = trunkId
        self.at = at
    }
}
