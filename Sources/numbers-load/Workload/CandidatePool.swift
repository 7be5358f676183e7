import Synchronization

/// Phone numbers found by searches and not yet handed to a purchase, shared by all workers so that two workers
/// rarely race for the same number. Bounded; a number is handed out once until it is released again.
final class CandidatePool: Sendable {
    /// Numbers kept waiting at most.
    static let sizeMax = 10_000
    /// Refills a worker waits for (or runs) before it gives up on a candidate; each of its own is a search call.
    static let refillAttemptsMax = 3

    private struct State {
        var waiting: [String] = []
        var handedOut: Set<String> = []
        /// The search refilling the pool, while one runs.
        var refill: Refill?
        /// Refills started so far: each one's number, so that one ending clears only itself, not one started after it.
        var refillsStarted: UInt64 = 0
    }

    /// A refill's search and the workers waiting for it: cancelled once every one of them is, not when the first is
    /// (a worker whose own call deadline ended would have cut the search short for the others). Once cancelled, no
    /// worker joins it: the next one to find the pool empty starts another.
    private final class Refill: Sendable {
        let number: UInt64
        let task: Task<Void, Never>
        private let waiters = Mutex((joined: 0, cancelled: 0, abandoned: false))

        init(number: UInt64, _ task: Task<Void, Never>) {
            self.number = number
            self.task = task
        }

        /// The workers waiting for it that were not cancelled.
        var waiting: Int { waiters.withLock { $0.joined - $0.cancelled } }

        /// One more worker waits for it (under the pool's lock, so none joins a refill already replaced); false when
        /// every worker that waited for it was cancelled, and so is its search.
        func join() -> Bool {
            waiters.withLock { waiters in
                guard !waiters.abandoned else { return false }
                waiters.joined += 1
                return true
            }
        }

        /// A waiting worker was cancelled: the search is too, if it was the last one waiting that was not.
        func leave() {
            let nobodyLeft = waiters.withLock { waiters in
                waiters.cancelled += 1
                waiters.abandoned = waiters.cancelled >= waiters.joined
                return waiters.abandoned
            }
            if nobodyLeft { task.cancel() }
        }
    }

    private let state = Mutex(State())

    /// A number to buy, or nil when the pool is empty (search for more).
    func take() -> String? {
        state.withLock { state in
            guard let number = state.waiting.popLast() else { return nil }
            state.handedOut.insert(number)
            return number
        }
    }

    /// A number to buy, refilling the pool with `search` when it is empty — one refill at a time: a worker that finds
    /// the pool empty while another refills waits for that search instead of searching too (64 workers finding it
    /// empty at once made 64 searches of 50 numbers for the next 64 purchases). A refill yields at most one search's
    /// numbers not handed out already (30 at most at the simulator), fewer than the workers that may wait for it (64
    /// at depth 64), so a worker left without one waits for, or runs, the next refill: `refillAttemptsMax` rounds in
    /// all, each as long as one search, bounded by its call deadline. `searched` says whether this worker's `search`
    /// ran; nil if the pool is still empty after the last round. When every worker waiting for a refill is cancelled
    /// (the run interrupted), so is its search: not cancelled with the run, it held the run's end up to its deadline. A
    /// worker cancelled is handed no number, and one that comes after a refill was so cancelled starts another.
    func take(refillingWith search: @escaping @Sendable () async -> [String]) async -> (number: String?, searched: Bool)
    {
        var searched = false
        for _ in 0..<Self.refillAttemptsMax {
            // A cancelled worker buys nothing: a number handed to it would be lost to the others.
            if Task.isCancelled { break }
            let (number, refill, started) = state.withLock { state -> (String?, Refill?, Bool) in
                if let number = state.waiting.popLast() {
                    state.handedOut.insert(number)
                    return (number, nil, false)
                }
                if let running = state.refill, running.join() {
                    return (nil, running, false)
                }
                state.refillsStarted += 1
                let number = state.refillsStarted
                let refill = Refill(
                    number: number,
                    Task {
                        self.add(await search())
                        self.state.withLock { state in
                            if state.refill?.number == number { state.refill = nil }
                        }
                    })
                _ = refill.join()
                state.refill = refill
                return (nil, refill, true)
            }
            if let number { return (number, searched) }
            searched = searched || started
            if let refill {
                await withTaskCancellationHandler {
                    await refill.task.value
                } onCancel: {
                    refill.leave()
                }
            }
            if Task.isCancelled { break }
            if let number = take() { return (number, searched) }
        }
        return (nil, searched)
    }

    /// The workers waiting for the running refill, its starter included, not cancelled; 0 when none runs.
    var refillWaiters: Int { state.withLock { $0.refill?.waiting ?? 0 } }

    /// Adds search results that are neither waiting nor handed out.
    func add(_ numbers: [String]) {
        state.withLock { state in
            let waiting = Set(state.waiting)
            for number in numbers where !waiting.contains(number) && !state.handedOut.contains(number) {
                guard state.waiting.count < Self.sizeMax else { return }
                state.waiting.append(number)
            }
        }
    }

    /// The number was released (or its purchase failed): it may be found and bought again.
    func returned(_ number: String) {
        _ = state.withLock { $0.handedOut.remove(number) }
    }
}
