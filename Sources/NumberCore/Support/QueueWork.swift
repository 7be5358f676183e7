import Dispatch
import Synchronization

/// Blocking work (file I/O that a stalled disk or mount can hold in the kernel) run on a dispatch queue, off Swift's
/// cooperative pool, whose threads — one per core — serve every call. Its caller stops waiting as soon as it is
/// cancelled: the work runs to its end all the same (a call stuck in the kernel cannot be interrupted), and what it
/// returned then goes to `abandoned`, since nobody waits for it any more.
package enum QueueWork {
    /// `body`'s result, run on `queue`; `CancellationError` once the calling task is cancelled, before or while the
    /// work runs.
    package static func run<R: Sendable>(
        on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> R,
        abandoned: (@Sendable (Result<R, any Error>) -> Void)? = nil
    ) async throws -> R {
        let wait = OnceWait<R>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                wait.attach(continuation)
                queue.async {
                    let result = Result { try body() }
                    if !wait.resume(with: result) { abandoned?(result) }
                }
            }
        } onCancel: {
            wait.resume(with: .failure(CancellationError()))
        }
    }
}

/// The wait for one piece of queued work, resumed exactly once: by the queue with the work's result, or earlier by
/// the caller's cancellation (the work then finishes alone). Either may come first, and a cancellation may come before
/// the continuation is attached.
private final class OnceWait<R: Sendable>: Sendable {
    private enum State {
        /// Neither attached nor resumed.
        case idle
        /// The caller waits.
        case waiting(CheckedContinuation<R, any Error>)
        /// Resumed before the continuation was attached: it gets this result as soon as it is.
        case resolved(Result<R, any Error>)
        /// The continuation was resumed.
        case done
    }

    private let state = Mutex(State.idle)

    /// Hands over the caller's continuation; resumes it at once when a result (a cancellation) came first.
    func attach(_ continuation: CheckedContinuation<R, any Error>) {
        let early = state.withLock { state -> Result<R, any Error>? in
            switch state {
            case .idle:
                state = .waiting(continuation)
                return nil
            case .resolved(let result):
                state = .done
                return result
            case .waiting, .done:
                preconditionFailure("a queued work's continuation is attached once")
            }
        }
        if let early { continuation.resume(with: early) }
    }

    /// Resumes the caller with `result` unless it was resumed already; whether this call's result is the one the
    /// caller gets (false: it stopped waiting, cancelled).
    @discardableResult
    func resume(with result: Result<R, any Error>) -> Bool {
        let waiting = state.withLock { state -> (taken: Bool, continuation: CheckedContinuation<R, any Error>?) in
            switch state {
            case .idle:
                state = .resolved(result)
                return (true, nil)
            case .waiting(let continuation):
                state = .done
                return (true, continuation)
            case .resolved, .done:
                return (false, nil)
            }
        }
        waiting.continuation?.resume(with: result)
        return waiting.taken
    }
}
