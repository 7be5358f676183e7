import Foundation

/// A SIP trunk that numbers route to.
public struct Trunk: Codable, Sendable, Hashable {
    /// `TRK_…`.
    public var id: String
    /// The owning account.
    public var accountId: String
    /// Display name, e.g. "Production SIP Trunk".
    public var name: String
    /// The provider's trunk SID (Twilio `TK…`).
    public var providerTrunkSid: String
    /// When it was created.
    public var createdAt: Date
    /// True when numberd created the trunk at the provider (and deletes it there with the trunk); nil or false when
    /// the caller named an existing provider trunk.
    public var providerManaged: Bool?
    /// Where the provider sends the trunk's inbound calls (Twilio's Origination URL, a `sip:` URI), set by numberd at
    /// the provider when it created the trunk. Nil for a trunk registered by its SID (its routing is the operator's)
    /// and in records written before numberd set one (store formats up to 6), which read without it.
    public var originationSipUri: String?

    /// Creates a trunk.
    public init(
        id: String, accountId: String, name: String, providerTrunkSid: String, createdAt: Date,
        providerManaged: Bool? = nil, originationSipUri: String? = nil
    ) {
        self.id = id
        self.accountId = accountId
        self.name = name
        self.providerTrunkSid = providerTrunkSid
        self.createdAt = createdAt
        self.providerManaged = providerManaged
        self.originationSipUri = originationSipUri
    }
}

extension Trunk {
    /// What a provider trunk SID is indexed and compared by (``CoreState/providerTrunks``, the provider audit): a SID
    /// of Twilio's form, `TK` and 32 hex digits, with its hex digits in lower case, as Twilio writes them; any other
    /// text as it is. A registration has kept its SID in lower case since ``Validation/providerTrunkSid(_:max:)`` did
    /// so, but a record from before may hold `TK…ABCDEF`: compared exactly, the same trunk registered again in lower
    /// case for another account passed the one-account-per-SID check, and the audit reported the trunk missing at
    /// every run.
    static func sidKey(_ sid: String) -> String {
        TwilioValidation.isSid(sid, prefix: "TK") ? "TK" + sid.dropFirst(2).lowercased() : sid
    }

    /// ``sidKey(_:)`` of this trunk's SID.
    var providerTrunkSidKey: String { Self.sidKey(providerTrunkSid) }
}
