import Foundation
import Testing

@testable import TwilioSimulator

@Suite struct RouterAuthTests {
    static let cases: [(String, String?)] = [
        ("wrong token", RouterHarness.basic(SimulatorConfiguration.defaults.credentials.accountSid, "nope")),
        ("unknown user", RouterHarness.basic("AC" + String(repeating: "f", count: 32), "x")),
        ("no header", ""),
        ("bearer", "Bearer abc"),
        ("bad base64", "Basic !!!"),
        ("no colon", "Basic " + Data("abc".utf8).base64EncodedString()),
    ]

    @Test(arguments: cases)
    func badCredentialsAre401With20003(label: String, header: String?) {
        var h = RouterHarness()
        for path in ["\(h.api)/AvailablePhoneNumbers/US/Local.json", "/v1/Trunks", "/v1/PhoneNumbers/Countries/US"] {
            let reply = h.send("GET", path, authorization: header)
            #expect(reply.status == 401, "\(label) \(path)")
            #expect(reply.code == 20003)
            #expect(reply.json["message"] as? String == "Authenticate")
            #expect(reply.json["more_info"] as? String == "https://www.twilio.com/docs/errors/20003")
        }
    }

    @Test func apiKeyIsAccepted() throws {
        var h = RouterHarness()
        let (sid, secret) = try #require(h.configuration.credentials.apiKeys.first)
        let reply = h.send(
            "GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json", authorization: RouterHarness.basic(sid, secret))
        #expect(reply.status == 200)
        #expect(h.send("GET", "/v1/Trunks", authorization: RouterHarness.basic(sid, secret + "x")).status == 401)
    }

    /// Twilio's docs ("API keys"): a Standard key has "access to all Twilio API resources, except for Accounts
    /// (/Accounts) or Keys"; a Main key has them all.
    @Test func standardApiKeysMayNotReadTheAccount() throws {
        let (sid, secret) = try #require(SimulatorConfiguration.defaults.credentials.apiKeys.first)
        var standard = RouterHarness()
        let account = "\(standard.api).json"
        let refused = standard.send("GET", account, authorization: RouterHarness.basic(sid, secret))
        #expect(refused.status == 401 && refused.code == 20003)
        let numbers = standard.send(
            "GET", "\(standard.api)/IncomingPhoneNumbers.json?PageSize=1",
            authorization: RouterHarness.basic(sid, secret))
        #expect(numbers.status == 200, "every other resource")
        #expect(standard.send("GET", account).status == 200, "the auth token reads it")
        var configuration = SimulatorConfiguration.defaults
        configuration.credentials.mainApiKeys = [sid]
        var main = RouterHarness(configuration: configuration)
        #expect(main.send("GET", account, authorization: RouterHarness.basic(sid, secret)).status == 200)
    }

    @Test func pathAccountMustBeTheAuthenticatedOne() throws {
        var h = RouterHarness()
        let other = "AC" + String(repeating: "0", count: 32)
        #expect(h.send("GET", "/2010-04-01/Accounts/\(other)/IncomingPhoneNumbers.json").code == 20003)
        let (keySid, _) = try #require(h.configuration.credentials.apiKeys.first)
        #expect(h.send("GET", "/2010-04-01/Accounts/\(keySid)/IncomingPhoneNumbers.json").code == 20404)
    }

    @Test func unknownPathsAnd2010WithoutJsonAre404() {
        var h = RouterHarness()
        #expect(h.send("GET", "\(h.api)/IncomingPhoneNumbers").status == 404)
        #expect(h.send("GET", "/v2/Trunks").status == 404)
        #expect(h.send("GET", "/").status == 404)
        #expect(h.send("PUT", "/v1/Trunks").status == 405)
        #expect(h.send("DELETE", "\(h.api)/IncomingPhoneNumbers.json").status == 405)
    }
}
