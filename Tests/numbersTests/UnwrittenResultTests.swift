import Foundation
import NumberAPI
import NumberServer
import Testing

/// A result that cannot be written to standard output (`> /dev/full`, a full disk): the command was carried out, so
/// stderr says so with how to see or undo it, and the run exits 11. It used to exit 0 with the result lost: a new
/// key's one-time secret, a credit's transaction. The built `numbers` runs as a process against a stub server
/// (`swift build --build-tests` first), its standard output `/dev/full`.
@Suite("numbers: a result that cannot be written")
struct UnwrittenResultTests {
    /// A server that creates keys (KEY_9) and takes credits, recording the idempotency key of each credit.
    static func router(_ keys: Recorded<String>) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.createApiKey) { request, _ in
            CreateApiKeyResponse(
                apiKey: ApiKey(id: "KEY_9", accountId: request.accountId, scope: .account, name: request.name),
                secret: "nk_once")
        }
        router.register(NumbersMethods.getBalance) { request, _ in
            GetBalanceResponse(accountId: request.accountId, balance: 100, currency: "USD", available: 100)
        }
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
        }
        router.register(NumbersMethods.addFunds) { request, context in
            keys.append(context.metadata["idempotency-key"] ?? "")
            return AddFundsResponse(
                transaction: Transaction(
                    id: "TXN_1", kind: .fundsAdded, amount: request.amount, balanceChange: request.amount,
                    currency: "USD"),
                balance: request.amount)
        }
        return router
    }

    /// `/dev/full`, where every write fails with ENOSPC.
    static func full() throws -> FileHandle {
        try #require(FileHandle(forWritingAtPath: "/dev/full"), "no /dev/full")
    }

    @Test("keys create > /dev/full: exit 11, stderr names the key to revoke, the secret lost")
    func keyCreated() async throws {
        try await withStubServer(router: Self.router(Recorded<String>())) { server in
            let run = try await runNumbers(
                ["keys", "create", "--name", "lost"] + UnknownOutcomeTests.connection(server), output: try Self.full())
            #expect(run.status == 11, "\(run)")
            #expect(run.stderr.contains("carried out, but its result could not be written"), "\(run.stderr)")
            #expect(run.stderr.contains("numbers keys revoke KEY_9"), "\(run.stderr)")
            #expect(!run.stderr.contains("nk_once"), "the secret goes to stdout only: \(run.stderr)")
        }
    }

    @Test("funds add --json > /dev/full: exit 11 after the credit, stderr names the key whose rerun shows it")
    func creditMade() async throws {
        let keys = Recorded<String>()
        try await withStubServer(router: Self.router(keys)) { server in
            let run = try await runNumbers(
                ["funds", "add", "1", "--currency", "USD", "--json"] + UnknownOutcomeTests.connection(server),
                output: try Self.full())
            #expect(run.status == 11, "\(run)")
            let key = try #require(keys.all.first, "the credit was never sent")
            #expect(run.stderr.contains("the credit was made under idempotency key \(key)"), "\(run.stderr)")
            #expect(run.stderr.contains("--idempotency-key \(key)"), "\(run.stderr)")
        }
        #expect(keys.all.count == 1)
    }

    /// A pipe whose reader has gone (`numbers … | head -1` once head exits): every write fails with EPIPE.
    static func closedPipe() -> FileHandle {
        let pipe = Pipe()
        pipe.fileHandleForReading.closeFile()
        return pipe.fileHandleForWriting
    }

    @Test("a look into a pipe whose reader went away ends 0; a credit into one still exits 11")
    func closedPipe() async throws {
        let keys = Recorded<String>()
        try await withStubServer(router: Self.router(keys)) { server in
            let look = try await runNumbers(
                ["balance", "--json"] + UnknownOutcomeTests.connection(server), output: Self.closedPipe())
            #expect(look.status == 0, "\(look)")
            #expect(!look.stderr.contains("could not be written"), "\(look.stderr)")
            let credit = try await runNumbers(
                ["funds", "add", "1", "--currency", "USD", "--json"] + UnknownOutcomeTests.connection(server),
                output: Self.closedPipe())
            #expect(credit.status == 11, "\(credit)")
        }
    }
}
