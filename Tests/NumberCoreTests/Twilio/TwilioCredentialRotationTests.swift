import Testing
import TwilioSimulator

@testable import NumberCore

/// ``TwilioProvider/rotateCredentials(to:)``: new credentials are checked at Twilio with one request and used only
/// once Twilio accepts them; an API key rotates the same way; another account is refused without asking.
@Suite("Twilio credential rotation")
struct TwilioCredentialRotationTests {
    @Test("a secondary auth token: checked with one page of the account's numbers, then sent by every later request")
    func rotatesToAnAcceptedToken() async throws {
        try await withTwilio { fixture in
            let provider = fixture.provider
            let original = provider.credentials
            let secondary = fixture.engine.createSecondaryAuthToken()
            let candidate = try TwilioCredentials.authToken(accountSid: original.accountSid, authToken: secondary)
            #expect(try await provider.rotateCredentials(to: candidate) == .rotated)
            let check = try #require(fixture.engine.requestLog.last)
            #expect(check.endpoint == .listNumbers && check.query == "PageSize=1")
            #expect(check.status == 200 && check.credential == .secondaryAuthToken)
            #expect(provider.credentials == candidate)
            fixture.engine.clearRequestLog()
            #expect(try await provider.rotateCredentials(to: candidate) == .unchanged)
            #expect(fixture.engine.requestLog.isEmpty)
            _ = try await provider.search(ProviderSearchQuery(country: "US", areaCode: "415", limit: 1))
            #expect(fixture.requests(.searchNumbers).map(\.credential) == [.secondaryAuthToken])
        }
    }

    /// A Standard API key — what Twilio's console makes by default — may not read the Accounts resource, which the
    /// check used to fetch: a valid key was refused as wrong and never taken.
    @Test("a Standard API key rotates in: the check reads what such a key may read")
    func rotatesToAStandardApiKey() async throws {
        try await withTwilio { fixture in
            let provider = fixture.provider
            let (sid, secret) = try #require(fixture.engine.credentials.apiKeys.first)
            #expect(!fixture.engine.credentials.mainApiKeys.contains(sid), "the simulator's key is a Standard one")
            let candidate = try TwilioCredentials.apiKey(
                accountSid: provider.credentials.accountSid, keySid: sid, keySecret: secret)
            #expect(try await provider.rotateCredentials(to: candidate) == .rotated)
            #expect(provider.credentials == candidate)
            #expect(fixture.engine.requestLog.last?.credential == .apiKey(sid: sid))
            _ = try await provider.search(ProviderSearchQuery(country: "US", areaCode: "415", limit: 1))
            #expect(fixture.requests(.searchNumbers).last?.credential == .apiKey(sid: sid))
        }
    }

    @Test("a token Twilio refuses is not used (.authentication); nor credentials of another account (not asked)")
    func refusedCredentialsAreNotUsed() async throws {
        try await withTwilio { fixture in
            let provider = fixture.provider
            let original = provider.credentials
            let wrong = try TwilioCredentials.authToken(accountSid: original.accountSid, authToken: "wrong-token")
            let refused = await #expect(throws: ProviderError.self) { try await provider.rotateCredentials(to: wrong) }
            #expect(refused?.kind == .authentication)
            #expect(provider.credentials == original)
            fixture.engine.clearRequestLog()
            let other = try TwilioCredentials.authToken(
                accountSid: "AC" + String(repeating: "ab", count: 16),
                authToken: fixture.engine.createSecondaryAuthToken())
            let moved = await #expect(throws: ProviderError.self) { try await provider.rotateCredentials(to: other) }
            #expect(moved?.kind == .invalidArgument)
            #expect(fixture.engine.requestLog.isEmpty)
            #expect(provider.credentials == original)
        }
    }
}
