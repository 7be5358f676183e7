import NIOCore
import Synchronization

/// A clock that moves only when told to: a stub call takes time by advancing it, so latencies are exact arithmetic.
final class FakeClock: Sendable {
    private let current = Mutex(NIODeadline.uptimeNanoseconds(1_000_000_000_000))

    var now: NIODeadline { current.withLock { $0 } }

    func advance(by amount: TimeAmount) { current.withLock { $0 = $0 + amount } }
}
