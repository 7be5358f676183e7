import Dispatch
import NumberCore

/// The file work numberd does outside its store while it serves (a reload's config file, the TLS certificate files, a
/// Twilio secret file, the clock's minute mark), run off Swift's cooperative pool (``QueueWork``): a file on a stalled
/// mount (NFS, a FUSE secret store) blocks a queue's thread in the kernel, not one of the pool's threads — one per
/// core, two on a two-core host — which serve every RPC. A caller cancelled meanwhile (a graceful shutdown) stops
/// waiting at once: the work goes on, its result unused, and the work queued behind it on its lane waits for it.
///
/// Each kind of file lives on its own mount as often as not, so each has its own lane — a serial queue: a secret store
/// that stalls holds the secrets' lane only, and the clock's mark and the certificates' renewal go on. Work of one
/// lane never overlaps (an hourly certificate check and a SIGHUP's, which may both renew the files).
enum FileWork {
    /// A serial queue for one kind of file.
    struct Lane: Sendable {
        let queue: DispatchQueue
        let label: String

        /// A lane of its own (tests; numberd's are the static ones).
        init(_ label: String) {
            self.label = label
            queue = DispatchQueue(label: label)
            queue.setSpecific(key: FileWork.lane, value: label)
        }

        /// The clock's minute mark and its downtimes, in the data directory.
        static let clock = Lane("numberd.file-work.clock")
        /// The TLS certificate files: the hourly check and a SIGHUP's.
        static let certificates = Lane("numberd.file-work.certificates")
        /// The config file a SIGHUP reads again.
        static let configuration = Lane("numberd.file-work.configuration")
        /// The Twilio secret files a SIGHUP reads again.
        static let secrets = Lane("numberd.file-work.secrets")

        /// Whether the caller runs on this lane (tests).
        var isCurrent: Bool { DispatchQueue.getSpecific(key: FileWork.lane) == label }

        /// `body`'s result, run on this lane; `CancellationError` when the caller is cancelled before it ends, and
        /// then what the work returned goes to `abandoned`.
        func run<T: Sendable>(
            _ body: @escaping @Sendable () throws -> T,
            abandoned: (@Sendable (Result<T, any Error>) -> Void)? = nil
        ) async throws -> T {
            try await QueueWork.run(on: queue, body, abandoned: abandoned)
        }

        /// `body`'s result, run on this lane after the work queued before it, waited for whether the caller is
        /// cancelled or not (off the pool all the same): for the last work of a stop (the final clock mark), which
        /// must be done, and not beside a mark a cancelled tick left running.
        func runToEnd<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            // A detached task's wait is not cancelled with its caller.
            try await Task.detached { try await run(body) }.value
        }
    }

    private static let lane = DispatchSpecificKey<String>()
}
