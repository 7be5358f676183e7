import Synchronization

/// Calls a run may still make (`--calls-max`), shared by all its workers: an operation takes every call it may make
/// before it starts and gives back those it did not make, so the calls made never exceed the budget whatever the
/// number of workers (a share per worker of at least one call each made 64 calls of a budget of 10).
final class CallBudget: Sendable {
    private let left: Atomic<Int>
    private let refused = Atomic<Bool>(false)

    init(_ calls: Int) {
        left = Atomic(max(0, calls))
    }

    /// Calls not taken.
    var remaining: Int { left.load(ordering: .relaxed) }

    /// Whether an operation was refused its calls: the budget, not the time, ended the run (reported).
    var wasSpent: Bool { refused.load(ordering: .relaxed) }

    /// Takes `calls` from the budget; false, taking none, when fewer are left (an operation that cannot have all the
    /// calls it may make does not start).
    func take(_ calls: Int) -> Bool {
        var current = left.load(ordering: .relaxed)
        while current >= calls {
            let (exchanged, original) = left.compareExchange(
                expected: current, desired: current - calls, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        refused.store(true, ordering: .relaxed)
        return false
    }

    /// Gives back calls taken but not made.
    func giveBack(_ calls: Int) {
        guard calls > 0 else { return }
        left.add(calls, ordering: .relaxed)
    }
}
