import CurlHTTP
import Testing

@testable import NumberCore

@Suite("TwilioCredentials and configuration")
struct TwilioCredentialsTests {
    static let account = "AC" + String(repeating: "0123456789abcdef", count: 2)
    static let key = "SK" + String(repeating: "fedcba9876543210", count: 2)
    static let secret = "s3cretTokenValue"

    @Test func authTokenFromEnvironment() throws {
        let credentials = try #require(
            try TwilioCredentials.fromEnvironment([
                "TWILIO_ACCOUNT_SID": Self.account, "TWILIO_AUTH_TOKEN": Self.secret,
            ]))
        #expect(credentials.accountSid == Self.account && credentials.username == Self.account)
        #expect(credentials.secret == Self.secret)
    }

    @Test func apiKeyIsPreferred() throws {
        let credentials = try #require(
            try TwilioCredentials.fromEnvironment([
                "TWILIO_ACCOUNT_SID": Self.account, "TWILIO_AUTH_TOKEN": "other", "TWILIO_API_KEY_SID": Self.key,
                "TWILIO_API_KEY_SECRET": Self.secret,
            ]))
        #expect(credentials.accountSid == Self.account)
        #expect(credentials.username == Self.key)
    }

    @Test func noVariablesMeansNoCredentials() throws {
        #expect(try TwilioCredentials.fromEnvironment(["HOME": "/root"]) == nil)
    }

    @Test(arguments: [
        ["TWILIO_AUTH_TOKEN": secret],
        ["TWILIO_ACCOUNT_SID": account],
        ["TWILIO_ACCOUNT_SID": account, "TWILIO_API_KEY_SID": key],
        ["TWILIO_ACCOUNT_SID": account + " ", "TWILIO_AUTH_TOKEN": secret],
        ["TWILIO_ACCOUNT_SID": account, "TWILIO_AUTH_TOKEN": "with space"],
        ["TWILIO_ACCOUNT_SID": account, "TWILIO_AUTH_TOKEN": ""],
        ["TWILIO_ACCOUNT_SID": key, "TWILIO_AUTH_TOKEN": secret],
        ["TWILIO_ACCOUNT_SID": account, "TWILIO_API_KEY_SID": account, "TWILIO_API_KEY_SECRET": secret],
    ])
    func incompleteOrMalformedIsAnAuthenticationError(environment: [String: String]) {
        #expect(throws: ProviderError.self) { try TwilioCredentials.fromEnvironment(environment) }
        do {
            _ = try TwilioCredentials.fromEnvironment(environment)
        } catch {
            #expect(error.kind == .authentication)
        }
    }

    @Test func descriptionsNeverShowTheSecret() throws {
        let credentials = try TwilioCredentials.apiKey(
            accountSid: Self.account, keySid: Self.key, keySecret: Self.secret)
        let configuration = TwilioConfiguration(credentials: credentials)
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in ["\(credentials)", "\(configuration)", String(reflecting: credentials), dumped] {
            #expect(!text.contains(Self.secret))
        }
        #expect("\(configuration)".contains(Self.key))
    }

    @Test func aDumpedRequestNeverShowsTheSecret() {
        let request = HTTPRequest(
            method: .get, url: "https://api.twilio.com/2010-04-01/Accounts.json",
            basicAuth: BasicCredentials(username: Self.key, password: Self.secret))
        var dumped = ""
        dump(request, to: &dumped)
        #expect(!dumped.contains(Self.secret) && dumped.contains(Self.key))
        #expect(!String(reflecting: request).contains(Self.secret))
    }
}
