import Foundation
import NumberAPI
import NumberServer
import Synchronization
import Testing

/// `numbers funds adjust`: the request the CLI sends (a credit, or a debit with `--debit` once the operator agreed, in
/// the currency `--currency` names, with its reason and an idempotency key) and what it prints. The built `numbers`
/// runs as a process against a stub server (`swift build --build-tests` first).
@Suite("numbers funds adjust")
struct FundsAdjustCommandTests {
    final class Received: Sendable {
        let calls = Mutex<[(AdjustBalanceRequest, String)]>([])
        var all: [(AdjustBalanceRequest, String)] { calls.withLock { $0 } }
    }

    static func router(_ received: Received) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, name: "Acme", currency: "USD"))
        }
        router.register(NumbersMethods.adjustBalance) { request, context in
            received.calls.withLock { $0.append((request, context.metadata["idempotency-key"] ?? "")) }
            return AdjustBalanceResponse(
                transaction: Transaction(
                    id: "TXN_1", kind: .adjustment, amount: Int64(request.amount.magnitude),
                    balanceChange: request.amount, currency: "USD", description: request.reason),
                balance: 10_000 + request.amount)
        }
        return router
    }

    /// The connection flags, and the currency, of a run against `server`.
    static func connection(_ server: StubServer) -> [String] {
        [
            "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account", "ACC_7",
            "--currency", "USD",
        ]
    }

    @Test("a credit, and a debit agreed to: the signed amount in minor units, the reason, a key; account and balance")
    func creditAndDebit() async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let connection = Self.connection(server)
            let credit = try await runNumbers(["funds", "adjust", "2.50", "--reason", "outage credit"] + connection)
            #expect(credit.status == 0, "\(credit)")
            #expect(
                credit.stdout.contains("adjusted ACC_7 (Acme) by 2.50 USD as TXN_1; balance 102.50 USD"),
                "\(credit.stdout)")
            #expect(!credit.stderr.contains("Type 'yes'"), "a credit asks nothing: \(credit.stderr)")
            let debit = try await runNumbers(
                ["funds", "adjust", "25", "--debit", "--reason", "double top-up", "--idempotency-key", "fix-1"]
                    + connection, input: "yes\n")
            #expect(debit.status == 0, "\(debit)")
            #expect(debit.stderr.contains("Debit 25.00 USD from ACC_7 (Acme)? Type 'yes'"), "\(debit.stderr)")
            #expect(
                debit.stdout.contains("adjusted ACC_7 (Acme) by -25.00 USD as TXN_1; balance 75.00 USD"),
                "\(debit.stdout)")
        }
        let calls = received.all
        #expect(calls.map(\.0.amount) == [250, -2_500])
        #expect(calls.map(\.0.reason) == ["outage credit", "double top-up"])
        #expect(calls.allSatisfy { $0.0.accountId == "ACC_7" && $0.0.currency == "USD" })
        #expect(
            calls.count == 2 && !calls[0].1.isEmpty && calls[1].1 == "fix-1",
            "a key made by the CLI, then the given one")
    }

    @Test(
        "a missing reason or a signed amount is a usage error (64), zero or too many decimals invalid (3): nothing posted",
        arguments: [
            (["funds", "adjust", "25"], Int32(64)), (["funds", "adjust", "-25", "--reason", "x"], Int32(64)),
            (["funds", "adjust", "--reason", "x", "--", "-25"], Int32(64)),
            (["funds", "adjust", "+25", "--reason", "x"], Int32(64)),
            (["funds", "adjust", "0", "--reason", "x"], Int32(3)),
            (["funds", "adjust", "2.555", "--reason", "x"], Int32(3)),
            (["funds", "adjust", "92233720368547759", "--reason", "x"], Int32(3)),
        ])
    func refusedBeforeSending(command: [String], status: Int32) async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let connection = Self.connection(server)
            // Options before a `--`: the arguments after it are positional.
            let arguments =
                command.contains("--")
                ? Array(command.prefix(2)) + connection + command.dropFirst(2) : command + connection
            let run = try await runNumbers(arguments)
            #expect(run.status == status, "\(run)")
            if status == 3 {
                #expect(run.stderr.contains("--debit takes it away"), "\(run.stderr)")
                #expect(run.stderr.contains("nothing was sent"), "\(run.stderr)")
            }
            if command.contains("-25"), command.contains("--") {
                #expect(run.stderr.contains("amounts are unsigned: give 25, not -25"), "\(run.stderr)")
            }
            if command.contains("+25") {
                #expect(run.stderr.contains("amounts are unsigned: give 25, not +25"), "\(run.stderr)")
            }
            // ArgumentParser reads `-25` as an option; the CLI says what it is.
            if command.contains("-25"), !command.contains("--") {
                #expect(run.stderr.contains("amounts are unsigned: give 25, not -25"), "\(run.stderr)")
            }
        }
        #expect(received.all.isEmpty)
    }

    /// A debit used to be posted at once: a slip of the account or the amount took money without a word.
    @Test("a debit with stdin closed: asked, declined as a release is (exit 1), nothing posted")
    func debitDeclined() async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let run = try await runNumbers(
                ["funds", "adjust", "5", "--debit", "--reason", "x"] + Self.connection(server), input: "")
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("Debit 5.00 USD from ACC_7 (Acme)?"), "\(run.stderr)")
            #expect(run.stderr.contains("not debited (pass --yes to skip the question)"), "\(run.stderr)")
            #expect(!run.stderr.contains("idempotency key"), "no keyed call was made: \(run.stderr)")
            #expect(run.stdout.isEmpty, "\(run.stdout)")
            let unasked = try await runNumbers(
                ["funds", "adjust", "5", "--debit", "--reason", "x", "--yes"] + Self.connection(server), input: "")
            #expect(unasked.status == 0, "\(unasked)")
            #expect(!unasked.stderr.contains("Type 'yes'"), "\(unasked.stderr)")
            // A rerun under a key (an unknown outcome's advice) declined: the earlier run may have debited, so not
            // "not debited".
            let rerun = try await runNumbers(
                ["funds", "adjust", "5", "--debit", "--reason", "x", "--idempotency-key", "fix-1"]
                    + Self.connection(server), input: "")
            #expect(rerun.status == 1, "\(rerun)")
            #expect(!rerun.stderr.contains("not debited"), "\(rerun.stderr)")
            #expect(rerun.stderr.contains("may have debited already"), "\(rerun.stderr)")
            // Keys are per account: the rerun names it, whatever NUMBERS_ACCOUNT says by then.
            #expect(
                rerun.stderr.contains("--yes and the same --idempotency-key fix-1 --account ACC_7"), "\(rerun.stderr)")
        }
        #expect(received.all.map(\.0.amount) == [-500], "only the debit given --yes")
    }
}
