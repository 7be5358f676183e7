import NIOCore

/// Open loop: calls are due at a fixed rate whatever the server does, and each call's latency is measured from the
/// time it was due, not from when it could be sent, so a stall shows as latency instead of silently lowering the
/// rate (no coordinated omission). A call due before the end that was never sent (the dispatcher was behind, or
/// waited at `outstandingMax`, when the run ended) is recorded as `NOT_SENT` with its wait until then as latency: a
/// lower bound, but leaving those calls out would drop exactly the slowest ones from the percentiles. Dispatching stops
/// at the end, or when the run's call budget no longer holds every call the next operation may make; the operations
/// after that one are not due (`--calls-max` ended the run) and are not recorded.
struct OpenLoopDriver {
    /// Calls per second.
    var rate: Double
    /// Calls in flight at most; when reached, the next calls wait (and their wait counts as latency).
    var outstandingMax: Int
    /// How long a dispatcher waits between checks when the outstanding limit is reached.
    static let backoff = TimeAmount.microseconds(100)

    /// What a run dispatched: `planned` operations were due before the end (or before the call budget was spent),
    /// `sent` of them were sent (the others are recorded as not sent).
    struct Dispatched: Equatable {
        var planned: Int
        var sent: Int
    }

    @discardableResult
    func run(_ plan: LoadPlan) async -> Dispatched {
        let interval = 1e9 / rate
        let start = NIODeadline.now()
        let total = Int(Double((plan.end - start).nanoseconds) / interval)
        let outstanding = SharedCounter()
        var picker = FastRandom(seed: 0x5EED)
        var sent = 0
        var budgetSpent = false
        await withDiscardingTaskGroup { group in
            while sent < total {
                let index = sent
                let intended = start + .nanoseconds(Int64(Double(index) * interval))
                let wait = intended - .now()
                if wait > .zero { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
                while outstanding.value.load(ordering: .relaxed) >= outstandingMax, NIODeadline.now() < plan.end {
                    try? await Task.sleep(nanoseconds: UInt64(Self.backoff.nanoseconds))
                }
                if Task.isCancelled || NIODeadline.now() >= plan.end { break }
                let operation = plan.mix.pick(picker.next())
                let reserved = WorkloadRunner.callsMax(of: operation)
                guard plan.budget.take(reserved) else {
                    budgetSpent = true
                    break
                }
                outstanding.value.add(1, ordering: .relaxed)
                let client = plan.clients[index % plan.clients.count]
                let account = plan.accounts[index % plan.accounts.count]
                group.addTask(executorPreference: plan.executors[index % plan.clients.count]) {
                    var random = FastRandom(seed: UInt64(index + 1))
                    let made = await plan.runner.perform(
                        operation, client: client, account: account, stripe: index, intended: intended,
                        random: &random)
                    plan.budget.giveBack(reserved - made)
                    outstanding.value.subtract(1, ordering: .relaxed)
                }
                sent += 1
            }
            // Now, not once the calls in flight have finished: the unsent calls waited until the dispatcher stopped.
            if !budgetSpent {
                recordUnsent(plan, indices: sent..<total, start: start, interval: interval, picker: &picker)
            }
        }
        return Dispatched(planned: budgetSpent ? sent : total, sent: sent)
    }

    /// Records the calls of `indices` that were due by now as not sent, each as the operation it would have been
    /// (the same pick sequence, so the mix keeps its shares).
    private func recordUnsent(
        _ plan: LoadPlan, indices: Range<Int>, start: NIODeadline, interval: Double, picker: inout FastRandom
    ) {
        let stopped = NIODeadline.now()
        for index in indices {
            let intended = start + .nanoseconds(Int64(Double(index) * interval))
            guard intended < stopped else { return }  // cancelled early: the later calls were not due yet
            plan.runner.recorder.record(
                stripe: index, operation: plan.mix.pick(picker.next()), intended: intended, end: stopped,
                outcome: LatencyRecorder.notSent)
        }
    }
}
