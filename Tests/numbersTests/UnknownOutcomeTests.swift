import Foundation
import NumberAPI
import NumberServer
import Synchronization
import Testing

@testable import numbers

/// `numbers funds add`, `numbers funds adjust`, `numbers buy` and `numbers adopt` when the outcome is not known: the CLI makes the idempotency key itself,
/// and on a failure that leaves the outcome open it names the key and the flag that reruns the command safely.
/// The built `numbers` runs as a process against a stub server (`swift build --build-tests` first).
@Suite("numbers: keyed commands whose outcome is unknown")
struct UnknownOutcomeTests {
    /// The idempotency keys the stub server received, in order.
    final class ReceivedKeys: Sendable {
        let keys = Mutex<[String]>([])
        var all: [String] { keys.withLock { $0 } }
        func record(_ context: CallContext) { keys.withLock { $0.append(context.metadata["idempotency-key"] ?? "") } }
    }

    /// A server on which accounts exist (in USD) and purchases and credits are taken but never answered.
    static func neverAnswering(_ received: ReceivedKeys) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
        }
        router.register(NumbersMethods.addFunds) { _, context in
            received.record(context)
            try await Task.sleep(for: .seconds(60))
            return AddFundsResponse()
        }
        router.register(NumbersMethods.purchaseNumbers) { _, context in
            received.record(context)
            try await Task.sleep(for: .seconds(60))
            return PurchaseNumbersResponse()
        }
        router.register(NumbersMethods.adjustBalance) { _, context in
            received.record(context)
            try await Task.sleep(for: .seconds(60))
            return AdjustBalanceResponse()
        }
        router.register(NumbersMethods.adoptNumber) { _, context in
            received.record(context)
            try await Task.sleep(for: .seconds(60))
            return AdoptNumberResponse()
        }
        return router
    }

    /// `numbers adopt` of a number, charged in full (every run needs `--country` and `--charge`).
    static let adopt = ["adopt", "+14155550100", "--country", "US", "--charge", "full"]

    /// The connection flags of a run against `server`.
    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_test", "--account", "ACC_1"]
    }

    /// The deadline of each call: the keyed one is never answered, so each run takes this long, but the first
    /// call's also covers the process's start, the connection and its TLS handshake, which on a machine busy with the
    /// rest of the suite took more than 15 s (then the keyed call is never sent and the test fails).
    static let deadline = ["--timeout", "40"]

    /// The deadline of a call a signal ends (``InterruptionTests``): never reached, so as long as a starved start
    /// may need.
    static let signalledDeadline = ["--timeout", "300"]

    @Test(
        "a call that is never answered: stderr says the outcome is unknown and gives the key the server received",
        arguments: [
            ["funds", "add", "25", "--currency", "USD"],
            ["funds", "adjust", "25", "--currency", "USD", "--debit", "--yes", "--reason", "fix"],
            ["buy", "+14155550100"], ["buy", "+14155550100", "--idempotency-key", "given-key"], adopt,
            adopt + ["--idempotency-key", "given-key"],
        ])
    func neverAnswered(command: [String]) async throws {
        let received = ReceivedKeys()
        try await withStubServer(router: Self.neverAnswering(received)) { server in
            let run = try await runNumbers(command + Self.connection(server) + Self.deadline)
            // Its own exit status: a script that retries "unavailable" (7) must not rerun it under a new key.
            #expect(run.status == 10, "\(run)")
            let key = try #require(received.all.first, "the server received no call")
            #expect(!key.isEmpty)
            if command.contains("--idempotency-key") { #expect(key == "given-key") }
            #expect(run.stderr.contains("outcome is unknown"), "\(run.stderr)")
            #expect(run.stderr.contains("--idempotency-key \(key)"), "\(run.stderr)")
            // The key answers a rerun only while numberd keeps it (24 h of its running time): after that, look first.
            #expect(run.stderr.contains("keeps the key for 24 hours of its running time"), "\(run.stderr)")
            #expect(run.stderr.contains("check numbers transactions before rerunning"), "\(run.stderr)")
            #expect(received.all == [key])
        }
    }

    /// The rerun the advice asks for, answered with the first run's result (`replayed`): the command says nothing was
    /// done now and labels the balance as the one after that first run (money may have moved since). It printed the
    /// first run's line as if it had just been done.
    @Test(
        "a rerun under the key answered with the first result: 'nothing was done now', the balance after it",
        arguments: [
            (
                ["funds", "add", "25", "--currency", "USD"],
                "added 25.00 USD to ACC_1 as TXN_1; balance after it 125.00 USD", "credit"
            ),
            (
                ["funds", "adjust", "25", "--currency", "USD", "--debit", "--yes", "--reason", "fix"],
                "adjusted ACC_1 by -25.00 USD as TXN_2; balance after it 75.00 USD", "adjustment"
            ),
            (["buy", "+14155550100"], "charged 1.33 USD, balance after it 98.67 USD", "purchase"),
            (
                adopt, "adopted +14155550100 as NUM_1 for ACC_1: charged 1.33 USD, balance after it 98.67 USD",
                "adoption"
            ),
            (["release", "NUM_1", "--yes"], "Phone number released successfully: +14155550100 (NUM_1)", "release"),
        ])
    func replayedAnswer(command: [String], result: String, what: String) async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
        }
        router.register(NumbersMethods.addFunds) { _, _ in
            AddFundsResponse(
                transaction: Transaction(
                    id: "TXN_1", kind: .fundsAdded, amount: 2_500, balanceChange: 2_500, currency: "USD"),
                balance: 12_500, replayed: true)
        }
        router.register(NumbersMethods.adjustBalance) { _, _ in
            AdjustBalanceResponse(
                transaction: Transaction(
                    id: "TXN_2", kind: .adjustment, amount: 2_500, balanceChange: -2_500, currency: "USD"),
                balance: 7_500, replayed: true)
        }
        router.register(NumbersMethods.purchaseNumbers) { _, _ in
            PurchaseNumbersResponse(
                message: "Phone number purchased successfully",
                numbers: [
                    PurchasedNumber(
                        number: PhoneNumber(id: "NUM_1", phoneNumber: "+14155550100"),
                        transaction: Transaction(
                            id: "TXN_3", kind: .purchase, amount: 133, balanceChange: -133, currency: "USD"))
                ],
                totalCharged: 133, currency: "USD", balanceAfter: 9_867, replayed: true)
        }
        router.register(NumbersMethods.adoptNumber) { _, _ in
            AdoptNumberResponse(
                number: PhoneNumber(id: "NUM_1", phoneNumber: "+14155550100"),
                transaction: Transaction(
                    id: "TXN_3", kind: .purchase, amount: 133, balanceChange: -133, currency: "USD"),
                balanceAfter: 9_867, currency: "USD", replayed: true)
        }
        // A release's dry run under the key answers with the release made under it.
        router.register(NumbersMethods.releaseNumber) { _, _ in
            ReleaseNumberResponse(
                message: "Phone number released successfully", id: "NUM_1", phoneNumber: "+14155550100",
                finalBilling: FinalBilling(currency: "USD"), replayed: true)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                command + ["--idempotency-key", "first-run"] + Self.connection(server) + Self.deadline)
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains(result), "\(run.stdout)")
            // Found walking the CLI: a release's replay printed no key line; each command prints it once.
            let line = "numbers: idempotency key first-run (account ACC_1)\n"
            #expect(run.stderr.components(separatedBy: line).count == 2, "\(run.stderr)")
            #expect(
                run.stdout.contains("(the \(what) made earlier under this idempotency key: nothing was done now)"),
                "\(run.stdout)")
        }
    }

    /// The dry run under the key and the release under it: the key's line once, before the first of them.
    @Test("release --idempotency-key: the key's line is printed once, before the dry run that may replay")
    func releaseKeyLineOnce() async throws {
        let received = ReceivedKeys()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, context in
            received.record(context)
            return ReleaseNumberResponse(
                message: "Phone number released successfully", id: "NUM_1", phoneNumber: "+14155550100",
                finalBilling: FinalBilling(currency: "USD"), dryRun: request.dryRun)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["release", "NUM_1", "--yes", "--idempotency-key", "k1"] + Self.connection(server) + Self.deadline)
            #expect(run.status == 0, "\(run)")
            let line = "numbers: idempotency key k1 (account ACC_1)\n"
            #expect(run.stderr.components(separatedBy: line).count == 2, "\(run.stderr)")
        }
        #expect(received.all == ["k1", "k1"], "the dry run and the release, both under the key")
    }

    @Test("a call without a key whose outcome is unknown (a trunk the provider may have made): look before a rerun")
    func unkeyedUnknown() async throws {
        let created = Mutex(0)
        var router = RPCRouter()
        router.register(NumbersMethods.createTrunk) { _, _ -> CreateTrunkResponse in
            created.withLock { $0 += 1 }
            throw RPCError(code: .unavailable, message: "the provider's answer was lost", reason: "OUTCOME_UNKNOWN")
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["trunks", "create", "--name", "pbx"] + Self.connection(server))
            #expect(run.status == 10, "\(run)")
            #expect(run.stderr.contains("Look before running it again"), "\(run.stderr)")
            // Made at Twilio and not recorded, it shows only in the provider audit.
            #expect(run.stderr.contains("numbers audit"), "\(run.stderr)")
            #expect(!run.stderr.contains("--idempotency-key"), "no key to rerun with: \(run.stderr)")
        }
        #expect(created.withLock { $0 } == 1, "not retried once sent")
    }

    /// A server whose unkeyed changes that a repeat settles all end with their outcome unknown, as numberd answers
    /// a trunk change whose provider request got no answer; it records each call's method.
    static func unsettled(_ calls: Recorded<String>) -> RPCRouter {
        let lost = RPCError(
            code: .unavailable,
            message: "the trunk change may have reached the provider and may still take effect there; make it again "
                + "to settle it", reason: "OUTCOME_UNKNOWN")
        var router = RPCRouter()
        router.register(NumbersMethods.updateNumber) { _, _ -> UpdateNumberResponse in
            calls.append("UpdateNumber")
            throw lost
        }
        router.register(NumbersMethods.deleteTrunk) { _, _ -> DeleteTrunkResponse in
            calls.append("DeleteTrunk")
            throw lost
        }
        router.register(NumbersMethods.revokeApiKey) { _, _ -> RevokeApiKeyResponse in
            calls.append("RevokeApiKey")
            throw lost
        }
        router.register(NumbersMethods.setAccountStatus) { _, _ -> SetAccountStatusResponse in
            calls.append("SetAccountStatus")
            throw lost
        }
        // `keys revoke` with an account looks the key up first (an admin key here).
        router.register(NumbersMethods.listApiKeys) { request, _ in
            ListApiKeysResponse(apiKeys: request.accountId.isEmpty ? [ApiKey(id: "KEY_1", scope: .admin)] : [])
        }
        return router
    }

    @Test(
        "an unkeyed change a repeat settles, its outcome unknown: run it again, not 'look first'",
        arguments: [
            ["trunk", "assign", "NUM_1", "TRK_1"], ["trunk", "unassign", "NUM_1"], ["trunks", "delete", "TRK_1"],
            ["keys", "revoke", "KEY_1", "--yes"], ["accounts", "suspend", "ACC_7"], ["accounts", "activate", "ACC_7"],
        ])
    func unkeyedSettledByRerun(command: [String]) async throws {
        let calls = Recorded<String>()
        try await withStubServer(router: Self.unsettled(calls)) { server in
            let run = try await runNumbers(command + Self.connection(server))
            #expect(run.status == 10, "\(run)")
            #expect(run.stderr.contains("OUTCOME_UNKNOWN"), "\(run.stderr)")
            #expect(run.stderr.contains("run it again"), "\(run.stderr)")
            #expect(!run.stderr.contains("could do it twice"), "\(run.stderr)")
            #expect(!run.stderr.contains("--idempotency-key"), "no key to rerun with: \(run.stderr)")
        }
        #expect(calls.all.count == 1, "sent once, not retried: \(calls.all)")
    }

    /// A server that takes keyed calls and answers them at once, recording the key of each (a release's, not its
    /// dry run's, which goes without one).
    static func answering(_ received: ReceivedKeys) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
        }
        router.register(NumbersMethods.addFunds) { _, context in
            received.record(context)
            return AddFundsResponse()
        }
        router.register(NumbersMethods.adjustBalance) { _, context in
            received.record(context)
            return AdjustBalanceResponse()
        }
        router.register(NumbersMethods.purchaseNumbers) { _, context in
            received.record(context)
            return PurchaseNumbersResponse(message: "Phone number purchased successfully", currency: "USD")
        }
        router.register(NumbersMethods.adoptNumber) { _, context in
            received.record(context)
            return AdoptNumberResponse(currency: "USD")
        }
        router.register(NumbersMethods.releaseNumber) { request, context in
            if !request.dryRun { received.record(context) }
            return ReleaseNumberResponse(
                message: request.dryRun ? "Would release" : "Number released", id: request.numberId,
                phoneNumber: "+14155550100", dryRun: request.dryRun)
        }
        return router
    }

    /// Printed before the call is sent, so that a run killed outright (SIGKILL, or its terminal gone) leaves the key
    /// behind: here the call succeeds, and the key is there all the same.
    @Test(
        "a keyed command prints its idempotency key on stderr before sending, whatever the outcome",
        arguments: [
            ["funds", "add", "25", "--currency", "USD"],
            ["funds", "adjust", "25", "--currency", "USD", "--reason", "fix"], ["buy", "+14155550100"],
            ["release", "NUM_1", "--yes"],
            ["buy", "+14155550100", "--idempotency-key", "given-key"], adopt,
        ])
    func keyPrintedBeforeSending(command: [String]) async throws {
        let received = ReceivedKeys()
        try await withStubServer(router: Self.answering(received)) { server in
            let run = try await runNumbers(command + Self.connection(server))
            #expect(run.status == 0, "\(run)")
            let key = try #require(received.all.first, "the server received no keyed call")
            #expect(!key.isEmpty)
            if command.contains("--idempotency-key") { #expect(key == "given-key") }
            #expect(run.stderr.contains("numbers: idempotency key \(key) (account ACC_1)\n"), "\(run.stderr)")
            #expect(!run.stderr.contains("outcome is unknown"), "\(run.stderr)")
        }
    }

    @Test("funds add whose account look-up fails: no rerun advice, the credit was never sent")
    func lookUpFailed() async throws {
        let received = ReceivedKeys()
        var router = Self.neverAnswering(received)
        router.register(NumbersMethods.getAccount) { _, _ in
            throw RPCError(code: .internal, message: "the store failed", reason: "STORE_FAILED")
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["funds", "add", "25", "--currency", "USD"] + Self.connection(server))
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("STORE_FAILED"), "\(run.stderr)")
            #expect(!run.stderr.contains("outcome is unknown"), "\(run.stderr)")
            #expect(!run.stderr.contains("--idempotency-key"), "\(run.stderr)")
            #expect(received.all.isEmpty)
        }
    }

    @Test("a purchase whose deadline passes before it was sent (the TLS handshake never answered): no rerun advice")
    func neverSent() async throws {
        let listener = try SilentListener()
        try await withStubServer(router: RPCRouter()) { server in
            let connection = ["--server", "127.0.0.1:\(listener.port)"] + Self.connection(server).dropFirst(2)
            let run = try await runNumbers(["buy", "+14155550100", "--timeout", "1"] + connection)
            #expect(run.status == 7, "\(run)")
            #expect(run.stderr.contains("DEADLINE_EXCEEDED"), "\(run.stderr)")
            #expect(run.stderr.contains("before it was sent; outcome=not-started"), "\(run.stderr)")
            #expect(!run.stderr.contains("outcome is unknown"), "\(run.stderr)")
        }
        withExtendedLifetime(listener) {}
    }

    @Test(
        "a purchase carried out whose response is over the CLI's 4 MiB limit: the key to rerun with, not 'rate limited'"
    )
    func responseTooLarge() async throws {
        let received = ReceivedKeys()
        var router = RPCRouter()
        router.register(NumbersMethods.purchaseNumbers) { _, context in
            received.record(context)
            // numberd answers RESOURCE_EXHAUSTED / RESPONSE_TOO_LARGE in place of it: the purchase was made.
            return PurchaseNumbersResponse(message: String(repeating: "x", count: 4 * 1024 * 1024 + 1))
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["buy", "+14155550100"] + Self.connection(server) + Self.deadline)
            #expect(run.status == 10, "the outcome unknown, not 8 (rate limited): \(run)")
            #expect(run.stderr.contains("RESPONSE_TOO_LARGE"), "\(run.stderr)")
            let key = try #require(received.all.first, "the server received no call")
            #expect(run.stderr.contains("outcome is unknown"), "\(run.stderr)")
            #expect(run.stderr.contains("--idempotency-key \(key)"), "\(run.stderr)")
        }
    }

    /// PROVIDER_MISCONFIGURED is UNAVAILABLE on the wire, but no retry fixes it: its own exit status, not 7 (which
    /// scripts retry).
    @Test("the provider's setup refused: exit 9, not 7")
    func providerMisconfigured() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.purchaseNumbers) { _, _ in
            throw RPCError(
                code: .unavailable, message: "numberd's provider account is misconfigured; the operator must fix it",
                reason: "PROVIDER_MISCONFIGURED")
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["buy", "+14155550100"] + Self.connection(server) + Self.deadline)
            #expect(run.status == 9, "\(run)")
            #expect(run.stderr.contains("PROVIDER_MISCONFIGURED"), "\(run.stderr)")
        }
    }

    @Test("a refusal is a known outcome: no rerun advice")
    func refused() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.purchaseNumbers) { _, _ in
            throw RPCError(code: .failedPrecondition, message: "balance too low", reason: "INSUFFICIENT_BALANCE")
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["buy", "+14155550100"] + Self.connection(server))
            #expect(run.status == 5, "\(run)")
            #expect(run.stderr.contains("INSUFFICIENT_BALANCE"), "\(run.stderr)")
            #expect(!run.stderr.contains("--idempotency-key"), "\(run.stderr)")
        }
    }

    /// Keys are per account, and the account may have come from `NUMBERS_ACCOUNT`, which the shell the operator
    /// reruns in may set to another: the key's line and the rerun advice name the account, so the rerun acts on the
    /// first run's account, not buys or credits on another.
    @Test(
        "the account from NUMBERS_ACCOUNT is named beside the key and in the rerun flags",
        arguments: [["buy", "+14155550100"], ["funds", "add", "25", "--currency", "USD"]])
    func accountNamedWithTheKey(command: [String]) async throws {
        let received = ReceivedKeys()
        let lost = RPCError(code: .unavailable, message: "the provider's answer was lost", reason: "OUTCOME_UNKNOWN")
        var router = Self.answering(received)
        router.register(NumbersMethods.purchaseNumbers) { _, context -> PurchaseNumbersResponse in
            received.record(context)
            throw lost
        }
        router.register(NumbersMethods.addFunds) { _, context -> AddFundsResponse in
            received.record(context)
            throw lost
        }
        try await withStubServer(router: router) { server in
            // The connection without its --account: the account comes from the environment.
            let run = try await runNumbers(
                command + Self.connection(server).dropLast(2), environment: ["NUMBERS_ACCOUNT": "ACC_1"])
            #expect(run.status == 10, "\(run)")
            let key = try #require(received.all.first, "the server received no call")
            #expect(run.stderr.contains("numbers: idempotency key \(key) (account ACC_1)\n"), "\(run.stderr)")
            #expect(run.stderr.contains("--idempotency-key \(key) --account ACC_1"), "\(run.stderr)")
        }
    }

    /// A server whose keyed calls answer REQUEST_IN_PROGRESS twice (the first run under the key still going on),
    /// then the first run's result (`replayed`); `calls` counts what it received.
    static func inProgressTwice(_ calls: Recorded<String>) -> RPCRouter {
        let inProgress = RPCError(
            code: .aborted, message: "a request with this idempotency key is still in progress",
            reason: "REQUEST_IN_PROGRESS")
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
        }
        router.register(NumbersMethods.purchaseNumbers) { _, _ in
            calls.append("PurchaseNumbers")
            guard calls.all.count > 2 else { throw inProgress }
            return PurchaseNumbersResponse(
                message: "Phone number purchased successfully", totalCharged: 133, currency: "USD",
                balanceAfter: 9_867, replayed: true)
        }
        router.register(NumbersMethods.addFunds) { _, _ in
            calls.append("AddFunds")
            guard calls.all.count > 2 else { throw inProgress }
            return AddFundsResponse(
                transaction: Transaction(
                    id: "TXN_1", kind: .fundsAdded, amount: 2_500, balanceChange: 2_500, currency: "USD"),
                balance: 12_500, replayed: true)
        }
        router.register(NumbersMethods.adjustBalance) { _, _ in
            calls.append("AdjustBalance")
            guard calls.all.count > 2 else { throw inProgress }
            return AdjustBalanceResponse(
                transaction: Transaction(
                    id: "TXN_2", kind: .adjustment, amount: 2_500, balanceChange: 2_500, currency: "USD"),
                balance: 12_500, replayed: true)
        }
        router.register(NumbersMethods.adoptNumber) { _, _ in
            calls.append("AdoptNumber")
            guard calls.all.count > 2 else { throw inProgress }
            return AdoptNumberResponse(
                number: PhoneNumber(id: "NUM_1", phoneNumber: "+14155550100"),
                transaction: Transaction(id: "TXN_3", kind: .purchase, amount: 133, currency: "USD"),
                balanceAfter: 9_867, currency: "USD", replayed: true)
        }
        return router
    }

    /// README: a rerun while the first run under its key still runs is answered REQUEST_IN_PROGRESS, and the client
    /// waits and asks again. Only `release` did; `buy` and `funds` exited 10 at once.
    @Test(
        "a rerun under its key while the first run still goes on: asked again until it answers with that run's result",
        arguments: [
            ["buy", "+14155550100"], ["funds", "add", "25", "--currency", "USD"],
            ["funds", "adjust", "25", "--currency", "USD", "--reason", "fix"], adopt,
        ])
    func rerunWhileInProgress(command: [String]) async throws {
        let calls = Recorded<String>()
        try await withStubServer(router: Self.inProgressTwice(calls)) { server in
            let run = try await runNumbers(
                command + ["--idempotency-key", "first-run"] + Self.connection(server) + Self.deadline)
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("made earlier under this idempotency key"), "\(run.stdout)")
            #expect(!run.stderr.contains("outcome is unknown"), "\(run.stderr)")
        }
        #expect(calls.all.count == 3, "asked three times: \(calls.all)")
    }

    /// The asks' schedule made short: the CLI's own (0.2 s doubling to 3 s, 20 asks) takes about 50 s, which
    /// `UsageErrorTests.rerunGivesUp` pays once, through `release`; every keyed command runs this one rule.
    @Test("still in progress at the last ask: exit 10 with the key and account to rerun with, asked no more")
    func inProgressGivesUp() async throws {
        let asks = CallCounter()
        let polls = UnknownOutcome.InProgressPolls(
            firstPause: .milliseconds(1), longestPause: .milliseconds(4), asksMax: 5)
        do {
            _ = try await UnknownOutcome.waitingWhileInProgress(idempotencyKey: "k-1", account: "ACC_1", polls: polls) {
                () async throws -> Int in
                _ = asks.next()
                throw RPCError(
                    code: .aborted, message: "a request with this idempotency key is still in progress",
                    reason: "REQUEST_IN_PROGRESS", details: ["outcome": "unknown", "idempotencyKey": "k-1"])
            }
            Issue.record("an answer always in progress ended without an error")
        } catch let error as CLIError {
            #expect(error.code == 10)
            #expect(error.message.contains("REQUEST_IN_PROGRESS"), "\(error.message)")
            #expect(error.message.contains("--idempotency-key k-1 --account ACC_1"), "\(error.message)")
            #expect(error.message.contains("outcome is unknown"), "\(error.message)")
        }
        #expect(asks.next() == 6, "asked 5 times, then gave up")
    }
}
