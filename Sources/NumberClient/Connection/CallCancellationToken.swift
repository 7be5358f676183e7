import Synchronization

/// Orders a call's start (on the event loop) against its cancellation (on any thread) without a lock: whichever
/// comes first wins, exactly once.
final class CallCancellationToken: Sendable {
    private static let new: UInt8 = 0
    private static let started: UInt8 = 1
    private static let cancelled: UInt8 = 2
    private let state = Atomic<UInt8>(CallCancellationToken.new)

    /// Marks the call started; false if it was cancelled first (then it must not start).
    func markStarted() -> Bool {
        state.compareExchange(expected: Self.new, desired: Self.started, ordering: .acquiringAndReleasing).exchanged
    }

    /// Marks the call cancelled; true if it had already started (then the running call must be cancelled).
    func markCancelled() -> Bool {
        let (exchanged, original) = state.compareExchange(
            expected: Self.new, desired: Self.cancelled, ordering: .acquiringAndReleasing)
        return !exchanged && original == Self.started
    }
}
