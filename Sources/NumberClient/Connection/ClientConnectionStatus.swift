import Synchronization

/// What the connection pool may read without hopping to the event loop: whether the connection takes new calls, and
/// how many it was given against how many the server runs at once.
final class ClientConnectionStatus: Sendable {
    private let unusable = Atomic<Bool>(false)
    private let saturated = Atomic<Bool>(false)
    private let retiredIdle = Atomic<Bool>(false)
    /// Calls the pool gave this connection that have not ended, queued ones included. Counted by the pool when it
    /// picks the connection (under its lock), not when the call reaches the event loop: calls picking at once must
    /// see each other, or they all take the same connection.
    private let calls = Atomic<Int>(0)
    /// The server's concurrent-call limit (its SETTINGS' `maxConcurrentStreams`; unknown, unlimited, until set).
    private let callsMax = Atomic<Int>(.max)
    /// Told that the connection has room again after it held new calls for a PING (``probeAnswered()``): the pool,
    /// which wakes calls waiting for room.
    private let roomReturned: (@Sendable (ClientConnectionStatus) -> Void)?

    /// A status reporting to `roomReturned` (nil: nobody) when the connection takes calls again after a PING.
    init(roomReturned: (@Sendable (ClientConnectionStatus) -> Void)? = nil) {
        self.roomReturned = roomReturned
    }

    /// True while the connection is up, not going away, and below the server's concurrent-call limit.
    var acceptsCalls: Bool { !unusable.load(ordering: .relaxed) && !saturated.load(ordering: .relaxed) }
    /// False once the connection is closing or closed; it never becomes usable again.
    var isAlive: Bool { !unusable.load(ordering: .acquiring) }
    /// Calls given to this connection and not ended (``callStarted()``, ``callEnded()``).
    var callCount: Int { calls.load(ordering: .relaxed) }
    /// Whether one more call given to it now starts at once: it accepts calls and those it was given are below the
    /// server's limit.
    var hasRoom: Bool { acceptsCalls && calls.load(ordering: .relaxed) < callsMax.load(ordering: .relaxed) }
    /// How many more calls given to it now would start at once: 0 unless it accepts calls, else the server's limit
    /// less the calls it was given.
    var room: Int {
        guard acceptsCalls else { return 0 }
        return max(callsMax.load(ordering: .relaxed) - calls.load(ordering: .relaxed), 0)
    }

    func markUnusable() { unusable.store(true, ordering: .relaxed) }
    /// This client retired the connection for having been idle close to the server's idle timeout: unusable, and not
    /// a sign of the server going away (which makes a call that then cannot connect wait for a restart).
    func markRetiredIdle() {
        retiredIdle.store(true, ordering: .relaxed)
        // Released after it: a reader that sees the connection not alive (acquiring) sees why.
        unusable.store(true, ordering: .releasing)
    }
    /// Whether ``markRetiredIdle()`` made it unusable.
    var wasRetiredIdle: Bool { retiredIdle.load(ordering: .relaxed) }
    func setSaturated(_ value: Bool) { saturated.store(value, ordering: .relaxed) }
    /// The server's concurrent-call limit, from its SETTINGS.
    func setCallsMax(_ value: Int) { callsMax.store(value, ordering: .relaxed) }
    /// The pool gave this connection a call.
    func callStarted() { calls.wrappingAdd(1, ordering: .relaxed) }
    /// A call the pool gave this connection ended (whatever its outcome).
    func callEnded() { calls.wrappingSubtract(1, ordering: .relaxed) }
    /// The server answered the PING sent on a silent connection, and the calls held meanwhile went out: if room is
    /// left, the pool hears of it, since no call ending may come to wake the calls waiting for room.
    func probeAnswered() {
        if hasRoom { roomReturned?(self) }
    }
}
