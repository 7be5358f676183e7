/// The account the simulator serves: Account SID + Auth Token (and, as at Twilio, a secondary auth token while one is
/// being rolled out), and API keys (SK SID + secret).
public struct SimulatorCredentials: Sendable, Equatable {
    /// The account SID (`AC` + 32 hex).
    public var accountSid: String
    /// The account's (primary) auth token.
    public var authToken: String
    /// The secondary auth token, when one was created: Twilio accepts it as well as the primary until it is promoted
    /// (it becomes the primary, the old primary stops working) or deleted. Twilio's Accounts v1 API
    /// `/v1/AuthTokens/Secondary` and `/v1/AuthTokens/Promote`; here ``SimulatorEngine/createSecondaryAuthToken()``
    /// and its siblings, or set in the configuration.
    public var secondaryAuthToken: String?
    /// API keys: SID (`SK` + 32 hex) → secret.
    public var apiKeys: [String: String]
    /// The API keys of type Main (full access). Every other is a Standard key, the kind Twilio's console makes by
    /// default: it may use every resource but the Accounts resource itself (`/Accounts/{AccountSid}.json`) and Keys,
    /// which answer it 401 / 20003 here.
    public var mainApiKeys: Set<String> = []

    /// Creates credentials from their parts.
    public init(accountSid: String, authToken: String, apiKeys: [String: String] = [:]) {
        self.accountSid = accountSid
        self.authToken = authToken
        self.apiKeys = apiKeys
    }

    /// Credentials derived from `seed`: an AC SID, a 32-hex auth token and one API key, all deterministic.
    public static func generated(seed: UInt64) -> SimulatorCredentials {
        var rng = SeededGenerator(seed: seed ^ 0xC0FF_EE00_C0FF_EE00)
        return SimulatorCredentials(
            accountSid: SidFactory.make("AC", rng: &rng), authToken: SidFactory.hex(&rng),
            apiKeys: [SidFactory.make("SK", rng: &rng): SidFactory.hex(&rng)])
    }

    /// True when `username:password` is the account's SID and one of its auth tokens, or one of its API keys.
    public func accepts(username: String, password: String) -> Bool {
        credential(username: username, password: password) != nil
    }

    /// Which of the account's credentials `username:password` is, or nil when none.
    public func credential(username: String, password: String) -> RequestCredential? {
        if username == accountSid {
            // Both compared, whichever matches: the time taken does not tell which token was tried.
            let primary = constantTimeEqual(password, authToken)
            let secondary = secondaryAuthToken.map { constantTimeEqual(password, $0) } ?? false
            return primary ? .primaryAuthToken : secondary ? .secondaryAuthToken : nil
        }
        guard let secret = apiKeys[username] else { return nil }
        return constantTimeEqual(password, secret) ? .apiKey(sid: username) : nil
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for index in x.indices { diff |= x[index] ^ y[index] }
        return diff == 0
    }
}

/// The credential a request authenticated with, as the request log shows it (never the secret).
public enum RequestCredential: Sendable, Hashable {
    /// The account SID with the primary auth token.
    case primaryAuthToken
    /// The account SID with the secondary auth token.
    case secondaryAuthToken
    /// An API key.
    case apiKey(sid: String)
}
