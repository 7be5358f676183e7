import Foundation
import NumberAPI
import NumberServer
import Testing

/// Found walking the CLI: with `--json` a result is JSON on stdout, but a failure was text on stderr only, which a
/// script must parse by its wording. It is one JSON line now, with numberd's code, reason and metadata. The built
/// `numbers` runs as a process against a stub server (`swift build --build-tests` first).
@Suite("numbers --json: a failure is one JSON line on stderr")
struct JSONErrorTests {
    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account", "ACC_1"]
    }

    @Test("a refused call: exit status as without --json, its code, reason, metadata and the CLI's message")
    func refusedCall() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getBalance) { _, _ -> GetBalanceResponse in
            throw RPCError(
                code: .notFound, message: "account ACC_1 not found", reason: "ACCOUNT_NOT_FOUND",
                details: ["accountId": "ACC_1"])
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["balance", "--json"] + Self.connection(server))
            #expect(run.status == 4, "\(run)")
            #expect(run.stdout.isEmpty, "\(run.stdout)")
            let lines = run.stderr.split(separator: "\n").filter { !$0.hasPrefix("numbers: warning") }
            try #require(lines.count == 1, "\(run.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
            let error = try #require(object?["error"] as? [String: Any], "\(run.stderr)")
            #expect(error["exitCode"] as? Int == 4)
            #expect(error["code"] as? String == "NOT_FOUND")
            #expect(error["reason"] as? String == "ACCOUNT_NOT_FOUND")
            #expect((error["details"] as? [String: String]) == ["accountId": "ACC_1"])
            #expect((error["message"] as? String)?.contains("account ACC_1 not found") == true, "\(error)")
        }
    }

    @Test("a refusal of the CLI's own, nothing sent: exit status, message, no code or reason")
    func localRefusal() async throws {
        try await withStubServer(router: RPCRouter()) { server in
            let run = try await runNumbers(
                ["funds", "add", "1.2345", "--currency", "USD", "--json"] + Self.connection(server))
            #expect(run.status == 3, "\(run)")
            let lines = run.stderr.split(separator: "\n").filter { !$0.hasPrefix("numbers: warning") }
            try #require(lines.count == 1, "\(run.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
            let error = try #require(object?["error"] as? [String: Any], "\(run.stderr)")
            #expect(error["exitCode"] as? Int == 3 && error["code"] == nil && error["reason"] == nil, "\(error)")
            #expect((error["message"] as? String)?.contains("nothing was sent") == true, "\(error)")
        }
    }

    /// Found walking the CLI: after a question answered from a pipe, the JSON error shared the question's line.
    @Test("a question declined from a pipe or at the end of input: the JSON error is a line of its own")
    func afterAQuestion() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.listApiKeys) { _, _ in ListApiKeysResponse(apiKeys: [ApiKey(id: "KEY_1")]) }
        try await withStubServer(router: router) { server in
            for input in ["no\n", ""] {
                let run = try await runNumbers(
                    ["keys", "revoke", "KEY_1", "--json"] + Self.connection(server), input: input)
                #expect(run.status == 1, "\(run)")
                let lines = run.stderr.split(separator: "\n").filter { !$0.hasPrefix("numbers: warning") }
                try #require(lines.count == 2, "\(run.stderr)")
                #expect(lines[0].hasSuffix("Type 'yes' to go on: "), "\(lines[0])")
                let object = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any]
                #expect((object?["error"] as? [String: Any])?["exitCode"] as? Int == 1, "\(lines[1])")
            }
        }
    }

    /// Found walking the CLI: a usage error found once the command ran (a key file that cannot be read) was text under
    /// the root command's usage, `--json` or not.
    @Test("a key file that cannot be read, with --json: exit 64, one JSON line naming it; without, one text line")
    func usageErrorAfterParsing() async throws {
        try await withStubServer(router: RPCRouter()) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile]
            let missing = "/nonexistent-\(UUID()).key"
            let run = try await runNumbers(["balance", "--key-file", missing, "--json"] + connection)
            #expect(run.status == 64, "\(run)")
            let lines = run.stderr.split(separator: "\n").filter { !$0.hasPrefix("numbers: warning") }
            try #require(lines.count == 1, "\(run.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
            let error = try #require(object?["error"] as? [String: Any], "\(run.stderr)")
            #expect(error["exitCode"] as? Int == 64)
            #expect((error["message"] as? String)?.contains(missing) == true, "\(error)")
            let text = try await runNumbers(["balance", "--key-file", missing] + connection)
            #expect(text.status == 64 && !text.stderr.contains("Usage: numbers <subcommand>"), "\(text)")
            #expect(text.stderr.contains(missing), "\(text.stderr)")
        }
    }
}
