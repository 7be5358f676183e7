import NIOCore

/// Open loop: operations are due at a fixed rate whatever the server does, and each call's latency is measured from
/// the time it was due, not from when it could be sent, so a stall shows as latency instead of silently lowering the
/// rate (no coordinated omission). The rate counts operations: each is one call, except a purchase, which makes two to
/// five (a search when the candidate pool is empty, the purchase, its release). An operation due before the end that
/// was never sent (the dispatcher was behind, or waited at `outstandingMax`, when the run ended) is recorded as
/// `NOT_SENT` with its wait until then as latency: a lower bound, but leaving those out would drop exactly the slowest
/// ones from the percentiles. Dispatching stops at the end, when the run is cancelled (interrupted), or when the run's
/// call budget no longer holds every call the next operation may make; the operations after that one are not due
/// (`--calls-max` ended the run) and are not recorded.
struct OpenLoopDriver {
    /// Operations per second.
    var rate: Double
    /// Operations in flight at most; when reached, the next ones wait (and their wait counts as latency).
    var outstandingMax: Int
    /// How long a dispatcher waits between checks when the outstanding limit is reached.
    static let backoff = TimeAmount.microseconds(100)

    /// What a run dispatched: `planned` operations were due before the end (or before the call budget was spent),
    /// `sent` of them were sent (the others are recorded as not sent); `stoppedAt` is where rates divide: the plan's
    /// end; when `--calls-max` stopped it early, the instant the operation the budget refused was due (a dispatcher
    /// running behind refused it later, and the time since held no operation due); when an interruption did, the
    /// instant the dispatcher stopped. Not the end of the last call, whose latency it would add, nor the instant of the
    /// last dispatch: at `--rate 1` that cut a second from the window (9 operations over 8 s of a 10 s window).
    struct Dispatched: Equatable {
        var planned: Int
        var sent: Int
        var stoppedAt: NIODeadline
    }

    /// `dispatcherStopped` (tests) is told the instant the dispatcher stopped, before the calls in flight end.
    ///
    /// The operations are due from the plan's start, every `1 / rate` seconds, all those before its end
    /// (``dueCount(rate:over:)``): counted from the driver's own start (a little later) and rounded down, the last one
    /// due in the window was left out.
    @discardableResult
    func run(_ plan: LoadPlan, dispatcherStopped: (@Sendable (NIODeadline) -> Void)? = nil) async -> Dispatched {
        let interval = 1e9 / rate
        let start = plan.start
        let total = Self.dueCount(rate: rate, over: plan.end - start)
        let outstanding = SharedCounter()
        var picker = WorkloadMix.Picks(plan.mix)
        // Each operation takes the connections and accounts in turn by its own count, started apart: by the
        // operation's index in the run, the mix's repeating cycle tied an operation to some connections and accounts
        // alone (`search=20,purchase=30,list=20,balance=20,get=10` over 8 accounts: get only ever to odd ones, purchases
        // two to one on even ones, which skews each account's contention and purchase cap).
        var turns: [Operation: Int] = [:]
        // A mix names each operation once (``WorkloadMix/init(parsing:)``).
        let offsets = Dictionary(uniqueKeysWithValues: plan.mix.weights.enumerated().map { ($1.operation, $0) })
        var sent = 0
        var budgetSpent = false
        var cancelled = false
        var stoppedAt = plan.end
        await withDiscardingTaskGroup { group in
            while sent < total {
                let index = sent
                let intended = start + .nanoseconds(Int64(Double(index) * interval))
                let wait = intended - .now()
                if wait > .zero { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
                while outstanding.value.load(ordering: .relaxed) >= outstandingMax, NIODeadline.now() < plan.end,
                    !Task.isCancelled
                {
                    try? await Task.sleep(nanoseconds: UInt64(Self.backoff.nanoseconds))
                }
                if Task.isCancelled {
                    cancelled = true
                    break
                }
                if NIODeadline.now() >= plan.end { break }
                let operation = picker.next()
                let reserved = WorkloadRunner.callsMax(of: operation)
                guard plan.budget.take(reserved) else {
                    budgetSpent = true
                    stoppedAt = intended
                    plan.runner.recorder.endWindow(at: intended)
                    break
                }
                outstanding.value.add(1, ordering: .relaxed)
                let turn = turns[operation, default: 0] + offsets[operation, default: 0]
                turns[operation, default: 0] += 1
                let connection = turn % plan.clients.count
                let client = plan.clients[connection]
                let account = plan.accounts[turn % plan.accounts.count]
                group.addTask(executorPreference: plan.executors[connection]) {
                    var random = FastRandom(seed: UInt64(index + 1))
                    let made = await plan.runner.perform(
                        operation, client: client, account: account, stripe: index, intended: intended,
                        random: &random)
                    plan.budget.giveBack(reserved - made)
                    outstanding.value.subtract(1, ordering: .relaxed)
                }
                sent += 1
            }
            let dispatcherStoppedAt = NIODeadline.now()
            if cancelled {
                stoppedAt = dispatcherStoppedAt
                plan.runner.recorder.endWindow(at: dispatcherStoppedAt)
            }
            dispatcherStopped?(dispatcherStoppedAt)
            // Now, not once the calls in flight have finished: the unsent calls waited until the dispatcher stopped.
            if !budgetSpent {
                recordUnsent(
                    plan, indices: sent..<total, start: start, interval: interval, stopped: dispatcherStoppedAt,
                    picker: &picker)
            }
        }
        return Dispatched(planned: budgetSpent ? sent : total, sent: sent, stoppedAt: stoppedAt)
    }

    /// The operations due at `rate` per second over `window` from its start: those at 0, 1/rate, 2/rate… before its
    /// end, ceil(window × rate) — computed from the product, not by dividing by the interval 1/rate, whose rounding
    /// made 29 operations/s over 1 s plan a thirtieth (1 / (1/29) is a little over 29).
    static func dueCount(rate: Double, over window: TimeAmount) -> Int {
        max(0, Int((Double(window.nanoseconds) * rate / 1e9).rounded(.up)))
    }

    /// Records the operations of `indices` that were due by `stopped` as not sent, each as the operation it would have
    /// been (the same picks, so the mix keeps its shares). In bulk: their latencies fall from the first one's
    /// wait down to nothing, so those the histograms cannot tell apart are recorded as one value with their count —
    /// a dispatcher stalled at a high rate left millions, each recorded under a stripe's lock while the report waited.
    private func recordUnsent(
        _ plan: LoadPlan, indices: Range<Int>, start: NIODeadline, interval: Double, stopped: NIODeadline,
        picker: inout WorkloadMix.Picks
    ) {
        let recorder = plan.runner.recorder
        var batch = UnsentBatch()
        for index in indices {
            let intended = start + .nanoseconds(Int64(Double(index) * interval))
            guard intended < stopped else { break }  // cancelled early: the later calls were not due yet
            let operation = picker.next()
            // Due during the warm-up: not measured (an unsent warm-up call is not counted either).
            guard intended >= recorder.measureFrom else { continue }
            let micros = LatencyRecorder.micros(from: intended, to: stopped)
            if let first = batch.micros, !LatencyRecorder.equivalent(first, micros) {
                batch.record(into: recorder, stripe: index)
            }
            batch.add(operation, micros: micros)
        }
        batch.record(into: recorder, stripe: indices.lowerBound)
    }
}

/// Unsent operations whose latencies the histograms cannot tell apart, counted by operation until recorded.
private struct UnsentBatch {
    /// The latency of the batch (of its first call); nil while it is empty.
    var micros: UInt64?
    var counts: [Operation: Int] = [:]

    mutating func add(_ operation: Operation, micros: UInt64) {
        if self.micros == nil { self.micros = micros }
        counts[operation, default: 0] += 1
    }

    /// Records the batch, if any, and empties it.
    mutating func record(into recorder: LatencyRecorder, stripe: Int) {
        guard let micros else { return }
        for (operation, count) in counts {
            recorder.recordUnsent(stripe: stripe, operation: operation, micros: micros, count: count)
        }
        self = UnsentBatch()
    }
}
