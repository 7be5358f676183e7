import Synchronization

/// Phone numbers found by searches and not yet handed to a purchase, shared by all workers so that two workers
/// rarely race for the same number. Bounded; a number is handed out once until it is released again.
final class CandidatePool: Sendable {
    /// Numbers kept waiting at most.
    static let sizeMax = 10_000

    private struct State {
        var waiting: [String] = []
        var handedOut: Set<String> = []
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
