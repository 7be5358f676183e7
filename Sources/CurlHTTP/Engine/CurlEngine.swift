import CCurl
import Foundation
import Logging
import Synchronization

/// The state shared between calling tasks and the client's thread: the queue of waiting jobs, cancellations,
/// and shutdown. Everything libcurl-specific besides the wake-up lives on the thread in ``CurlLoop``.
final class CurlEngine: Sendable {
    /// What the thread takes from the shared state on each turn.
    struct Work {
        var newJobs: [CurlJob] = []
        var cancelled: [CurlJob] = []
        /// Jobs that waited in the queue longer than `queueWaitMilliseconds`: to fail, unsent.
        var expired: [CurlJob] = []
        var shuttingDown = false
    }

    private struct State {
        var pending: [CurlJob] = []
        var cancelRequests: [CurlJob] = []
        var running = 0
        var shuttingDown = false
        var stopped = false
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let configuration: HTTPClientConfiguration
    let multi: MultiHandle
    /// The libcurl calls the thread drives transfers with (a test's, to make them fail).
    let multiCalls: MultiCalls
    /// Where the thread says that libcurl failed, and that it works again.
    let logger: Logger
    private let state = Mutex(State())

    init(configuration: HTTPClientConfiguration, multi: MultiHandle, multiCalls: MultiCalls, logger: Logger) {
        self.configuration = configuration
        self.multi = multi
        self.multiCalls = multiCalls
        self.logger = logger
    }

    /// Queues a job, or fails it at once when the client is shutting down or the queue is full.
    func enqueue(_ job: CurlJob) {
        let limits = configuration.limits
        let refusal: (HTTPClientError.Code, String)? = state.withLock { state in
            if state.shuttingDown { return (.shutDown, "the HTTP client is shut down") }
            if state.pending.count + state.running >= limits.concurrentTransfersMax + limits.queuedRequestsMax {
                return (
                    .queueFull,
                    "\(limits.concurrentTransfersMax) transfers running and \(limits.queuedRequestsMax) queued"
                        + " (queuedRequestsMax)"
                )
            }
            state.pending.append(job)
            wakeUpLocked(state)
            return nil
        }
        if let (code, message) = refusal { job.fail(code, message) }
    }

    /// Called from the task's cancellation handler: a queued job fails now, a running one is removed by the thread.
    func cancel(_ job: CurlJob) {
        guard job.markCancelled() else { return }
        let wasQueued: Bool = state.withLock { state in
            if let index = state.pending.firstIndex(where: { $0 === job }) {
                state.pending.remove(at: index)
                return true
            }
            state.cancelRequests.append(job)
            wakeUpLocked(state)
            return false
        }
        if wasQueued { job.fail(.cancelled, "the request was cancelled while queued") }
    }

    /// Takes up to `freeSlots` queued jobs and all cancellations; records how many transfers will run.
    func takeWork(freeSlots: Int, running: Int) -> Work {
        let waitMaxNanos = UInt64(configuration.timeouts.queueWaitMilliseconds) * 1_000_000
        return state.withLock { state in
            // Read under the lock: a job made after a reading outside it could be queued before it, and look older
            // than anything (the difference wrapping around).
            let now = DispatchTime.now().uptimeNanoseconds
            var work = Work()
            let count = min(max(freeSlots, 0), state.pending.count)
            work.newJobs = Array(state.pending.prefix(count))
            state.pending.removeFirst(count)
            // The queue is in arrival order: the jobs waiting too long are at its front.
            let expired = state.pending.prefix { now > $0.createdNanos && now - $0.createdNanos > waitMaxNanos }.count
            work.expired = Array(state.pending.prefix(expired))
            state.pending.removeFirst(expired)
            work.cancelled = state.cancelRequests
            state.cancelRequests.removeAll()
            state.running = running + count
            work.shuttingDown = state.shuttingDown
            return work
        }
    }

    /// Records the number of running transfers after some finished; returns whether jobs are waiting.
    func updateRunning(_ running: Int) -> Bool {
        state.withLock { state in
            state.running = running
            return !state.pending.isEmpty
        }
    }

    /// The number of running and queued requests.
    var load: HTTPClientLoad {
        state.withLock { HTTPClientLoad(running: $0.running, queued: $0.pending.count) }
    }

    /// Asks the thread to stop; queued jobs fail with `.shutDown` now, running ones when the thread stops.
    func beginShutdown() {
        let queued: [CurlJob] = state.withLock { state in
            if state.shuttingDown { return [] }
            state.shuttingDown = true
            let queued = state.pending
            state.pending.removeAll()
            wakeUpLocked(state)
            return queued
        }
        for job in queued { job.fail(.shutDown, "the HTTP client was shut down while the request was queued") }
    }

    /// Waits until the thread has stopped and released libcurl's handles.
    func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped: Bool = state.withLock { state in
                if state.stopped { return true }
                state.shutdownWaiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() }
        }
    }

    /// Called by the thread just before it cleans up the multi handle: no wake-up may touch it afterwards.
    func markStopped() -> [CheckedContinuation<Void, Never>] {
        state.withLock { state in
            state.stopped = true
            let waiters = state.shutdownWaiters
            state.shutdownWaiters.removeAll()
            return waiters
        }
    }

    /// Wakes `curl_multi_poll`. Called under the lock so the handle cannot be cleaned up meanwhile.
    private func wakeUpLocked(_ state: borrowing State) {
        if !state.stopped { _ = curl_multi_wakeup(multi.raw) }
    }
}
