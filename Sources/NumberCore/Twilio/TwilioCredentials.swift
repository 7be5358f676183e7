/// How the adapter authenticates to Twilio: HTTP Basic with the account SID and auth token, or with an API key
/// SID and secret (recommended for production). The account SID is always needed: it is in every 2010 API path.
/// `description` never shows the token or secret.
public struct TwilioCredentials: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// The account SID (`AC` + 32 hex digits), used in URL paths.
    public let accountSid: String
    /// The Basic-auth user name: the account SID or an API key SID (`SK…`).
    public let username: String
    /// The Basic-auth password: the auth token or the API key secret.
    let secret: String

    /// Account SID + auth token. Throws `.authentication` if a value is malformed (e.g. stray whitespace).
    public static func authToken(accountSid: String, authToken: String) throws(ProviderError) -> TwilioCredentials {
        try validateSid(accountSid, prefix: "AC", name: "TWILIO_ACCOUNT_SID")
        try validateSecret(authToken, name: "TWILIO_AUTH_TOKEN")
        return TwilioCredentials(accountSid: accountSid, username: accountSid, secret: authToken)
    }

    /// API key SID + secret, acting for `accountSid`. Throws `.authentication` if a value is malformed.
    public static func apiKey(
        accountSid: String, keySid: String, keySecret: String
    ) throws(ProviderError)
        -> TwilioCredentials
    {
        try validateSid(accountSid, prefix: "AC", name: "TWILIO_ACCOUNT_SID")
        try validateSid(keySid, prefix: "SK", name: "TWILIO_API_KEY_SID")
        try validateSecret(keySecret, name: "TWILIO_API_KEY_SECRET")
        return TwilioCredentials(accountSid: accountSid, username: keySid, secret: keySecret)
    }

    /// Reads `TWILIO_ACCOUNT_SID` with `TWILIO_API_KEY_SID` + `TWILIO_API_KEY_SECRET` (preferred) or
    /// `TWILIO_AUTH_TOKEN`. Returns `nil` when none is set (run against the simulator); throws `.authentication`
    /// when the set is incomplete or malformed.
    public static func fromEnvironment(_ environment: [String: String]) throws(ProviderError) -> TwilioCredentials? {
        let names = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"]
        guard names.contains(where: { environment[$0] != nil }) else { return nil }
        guard let accountSid = environment["TWILIO_ACCOUNT_SID"] else {
            throw ProviderError(.authentication, message: "TWILIO_ACCOUNT_SID is required with any Twilio credential")
        }
        if let keySid = environment["TWILIO_API_KEY_SID"] {
            guard let keySecret = environment["TWILIO_API_KEY_SECRET"] else {
                throw ProviderError(.authentication, message: "TWILIO_API_KEY_SID is set without TWILIO_API_KEY_SECRET")
            }
            return try apiKey(accountSid: accountSid, keySid: keySid, keySecret: keySecret)
        }
        guard let token = environment["TWILIO_AUTH_TOKEN"] else {
            throw ProviderError(
                .authentication,
                message: "TWILIO_ACCOUNT_SID is set without TWILIO_AUTH_TOKEN (or TWILIO_API_KEY_SID/SECRET)")
        }
        return try authToken(accountSid: accountSid, authToken: token)
    }

    /// The SIDs, with the secret redacted.
    public var description: String {
        "TwilioCredentials(accountSid: \(accountSid), username: \(username), secret: <redacted>)"
    }

    /// A mirror without the secret, so `dump` and reflection-based loggers cannot print it.
    public var customMirror: Mirror {
        Mirror(self, children: ["accountSid": accountSid, "username": username, "secret": "<redacted>"])
    }

    private static func validateSid(_ sid: String, prefix: String, name: String) throws(ProviderError) {
        guard TwilioValidation.isSid(sid, prefix: prefix) else {
            throw ProviderError(
                .authentication, message: "\(name) must be \(prefix) followed by 32 hex digits (check for whitespace)")
        }
    }

    private static func validateSecret(_ secret: String, name: String) throws(ProviderError) {
        guard !secret.isEmpty, secret.utf8.count <= 256,
            secret.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
        else {
            throw ProviderError(
                .authentication, message: "\(name) must be 1 to 256 printable characters without whitespace")
        }
    }
}
