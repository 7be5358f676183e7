import Logging
import Synchronization

/// Serializes decisions and makes their events durable with group commit.
///
/// Two states: `speculative` has every decided event (so a decision sees in-flight writes and concurrent
/// purchases cannot overdraw), `durable` only those the store acknowledged (so readers never see a write that
/// could still be lost). Each has its own lock, so applying a commit to `durable` holds up readers only, never
/// a decision. A decision runs under the decision lock and queues its events with a sequence number; the caller
/// then waits, outside the lock, until the durable sequence reaches it. One commit is in flight at a time: the
/// decision that finds the store idle hands it everything queued, and each commit's completion (on the store's
/// writer thread) applies it to `durable`, wakes its waiters and hands the store the next batch at once — so
/// concurrent writes share one sync, and nothing between one sync and the next waits for the cooperative pool.
final class StateCoordinator: Sendable {
    private struct Batch {
        var sequence: UInt64
        var events: [CoreEvent]
        var bytesEstimate: Int
    }

    private struct Waiter {
        var sequence: UInt64
        /// Resumed with nil once durable, or with the failure that stopped writes.
        var continuation: CheckedContinuation<NumberError?, Never>
    }

    private struct Inner {
        var speculative: CoreState
        var nextSequence: UInt64 = 1
        /// The last sequence applied to `durable` (set after it is applied there).
        var durableSequence: UInt64 = 0
        /// Decided, not yet handed to the store.
        var queue: [Batch] = []
        /// The estimated bytes of `queue`'s events.
        var queuedBytes = 0
        /// Whether a commit is in flight.
        var committing = false
        var waiters: [Waiter] = []
        var failure: NumberError?
        /// After a write found no room: until when decisions that would write are refused without trying the disk.
        var noRoomUntil: ContinuousClock.Instant?
        /// The pause the last refusal set, while refusals follow one another (nil once a commit went through).
        var noRoomPause: Duration?
    }

    private let store: any NumberStore
    /// Decisions: the speculative state, the queue, the waiters.
    private let inner: Mutex<Inner>
    /// What readers see: everything the store acknowledged. Never held together with `inner`.
    private let durable: Mutex<CoreState>
    private let commitBytesEstimateMax: Int
    private let queueLimits: QueueLimits
    private let noRoomRetry: Duration
    private let noRoomRetryMax: Duration
    private let logger: Logger
    /// Told (outside the locks) when writes stop finding room — the first refusal in a row — and when one goes
    /// through again: `false`, then `true`.
    private let roomChanged: (@Sendable (_ hasRoom: Bool) -> Void)?

    /// Starts from `state`, which must be what `store` has committed. After a write finds no room in the store,
    /// decisions that would write are refused for `noRoomRetry` before the next one tries the disk again; each
    /// further refusal in a row doubles that, up to `noRoomRetryMax`.
    init(
        store: any NumberStore, state: CoreState, commitBytesEstimateMax: Int = 512 * 1024,
        queueLimits: QueueLimits = QueueLimits(), noRoomRetry: Duration = .seconds(1),
        noRoomRetryMax: Duration = .seconds(30),
        logger: Logger = Logger(label: "numberd.core"), roomChanged: (@Sendable (_ hasRoom: Bool) -> Void)? = nil
    ) {
        self.roomChanged = roomChanged
        self.store = store
        self.noRoomRetry = noRoomRetry
        self.noRoomRetryMax = max(noRoomRetry, noRoomRetryMax)
        self.logger = logger
        // Decisions need the background runs' indexes; readers never use them (``WorkIndexes``).
        self.inner = Mutex(Inner(speculative: state.keepingWorkIndexes(true)))
        self.durable = Mutex(state.keepingWorkIndexes(false))
        self.commitBytesEstimateMax = commitBytesEstimateMax
        self.queueLimits = queueLimits
    }

    /// How many decided writes may wait behind the commit in flight before a decision that starts new work is refused.
    struct QueueLimits: Sendable {
        /// Decisions waiting (each one caller's write).
        var decisionsMax = NumberServiceConfig.Commits.defaults.queuedDecisionsMax
        /// Their events' estimated bytes.
        var bytesEstimateMax = NumberServiceConfig.Commits.defaults.queuedBytesEstimateMax
    }

    /// Reads the durable state. The body runs under its lock: a copy escaping it would make the next applied
    /// batch copy every dictionary it touches (copy-on-write), which costs O(state) per concurrent read.
    func read<R: Sendable>(_ body: (CoreState) throws(NumberError) -> R) throws(NumberError) -> R {
        let outcome: Result<R, NumberError> = durable.withLock { state in
            do throws(NumberError) {
                return .success(try body(state))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// Decides against the speculative state under the lock; the events are applied and queued at once (and
    /// handed to the store if it is idle). Returns the sequence to wait for (nil if nothing it saw is pending) and
    /// the decision's result.
    func decide<R: Sendable>(
        _ body: (CoreState) throws(NumberError) -> (events: [CoreEvent], result: R)
    ) throws(NumberError) -> (sequence: UInt64?, result: R) {
        try decide(body, admitting: false, waiter: nil).outcome.get()
    }

    /// Decides, then waits until the events are durable — or, for a decision that wrote nothing or threw, until
    /// everything it observed is — and returns the decision's result or throws its error (the store's failure if
    /// writes stopped meanwhile). The waiter is registered in the same hold of the lock as the decision.
    ///
    /// `admitting` marks a decision that starts new work — a caller's first write, nothing done anywhere yet — as
    /// opposed to one that carries on work already started (a purchase's commit after its buy, a release's record):
    /// past the queue's limits (``QueueLimits``) an admitting decision that would write is refused
    /// `RESOURCE_EXHAUSTED` / `STORE_BUSY`, nothing changed, so a disk that falls behind sheds new work instead of
    /// piling it up in memory, while what was started always reaches its end. A decision that writes nothing (a
    /// replay, a refusal) is never refused for it.
    func perform<R: Sendable>(
        admitting: Bool = false, _ body: (CoreState) throws(NumberError) -> (events: [CoreEvent], result: R)
    ) async throws(NumberError) -> R {
        var outcome: Result<(sequence: UInt64?, result: R), NumberError>?
        let failure = await withCheckedContinuation { (continuation: CheckedContinuation<NumberError?, Never>) in
            let decided = decide(body, admitting: admitting, waiter: continuation)
            outcome = decided.outcome
            if !decided.waiting { continuation.resume(returning: nil) }
        }
        if let failure { throw failure }
        return try outcome!.get().result
    }

    /// `decide`, and when the caller must wait for its sequence and `waiter` is given, registers it (`waiting`):
    /// it is resumed once that sequence is durable, or with the failure that stopped writes.
    private func decide<R: Sendable>(
        _ body: (CoreState) throws(NumberError) -> (events: [CoreEvent], result: R), admitting: Bool,
        waiter continuation: CheckedContinuation<NumberError?, Never>?
    ) -> (outcome: Result<(sequence: UInt64?, result: R), NumberError>, waiting: Bool) {
        typealias Decided = (outcome: Result<(sequence: UInt64?, result: R), NumberError>, waiting: Bool)
        let (decided, start): (Decided, [Batch]?) = inner.withLock { inner in
            if let failure = inner.failure { return ((.failure(failure), false), nil) }
            func wait(for sequence: UInt64?) -> Bool {
                guard let sequence, let continuation else { return false }
                inner.waiters.append(Waiter(sequence: sequence, continuation: continuation))
                return true
            }
            // A decision that wrote nothing — or refused (insufficient balance behind a pending purchase, a key
            // whose first use is still pending) — still observed the speculative state: its caller waits until
            // all of that is durable, so no answer, an error included, ever reflects a write that could be lost.
            let observed = inner.nextSequence - 1
            let observedPending = observed > inner.durableSequence ? observed : nil
            let decision: (events: [CoreEvent], result: R)
            do throws(NumberError) {
                decision = try body(inner.speculative)
            } catch {
                return ((.failure(error), wait(for: observedPending)), nil)
            }
            guard !decision.events.isEmpty else {
                return ((.success((observedPending, decision.result)), wait(for: observedPending)), nil)
            }
            if let until = inner.noRoomUntil {
                // Nothing is pending (the refused commit took everything decided with it), so there is nothing to wait for.
                if ContinuousClock.now < until {
                    CoreMetrics.storeNoRoomRefusals.increment()
                    return ((.failure(.storeFull), false), nil)
                }
                inner.noRoomUntil = nil
            }
            let estimate = decision.events.reduce(0) { $0 + $1.bytesEstimate }
            if admitting, !inner.queue.isEmpty,
                inner.queue.count >= queueLimits.decisionsMax
                    || inner.queuedBytes + estimate > queueLimits.bytesEstimateMax
            {
                // Nothing of this decision is applied or queued; its caller need not wait for what it observed, as
                // the refusal says nothing of the state.
                CoreMetrics.storeBusyRefusals.increment()
                return ((.failure(.storeBusy(queued: inner.queue.count, max: queueLimits.decisionsMax)), false), nil)
            }
            inner.speculative.apply(decision.events)
            let sequence = inner.nextSequence
            inner.nextSequence += 1
            inner.queue.append(Batch(sequence: sequence, events: decision.events, bytesEstimate: estimate))
            inner.queuedBytes += estimate
            return ((.success((sequence, decision.result)), wait(for: sequence)), takeBatches(&inner))
        }
        if let start { commit(start) }
        return decided
    }

    /// If no commit is in flight, marks one and takes queued decisions in order up to the size cap (always at
    /// least one), so a record stays small; nil when there is nothing to start.
    private func takeBatches(_ inner: inout Inner) -> [Batch]? {
        guard !inner.committing, !inner.queue.isEmpty else { return nil }
        var taken = 0
        var bytes = 0
        while taken < inner.queue.count
            && (taken == 0 || bytes + inner.queue[taken].bytesEstimate <= commitBytesEstimateMax)
        {
            bytes += inner.queue[taken].bytesEstimate
            taken += 1
        }
        inner.committing = true
        inner.queuedBytes -= bytes
        defer { inner.queue.removeFirst(taken) }
        return Array(inner.queue.prefix(taken))
    }

    /// Hands `batches` to the store; the completion continues with the next batch.
    private func commit(_ batches: [Batch]) {
        let started = ContinuousClock.now
        store.commit(batches.flatMap(\.events)) { result in
            self.committed(batches, started: started, result: result)
        }
    }

    /// A commit's completion: applies it to the durable state, starts the next commit and wakes its waiters; or,
    /// on failure, stops all writes and fails everyone waiting.
    private func committed(_ batches: [Batch], started: ContinuousClock.Instant, result: Result<Void, any Error>) {
        if case .failure(let error) = result, let noRoom = error as? JournalError, noRoom.code == .noRoom {
            return refusedForRoom(batches, noRoom)
        }
        if case .failure(let error) = result {
            CoreMetrics.storeCommitFailures.increment()
            let failure = NumberError.storeFailed(error)
            let waiters = inner.withLock { inner in
                inner.failure = failure
                inner.queue = []
                inner.queuedBytes = 0
                defer { inner.waiters = [] }
                return inner.waiters
            }
            for waiter in waiters { waiter.continuation.resume(returning: failure) }
            return
        }
        CoreMetrics.storeCommitDuration.record(duration: started.duration(to: .now))
        CoreMetrics.storeCommits.increment()
        CoreMetrics.storeCommittedOperations.increment(by: batches.count)
        // Readers first see the batches, then their waiters learn they are durable: a woken caller's next read has
        // them. One hold of the lock per decision, not per commit (dozens of decisions under load): a reader waits
        // for one decision's events at most, and every state it can see is one a decision left.
        for batch in batches {
            durable.withLock { state in state.apply(batch.events) }
        }
        let (ready, next, roomAgain): ([Waiter], [Batch]?, Bool) = inner.withLock { inner in
            let through = batches.last!.sequence
            inner.durableSequence = through
            inner.committing = false
            let roomAgain = inner.noRoomPause != nil
            inner.noRoomPause = nil
            var ready: [Waiter] = []
            inner.waiters.removeAll { waiter in
                guard waiter.sequence <= through else { return false }
                ready.append(waiter)
                return true
            }
            return (ready, takeBatches(&inner), roomAgain)
        }
        if roomAgain { roomChanged?(true) }
        if let next { commit(next) }
        for waiter in ready { waiter.continuation.resume(returning: nil) }
    }

    /// A commit the store refused for lack of room: nothing of it is on disk, nor of anything queued behind it (the
    /// store refuses those with it). Every decision not yet durable rested on it, so all of them fail with
    /// `STORE_FULL` — their callers learn nothing was changed — and the decision state goes back to the durable one,
    /// exactly what a restart would recover. Writes pause (`noRoomRetry`, doubling with each refusal in a row up to
    /// `noRoomRetryMax`), then the next one tries the disk again.
    /// Runs on the store's writer, like every completion: no other commit is in flight, so `durable` holds still.
    private func refusedForRoom(_ batches: [Batch], _ error: JournalError) {
        let failure = NumberError.storeFull
        // Built outside the decision lock: the work indexes are O(state). Decisions meanwhile queue behind the refused
        // commit (it is still in flight) and are refused below with it.
        let rebuilt = durable.withLock { $0 }.keepingWorkIndexes(true)
        let (waiters, refused, first) = inner.withLock { inner -> ([Waiter], Int, Bool) in
            let first = inner.noRoomPause == nil
            inner.speculative = rebuilt
            inner.nextSequence = inner.durableSequence + 1
            inner.committing = false
            let refused = batches.count + inner.queue.count
            inner.queue = []
            inner.queuedBytes = 0
            let pause = Self.nextPause(after: inner.noRoomPause, first: noRoomRetry, max: noRoomRetryMax)
            inner.noRoomPause = pause
            inner.noRoomUntil = ContinuousClock.now + pause
            defer { inner.waiters = [] }
            return (inner.waiters, refused, first)
        }
        if first { roomChanged?(false) }
        CoreMetrics.storeNoRoomRefusals.increment(by: refused)
        logger.warning(
            "the store has no room: decisions refused, decision state back to the durable one",
            metadata: ["decisions": "\(refused)", "error": "\(error)"])
        for waiter in waiters { waiter.continuation.resume(returning: failure) }
    }

    /// The pause after a refusal: `first`, or twice the last one (refusals in a row), never past `max`.
    static func nextPause(after last: Duration?, first: Duration, max: Duration) -> Duration {
        guard let last else { return first }
        return min(last * 2, max)
    }

    /// The pause the last refusal for room set, while refusals follow one another; nil once a commit went through.
    var noRoomPause: Duration? { inner.withLock { $0.noRoomPause } }

    /// How many callers wait for their decision (or what it observed) to be durable (tests: a call parked behind a
    /// write).
    var waiterCount: Int { inner.withLock { $0.waiters.count } }

    /// The decided writes waiting behind the commit in flight, and their estimated bytes (tests of the queue's limits:
    /// both 0 once everything is durable).
    var queued: (decisions: Int, bytes: Int) { inner.withLock { ($0.queue.count, $0.queuedBytes) } }

    /// Reads the speculative state (decided, maybe not durable) under the decision lock, which holds up decisions
    /// meanwhile: for O(1) reads of what only it keeps (the work indexes), never a copy (see ``read(_:)``).
    func readDecisionState<R: Sendable>(_ body: (CoreState) -> R) -> R {
        inner.withLock { body($0.speculative) }
    }

    /// The speculative state (decided, maybe not durable): for decisions outside `decide` only.
    var speculativeState: CoreState { inner.withLock { $0.speculative } }

    /// Whether a store failure stopped writes.
    var failure: NumberError? { inner.withLock { $0.failure } }
}
