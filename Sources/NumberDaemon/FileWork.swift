import Dispatch
import NumberCore

/// The file work numberd does outside its store while it serves (a reload's config file, the TLS certificate files, a
/// Twilio secret file, the clock's minute mark), run off Swift's cooperative pool on a serial queue of its own
/// (``QueueWork``): a file on a stalled mount (NFS, a FUSE secret store) blocks that queue's thread in the kernel, not
/// one of the pool's threads — one per core, two on a two-core host — which serve every RPC. A caller cancelled meanwhile (a graceful shutdown) stops
/// waiting at once: the work goes on, its result unused, and the work queued behind it waits for it.
enum FileWork {
    static let queue: DispatchQueue = {
        let queue = DispatchQueue(label: "numberd.file-work")
        queue.setSpecific(key: onQueue, value: ())
        return queue
    }()
    private static let onQueue = DispatchSpecificKey<Void>()

    /// Whether the caller runs on ``queue`` (tests).
    static var isCurrent: Bool { DispatchQueue.getSpecific(key: onQueue) != nil }

    /// `body`'s result, run on ``queue``; `CancellationError` when the caller is cancelled before it ends.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await QueueWork.run(on: queue, body)
    }
}
