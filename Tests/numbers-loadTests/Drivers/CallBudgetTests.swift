import NIOCore
import Synchronization
import Testing

@testable import numbers_load

/// `--calls-max` gave every worker max(1, callsMax / workers) operations (64 workers made 64 calls of a budget of 10),
/// and a purchase operation, up to five calls, counted as one.
@Suite("Drivers: --calls-max bounds the calls made, whatever the number of workers")
struct CallBudgetTests {
    /// A plan over one stub connection with `mix`, ending far later than the budget lasts.
    static func plan(_ mix: String, client: StubLoadClient, callsMax: Int) throws -> (LoadPlan, LatencyRecorder) {
        let start = NIODeadline.now()
        let recorder = LatencyRecorder(measureFrom: start)
        let plan = LoadPlan(
            clients: [client], executors: [nil],
            accounts: [LoadAccount(id: "ACC_load0", authorization: "Bearer nk_test", numberIds: [])],
            mix: try WorkloadMix(parsing: mix),
            runner: WorkloadRunner(
                recorder: recorder, candidates: CandidatePool(), leftovers: Leftovers(), wireSizes: WireSizes(),
                country: "US", timeout: .seconds(5)),
            // The budget ends these runs; the end is far off so that a starved start (40 s in a CI run) is not it.
            start: start, measureFrom: start, end: start + .seconds(300), callsMax: callsMax)
        return (plan, recorder)
    }

    /// Calls the stub answered, of every operation.
    static func callsMade(_ client: StubLoadClient) -> Int {
        Operation.allCases.reduce(0) { $0 + client.calls($1) }
    }

    @Test("closed loop, 64 workers and --calls-max 10: at most 10 calls", arguments: ["list=1", "purchase=1"])
    func closedLoop(mix: String) async throws {
        let client = StubLoadClient(clock: nil, durations: [.list: .milliseconds(1), .purchase: .milliseconds(1)])
        let (plan, recorder) = try Self.plan(mix, client: client, callsMax: 10)
        await ClosedLoopDriver(concurrency: 64).run(plan)
        let made = Self.callsMade(client)
        #expect(made > 0)
        #expect(made <= 10, "\(made) calls")
        #expect(recorder.snapshot().sentCalls <= 10)
        if mix == "list=1" { #expect(made == 10, "single calls use the whole budget") }
    }

    @Test("open loop at 1,000 operations/s and --calls-max 10: at most 10 calls, none recorded as not sent")
    func openLoop() async throws {
        let client = StubLoadClient(clock: nil, durations: [.purchase: .milliseconds(1)])
        let (plan, recorder) = try Self.plan("purchase=1", client: client, callsMax: 10)
        let dispatched = await OpenLoopDriver(rate: 1000, outstandingMax: 64).run(plan)
        let made = Self.callsMade(client)
        #expect(made > 0)
        #expect(made <= 10, "\(made) calls")
        #expect(recorder.snapshot().outcomes[LatencyRecorder.notSent] == nil, "the budget ended the run, not a stall")
        #expect(dispatched.planned == dispatched.sent)
    }

    /// Rates divided by the time until the drivers' task group ended, which held the last calls' whole latency: one
    /// call running 1 s (a deadline) after the budget was spent cut the calls/s of a 50 ms run twentyfold. The calls
    /// are held until the dispatcher has stopped (not slept: a loaded machine stretched the dispatching past them).
    @Test("open loop, --calls-max 10 at 100 operations/s, calls held: the run lasted until the dispatcher stopped")
    func openLoopStopInstant() async throws {
        let client = StubLoadClient(clock: nil, durations: [:])
        client.holdCalls(firstOnly: false)
        let (plan, recorder) = try Self.plan("list=1", client: client, callsMax: 10)
        let stopped = Mutex<NIODeadline?>(nil)
        let run = Task {
            await OpenLoopDriver(rate: 100, outstandingMax: 64).run(plan) { at in stopped.withLock { $0 = at } }
        }
        try await Self.waitUntil { stopped.withLock { $0 } != nil }
        let released = NIODeadline.now()
        client.releaseCalls()
        let dispatched = await run.value
        #expect(client.calls(.list) == 10)
        #expect(plan.budget.wasSpent)
        // The eleventh operation was due at 100 ms, when the budget refused it (the dispatcher then, or later when
        // behind); the held calls ended later.
        #expect(dispatched.stoppedAt == plan.start + .milliseconds(100))
        #expect(recorder.measureUntil == dispatched.stoppedAt, "the later calls of operations in flight are left out")
        #expect(dispatched.stoppedAt <= stopped.withLock { $0 } ?? .distantPast && dispatched.stoppedAt <= released)
        let seconds = RunLoad.measuredSeconds(
            from: plan.measureFrom, to: plan.end, driversEnded: dispatched.stoppedAt)
        #expect(seconds == 0.1, "\(seconds) s")
    }

    @Test("closed loop, 2 workers, --calls-max 11, the first call held: not stretched by that slow one")
    func closedLoopStopInstant() async throws {
        let client = StubLoadClient(clock: nil, durations: [:])
        client.holdCalls(firstOnly: true)
        let (plan, _) = try Self.plan("list=1", client: client, callsMax: 11)
        let stop = WorkStop()
        let run = Task { await ClosedLoopDriver(concurrency: 2).run(plan, stop: stop) }
        // The other worker made the ten other calls, then found the budget spent, while the first call was held.
        try await Self.waitUntil { stop.hasStopped }
        let released = NIODeadline.now()
        client.releaseCalls()
        let stopped = await run.value
        #expect(client.calls(.list) == 11)
        #expect(stopped <= released, "the stop instant waited for the held call")
    }

    /// Polls `condition` every 5 ms, for at most 60 s.
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "the condition never held")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("closed loop, a budget smaller than the workers, every call 300 ms: the run lasted as long as the calls")
    func closedLoopSmallBudget() async throws {
        let client = StubLoadClient(clock: nil, durations: [.list: .milliseconds(300)])
        let (plan, _) = try Self.plan("list=1", client: client, callsMax: 4)
        let stopped = await ClosedLoopDriver(concurrency: 16).run(plan)
        let seconds = RunLoad.measuredSeconds(from: plan.measureFrom, to: plan.end, driversEnded: stopped)
        #expect(seconds >= 0.3, "\(seconds) s: the calls all started at once, and the workers stopped once they ended")
    }

    @Test("the budget: an operation takes all its calls or none, and gives back those it did not make")
    func budget() {
        let budget = CallBudget(10)
        #expect(budget.take(5))
        #expect(budget.take(5))
        #expect(!budget.take(1))
        budget.giveBack(3)
        #expect(!budget.take(5), "a purchase that cannot have all its calls does not start")
        #expect(budget.take(1))
        #expect(budget.remaining == 2)
    }
}
