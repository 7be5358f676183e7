import NIOCore

/// Open loop: calls are due at a fixed rate whatever the server does, and each call's latency is measured from the
/// time it was due, not from when it could be sent, so a stall shows as latency instead of silently lowering the
/// rate (no coordinated omission).
struct OpenLoopDriver {
    /// Calls per second.
    var rate: Double
    /// Calls in flight at most; when reached, the next calls wait (and their wait counts as latency).
    var outstandingMax: Int
    /// How long a dispatcher waits between checks when the outstanding limit is reached.
    static let backoff = TimeAmount.microseconds(100)

    func run(_ plan: LoadPlan) async {
        let interval = 1e9 / rate
        let start = NIODeadline.now()
        let total = min(plan.callsMax, Int(Double((plan.end - start).nanoseconds) / interval))
        let outstanding = SharedCounter()
        var picker = FastRandom(seed: 0x5EED)
        await withDiscardingTaskGroup { group in
            for index in 0..<total {
                let intended = start + .nanoseconds(Int64(Double(index) * interval))
                let wait = intended - .now()
                if wait > .zero { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
                while outstanding.value.load(ordering: .relaxed) >= outstandingMax, NIODeadline.now() < plan.end {
                    try? await Task.sleep(nanoseconds: UInt64(Self.backoff.nanoseconds))
                }
                if Task.isCancelled || NIODeadline.now() >= plan.end { break }
                outstanding.value.add(1, ordering: .relaxed)
                let client = plan.clients[index % plan.clients.count]
                let account = plan.accounts[index % plan.accounts.count]
                let operation = plan.mix.pick(picker.next())
                group.addTask(executorPreference: plan.executors[index % plan.clients.count]) {
                    var random = FastRandom(seed: UInt64(index + 1))
                    await plan.runner.perform(
                        operation, client: client, account: account, stripe: index, intended: intended,
                        random: &random)
                    outstanding.value.subtract(1, ordering: .relaxed)
                }
            }
        }
    }
}
