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
        router.register(NumbersMethods.listApiKeys) { request, _ in
            // The connection names ACC_1, which has none of them: they are admin keys.
            ListApiKeysResponse(
                apiKeys: request.accountId.isEmpty ? ["KEY_1", "KEY_2", "KEY_3"].map { ApiKey(id: $0) } : [])
        }
        router.register(NumbersMethods.revokeApiKey) { request, _ in
            revoked.append(request.keyId)
            // KEY_3 was revoked before: the answer keeps its time.
            let at = request.keyId == "KEY_3" ? Date(timeIntervalSince1970: 1_767_225_600) : Date()
            return RevokeApiKeyResponse(
                apiKey: ApiKey(id: request.keyId, revokedAt: at), alreadyRevoked: request.keyId == "KEY_3")
        }
        try await withStubServer(router: router) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let declined = try await runNumbers(["keys", "revoke", "KEY_1"] + connection, input: "")
            #expect(declined.status == 1, "\(declined)")
            #expect(declined.stderr.contains("Revoke KEY_1 (admin key) for good?"), "\(declined.stderr)")
            #expect(declined.stderr.contains("not revoked by this run"), "\(declined.stderr)")
            #expect(declined.stdout.isEmpty, "\(declined.stdout)")
            let agreed = try await runNumbers(["keys", "revoke", "KEY_2"] + connection, input: "yes\n")
            #expect(agreed.status == 0 && agreed.stdout.hasPrefix("revoked KEY_2"), "\(agreed)")
            let unasked = try await runNumbers(["keys", "revoke", "KEY_3", "--yes"] + connection, input: "")
            #expect(unasked.status == 0, "\(unasked)")
            #expect(!unasked.stderr.contains("for good?"), "\(unasked.stderr)")
            // Revoked before: said so, not as this run's revocation.
            let said = "already revoked KEY_3 (admin key) at 2026-01-01T00:00:00"
            #expect(unasked.stdout.hasPrefix(said), "\(unasked.stdout)")
        }
        #expect(revoked.all == ["KEY_2", "KEY_3"])
    }

    /// Found walking the README: without an account the question showed the bare id, which an operator could not tell
    /// from another tenant's key, though the README says it names the key's owner.
    @Test("without an account: an admin key named in the question, any other said to be unchecked")
    func withoutAnAccount() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.listApiKeys) { request, _ in
            ListApiKeysResponse(
                apiKeys: request.accountId.isEmpty ? [ApiKey(id: "KEY_ADMIN", scope: .admin, name: "ops")] : [])
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_test"]
            let admin = try await runNumbers(["keys", "revoke", "KEY_ADMIN"] + connection, input: "")
            #expect(admin.status == 1, "\(admin)")
            #expect(admin.stderr.contains(#"Revoke KEY_ADMIN (admin key "ops") for good?"#), "\(admin.stderr)")
            let other = try await runNumbers(["keys", "revoke", "KEY_TENANT"] + connection, input: "")
            #expect(other.status == 1, "\(other)")
            #expect(
                other.stderr.contains(
                    "Revoke KEY_TENANT (not an admin key; whose it is was not checked: --account ACC_… checks it) for "
                        + "good?"), "\(other.stderr)")
        }
    }

    /// Found walking the operator's flows: `--account` was ignored, so a mistyped id revoked another tenant's key,
    /// and nothing printed said whose key went.
    @Test(
        "with an account the key must be that account's or an admin key (exit 4, nothing revoked); its owner is named")
    func accountChecked() async throws {
        let revoked = Recorded<String>()
        var router = RPCRouter()
        router.register(NumbersMethods.listApiKeys) { request, _ in
            if request.accountId == "ACC_GONE" {
                throw RPCError(code: .notFound, message: "no account ACC_GONE", reason: "ACCOUNT_NOT_FOUND")
            }
            guard request.accountId == "ACC_1" else {
                return ListApiKeysResponse(apiKeys: [ApiKey(id: "KEY_ADMIN", scope: .admin, name: "ops")])
            }
            // Two pages: the key is looked for on every one.
            if request.pageToken.isEmpty {
                return ListApiKeysResponse(
                    apiKeys: [ApiKey(id: "KEY_A0", accountId: "ACC_1", scope: .account)], nextPageToken: "p2")
            }
            return ListApiKeysResponse(
                apiKeys: [ApiKey(id: "KEY_A1", accountId: "ACC_1", scope: .readOnly, name: "billing")])
        }
        router.register(NumbersMethods.revokeApiKey) { request, _ in
            revoked.append(request.keyId)
            guard request.keyId != "KEY_ADMIN" else {
                return RevokeApiKeyResponse(
                    apiKey: ApiKey(id: "KEY_ADMIN", scope: .admin, name: "ops", revokedAt: Date()))
            }
            return RevokeApiKeyResponse(
                apiKey: ApiKey(
                    id: request.keyId, accountId: "ACC_1", scope: .readOnly, name: "billing", revokedAt: Date()))
        }
        try await withStubServer(router: router) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let other = try await runNumbers(
                ["keys", "revoke", "KEY_B7", "--account", "ACC_1", "--yes"] + connection, input: "")
            #expect(other.status == 4, "\(other)")
            #expect(other.stderr.contains("API_KEY_NOT_FOUND"), "\(other.stderr)")
            #expect(
                other.stderr.contains("KEY_B7 is neither a key of account ACC_1 nor an admin key: nothing revoked"),
                "\(other.stderr)")
            // An admin key with an account named (NUMBERS_ACCOUNT set, say) is found among the admin keys.
            let admin = try await runNumbers(
                ["keys", "revoke", "KEY_ADMIN", "--account", "ACC_1"] + connection, input: "yes\n")
            #expect(admin.stderr.contains(#"Revoke KEY_ADMIN (admin key "ops") for good?"#), "\(admin)")
            // An account that does not exist (a stale NUMBERS_ACCOUNT) does not stop an admin key's revocation, and
            // is named when the key is not an admin key either.
            let unnamed = Array(connection.dropLast(2))  // without its --account ACC_1
            let stale = try await runNumbers(
                ["keys", "revoke", "KEY_ADMIN", "--yes"] + unnamed, input: "",
                environment: ["NUMBERS_ACCOUNT": "ACC_GONE"])
            #expect(stale.status == 0 && stale.stdout.contains("revoked KEY_ADMIN (admin key"), "\(stale)")
            let unknown = try await runNumbers(
                ["keys", "revoke", "KEY_B7", "--yes"] + unnamed, input: "", environment: ["NUMBERS_ACCOUNT": "ACC_GONE"]
            )
            #expect(unknown.status == 4, "\(unknown)")
            #expect(unknown.stderr.contains("account ACC_GONE does not exist"), "\(unknown.stderr)")
            let theirs = try await runNumbers(
                ["keys", "revoke", "KEY_A1", "--account", "ACC_1"] + connection, input: "yes\n")
            #expect(theirs.status == 0, "\(theirs)")
            let named = #"KEY_A1 (account ACC_1, read-only key "billing")"#
            #expect(theirs.stderr.contains("Revoke \(named) for good?"), "\(theirs.stderr)")
            #expect(theirs.stdout.contains("revoked \(named) at "), "\(theirs.stdout)")
        }
        #expect(revoked.all == ["KEY_ADMIN", "KEY_ADMIN", "KEY_A1"])
    }

    /// Found by the limits audit: the search followed next-page tokens for as long as the server handed them out.
    @Test("the key search looks through at most 1000 pages an owner: found on the 1000th, refused after (exit 1)")
    func pagesBounded() async throws {
        let revoked = Recorded<String>()
        let listed = Recorded<String>()
        var router = RPCRouter()
        router.register(NumbersMethods.listApiKeys) { request, _ in
            listed.append(request.pageToken)
            // A next page for ever; KEY_EDGE on the 1000th (token "999").
            let page = Int(request.pageToken) ?? 0
            let keys = page == 999 ? [ApiKey(id: "KEY_EDGE", accountId: "ACC_1", scope: .account)] : []
            return ListApiKeysResponse(apiKeys: keys, nextPageToken: "\(page + 1)")
        }
        router.register(NumbersMethods.revokeApiKey) { request, _ in
            revoked.append(request.keyId)
            return RevokeApiKeyResponse(
                apiKey: ApiKey(id: request.keyId, accountId: "ACC_1", scope: .account, revokedAt: Date()))
        }
        try await withStubServer(router: router) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let found = try await runNumbers(["keys", "revoke", "KEY_EDGE", "--yes"] + connection, input: "")
            #expect(found.status == 0, "\(found)")
            #expect(listed.all.count == 1000)
            let endless = try await runNumbers(["keys", "revoke", "KEY_NONE", "--yes"] + connection, input: "")
            #expect(endless.status == 1, "\(endless)")
            #expect(endless.stderr.contains("more than 1000 pages of keys"), "\(endless.stderr)")
            #expect(endless.stderr.contains("nothing revoked"), "\(endless.stderr)")
            #expect(listed.all.count == 2000)
        }
        #expect(revoked.all == ["KEY_EDGE"])
    }
}
