import Dispatch
import Synchronization

/// The file work a reload or a check does while numberd serves (the config file, the TLS certificate files, a Twilio
/// secret file), run off Swift's cooperative pool on a serial queue of its own: a file on a stalled mount (NFS, a FUSE
/// secret store) blocks that queue's thread in the kernel, not one of the pool's threads — one per core, two on a
/// two-core host — which serve every RPC. A caller cancelled meanwhile (a graceful shutdown) stops waiting at once:
/// the work goes on, its result unused, and the work queued behind it waits for it.
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
        let waiter = Waiter<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiter.wait(continuation)
                queue.async { waiter.finish(Result { try body() }) }
            }
        } onCancel: {
            waiter.finish(.failure(CancellationError()))
        }
    }

    /// Resumes its caller once, with the first of the work's end and the caller's cancellation, whichever comes first
    /// (a cancellation may come before the caller waits).
    private final class Waiter<T: Sendable>: Sendable {
        private enum State {
            case started
            case waiting(CheckedContinuation<T, any Error>)
            case finished(Result<T, any Error>)
            case resumed
        }
        private let state = Mutex(State.started)

        func wait(_ continuation: CheckedContinuation<T, any Error>) {
            let early = state.withLock { state -> Result<T, any Error>? in
                guard case .finished(let result) = state else {
                    state = .waiting(continuation)
                    return nil
                }
                state = .resumed
                return result
            }
            if let early { continuation.resume(with: early) }
        }

        func finish(_ result: Result<T, any Error>) {
            let waiting = state.withLock { state -> CheckedContinuation<T, any Error>? in
                switch state {
                case .started:
                    state = .finished(result)
                    return nil
                case .waiting(let continuation):
                    state = .resumed
                    return continuation
                case .finished, .resumed:
                    return nil
                }
            }
            waiting?.resume(with: result)
        }
    }
}
