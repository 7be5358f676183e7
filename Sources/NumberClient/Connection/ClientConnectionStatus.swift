import Synchronization

/// What the connection pool may read without hopping to the event loop: whether the connection takes new calls.
final class ClientConnectionStatus: Sendable {
    private let unusable = Atomic<Bool>(false)
    private let saturated = Atomic<Bool>(false)

    /// True while the connection is up, not going away, and below the server's concurrent-call limit.
    var acceptsCalls: Bool { !unusable.load(ordering: .relaxed) && !saturated.load(ordering: .relaxed) }
    /// False once the connection is closing or closed; it never becomes usable again.
    var isAlive: Bool { !unusable.load(ordering: .relaxed) }

    func markUnusable() { unusable.store(true, ordering: .relaxed) }
    func setSaturated(_ value: Bool) { saturated.store(value, ordering: .relaxed) }
}
