import Foundation

/// A number the account owns (an IncomingPhoneNumber resource), with its settable fields.
public struct IncomingNumber: Sendable, Equatable, Codable {
    /// `PN` + 32 hex.
    public var sid: String
    /// The inventory entry it was bought from.
    public var number: AvailableNumber
    /// `FriendlyName` (defaults to the formatted number).
    public var friendlyName: String
    /// When it was bought.
    public var dateCreated: Date
    /// Last change.
    public var dateUpdated: Date
    /// Optional string fields Twilio lets a caller set (`voice_url`, `trunk_sid`, ...), keyed by JSON name;
    /// absent means `null`.
    public var fields: [String: String]
    /// `voice_caller_id_lookup`.
    public var voiceCallerIdLookup: Bool

    /// The JSON names of the string fields settable by form parameter (PascalCase name → snake_case name),
    /// with the default each takes at purchase.
    public static let settable: [(param: String, field: String, initial: String?)] = [
        ("VoiceUrl", "voice_url", nil), ("VoiceMethod", "voice_method", "POST"),
        ("VoiceFallbackUrl", "voice_fallback_url", nil), ("VoiceFallbackMethod", "voice_fallback_method", "POST"),
        ("VoiceApplicationSid", "voice_application_sid", nil), ("VoiceReceiveMode", "voice_receive_mode", "voice"),
        ("SmsUrl", "sms_url", nil), ("SmsMethod", "sms_method", "POST"),
        ("SmsFallbackUrl", "sms_fallback_url", nil), ("SmsFallbackMethod", "sms_fallback_method", "POST"),
        ("SmsApplicationSid", "sms_application_sid", nil), ("StatusCallback", "status_callback", nil),
        ("StatusCallbackMethod", "status_callback_method", "POST"), ("TrunkSid", "trunk_sid", nil),
        ("AddressSid", "address_sid", nil), ("IdentitySid", "identity_sid", nil), ("BundleSid", "bundle_sid", nil),
        ("EmergencyStatus", "emergency_status", "Inactive"), ("EmergencyAddressSid", "emergency_address_sid", nil),
    ]

    /// A freshly bought number with Twilio's defaults.
    public init(sid: String, number: AvailableNumber, friendlyName: String?, at date: Date) {
        self.sid = sid
        self.number = number
        self.friendlyName = friendlyName ?? number.friendlyName
        self.dateCreated = date
        self.dateUpdated = date
        self.voiceCallerIdLookup = false
        var initial: [String: String] = [:]
        for entry in IncomingNumber.settable {
            if let value = entry.initial { initial[entry.field] = value }
        }
        self.fields = initial
    }

    /// The fields shown unset as `""`, not `null`: the URLs Twilio's examples of the IncomingPhoneNumber and the
    /// trunk's PhoneNumber show so (`sms_url`, `sms_fallback_url`, `status_callback`). The others unset are `null`
    /// (`trunk_sid`, `voice_fallback_url`, the address SIDs), and so are the application SIDs, which the same examples
    /// show as `""` but the schemas allow only as `null` or a whole `AP…` SID (`SchemaValidationTests` holds the
    /// simulator to the schemas). A client must take both for unset, as at Twilio.
    public static let emptyWhenUnset: Set<String> = ["sms_url", "sms_fallback_url", "status_callback"]

    /// Field `name` as the resource's JSON shows it (``emptyWhenUnset``).
    func json(_ name: String) -> (String, JSONValue) {
        if let value = fields[name] { return (name, .string(value)) }
        return (name, Self.emptyWhenUnset.contains(name) ? .string("") : .null)
    }

    /// The trunk it routes to, if any.
    public var trunkSid: String? { fields["trunk_sid"] }
}
