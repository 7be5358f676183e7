import Synchronization

/// A store that keeps committed events in memory: for tests, and to model a restart (a new service over the
/// same store sees exactly what was committed). It can be told to fail or to delay commits.
public final class InMemoryNumberStore: NumberStore {
    private struct Inner {
        var state = CoreState()
        var events: [CoreEvent] = []
        var commits = 0
        var failNextCommits = 0
        var commitDelayNanoseconds: UInt64 = 0
    }

    /// The error a commit throws when told to fail.
    public struct InjectedFailure: Error, Sendable {}

    private let inner = Mutex(Inner())

    /// Creates an empty store.
    public init() {}

    /// The committed state.
    public func load() async throws -> CoreState {
        inner.withLock { $0.state }
    }

    /// Appends `events` after the configured delay, or throws if told to fail.
    public func commit(_ events: [CoreEvent]) async throws {
        let delay = inner.withLock { $0.commitDelayNanoseconds }
        if delay > 0 { try await Task.sleep(nanoseconds: delay) }
        try inner.withLock { inner in
            if inner.failNextCommits > 0 {
                inner.failNextCommits -= 1
                throw InjectedFailure()
            }
            inner.state.apply(events)
            inner.events.append(contentsOf: events)
            inner.commits += 1
        }
    }

    /// Every committed event, in order.
    public var committedEvents: [CoreEvent] { inner.withLock { $0.events } }

    /// How many `commit` calls succeeded (one per group-committed batch).
    public var commitCount: Int { inner.withLock { $0.commits } }

    /// Makes the next `count` commits throw ``InjectedFailure``.
    public func failNextCommits(_ count: Int) {
        inner.withLock { $0.failNextCommits = count }
    }

    /// Delays every commit, to model a slow disk (and let batches form).
    public func setCommitDelay(nanoseconds: UInt64) {
        inner.withLock { $0.commitDelayNanoseconds = nanoseconds }
    }
}
