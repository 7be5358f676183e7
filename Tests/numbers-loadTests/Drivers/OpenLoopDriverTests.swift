import NIOCore
import Synchronization
import Testing

@testable import numbers_load

@Suite("OpenLoopDriver: every call due before the end is recorded, sent or not")
struct OpenLoopDriverTests {
    /// A plan of ListNumbers calls to one stub account from `start` for `seconds`, each call taking `listTakes`, the
    /// recorder it records into and its stub client.
    static func listPlan(
        from start: NIODeadline, seconds: Int64, listTakes: TimeAmount, callsMax: Int
    ) throws -> (LoadPlan, LatencyRecorder, StubLoadClient) {
        let recorder = LatencyRecorder(measureFrom: start)
        let client = StubLoadClient(clock: nil, durations: [.list: listTakes])
        let plan = LoadPlan(
            clients: [client], executors: [nil],
            accounts: [LoadAccount(id: "ACC_load0", authorization: "Bearer nk_test", numberIds: [])],
            mix: try WorkloadMix(parsing: "list=1"),
            runner: WorkloadRunner(
                recorder: recorder, candidates: CandidatePool(), leftovers: Leftovers(), wireSizes: WireSizes(),
                country: "US", timeout: .seconds(5)),
            start: start, measureFrom: start, end: start + .seconds(seconds), callsMax: callsMax)
        return (plan, recorder, client)
    }

    /// Found by a review: picks that repeat every few operations, with the account and connection taken by the
    /// operation's index in the run, tied each operation to some accounts alone (get only ever to odd accounts). Each
    /// operation takes them in turn by its own count.
    @Test("each operation of the mix is spread evenly over the accounts and connections")
    func operationsSpreadOverAccounts() async throws {
        let start = NIODeadline.now()
        let recorder = LatencyRecorder(measureFrom: start)
        let clients = (0..<2).map { _ in StubLoadClient(clock: nil, durations: [:]) }
        let accounts = (0..<8).map { LoadAccount(id: "ACC_\($0)", authorization: "Bearer nk_test", numberIds: []) }
        let plan = LoadPlan(
            clients: clients, executors: [nil, nil], accounts: accounts,
            mix: try WorkloadMix(parsing: "search=20,list=30,balance=20,get=10"),
            runner: WorkloadRunner(
                recorder: recorder, candidates: CandidatePool(), leftovers: Leftovers(), wireSizes: WireSizes(),
                country: "US", timeout: .seconds(5)),
            start: start, measureFrom: start, end: start + .seconds(60), callsMax: 160)
        await OpenLoopDriver(rate: 10_000, outstandingMax: 1_000).run(plan)
        for (operation, count) in [(Operation.search, 40), (.list, 60), (.balance, 40), (.get, 20)] {
            let named = clients.flatMap { $0.accounts(operation) }
            #expect(named.count == count, "\(operation)")
            let perAccount = accounts.map { account in named.count { $0 == account.id } }
            #expect(perAccount.max()! - perAccount.min()! <= 1, "\(operation): \(perAccount)")
            let perConnection = clients.map { $0.accounts(operation).count }
            #expect(perConnection.max()! - perConnection.min()! <= 1, "\(operation): \(perConnection)")
        }
    }

    @Test("calls slower than the interval at outstanding-max 1: those never sent are recorded as NOT_SENT")
    func unsentCallsAreRecorded() async throws {
        // 200 calls/s (5 ms apart) for 2 s, each taking at least 40 ms, one in flight: at most 50 of the 400 can be
        // sent. (For 300 ms, a test thread descheduled that long before the run planned no call at all.)
        let start = NIODeadline.now()
        let (plan, recorder, client) = try Self.listPlan(
            from: start, seconds: 2, listTakes: .milliseconds(40), callsMax: 1000)

        let dispatched = await OpenLoopDriver(rate: 200, outstandingMax: 1).run(plan)

        let merged = recorder.snapshot()
        let ok = merged.outcomes["OK"] ?? 0
        let unsent = merged.outcomes[LatencyRecorder.notSent] ?? 0
        #expect(dispatched.planned > 0)
        #expect(ok == client.calls(.list))
        #expect(ok == dispatched.sent)
        #expect(ok + unsent == dispatched.planned)
        #expect(unsent > 0)
        #expect(merged.total.totalCount == UInt64(dispatched.planned))
        #expect(merged.errors == 0, "an unsent call is not an error")
        #expect(merged.sentCalls == UInt64(ok))

        let figures = LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: 2)
        #expect(figures.calls == UInt64(ok))
        #expect(figures.unsent == unsent)
        #expect(figures.errors == 0)
    }

    @Test("a dispatcher stalled at 100,000 operations/s: every unsent one is recorded, with its own wait as latency")
    func stalledDispatcherRecordsInBulk() async throws {
        // One operation in flight at most, and it outlasts the 1 s window: the other 99,999 are never sent.
        let start = NIODeadline.now()
        let (plan, recorder, _) = try Self.listPlan(
            from: start, seconds: 1, listTakes: .milliseconds(1_200), callsMax: 1_000_000)

        let stoppedAt = Mutex<NIODeadline?>(nil)
        let dispatched = await OpenLoopDriver(rate: 100_000, outstandingMax: 1).run(plan) { at in
            stoppedAt.withLock { $0 = at }
        }

        let merged = recorder.snapshot()
        let unsent = merged.outcomes[LatencyRecorder.notSent] ?? 0
        #expect(dispatched.sent == 1)
        #expect(unsent == dispatched.planned - 1 && unsent == merged.unsent)
        #expect(merged.total.totalCount == UInt64(dispatched.planned))
        // Due evenly over the 1 s window, each waiting until the dispatcher stopped: from about `stopped` down to
        // `stopped` - 1 s, the median `stopped` - 0.5 s (the stop measured, not assumed: a loaded machine delays it;
        // rates divide by the plan's end, which `stoppedAt` holds).
        #expect(dispatched.stoppedAt == plan.end)
        let stopped = Double(((stoppedAt.withLock { $0 } ?? dispatched.stoppedAt) - start).nanoseconds) / 1000
        let median = Double(merged.total.valueAtPercentile(50))
        #expect(abs(median - (stopped - 500_000)) < 50_000, "median \(median) µs, stopped at \(stopped) µs")
    }

    /// The operations were counted from the driver's own start, a little after the plan's, and rounded down, and
    /// rates divided by the time up to the last dispatch: `--mode open --rate 1 --duration 10 --warmup 2` reported
    /// 9 operations over 8 s.
    @Test("rate 10 over a 1 s window: 10 operations due, and rates divide by the whole window")
    func wholeWindowAtALowRate() async throws {
        let start = NIODeadline.now()
        let (plan, recorder, _) = try Self.listPlan(
            from: start, seconds: 1, listTakes: .milliseconds(1), callsMax: 1000)

        let dispatched = await OpenLoopDriver(rate: 10, outstandingMax: 64).run(plan)

        #expect(dispatched.planned == 10)
        #expect(dispatched.stoppedAt >= plan.end)
        let seconds = RunLoad.measuredSeconds(from: plan.measureFrom, to: plan.end, driversEnded: dispatched.stoppedAt)
        #expect(seconds == 1)
        let merged = recorder.snapshot()
        #expect(merged.total.totalCount == 10, "every operation due is recorded, sent or not")
    }

    /// Counted as the window divided by the interval 1/rate, rounded up: 1 / (1/29) is a little over 29, so a run at
    /// 29 operations/s over 1 s planned a thirtieth, due at 1.0000 s — past the end, recorded as never sent.
    @Test("the operations due are ceil(window x rate), exactly: 29/s over 1 s is 29, not 30")
    func dueCountIsExact() {
        #expect(OpenLoopDriver.dueCount(rate: 29, over: .seconds(1)) == 29)
        #expect(OpenLoopDriver.dueCount(rate: 10, over: .seconds(1)) == 10)
        #expect(OpenLoopDriver.dueCount(rate: 7, over: .milliseconds(100)) == 1, "one due at the start")
        #expect(OpenLoopDriver.dueCount(rate: 1.5, over: .seconds(2)) == 3)
        #expect(OpenLoopDriver.dueCount(rate: 1_000_000, over: .seconds(4200)) == 4_200_000_000)
        #expect(OpenLoopDriver.dueCount(rate: 10, over: .zero) == 0)
    }
}
