import Synchronization

/// Phone numbers found by searches and not yet handed to a purchase, shared by all workers so that two workers
/// rarely race for the same number. Bounded; a number is handed out once until it is released again.
final class CandidatePool: Sendable {
    /// Numbers kept waiting at most.
    static let sizeMax = 10_000

    private struct State {
        var waiting: [String] = []
        var handedOut: Set<String> = []
        /// The search refilling the pool, while one runs.
        var refill: Task<Void, Never>?
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
    /// empty at once made 64 searches of 50 numbers for the next 64 purchases). `searched` says whether this worker's
    /// `search` ran; nil if the pool is still empty after the refill.
    func take(refillingWith search: @escaping @Sendable () async -> [String]) async -> (number: String?, searched: Bool)
    {
        let (number, refill, started) = state.withLock { state -> (String?, Task<Void, Never>?, Bool) in
            if let number = state.waiting.popLast() {
                state.handedOut.insert(number)
                return (number, nil, false)
            }
            if let running = state.refill { return (nil, running, false) }
            let refill = Task {
                self.add(await search())
                self.state.withLock { $0.refill = nil }
            }
            state.refill = refill
            return (nil, refill, true)
        }
        if let number { return (number, false) }
        await refill?.value
        return (take(), started)
    }

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
