import Synchronization

/// A store that keeps committed events in memory: for tests, and to model a crash and restart
/// (``restarted()`` gives a new store over exactly what was committed and fences the old one off). It can be
/// told to fail, to refuse for lack of room (as a full disk does), or to delay commits.
public final class InMemoryNumberStore: NumberStore {
    private struct Inner {
        var state = CoreState()
        var events: [CoreEvent] = []
        var commits = 0
        var failNextCommits = 0
        /// Commits left before every commit fails; nil: no such failure.
        var commitsBeforeFailing: Int?
        var commitDelayNanoseconds: UInt64 = 0
        var generation = 0
        /// Commits left before some are refused for lack of room, and how many; nil: none.
        var noRoom: (after: Int, times: Int)?
    }

    /// The error a commit throws when told to fail.
    public struct InjectedFailure: Error, Sendable {}

    /// The error a commit of a store replaced by ``restarted()`` throws: the old process is gone.
    public struct Fenced: Error, Sendable {}

    private final class Storage: Sendable {
        let inner = Mutex(Inner())
    }

    private let storage: Storage
    private let generation: Int

    /// Creates an empty store.
    public convenience init() {
        self.init(storage: Storage(), generation: 0)
    }

    private init(storage: Storage, generation: Int) {
        self.storage = storage
        self.generation = generation
    }

    /// A store over the same committed events, as a restarted process would see them; this one can no longer
    /// commit (its commits throw ``Fenced``), like a crashed process.
    public func restarted() -> InMemoryNumberStore {
        let next = storage.inner.withLock { inner in
            inner.generation += 1
            return inner.generation
        }
        return InMemoryNumberStore(storage: storage, generation: next)
    }

    /// The committed state.
    public func load() async throws -> CoreState {
        storage.inner.withLock { $0.state }
    }

    /// Appends `events` after the configured delay, or fails if told to or fenced off; the completion comes from
    /// a task, like a disk's answer.
    public func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        Task {
            let delay = storage.inner.withLock { $0.commitDelayNanoseconds }
            if delay > 0 { try? await Task.sleep(nanoseconds: delay) }
            completion(
                Result { () throws -> Void in
                    try storage.inner.withLock { inner in
                        guard inner.generation == generation else { throw Fenced() }
                        if inner.failNextCommits > 0 {
                            inner.failNextCommits -= 1
                            throw InjectedFailure()
                        }
                        if let left = inner.commitsBeforeFailing {
                            guard left > 0 else { throw InjectedFailure() }
                            inner.commitsBeforeFailing = left - 1
                        }
                        if let noRoom = inner.noRoom {
                            if noRoom.after > 0 {
                                inner.noRoom = (noRoom.after - 1, noRoom.times)
                            } else {
                                inner.noRoom = noRoom.times > 1 ? (0, noRoom.times - 1) : nil
                                throw JournalError(.noRoom, "no room (injected)")
                            }
                        }
                        inner.state.apply(events)
                        inner.events.append(contentsOf: events)
                        inner.commits += 1
                    }
                })
        }
    }

    /// Every committed event, in order.
    public var committedEvents: [CoreEvent] { storage.inner.withLock { $0.events } }

    /// How many `commit` calls succeeded (one per group-committed batch).
    public var commitCount: Int { storage.inner.withLock { $0.commits } }

    /// Makes the next `count` commits throw ``InjectedFailure``.
    public func failNextCommits(_ count: Int) {
        storage.inner.withLock { $0.failNextCommits = count }
    }

    /// Lets the next `count` commits succeed, then fails every later one (a disk that breaks mid-run).
    public func failAfterCommits(_ count: Int) {
        storage.inner.withLock { $0.commitsBeforeFailing = count }
    }

    /// Lets the next `after` commits succeed, then refuses `times` commits for lack of room (`JournalError.noRoom`,
    /// as the file store does on a full disk: nothing of them is kept, and later commits go on). `times` 0 clears it.
    public func refuseForRoom(after: Int = 0, times: Int = 1) {
        storage.inner.withLock { $0.noRoom = times > 0 ? (after, times) : nil }
    }

    /// Delays every commit, to model a slow disk (and let batches form).
    public func setCommitDelay(nanoseconds: UInt64) {
        storage.inner.withLock { $0.commitDelayNanoseconds = nanoseconds }
    }
}
