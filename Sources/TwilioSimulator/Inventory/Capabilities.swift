/// What a number can do: voice, SMS, MMS, fax.
public struct Capabilities: Sendable, Hashable, Codable {
    /// Receives calls.
    public var voice: Bool
    /// Receives SMS.
    public var sms: Bool
    /// Receives MMS.
    public var mms: Bool
    /// Receives fax.
    public var fax: Bool

    /// Creates a capability set.
    public init(voice: Bool, sms: Bool, mms: Bool, fax: Bool) {
        self.voice = voice
        self.sms = sms
        self.mms = mms
        self.fax = fax
    }

    /// The AvailablePhoneNumbers casing Twilio's live API returns: `voice`, `SMS`, `MMS`, `fax`
    /// (twilio-api.md §2.3: upper-case SMS/MMS on search results, a reported live quirk).
    public var searchJSON: JSONValue {
        .object([("voice", .bool(voice)), ("SMS", .bool(sms)), ("MMS", .bool(mms)), ("fax", .bool(fax))])
    }

    /// The IncomingPhoneNumbers / Trunking casing: all lower case.
    public var resourceJSON: JSONValue {
        .object([("voice", .bool(voice)), ("sms", .bool(sms)), ("mms", .bool(mms)), ("fax", .bool(fax))])
    }
}
