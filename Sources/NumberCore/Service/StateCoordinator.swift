import Synchronization

/// Serializes decisions and makes their events durable with group commit.
///
/// Two states: `speculative` has every decided event (so a decision sees in-flight writes and concurrent
/// purchases cannot overdraw), `durable` only those the store acknowledged (so readers never see a write that
/// could still be lost). A decision runs under the lock and enqueues its events with a sequence number; the
/// caller then waits, outside the lock, until the durable sequence reaches it. One waiter at a time leads: it
/// takes everything queued and commits it in one store call, so concurrent writes share one sync.
final class StateCoordinator: Sendable {
    private struct Batch {
        var sequence: UInt64
        var events: [CoreEvent]
        var bytesEstimate: Int
    }

    private enum Wake: Sendable {
        case done
        case lead
        case failed(NumberError)
    }

    private struct Waiter {
        var sequence: UInt64
        var continuation: CheckedContinuation<Wake, Never>
    }

    private struct Inner {
        var speculative: CoreState
        var durable: CoreState
        var nextSequence: UInt64 = 1
        var durableSequence: UInt64 = 0
        var queue: [Batch] = []
        var flushing = false
        var waiters: [Waiter] = []
        var failure: NumberError?
    }

    private enum Step {
        case done
        case failed(NumberError)
        case lead([Batch])
        case wait
    }

    private let store: any NumberStore
    private let inner: Mutex<Inner>
    private let commitBytesEstimateMax: Int

    /// Starts from `state`, which must be what `store` has committed.
    init(store: any NumberStore, state: CoreState, commitBytesEstimateMax: Int = 512 * 1024) {
        self.store = store
        self.inner = Mutex(Inner(speculative: state, durable: state))
        self.commitBytesEstimateMax = commitBytesEstimateMax
    }

    /// Reads the durable state. The body runs under the lock: a copy escaping it would make the next applied
    /// batch copy every dictionary it touches (copy-on-write), which costs O(state) per concurrent read.
    func read<R: Sendable>(_ body: (CoreState) throws(NumberError) -> R) throws(NumberError) -> R {
        let outcome: Result<R, NumberError> = inner.withLock { inner in
            do throws(NumberError) {
                return .success(try body(inner.durable))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// Decides against the speculative state under the lock; the events are applied and queued at once.
    /// Returns the sequence to wait for (nil if nothing it saw is pending) and the decision's result.
    func decide<R: Sendable>(
        _ body: (CoreState) throws(NumberError) -> (events: [CoreEvent], result: R)
    ) throws(NumberError) -> (sequence: UInt64?, result: R) {
        let outcome: Result<(UInt64?, R), NumberError> = inner.withLock { inner in
            if let failure = inner.failure { return .failure(failure) }
            let decision: (events: [CoreEvent], result: R)
            do throws(NumberError) {
                decision = try body(inner.speculative)
            } catch {
                return .failure(error)
            }
            // A decision that wrote nothing still observed the speculative state: its caller waits until all of
            // that is durable, so no answer ever reflects a write that could be lost.
            guard !decision.events.isEmpty else {
                let observed = inner.nextSequence - 1
                return .success((observed > inner.durableSequence ? observed : nil, decision.result))
            }
            inner.speculative.apply(decision.events)
            let sequence = inner.nextSequence
            inner.nextSequence += 1
            let estimate = decision.events.reduce(0) { $0 + $1.bytesEstimate }
            inner.queue.append(Batch(sequence: sequence, events: decision.events, bytesEstimate: estimate))
            return .success((sequence, decision.result))
        }
        return try outcome.get()
    }

    /// Decides, then waits until the events are durable; returns the decision's result.
    func perform<R: Sendable>(
        _ body: (CoreState) throws(NumberError) -> (events: [CoreEvent], result: R)
    ) async throws(NumberError) -> R {
        let (sequence, result) = try decide(body)
        if let sequence { try await waitDurable(sequence) }
        return result
    }

    /// Returns once every event up to `sequence` is durable.
    func waitDurable(_ sequence: UInt64) async throws(NumberError) {
        while true {
            let step: Step = inner.withLock { inner in
                if let failure = inner.failure { return .failed(failure) }
                if inner.durableSequence >= sequence { return .done }
                if inner.flushing { return .wait }
                inner.flushing = true
                // Take decisions in order up to the size cap (always at least one), so a record stays small.
                var taken = 0
                var bytes = 0
                while taken < inner.queue.count
                    && (taken == 0 || bytes + inner.queue[taken].bytesEstimate <= commitBytesEstimateMax)
                {
                    bytes += inner.queue[taken].bytesEstimate
                    taken += 1
                }
                let batches = Array(inner.queue.prefix(taken))
                inner.queue.removeFirst(taken)
                return .lead(batches)
            }
            switch step {
            case .done: return
            case .failed(let error): throw error
            case .lead(let batches): try await flush(batches)
            case .wait:
                switch await park(sequence) {
                case .done: return
                case .failed(let error): throw error
                case .lead: continue
                }
            }
        }
    }

    private func park(_ sequence: UInt64) async -> Wake {
        await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
            let immediate: Wake? = inner.withLock { inner in
                if let failure = inner.failure { return .failed(failure) }
                if inner.durableSequence >= sequence { return .done }
                if !inner.flushing { return .lead }
                inner.waiters.append(Waiter(sequence: sequence, continuation: continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    private func flush(_ batches: [Batch]) async throws(NumberError) {
        precondition(!batches.isEmpty, "a leader must have something to flush")
        let started = ContinuousClock.now
        do {
            try await store.commit(batches.flatMap(\.events))
            CoreMetrics.storeCommitDuration.record(duration: started.duration(to: .now))
            CoreMetrics.storeCommits.increment()
            CoreMetrics.storeCommittedOperations.increment(by: batches.count)
        } catch {
            CoreMetrics.storeCommitFailures.increment()
            let failure = NumberError.storeFailed(error)
            let waiters = inner.withLock { inner in
                inner.failure = failure
                inner.flushing = false
                defer { inner.waiters = [] }
                return inner.waiters
            }
            for waiter in waiters { waiter.continuation.resume(returning: .failed(failure)) }
            throw failure
        }
        let (ready, next): ([Waiter], Waiter?) = inner.withLock { inner in
            for batch in batches { inner.durable.apply(batch.events) }
            inner.durableSequence = batches.last!.sequence
            inner.flushing = false
            let durable = inner.durableSequence
            let ready = inner.waiters.filter { $0.sequence <= durable }
            inner.waiters.removeAll { $0.sequence <= durable }
            // Hand the lead to a waiter whose events are still queued, so nothing waits on nobody.
            let next = inner.queue.isEmpty || inner.waiters.isEmpty ? nil : inner.waiters.removeFirst()
            return (ready, next)
        }
        for waiter in ready { waiter.continuation.resume(returning: .done) }
        next?.continuation.resume(returning: .lead)
    }

    /// The speculative state (decided, maybe not durable): for decisions outside `decide` only.
    var speculativeState: CoreState { inner.withLock { $0.speculative } }

    /// Whether a store failure stopped writes.
    var failure: NumberError? { inner.withLock { $0.failure } }
}
