import Foundation

/// An Elastic SIP trunk of the account.
public struct Trunk: Sendable, Equatable, Codable {
    /// `TK` + 32 hex.
    public var sid: String
    /// `FriendlyName`.
    public var friendlyName: String?
    /// `DomainName` (ends with `pstn.twilio.com`), unique across trunks.
    public var domainName: String?
    /// `DisasterRecoveryUrl`.
    public var disasterRecoveryUrl: String?
    /// `DisasterRecoveryMethod`.
    public var disasterRecoveryMethod: String?
    /// `Secure`.
    public var secure: Bool = false
    /// `CnamLookupEnabled`.
    public var cnamLookupEnabled: Bool = false
    /// `TransferMode`.
    public var transferMode: String = "disable-all"
    /// `TransferCallerId`.
    public var transferCallerId: String = "from-transferee"
    /// Creation time.
    public var dateCreated: Date
    /// Last change.
    public var dateUpdated: Date
    /// Its Origination URLs, oldest first; nil (none) in state written before the simulator kept them.
    public var originationUrls: [OriginationUrl]?
}
