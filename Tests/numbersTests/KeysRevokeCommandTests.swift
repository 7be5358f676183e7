import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers keys revoke` asks first, as `release` does: a revoked key is refused for good, and it used to be revoked
/// at once, a slip of the id cutting off a service. The built `numbers` runs as a process against a stub server
/// (`swift build --build-tests` first).
@Suite("numbers keys revoke")
struct KeysRevokeCommandTests {
    @Test("asked on stderr: stdin closed declines (exit 1, nothing revoked), 'yes' or --yes revokes")
    func asksFirst() async throws {
        let revoked = Recorded<String>()
        var router = RPCRouter()
        router.register(NumbersMethods.revokeApiKey) { request, _ in
            revoked.append(request.keyId)
            // KEY_3 was revoked before: the answer keeps its time.
            let at = request.keyId == "KEY_3" ? Date(timeIntervalSince1970: 1_767_225_600) : Date()
            return RevokeApiKeyResponse(apiKey: ApiKey(id: request.keyId, revokedAt: at))
        }
        try await withStubServer(router: router) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let declined = try await runNumbers(["keys", "revoke", "KEY_1"] + connection, input: "")
            #expect(declined.status == 1, "\(declined)")
            #expect(declined.stderr.contains("Revoke KEY_1 for good?"), "\(declined.stderr)")
            #expect(declined.stderr.contains("not revoked by this run"), "\(declined.stderr)")
            #expect(declined.stdout.isEmpty, "\(declined.stdout)")
            let agreed = try await runNumbers(["keys", "revoke", "KEY_2"] + connection, input: "yes\n")
            #expect(agreed.status == 0 && agreed.stdout.contains("revoked KEY_2"), "\(agreed)")
            let unasked = try await runNumbers(["keys", "revoke", "KEY_3", "--yes"] + connection, input: "")
            #expect(unasked.status == 0, "\(unasked)")
            #expect(!unasked.stderr.contains("for good?"), "\(unasked.stderr)")
            #expect(unasked.stdout.contains("revoked KEY_3 at 2026-01-01T00:00:00"), "\(unasked.stdout)")
        }
        #expect(revoked.all == ["KEY_2", "KEY_3"])
    }
}
