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

/// Makes Twilio-style SIDs: a two-letter prefix and 32 lower-case hex digits.
public enum SidFactory {
    /// `prefix` + 32 hex digits from `rng`.
    public static func make(_ prefix: String, rng: inout SeededGenerator) -> String {
        prefix + hex(&rng)
    }

    /// 32 lower-case hex digits.
    public static func hex(_ rng: inout SeededGenerator) -> String {
        var text = ""
        for _ in 0..<2 {
            let word = String(rng.next(), radix: 16)
            text += String(repeating: "0", count: 16 - word.count) + word
        }
        return text
    }
}
