import NIOCore
import Synchronization

/// Closed loop: `concurrency` workers per connection, each making its next call as soon as the previous one
/// finished. Throughput is what the server gives; latency is measured from each call's send. A worker stops at the
/// end, when the run's call budget no longer holds every call its next operation may make, or when the run is
/// cancelled (interrupted).
struct ClosedLoopDriver {
    var concurrency: Int

    /// Runs the workers until they have all stopped; returns the instant they stopped starting work
    /// (``WorkStop/instant(otherwise:)``), which rates divide by when `--calls-max` ended the run: the time until the
    /// last call ended held that call's whole latency (one call running into its deadline added seconds). Known only
    /// once every worker has stopped, it does not end the recorder's window (``LatencyRecorder/endWindow(at:)``): the
    /// later calls of the operations in flight then (a purchase's release, one per worker at most) are counted.
    @discardableResult
    func run(_ plan: LoadPlan, stop: WorkStop = WorkStop()) async -> NIODeadline {
        let workers = plan.clients.count * concurrency
        await withDiscardingTaskGroup { group in
            for worker in 0..<workers {
                let client = plan.clients[worker % plan.clients.count]
                let account = plan.accounts[worker % plan.accounts.count]
                group.addTask(executorPreference: plan.executors[worker % plan.clients.count]) {
                    var random = FastRandom(seed: UInt64(worker + 1) &* 0x9E37_79B9_7F4A_7C15)
                    // Spread over the cycle: consecutive starts would cover only its beginning between them in a short
                    // run (16 workers × 10 operations of `list=99,purchase=1` made no purchase).
                    var picks = WorkloadMix.Picks(plan.mix, phase: worker * plan.mix.totalWeight / workers)
                    var worked = false
                    while !Task.isCancelled {
                        let start = NIODeadline.now()
                        guard start < plan.end else { break }
                        let operation = picks.next()
                        let reserved = WorkloadRunner.callsMax(of: operation)
                        guard plan.budget.take(reserved) else { break }
                        stop.started(at: start)
                        worked = true
                        let made = await plan.runner.perform(
                            operation, client: client, account: account, stripe: worker, intended: start,
                            random: &random)
                        plan.budget.giveBack(reserved - made)
                    }
                    if worked { stop.stopped(at: .now()) }
                }
            }
        }
        return stop.instant(otherwise: .now())
    }
}

/// When the workers of a closed loop stopped starting work: the later of the last operation started and the first
/// instant a worker that had made calls could start no more (the budget spent, the end reached, the run cancelled).
/// The first of those alone is too early when a purchase gives back calls it did not make and another worker starts
/// with them; the last start alone is too early when the budget is smaller than the workers (all start at once, and
/// the run lasts as long as their calls).
final class WorkStop: Sendable {
    private let lastStart = Atomic<Int>(0)
    private let firstStop = Atomic<Int>(Int.max)

    /// A worker started an operation at `instant`.
    func started(at instant: NIODeadline) {
        _ = lastStart.max(Int(truncatingIfNeeded: instant.uptimeNanoseconds), ordering: .relaxed)
    }

    /// A worker that had made calls stopped at `instant`.
    func stopped(at instant: NIODeadline) {
        _ = firstStop.min(Int(truncatingIfNeeded: instant.uptimeNanoseconds), ordering: .relaxed)
    }

    /// Whether a worker that had made calls has stopped (tests wait for it).
    var hasStopped: Bool { firstStop.load(ordering: .relaxed) != Int.max }

    /// The instant the workers stopped starting work; `fallback` when none started any.
    func instant(otherwise fallback: NIODeadline) -> NIODeadline {
        let first = firstStop.load(ordering: .relaxed)
        guard first != Int.max else { return fallback }
        return .uptimeNanoseconds(UInt64(max(first, lastStart.load(ordering: .relaxed))))
    }
}
