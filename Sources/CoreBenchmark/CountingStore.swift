import NumberCore
import Synchronization

/// A ``NumberStore`` in front of another that counts the commits (store calls) and the events they carried.
final class CountingStore: NumberStore {
    struct Counts: Sendable {
        var commits = 0
        var events = 0
    }

    let base: FileNumberStore
    private let counts = Mutex(Counts())

    init(_ base: FileNumberStore) {
        self.base = base
    }

    /// Commits and events so far.
    var current: Counts { counts.withLock { $0 } }

    func load() async throws -> CoreState {
        try await base.load()
    }

    func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        base.commit(events) { result in
            if case .success = result {
                self.counts.withLock { counts in
                    counts.commits += 1
                    counts.events += events.count
                }
            }
            completion(result)
        }
    }
}
