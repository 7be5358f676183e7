import NIOCore
import Synchronization

/// The client's `close()`, as the pauses between a call's attempts see it: a pause ends the moment the client closes,
/// not when its time is up. A call answered `RATE_LIMITED` with a `retryAfterMs` of 20 s would otherwise hold a
/// closed client's caller for those 20 s before it learned of the close.
final class CloseSignal: Sendable {
    /// How a pause ended.
    enum PauseEnd {
        /// Its time passed.
        case elapsed
        /// The client was closed, before the pause or during it.
        case closed
        /// The calling task was cancelled.
        case cancelled
    }

    private struct State {
        var closed = false
        var nextPause = 0
        /// The pauses running, each ended with `.closed` when the client closes.
        var pauses: [Int: EventLoopPromise<PauseEnd>] = [:]
    }

    private let state = Mutex(State())

    /// Marks the client closed: every pause running ends now, and every later one at once.
    func close() {
        let pauses = state.withLock { state in
            state.closed = true
            defer { state.pauses.removeAll() }
            return Array(state.pauses.values)
        }
        for pause in pauses { pause.succeed(.closed) }
    }

    /// Waits `duration` on `eventLoop`'s clock, or less: until the client closes or the calling task is cancelled,
    /// whichever comes first. No task of its own and no polling: the timer, `close()` and the cancellation each
    /// complete one promise, which keeps the first result it is given.
    func pause(_ duration: TimeAmount, on eventLoop: any EventLoop) async -> PauseEnd {
        let ended = eventLoop.makePromise(of: PauseEnd.self)
        let id: Int? = state.withLock { state in
            guard !state.closed else { return nil }
            let next = state.nextPause
            state.nextPause &+= 1
            state.pauses[next] = ended
            return next
        }
        guard let id else {
            ended.succeed(.closed)
            return .closed
        }
        let timer = eventLoop.scheduleTask(in: duration) { ended.succeed(.elapsed) }
        let end = await withTaskCancellationHandler {
            // Only ever succeeded: `get()` cannot throw here.
            (try? await ended.futureResult.get()) ?? .cancelled
        } onCancel: {
            ended.succeed(.cancelled)
        }
        timer.cancel()
        state.withLock { _ = $0.pauses.removeValue(forKey: id) }
        return end
    }
}
