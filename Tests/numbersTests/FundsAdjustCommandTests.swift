import Foundation
import NumberAPI
import NumberServer
import Synchronization
import Testing

/// `numbers funds adjust`: the request the CLI sends (a credit, or a debit with `--debit`, in the account's currency,
/// with its reason and an idempotency key) and what it prints. The built `numbers` runs as a process against a stub
/// server (`swift build --build-tests` first).
@Suite("numbers funds adjust")
struct FundsAdjustCommandTests {
    final class Received: Sendable {
        let calls = Mutex<[(AdjustBalanceRequest, String)]>([])
        var all: [(AdjustBalanceRequest, String)] { calls.withLock { $0 } }
    }

    static func router(_ received: Received) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
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

    @Test("a credit, and a debit with --debit: the signed amount in minor units, the reason, a key; the new balance")
    func creditAndDebit() async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let connection = [
                "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account",
                "ACC_7",
            ]
            let credit = try await runNumbers(["funds", "adjust", "2.50", "--reason", "outage credit"] + connection)
            #expect(credit.status == 0, "\(credit)")
            #expect(credit.stdout.contains("adjusted by 2.50 USD (TXN_1); balance 102.50 USD"), "\(credit.stdout)")
            let debit = try await runNumbers(
                ["funds", "adjust", "25", "--debit", "--reason", "double top-up", "--idempotency-key", "fix-1"]
                    + connection)
            #expect(debit.status == 0, "\(debit)")
            #expect(debit.stdout.contains("adjusted by -25.00 USD (TXN_1); balance 75.00 USD"), "\(debit.stdout)")
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
            (["funds", "adjust", "--reason", "x", "--", "-25"], Int32(3)),
            (["funds", "adjust", "0", "--reason", "x"], Int32(3)),
            (["funds", "adjust", "2.555", "--reason", "x"], Int32(3)),
            (["funds", "adjust", "92233720368547759", "--reason", "x"], Int32(3)),
        ])
    func refusedBeforeSending(command: [String], status: Int32) async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let connection = [
                "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account",
                "ACC_7",
            ]
            // Options before a `--`: the arguments after it are positional.
            let arguments =
                command.contains("--")
                ? Array(command.prefix(2)) + connection + command.dropFirst(2) : command + connection
            let run = try await runNumbers(arguments)
            #expect(run.status == status, "\(run)")
            if status == 3 { #expect(run.stderr.contains("--debit takes it away"), "\(run.stderr)") }
        }
        #expect(received.all.isEmpty)
    }
}
