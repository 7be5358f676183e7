/// The account the simulator serves: Account SID + Auth Token, and API keys (SK SID + secret).
public struct SimulatorCredentials: Sendable, Equatable {
    /// The account SID (`AC` + 32 hex).
    public var accountSid: String
    /// The account's auth token.
    public var authToken: String
    /// API keys: SID (`SK` + 32 hex) → secret.
    public var apiKeys: [String: String]

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

    /// True when `username:password` is the account's SID and token or one of its API keys.
    public func accepts(username: String, password: String) -> Bool {
        if username == accountSid { return constantTimeEqual(password, authToken) }
        guard let secret = apiKeys[username] else { return false }
        return constantTimeEqual(password, secret)
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
