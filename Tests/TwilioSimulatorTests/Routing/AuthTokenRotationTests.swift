import Foundation
import Testing

@testable import TwilioSimulator

/// Twilio's secondary auth token (Accounts v1 `/v1/AuthTokens/Secondary` and `/Promote`) and the account fetch a client
/// checks new credentials with: numberd's SIGHUP rotation is tested against them.
@Suite struct AuthTokenRotationTests {
    /// The status of `GET path` through `engine` with `user:password`, and the credential its log entry shows.
    static func get(
        _ engine: SimulatorEngine, _ path: String, _ user: String, _ password: String
    ) -> (status: Int?, credential: RequestCredential?) {
        let request = SimulatorRequest(
            method: "GET", target: path, headers: [("Authorization", RouterHarness.basic(user, password))], body: [])
        _ = engine.handle(request)
        let entry = engine.requestLog.last
        return (entry?.status, entry?.credential)
    }

    @Test("the account fetch answers the account; another account is 401, an API key SID in the path 404")
    func accountFetch() throws {
        var h = RouterHarness()
        let reply = h.send("GET", "\(h.api).json")
        #expect(reply.status == 200)
        #expect(reply.json["sid"] as? String == h.account && reply.json["status"] as? String == "active")
        #expect(reply.json["auth_token"] == nil)
        #expect(h.send("GET", "/2010-04-01/Accounts/AC\(String(repeating: "0", count: 32)).json").code == 20003)
        let (keySid, secret) = try #require(h.configuration.credentials.apiKeys.first)
        // The simulator's key is a Standard one, which may not read the Accounts resource (RouterAuthTests).
        #expect(h.send("GET", "\(h.api).json", authorization: RouterHarness.basic(keySid, secret)).status == 401)
        #expect(h.send("GET", "/2010-04-01/Accounts/\(keySid).json").code == 20404)
        #expect(h.send("GET", "\(h.api).json", authorization: RouterHarness.basic(h.account, "nope")).code == 20003)
        #expect(h.send("POST", "\(h.api).json").status == 405)
        #expect(Route(path: "\(h.api).json").endpoint(method: "GET") == .fetchAccount)
    }

    @Test("a secondary token authenticates beside the primary until promoted (the old primary then fails) or deleted")
    func secondaryToken() throws {
        let engine = try SimulatorEngine(configuration: .defaults)
        let account = engine.credentials.accountSid
        let primary = engine.credentials.authToken
        let path = "/2010-04-01/Accounts/\(account).json"
        #expect(Self.get(engine, path, account, primary) == (200, .primaryAuthToken))
        #expect(!engine.promoteSecondaryAuthToken())
        let secondary = engine.createSecondaryAuthToken()
        #expect(secondary.count == 32 && secondary != primary)
        #expect(Self.get(engine, path, account, secondary) == (200, .secondaryAuthToken))
        #expect(Self.get(engine, path, account, primary) == (200, .primaryAuthToken))
        #expect(engine.promoteSecondaryAuthToken())
        #expect(engine.credentials.authToken == secondary && engine.credentials.secondaryAuthToken == nil)
        #expect(Self.get(engine, path, account, primary) == (401, nil))
        #expect(Self.get(engine, path, account, secondary) == (200, .primaryAuthToken))
        let next = engine.createSecondaryAuthToken()
        engine.deleteSecondaryAuthToken()
        #expect(Self.get(engine, path, account, next) == (401, nil))
        // Set in the configuration, as for a twilio-sim started mid-rotation.
        var configuration = SimulatorConfiguration.defaults
        configuration.credentials.secondaryAuthToken = "configured-secondary"
        let configured = try SimulatorEngine(configuration: configuration)
        #expect(Self.get(configured, path, account, "configured-secondary") == (200, .secondaryAuthToken))
    }
}
