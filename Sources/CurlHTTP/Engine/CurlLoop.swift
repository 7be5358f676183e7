import CCurl
import Foundation
import Logging

/// The client's thread: runs libcurl's multi interface, starting queued jobs, finishing transfers, removing
/// cancelled ones, and sleeping in `curl_multi_poll` until a socket, a timer or a wake-up needs it.
///
/// When `curl_multi_perform` or `curl_multi_poll` itself fails (out of memory, a `poll` that cannot wait:
/// `CURLM_UNRECOVERABLE_POLL`), the running transfers fail at once (``loopFailed(_:_:)``) and the thread backs off
/// before its next turn; queued requests wait for that turn (their queue timeout still applies).
final class CurlLoop {
    private let engine: CurlEngine
    private let multi: UnsafeMutableRawPointer
    private let configuration: HTTPClientConfiguration
    private let calls: MultiCalls
    /// Turns in a row on which a multi call failed (0: the last turn went well).
    private var failedTurns = 0
    /// Transfers failed by those turns.
    private var failedTransfers = 0
    /// The first back-off after a failed turn; it doubles with each further one, up to ``pollMilliseconds``.
    private let backOffMillisecondsMin = 10
    private var transfers: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    /// Reset easy handles kept for the next transfers (they hold no connection: the multi handle caches those).
    private var idleHandles: [UnsafeMutableRawPointer] = []
    /// The longest sleep in `curl_multi_poll`; libcurl shortens it for its own timers, wake-ups end it at once.
    private let pollMilliseconds: Int32 = 1_000

    init(engine: CurlEngine) {
        self.engine = engine
        self.multi = engine.multi.raw
        self.configuration = engine.configuration
        self.calls = engine.multiCalls
    }

    /// Runs until the engine shuts down, then fails what is left and frees every libcurl handle.
    func run() {
        while true {
            let work = engine.takeWork(
                freeSlots: configuration.limits.concurrentTransfersMax - transfers.count,
                running: transfers.count
            )
            for job in work.cancelled { remove(job) }
            for job in work.expired {
                job.fail(
                    .queueTimeout,
                    "waited \(configuration.timeouts.queueWaitMilliseconds) ms for one of "
                        + "\(configuration.limits.concurrentTransfersMax) transfers (queueWaitMilliseconds); not sent")
            }
            for job in work.newJobs { start(job) }
            if work.shuttingDown { break }
            let performed = calls.perform(multi)
            // Transfers libcurl finished are answered with their own outcome, even on a failed turn.
            let finished = collectFinished()
            if !finished.isEmpty {
                // The count first, so a caller resumed below already sees its transfer gone from `load`.
                let jobsWaiting = engine.updateRunning(transfers.count)
                for (job, outcome) in finished { job.finish(outcome) }
                if jobsWaiting && performed == CURLM_OK { continue }
            }
            guard performed == CURLM_OK else {
                loopFailed("curl_multi_perform", performed)
                continue
            }
            let polled = calls.poll(multi, pollMilliseconds)
            guard polled == CURLM_OK else {
                loopFailed("curl_multi_poll", polled)
                continue
            }
            if failedTurns > 0 { loopRecovered() }
        }
        stop()
    }

    /// A multi call failed. Calling it again at once would spin the thread at full CPU while the transfers ended only
    /// at their timeouts (if ever), so every running transfer fails now — `.internalError` — and the thread sleeps
    /// before its next turn: 10 ms, doubling with each failed turn in a row, at most ``pollMilliseconds``. A transfer
    /// libcurl had been about to send (its pre-request callback called, ``CurlTransfer/sendAttempts``) fails as
    /// possibly sent: a request whose fate is unknown is never reported as not sent. One it never was — still
    /// connecting, or in its TLS handshake: libcurl calls that callback once the connection is set up, right before
    /// it sends the request — fails as not sent (a POST failed as possibly sent became `OUTCOME_UNKNOWN`, the
    /// customer's money held until a look-up settled it, for a request that never left). The first failed turn of a
    /// row is logged; the turn that goes well after it too.
    private func loopFailed(_ call: String, _ code: CURLMcode) {
        let reason = "\(call) failed: \(String(cString: curl_multi_strerror(code))) (CURLMcode \(code.rawValue))"
        let abandoned = transfers.values
        for easy in transfers.keys {
            _ = curl_multi_remove_handle(multi, easy)
            // Not recycled: a handle libcurl failed on is not trusted with the next transfer.
            curl_easy_cleanup(easy)
        }
        transfers.removeAll()
        if !abandoned.isEmpty { _ = engine.updateRunning(0) }
        failedTurns += 1
        failedTransfers += abandoned.count
        if failedTurns == 1 {
            engine.logger.error(
                "HTTP client: libcurl failed; its running requests failed, and it is tried again after a back-off",
                metadata: ["error": "\(reason)", "failedRequests": "\(abandoned.count)"])
        }
        for transfer in abandoned {
            let sent = transfer.sendAttempts > 0
            transfer.job.finish(
                .failure(
                    HTTPClientError(
                        code: .internalError,
                        message: sent
                            ? "libcurl failed while the request was running (\(reason)); it may have been sent"
                            : "libcurl failed before the request was sent (\(reason)); not sent",
                        requestMayHaveBeenSent: sent)))
        }
        let backOff = min(backOffMillisecondsMin << min(failedTurns - 1, 16), Int(pollMilliseconds))
        Thread.sleep(forTimeInterval: Double(backOff) / 1_000)
    }

    /// A turn went well after failed ones: says so once.
    private func loopRecovered() {
        engine.logger.notice(
            "HTTP client: libcurl works again",
            metadata: ["failedTurns": "\(failedTurns)", "failedRequests": "\(failedTransfers)"])
        failedTurns = 0
        failedTransfers = 0
    }

    private func start(_ job: CurlJob) {
        if job.isCancelled {
            job.fail(.cancelled, "the request was cancelled while queued")
            return
        }
        guard let easy = idleHandles.popLast() ?? curl_easy_init() else {
            job.fail(.internalError, "curl_easy_init failed (out of memory)")
            return
        }
        let transfer = CurlTransfer(job: job, easy: easy, limits: configuration.limits)
        do {
            try transfer.configure(configuration)
        } catch {
            job.finish(.failure(error))
            recycle(easy)
            return
        }
        let added = curl_multi_add_handle(multi, easy)
        guard added == CURLM_OK else {
            job.fail(.internalError, "curl_multi_add_handle failed: \(String(cString: curl_multi_strerror(added)))")
            recycle(easy)
            return
        }
        transfers[easy] = transfer
    }

    /// Reads libcurl's "done" messages, removes those transfers and returns their outcomes.
    private func collectFinished() -> [(CurlJob, Result<HTTPResponse, HTTPClientError>)] {
        var finished: [(CurlJob, Result<HTTPResponse, HTTPClientError>)] = []
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                let transfer = transfers.removeValue(forKey: easy)
            else { continue }
            let code = numberd_curl_msg_result(message)
            let outcome = transfer.outcome(code)
            _ = curl_multi_remove_handle(multi, easy)
            recycle(easy)
            finished.append((transfer.job, outcome))
        }
        return finished
    }

    /// Removes a cancelled job's transfer (if it is running) and fails the job.
    private func remove(_ job: CurlJob) {
        guard let entry = transfers.first(where: { $0.value.job === job }) else { return }
        transfers.removeValue(forKey: entry.key)
        _ = curl_multi_remove_handle(multi, entry.key)
        // A half-used connection is closed by libcurl, so the next transfer never reads this one's leftovers.
        recycle(entry.key)
        _ = engine.updateRunning(transfers.count)
        // Not sent unless libcurl was about to send it (its pre-request callback, ``loopFailed(_:_:)``).
        let sent = entry.value.sendAttempts > 0
        job.finish(
            .failure(
                HTTPClientError(
                    code: .cancelled,
                    message: sent
                        ? "the request was cancelled while running" : "the request was cancelled before it was sent",
                    requestMayHaveBeenSent: sent)))
    }

    private func recycle(_ easy: UnsafeMutableRawPointer) {
        if idleHandles.count < configuration.limits.concurrentTransfersMax {
            curl_easy_reset(easy)
            idleHandles.append(easy)
        } else {
            curl_easy_cleanup(easy)
        }
    }

    private func stop() {
        for (easy, transfer) in transfers {
            _ = curl_multi_remove_handle(multi, easy)
            curl_easy_cleanup(easy)
            let sent = transfer.sendAttempts > 0
            transfer.job.finish(
                .failure(
                    HTTPClientError(
                        code: .shutDown,
                        message: sent
                            ? "the HTTP client was shut down during the transfer"
                            : "the HTTP client was shut down before the request was sent",
                        requestMayHaveBeenSent: sent)))
        }
        transfers.removeAll()
        for easy in idleHandles { curl_easy_cleanup(easy) }
        idleHandles.removeAll()
        let waiters = engine.markStopped()
        _ = curl_multi_cleanup(multi)
        for waiter in waiters { waiter.resume() }
    }
}
