import CCurl

/// The client's thread: runs libcurl's multi interface, starting queued jobs, finishing transfers, removing
/// cancelled ones, and sleeping in `curl_multi_poll` until a socket, a timer or a wake-up needs it.
final class CurlLoop {
    private let engine: CurlEngine
    private let multi: UnsafeMutableRawPointer
    private let configuration: HTTPClientConfiguration
    private var transfers: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    /// Reset easy handles kept for the next transfers (they hold no connection: the multi handle caches those).
    private var idleHandles: [UnsafeMutableRawPointer] = []
    /// The longest sleep in `curl_multi_poll`; libcurl shortens it for its own timers, wake-ups end it at once.
    private let pollMilliseconds: Int32 = 1_000

    init(engine: CurlEngine) {
        self.engine = engine
        self.multi = engine.multi.raw
        self.configuration = engine.configuration
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
            var stillRunning: Int32 = 0
            _ = curl_multi_perform(multi, &stillRunning)
            let finished = collectFinished()
            if !finished.isEmpty {
                // The count first, so a caller resumed below already sees its transfer gone from `load`.
                let jobsWaiting = engine.updateRunning(transfers.count)
                for (job, outcome) in finished { job.finish(outcome) }
                if jobsWaiting { continue }
            }
            _ = curl_multi_poll(multi, nil, 0, pollMilliseconds, nil)
        }
        stop()
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
        job.finish(
            .failure(
                HTTPClientError(
                    code: .cancelled, message: "the request was cancelled while running", requestMayHaveBeenSent: true)
            ))
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
            transfer.job.finish(
                .failure(
                    HTTPClientError(
                        code: .shutDown, message: "the HTTP client was shut down during the transfer",
                        requestMayHaveBeenSent: true)
                ))
        }
        transfers.removeAll()
        for easy in idleHandles { curl_easy_cleanup(easy) }
        idleHandles.removeAll()
        let waiters = engine.markStopped()
        _ = curl_multi_cleanup(multi)
        for waiter in waiters { waiter.resume() }
    }
}
