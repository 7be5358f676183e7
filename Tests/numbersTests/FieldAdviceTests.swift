import Foundation
import NumberAPI
import NumberServer
import Testing

/// numberd refuses a missing or malformed field by its request name (`INVALID_FIELD`, `field=account_id`), which is
/// no flag of the CLI: an admin key with no account named got "account_id is required with an admin key;
/// field=account_id" from `balance`, `list`, `search`, `funds add` and `trunks create`, and nothing saying that
/// `--account` gives it. The CLI now adds the flag for the fields it has one for. The built `numbers` runs as a
/// process against a stub server (`swift build --build-tests` first).
@Suite("numbers: the flag for a field numberd refuses")
struct FieldAdviceTests {
    /// What numberd answers a call on one account made with an admin key and no account.
    static let missingAccount = RPCError(
        code: .invalidArgument, message: "account_id is required with an admin key", reason: "INVALID_FIELD",
        details: ["field": "account_id"])

    /// The server, CA and (admin) key, no account.
    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile]
    }

    static let adminKey = ["NUMBERS_KEY": "nk_admin"]

    @Test("balance with an admin key and no account: exit 3, numberd's words, then --account or NUMBERS_ACCOUNT")
    func accountMissing() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getBalance) { _, _ -> GetBalanceResponse in throw Self.missingAccount }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["balance"] + Self.connection(server), environment: Self.adminKey)
            #expect(run.status == 3, "\(run)")
            #expect(run.stderr.contains("account_id is required with an admin key"), "\(run.stderr)")
            #expect(run.stderr.contains("give the account: --account ACC_… or NUMBERS_ACCOUNT"), "\(run.stderr)")
        }
    }

    /// Found walking the CLI: `keys create --scope read-only` with no account got numberd's words and no flag. A
    /// numberd before field names were spelled as numbers.proto does named it `accountId`: the CLI takes both (this
    /// stub answers as that numberd).
    @Test("keys create of an account or read-only key with no account: exit 3, then --account")
    func keyAccountMissing() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.createApiKey) { _, _ -> CreateApiKeyResponse in
            throw RPCError(
                code: .invalidArgument, message: "a read-only key needs an account: name the account it is for",
                reason: "INVALID_FIELD", details: ["field": "accountId"])
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["keys", "create", "--scope", "read-only"] + Self.connection(server), environment: Self.adminKey)
            #expect(run.status == 3, "\(run)")
            #expect(run.stderr.contains("give the account: --account ACC_… or NUMBERS_ACCOUNT"), "\(run.stderr)")
        }
    }

    /// Found probing the CLI: `keys create --scope admin --account ACC_…` made a key of every account without a word.
    @Test("keys create --scope admin with --account: a usage error, nothing sent; the result line names whose key")
    func adminKeyWithAccount() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.createApiKey) { request, _ in
            CreateApiKeyResponse(
                apiKey: ApiKey(id: "KEY_1", accountId: request.accountId, scope: request.scope, name: request.name),
                secret: "nk_secret")
        }
        try await withStubServer(router: router) { server in
            let refused = try await runNumbers(
                ["keys", "create", "--scope", "admin", "--account", "ACC_1"] + Self.connection(server),
                environment: Self.adminKey)
            #expect(refused.status == 64 && refused.stderr.contains("leave out --account"), "\(refused)")
            let admin = try await runNumbers(
                ["keys", "create", "--scope", "admin"] + Self.connection(server),
                environment: Self.adminKey.merging(["NUMBERS_ACCOUNT": "ACC_1"]) { $1 })
            #expect(admin.status == 0 && admin.stdout.contains("(admin, every account)"), "\(admin)")
            let account = try await runNumbers(
                ["keys", "create", "--account", "ACC_1"] + Self.connection(server), environment: Self.adminKey)
            #expect(account.status == 0 && account.stdout.contains("(account, ACC_1)"), "\(account)")
        }
    }

    @Test("trunks create refused for its origination: exit 3, then --origination sip:…")
    func originationMissing() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.createTrunk) { _, _ -> CreateTrunkResponse in
            throw RPCError(
                code: .invalidArgument, message: "originationSipUri is required to create a trunk",
                reason: "INVALID_FIELD", details: ["field": "origination_sip_uri"])
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["trunks", "create", "--name", "pbx", "--account", "ACC_1"] + Self.connection(server),
                environment: Self.adminKey)
            #expect(run.status == 3, "\(run)")
            #expect(run.stderr.contains("--origination sip:…"), "\(run.stderr)")
            #expect(!run.stderr.contains("--account ACC_…"), "\(run.stderr)")
        }
    }

    /// Found walking the operator's flows: the advice contradicted the refusal (--origination given with --sid was
    /// told to give --origination) or had nothing to do with it (a SID registered already was told how SIDs look).
    @Test("trunks create: --origination with --sid is told to leave it out; a SID taken gets no advice on SIDs")
    func adviceFitsTheRefusal() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.createTrunk) { request, _ -> CreateTrunkResponse in
            guard request.originationSipUri.isEmpty else {
                // numberd's words (NumberService+Trunks.swift), which the advice is chosen by.
                throw RPCError(
                    code: .invalidArgument,
                    message: "originationSipUri is for a trunk numberd creates; a trunk registered by its SID is "
                        + "routed where it was configured",
                    reason: "INVALID_FIELD", details: ["field": "origination_sip_uri"])
            }
            throw RPCError(
                code: .alreadyExists, message: "a trunk with provider SID TK… is already registered",
                reason: "INVALID_FIELD", details: ["field": "provider_trunk_sid"])
        }
        try await withStubServer(router: router) { server in
            let sid = "TK" + String(repeating: "a", count: 32)
            let both = try await runNumbers(
                [
                    "trunks", "create", "--name", "pbx", "--sid", sid, "--origination", "sip:pbx.example.com",
                    "--account", "ACC_1",
                ] + Self.connection(server), environment: Self.adminKey)
            #expect(both.status == 3, "\(both)")
            #expect(both.stderr.contains("leave out --origination"), "\(both.stderr)")
            #expect(!both.stderr.contains("give where the trunk's calls go"), "\(both.stderr)")
            let taken = try await runNumbers(
                ["trunks", "create", "--name", "pbx", "--sid", sid, "--account", "ACC_1"] + Self.connection(server),
                environment: Self.adminKey)
            #expect(taken.status == 5, "\(taken)")
            #expect(taken.stderr.contains("already registered"), "\(taken.stderr)")
            #expect(!taken.stderr.contains("TK and 32 hex digits"), "\(taken.stderr)")
        }
    }

    @Test("a field with no flag of its own: numberd's words alone")
    func otherField() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getBalance) { _, _ -> GetBalanceResponse in
            throw RPCError(
                code: .invalidArgument, message: "page_size is out of range", reason: "INVALID_FIELD",
                details: ["field": "page_size"])
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["balance", "--account", "ACC_1"] + Self.connection(server), environment: Self.adminKey)
            #expect(run.status == 3, "\(run)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        }
    }

    @Test("trunks delete refused for its numbers: exit 5, then how to see and move them; none for a change in progress")
    func trunkInUse() async throws {
        for (numbers, advised) in [("2", true), ("0", false)] {
            var router = RPCRouter()
            router.register(NumbersMethods.deleteTrunk) { _, _ -> DeleteTrunkResponse in
                throw RPCError(
                    code: .failedPrecondition, message: "trunk TRK_a has 2 numbers", reason: "TRUNK_IN_USE",
                    details: ["trunkId": "TRK_a", "numbers": numbers])
            }
            try await withStubServer(router: router) { server in
                let run = try await runNumbers(
                    ["trunks", "delete", "TRK_a", "--account", "ACC_1"] + Self.connection(server),
                    environment: Self.adminKey)
                #expect(run.status == 5, "\(run)")
                #expect(run.stderr.contains("numbers list --trunk TRK_a --account ACC_1;") == advised, "\(run.stderr)")
            }
        }
    }
}
