import Synchronization

/// Lets a connection's event loop stop one running call's task: the call was cancelled by its client, its deadline
/// passed, or the connection closed. The task races its handler against `cancelled()` (`ServerCall.run`), so the
/// stream limit also bounds the work still running, not only the streams still open.
final class CallCancellation: Sendable {
    private struct State {
        /// `cancel()` was called, or the waiting task was cancelled: the waiter returns at once.
        var over = false
        /// `cancel()` was called: the connection answered or forgot the call.
        var byConnection = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Asks the call's task to stop (its handler's task is cancelled). Idempotent.
    func cancel() { end(byConnection: true) }

    /// Whether the connection stopped the call (``cancel()``), rather than the call's own task being cancelled (the
    /// server's task cancelled, its connection still open): then nobody else answers the call.
    var cancelledByConnection: Bool { state.withLock { $0.byConnection } }

    private func end(byConnection: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.over = true
            if byConnection { state.byConnection = true }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns once `cancel()` was called, or when the waiting task is cancelled (the handler finished first).
    func cancelled() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.over { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            end(byConnection: false)
        }
    }
}
