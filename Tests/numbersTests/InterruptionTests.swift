import Foundation
import NumberAPI
import NumberServer
import Testing

@testable import numbers

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed): the first cancels the running call, and a keyed one
/// sent already ends with its outcome unknown, so stderr names the idempotency key to rerun with, and the status is 10
/// (it was 128 + the signal's number, which a script could not tell from a call never sent); with nothing sent or
/// nothing changed it is 128 + the signal's number (129 for SIGHUP, which used to kill the run at once, its key
/// unsaid). The built `numbers` runs as a process against a stub server (`swift build --build-tests` first).
@Suite("numbers: interrupted")
struct InterruptionTests {
    /// Starts `command` against a server that takes keyed calls (and, `router` given, what it registers) and never
    /// answers them, sends `signal` once the server has the request, and returns the run and the key the server
    /// received.
    static func interrupt(
        _ command: [String], with signal: Int32,
        router: (UnknownOutcomeTests.ReceivedKeys) -> RPCRouter = UnknownOutcomeTests.neverAnswering
    ) async throws -> (NumbersRun, String?) {
        let received = UnknownOutcomeTests.ReceivedKeys()
        var run: NumbersRun?
        try await withStubServer(router: router(received)) { server in
            let running = try RunningNumbers(
                command + UnknownOutcomeTests.connection(server) + UnknownOutcomeTests.signalledDeadline, input: "")
            let deadline = ContinuousClock.now + .seconds(180)
            while received.all.isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            running.send(signal)
            run = try await running.finish()
        }
        return (try #require(run), received.all.first)
    }

    @Test(
        "a keyed call interrupted after it was sent: stderr says the outcome is unknown and names the key",
        arguments: [
            (["funds", "add", "25", "--currency", "USD"], SIGINT), (["buy", "+14155550100"], SIGINT),
            (["funds", "add", "5", "--currency", "USD"], SIGTERM),
            (["funds", "add", "5", "--currency", "USD"], SIGHUP),
        ]
    )
    func interruptedAfterSent(command: [String], signal: Int32) async throws {
        let (run, key) = try await Self.interrupt(command, with: signal)
        let sent = try #require(key, "the server received no call")
        #expect(run.status == CLIError.outcomeUnknown, "\(run)")
        #expect(run.stderr.contains("CANCELLED"), "\(run.stderr)")
        #expect(run.stderr.contains("outcome is unknown"), "\(run.stderr)")
        #expect(run.stderr.contains("--idempotency-key \(sent)"), "\(run.stderr)")
    }

    @Test(
        "a read interrupted in flight: exit 128 + the signal's number, nothing to rerun",
        arguments: [SIGINT, SIGTERM])
    func readInterrupted(signal: Int32) async throws {
        let (run, key) = try await Self.interrupt(["balance"], with: signal) { received in
            var router = RPCRouter()
            router.register(NumbersMethods.getBalance) { _, context in
                received.record(context)
                try await Task.sleep(for: .seconds(60))
                return GetBalanceResponse()
            }
            return router
        }
        #expect(key == "", "the server received the read, without a key")
        #expect(run.status == 128 + signal, "\(run)")
        #expect(run.stderr.contains("CANCELLED"), "\(run.stderr)")
        #expect(!run.stderr.contains("outcome is unknown"), "\(run.stderr)")
    }

    @Test("an unkeyed change interrupted after it was sent: exit 10 and what a rerun would do, no key")
    func unkeyedChangeInterrupted() async throws {
        let (run, key) = try await Self.interrupt(["trunks", "create", "--name", "pbx"], with: SIGINT) { received in
            var router = RPCRouter()
            router.register(NumbersMethods.createTrunk) { _, context in
                received.record(context)
                try await Task.sleep(for: .seconds(60))
                return CreateTrunkResponse()
            }
            return router
        }
        #expect(key == "", "the server received the creation, without a key")
        #expect(run.status == CLIError.outcomeUnknown, "\(run)")
        #expect(run.stderr.contains("the trunk may have been created"), "\(run.stderr)")
        #expect(!run.stderr.contains("--idempotency-key"), "\(run.stderr)")
    }

    @Test("started under nohup (SIGHUP ignored): a hang-up does not cancel the call, which ends as answered")
    func hangUpIgnoredUnderNohup() async throws {
        let received = UnknownOutcomeTests.ReceivedKeys()
        var router = UnknownOutcomeTests.answering(received)
        router.register(NumbersMethods.addFunds) { _, context in
            received.record(context)
            try await Task.sleep(for: .seconds(2))
            return AddFundsResponse(balance: 2_500)
        }
        try await withStubServer(router: router) { server in
            let running = try RunningNumbers(
                ["funds", "add", "25", "--currency", "USD"] + UnknownOutcomeTests.connection(server)
                    + UnknownOutcomeTests.deadline,
                input: "", ignoringHangUp: true)
            let deadline = ContinuousClock.now + .seconds(180)
            while received.all.isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            running.send(SIGHUP)
            let run = try await running.finish()
            #expect(run.status == 0, "\(run)")
            #expect(!run.stderr.contains("CANCELLED"), "\(run.stderr)")
        }
    }

    @Test("a run killed outright mid-call has already printed the key it sent the call under")
    func killedMidCallLeavesItsKey() async throws {
        let (run, key) = try await Self.interrupt(["funds", "add", "25", "--currency", "USD"], with: SIGKILL)
        let sent = try #require(key, "the server received no call")
        #expect(run.status != 0, "\(run)")
        #expect(run.stderr.contains("numbers: idempotency key \(sent) (account ACC_1)\n"), "\(run.stderr)")
    }

    @Test("interrupted at the release question: exits at once, not released, the release never sent")
    func interruptedAtTheQuestion() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ in
            releases.append(request)
            return ReleaseNumberResponse(id: request.numberId, phoneNumber: "+14155550100")
        }
        try await withStubServer(router: router) { server in
            let running = try RunningNumbers(["release", "NUM_1"] + UnknownOutcomeTests.connection(server))
            let asked = try await running.waitForStderr("Type 'yes' to go on")
            #expect(asked, "no question on stderr")
            running.send(SIGINT)
            let run = try await running.finish()
            #expect(run.status == 130, "\(run)")
            #expect(run.stderr.contains("not released"), "\(run.stderr)")
        }
        #expect(releases.all.map(\.dryRun) == [true], "only the preview was sent")
    }

    /// A rerun waits between its dry runs while the release made under its key still runs; Ctrl-C in that wait used to
    /// end with nothing but `CancellationError()` printed. On a loaded machine the signal may come during the fourth
    /// dry run rather than in the pause: that ended `CANCELLED` without the key, and now names it too.
    @Test("interrupted while a rerun waits for its key's release: exit 10, the key to rerun with, no Swift error")
    func interruptedWhileTheReleaseRuns() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ -> ReleaseNumberResponse in
            releases.append(request)
            throw RPCError(
                code: .aborted, message: "a request with this idempotency key is still in progress",
                reason: "REQUEST_IN_PROGRESS")
        }
        try await withStubServer(router: router) { server in
            let running = try RunningNumbers(
                ["release", "NUM_1", "--idempotency-key", "k-1"] + UnknownOutcomeTests.connection(server), input: "")
            // The third answer starts a pause of 0.8 s (0.2 s doubling): the signal comes within it.
            let deadline = ContinuousClock.now + .seconds(180)
            while releases.all.count < 3, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(100))
            running.send(SIGINT)
            let run = try await running.finish()
            #expect(run.status == CLIError.outcomeUnknown, "\(run)")
            #expect(!run.stderr.contains("CancellationError"), "\(run.stderr)")
            #expect(run.stderr.contains("k-1"), "\(run.stderr)")
        }
        #expect(releases.all.allSatisfy { $0.dryRun }, "only dry runs: the release was the first run's")
    }

    @Test("interrupted during a rerun's dry run itself: exit 10, the key to rerun with")
    func interruptedDuringTheRerunsDryRun() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ -> ReleaseNumberResponse in
            releases.append(request)
            // The second dry run is not answered: the signal comes while it is in flight.
            if releases.all.count >= 2 { try await Task.sleep(for: .seconds(60)) }
            throw RPCError(
                code: .aborted, message: "a request with this idempotency key is still in progress",
                reason: "REQUEST_IN_PROGRESS")
        }
        try await withStubServer(router: router) { server in
            let running = try RunningNumbers(
                ["release", "NUM_1", "--idempotency-key", "k-1"] + UnknownOutcomeTests.connection(server), input: "")
            let deadline = ContinuousClock.now + .seconds(180)
            while releases.all.count < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            running.send(SIGINT)
            let run = try await running.finish()
            #expect(run.status == CLIError.outcomeUnknown, "\(run)")
            #expect(run.stderr.contains("--idempotency-key k-1"), "\(run.stderr)")
        }
    }

    @Test("the rules: the first signal cancels, a second exits at once naming the keyed call's key and account")
    func secondSignalExits() {
        var state = InterruptionState()
        state.keyedCall((idempotencyKey: "k-1", account: "ACC_1"))
        #expect(state.exitCode(commandStatus: 10) == nil, "no signal: the command's own status")
        #expect(state.received(SIGINT) == .cancel)
        #expect(state.exitCode(commandStatus: 7) == 130)
        #expect(state.exitCode(commandStatus: nil) == 130)
        guard case .exit(let code, let message) = state.received(SIGINT) else {
            Issue.record("a second signal did not exit")
            return
        }
        #expect(code == CLIError.outcomeUnknown, "a keyed call in flight: its outcome is unknown")
        #expect(message?.contains("--idempotency-key k-1 --account ACC_1") == true, "\(String(describing: message))")

        var unkeyed = InterruptionState()
        #expect(unkeyed.received(SIGTERM) == .cancel)
        #expect(unkeyed.received(SIGINT) == .exit(code: 130, message: nil))
        #expect(unkeyed.exitCode(commandStatus: 1) == 143, "the first signal decides the run's status")

        // A change without a key (a trunk, an account, an API key): a second signal says what a rerun would do, and
        // exits 10 — 130 said nothing was sent, with a trunk perhaps made at Twilio.
        var change = InterruptionState()
        change.unkeyedChange(advice: UnknownOutcome.Unkeyed.trunkCreate)
        #expect(change.received(SIGINT) == .cancel)
        #expect(
            change.received(SIGINT) == .exit(code: CLIError.outcomeUnknown, message: UnknownOutcome.Unkeyed.trunkCreate)
        )
        change.keyedCallEnded(leavingOutcomeOpen: false)
        #expect(change.received(SIGINT) == .exit(code: 130, message: nil), "ended with a known outcome: nothing open")

        var hungUp = InterruptionState()
        #expect(hungUp.received(SIGHUP) == .cancel)
        #expect(hungUp.exitCode(commandStatus: 5) == 129)
        #expect(hungUp.exitCode(commandStatus: CLIError.outcomeUnknown) == 10, "a call sent: its outcome unknown")
        #expect(hungUp.exitCode(commandStatus: CLIError.resultUnwritten) == 11, "carried out, its result unwritten")
    }

    /// A client review: a keyed call that failed with its outcome open left the advice registered no longer, yet the
    /// command prints it only after its client has closed (up to 5 s for a server not reading): a second Ctrl-C then
    /// exited 130 — "nothing sent" — with no advice, and a wrapper rerunning on 130 could buy again under a new key.
    @Test("a keyed call that failed with its outcome open keeps its advice for a second signal; a known outcome not")
    func adviceOutlivesTheCall() {
        var open = InterruptionState()
        open.keyedCall((idempotencyKey: "k-1", account: "ACC_1"))
        open.keyedCallEnded(leavingOutcomeOpen: true)
        #expect(open.received(SIGINT) == .cancel)
        guard case .exit(let code, let message) = open.received(SIGINT) else {
            Issue.record("a second signal did not exit")
            return
        }
        #expect(code == CLIError.outcomeUnknown && message?.contains("--idempotency-key k-1") == true)
        var known = InterruptionState()
        known.keyedCall((idempotencyKey: "k-2", account: "ACC_1"))
        known.keyedCallEnded(leavingOutcomeOpen: false)
        #expect(known.received(SIGINT) == .cancel)
        #expect(known.received(SIGINT) == .exit(code: 130, message: nil))
        // Which failures leave it open: the library's outcome=unknown, and the CLI's own exit 10.
        let lost = RPCError(
            code: .unavailable, message: "lost", reason: "CONNECTION_LOST", details: ["outcome": "unknown"])
        #expect(UnknownOutcome.leavesOutcomeOpen(lost))
        #expect(!UnknownOutcome.leavesOutcomeOpen(RPCError(code: .failedPrecondition, message: "no", reason: "X")))
        #expect(UnknownOutcome.leavesOutcomeOpen(CLIError(code: CLIError.outcomeUnknown, message: "in progress")))
        #expect(!UnknownOutcome.leavesOutcomeOpen(CLIError(code: 5, message: "refused")))
        #expect(!UnknownOutcome.leavesOutcomeOpen(CancellationError()))
    }

    @Test("the rules at a question: a signal while it waits exits at once; one before it means do not ask")
    func atAQuestion() {
        var state = InterruptionState()
        let asked = state.asking(refusal: "not released")
        #expect(asked)
        #expect(state.received(SIGINT) == .exit(code: 130, message: "\nnot released"))

        var early = InterruptionState()
        #expect(early.received(SIGINT) == .cancel)
        let askedLate = early.asking(refusal: "not released")
        #expect(!askedLate)
    }
}
