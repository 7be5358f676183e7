import Foundation

/// A route of an Elastic SIP trunk's inbound calls (Trunking v1 `OriginationUrls`): where Twilio sends the calls to
/// the trunk's numbers. Kept inside its ``Trunk``, so deleting the trunk deletes its routes, as at Twilio.
public struct OriginationUrl: Sendable, Equatable, Codable {
    /// `OU` + 32 hex.
    public var sid: String
    /// `SipUrl`: a `sip:` URI (Twilio takes no `sips:`).
    public var sipUrl: String
    /// `Weight`, 1...65535: the share of the load among routes of the same priority.
    public var weight: Int
    /// `Priority`, 0...65535: the lowest is tried first.
    public var priority: Int
    /// `Enabled`.
    public var enabled: Bool
    /// `FriendlyName`.
    public var friendlyName: String
    /// Creation time.
    public var dateCreated: Date
    /// Last change.
    public var dateUpdated: Date
}
