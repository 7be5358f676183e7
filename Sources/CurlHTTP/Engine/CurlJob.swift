import Dispatch
import Synchronization

/// One request on its way through the client: shared by the calling task (which may cancel it) and the client's
/// thread (which runs it). Its continuation is resumed exactly once.
final class CurlJob: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>?
        var cancelled = false
        var finished = false
        var pendingResult: Result<HTTPResponse, HTTPClientError>?
    }

    let request: HTTPRequest
    /// When the job was made (just before it is queued), in `DispatchTime` nanoseconds: how long it has waited.
    let createdNanos = DispatchTime.now().uptimeNanoseconds
    private let state = Mutex(State())

    init(request: HTTPRequest) {
        self.request = request
    }

    /// Whether the calling task cancelled the request.
    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Stores the continuation; if the job already finished (cancelled early), resumes it at once.
    func attach(_ continuation: CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>) {
        let early: Result<HTTPResponse, HTTPClientError>? = state.withLock { state in
            if let result = state.pendingResult { return result }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    /// Marks the job cancelled. Returns `false` if it had already finished.
    func markCancelled() -> Bool {
        state.withLock { state in
            if state.finished { return false }
            state.cancelled = true
            return true
        }
    }

    /// Delivers the outcome; later calls are ignored, so racing finishers (cancel vs. completion) are harmless.
    func finish(_ result: Result<HTTPResponse, HTTPClientError>) {
        let continuation: CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>? = state.withLock {
            state in
            if state.finished { return nil }
            state.finished = true
            guard let continuation = state.continuation else {
                state.pendingResult = result
                return nil
            }
            state.continuation = nil
            return continuation
        }
        continuation?.resume(returning: result)
    }

    /// Finishes with an error of `code`; nothing was sent.
    func fail(_ code: HTTPClientError.Code, _ message: String) {
        finish(.failure(HTTPClientError(code: code, message: message, requestMayHaveBeenSent: false)))
    }
}
